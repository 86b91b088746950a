//! The engine's errors at its public boundary: what went wrong, as a type the faces map to an
//! HTTP status (`server/api.rs`), an exit code (`main.rs`, `action/`) and a message.
//!
//! Inside, the engine works with `anyhow` and context; the failures that matter to a caller are
//! typed where they arise ([`BadInput`], [`Refusal`], [`NotFound`], [`AwsError`], the lease's
//! [`LeaseError::Busy`], [`Interrupted`]) and [`Error::from`] finds the first of them in the
//! chain, by type. Nothing here reads message text.

use std::time::Duration;

use crate::aws::error::{AwsError, AwsErrorKind};
use crate::cancel::Interrupted;
use crate::engine::lease::LeaseError;
pub use crate::error::{BadInput, NotFound, Refusal};

/// The kind of an [`Error`], for statuses, exit codes, metrics and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadInput,
    Refused,
    NotFound,
    Busy,
    Aws,
    Interrupted,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "bad_input",
            ErrorKind::Refused => "refused",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Busy => "busy",
            ErrorKind::Aws => "aws",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Why a create, delete or list failed. Every variant's message is the whole story (the
/// engine's context included), on one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadInput(String),
    #[error("{message}")]
    Refused {
        why: String,
        fix: String,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// Another live run holds the environment's lease.
    #[error("{message}")]
    Busy {
        holder: String,
        retry_after: Duration,
        message: String,
    },
    /// An AWS call failed (after the SDK's own retries).
    #[error("{message}")]
    Aws {
        kind: AwsErrorKind,
        /// `service:Operation`, as IAM names it.
        operation: String,
        /// Worth another attempt later (throttled, 5xx, no answer).
        transient: bool,
        message: String,
    },
    /// The process was asked to stop; the run stopped at a safe point and released its lease.
    #[error("{0}")]
    Interrupted(String),
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadInput(_) => ErrorKind::BadInput,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Aws { .. } => ErrorKind::Aws,
            Error::Interrupted(_) => ErrorKind::Interrupted,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether the same request may succeed later without a change: a busy lease, or an AWS
    /// failure that is throttling, a 5xx or no answer.
    pub fn transient(&self) -> bool {
        match self {
            Error::Busy { .. } => true,
            Error::Aws { transient, .. } => *transient,
            _ => false,
        }
    }

    /// The typed error in an `anyhow` chain (an [`Error`] that was passed through `?`), if any.
    pub fn find(e: &anyhow::Error) -> Option<&Error> {
        e.chain().find_map(|c| c.downcast_ref::<Error>())
    }

    /// The kind of any error: the typed one in its chain, else classified as the engine does.
    pub fn kind_of(e: &anyhow::Error) -> ErrorKind {
        first_typed(e, "").map_or(ErrorKind::Internal, |t| t.kind())
    }
}

impl Error {
    /// The same failure told with a longer message (the context around it); `None` for
    /// `Internal`, which has nothing to keep.
    fn retold(&self, message: String) -> Option<Error> {
        Some(match self {
            Error::BadInput(_) => Error::BadInput(message),
            Error::Refused { why, fix, .. } => Error::Refused {
                why: why.clone(),
                fix: fix.clone(),
                message,
            },
            Error::NotFound(_) => Error::NotFound(message),
            Error::Busy {
                holder,
                retry_after,
                ..
            } => Error::Busy {
                holder: holder.clone(),
                retry_after: *retry_after,
                message,
            },
            Error::Aws {
                kind,
                operation,
                transient,
                ..
            } => Error::Aws {
                kind: *kind,
                operation: operation.clone(),
                transient: *transient,
                message,
            },
            Error::Interrupted(_) => Error::Interrupted(message),
            Error::Internal(_) => return None,
        })
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        let e = match e.downcast::<Error>() {
            Ok(typed) => return typed,
            Err(e) => e,
        };
        first_typed(&e, &format!("{e:#}")).unwrap_or(Error::Internal(e))
    }
}

