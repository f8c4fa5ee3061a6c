//! The institutions currently loaded: compiled once, looked up lock-free, and swapped
//! atomically when scripts change on disk. A script that fails to compile keeps its
//! previous version.

use super::institution::ConnectionType;
use super::plugin::{self, Plugin, PluginError};
use super::sandbox::{self, Limits};
use arc_swap::ArcSwap;
use rhai::Engine;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// A script file's identity on disk; a change means recompile.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
    icon: Option<(Option<SystemTime>, u64)>,
}

/// One snapshot of the loaded institutions.
#[derive(Default)]
pub struct Catalog {
    by_id: BTreeMap<String, Arc<Plugin>>,
    /// Script path → (fingerprint, institution id it provided), to skip unchanged files.
    sources: HashMap<PathBuf, (Fingerprint, Option<String>)>,
    /// The current problem with each script that has one.
    pub problems: BTreeMap<PathBuf, PluginError>,
}

impl Catalog {
    pub fn get(&self, id: &str) -> Option<&Arc<Plugin>> {
        self.by_id.get(id)
    }
    /// Institutions sorted by name.
    pub fn list(&self) -> Vec<Arc<Plugin>> {
        let mut all: Vec<_> = self.by_id.values().cloned().collect();
        all.sort_by_key(|p| p.meta.name.to_lowercase());
        all
    }
    pub fn of_type(&self, kind: Option<ConnectionType>) -> Vec<Arc<Plugin>> {
        self.list()
            .into_iter()
            .filter(|p| kind.is_none_or(|k| p.meta.kind == k))
            .collect()
    }
    /// The icon for a bankRef, from the first institution of that bank that has one.
    pub fn icon(&self, bank_ref: &str) -> Option<Arc<Vec<u8>>> {
        self.by_id
            .values()
            .filter(|p| p.meta.bank_ref == bank_ref)
            .find_map(|p| p.icon.clone())
    }
}

pub struct Registry {
    dir: PathBuf,
    /// Operator settings per institution id, for `setting(name)`.
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    pub engine: Arc<Engine>,
    pub limits: Limits,
    catalog: ArcSwap<Catalog>,
}

