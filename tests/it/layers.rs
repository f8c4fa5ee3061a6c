//! The source's shape, as README.md "Layout" draws it: each top-level module imports only the
//! layers below it (`http -> protocol -> store | jose | plugins`, nothing pointing back up), and
//! no source file imports a file that imports it back. Read from the source text itself: every
//! `crate::...`, `super::...` and `use` path names the module it reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's layer: a module may use only modules of lower layers (and its own
/// files). `cli` is the binary's and reaches the library as `consentry::`; it tops the list.
const LAYERS: &[(&str, u8)] = &[
    ("types", 0),
    ("clock", 0),
    ("files", 0),
    ("metrics", 0),
    ("per_core", 0),
    ("secrets", 1),
    ("supervise", 1),
    ("logging", 1),
    ("sealing", 1),
    ("jose", 1),
    ("outbound", 1),
    ("config", 2),
    ("origin_pool", 2),
    ("store", 3),
    ("error", 4),
    ("plugins", 4),
    ("tls", 4),
    ("protocol", 5),
    ("provider", 6),
    ("keys", 7),
    ("demo", 7),
    ("webhooks", 7),
    ("views", 7),
    ("http", 8),
    ("cli", 9),
];

type Module = Vec<String>;

fn layer(top: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(name, _)| *name == top)
        .unwrap_or_else(|| panic!("src/{top} has no layer in tests/it/layers.rs: give it one"))
        .1
}

/// Every source file of the library (and the binary's `cli/`), by module path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                m.pop();
            }
            if !m.is_empty() {
                out.insert(m, path);
            }
        }
    }
    out
}

/// The code a file runs, without comments, string contents or its `#[cfg(test)]` tail (tests
/// may reach anything of their own module).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '"' && !escaped {
                        break;
                    }
                    escaped = c == '\\' && !escaped;
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' or '{' must not open a string or a use-tree.
            '\'' => {
                let rest: Vec<char> = chars.clone().take(12).collect();
                if rest.first() == Some(&'\\') {
                    // An escape ('\n', '\'', '\u{..}'): up to the quote after the escaped char.
                    let end = rest
                        .iter()
                        .skip(2)
                        .position(|&c| c == '\'')
                        .map_or(0, |i| i + 3);
                    for _ in 0..end {
                        chars.next();
                    }
                } else if rest.get(1) == Some(&'\'') {
                    chars.next();
                    chars.next();
                }
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The paths a file names: inline `crate::a::b` / `super::a` paths and every leaf of its `use`
/// trees, each as segments starting with `crate` or `super`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let tokens = tokenize(code);
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |e| i + e);
            let mut pos = i + 1;
            use_tree(&tokens[..end], &mut pos, Vec::new(), &mut out);
            i = end;
        } else if tokens[i] == "crate" || tokens[i] == "super" {
            let mut path = vec![tokens[i].clone()];
            let mut j = i + 1;
            while j + 1 < tokens.len() && tokens[j] == "::" && is_ident(&tokens[j + 1]) {
                path.push(tokens[j + 1].clone());
                j += 2;
            }
            out.push(path);
            i = j;
        } else {
            i += 1;
        }
    }
    out.retain(|p| p[0] == "crate" || p[0] == "super");
    out
}

fn is_ident(t: &str) -> bool {
    t.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    word.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(word);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push("::".into());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

/// Walks one use-tree (`a::b::{c, d::e}`), pushing each leaf's full path.
fn use_tree(tokens: &[String], pos: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    while *pos < tokens.len() {
        let t = &tokens[*pos];
        *pos += 1;
        match t.as_str() {
            "::" => {}
            "{" => {
                loop {
                    use_tree(tokens, pos, path.clone(), out);
                    match tokens.get(*pos).map(String::as_str) {
                        Some(",") => *pos += 1,
                        Some("}") => {
                            *pos += 1;
                            break;
                        }
                        _ => break,
                    }
                    if tokens.get(*pos).map(String::as_str) == Some("}") {
                        *pos += 1;
                        break;
                    }
                }
                return;
            }
            "," | "}" => {
                *pos -= 1;
                break;
            }
            "as" => {
                *pos += 1;
                break;
            }
            "pub" | "self" if path.is_empty() => {}
            "self" => {}
            "*" => {}
            _ => path.push(t.clone()),
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The module a path reaches: the longest prefix that is a source file.
fn resolve(from: &Module, path: &[String], all: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    if path[0] == "crate" {
        rest = &path[1..];
    } else {
        base = from.clone();
        while rest.first().map(String::as_str) == Some("super") {
            base.pop()?;
            rest = &rest[1..];
        }
    }
    let full: Vec<String> = base.into_iter().chain(rest.iter().cloned()).collect();
    (1..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| all.contains_key(m))
}

/// Edges between files, leaving out a parent module's `mod` / re-export lines and a child's
/// use of what its parent re-exports: those are one module's own parts.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all = modules(&src);
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, file) in &all {
        let text = code(&std::fs::read_to_string(file).unwrap());
        let set = edges.entry(m.clone()).or_default();
        for p in paths(&text) {
            let Some(to) = resolve(m, &p, &all) else {
                continue;
            };
            if to == *m || to.starts_with(m) || m.starts_with(&to) {
                continue;
            }
            set.insert(to);
        }
    }
    edges
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        for to in tos {
            if from[0] != to[0] && layer(&from[0]) <= layer(&to[0]) {
                wrong.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up or across the layers (README.md, Layout):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_imports_one_that_imports_it_back() {
    let graph = graph();
    let mut cycles = Vec::new();
    // Tarjan's strongly connected components: any component of two or more files is a loop.
    struct Walk<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.join("::"));
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    cycles.extend(walk.found.into_iter().map(|c| c.join(" <-> ")));
    assert!(
        cycles.is_empty(),
        "files that import each other (directly or round a loop):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_reader_finds_imports_of_every_shape() {
    // The checks above are only as good as this reading of the source.
    let text = code(
        "use crate::{a::{b, c::D}, e};\nuse super::f as g;\n// crate::commented\nfn x() { crate::h::i(); let s = \"crate::quoted\"; super::super::j::k(); }",
    );
    let mut found: Vec<String> = paths(&text).iter().map(|p| p.join("::")).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "crate::a::b",
            "crate::a::c::D",
            "crate::e",
            "crate::h::i",
            "super::f",
            "super::super::j::k"
        ]
    );
}
