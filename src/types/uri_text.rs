//! Text rules shared by every URI a client registers.

/// RFC 3986 §2: a URI is ASCII, made of unreserved and reserved characters and
/// percent-encodings. A parser that "fixes" spaces, quotes or raw non-ASCII would store one
/// URI and compare or send another.
pub fn check_uri_text(uri: &str) -> Result<(), String> {
    const ALLOWED_PUNCTUATION: &str = "-._~:/?#[]@!$&'()*+,;=%";
    if let Some(c) = uri
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !ALLOWED_PUNCTUATION.contains(*c))
    {
        return Err(format!(
            "contains a character a URI cannot hold (U+{:04X}; RFC 3986 section 2)",
            c as u32
        ));
    }
    let bytes = uri.as_bytes();
    for (i, _) in uri.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
        if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err("has a % that does not start a percent-encoding".into());
        }
    }
    Ok(())
}

/// A value for an error message: only printable ASCII, the rest replaced.
pub fn printable(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}