impl Registry {
    /// Loads every script under `dir` (a missing folder means no institutions).
    pub fn load(
        dir: &Path,
        limits: Limits,
        settings: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Registry {
        let r = Registry {
            dir: dir.to_path_buf(),
            settings,
            engine: Arc::new(sandbox::engine(&limits)),
            limits,
            catalog: ArcSwap::from_pointee(Catalog::default()),
        };
        r.reload();
        r
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Plugin>> {
        self.catalog.load().get(id).cloned()
    }

    /// Rescans the folder, recompiling what changed. Returns the new problems (files that
    /// failed this time) so the caller can log and count them.
    pub fn reload(&self) -> Vec<PluginError> {
        let old = self.catalog.load_full();
        let mut next = Catalog::default();
        let mut fresh_problems = Vec::new();
        for (script, icon_dir) in script_files(&self.dir) {
            let print = fingerprint(&script, &icon_dir, old.get_by_path(&script));
            let unchanged = old.sources.get(&script).filter(|(f, _)| *f == print);
            let compiled = match unchanged {
                Some((_, id)) => {
                    if let Some(p) = old.problems.get(&script) {
                        next.problems.insert(script.clone(), p.clone());
                    }
                    next.sources.insert(script.clone(), (print, id.clone()));
                    id.as_ref().and_then(|id| old.get(id).cloned())
                }
                None => match plugin::compile(&self.engine, &self.limits, &script, &icon_dir)
                    .and_then(|mut p| {
                        p.operator_hosts =
                            operator_hosts(&self.settings, &p.meta.id).map_err(|reason| {
                                PluginError {
                                    file: script.clone(),
                                    line: None,
                                    reason,
                                }
                            })?;
                        Ok(p)
                    }) {
                    Ok(p) => {
                        let p = Arc::new(p);
                        let print = fingerprint(&script, &icon_dir, Some(&p));
                        next.sources
                            .insert(script.clone(), (print, Some(p.meta.id.clone())));
                        Some(p)
                    }
                    Err(e) => {
                        fresh_problems.push(e.clone());
                        next.problems.insert(script.clone(), e);
                        // Keep serving the previous version of this script.
                        let previous = old.sources.get(&script).and_then(|(_, id)| id.clone());
                        next.sources
                            .insert(script.clone(), (print, previous.clone()));
                        previous.and_then(|id| old.get(&id).cloned())
                    }
                },
            };
            if let Some(p) = compiled {
                if let Some(other) = next.by_id.get(&p.meta.id) {
                    let e = PluginError {
                        file: script.clone(),
                        line: None,
                        reason: format!(
                            "institution id {} is already used by {}",
                            p.meta.id,
                            other.file.display()
                        ),
                    };
                    fresh_problems.push(e.clone());
                    next.problems.insert(script.clone(), e);
                    continue;
                }
                next.by_id.insert(p.meta.id.clone(), p);
            }
        }
        self.catalog.store(Arc::new(next));
        fresh_problems
    }
}

impl Catalog {
    fn get_by_path(&self, path: &Path) -> Option<&Arc<Plugin>> {
        let id = self.sources.get(path)?.1.as_ref()?;
        self.by_id.get(id)
    }
}

/// The operator's `hosts` setting for an institution (comma separated): host names or IP
/// addresses. A port would never match (hosts are compared without one), so it is refused
/// with the reason rather than failing every request later.
fn operator_hosts(
    settings: &BTreeMap<String, BTreeMap<String, String>>,
    id: &str,
) -> Result<Vec<String>, String> {
    let Some(list) = settings.get(id).and_then(|s| s.get("hosts")) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if super::institution::valid_host(h) || h.parse::<std::net::IpAddr>().is_ok() {
                Ok(h.to_string())
            } else {
                Err(format!(
                    "setting hosts: {h:?} is not a host name or IP address (no scheme, port or \
                     path: any port of a listed host is allowed, the URLs give it)"
                ))
            }
        })
        .collect()
}

/// `plugins/*.rhai` (icons beside them) and `plugins/<name>/main.rhai` (icons in `<name>/`),
/// in a stable order.
fn script_files(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let main = path.join("main.rhai");
            if main.is_file() {
                out.push((main, path));
            }
        } else if path.extension().is_some_and(|e| e == "rhai") {
            out.push((path, dir.to_path_buf()));
        }
    }
    out.sort();
    out
}

fn stat(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok(), m.len()))
}

fn fingerprint(script: &Path, icon_dir: &Path, current: Option<&Arc<Plugin>>) -> Fingerprint {
    let (modified, len) = stat(script).unwrap_or((None, 0));
    // An icon edit alone also reloads the institution that uses it.
    let icon = current
        .and_then(|p| p.meta.icon.as_ref())
        .and_then(|name| stat(&icon_dir.join(name)));
    Fingerprint {
        modified,
        len,
        icon,
    }
}

#[cfg(test)]
mod tests {
    use super::operator_hosts;
    use std::collections::BTreeMap;

    fn hosts(value: &str) -> Result<Vec<String>, String> {
        let mut settings = BTreeMap::new();
        let one = BTreeMap::from([("hosts".to_string(), value.to_string())]);
        settings.insert("bank".to_string(), one);
        operator_hosts(&settings, "bank")
    }

    #[test]
    fn the_hosts_setting_takes_host_names_and_addresses_and_refuses_a_port() {
        assert_eq!(
            hosts(" auth.bank.example, 127.0.0.1 ,::1,").unwrap(),
            ["auth.bank.example", "127.0.0.1", "::1"]
        );
        let e = hosts("127.0.0.1:9443").unwrap_err();
        assert!(
            e.contains("\"127.0.0.1:9443\"") && e.contains("port"),
            "{e}"
        );
        assert!(hosts("https://auth.bank.example").is_err());
        assert_eq!(
            operator_hosts(&BTreeMap::new(), "bank").unwrap(),
            Vec::<String>::new()
        );
    }
}
