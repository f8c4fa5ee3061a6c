//! Small checks the modules share: lengths, entropy, key sizes, the clients' keys.

use super::*;

pub(super) fn random_alnum(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.extend(
            jose::random_value(len)
                .chars()
                .filter(char::is_ascii_alphanumeric),
        );
    }
    out.truncate(len);
    out
}

pub(super) fn shannon_bits(s: &str) -> f64 {
    let mut counts = BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// EnsureMinimum*Length: at least 128 bits of characters.
pub(super) fn min_length(what: &str, v: Option<&str>) -> Check {
    match v {
        None | Some("") => Err(format!("Can't find {what}")),
        Some(v) if v.len() * 8 >= 128 => Ok(format!("{what} is of sufficient length")),
        Some(v) => Err(format!(
            "{what} is not long enough: {} bits, 128 required",
            v.len() * 8
        )),
    }
}

/// EnsureMinimum*Entropy: more than 96 bits of Shannon entropy (the suite's slack on 128).
pub(super) fn min_entropy(what: &str, v: Option<&str>) -> Check {
    match v {
        None | Some("") => Err(format!("Can't find {what}")),
        Some(v) => {
            let e = shannon_bits(v);
            if e > 96.0 {
                Ok(format!(
                    "{what}: calculated shannon entropy {e:.0} bits seems sufficient"
                ))
            } else {
                Err(format!(
                    "{what}: calculated shannon entropy {e:.0} bits does not meet 96"
                ))
            }
        }
    }
}

pub(super) fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn status_msg(r: &Resp) -> String {
    format!(
        "HTTP {}: {}",
        r.status,
        r.body.chars().take(300).collect::<String>()
    )
}

pub(super) fn is_json(r: &Resp) -> bool {
    r.content_type.split(';').next().map(str::trim) == Some("application/json")
}

/// The bit length of a public JWK (RSA modulus, or EC field size).
pub(super) fn key_bits(jwk: &Value) -> Option<usize> {
    match jwk["kty"].as_str()? {
        "RSA" => {
            let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str()?).ok()?;
            let lead = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let bytes = &n[lead..];
            let first = *bytes.first()?;
            Some((bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
        }
        "EC" => match jwk["crv"].as_str()? {
            "P-256" => Some(256),
            "P-384" => Some(384),
            "P-521" => Some(521),
            _ => None,
        },
        _ => None,
    }
}

/// AbstractEnsureMinimumKeyLength: RSA 2048, EC 160 bits.
pub(super) fn min_key_length(keys: &[Value], whose: &str) -> Check {
    for k in keys {
        let bits = key_bits(k);
        let min = if k["kty"] == "EC" { 160 } else { 2048 };
        match bits {
            Some(b) if b < min => {
                return Err(format!(
                    "{whose} key {} is {b} bits, {min} required",
                    k["kid"]
                ))
            }
            _ => {}
        }
    }
    Ok(format!("{whose} keys are long enough"))
}

pub(super) fn signer_for(client: &Client) -> Result<Signer, String> {
    let cfg = client.signing_key.as_ref().ok_or(format!(
        "client {} has no signing key configured",
        client.client_id
    ))?;
    Signer::load(cfg)
}
