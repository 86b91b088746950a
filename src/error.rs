//! Failures told apart by type wherever they arise (the profile, the names, the AWS layer, the
//! engine's checks). The engine's public [`crate::engine::Error`] is built from them; they live
//! here so that `src/aws/` and `src/profile.rs` can raise them without knowing the engine.

/// The request itself is wrong (an illegal environment name, an unparsable image URI, a
/// malformed profile): fix the input and run again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// What the request names does not exist (a profile, an environment).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// A check refused the request before anything was written: why, and what to fix. `eden
/// doctor` shows the same problems as its checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}; {fix}")]
pub struct Refusal {
    pub why: String,
    pub fix: String,
}

impl Refusal {
    pub fn new(why: impl Into<String>, fix: impl Into<String>) -> Refusal {
        Refusal {
            why: why.into(),
            fix: fix.into(),
        }
    }
}
