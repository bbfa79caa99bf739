//! Signals: what lifeboat tells the outside world after a run — Prometheus metrics in a
//! textfile ([`metrics`], [`textfile`]) and webhook notifications ([`notify`]).
//!
//! Commands call the [`Signals`] facade with one line when they finish, passing the plain
//! types of [`outcome`]. Signals never change a command's result: a textfile that cannot
//! be written or a webhook that does not answer is logged as a warning, and the command
//! exits as it would have without them.

pub mod metrics;
pub mod notify;
pub mod outcome;
pub mod textfile;

pub use metrics::{Metric, MetricsState, Series};
pub use notify::{Event, Format, Notification, Notifier, NotifySettings, WebhookUrl};
pub use outcome::{
    rds_series, BackedUpDatabase, BackupOutcome, BackupRun, CheckRun, ComplianceRun,
    ComplianceStatus, DatabaseCompliance, PruneRun, VerifiedDatabase, VerifyRun,
};
pub use textfile::Textfile;

use crate::config::Settings;
use crate::error::Result;

/// The configured signals of a command; either part may be off.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    textfile: Option<Textfile>,
    notifier: Option<Notifier>,
}

impl Signals {
    /// From `[metrics]`, `[notify]` and their flags and variables. Errors are configuration
    /// errors (unknown format, unreadable URL file…), reported before the command starts.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let textfile = settings.metrics()?.map(|m| Textfile::new(m.textfile));
        let notifier = settings.notify()?.map(Notifier::new).transpose()?;
        Ok(Signals { textfile, notifier })
    }

    pub fn new(textfile: Option<Textfile>, notifier: Option<Notifier>) -> Self {
        Signals { textfile, notifier }
    }

    /// No textfile, no notifications.
    pub fn disabled() -> Self {
        Self::default()
    }

    pub fn textfile(&self) -> Option<&Textfile> {
        self.textfile.as_ref()
    }

    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    /// After `lifeboat backup`: the backup figures of each database; on failure, the
    /// failure time (the last success's figures stay) and a `backup_failed` notification.
    pub async fn backup_finished(&self, run: &BackupRun) {
        let update = run.clone();
        self.update_metrics(move |m| m.record_backup(&update)).await;
        if let BackupOutcome::Failed { databases, error } = &run.outcome {
            let n = Notification {
                databases: databases.clone(),
                repository: Some(run.repository.clone()),
                timestamp: run.finished_at,
                ..Notification::new(Event::BackupFailed, error.clone())
            };
            self.notify(&n).await;
        }
    }

    /// After `lifeboat verify`: per database, the last success and measured restore time,
    /// or the failure time; a `verify_failed` notification if anything failed.
    pub async fn verify_finished(&self, run: &VerifyRun) {
        let update = run.clone();
        self.update_metrics(move |m| m.record_verify(&update)).await;
        if run.passed() {
            return;
        }
        let failed: Vec<&VerifiedDatabase> = run.databases.iter().filter(|d| !d.passed).collect();
        let (databases, message) = match &run.error {
            Some(error) => (run.requested.clone(), error.clone()),
            None => (
                failed.iter().map(|d| d.name.clone()).collect(),
                failed
                    .iter()
                    .map(|d| match &d.problem {
                        Some(p) => format!("{}: {p}", d.name),
                        None => format!("{}: failed", d.name),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        let n = Notification {
            databases,
            repository: Some(run.repository.clone()),
            backup_id: run.backup_id.clone(),
            timestamp: run.finished_at,
            ..Notification::new(Event::VerifyFailed, message)
        };
        self.notify(&n).await;
    }

    /// After a real `lifeboat prune`: the repository's prune figures; on failure, its time
    /// and a `prune_failed` notification (a repository that stops shrinking fills up).
    pub async fn prune_finished(&self, run: &PruneRun) {
        let update = run.clone();
        self.update_metrics(move |m| m.record_prune(&update)).await;
        if let Some(error) = &run.error {
            let n = Notification {
                repository: Some(run.repository.clone()),
                timestamp: run.finished_at,
                ..Notification::new(Event::PruneFailed, error.clone())
            };
            self.notify(&n).await;
        }
    }

    /// After `lifeboat check`: the repository's check figures; problems found, or a check
    /// that could not run, send `check_failed`.
    pub async fn check_finished(&self, run: &CheckRun) {
        let update = run.clone();
        self.update_metrics(move |m| m.record_check(&update)).await;
        if !run.passed() {
            let n = Notification {
                repository: Some(run.repository.clone()),
                timestamp: run.finished_at,
                ..Notification::new(
                    Event::CheckFailed,
                    run.error
                        .clone()
                        .unwrap_or_else(|| "the check found problems".into()),
                )
            };
            self.notify(&n).await;
        }
    }

    /// After a report (or the daemon's overdue check): status, RPO and its target per
    /// database; per database, one `overdue` notification if its newest backup is older
    /// than the RPO target, else one `breach` notification if its status is BREACH.
    pub async fn report_computed(&self, run: &ComplianceRun) {
        let update = run.clone();
        self.update_metrics(move |m| m.record_compliance(&update))
            .await;
        for db in &run.databases {
            if let Some(n) = compliance_notification(run, db) {
                self.notify(&n).await;
            }
        }
    }

    /// Sends one notification if a webhook is configured; a failure is a warning.
    pub async fn notify(&self, n: &Notification) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        match notifier.send(n).await {
            Ok(()) => tracing::info!(event = n.event.name(), "notification sent"),
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// Applies `change` to the textfile if one is configured; a failure is a warning.
    pub async fn update_metrics<F>(&self, change: F)
    where
        F: FnOnce(&mut MetricsState) + Send + 'static,
    {
        let Some(file) = &self.textfile else {
            return;
        };
        match file.update(change).await {
            Ok(_) => tracing::debug!(file = %file.path().display(), "metrics textfile written"),
            Err(e) => tracing::warn!("{e}; the metrics textfile keeps its previous figures"),
        }
    }
}

/// The notification a database's compliance calls for, if any: `overdue` first (it is
/// the alert that matters when backups stopped), else `breach`; never both, so one cause
/// raises one alert per report.
pub fn compliance_notification(
    run: &ComplianceRun,
    db: &DatabaseCompliance,
) -> Option<Notification> {
    let event = if db.overdue {
        Event::Overdue
    } else if db.status == ComplianceStatus::Breach {
        Event::Breach
    } else {
        return None;
    };
    let mut message = match (event, db.rpo_seconds, db.rpo_target_seconds) {
        (Event::Overdue, None, _) => format!("{}: no restorable backup", db.name),
        (Event::Overdue, Some(age), Some(target)) => format!(
            "{}: newest backup is {} old, RPO target {}",
            db.name,
            human_seconds(age),
            human_seconds(target)
        ),
        (Event::Overdue, Some(age), None) => {
            format!("{}: newest backup is {} old", db.name, human_seconds(age))
        }
        _ => format!("{}: compliance {}", db.name, db.status.label()),
    };
    if !db.reasons.is_empty() {
        message.push_str(&format!(" ({})", db.reasons.join("; ")));
    }
    Some(Notification {
        databases: vec![db.name.clone()],
        repository: Some(run.repository.clone()),
        backup_id: db.newest_backup.clone(),
        timestamp: run.computed_at,
        status: Some(db.status),
        rpo_seconds: db.rpo_seconds,
        rpo_target_seconds: db.rpo_target_seconds,
        ..Notification::new(event, message)
    })
}

/// `27h 46m`, `3m 20s`, `12s`: durations in alerts, to the nearest second.
fn human_seconds(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn db(name: &str, status: ComplianceStatus, overdue: bool) -> DatabaseCompliance {
        DatabaseCompliance {
            name: name.into(),
            status,
            rpo_seconds: Some(100_000.0),
            rpo_target_seconds: Some(93_600.0),
            overdue,
            newest_backup: Some("20261124T000000.000Z".into()),
            reasons: vec!["LAST_RECOVERY_POINT_CREATED: newest backup 27h 46m old".into()],
        }
    }

    fn run() -> ComplianceRun {
        ComplianceRun {
            repository: "s3://acme/pg".into(),
            computed_at: Utc::now(),
            databases: vec![],
        }
    }

    #[test]
    fn one_alert_per_database_and_cause() {
        let r = run();
        let overdue = compliance_notification(&r, &db("app", ComplianceStatus::Breach, true))
            .expect("overdue");
        assert_eq!(overdue.event, Event::Overdue);
        assert_eq!(
            overdue.message,
            "app: newest backup is 27h 46m old, RPO target 26h 0m \
             (LAST_RECOVERY_POINT_CREATED: newest backup 27h 46m old)"
        );
        assert_eq!(overdue.status, Some(ComplianceStatus::Breach));
        let breach = compliance_notification(&r, &db("app", ComplianceStatus::Breach, false))
            .expect("breach");
        assert_eq!(breach.event, Event::Breach);
        assert!(breach.message.starts_with("app: compliance BREACH ("));
        assert!(compliance_notification(&r, &db("app", ComplianceStatus::AtRisk, false)).is_none());
        assert!(compliance_notification(&r, &db("app", ComplianceStatus::Ok, false)).is_none());
        let mut never = db("new", ComplianceStatus::Breach, true);
        never.rpo_seconds = None;
        never.reasons.clear();
        assert_eq!(
            compliance_notification(&r, &never).unwrap().message,
            "new: no restorable backup"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_seconds(12.4), "12s");
        assert_eq!(human_seconds(200.0), "3m 20s");
        assert_eq!(human_seconds(93_600.0), "26h 0m");
    }
}
