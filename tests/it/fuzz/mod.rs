//! Bounded fuzzing of every parser of outside input, on the stable toolchain: each target
//! draws cases from a seeded generator that mixes random bytes with structure-aware mutations
//! of valid inputs (signed JWTs, certificates, metadata, forms), and calls the parsing and
//! validation functions in-process (or the real server over HTTP). What must hold for every
//! case: no panic, no hang, and every refusal an `Err` (an OAuth error) — a JWT whose signature
//! or signed content was tampered with is never accepted.
//!
//! Budget, from the environment:
//! - `FUZZ_SECONDS=N`: each target runs for N seconds (the CI step sets it);
//! - otherwise `FUZZ_CASES` cases per target (default 40, so plain `cargo test` stays quick);
//! - `FUZZ_SEED`: the starting seed (fixed by default when counting cases, from the clock when
//!   timed); a failure prints the seed and the case index, and `FUZZ_SEED=s FUZZ_CASE=i`
//!   replays just that case.

mod engine;
mod jwt;
mod mutate;

mod claims;
mod client_assertion;
mod client_cert;
mod dpop;
mod http;
mod jose;
mod registration;
mod regressions;
mod request_object;
