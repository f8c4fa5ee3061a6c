//! Values kept one per serving thread. Each serving thread runs its own single-threaded
//! runtime (`tls::cores`), and an HTTP client's pooled connections live as tasks on the runtime
//! that opened them: shared across threads, a request made on one thread is carried by a
//! connection task on another, and every request and answer crosses threads twice. One client
//! per serving thread keeps a request, its connection and its answer on one thread.

use std::cell::Cell;

thread_local! {
    static SERVING_CORE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the calling thread as serving thread `i`; called once as each one starts.
pub fn enter_serving_core(i: usize) {
    SERVING_CORE.with(|c| c.set(Some(i)));
}

/// One `T` per serving thread; any other thread (start-up, tests, blocking pools) gets the
/// first.
pub struct PerCore<T> {
    each: Vec<T>,
}

impl<T> PerCore<T> {
    /// One value for each of the `n` serving threads (`tls::cores`).
    pub fn new(n: usize, mut make: impl FnMut() -> T) -> PerCore<T> {
        PerCore {
            each: (0..n).map(|_| make()).collect(),
        }
    }

    /// The calling thread's value.
    pub fn get(&self) -> &T {
        let i = SERVING_CORE.with(Cell::get).unwrap_or(0);
        &self.each[i % self.each.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_serving_thread_gets_its_own_value_and_others_the_first() {
        let mut next = 0;
        let n = 3;
        let per = PerCore::new(n, || {
            next += 1;
            next
        });
        assert_eq!(*per.get(), 1, "not a serving thread");
        std::thread::scope(|s| {
            for i in 0..n {
                let per = &per;
                s.spawn(move || {
                    enter_serving_core(i);
                    assert_eq!(*per.get(), i + 1);
                });
            }
        });
    }
}
