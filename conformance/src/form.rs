//! A small HTML form reader: enough to find the provider's login and consent forms and submit
//! them as a browser would (hidden fields such as the CSRF token included).

#[derive(Debug, Clone, Default)]
pub struct Form {
    pub method: String,
    pub action: String,
    /// Named fields with their current values (hidden, text, password, ...).
    pub fields: Vec<(String, String)>,
    /// Submit buttons: (name, value, formaction).
    pub buttons: Vec<(String, String, Option<String>)>,
}

impl Form {
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    pub fn set(&mut self, name: &str, value: &str) {
        for (n, v) in self.fields.iter_mut() {
            if n == name {
                *v = value.to_string();
            }
        }
    }

    /// The submit button with this name and value, if the form has one.
    pub fn button(&self, name: &str, value: &str) -> Option<&(String, String, Option<String>)> {
        self.buttons
            .iter()
            .find(|(n, v, _)| n == name && v == value)
    }
}

pub fn decode_entities(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The attributes of one tag's inside (`form method="post" action=...`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = tag.as_bytes();
    let mut i = 0;
    // skip the tag name
    while i < b.len() && !b[i].is_ascii_whitespace() {
        i += 1;
    }
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = tag[start..i].to_ascii_lowercase();
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                i += 1;
                let vs = i;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = decode_entities(&tag[vs..i]);
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode_entities(&tag[vs..i]);
            }
        }
        out.push((name, value));
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every tag of the page, in order, as (lowercased name, attributes).
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let inside = &after[..close];
        let name: String = inside
            .split(|c: char| c.is_ascii_whitespace() || c == '>')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        out.push((name, attributes(inside)));
        rest = &after[close + 1..];
    }
    out
}

/// The `src` of every `<iframe>` of a page (the logged-out page's front-channel logout
/// iframes, OpenID Front-Channel Logout 1.0 §3).
pub fn iframe_srcs(html: &str) -> Vec<String> {
    tags(html)
        .into_iter()
        .filter(|(name, _)| name == "iframe")
        .filter_map(|(_, attrs)| attr(&attrs, "src").map(str::to_string))
        .collect()
}

/// The URL of a `<meta http-equiv="refresh" content="N; url=...">`, the way a page without
/// script sends the browser on.
pub fn meta_refresh(html: &str) -> Option<String> {
    tags(html).into_iter().find_map(|(name, attrs)| {
        let refresh = name == "meta"
            && attr(&attrs, "http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh"));
        let content = attr(&attrs, "content").filter(|_| refresh)?;
        let (_, url) = content.split_once(';')?;
        let url = url.trim();
        let url = url
            .strip_prefix("url=")
            .or_else(|| url.strip_prefix("URL="))
            .unwrap_or(url);
        Some(url.trim_matches(|c| c == '\'' || c == '"').to_string())
    })
}

/// The forms of a page.
pub fn forms(html: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut current: Option<Form> = None;
    for (name, attrs) in tags(html) {
        match name.as_str() {
            "form" => {
                current = Some(Form {
                    method: attr(&attrs, "method").unwrap_or("get").to_ascii_lowercase(),
                    action: attr(&attrs, "action").unwrap_or("").to_string(),
                    ..Form::default()
                })
            }
            "/form" => {
                if let Some(f) = current.take() {
                    out.push(f)
                }
            }
            "input" => {
                if let (Some(f), Some(n)) = (current.as_mut(), attr(&attrs, "name")) {
                    let kind = attr(&attrs, "type").unwrap_or("text").to_ascii_lowercase();
                    let value = attr(&attrs, "value").unwrap_or("").to_string();
                    if kind == "submit" {
                        f.buttons.push((n.to_string(), value, None));
                    } else if (kind != "checkbox" && kind != "radio")
                        || attrs.iter().any(|(a, _)| a == "checked")
                    {
                        f.fields.push((n.to_string(), value));
                    }
                }
            }
            "button" => {
                if let Some(f) = current.as_mut() {
                    let kind = attr(&attrs, "type").unwrap_or("submit");
                    if kind == "submit" {
                        f.buttons.push((
                            attr(&attrs, "name").unwrap_or("").to_string(),
                            attr(&attrs, "value").unwrap_or("").to_string(),
                            attr(&attrs, "formaction").map(str::to_string),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hidden_fields_and_buttons() {
        let html = r#"<form method="post" action="/interaction/a&amp;b/consent">
<input type="hidden" name="csrf_token" value="x&amp;y"><input name=username type=text required>
<button type="submit" name="decision" value="deny" class="secondary">Cancel</button>
<button type="submit" name="decision" value="approve">Allow</button></form>"#;
        let f = &forms(html)[0];
        assert_eq!(f.method, "post");
        assert_eq!(f.action, "/interaction/a&b/consent");
        assert_eq!(f.fields[0], ("csrf_token".into(), "x&y".into()));
        assert!(f.has_field("username"));
        assert!(f.button("decision", "approve").is_some());
        assert!(f.button("decision", "maybe").is_none());
    }

    #[test]
    fn reads_iframes_and_meta_refresh() {
        let html = r#"<meta http-equiv="refresh" content="0; url=https://rp.example/post?state=a&amp;b=c">
<iframe src="https://rp.example/fc?iss=x&amp;sid=y" title="x"></iframe>"#;
        assert_eq!(iframe_srcs(html), vec!["https://rp.example/fc?iss=x&sid=y"]);
        assert_eq!(
            meta_refresh(html).as_deref(),
            Some("https://rp.example/post?state=a&b=c")
        );
        assert_eq!(meta_refresh("<p>no refresh</p>"), None);
    }
}
