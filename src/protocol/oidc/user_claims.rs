//! The standard claims (OIDC Core §5.1) an operator or partner may set on a user: only those
//! names, each with the type §5.1 gives it, so UserInfo and ID tokens never release a claim a
//! client library would choke on.

use crate::error::{OAuthError, OAuthResult};
use serde_json::{Map, Value};

/// Longest string value accepted for a claim.
const MAX_LEN: usize = 1024;

enum Kind {
    Text,
    Url,
    Bool,
    Number,
    Date,
    Address,
}

/// OIDC Core §5.1, without `sub` (the provider's own identifier for the user).
const STANDARD: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("given_name", Kind::Text),
    ("family_name", Kind::Text),
    ("middle_name", Kind::Text),
    ("nickname", Kind::Text),
    ("preferred_username", Kind::Text),
    ("profile", Kind::Url),
    ("picture", Kind::Url),
    ("website", Kind::Url),
    ("email", Kind::Text),
    ("email_verified", Kind::Bool),
    ("gender", Kind::Text),
    ("birthdate", Kind::Date),
    ("zoneinfo", Kind::Text),
    ("locale", Kind::Text),
    ("phone_number", Kind::Text),
    ("phone_number_verified", Kind::Bool),
    ("address", Kind::Address),
    ("updated_at", Kind::Number),
];

/// OIDC Core §5.1.1: the members of the `address` claim, all strings.
const ADDRESS_MEMBERS: &[&str] = &[
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// Checks a JSON object of standard claims and returns it. Anything else is
/// `invalid_request` naming the claim and the rule.
pub fn validate(claims: &Value) -> OAuthResult<Map<String, Value>> {
    let obj = claims.as_object().ok_or_else(|| {
        OAuthError::invalid_request("claims must be a JSON object of OIDC Core 5.1 claims")
    })?;
    for (name, value) in obj {
        let kind = STANDARD
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k)
            .ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "claims: {} is not a standard claim (OIDC Core 5.1)",
                    printable(name)
                ))
            })?;
        check(kind, value).map_err(|why| {
            OAuthError::invalid_request(format!("claims.{name}: {why} (OIDC Core 5.1)"))
        })?;
    }
    Ok(obj.clone())
}

/// The standard claims (OIDC Core §5.1) among `claims` that pass [`validate`]'s checks; the
/// rest (other names, wrong types) is dropped. For claims an upstream provider asserted.
pub fn standard_only(claims: &Value) -> Map<String, Value> {
    let Some(obj) = claims.as_object() else {
        return Map::new();
    };
    obj.iter()
        .filter(|(name, value)| {
            STANDARD
                .iter()
                .find(|(n, _)| n == name)
                .is_some_and(|(_, kind)| check(kind, value).is_ok())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check(kind: &Kind, value: &Value) -> Result<(), String> {
    match kind {
        Kind::Text => text(value).map(drop),
        Kind::Url => {
            let url = url::Url::parse(text(value)?).map_err(|_| "must be an absolute URL")?;
            match url.scheme() {
                "https" | "http" => Ok(()),
                _ => Err("must be an http or https URL".into()),
            }
        }
        Kind::Bool => value
            .is_boolean()
            .then_some(())
            .ok_or_else(|| "must be true or false".into()),
        Kind::Number => value
            .as_i64()
            .filter(|n| *n >= 0)
            .map(drop)
            .ok_or_else(|| "must be seconds since 1970 (a non-negative integer)".into()),
        Kind::Date => {
            let s = text(value)?;
            is_birthdate(s)
                .then_some(())
                .ok_or_else(|| "must be YYYY-MM-DD, 0000-MM-DD or YYYY".into())
        }
        Kind::Address => {
            let obj = value.as_object().ok_or("must be a JSON object")?;
            for (member, v) in obj {
                if !ADDRESS_MEMBERS.contains(&member.as_str()) {
                    return Err(format!(
                        "{} is not an address member (OIDC Core 5.1.1)",
                        printable(member)
                    ));
                }
                text(v).map_err(|why| format!("{member} {why}"))?;
            }
            Ok(())
        }
    }
}

fn text(value: &Value) -> Result<&str, String> {
    let s = value.as_str().ok_or("must be a string")?;
    if s.is_empty() || s.len() > MAX_LEN {
        return Err(format!("must be 1 to {MAX_LEN} bytes"));
    }
    // Line breaks are allowed (address.formatted spans lines, OIDC Core 5.1.1).
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err("must not contain control characters".into());
    }
    Ok(s)
}

/// ISO 8601 `YYYY-MM-DD` (the year may be `0000` when withheld) or `YYYY` alone.
fn is_birthdate(s: &str) -> bool {
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] => digits(y, 4),
        [y, m, d] => {
            digits(y, 4)
                && digits(m, 2)
                && digits(d, 2)
                && (1..=12).contains(&m.parse::<u8>().unwrap_or(0))
                && (1..=31).contains(&d.parse::<u8>().unwrap_or(0))
        }
        _ => false,
    }
}

fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn standard_claims_pass_and_wrong_types_fail() {
        let good = json!({
            "given_name": "Ada", "family_name": "Lovelace", "birthdate": "1815-12-10",
            "email_verified": true, "phone_number": "+44 20 7946 0000", "phone_number_verified": false,
            "address": {"street_address": "12 St James's Square", "country": "GB"},
            "updated_at": 1700000000, "website": "https://example.test/ada", "locale": "en-GB",
        });
        assert!(validate(&good).is_ok());
        for bad in [
            json!({"email_verified": "yes"}),
            json!({"updated_at": "yesterday"}),
            json!({"birthdate": "10/12/1815"}),
            json!({"address": "12 St James's Square"}),
            json!({"address": {"street": "x"}}),
            json!({"picture": "javascript:alert(1)"}),
            json!({"sub": "someone-else"}),
            json!({"favourite_colour": "blue"}),
            json!({"name": ""}),
            json!(["name"]),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
    }
}
