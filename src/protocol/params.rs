//! Request parameters as a map. RFC 6749 §3.1 and §3.2: parameters sent without a value are
//! treated as omitted, and must not be included more than once. Every endpoint reads its
//! parameters through here, so a repeated one is refused with the same words everywhere.

use crate::error::{OAuthError, OAuthResult};
use std::collections::HashMap;

/// The pairs as a map (a repeated name keeps its last value), and the names that were
/// repeated, in the order their repetition was met.
pub fn collect(pairs: Vec<(String, String)>) -> (HashMap<String, String>, Vec<String>) {
    let mut map = HashMap::with_capacity(pairs.len());
    let mut repeated = Vec::new();
    for (k, v) in pairs {
        if let Some(_earlier) = map.insert(k.clone(), v) {
            if !repeated.contains(&k) {
                repeated.push(k);
            }
        }
    }
    (map, repeated)
}

/// The refusal of a repeated parameter (RFC 6749 §3.1).
pub fn repeated(name: &str) -> OAuthError {
    OAuthError::invalid_request(format!(
        "parameter {name} is repeated (RFC 6749 section 3.1)"
    ))
}

/// The pairs as a map; a repeated parameter is an error (RFC 6749 §3.1, §3.2).
pub fn unique(pairs: Vec<(String, String)>) -> OAuthResult<HashMap<String, String>> {
    let (map, names) = collect(pairs);
    match names.first() {
        Some(name) => Err(repeated(name)),
        None => Ok(map),
    }
}

/// A parameter's value; an empty one counts as absent (RFC 6749 §3.1).
pub fn get<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rfc6749_3_1_a_repeated_parameter_is_refused_by_name() {
        let e = unique(pairs(&[("a", "1"), ("b", "2"), ("b", "3"), ("a", "4")])).unwrap_err();
        assert_eq!(
            e.description(),
            "parameter b is repeated (RFC 6749 section 3.1)"
        );
        let ok = unique(pairs(&[("a", "1"), ("b", "")])).unwrap();
        assert_eq!(get(&ok, "a"), Some("1"));
        assert_eq!(get(&ok, "b"), None, "an empty value counts as absent");
    }

    #[test]
    fn rfc6749_3_1_collect_names_each_repeated_parameter_once_in_order() {
        let (map, names) = collect(pairs(&[
            ("state", "1"),
            ("x", "1"),
            ("state", "2"),
            ("state", "3"),
            ("x", "2"),
        ]));
        assert_eq!(names, ["state", "x"]);
        assert_eq!(map["state"], "3", "the last value is kept");
    }
}
