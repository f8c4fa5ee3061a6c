//! What a module run produced: its steps (one per condition the suite names) and its verdict,
//! and the JSON / Markdown pages written per plan.

use serde::Serialize;
use std::fmt::Write as _;

/// The result of one condition, as the suite logs it.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Success,
    Failure,
    Warning,
    Info,
    /// The suite asks a human to look (a screenshot); see the README for how it is counted.
    Review,
}

#[derive(Serialize, Clone, Debug)]
pub struct Step {
    pub block: String,
    pub condition: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<String>,
    pub message: String,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Passed,
    Failed,
    Warning,
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Warning => "WARNING",
            Verdict::Skipped => "SKIPPED",
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct ModuleReport {
    pub name: String,
    pub variant: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// The conditions that raised a WARNING.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the suite leaves to a human (REVIEW), with what was checked by machine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<String>,
    /// The conditions that FAILED.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    pub duration_ms: u128,
    pub steps: Vec<Step>,
}

impl ModuleReport {
    /// The suite's rule: any FAILURE fails the module; otherwise any WARNING makes it a warning.
    pub fn from_steps(
        name: &str,
        variant: &str,
        steps: Vec<Step>,
        skip_reason: Option<String>,
        duration_ms: u128,
    ) -> ModuleReport {
        let named = |o: Outcome| -> Vec<String> {
            steps
                .iter()
                .filter(|s| s.outcome == o)
                .map(|s| format!("{}: {}", s.condition, s.message))
                .collect()
        };
        let failures = named(Outcome::Failure);
        let warnings = named(Outcome::Warning);
        let reviews = named(Outcome::Review);
        let verdict = if !failures.is_empty() {
            Verdict::Failed
        } else if skip_reason.is_some() {
            Verdict::Skipped
        } else if steps.iter().any(|s| s.outcome == Outcome::Warning) {
            Verdict::Warning
        } else {
            Verdict::Passed
        };
        ModuleReport {
            name: name.to_string(),
            variant: variant.to_string(),
            verdict,
            skip_reason,
            warnings,
            reviews,
            failures,
            duration_ms,
            steps,
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct PlanReport {
    pub plan: String,
    pub modules: Vec<ModuleReport>,
}

#[derive(Default, Debug, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub warnings: usize,
}

pub fn totals<'a>(modules: impl IntoIterator<Item = &'a ModuleReport>) -> Totals {
    let mut t = Totals::default();
    for m in modules {
        match m.verdict {
            Verdict::Passed => t.passed += 1,
            Verdict::Warning => {
                t.passed += 1;
                t.warnings += 1
            }
            Verdict::Failed => t.failed += 1,
            Verdict::Skipped => t.skipped += 1,
        }
    }
    t
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One readable page per plan: the module table, then each module's steps.
pub fn markdown(plan: &PlanReport) -> String {
    let mut out = String::new();
    let t = totals(&plan.modules);
    let _ = writeln!(out, "# {}\n", plan.plan);
    let _ = writeln!(
        out,
        "{} passed ({} with warnings), {} failed, {} skipped\n",
        t.passed, t.warnings, t.failed, t.skipped
    );
    let _ = writeln!(
        out,
        "| module | variant | verdict | note |\n| --- | --- | --- | --- |"
    );
    for m in &plan.modules {
        let note = m
            .skip_reason
            .clone()
            .or_else(|| m.failures.first().cloned())
            .or_else(|| m.warnings.first().cloned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            m.name,
            m.variant,
            m.verdict.as_str(),
            md_cell(&note)
        );
    }
    for m in &plan.modules {
        let _ = writeln!(
            out,
            "\n## {} — {} ({} ms)\n\nvariant: {}\n",
            m.name,
            m.verdict.as_str(),
            m.duration_ms,
            m.variant
        );
        if let Some(r) = &m.skip_reason {
            let _ = writeln!(out, "Skipped: {r}\n");
        }
        let _ = writeln!(
            out,
            "| block | condition | result | requirements | message |\n| --- | --- | --- | --- | --- |"
        );
        for s in &m.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {:?} | {} | {} |",
                md_cell(&s.block),
                s.condition,
                s.outcome,
                s.requirements.join(" "),
                md_cell(&s.message)
            );
        }
    }
    out
}
