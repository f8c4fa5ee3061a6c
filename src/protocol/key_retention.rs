//! How long a retired signing key stays published: until every token it signed has expired
//! (the running provider's scheduled rotation and `consentry keys rotate` apply the same rule).

use crate::config::Lifetimes;

/// JARM responses live this long, whatever the configured lifetimes.
const JARM_RESPONSE_SECS: i64 = 600;
/// Slack for clock skew between the signer and whoever verifies.
const CLOCK_SKEW_SECS: i64 = 60;

/// Seconds a retired key stays published under these token lifetimes.
pub fn retention_secs(l: &Lifetimes) -> i64 {
    l.access_token_secs
        .max(l.id_token_secs)
        .max(JARM_RESPONSE_SECS)
        + CLOCK_SKEW_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_signed_lifetime_plus_skew() {
        let mut l = Lifetimes {
            access_token_secs: 3600,
            id_token_secs: 900,
            ..Lifetimes::default()
        };
        assert_eq!(retention_secs(&l), 3660);
        l.id_token_secs = 7200;
        assert_eq!(retention_secs(&l), 7260);
        // Short tokens: the JARM response lifetime still bounds it.
        l.access_token_secs = 60;
        l.id_token_secs = 60;
        assert_eq!(retention_secs(&l), 660);
    }
}
