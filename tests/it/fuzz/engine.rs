//! The loop every target runs in: the budget, a seeded generator per case, and the reports —
//! the input of a case that panics, and a watchdog that stops a case that hangs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A case still running after this long is a hang.
const HANG_LIMIT: Duration = Duration::from_secs(20);
/// Cases per target when no time budget is given.
const DEFAULT_CASES: u64 = 40;
/// The seed of untimed runs, so plain `cargo test` is deterministic.
const DEFAULT_SEED: u64 = 0x5EED_0FC0_5E27;
/// How much of a failing input is printed.
const SHOWN_INPUT_BYTES: usize = 4096;

/// A small, fast, seedable generator (SplitMix64): plenty for choosing mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True once in `n` draws.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// How long each target runs.
struct Budget {
    seconds: Option<f64>,
    cases: u64,
    seed: u64,
    only_case: Option<u64>,
}

impl Budget {
    fn from_env() -> Budget {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let seconds = var("FUZZ_SECONDS").map(|s| {
            s.trim()
                .parse::<f64>()
                .expect("FUZZ_SECONDS must be a number")
        });
        let cases = var("FUZZ_CASES").map_or(DEFAULT_CASES, |s| {
            s.trim().parse().expect("FUZZ_CASES must be a number")
        });
        let seed = var("FUZZ_SEED").map_or_else(
            || match seconds {
                Some(_) => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(DEFAULT_SEED, |d| d.as_nanos() as u64),
                None => DEFAULT_SEED,
            },
            |s| s.trim().parse().expect("FUZZ_SEED must be a number"),
        );
        let only_case = var("FUZZ_CASE").map(|s| s.trim().parse().expect("FUZZ_CASE"));
        Budget {
            seconds,
            cases,
            seed,
            only_case,
        }
    }
}

/// One case: its generator, and the inputs it tried, for the failure report.
pub struct Case {
    pub rng: Rng,
    pub inputs: Inputs,
}

/// The inputs of the running case.
pub struct Inputs(Arc<Mutex<String>>);

impl Inputs {
    /// Records the input about to be parsed, so a panic or a hang can show it.
    pub fn note(&self, what: &str, input: impl AsRef<[u8]>) {
        let input = input.as_ref();
        let shown = String::from_utf8_lossy(&input[..input.len().min(SHOWN_INPUT_BYTES)]);
        let mut note = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if note.len() > 4 * SHOWN_INPUT_BYTES {
            note.clear();
        }
        note.push_str(&format!("{what} ({} bytes): {shown:?}\n", input.len()));
    }
}

/// What a failing case prints: where to replay it from and what it was given.
struct Report {
    target: &'static str,
    seed: u64,
    index: Arc<Mutex<u64>>,
    note: Arc<Mutex<String>>,
}

impl Report {
    fn describe(&self) -> String {
        let index = *self.index.lock().unwrap_or_else(|e| e.into_inner());
        let note = self.note.lock().unwrap_or_else(|e| e.into_inner()).clone();
        format!(
            "fuzz target {} failed; replay with FUZZ_SEED={} FUZZ_CASE={index}\n{note}",
            self.target, self.seed
        )
    }
}

/// Lives for the run: stops the watchdog, and on a panic prints the failing case.
struct Guard {
    report: Arc<Report>,
    done: Arc<AtomicBool>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if std::thread::panicking() {
            eprintln!("{}", self.report.describe());
        }
    }
}

fn case_seed(seed: u64, index: u64) -> u64 {
    Rng::new(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64()
}

/// Runs `case` over the budget and prints how many cases ran.
pub async fn run(target: &'static str, mut case: impl AsyncFnMut(&mut Case)) {
    let budget = Budget::from_env();
    let report = Arc::new(Report {
        target,
        seed: budget.seed,
        index: Arc::new(Mutex::new(0)),
        note: Arc::new(Mutex::new(String::new())),
    });
    let started_case = Arc::new(Mutex::new(Instant::now()));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (report, started_case, done) = (report.clone(), started_case.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let since = started_case
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .elapsed();
                if since > HANG_LIMIT && !done.load(Ordering::Relaxed) {
                    eprintln!(
                        "HANG: a case ran over {HANG_LIMIT:?}\n{}",
                        report.describe()
                    );
                    std::process::exit(101);
                }
            }
        })
    };
    let guard = Guard {
        report: report.clone(),
        done,
    };
    let start = Instant::now();
    let (mut ran, mut slowest) = (0u64, Duration::ZERO);
    let indexes: Box<dyn Iterator<Item = u64>> = match budget.only_case {
        Some(i) => Box::new(std::iter::once(i)),
        None => Box::new(0..),
    };
    for index in indexes {
        let out_of_budget = match budget.seconds {
            Some(s) => start.elapsed().as_secs_f64() >= s,
            None => index >= budget.cases,
        };
        if out_of_budget && budget.only_case.is_none() {
            break;
        }
        *report.index.lock().unwrap() = index;
        report.note.lock().unwrap().clear();
        let case_start = Instant::now();
        *started_case.lock().unwrap() = case_start;
        let mut c = Case {
            rng: Rng::new(case_seed(budget.seed, index)),
            inputs: Inputs(report.note.clone()),
        };
        case(&mut c).await;
        slowest = slowest.max(case_start.elapsed());
        ran += 1;
    }
    drop(guard);
    let _ = watchdog.join();
    println!(
        "fuzz {target}: {ran} cases in {:.1} s (seed {}, slowest case {} ms), no panic",
        start.elapsed().as_secs_f64(),
        budget.seed,
        slowest.as_millis()
    );
}
