//! Cancellation of a running command by SIGTERM or SIGINT.
//!
//! The binary turns the first signal into [`Cancel::request`]; long-running work (a backup's
//! object writers, the daemon) watches the token and fails with [`Error::Cancelled`], so the
//! ordinary error paths clean up: a backup's transaction is aborted (its objects deleted,
//! multipart uploads aborted, no manifest) and the repository lock released. The exit code
//! is the shell's convention for death by that signal: 130 for SIGINT, 143 for SIGTERM.

use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::error::Error;

/// The signal that asked for cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as shells report a process killed by it.
    pub fn exit_code(self) -> i32 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }
}

/// A cloneable cancellation token that remembers why it was cancelled.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
    signal: Arc<OnceLock<StopSignal>>,
}

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self, signal: StopSignal) {
        let _ = self.signal.set(signal);
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn signal(&self) -> Option<StopSignal> {
        self.signal.get().copied()
    }

    /// Resolves once cancellation was requested.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Resolves `backstop` after cancellation was requested: for work that is given that
    /// long to notice cancellation itself before it is dropped.
    pub async fn cancelled_for(&self, backstop: Duration) {
        self.token.cancelled().await;
        tokio::time::sleep(backstop).await;
    }

    /// The error a cancelled command returns.
    pub fn error(&self) -> Error {
        Error::Cancelled {
            signal: self.signal().unwrap_or(StopSignal::Terminate),
        }
    }

    /// `Err(Cancelled)` once cancellation was requested.
    pub fn check(&self) -> Result<(), Error> {
        if self.is_cancelled() {
            Err(self.error())
        } else {
            Ok(())
        }
    }

    /// Cancels this token on the first SIGTERM or SIGINT the process receives (a second one
    /// is left to the default handler only after the process exits; until then it is
    /// ignored, so cleanup is not interrupted). Needs a running tokio runtime.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let cancel = self.clone();
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = term.recv() => StopSignal::Terminate,
                _ = int.recv() => StopSignal::Interrupt,
            };
            tracing::warn!(
                signal = which.name(),
                "stop requested: cancelling cleanly (nothing half-written is kept)"
            );
            cancel.request(which);
            // Keep the handlers installed: a second signal must not kill the cleanup.
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::warn!("already stopping; waiting for the cleanup to finish");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_cancels_every_clone_and_names_the_signal() {
        let cancel = Cancel::new();
        let clone = cancel.clone();
        assert!(clone.check().is_ok());
        cancel.request(StopSignal::Interrupt);
        clone.cancelled().await;
        let err = clone.check().unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert!(err.to_string().contains("SIGINT"), "{err}");
        // The first signal is the one reported.
        cancel.request(StopSignal::Terminate);
        assert_eq!(clone.signal(), Some(StopSignal::Interrupt));
    }
}
