//! Password verification on threads of its own, one per core. argon2id is memory-hard by
//! design (19 MiB per hash with the default parameters): each thread keeps its block of
//! memory between logins instead of asking the allocator for a fresh one (and faulting every
//! page of it in) each time, and gives it back after a quiet spell. Logins beyond the threads
//! wait their turn, so a burst of them never holds more than one block per core.

use super::login;
use argon2::Block;
use parking_lot::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// After this long without a login, a thread frees its block.
const IDLE: Duration = Duration::from_secs(30);

struct Job {
    password: String,
    stored: Option<String>,
    answer: oneshot::Sender<bool>,
}

pub struct PasswordPool {
    jobs: mpsc::Sender<Job>,
}

impl PasswordPool {
    pub fn new(threads: usize) -> std::io::Result<PasswordPool> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || work(&rx))?;
        }
        Ok(PasswordPool { jobs })
    }

    /// Whether `password` matches the stored PHC hash. With no stored hash a fixed dummy is
    /// verified, so unknown accounts take as long as known ones.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (answer, result) = oneshot::channel();
        let job = Job {
            password: password.to_string(),
            stored: stored.map(String::from),
            answer,
        };
        self.jobs.send(job).is_ok() && result.await.unwrap_or(false)
    }
}

fn work(rx: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let next = rx.lock().recv_timeout(IDLE);
        match next {
            Ok(job) => {
                let ok =
                    login::verify_password_in(&mut memory, &job.password, job.stored.as_deref());
                let _ = job.answer.send(ok);
            }
            Err(RecvTimeoutError::Timeout) => memory = Vec::new(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
