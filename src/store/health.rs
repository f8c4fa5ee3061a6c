//! Readiness: one row rewritten on every `/readyz`, so the probe fails when writes do, the
//! free space where the database lives, and the supervised background tasks.

use super::sql::args;
use super::{exec, StoreError, StoreResult, Tx};

/// Whether the store can serve: why not (empty when ready), and each supervised task's state.
pub struct Readiness {
    pub reasons: Vec<String>,
    /// Task name -> running.
    pub tasks: Vec<(&'static str, bool)>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The tasks that are down.
    pub fn down(&self) -> Vec<&'static str> {
        self.tasks
            .iter()
            .filter(|(_, up)| !up)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// Records that a write succeeded at `now`.
fn touch(tx: &Tx, now: i64) -> StoreResult<()> {
    exec(
        tx.conn,
        "INSERT INTO health (id, checked_at) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        args![now],
    )?;
    Ok(())
}

/// Below this much free space where the database lives, readiness reports the disk as full:
/// SQLite still rewrites pages it already has (the WAL is reused), so a probe write alone
/// succeeds on a full disk until the first write that needs a new page fails.
pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

impl super::Store {
    /// Ready when a real write commits at `now`, the disk has at least [`MIN_FREE_BYTES`] left,
    /// and every supervised task is running; logs each reason it is not.
    pub async fn readiness(&self, now: i64) -> Readiness {
        let mut reasons = Vec::new();
        match self.write(move |tx| touch(tx, now)).await {
            Ok(()) => {}
            Err(StoreError::DiskFull) => {
                tracing::error!("not ready: disk full, the database cannot be written");
                reasons.push("disk full".to_string());
            }
            Err(e) => {
                tracing::error!(error = %e, "not ready: the database refused a write");
                reasons.push("database write failed".to_string());
            }
        }
        let free = self.free_bytes();
        if reasons.is_empty() && free.is_some_and(|b| b < MIN_FREE_BYTES) {
            tracing::error!(
                free_bytes = free,
                "not ready: disk full where the database lives"
            );
            reasons.push("disk full".to_string());
        }
        let mut ready = Readiness {
            reasons,
            tasks: self.tasks().states(),
        };
        let down = ready.down();
        if !down.is_empty() {
            ready
                .reasons
                .push(format!("background task down: {}", down.join(", ")));
        }
        ready
    }

    /// Bytes an unprivileged writer may still use on the database's filesystem, if known.
    pub fn free_bytes(&self) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        let dir = self.sqlite_path()?.parent()?;
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is a NUL-terminated string and `stat` a buffer statvfs fills.
        let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: statvfs returned 0, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        // The fields' widths differ between platforms.
        #[allow(clippy::unnecessary_cast)]
        Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreError};

    /// A write that SQLite refuses for want of space (SQLITE_FULL; here a page-count cap, the
    /// same error ENOSPC gives) is "disk full", not "stored data is corrupt" (issue 18, item 3).
    #[tokio::test]
    async fn a_write_refused_for_space_is_disk_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        store.write(|tx| touch(tx, 1)).await.unwrap();
        let err = store.write(write_past_a_page_cap).await.unwrap_err();
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(store.free_bytes().is_some_and(|b| b > 0));
    }

    /// Fills the database up to its current size and writes past it: SQLITE_FULL, after which
    /// SQLite rolls the whole transaction back, not just this statement.
    fn write_past_a_page_cap(tx: &Tx) -> StoreResult<()> {
        let c = tx.conn;
        let raw = c.sqlite();
        let pages: i64 = raw.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        raw.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        exec(c, "CREATE TABLE filler (b BLOB)", args![])?;
        exec(c, "INSERT INTO filler VALUES (zeroblob(1000000))", args![])?;
        Ok(())
    }

    /// Writes queued together commit in one transaction. When one of them runs out of space
    /// and SQLite rolls that whole transaction back, the writes of the jobs before it in the
    /// batch are gone too: each hears "disk full", none that it committed; the job after it
    /// commits in a transaction of its own.
    #[tokio::test]
    async fn a_batch_cut_short_by_a_full_disk_reports_no_lost_write_as_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        store.write(|tx| touch(tx, 1)).await.unwrap();
        // All three are queued before any commits (each yields once first): one batch.
        let (before, full, after) = tokio::join!(
            store.write(|tx| touch(tx, 2)),
            store.write(write_past_a_page_cap),
            store.write(|tx| touch(tx, 3)),
        );
        assert!(matches!(full, Err(StoreError::DiskFull)), "{full:?}");
        assert!(matches!(before, Err(StoreError::DiskFull)), "{before:?}");
        assert!(after.is_ok(), "{after:?}");
        let checked: i64 = store
            .read(|tx| {
                tx.conn
                    .query_one("SELECT checked_at FROM health WHERE id = 1", args![], |r| {
                        r.get(0)
                    })
            })
            .await
            .unwrap();
        assert_eq!(checked, 3, "the later job's write, not the lost one's");
    }
}
