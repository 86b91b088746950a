//! Step timings for people (`-v`) and for the job summary.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    pub step: String,
    pub detail: String,
    /// Milliseconds since the operation started when this step finished.
    pub at_ms: u64,
    pub took_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Steps {
    start: Instant,
    list: Arc<Mutex<Vec<Step>>>,
}

impl Default for Steps {
    fn default() -> Self {
        Steps {
            start: Instant::now(),
            list: Arc::default(),
        }
    }
}

impl Steps {
    /// Record a step that began at `began`.
    pub fn done(&self, began: Instant, step: &str, detail: impl Into<String>) {
        let now = Instant::now();
        let s = Step {
            step: step.to_string(),
            detail: detail.into(),
            at_ms: now.duration_since(self.start).as_millis() as u64,
            took_ms: now.duration_since(began).as_millis() as u64,
        };
        tracing::debug!(step = %s.step, took_ms = s.took_ms, "{}", s.detail);
        self.list.lock().unwrap().push(s);
    }

    /// What the finished steps changed, for a person ("target-group: created …"); the
    /// read-only steps (validation, the lease) are left out.
    pub fn changes(&self) -> Vec<String> {
        let mut v = self.list.lock().unwrap().clone();
        v.sort_by_key(|s| s.at_ms);
        v.into_iter()
            .filter(|s| !matches!(s.step.as_str(), "validate" | "lease" | "lease-wait"))
            .map(|s| format!("{}: {}", s.step, s.detail))
            .collect()
    }

    pub fn take(&self) -> Vec<Step> {
        let mut v = self.list.lock().unwrap().clone();
        v.sort_by_key(|s| s.at_ms);
        v
    }
}
