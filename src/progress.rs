//! Progress on a terminal: bytes moved and throughput. Hidden when stderr is not a terminal
//! (cron, Kubernetes, CI) or logs are JSON, so log files stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Progress {
    bar: Option<Arc<ProgressBar>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Progress(visible: {})", self.bar.is_some())
    }
}

impl Progress {
    pub fn hidden() -> Self {
        Progress { bar: None }
    }

    /// A byte counter labelled `label`, shown only if `visible`.
    pub fn bytes(label: &str, visible: bool) -> Self {
        if !visible {
            return Self::hidden();
        }
        Self::ticking(
            label,
            "{spinner} {msg} {bytes} ({binary_bytes_per_sec}, {elapsed})",
        )
    }

    /// A spinner with a message and the time elapsed (waits on a remote service), shown
    /// only if `visible`.
    pub fn spinner(label: &str, visible: bool) -> Self {
        if !visible {
            return Self::hidden();
        }
        Self::ticking(label, "{spinner} {msg} ({elapsed})")
    }

    /// A bar on stderr drawn with `template`, ticking by itself.
    fn ticking(label: &str, template: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress {
            bar: Some(Arc::new(bar)),
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn set_message(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
