//! `lifeboat report`: RPO/RTO compliance per source database, from the repository's signed
//! backups and verification records.
//!
//! Three steps, kept apart so `drill`, metrics and notifications reuse the middle one:
//! [`Facts::gather`] reads the repository (no lock: it reads only signed documents);
//! [`compute`] turns facts, targets and a moment into a [`Report`] (pure); [`render`] writes
//! it as a terminal table, Markdown, JSON (docs/report-schema.md) or one HTML file.

pub mod compute;
pub mod facts;
pub mod format;
pub mod model;
pub mod rds;
pub mod render;

pub use compute::{compute, ReportParams};
pub use facts::{BackupFact, DatabaseFact, Facts, RdsFact, RdsSetFact, VerificationFact};
pub use model::*;
pub use render::{render, write_atomically, Format};

use crate::config::TargetPolicy;
use crate::error::{Error, Result};
use crate::repository::Repository;

/// Reads the repository and computes the report. Evidence must be signed: without a trusted
/// key nothing could count, so that is refused (`--insecure-skip-signature` does not apply
/// to evidence). A zero-length window is refused.
pub async fn generate(
    repo: &Repository,
    targets: &TargetPolicy,
    params: &ReportParams,
) -> Result<Report> {
    generate_with_rds(repo, targets, params, None).await
}

/// [`generate`], with the configured RDS targets beside the logical databases: their
/// signed snapshot sets from the repository, and their state from the RDS API.
pub async fn generate_with_rds(
    repo: &Repository,
    targets: &TargetPolicy,
    params: &ReportParams,
    rds: Option<&crate::rds::Rds>,
) -> Result<Report> {
    if params.since.is_zero() || params.since > compute::MAX_WINDOW {
        return Err(Error::config(
            "--since must be more than zero and at most 10 years (e.g. 30d, 90d or 365d)",
        ));
    }
    if repo.trust().keys.is_empty() {
        return Err(Error::Key(
            "no trusted signing key configured: the report counts only backups and \
             verification records signed by a trusted key. Give the backup side's public key \
             with --trusted-key, LIFEBOAT_TRUSTED_KEYS or [signing] trusted_keys (the signing \
             key's own public key is trusted too)"
                .into(),
        ));
    }
    let mut facts = Facts::gather(repo).await?;
    if let Some(rds) = rds {
        for target in &rds.settings.targets {
            facts.rds.push(RdsFact::gather(repo, rds, target).await?);
        }
    }
    Ok(compute(&facts, targets, params))
}

#[cfg(test)]
mod tests;

/// The report's per-database status and RPO, for metrics and notifications: overdue when
/// an RPO target is set and the newest restorable backup is older than it (or missing).
pub fn compliance_run(r: &Report) -> crate::signals::ComplianceRun {
    use crate::signals::{ComplianceStatus, DatabaseCompliance};
    crate::signals::ComplianceRun {
        repository: r.repository.clone(),
        computed_at: r.generated_at,
        databases: r
            .databases
            .iter()
            .map(|d| {
                let rpo = d.figures.current_rpo_seconds.map(|s| s as f64);
                let target = d.targets.rpo.map(|s| s as f64);
                DatabaseCompliance {
                    name: d.name.clone(),
                    status: match d.status {
                        Status::Ok => ComplianceStatus::Ok,
                        Status::AtRisk => ComplianceStatus::AtRisk,
                        Status::Breach => ComplianceStatus::Breach,
                    },
                    rpo_seconds: rpo,
                    rpo_target_seconds: target,
                    overdue: match (rpo, target) {
                        (Some(age), Some(t)) => age > t,
                        (None, Some(_)) => true,
                        _ => false,
                    },
                    newest_backup: d.figures.newest_backup.as_ref().map(|b| b.backup.clone()),
                    reasons: d
                        .controls
                        .iter()
                        .filter(|c| c.status == ControlStatus::Fail || c.at_risk)
                        .map(|c| c.reason.clone())
                        .collect(),
                }
            })
            .collect(),
    }
}
