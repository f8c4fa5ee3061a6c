//! The institutions currently loaded: compiled once, looked up lock-free, and swapped
//! atomically when scripts change on disk (by content). A script that fails to compile keeps
//! its previous version.

use super::institution::ConnectionType;
use super::plugin::{self, Plugin, PluginError};
use super::sandbox::{self, Limits};
use arc_swap::ArcSwap;
use rhai::Engine;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A script's content (SHA-256 of the script and of its icon): a change means recompile.
/// Content, not modification time and size, so that no edit goes unnoticed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    script: Option<[u8; 32]>,
    icon: Option<[u8; 32]>,
}

/// What one rescan changed, for the log and the metrics.
#[derive(Debug, Clone)]
pub enum ReloadEvent {
    /// A script seen for the first time compiled.
    Loaded { id: String, file: PathBuf },
    /// An edited script (or its icon) compiled; its new version is served.
    Changed { id: String, file: PathBuf },
    /// A script file went away, and its institution with it.
    Removed { id: String, file: PathBuf },
    /// A script was refused. `kept` is the institution id whose previous version is still
    /// served, if there is one.
    Refused {
        problem: PluginError,
        kept: Option<String>,
    },
}

impl ReloadEvent {
    /// The institution a refusal is about: its id where known (the previous version's),
    /// otherwise the script's name (file stem, or folder for `<name>/main.rhai`).
    pub fn institution(problem: &PluginError, kept: &Option<String>) -> String {
        if let Some(id) = kept {
            return id.clone();
        }
        let f = &problem.file;
        let named = if f.file_name().is_some_and(|n| n == "main.rhai") {
            f.parent().and_then(Path::file_name)
        } else {
            f.file_stem()
        };
        named
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
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
    /// Serves the examples built into the binary instead of a folder (see `super::shipped`).
    built_in: bool,
    /// Operator settings per institution id, for `setting(name)`.
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    pub engine: Arc<Engine>,
    pub limits: Limits,
    catalog: ArcSwap<Catalog>,
}

impl Registry {
    /// A registry with nothing loaded yet; `reload` loads the folder.
    pub fn new(
        dir: &Path,
        limits: Limits,
        settings: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Registry {
        Registry {
            dir: dir.to_path_buf(),
            built_in: false,
            settings,
            engine: Arc::new(sandbox::engine(&limits)),
            limits,
            catalog: ArcSwap::from_pointee(Catalog::default()),
        }
    }

    /// A registry of the examples built into the binary (they never change: `reload` loads
    /// them once).
    pub fn built_in(
        limits: Limits,
        settings: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Registry {
        Registry {
            built_in: true,
            ..Registry::new(Path::new(super::shipped::LABEL), limits, settings)
        }
    }

    /// Whether this registry serves the built-in examples.
    pub fn is_built_in(&self) -> bool {
        self.built_in
    }

    /// Loads every script under `dir` (a missing folder means no institutions); the
    /// problems are in the catalog.
    pub fn load(
        dir: &Path,
        limits: Limits,
        settings: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Registry {
        let r = Registry::new(dir, limits, settings);
        r.reload();
        r
    }

    /// The operator's `hosts` setting for an institution, each entry checked (see
    /// `super::hosts`).
    fn operator_hosts(&self, p: &Plugin) -> Result<Vec<String>, PluginError> {
        let Some(value) = self.settings.get(&p.meta.id).and_then(|s| s.get("hosts")) else {
            return Ok(Vec::new());
        };
        let hosts = super::hosts::split_setting(value);
        for h in &hosts {
            super::hosts::parse(h).map_err(|reason| PluginError {
                file: p.file.clone(),
                line: None,
                reason: format!("plugins.settings.{}.hosts: {reason}", p.meta.id),
            })?;
        }
        Ok(hosts)
    }

    /// Compiles one script with the operator's hosts for it.
    fn compile(&self, script: &Path, icon_dir: &Path) -> Result<Plugin, PluginError> {
        let mut p = plugin::compile(&self.engine, &self.limits, script, icon_dir)?;
        p.operator_hosts = self.operator_hosts(&p)?;
        Ok(p)
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Plugin>> {
        self.catalog.load().get(id).cloned()
    }

    /// Compiles the built-in examples, once.
    fn load_built_in(&self) -> Vec<ReloadEvent> {
        if !self.catalog.load().sources.is_empty() {
            return Vec::new();
        }
        let mut next = Catalog::default();
        let mut events = Vec::new();
        for (file, name, source) in super::shipped::scripts() {
            let icon = |icon: &str| {
                super::shipped::sibling(name, icon)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| "no such built-in file".to_string())
            };
            let compiled = plugin::compile_source(&self.engine, &self.limits, &file, source, icon)
                .and_then(|mut p| {
                    p.operator_hosts = self.operator_hosts(&p)?;
                    Ok(p)
                });
            let print = Fingerprint {
                script: None,
                icon: None,
            };
            match compiled {
                Ok(p) => {
                    let id = p.meta.id.clone();
                    next.sources.insert(file.clone(), (print, Some(id.clone())));
                    next.by_id.insert(id.clone(), Arc::new(p));
                    events.push(ReloadEvent::Loaded { id, file });
                }
                Err(problem) => {
                    next.sources.insert(file.clone(), (print, None));
                    next.problems.insert(file, problem.clone());
                    events.push(ReloadEvent::Refused {
                        problem,
                        kept: None,
                    });
                }
            }
        }
        self.catalog.store(Arc::new(next));
        events
    }

    /// Rescans the folder, recompiling what changed, and says what changed.
    pub fn reload(&self) -> Vec<ReloadEvent> {
        if self.built_in {
            return self.load_built_in();
        }
        let old = self.catalog.load_full();
        let mut next = Catalog::default();
        let mut events = Vec::new();
        for (script, icon_dir) in script_files(&self.dir) {
            let print = fingerprint(&script, &icon_dir, old.get_by_path(&script));
            let unchanged = old.sources.get(&script).filter(|(f, _)| *f == print);
            let previous = old.sources.get(&script).and_then(|(_, id)| id.clone());
            let compiled = match unchanged {
                Some((_, id)) => {
                    if let Some(p) = old.problems.get(&script) {
                        next.problems.insert(script.clone(), p.clone());
                    }
                    next.sources.insert(script.clone(), (print, id.clone()));
                    id.as_ref().and_then(|id| old.get(id).cloned())
                }
                None => match self.compile(&script, &icon_dir) {
                    Ok(p) => {
                        let p = Arc::new(p);
                        let print = fingerprint(&script, &icon_dir, Some(&p));
                        next.sources
                            .insert(script.clone(), (print, Some(p.meta.id.clone())));
                        let (id, file) = (p.meta.id.clone(), script.clone());
                        // Changed only when a previous version was being served.
                        let served = previous.as_ref().is_some_and(|id| old.get(id).is_some());
                        events.push(match served {
                            true => ReloadEvent::Changed { id, file },
                            false => ReloadEvent::Loaded { id, file },
                        });
                        Some(p)
                    }
                    Err(e) => {
                        next.problems.insert(script.clone(), e.clone());
                        // Keep serving the previous version of this script, if any.
                        let kept = previous.clone().filter(|id| old.get(id).is_some());
                        events.push(ReloadEvent::Refused {
                            problem: e,
                            kept: kept.clone(),
                        });
                        next.sources.insert(script.clone(), (print, previous));
                        kept.and_then(|id| old.get(&id).cloned())
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
                    if unchanged.is_none() {
                        // Not a Loaded/Changed after all.
                        events.pop();
                        events.push(ReloadEvent::Refused {
                            problem: e.clone(),
                            kept: None,
                        });
                    }
                    next.problems.insert(script.clone(), e);
                    continue;
                }
                next.by_id.insert(p.meta.id.clone(), p);
            }
        }
        for (file, (_, id)) in &old.sources {
            if let Some(id) = id.as_ref().filter(|_| !next.sources.contains_key(file)) {
                if old.get(id).is_some_and(|p| p.file == *file) {
                    events.push(ReloadEvent::Removed {
                        id: id.clone(),
                        file: file.clone(),
                    });
                }
            }
        }
        self.catalog.store(Arc::new(next));
        events
    }
}

impl Catalog {
    fn get_by_path(&self, path: &Path) -> Option<&Arc<Plugin>> {
        let id = self.sources.get(path)?.1.as_ref()?;
        self.by_id.get(id)
    }
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

fn content_digest(path: &Path) -> Option<[u8; 32]> {
    let bytes = std::fs::read(path).ok()?;
    let d = ring::digest::digest(&ring::digest::SHA256, &bytes);
    d.as_ref().try_into().ok()
}

fn fingerprint(script: &Path, icon_dir: &Path, current: Option<&Arc<Plugin>>) -> Fingerprint {
    // An icon edit alone also reloads the institution that uses it.
    let icon = current
        .and_then(|p| p.meta.icon.as_ref())
        .and_then(|name| content_digest(&icon_dir.join(name)));
    Fingerprint {
        script: content_digest(script),
        icon,
    }
}
