//! A client's public keys and the checks on JWTs it signs (request objects, assertions).

use crate::error::{OAuthError, OAuthResult};
use crate::jose::{self, Alg, ClientKeys};
use crate::protocol::Ctx;
use crate::types::Client;
use serde_json::Value;

/// How much a client's clock may run ahead of ours.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// The client's registered signing keys: its `jwks`, or what its `jwks_uri` serves, with
/// whether that set was fetched just now. `error` builds the error when there are none.
async fn keys_of(
    cx: &Ctx<'_>,
    client: &Client,
    error: fn(String) -> OAuthError,
) -> OAuthResult<(ClientKeys, bool)> {
    let (jwks, fresh) = match (&client.metadata.jwks, &client.metadata.jwks_uri) {
        (Some(jwks), _) => (jwks.clone(), true),
        (None, Some(uri)) => {
            let got = cx.jwks_cache.current(uri, cx.now).await?;
            (got.set, got.fresh)
        }
        (None, None) => {
            return Err(error(
                "the client has no registered keys (jwks or jwks_uri)".into(),
            ))
        }
    };
    Ok((usable(&jwks, error)?, fresh))
}

fn usable(jwks: &Value, error: fn(String) -> OAuthError) -> OAuthResult<ClientKeys> {
    ClientKeys::from_jwks(jwks).map_err(|e| error(format!("the client's jwks is unusable: {e}")))
}

/// The client's keys for encrypting to it.
pub async fn encryption_keys(cx: &Ctx<'_>, client: &Client) -> OAuthResult<ClientKeys> {
    keys_of(cx, client, |d| {
        OAuthError::server(format!("ID token encryption: {d}"))
    })
    .await
    .map(|(keys, _)| keys)
}

/// The algorithms allowed for a JWT from this client: the one it registered, or any we accept.
pub fn allowed_algs(registered: Option<&str>) -> Vec<Alg> {
    match registered.and_then(Alg::parse) {
        Some(a) => vec![a],
        None => Alg::ALL.to_vec(),
    }
}

/// Verifies the signature with the client's keys; `error` builds the error to answer with.
/// When no key of a cached `jwks_uri` set verifies it, the set is fetched again (as the cache's
/// refetch interval allows) and the JWT tried once more: the client may have just rotated.
pub async fn verify(
    cx: &Ctx<'_>,
    client: &Client,
    token: &str,
    allowed: &[Alg],
    error: fn(String) -> OAuthError,
) -> OAuthResult<Value> {
    let (keys, fresh) = keys_of(cx, client, error).await?;
    let mut outcome = jose::verify_client_jwt(token, &keys, allowed);
    if let (Err(jose::JoseError::NoMatchingKey(_)), false, None, Some(uri)) = (
        &outcome,
        fresh,
        &client.metadata.jwks,
        &client.metadata.jwks_uri,
    ) {
        if let Some(set) = cx.jwks_cache.refetch(uri, cx.now).await? {
            outcome = jose::verify_client_jwt(token, &usable(&set, error)?, allowed);
        }
    }
    outcome
        .map(|(claims, _)| claims)
        .map_err(|e| error(e.to_string()))
}

/// Whether `aud` (a string or an array) names one of `accepted`.
pub fn audience_matches(aud: &Value, accepted: &[&str]) -> bool {
    match aud {
        Value::String(a) => accepted.contains(&a.as_str()),
        Value::Array(list) => list
            .iter()
            .any(|a| a.as_str().is_some_and(|a| accepted.contains(&a))),
        _ => false,
    }
}

/// Furthest a NumericDate is taken from the epoch (about 31 million years): any number beyond
/// is clamped here, so sums and differences of dates never overflow.
const NUMERIC_DATE_LIMIT: i64 = 1_000_000_000_000_000;

/// A NumericDate claim in whole seconds, or `None` when it is not a JSON number. RFC 7519 §2
/// allows non-integer values (`1733400000.5`); they are floored, since every check here works
/// to the second. Values of any size are accepted and clamped, so an absurd date is refused
/// by the checks that read it (expired, too far ahead) rather than by arithmetic.
pub fn numeric_date(v: &Value) -> Option<i64> {
    let secs = match v.as_i64() {
        Some(i) => i,
        // `as` saturates; JSON has no NaN or infinity, but a u64 beyond i64 lands here.
        None => v.as_f64().filter(|f| !f.is_nan())?.floor() as i64,
    };
    Some(secs.clamp(-NUMERIC_DATE_LIMIT, NUMERIC_DATE_LIMIT))
}

/// The time claims every client JWT must get right: `exp` (when `exp_required`) in the
/// future and at most `max_lifetime` ahead, `nbf` and `iat` not in the future.
pub fn check_times(
    claims: &Value,
    now: i64,
    exp_required: bool,
    max_lifetime: i64,
    error: fn(String) -> OAuthError,
) -> OAuthResult<()> {
    match claims.get("exp") {
        Some(v) => {
            let exp = numeric_date(v).ok_or_else(|| error("exp must be a number".into()))?;
            if exp <= now - CLOCK_SKEW_SECS {
                return Err(error("the JWT has expired (exp)".into()));
            }
            if exp > now + max_lifetime + CLOCK_SKEW_SECS {
                return Err(error("exp is too far in the future".into()));
            }
        }
        None if exp_required => return Err(error("exp is required".into())),
        None => {}
    }
    for name in ["nbf", "iat"] {
        if let Some(v) = claims.get(name) {
            let t = numeric_date(v).ok_or_else(|| error(format!("{name} must be a number")))?;
            if t > now + CLOCK_SKEW_SECS {
                return Err(error(format!("{name} is in the future")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_dates_are_whole_seconds_clamped_to_a_range_that_cannot_overflow() {
        // RFC 7519 §2: a NumericDate is any JSON number, fractions included.
        assert_eq!(numeric_date(&json!(1733400000)), Some(1733400000));
        assert_eq!(numeric_date(&json!(1733400000.75)), Some(1733400000));
        assert_eq!(numeric_date(&json!(-0.5)), Some(-1));
        for huge in [json!(i64::MAX), json!(u64::MAX), json!(1e300)] {
            assert_eq!(numeric_date(&huge), Some(NUMERIC_DATE_LIMIT), "{huge}");
        }
        for tiny in [json!(i64::MIN), json!(-1e300)] {
            assert_eq!(numeric_date(&tiny), Some(-NUMERIC_DATE_LIMIT), "{tiny}");
        }
        assert_eq!(numeric_date(&json!("1733400000")), None);
        assert_eq!(numeric_date(&Value::Null), None);
    }

    #[test]
    fn absurd_dates_are_refused_by_the_time_checks() {
        let invalid = |d: String| OAuthError::invalid_request(d);
        let now = 1_733_400_000;
        let check = |claims: Value| check_times(&claims, now, true, 3600, invalid);
        assert!(check(json!({"exp": now + 60, "iat": now as f64 - 0.5})).is_ok());
        for claims in [
            json!({"exp": i64::MAX}),
            json!({"exp": u64::MAX}),
            json!({"exp": i64::MIN}),
            json!({"exp": now + 60, "nbf": i64::MAX}),
            json!({"exp": now + 60, "iat": 1e300}),
            json!({"exp": "soon"}),
        ] {
            let e = check(claims.clone()).expect_err(&claims.to_string());
            assert_eq!(e.code, crate::error::ErrorCode::InvalidRequest);
        }
    }
}
