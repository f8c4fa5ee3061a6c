//! The log writer: a log line that cannot be written (full disk, `2>/dev/full`) is dropped and
//! counted, never an error, because the logger reports write errors with `eprintln!`, which
//! panics on the same broken stderr and took the server down with it.

use crate::metrics::LOG_WRITE_FAILURES;
use std::io::{self, Write};

/// Writes to `W`; a failed write counts in `consentry_log_write_failures_total` and is
/// reported to the logger as written.
pub struct Dropping<W>(pub W);

impl<W: Write> Write for Dropping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.write_all(buf).is_err() {
            LOG_WRITE_FAILURES.inc();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// The writer the server logs with: standard error, dropping what cannot be written.
pub fn stderr() -> Dropping<io::Stderr> {
    Dropping(io::stderr())
}

/// Writes `text` to standard output, ignoring failure: for what the server prints when it
/// starts, where `println!` would panic on a closed or full stdout.
pub fn print(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(28))
        }
    }

    /// Logging never fails (issue 18, item 2): a write to a full device is dropped and counted.
    #[test]
    fn a_failed_log_write_is_dropped_and_counted() {
        let before = LOG_WRITE_FAILURES.get();
        let mut w = Dropping(Full);
        assert_eq!(w.write(b"a line\n").unwrap(), 7);
        assert!(w.flush().is_ok());
        assert!(LOG_WRITE_FAILURES.get() > before);
    }
}
