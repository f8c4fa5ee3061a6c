//! The example institutions built into the binary, so an installed `consentry` run outside
//! the repository still has working ones: served when no plugins folder is configured and
//! `./plugins` is absent, and written out by `consentry plugins init DIR` as an editable copy.

use std::path::{Path, PathBuf};

/// The shipped files, by path inside a plugins folder (a build-time list: add a new example
/// here too).
pub const FILES: &[(&str, &[u8])] = &[
    (
        "credit-union.rhai",
        include_bytes!("../../plugins/credit-union.rhai"),
    ),
    (
        "legacy-example.rhai",
        include_bytes!("../../plugins/legacy-example.rhai"),
    ),
    (
        "oauth-bank.rhai",
        include_bytes!("../../plugins/oauth-bank.rhai"),
    ),
    (
        "sandbox-otp.rhai",
        include_bytes!("../../plugins/sandbox-otp.rhai"),
    ),
    (
        "sandbox-bank/main.rhai",
        include_bytes!("../../plugins/sandbox-bank/main.rhai"),
    ),
    (
        "sandbox-bank/icon.svg",
        include_bytes!("../../plugins/sandbox-bank/icon.svg"),
    ),
];

/// What error messages and the log call the built-in folder (no such folder exists).
pub const LABEL: &str = "(built in)";

/// The shipped scripts: (path as labelled, path inside the folder, source).
pub fn scripts() -> impl Iterator<Item = (PathBuf, &'static str, &'static str)> {
    FILES
        .iter()
        .filter(|(name, _)| name.ends_with(".rhai"))
        .map(|(name, bytes)| {
            let source = std::str::from_utf8(bytes).expect("shipped scripts are UTF-8");
            (Path::new(LABEL).join(name), *name, source)
        })
}

/// The shipped file `name` of the script at `script` (its icon, beside it).
pub fn sibling(script: &str, name: &str) -> Option<&'static [u8]> {
    let dir = Path::new(script).parent().unwrap_or(Path::new(""));
    let wanted = dir.join(name);
    FILES
        .iter()
        .find(|(n, _)| Path::new(n) == wanted)
        .map(|(_, b)| *b)
}

/// Writes the shipped files into `dir` (made if missing) and returns their paths. Nothing is
/// written when any of them exists already: the error names every one.
pub fn write_into(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let targets: Vec<(PathBuf, &[u8])> = FILES.iter().map(|(n, b)| (dir.join(n), *b)).collect();
    let existing: Vec<String> = targets
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(format!(
            "not overwriting existing files (move them away or pick another folder): {}",
            existing.join(", ")
        ));
    }
    for (path, bytes) in &targets {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        // create_new: never overwrite, even a file made since the check above.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        std::io::Write::write_all(&mut file, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(targets.into_iter().map(|(p, _)| p).collect())
}
