//! The `hosts` lists: where a script's `http_*` calls and the host's OAuth client for its
//! institution may connect. Every such call is HTTPS, so an entry is `host` (port 443 only)
//! or `host:port` (that port only). The script declares its own in `institution().hosts`;
//! the operator may add more in the setting `plugins.settings.<id>.hosts` (comma separated).

/// One allowed `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    pub host: String,
    pub port: u16,
}

const HTTPS_PORT: u16 = 443;

/// Reads one entry, naming what is wrong with it.
pub fn parse(entry: &str) -> Result<HostRule, String> {
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    format!("{entry:?} is not `host` or `host:port` (a port from 1 to 65535)")
                })?;
            (host, port)
        }
        None => (entry, HTTPS_PORT),
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    if !valid {
        return Err(format!(
            "{entry:?} is not `host` or `host:port` (no scheme, path or brackets)"
        ));
    }
    Ok(HostRule {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// The operator's setting split at commas (blank entries ignored).
pub fn split_setting(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(String::from)
        .collect()
}

fn matches(list: &[String], host: &str, port: u16) -> bool {
    list.iter()
        .filter_map(|e| parse(e).ok())
        .any(|r| r.host == host && r.port == port)
}

fn names_host(list: &[String], host: &str) -> bool {
    list.iter()
        .filter_map(|e| parse(e).ok())
        .any(|r| r.host == host)
}

/// Allows `url` when it is HTTPS to a `host:port` of either list; otherwise says which list
/// to extend with which `host:port`.
pub fn check(
    url: &str,
    script: &[String],
    operator: &[String],
    institution: &str,
) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    if u.scheme() != "https" {
        return Err(format!("{url}: only https URLs may be reached"));
    }
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let port = u.port_or_known_default().unwrap_or(HTTPS_PORT);
    if matches(script, &host, port) || matches(operator, &host, port) {
        return Ok(u);
    }
    let entry = if port == HTTPS_PORT {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let setting = format!("the operator's plugins.settings.{institution}.hosts");
    let extend = if names_host(operator, &host) {
        setting.clone()
    } else if names_host(script, &host) {
        "the script's institution().hosts".to_string()
    } else {
        format!("the script's institution().hosts or {setting}")
    };
    Err(format!(
        "{url}: {host}:{port} is not an allowed host: refused by the script's \
         institution().hosts ({}) and by {setting} ({}); add \"{entry}\" to {extend}",
        listed(script, "empty"),
        listed(operator, "not set"),
    ))
}

/// A hosts list as the refusal shows it.
fn listed(list: &[String], none: &str) -> String {
    match list.is_empty() {
        true => none.to_string(),
        false => list.join(", "),
    }
}

/// The problems with the operator's `hosts` settings, one per bad entry, each naming its key
/// (`plugins.settings.<id>.hosts`) and the entry.
pub fn setting_problems(
    settings: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, values) in settings {
        let Some(value) = values.get("hosts") else {
            continue;
        };
        let key = format!("plugins.settings.{id}.hosts");
        let entries = split_setting(value);
        if entries.is_empty() {
            problems.push(format!(
                "{key}: empty; name at least one `host` or `host:port`"
            ));
        }
        for entry in entries {
            if let Err(reason) = parse(&entry) {
                problems.push(format!("{key}: {reason}"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_is_port_443_and_host_port_is_that_port() {
        let script = vec!["bank.example".to_string()];
        let operator = vec!["127.0.0.1:8443".to_string()];
        assert!(check("https://bank.example/x", &script, &operator, "b").is_ok());
        assert!(check("https://bank.example:443/x", &script, &operator, "b").is_ok());
        assert!(check("https://127.0.0.1:8443/x", &script, &operator, "b").is_ok());
        let e = check("https://bank.example:8443/x", &script, &operator, "b").unwrap_err();
        assert!(
            e.contains("bank.example:8443") && e.contains("institution().hosts"),
            "{e}"
        );
        assert!(
            e.contains("refused by the script's institution().hosts (bank.example)")
                && e.contains("plugins.settings.b.hosts (127.0.0.1:8443)"),
            "names both lists and what they hold: {e}"
        );
        let e = check("https://127.0.0.1:9000/x", &script, &operator, "b").unwrap_err();
        assert!(
            e.contains("add \"127.0.0.1:9000\" to the operator's plugins.settings.b.hosts"),
            "{e}"
        );
        let e = check("https://other.example/x", &script, &[], "b").unwrap_err();
        assert!(e.contains("plugins.settings.b.hosts (not set)"), "{e}");
        assert!(check("http://bank.example/x", &script, &operator, "b").is_err());
    }

    #[test]
    fn malformed_entries_are_named() {
        for bad in ["", "https://x", "x/y", "x:0", "x:http", "[::1]:1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("A.example:8443").unwrap().host, "a.example");
    }
}
