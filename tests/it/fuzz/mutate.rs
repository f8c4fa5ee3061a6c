//! Mutations of bytes, text and JSON: the generic half of every target's generator.

use super::engine::Rng;
use serde_json::{json, Map, Value};

/// Words that steer parsers into their interesting branches.
pub const WORDS: &[&str] = &[
    "",
    "none",
    "None",
    "HS256",
    "RS256",
    "PS256",
    "ES256",
    "RS512",
    "EdDSA",
    "dpop+jwt",
    "JWT",
    "oauth-authz-req+jwt",
    "openid",
    "code",
    "code id_token",
    "S256",
    "plain",
    "private_key_jwt",
    "client_secret_jwt",
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "urn:ietf:params:oauth:request_uri:",
    "https://rp.example.test/cb",
    "http://127.0.0.1/",
    "javascript:alert(1)",
    "-1",
    "0",
    "1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "NaN",
    "null",
    "true",
    "{}",
    "[]",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "%00",
    "%FF",
    "%zz",
    "%",
    "+",
    "=",
    "&",
    ".",
    "..",
    ":",
    "=?",
    "\0",
    "\u{202e}",
    "é",
    "💥",
    "\r\n",
    "Basic ",
    "Bearer ",
    "DPoP ",
];

pub fn word(rng: &mut Rng) -> &'static str {
    rng.pick(WORDS)
}

/// A string of random length: words, random ASCII, or random Unicode.
pub fn text(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 | 1 => word(rng).to_string(),
        2 => {
            let n = rng.below(40);
            (0..n)
                .map(|_| (b' ' + rng.below(95) as u8) as char)
                .collect()
        }
        3 => {
            let n = rng.below(20);
            (0..n)
                .filter_map(|_| char::from_u32(rng.below(0x11_0000) as u32))
                .collect()
        }
        4 => "A".repeat(rng.pick(&[256, 4096, 70_000]).to_owned()),
        _ => String::from_utf8_lossy(&rng.bytes(32)).into_owned(),
    }
}

/// One to four byte-level edits: flips, inserts, deletions, duplications, truncation, words,
/// invalid UTF-8.
pub fn bytes(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(10) {
            0 if len > 0 => data[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => data[rng.below(len)] = rng.next_u64() as u8,
            2 => {
                let extra = rng.bytes(8);
                data.splice(at..at, extra);
            }
            3 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at.min(end)..end);
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            5 => data.truncate(at),
            6 => {
                let w = word(rng).as_bytes().to_vec();
                data.splice(at..at, w);
            }
            7 => {
                let invalid = [0xFF, 0xC3, 0x28].into_iter().take(1 + rng.below(3));
                data.splice(at..at, invalid);
            }
            8 if len > 0 => {
                // Swap two bytes.
                let (a, b) = (rng.below(len), rng.below(len));
                data.swap(a, b);
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }
}

/// `s` after byte-level edits, made text again (lossily) for parsers that take `&str`.
pub fn string(rng: &mut Rng, s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    bytes(rng, &mut b);
    String::from_utf8_lossy(&b).into_owned()
}

/// A random JSON value, at most `depth` levels deep.
pub fn random_json(rng: &mut Rng, depth: usize) -> Value {
    let scalar_only = depth == 0;
    match rng.below(if scalar_only { 7 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.one_in(2)),
        2 => json!(rng.pick(&[
            0i64,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            1_733_400_000,
            4_102_444_800
        ])),
        3 => json!(rng.pick(&[u64::MAX, 1u64 << 53, 1u64 << 63])),
        4 => json!(rng.pick(&[0.5f64, -0.5, 1e300, -1e300, 1.7e308, 5e-324])),
        5 | 6 => json!(text(rng)),
        7 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(text(rng), random_json(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// One edit somewhere in `v`: a member replaced, removed, added or retyped, or a value wrapped.
/// `keys` are member names worth adding (the ones the parser reads).
pub fn json(rng: &mut Rng, v: &mut Value, keys: &[&str]) {
    // Walk down a random path, sometimes stopping early.
    let descend = rng.below(3) != 0;
    match v {
        Value::Object(m) if descend && !m.is_empty() => {
            let k = m.keys().nth(rng.below(m.len())).cloned().unwrap();
            return json(rng, m.get_mut(&k).unwrap(), keys);
        }
        Value::Array(a) if descend && !a.is_empty() => {
            let i = rng.below(a.len());
            return json(rng, &mut a[i], keys);
        }
        _ => {}
    }
    let node = v;
    match node {
        Value::Object(m) if rng.one_in(2) => match rng.below(4) {
            0 if !m.is_empty() => {
                let k = m.keys().nth(rng.below(m.len())).cloned().unwrap();
                m.remove(&k);
            }
            1 | 2 => {
                let k = if keys.is_empty() || rng.one_in(4) {
                    text(rng)
                } else {
                    rng.pick(keys).to_string()
                };
                m.insert(k, random_json(rng, 2));
            }
            _ if !m.is_empty() => {
                let k = m.keys().nth(rng.below(m.len())).cloned().unwrap();
                let old = m[&k].clone();
                m.insert(k, retyped(rng, old));
            }
            _ => {}
        },
        other => {
            let old = std::mem::take(other);
            *other = retyped(rng, old);
        }
    }
}

/// `old` as another JSON type, wrapped, or replaced.
fn retyped(rng: &mut Rng, old: Value) -> Value {
    match rng.below(6) {
        0 => json!([old]),
        1 => json!({ "value": old }),
        2 => match &old {
            Value::String(s) => json!(string(rng, s)),
            Value::Number(n) => json!(n.to_string()),
            _ => random_json(rng, 1),
        },
        _ => random_json(rng, 2),
    }
}

/// A JSON document `levels` deep, as text (never built as a `Value`, which would recurse).
pub fn deep_nesting(rng: &mut Rng) -> String {
    let levels = rng.pick(&[64usize, 127, 128, 129, 1000, 50_000]);
    let (open, close) = if rng.one_in(2) {
        ("[", "]")
    } else {
        ("{\"a\":", "}")
    };
    format!("{}1{}", open.repeat(levels), close.repeat(levels))
}

/// Text-level edits of a JSON document: duplicated members, huge numbers, deep nesting, or
/// byte edits.
pub fn json_text(rng: &mut Rng, doc: &str) -> String {
    match rng.below(5) {
        0 => match doc.strip_prefix('{') {
            // A member given twice: which one wins must not matter for safety.
            Some(rest) => format!("{{\"{}\":{},{rest}", word(rng), random_json(rng, 1)),
            None => doc.to_string(),
        },
        1 => doc.replacen(
            |c: char| c.is_ascii_digit(),
            rng.pick(&["1e400", "99999999999999999999999", "-0", "1.0e-400"]),
            1,
        ),
        2 => deep_nesting(rng),
        _ => string(rng, doc),
    }
}
