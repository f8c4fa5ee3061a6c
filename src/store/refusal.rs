//! Why a write job refused its own work. A refusal rolls back everything the job wrote; the
//! protocol layer tells clients its message (so each message is worded for them).

/// One variant per case a store operation or a protocol step refuses inside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// RFC 9126 §4: a pushed request is good for one authorization.
    PushedRequestUsed,
    /// The tokens handed to `grants().redeem` belong to a grant other than the one the code or
    /// refresh token redeemed was issued from.
    TokensForAnotherGrant,
    /// A reauth or refresh journey names a bank connection deleted meanwhile.
    ConnectionGone,
    /// Another change to the client committed between reading it and writing it back.
    ClientChanged,
}

impl Refusal {
    /// The text clients see in `error_description` (unchanged from earlier releases).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::PushedRequestUsed => "pushed request already used",
            Refusal::TokensForAnotherGrant => "tokens for another grant",
            Refusal::ConnectionGone => "the connection no longer exists",
            Refusal::ClientChanged => "the client changed while this update was made",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
