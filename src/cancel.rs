//! Cancellation: one process-wide token, cancelled by the first SIGINT or SIGTERM.
//!
//! The engine checks the token at safe points between its steps (never in the middle of one),
//! releases its lease and fails with [`Interrupted`]; `main` turns that into exit code 130
//! (SIGINT) or 143 (SIGTERM). A second signal exits at once. Every [`crate::engine::Engine`]
//! holds the process token, so the CLI and `eden action` behave the same.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

static TOKEN: OnceLock<CancellationToken> = OnceLock::new();
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The token cancelled by the first signal (never cancelled when no handler is installed).
pub fn process_token() -> CancellationToken {
    TOKEN.get_or_init(CancellationToken::new).clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// 128 + the signal number, as shells report it.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// The first signal received, if any.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        2 => Some(Signal::Interrupt),
        15 => Some(Signal::Terminate),
        _ => None,
    }
}

async fn next(
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> Signal {
    tokio::select! {
        _ = int.recv() => Signal::Interrupt,
        _ = term.recv() => Signal::Terminate,
    }
}

/// Listen for SIGINT and SIGTERM (once, from `main`, inside the runtime). The first cancels the
/// process token; the second exits at once.
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let first = next(&mut int, &mut term).await;
        RECEIVED.store(
            match first {
                Signal::Interrupt => 2,
                Signal::Terminate => 15,
            },
            Ordering::SeqCst,
        );
        eprintln!(
            "eden: {} received: stopping at the next safe point and releasing the lease (a second signal exits at once)",
            first.name()
        );
        process_token().cancel();
        let second = next(&mut int, &mut term).await;
        eprintln!(
            "eden: {} received again: exiting now; a lease still held lapses within 30 s",
            second.name()
        );
        std::process::exit(second.exit_code());
    });
    Ok(())
}

/// A run stopped at a safe point because the process was asked to stop.
#[derive(Debug, thiserror::Error)]
#[error("{operation} of {target} stopped {}; the lease was released. Run the same command again to finish", self.progress())]
pub struct Interrupted {
    /// `create` or `delete`.
    pub operation: &'static str,
    /// `profile/environment`.
    pub target: String,
    /// What was done before stopping (one entry per finished step).
    pub done: Vec<String>,
}

impl Interrupted {
    fn progress(&self) -> String {
        if self.done.is_empty() {
            "before changing anything".into()
        } else {
            format!("after: {}", self.done.join("; "))
        }
    }
}
