//! Mistakes `plugin::compile` catches before a script runs, and the locating of the ones rhai
//! reports vaguely: calls to functions that exist nowhere (with a spelling suggestion), the
//! opening brace behind "script is incomplete", the line inside `institution()` where an
//! error happened, and plain words for a script stopped by its limits.

use rhai::{ASTNode, Engine, EvalAltResult, Expr, Stmt, AST};
use std::collections::BTreeSet;
use std::time::Duration;

/// Functions rhai treats as keywords: callable, yet in no package.
const KEYWORD_FUNCTIONS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
];

/// The first call (in source order) to a function that is neither a host function, a rhai
/// built-in nor defined in the script: its line and a message with a suggestion.
pub fn unknown_call(engine: &Engine, ast: &AST) -> Option<(Option<usize>, String)> {
    let host = super::host_fn::host_function_names(engine);
    let script: Vec<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let builtin: BTreeSet<String> = engine
        .gen_fn_signatures(true)
        .into_iter()
        .filter_map(|s| s.split('(').next().map(str::to_string))
        .chain(KEYWORD_FUNCTIONS.iter().map(|k| k.to_string()))
        .collect();
    let known = |name: &str| {
        host.iter().any(|h| h == name) || script.iter().any(|s| s == name) || builtin.contains(name)
    };
    // `map.name(…)` also calls a function pointer kept in the map under `name`.
    let mut members: BTreeSet<String> = BTreeSet::new();
    let mut calls: Vec<(Option<usize>, String, bool)> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            // Operators are calls too; qualified names (`global::f`) resolve elsewhere.
            Some(ASTNode::Expr(Expr::FnCall(call, pos)))
            // A call standing alone as a statement.
            | Some(ASTNode::Stmt(Stmt::FnCall(call, pos)))
                if !call.is_operator_call() && call.namespace.is_empty() =>
            {
                calls.push((pos.line(), call.name.to_string(), false));
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => {
                calls.push((pos.line(), call.name.to_string(), true));
            }
            Some(ASTNode::Expr(Expr::Map(map, _))) => {
                members.extend(map.0.iter().map(|(key, _)| key.name.to_string()));
            }
            // A map of constants is folded into one value at compile time.
            Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => {
                if let Some(map) = value.read_lock::<rhai::Map>() {
                    members.extend(map.keys().map(|k| k.to_string()));
                }
            }
            Some(ASTNode::Expr(Expr::Property(prop, _))) => {
                members.insert(prop.2.to_string());
            }
            _ => {}
        }
        true
    });
    let unknown: Vec<(Option<usize>, String)> = calls
        .into_iter()
        .filter(|(_, name, method)| !(known(name) || *method && members.contains(name)))
        .map(|(line, name, _)| (line, name))
        .collect();
    let (line, name) = unknown.into_iter().min_by_key(|(l, _)| *l)?;
    // Suggest the script's own and the host's functions before rhai's.
    let candidates = script.iter().chain(&host).chain(&builtin);
    let hint = closest(&name, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    Some((
        line,
        format!(
            "`{name}` is not a host function, a Rhai built-in, or a function of this script \
             (see plugins/REFERENCE.md){hint}"
        ),
    ))
}

