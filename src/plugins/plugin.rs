//! One compiled institution script: its validated metadata, its AST and its icon.

use super::institution::Institution;
use super::lint;
use super::sandbox::Limits;
use rhai::{Engine, AST};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A problem with a script, located as precisely as we can.
#[derive(Debug, Clone)]
pub struct PluginError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for PluginError {}

/// The functions a script may define: name, parameters, and whether it must.
pub const HOOKS: &[(&str, &[&str], bool)] = &[
    ("institution", &[], true),
    ("connect", &["ctx"], true),
    ("reauth", &["ctx"], false),
    ("refresh", &["ctx"], false),
    ("submit", &["ctx", "input"], false),
    ("callback", &["ctx", "result"], false),
    // CIBA: a request to authenticate one of the institution's customers.
    ("decoupled_request", &["request"], false),
    // CIBA: the institution's backend answering such a request later.
    ("decoupled_callback", &["message"], false),
];

pub struct Plugin {
    pub meta: Institution,
    pub file: PathBuf,
    pub ast: AST,
    /// The SVG icon, when the script names one.
    pub icon: Option<Arc<Vec<u8>>>,
    /// Hosts the operator allows beyond the declared ones (setting `hosts`).
    pub operator_hosts: Vec<String>,
}

impl Plugin {
    pub fn has_hook(&self, name: &str) -> bool {
        self.ast.iter_functions().any(|f| f.name == name)
    }
}

const MAX_SCRIPT_BYTES: u64 = 512 * 1024;
const MAX_ICON_BYTES: usize = 256 * 1024;

/// Reads, compiles and validates one script. `icon_dir` is where its icon file lives.
pub fn compile(
    engine: &Engine,
    limits: &Limits,
    file: &Path,
    icon_dir: &Path,
) -> Result<Plugin, PluginError> {
    let err = |reason: String| PluginError {
        file: file.to_path_buf(),
        line: None,
        reason,
    };
    let len = std::fs::metadata(file)
        .map_err(|e| err(format!("cannot read: {e}")))?
        .len();
    if len > MAX_SCRIPT_BYTES {
        return Err(err(format!(
            "script is {len} bytes; the limit is {MAX_SCRIPT_BYTES}"
        )));
    }
    let source = std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))?;
    compile_source(engine, limits, file, &source, |name| {
        read_icon(&icon_dir.join(name))
    })
}

/// Compiles and validates one script's `source`; `file` names it in errors, and `icon`
/// reads the icon it names (as bytes, checked here).
pub fn compile_source(
    engine: &Engine,
    limits: &Limits,
    file: &Path,
    source: &str,
    icon: impl Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<Plugin, PluginError> {
    let err = |line: Option<usize>, reason: String| PluginError {
        file: file.to_path_buf(),
        line,
        reason,
    };
    let ast = engine.compile(source).map_err(|e| {
        let (line, reason) = syntax_error(source, &e);
        err(line, reason)
    })?;
    check_hooks(&ast, source).map_err(|(line, reason)| err(line, reason))?;
    if let Some((line, reason)) = lint::unknown_call(engine, &ast) {
        return Err(err(line, reason));
    }
    let meta_value = super::call::with_deadline(limits.deadline, || {
        engine.call_fn_with_options::<rhai::Dynamic>(
            rhai::CallFnOptions::new().eval_ast(false),
            &mut rhai::Scope::new(),
            &ast,
            "institution",
            (),
        )
    })
    .map_err(|e| {
        let (cause, line) = lint::innermost(&e);
        let what = lint::describe(cause, limits.deadline, limits.max_operations);
        match cause {
            rhai::EvalAltResult::ErrorTerminated(..)
            | rhai::EvalAltResult::ErrorTooManyOperations(..) => err(
                line_of(source, "institution"),
                format!("institution() {what}"),
            ),
            _ => err(line, format!("institution() failed: {what}")),
        }
    })?;
    let meta: Institution = rhai::serde::from_dynamic(&meta_value).map_err(|e| {
        err(
            line_of(source, "institution"),
            format!("institution() returned bad metadata: {e}"),
        )
    })?;
    meta.validate().map_err(|reason| {
        err(
            line_of(source, "institution"),
            format!("institution(): {reason}"),
        )
    })?;
    let icon = match &meta.icon {
        None => None,
        Some(name) => Some(Arc::new(icon(name).and_then(check_icon).map_err(
            |reason| {
                err(
                    line_of(source, "institution"),
                    format!("icon {name}: {reason}"),
                )
            },
        )?)),
    };
    Ok(Plugin {
        meta,
        file: file.to_path_buf(),
        ast,
        icon,
        operator_hosts: Vec::new(),
    })
}

/// Rhai reports an unclosed brace where it ran out of script, or at the next `fn` (a function
/// inside a block); point at the brace instead.
fn syntax_error(source: &str, e: &rhai::ParseError) -> (Option<usize>, String) {
    use rhai::ParseErrorType as P;
    let unclosed = match &*e.0 {
        P::UnexpectedEOF | P::WrongFnDefinition => true,
        P::MissingToken(t, _) => t == "}",
        _ => false,
    };
    match lint::unclosed_brace(source).filter(|_| unclosed) {
        Some(line) => (
            Some(line),
            "syntax error: the `{` on this line is never closed (the script ends inside it)".into(),
        ),
        None => (e.1.line(), format!("syntax error: {}", e.0)),
    }
}

/// Required hooks exist, and every hook takes exactly the parameters the host passes.
fn check_hooks(ast: &AST, source: &str) -> Result<(), (Option<usize>, String)> {
    for (name, params, required) in HOOKS {
        let defs: Vec<_> = ast.iter_functions().filter(|f| f.name == *name).collect();
        if defs.is_empty() && *required {
            return Err((
                None,
                format!(
                    "missing required function `fn {name}({})`",
                    params.join(", ")
                ),
            ));
        }
        if let Some(f) = defs.iter().find(|f| f.params.len() != params.len()) {
            return Err((
                line_of(source, name),
                format!(
                    "`fn {name}` takes {} parameter(s); the host calls it as `fn {name}({})`",
                    f.params.len(),
                    params.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The 1-based line where `fn name(` is defined, for error messages.
fn line_of(source: &str, name: &str) -> Option<usize> {
    let needle = format!("fn {name}");
    source
        .lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(&needle)
                .is_some_and(|rest| rest.trim_start().starts_with('('))
        })
        .map(|i| i + 1)
}

fn read_icon(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

fn check_icon(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if bytes.len() > MAX_ICON_BYTES {
        return Err(format!("larger than {MAX_ICON_BYTES} bytes"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 SVG text".to_string())?;
    if !text.contains("<svg") {
        return Err("not an SVG document".into());
    }
    Ok(bytes)
}
