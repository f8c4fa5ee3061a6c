//! Registering host functions with what the script reference shows of them (parameter names,
//! types, documentation), and reading that back from the engine: kept apart from the
//! reference itself so the host modules that register functions depend on nothing else.

use rhai::{Engine, FuncRegistration, RhaiNativeFunc, Variant};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Registers a host function with its parameter names and its documentation for the
/// reference. `doc` is Markdown; end it with `Throws: …` naming the errors it can raise.
/// `params` has exactly one name per parameter (the array length is checked at compile time);
/// the types are the Rust function's own.
pub fn host_fn<A: 'static, const N: usize, R: Variant + Clone, const FALLIBLE: bool, F>(
    e: &mut Engine,
    name: &str,
    params: [&str; N],
    doc: &str,
    f: F,
) where
    F: RhaiNativeFunc<A, N, false, R, FALLIBLE> + Send + Sync + 'static,
{
    let mut info: Vec<String> = params
        .iter()
        .zip(F::param_names())
        .map(|(name, ty)| format!("{name}: {}", display_type(e, ty)))
        .collect();
    if std::any::TypeId::of::<R>() != std::any::TypeId::of::<()>() {
        info.push(display_type(e, std::any::type_name::<R>()).to_string());
    }
    // Rhai keeps doc comments with their `///` leaders.
    let doc: Vec<String> = doc.lines().map(|l| format!("/// {l}")).collect();
    FuncRegistration::new(name)
        .with_params_info(info)
        .with_comments([doc.join("\n")])
        .register_into_engine(e, f);
}

/// A Rust type as script authors know it: `string`, `int`, `map`, `array`, `Dynamic`, ….
fn display_type<'a>(e: &'a Engine, rust: &'a str) -> &'a str {
    match e.map_type_name(rust) {
        "i64" => "int",
        "f64" => "float",
        t if t.ends_with("::Dynamic") => "Dynamic",
        t => t,
    }
}

/// One registered function, as rhai's metadata describes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FnMeta {
    pub(super) name: String,
    #[serde(default)]
    pub(super) params: Vec<Param>,
    #[serde(default)]
    pub(super) return_type: String,
    #[serde(default)]
    pub(super) doc_comments: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct Param {
    pub(super) name: Option<String>,
    #[serde(rename = "type")]
    pub(super) ty: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    functions: Vec<FnMeta>,
}

/// The host functions `engine` has registered (rhai's standard library left out), by name.
pub(super) fn host_functions(engine: &Engine) -> BTreeMap<String, Vec<FnMeta>> {
    let json = engine
        .gen_fn_metadata_to_json(false)
        .expect("rhai's metadata serialises");
    let meta: Metadata = serde_json::from_str(&json).expect("rhai's metadata parses");
    let mut by_name: BTreeMap<String, Vec<FnMeta>> = BTreeMap::new();
    for f in meta.functions {
        by_name.entry(f.name.clone()).or_default().push(f);
    }
    by_name
}

/// The names of the host functions `engine` has registered, for spelling suggestions.
pub fn host_function_names(engine: &Engine) -> Vec<String> {
    host_functions(engine).into_keys().collect()
}
