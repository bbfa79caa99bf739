//! The terminal form: status first, then per database its controls and figures.

use std::fmt::Write;

use super::zone;
use crate::report::format::{duration, gap_span, seconds, target, time};
use crate::report::model::*;

pub fn render(r: &Report) -> String {
    let tz = zone(r);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "lifeboat compliance report — {} — {} to {} ({}, {})",
        r.repository,
        time(r.window.start, tz),
        time(r.window.end, tz),
        duration(r.window.seconds),
        r.window.timezone
    );
    let per_db: Vec<String> = r
        .databases
        .iter()
        .map(|d| format!("{} {}", d.name, d.status.label()))
        .collect();
    let _ = writeln!(
        o,
        "STATUS: {}{}",
        r.status.label(),
        if per_db.is_empty() {
            String::new()
        } else {
            format!("   ({})", per_db.join(", "))
        }
    );
    for n in &r.notes {
        let _ = writeln!(o, "NOTE: {n}");
    }
    for d in &r.databases {
        database(&mut o, d, tz);
    }
    if !r.ignored.is_empty() {
        let _ = writeln!(o, "\nIGNORED (not evidence)");
        for i in &r.ignored {
            let _ = writeln!(o, "  {} {}: {}", i.kind, i.id, i.reason);
        }
    }
    o
}

fn database(o: &mut String, d: &DatabaseReport, tz: chrono_tz::Tz) {
    let _ = writeln!(o, "\n== {} — {}", d.name, d.status.label());
    let t = &d.targets;
    let show = |v: Option<u64>| v.map_or("not set".to_string(), target);
    let _ = writeln!(
        o,
        "targets: RPO {}, RTO {}, verify within {}, minimum retention {}",
        show(t.rpo),
        show(t.rto),
        show(t.verify_within),
        show(t.min_retention)
    );
    if let Some(line) = super::rds_summary(d, tz) {
        let _ = writeln!(o, "{line}");
    }
    let cw = d
        .controls
        .iter()
        .map(|c| c.id.name().len())
        .max()
        .unwrap_or(0)
        .max(29);
    let _ = writeln!(o, "  {:<cw$} {:<16} REASON", "CONTROL", "RESULT");
    for c in &d.controls {
        let result = if c.at_risk {
            format!("{} (AT RISK)", c.status.label())
        } else {
            c.status.label().to_string()
        };
        let _ = writeln!(o, "  {:<cw$} {:<16} {}", c.id.name(), result, c.reason);
    }
    let f = &d.figures;
    let opt = |v: Option<i64>| v.map_or("none".to_string(), duration);
    let _ = writeln!(
        o,
        "figures: current RPO {}; worst RPO {} ({}); highest backup age {}",
        opt(f.current_rpo_seconds),
        duration(f.worst_rpo.seconds),
        gap_span(&f.worst_rpo, tz),
        opt(f.max_backup_age_seconds)
    );
    let _ = writeln!(
        o,
        "         {} backups and {} verified recovery points in the window; verifications {} \
         ({} passed, {} failed{}); last restore {}; retention reaches back {}",
        f.backups_in_window,
        f.verified_points_in_window,
        f.verifications,
        f.verifications_passed,
        f.verifications_failed,
        f.pass_rate
            .map(|p| format!(", pass rate {:.0}%", p * 100.0))
            .unwrap_or_default(),
        f.last_restore
            .as_ref()
            .and_then(|r| r.restore_seconds)
            .map_or("never measured".to_string(), seconds),
        opt(f.retention_seconds)
    );
    if !d.restores.is_empty() {
        let trend: Vec<String> = d
            .restores
            .iter()
            .map(|r| {
                format!(
                    "{} {}{}",
                    r.at.with_timezone(&tz).format("%m-%d"),
                    r.restore_seconds.map_or("failed".to_string(), seconds),
                    if r.passed { "" } else { " ✗" }
                )
            })
            .collect();
        let _ = writeln!(o, "RTO trend: {}", trend.join(", "));
    }
    for fl in &d.failures {
        let _ = writeln!(
            o,
            "FAILED verification {} of backup {} at {}{}",
            fl.record,
            fl.backup,
            time(fl.at, tz),
            fl.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        for c in &fl.failed_checks {
            let _ = writeln!(o, "    {} {}: {}", c.kind, c.name, c.evidence);
        }
    }
    for f in &d.findings {
        let _ = writeln!(o, "finding: {f}");
    }
}
