//! The step log a module writes as it runs, in the suite's terms: each condition is called
//! "and continue on failure" (its failure is recorded with a severity) or "and stop on
//! failure" (a failure ends the module).

use crate::report::{Outcome, Step};

/// The module stopped: a condition called "and stop on failure" failed, or the module was
/// skipped. What happened is already in the log.
#[derive(Debug)]
pub struct Stop;

pub type Flow<T = ()> = Result<T, Stop>;

/// What a condition returns: a success message, or the error it raises.
pub type Check<T = String> = Result<T, String>;

#[derive(Default)]
pub struct Log {
    pub steps: Vec<Step>,
    pub skipped: Option<String>,
    block: String,
}

impl Log {
    pub fn block(&mut self, name: &str) {
        self.block = name.to_string();
    }

    fn push(&mut self, condition: &str, outcome: Outcome, reqs: &[&str], message: String) {
        self.steps.push(Step {
            block: self.block.clone(),
            condition: condition.to_string(),
            outcome,
            requirements: reqs.iter().map(|r| r.to_string()).collect(),
            message,
        });
    }

    /// callAndContinueOnFailure: a failed condition is logged with `on_fail`; returns whether it
    /// succeeded.
    pub fn check(&mut self, condition: &str, on_fail: Outcome, reqs: &[&str], r: Check) -> bool {
        match r {
            Ok(msg) => {
                self.push(condition, Outcome::Success, reqs, msg);
                true
            }
            Err(msg) => {
                self.push(condition, on_fail, reqs, msg);
                false
            }
        }
    }

    /// callAndStopOnFailure: a failed condition is a FAILURE and ends the module; a value the
    /// condition extracts is handed back.
    pub fn must<T>(&mut self, condition: &str, reqs: &[&str], r: Check<(T, String)>) -> Flow<T> {
        match r {
            Ok((v, msg)) => {
                self.push(condition, Outcome::Success, reqs, msg);
                Ok(v)
            }
            Err(msg) => {
                self.push(condition, Outcome::Failure, reqs, msg);
                Err(Stop)
            }
        }
    }

    /// callAndStopOnFailure for a condition that extracts nothing.
    pub fn must_ok(&mut self, condition: &str, reqs: &[&str], r: Check) -> Flow {
        self.must(condition, reqs, r.map(|m| ((), m)))
    }

    /// A condition that only records information (the suite's INFO results and plain logs).
    pub fn info(&mut self, condition: &str, message: impl Into<String>) {
        self.push(condition, Outcome::Info, &[], message.into());
    }

    /// What the suite leaves to a human (a screenshot to upload): what we could check by
    /// machine is in the message.
    pub fn review(&mut self, condition: &str, reqs: &[&str], message: impl Into<String>) {
        self.push(condition, Outcome::Review, reqs, message.into());
    }

    /// fireTestSkipped.
    pub fn skip(&mut self, reason: &str) -> Stop {
        self.push("fireTestSkipped", Outcome::Info, &[], reason.to_string());
        self.skipped = Some(reason.to_string());
        Stop
    }
}
