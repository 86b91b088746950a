//! Waiting until an environment serves its new revision, or saying exactly why it does not.
//!
//! - [`assess`]: pure — ready, pending (for what), or failed (why) from what ECS and ELB said;
//! - [`poll`]: the loop (≤ 3 requests a poll) and the reads on failure (log tail, health check);
//! - [`failure`]: [`WaitFailure`], the typed reason;
//! - `read`: SDK answers → the assessment's views.

pub mod assess;
pub mod failure;
pub mod poll;
mod read;

pub use assess::{assess, Seen, Verdict, Waiting};
pub use failure::{ContainerExit, LogTail, StoppedTask, TargetState, Unhealthy, WaitFailure};
pub use poll::{until_ready, until_ready_reporting, Settings, Subject};
pub use read::LOG_LINES;