/// The first typed failure in the chain, outermost first, told with `message`.
fn first_typed(e: &anyhow::Error, message: &str) -> Option<Error> {
    e.chain().find_map(|c| typed(c, message))
}

fn typed(c: &(dyn std::error::Error + 'static), message: &str) -> Option<Error> {
    let message = message.to_string();
    if let Some(t) = c.downcast_ref::<Error>() {
        return t.retold(message);
    }
    if c.downcast_ref::<Interrupted>().is_some() {
        return Some(Error::Interrupted(message));
    }
    if let Some(l) = c.downcast_ref::<LeaseError>() {
        return match l {
            LeaseError::Busy {
                owner, retry_after, ..
            } => Some(Error::Busy {
                holder: owner.clone(),
                retry_after: *retry_after,
                message,
            }),
            LeaseError::Interrupted(_) => Some(Error::Interrupted(message)),
            // Transparent: the typed failure is inside.
            LeaseError::Aws(inner) => inner.chain().find_map(|c| typed(c, &message)),
            LeaseError::TableMissing(_) => None,
        };
    }
    if let Some(r) = c.downcast_ref::<Refusal>() {
        return Some(Error::Refused {
            why: r.why.clone(),
            fix: r.fix.clone(),
            message,
        });
    }
    if let Some(full) = c.downcast_ref::<crate::aws::elb::AlbFull>() {
        // a full ALB that no other ALB of the pool could stand in for (placement handles the rest)
        return Some(Error::Refused {
            why: full.to_string(),
            fix: format!("{}; or {}", super::pool::ADD_AN_ALB, super::pool::WAY_OUT),
            message,
        });
    }
    if c.downcast_ref::<BadInput>().is_some() {
        return Some(Error::BadInput(message));
    }
    if c.downcast_ref::<NotFound>().is_some() {
        return Some(Error::NotFound(message));
    }
    c.downcast_ref::<AwsError>().map(|a| Error::Aws {
        kind: a.kind,
        operation: a.operation.to_string(),
        transient: a.transient,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn the_first_typed_failure_in_the_chain_decides() {
        let e = anyhow::Error::new(Refusal::new("the ALB is full", "add an ALB"))
            .context("creating pr-1");
        let t = Error::from(e);
        assert_eq!(t.kind(), ErrorKind::Refused);
        assert_eq!(t.to_string(), "creating pr-1: the ALB is full; add an ALB");
        assert!(matches!(t, Error::Refused { ref fix, .. } if fix == "add an ALB"));

        let e: anyhow::Error = Err::<(), _>(BadInput("bad name".into()))
            .context("checking")
            .unwrap_err();
        assert_eq!(Error::from(e).kind(), ErrorKind::BadInput);

        // a full ALB (TooManyRules) is a refusal saying how to grow the pool
        let full = anyhow::Error::new(crate::aws::elb::AlbFull {
            listener: "l".into(),
            full_of: crate::aws::elb::FullOf::Rules,
        });
        let t = Error::from(full);
        assert_eq!(t.kind(), ErrorKind::Refused);
        assert!(matches!(t, Error::Refused { ref fix, .. } if fix.contains("master_alb_arn")));

        let plain = anyhow::anyhow!("something else");
        let t = Error::from(plain);
        assert_eq!(t.kind(), ErrorKind::Internal);
        assert_eq!(t.to_string(), "something else");
    }

    #[test]
    fn a_typed_error_survives_anyhow_and_back() {
        let t = Error::NotFound("profile x".into());
        let e = anyhow::Error::new(t).context("loading");
        assert_eq!(Error::kind_of(&e), ErrorKind::NotFound);
        assert!(Error::find(&e).is_some());
        let back = Error::from(anyhow::Error::new(Error::Busy {
            holder: "h".into(),
            retry_after: Duration::from_secs(20),
            message: "busy".into(),
        }));
        assert!(back.transient());
        assert_eq!(back.kind(), ErrorKind::Busy);
    }
}
