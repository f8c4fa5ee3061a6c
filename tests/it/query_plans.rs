//! Every statement the store runs finds its rows through an index: none scans a table that
//! grows with use, so no request slows down as the database fills. (Consuming an authorization
//! code once checked its grant with `grant_id IN (SELECT id FROM grants ...)`, which SQLite
//! answers by reading every grant.) Read from the source: each SQL string literal in
//! `src/store/` is planned (`EXPLAIN QUERY PLAN`) against a freshly migrated SQLite database,
//! column-list constants such as `{GRANT_COLUMNS}` standing for `*`.

use consentry::store::{Location, PostgresOptions, Store};
use std::path::Path;

/// Statements that may read a whole table (or walk a whole index), and why.
const WHOLE_TABLE_ALLOWED: &[(&str, &str)] = &[
    (
        "SELECT COUNT(*) FROM clients",
        "the operator's client list counts every client",
    ),
    (
        "SELECT * FROM clients ORDER BY created_at, id",
        "the operator's client list and export: every client, in pages",
    ),
    (
        "SELECT * FROM webhook_events WHERE status = 'dead'",
        "the operator's dead-letter list: newest first by an index, LIMIT-bounded",
    ),
    (
        "SELECT * FROM token_handouts WHERE",
        "the operator's hand-out audit: newest first by an index, LIMIT-bounded",
    ),
    (
        "DELETE FROM clients WHERE id = ?1",
        "an operator deleting a client removes all that was issued to it (ON DELETE CASCADE)",
    ),
    (
        "SELECT name FROM sqlite_master",
        "migrate-store lists the schema's tables",
    ),
    (
        "SELECT wr FROM pragma_table_list",
        "migrate-store reads a table's shape",
    ),
];

#[test]
fn no_statement_of_the_store_reads_a_whole_growing_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.sqlite");
    drop(Store::open_at(&Location::Sqlite(path.clone()), &PostgresOptions::default()).unwrap());
    let db = rusqlite::Connection::open(&path).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut planned = 0;
    let mut scans = Vec::new();
    for file in rust_files(&root) {
        let source = std::fs::read_to_string(&file).unwrap();
        for sql in string_literals(&source).iter().filter_map(|s| statement(s)) {
            // Statements of the other backend, or of the tests' own tables, do not plan here.
            let Ok(mut plan) = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")) else {
                continue;
            };
            planned += 1;
            let mut rows = plan.raw_query();
            while let Some(row) = rows.next().unwrap() {
                let detail: String = row.get(3).unwrap();
                let whole = detail.starts_with("SCAN ") && detail != "SCAN CONSTANT ROW";
                let allowed = WHOLE_TABLE_ALLOWED
                    .iter()
                    .any(|(start, _)| sql.starts_with(start));
                if whole && !allowed {
                    let name = file.strip_prefix(&root).unwrap().display();
                    scans.push(format!("src/store/{name}: {detail}: {sql}"));
                }
            }
        }
    }
    assert!(
        planned >= 80,
        "only {planned} statements found in src/store: is the reader broken?"
    );
    assert!(
        scans.is_empty(),
        "statements that read a whole table (add an index, or allow them with a reason):\n{}",
        scans.join("\n")
    );
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// A literal that is one SQL statement, whitespace folded and column-list constants made `*`;
/// `None` for other text and for statements built from other pieces (`{table}`).
fn statement(literal: &str) -> Option<String> {
    let sql = literal.split_whitespace().collect::<Vec<_>>().join(" ");
    let verb = sql.split(' ').next()?.to_ascii_uppercase();
    if !["SELECT", "UPDATE", "DELETE", "INSERT", "WITH"].contains(&verb.as_str()) {
        return None;
    }
    let mut out = String::new();
    let mut rest = sql.as_str();
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        let name = &rest[open + 1..close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            return None;
        }
        out.push_str(&rest[..open]);
        out.push('*');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The contents of the ordinary string literals in Rust source, escapes resolved; comments and
/// character literals skipped.
fn string_literals(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            // '"' or '\'' (a lifetime such as '_ has no closing quote two or three on).
            '\'' if chars.get(i + 2) == Some(&'\'') => i += 3,
            '\'' if chars.get(i + 1) == Some(&'\\') && chars.get(i + 3) == Some(&'\'') => i += 4,
            '"' => {
                let mut text = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            // A line continuation: the next line's indentation is not text.
                            Some('\n') => {
                                while chars.get(i + 1).is_some_and(|c| c.is_whitespace()) {
                                    i += 1;
                                }
                            }
                            Some(c) => text.push(*c),
                            None => break,
                        }
                    } else {
                        text.push(chars[i]);
                    }
                    i += 1;
                }
                literals.push(text);
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    literals
}
