//! User codes (RFC 8628 §6.1): eight characters of a base-20 alphabet of consonants with no
//! look-alikes or vowels (so no words), shown as `XXXX-XXXX` and read back case-insensitively
//! with or without the hyphen or spaces. 20^8 ≈ 2^34.6 values; guessing is throttled.

use ring::rand::{SecureRandom, SystemRandom};

/// RFC 8628 §6.1's suggested alphabet.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const LEN: usize = 8;

/// A fresh random user code, in its canonical form (eight letters, no hyphen).
pub fn generate() -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(LEN);
    while out.len() < LEN {
        let mut b = [0u8; 1];
        rng.fill(&mut b).expect("system randomness");
        // 240 = 12 × 20: rejecting the rest keeps every letter equally likely.
        if b[0] < 240 {
            out.push(ALPHABET[(b[0] % 20) as usize] as char);
        }
    }
    out
}

/// How the user sees it: `BCDF-GHJK`.
pub fn display(canonical: &str) -> String {
    let (a, b) = canonical.split_at(canonical.len().min(LEN / 2));
    format!("{a}-{b}")
}

/// What the user typed, in canonical form: upper-cased, hyphens and whitespace dropped;
/// `None` unless that leaves eight letters of the alphabet.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8628_6_1_codes_are_eight_letters_of_the_base20_alphabet() {
        for _ in 0..200 {
            let c = generate();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert_eq!(normalize(&c).as_deref(), Some(c.as_str()));
        }
    }

    #[test]
    fn rfc8628_6_1_typed_codes_are_case_insensitive_with_or_without_separators() {
        let shown = display("BCDFGHJK");
        assert_eq!(shown, "BCDF-GHJK");
        for typed in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            "bcdfghjk",
            " BcDf GhJk ",
            "bcdf - ghjk",
        ] {
            assert_eq!(normalize(typed).as_deref(), Some("BCDFGHJK"), "{typed}");
        }
        // Vowels, digits and look-alikes are not in the alphabet; lengths must be exact.
        for bad in [
            "BCDF-GHJA",
            "BCDF-GHJ0",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "",
            "BCDF_GHJK",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
