//! Canned answers for `http_get` / `http_post_*` while a script is rehearsed
//! (`consentry plugins test`): matched by method and URL, never the network. A call with no
//! canned answer fails, naming the method and URL.

use std::sync::Mutex;

/// One canned answer, as a case file gives it.
#[derive(Debug, Clone)]
pub struct Canned {
    pub method: String,
    pub url: url::Url,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The canned answers of one rehearsal, and the calls the script made.
#[derive(Debug, Default)]
pub struct HttpStub {
    answers: Vec<Canned>,
    /// How many times each answer was given, by position.
    used: Mutex<Vec<usize>>,
    /// `METHOD url -> status` for each call, until taken.
    calls: Mutex<Vec<String>>,
}

impl HttpStub {
    pub fn new(answers: Vec<Canned>) -> HttpStub {
        let used = Mutex::new(vec![0; answers.len()]);
        HttpStub {
            answers,
            used,
            calls: Mutex::default(),
        }
    }

    /// The answer to a call: the first canned answer for its method and URL not given yet, or
    /// the last one for them again once all were given (so a case can script a retry).
    pub fn answer(&self, method: &str, url: &str) -> Result<Canned, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let matching: Vec<usize> = (0..self.answers.len())
            .filter(|&i| {
                self.answers[i].method.eq_ignore_ascii_case(method) && self.answers[i].url == parsed
            })
            .collect();
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&i) = matching.iter().find(|&&i| used[i] == 0).or(matching.last()) else {
            self.record(format!("{method} {url} -> no canned answer"));
            return Err(format!(
                "no canned answer for {method} {url}: add an [[http]] entry with this method and url to the case"
            ));
        };
        used[i] += 1;
        let a = &self.answers[i];
        self.record(format!("{method} {url} -> {}", a.status));
        Ok(a.clone())
    }

    fn record(&self, line: String) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// The calls made since the last time they were taken.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