/// The candidate nearest `name` in spelling, if it is near enough to be a slip.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    // A name of one or two letters is near too much to suggest anything.
    if name.chars().count() < 3 {
        return None;
    }
    let lower = name.to_lowercase();
    let most = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .filter(|c| {
            c.chars()
                .next()
                .is_some_and(|ch| ch.is_alphabetic() || ch == '_')
        })
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The line of the `{` a script never closes, skipping strings and comments. When braces were
/// closed by a `}` indented unlike the line that opened them, the first such opening is the
/// likelier culprit than the outermost brace left open at the end.
pub fn unclosed_brace(source: &str) -> Option<usize> {
    #[derive(PartialEq)]
    enum Open {
        Brace(usize),
        /// `${` inside a backtick string: its `}` returns to the string.
        Interpolation,
    }
    let lines: Vec<&str> = source.lines().collect();
    let indent = |line: usize| {
        lines
            .get(line - 1)
            .map(|l| l.len() - l.trim_start().len())
            .unwrap_or(0)
    };
    let starts_line = |line: usize, col: usize| {
        lines
            .get(line - 1)
            .is_some_and(|l| l.get(..col).is_some_and(|before| before.trim().is_empty()))
    };
    let chars: Vec<char> = source.chars().collect();
    let mut stack: Vec<Open> = Vec::new();
    let mut misindented: Option<usize> = None;
    let (mut i, mut line, mut line_start) = (0, 1, 0);
    let mut in_backtick = false;
    // Byte column of char index `i` on its line (sources are mostly ASCII; close is enough).
    let col = |i: usize, line_start: usize| chars[line_start..i].iter().map(|c| c.len_utf8()).sum();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            line_start = i + 1;
            i += 1;
            continue;
        }
        if in_backtick {
            match (c, next) {
                ('`', _) => in_backtick = false,
                ('$', Some('{')) => {
                    stack.push(Open::Interpolation);
                    in_backtick = false;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match (c, next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ('/', Some('*')) => {
                // Rhai's block comments nest.
                let mut depth = 0;
                while i < chars.len() {
                    match (chars[i], chars.get(i + 1)) {
                        ('/', Some('*')) => {
                            depth += 1;
                            i += 1;
                        }
                        ('*', Some('/')) => {
                            depth -= 1;
                            i += 1;
                        }
                        ('\n', _) => {
                            line += 1;
                            line_start = i + 1;
                        }
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
                continue;
            }
            ('"', _) | ('\'', _) => {
                let quote = c;
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    if chars.get(i) == Some(&'\n') {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
            }
            ('`', _) => in_backtick = true,
            ('#', Some('#' | '"')) => {
                // A raw string: `#"…"#`, `##"…"##`, ended by `"` and as many `#`.
                let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
                if chars.get(i + hashes) == Some(&'"') {
                    let end: Vec<char> = std::iter::once('"')
                        .chain(std::iter::repeat_n('#', hashes))
                        .collect();
                    i += hashes + 1;
                    while i < chars.len() && !chars[i..].starts_with(&end) {
                        if chars[i] == '\n' {
                            line += 1;
                            line_start = i + 1;
                        }
                        i += 1;
                    }
                    i += end.len() - 1;
                }
            }
            ('{', _) => stack.push(Open::Brace(line)),
            ('}', _) => match stack.pop() {
                Some(Open::Interpolation) => in_backtick = true,
                Some(Open::Brace(opened))
                    if misindented.is_none()
                        && opened != line
                        && starts_line(line, col(i, line_start))
                        && indent(line) != indent(opened) =>
                {
                    misindented = Some(opened);
                }
                Some(Open::Brace(_)) | None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let innermost = stack.iter().rev().find_map(|o| match o {
        Open::Brace(l) => Some(*l),
        Open::Interpolation => None,
    })?;
    Some(misindented.unwrap_or(innermost))
}

/// Where a failed call really failed: the innermost error rhai wrapped in "in call to function"
/// layers, and the deepest line known on the way down.
pub fn innermost(e: &EvalAltResult) -> (&EvalAltResult, Option<usize>) {
    let mut line = e.position().line();
    let mut e = e;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = e {
        e = inner;
        line = e.position().line().or(line);
    }
    (e, line)
}

/// What went wrong in a call, in the script author's words: limits named with their values
/// instead of rhai's bare "Script terminated".
pub fn describe(e: &EvalAltResult, deadline: Duration, max_operations: u64) -> String {
    match e {
        EvalAltResult::ErrorTerminated(..) => {
            format!("ran past its {} ms time limit", deadline.as_millis())
        }
        EvalAltResult::ErrorTooManyOperations(..) => {
            format!("ran past its limit of {max_operations} operations")
        }
        other => {
            // The line is reported on its own; drop rhai's "(line x, position y)".
            let text = other.to_string();
            let at = format!(" ({})", other.position());
            text.strip_suffix(&at).unwrap_or(&text).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclosed_brace_is_the_innermost_left_open() {
        let src = "fn a() {\n    1\n}\nfn b() {\n    if x {\n        2\n";
        assert_eq!(unclosed_brace(src), Some(5));
    }

    #[test]
    fn unclosed_brace_prefers_the_block_a_misindented_brace_closed() {
        let src = "fn a() {\n    if x {\n        1\n}\n\nfn b() {\n    2\n}\n";
        assert_eq!(unclosed_brace(src), Some(2));
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        let src = "fn a() {\n  let s = \"{\"; let c = '{';\n  // {\n  /* { /* { */ } */\n  let t = `x ${ 1 + #{a: 1}.a } {`;\n  let r = #\"{\"#;\n}\n";
        assert_eq!(unclosed_brace(src), None);
        let open = format!("{src}fn b() {{\n");
        assert_eq!(unclosed_brace(&open), Some(8));
    }

    #[test]
    fn suggestions_are_near_misses_only() {
        let names: Vec<String> = ["http_get", "http_post_json", "setting"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("http_gett", names.iter()), Some("http_get"));
        assert_eq!(closest("Setting", names.iter()), Some("setting"));
        assert_eq!(closest("frobnicate", names.iter()), None);
    }

    #[test]
    fn unknown_calls_are_found_in_functions_and_method_calls() {
        let engine = super::super::sandbox::engine(&Default::default());
        let ok = "fn a(x) { let m = #{}; m.keys().len() + x.len() + b(1) + setting(\"k\").len() }\nfn b(y) { y.abs() }";
        assert_eq!(unknown_call(&engine, &engine.compile(ok).unwrap()), None);
        let misspelt = "fn a() {\n  1\n}\nfn b() {\n  http_gett(\"https://x\")\n}";
        let (line, _) = unknown_call(&engine, &engine.compile(misspelt).unwrap()).unwrap();
        assert_eq!(line, Some(5), "a call as a statement");
        let misspelt = "fn a() {\n  1\n}\nfn b() {\n  let r = http_gett(\"https://x\");\n}";
        let (line, msg) = unknown_call(&engine, &engine.compile(misspelt).unwrap()).unwrap();
        assert_eq!(line, Some(5));
        assert!(msg.contains("did you mean `http_get`"), "{msg}");
        let method = "fn a(s) {\n  s.to_uper()\n}";
        let (line, msg) = unknown_call(&engine, &engine.compile(method).unwrap()).unwrap();
        assert_eq!(line, Some(2));
        assert!(msg.contains("did you mean `to_upper`"), "{msg}");
        let oop = "fn a() {\n  let o = #{ greet: |x| x };\n  o.greet(1);\n  let p = #{};\n  p.hello = |x| x;\n  p.hello(2)\n}";
        assert_eq!(unknown_call(&engine, &engine.compile(oop).unwrap()), None);
        // Rhai calls a function pointer held in a variable only through `call`.
        let var = "fn a() {\n  let f = |x| x;\n  f(1)\n}";
        let (line, msg) = unknown_call(&engine, &engine.compile(var).unwrap()).unwrap();
        assert_eq!(line, Some(3));
        assert!(!msg.contains("did you mean"), "{msg}");
    }
}
