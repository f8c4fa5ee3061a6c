//! The device authorization grant (RFC 8628): a device without a browser asks for a pair of
//! codes (`authorization`), the user enters the user code on the verification page and signs
//! in and consents through the ordinary interaction (`verification`), and the device polls the
//! token endpoint with the device code (`tokens::grants`' `device_code`).

pub mod authorization;
pub mod user_code;
pub mod verification;

/// RFC 8628 §3.4: the grant type the device polls with.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// RFC 8628 §3.5: each `slow_down` adds this much to the interval.
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// The verification page, on the issuer's host (RFC 8628 §3.2 `verification_uri`).
pub fn verification_uri(issuer: &str) -> String {
    let origin = url::Url::parse(issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| issuer.to_string());
    format!("{origin}/device")
}
