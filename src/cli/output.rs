//! What the commands print for people (tables) and for programs (--json).

use serde::Serialize;

use lifeboat::config::{redact_url, Settings};
use lifeboat::demo::human_bytes;
use lifeboat::manifest::Manifest;
use lifeboat::repository::catalog::Listed;
use lifeboat::repository::Repository;
use lifeboat::restore::RestoreReport;
use lifeboat::{crypto, postgres};

#[derive(Serialize)]
pub struct ListRow {
    id: String,
    started_at: String,
    seconds: f64,
    server: String,
    server_version: String,
    databases: Vec<String>,
    stored_bytes: u64,
    plain_bytes: u64,
    /// `signed <key id>`, `unchecked` (no trusted key configured), or what is wrong.
    signature: String,
}

pub fn list_row(l: &Listed) -> ListRow {
    let m = &l.manifest;
    ListRow {
        id: m.id.clone(),
        started_at: m.started_at.to_rfc3339(),
        seconds: (m.finished_at - m.started_at).num_milliseconds() as f64 / 1000.0,
        server: m.source.server.clone(),
        server_version: m.source.server_version.clone(),
        databases: m.databases.iter().map(|d| d.name.clone()).collect(),
        stored_bytes: m.stored_size(),
        plain_bytes: m.plain_size(),
        signature: l.signature.label(),
    }
}

pub fn list_table(all: &[Listed]) {
    if all.is_empty() {
        println!("no backups yet");
        return;
    }
    println!(
        "{:<24} {:<20} {:>8} {:>10}  {:<8} {:<24} DATABASES",
        "ID", "STARTED (UTC)", "TOOK", "STORED", "SERVER", "SIGNATURE"
    );
    for l in all {
        let r = list_row(l);
        println!(
            "{:<24} {:<20} {:>7.1}s {:>10}  {:<8} {:<24} {}",
            r.id,
            l.manifest.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.seconds,
            human_bytes(r.stored_bytes),
            r.server_version.split_whitespace().next().unwrap_or(""),
            r.signature,
            r.databases.join(",")
        );
    }
}

pub fn backup_summary(m: &Manifest, repo: &str) {
    let secs = (m.finished_at - m.started_at).num_milliseconds() as f64 / 1000.0;
    println!("backup {} complete in {secs:.1}s → {repo}", m.id);
    for d in &m.databases {
        let tables = d
            .tables
            .iter()
            .map(|t| t.display_name())
            .collect::<std::collections::BTreeSet<_>>();
        println!(
            "  {:<20} {:>5} tables {:>12} rows  consistent at {}",
            d.name,
            tables.len(),
            d.rows(),
            d.consistent_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
        );
    }
    let rate = m.plain_size() as f64 / secs.max(0.001) / 1e6;
    println!(
        "  {} read, {} stored ({rate:.0} MB/s)",
        human_bytes(m.plain_size()),
        human_bytes(m.stored_size())
    );
}

pub fn show(m: &Manifest) {
    println!("backup      {}", m.id);
    println!("started     {}", m.started_at.to_rfc3339());
    println!("finished    {}", m.finished_at.to_rfc3339());
    println!(
        "source      {} (PostgreSQL {})",
        m.source.server, m.source.server_version
    );
    println!(
        "compression {} level {}",
        m.compression.algorithm, m.compression.level
    );
    println!(
        "encryption  {} to {}",
        m.encryption.algorithm,
        m.encryption.recipient_fingerprints.join(", ")
    );
    println!(
        "size        {} stored, {} plain",
        human_bytes(m.stored_size()),
        human_bytes(m.plain_size())
    );
    if m.globals.is_some() {
        println!("globals     roles and tablespaces included");
    }
    for d in &m.databases {
        println!();
        println!(
            "database {} ({}, consistent at {}, schema by pg_dump {})",
            d.name,
            d.encoding,
            d.consistent_at.to_rfc3339(),
            d.pg_dump_version
        );
        println!("  {:<48} {:>12} {:>10}", "TABLE", "ROWS", "STORED");
        let mut merged: Vec<(String, u64, u64)> = Vec::new();
        for t in &d.tables {
            match merged.last_mut() {
                Some(last) if last.0 == t.display_name() => {
                    last.1 += t.rows;
                    last.2 += t.object.stored_size();
                }
                _ => merged.push((t.display_name(), t.rows, t.object.stored_size())),
            }
        }
        for (name, rows, size) in merged {
            println!("  {name:<48} {rows:>12} {:>10}", human_bytes(size));
        }
    }
}

/// `check`'s problems in a few lines, for a notification: the first five, and how many more.
pub fn problems_in_brief(repo: &str, problems: &[String]) -> String {
    let mut text = format!("check of {repo} found {} problem(s):", problems.len());
    for p in problems.iter().take(5) {
        text.push_str(&format!("\n- {p}"));
    }
    if problems.len() > 5 {
        text.push_str(&format!(
            "\n… and {} more (run `lifeboat check`)",
            problems.len() - 5
        ));
    }
    text
}

pub fn check_report(r: &lifeboat::check::CheckReport) {
    for p in &r.problems {
        println!("PROBLEM  {p}");
    }
    let read = if r.streams_read == 0 {
        "no data read (--read-data reads it back)".to_string()
    } else {
        format!(
            "{} streams read back ({}){}",
            r.streams_read,
            human_bytes(r.bytes_read),
            if r.decrypted {
                ", decrypted and their plaintext hashes checked"
            } else {
                ", stored bytes checked (give --identity to decrypt them too)"
            }
        )
    };
    println!(
        "checked {} backups ({} incomplete: running or interrupted), {} objects; {read}; {}",
        r.backups,
        r.incomplete,
        r.objects,
        match r.problems.len() {
            0 => "no problems".to_string(),
            n => format!("{n} PROBLEM(S)"),
        }
    );
}

pub fn restore_summary(r: &RestoreReport) {
    println!(
        "restored {} from backup {} into {} in {:.1}s",
        r.database, r.backup, r.target, r.seconds
    );
    println!(
        "  {} tables, {} rows, {} of data; data as of {}",
        r.tables,
        r.rows,
        human_bytes(r.bytes),
        r.consistent_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    for (step, secs) in &r.steps {
        println!("  {step:<30} {secs:>7.1}s");
    }
    if let Some(replaced) = &r.replaced {
        println!("  {replaced}");
    }
}

/// What `--at` chose, and the data it cannot bring back, before anything is restored.
pub fn point_in_time(
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
    point: chrono::DateTime<chrono::Utc>,
) {
    let lost = (at - point).num_seconds();
    eprintln!(
        "--at {}: using backup {id}, consistent at {}; changes made in the {} before that \
         time are not in it",
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        point.format("%Y-%m-%d %H:%M:%S UTC"),
        lifeboat::config::human_duration(lost)
    );
}

/// A verification: every failed check first, then a summary per database and its stages.
pub fn verification(v: &lifeboat::verify::Verified) {
    let r = &v.record;
    println!(
        "verification of backup {}: {} (restored on {} {}, {})",
        r.backup,
        if r.passed { "PASSED" } else { "FAILED" },
        r.target.kind,
        r.target.server,
        r.target.server_version
    );
    for d in &r.databases {
        let passed = d.checks.iter().filter(|c| c.passed).count();
        println!(
            "\n  {}  {}  (as {}; data as of {})",
            d.name,
            if d.passed { "passed" } else { "FAILED" },
            d.restored_as,
            d.consistent_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if let Some(e) = &d.error {
            println!("    {e}");
            continue;
        }
        for c in d.checks.iter().filter(|c| !c.passed) {
            println!("    FAIL {:<13} {}: {}", c.kind, c.name, c.evidence);
        }
        println!(
            "    {passed} of {} checks passed; {} tables' rows read back and compared; {} rows, {}",
            d.checks.len(),
            d.checks.iter().filter(|c| c.kind == "table").count(),
            d.rows,
            human_bytes(d.bytes)
        );
        for stage in &d.stages {
            println!("    {:<66} {:>7.1}s", stage.name, stage.seconds);
        }
        println!(
            "    {:<66} {:>7.1}s",
            "restore time (measured RTO)", d.restore_seconds
        );
    }
    println!("\n  record: {}", v.key);
    for k in &v.kept {
        println!("  {k}");
    }
}

/// A drill: verdict, figures, steps, and where the report went.
pub fn drill(o: &lifeboat::drill::DrillOutcome) {
    let r = &o.report;
    println!(
        "DR drill `{}`: {}",
        r.scenario,
        if r.passed { "PASSED" } else { "FAILED" }
    );
    for (i, s) in r.steps.iter().enumerate() {
        println!(
            "  {}. {:<34} {:>7.1}s  {}  {}",
            i + 1,
            s.name,
            s.seconds,
            s.result(),
            s.evidence
        );
    }
    println!("  RPO achieved: {}", lifeboat::drill::figure_text(&r.rpo));
    println!("  RTO achieved: {}", lifeboat::drill::figure_text(&r.rto));
    for f in &o.files {
        println!("  report: {}", f.display());
    }
    match &o.record {
        Ok(key) => println!("  recorded (signed) in the repository: {key}"),
        Err(e) => println!("  NOT recorded in the repository: {e}"),
    }
}

/// Resolves and checks each part of the configuration, printing what it found with secrets
/// redacted; fails (non-zero) if any part is unusable.
pub async fn config_check(settings: &Settings) -> anyhow::Result<()> {
    let mut problems = 0;
    let mut report = |label: &str, r: Result<String, lifeboat::Error>| match r {
        Ok(s) => println!("ok    {label:<12} {s}"),
        Err(e) => {
            problems += 1;
            println!("FAIL  {label:<12} {e}");
        }
    };
    if let Some(p) = &settings.file_path {
        report("config", Ok(p.display().to_string()));
    }
    let repo = async {
        let rs = settings.repository()?;
        let repo = Repository::open(&rs, settings.keys()?).await?;
        repo.store().check_reachable().await?;
        let d = repo.descriptor().await?;
        let extra = match (&rs.endpoint, rs.path_style) {
            (Some(e), ps) => format!(" (endpoint {}, path-style {ps})", redact_url(e)),
            _ => String::new(),
        };
        let lock = match rs.object_lock {
            Some(l) => format!(
                "; S3 Object Lock {} for {} (bucket checked)",
                l.mode.as_str(),
                humantime::format_duration(l.retain)
            ),
            None => String::new(),
        };
        Ok(format!(
            "{}{extra}: format {}, created {}{lock}",
            repo.name(),
            d.format_version,
            d.created_at.to_rfc3339()
        ))
    }
    .await;
    report("repository", repo);
    report(
        "signing",
        settings.keys().map(|k| {
            let signer = match &k.signer {
                Some(s) => format!("signs with key {}", s.id()),
                None => "no signing key (needed by init and backup)".into(),
            };
            let trusted: Vec<String> = k.trust.keys.iter().map(|t| t.id()).collect();
            format!("{signer}; trusts {}", trusted.join(", "))
        }),
    );
    report(
        "recipients",
        settings.recipients().map(|r| {
            r.iter()
                .map(crypto::fingerprint)
                .collect::<Vec<_>>()
                .join(", ")
        }),
    );
    report(
        "targets",
        settings.targets().map(|t| {
            let show = |d: Option<std::time::Duration>| {
                d.map_or("-".to_string(), |d| {
                    lifeboat::report::format::duration(d.as_secs() as i64)
                })
            };
            let one = |x: &lifeboat::config::Targets| {
                format!(
                    "rpo {} rto {} verify_within {} min_retention {}",
                    show(x.rpo),
                    show(x.rto),
                    show(x.verify_within),
                    show(x.min_retention)
                )
            };
            if !t.any() {
                return "none configured (report judges only encryption)".to_string();
            }
            let mut out = one(&t.defaults);
            for name in t.named_databases() {
                out.push_str(&format!("; {name}: {}", one(&t.for_database(name))));
            }
            out
        }),
    );
    report(
        "report",
        settings
            .report_timezone()
            .map(|tz| format!("calendar days in {}", tz.name())),
    );
    let identity_given = settings.overrides.identity_file.is_some()
        || settings.file.encryption.identity_file.is_some();
    if identity_given {
        report(
            "identity",
            settings.identities().map(|ids| {
                format!(
                    "{} key(s), public {}",
                    ids.len(),
                    crypto::identity_fingerprints(&ids).join(", ")
                )
            }),
        );
    } else {
        println!("-     identity     not set (needed only to restore)");
    }
    let r = &settings.file.retention;
    let retention_given = [
        &r.keep_last,
        &r.keep_hourly,
        &r.keep_daily,
        &r.keep_weekly,
        &r.keep_monthly,
        &r.keep_yearly,
    ]
    .iter()
    .any(|k| k.is_some())
        || r.keep_within.is_some()
        || r.timezone.is_some()
        || r.keep_verified.is_some();
    if retention_given {
        report(
            "retention",
            settings
                .retention(&lifeboat::config::RetentionOverrides::default())
                .map(|r| {
                    format!(
                        "{}{}; periods in {}",
                        r.policy.describe(),
                        if r.keep_verified {
                            "; the newest verified backup of each database"
                        } else {
                            ""
                        },
                        r.timezone.name()
                    )
                }),
        );
    } else {
        println!("-     retention    no [retention] policy (prune needs --keep-* flags)");
    }
    let source = async {
        let s = settings.source()?;
        let client = s.conn.connect().await?;
        let v = postgres::server_version_num(&client, &s.conn).await?;
        postgres::check_supported(v, &s.conn, false)?;
        let tool = postgres::PgTools::new(s.pg_bin_dir.clone())
            .at_least("pg_dump", postgres::major_of(v))?;
        let dbs = if s.databases.is_empty() {
            "all databases".to_string()
        } else {
            s.databases.join(", ")
        };
        Ok(format!(
            "{} (server {v}, {dbs}, jobs {}); pg_dump {} at {}",
            s.conn.display(),
            s.jobs,
            tool.major,
            tool.path.display()
        ))
    }
    .await;
    report("source", source);
    report(
        "metrics",
        settings.metrics().map(|m| match m {
            Some(m) => format!("textfile {}", m.textfile.display()),
            None => "off (--metrics-file, LIFEBOAT_METRICS_FILE or [metrics] textfile)".into(),
        }),
    );
    report(
        "notify",
        settings.notify().map(|n| match n {
            // The URL is a secret: only where it came from is shown.
            Some(n) => format!(
                "{} webhook; URL from {}, not shown",
                n.format.name(),
                n.source
            ),
            None => "off (LIFEBOAT_WEBHOOK_URL, [notify] webhook_url_file)".into(),
        }),
    );
    for (label, result) in super::rds::config_check(settings).await {
        report(&label, result);
    }
    if problems > 0 {
        return Err(lifeboat::Error::config(format!("{problems} problem(s) found")).into());
    }
    println!("configuration is usable");
    Ok(())
}

/// The prune plan: every backup with keep or delete and why, the same for dry and real runs.
pub fn prune_plan(r: &lifeboat::prune::PruneReport) {
    println!("{}", prune_plan_text(r));
}

pub fn prune_plan_text(r: &lifeboat::prune::PruneReport) -> String {
    let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::UTC);
    let mut out = Vec::new();
    out.push(format!(
        "prune {}: {}{}; periods in {}",
        r.repository,
        r.policy,
        if r.keep_verified {
            "; the newest verified backup of each database"
        } else {
            ""
        },
        r.timezone
    ));
    if r.dry_run {
        out.push("dry run: nothing is deleted".into());
    }
    if r.backups.is_empty() {
        out.push("no backups".into());
    } else {
        let started = format!("STARTED ({})", r.timezone);
        let sw = started.len().max(19);
        let dbs: Vec<String> = r
            .backups
            .iter()
            .map(|b| b.row.databases.join(","))
            .collect();
        let dw = dbs.iter().map(String::len).max().unwrap_or(0).max(9);
        out.push(format!(
            "{:<24} {started:<sw$} {:>10} {:<6} {:<dw$} WHY",
            "ID", "STORED", "ACTION", "DATABASES"
        ));
        for (b, dbs) in r.backups.iter().zip(&dbs) {
            let line = format!(
                "{:<24} {:<sw$} {:>10} {:<6} {dbs:<dw$} {}",
                b.row.id,
                b.row.time.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
                human_bytes(b.stored_bytes),
                b.action,
                b.row.reasons.join(", ")
            );
            out.push(line.trim_end().to_string());
        }
    }
    for id in &r.in_progress {
        out.push(format!("in progress, never touched: {id}"));
    }
    for a in &r.abandoned {
        out.push(format!(
            "abandoned write (its process is gone): {}{}",
            a.id,
            if r.dry_run {
                ", removed by a real run"
            } else {
                ""
            }
        ));
    }
    out.join("\n")
}

/// What a prune did (or, dry, would do).
pub fn prune_done(r: &lifeboat::prune::PruneReport) {
    let total = r.backups.len();
    let deleting = r.to_delete().count();
    let bytes = human_bytes(r.bytes_to_delete());
    if r.dry_run {
        println!(
            "would delete {deleting} of {total} backup(s) ({bytes}), keep {}",
            total - deleting
        );
        return;
    }
    let deleted = r.backups.iter().filter(|b| b.deleted).count();
    let abandoned = r.abandoned.iter().filter(|a| a.removed).count();
    println!(
        "deleted {deleted} of {total} backup(s) ({bytes}), kept {}; removed {abandoned} \
         abandoned write(s) and {} upload leftover(s) older than {}h",
        total - deleting,
        r.debris_removed,
        r.debris_grace_hours
    );
}

/// `lifeboat pin --list`.
pub fn pins(all: &std::collections::BTreeMap<String, lifeboat::repository::pins::FoundPin>) {
    if all.is_empty() {
        println!("no pinned backups");
        return;
    }
    println!(
        "{:<24} {:<20} {:<16} REASON",
        "BACKUP", "PINNED (UTC)", "BY"
    );
    for (id, found) in all {
        let (at, host) = match &found.pin {
            Some(p) => (
                p.pinned_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                p.host.clone(),
            ),
            None => ("?".into(), "?".into()),
        };
        println!("{id:<24} {at:<20} {host:<16} {}", found.describe());
    }
}

/// After a report went to a file: its status on stderr, so a person or a cron log sees it.
pub fn report_written(r: &lifeboat::report::Report, path: &std::path::Path) {
    let per_db: Vec<String> = r
        .databases
        .iter()
        .map(|d| format!("{} {}", d.name, d.status.label()))
        .collect();
    eprintln!(
        "wrote the report to {}: {}{}",
        path.display(),
        r.status.label(),
        if per_db.is_empty() {
            String::new()
        } else {
            format!(" ({})", per_db.join(", "))
        }
    );
}

/// `lifeboat schedule check`: the scheduler settings, then each job with its next runs in
/// its own time zone (and in UTC).
pub fn schedule_check(
    spec: &lifeboat::schedule::SchedulerSpec,
    next: usize,
    now: chrono::DateTime<chrono::Utc>,
) {
    use lifeboat::schedule::{Missed, Overlap};
    println!(
        "scheduler: listen {}, at most {} job(s) at once, grace period {}, state file {}",
        spec.listen,
        spec.max_concurrent,
        humantime::format_duration(spec.grace_period),
        spec.state_file.display()
    );
    for job in &spec.jobs {
        println!();
        println!("job {}: lifeboat {}", job.name, job.command.join(" "));
        println!(
            "  schedule \"{}\", read as {}; time zone {}",
            job.schedule.source(),
            job.schedule.dialect().describe(),
            job.timezone.name()
        );
        let dur = |d: Option<std::time::Duration>| {
            d.map(|d| humantime::format_duration(d).to_string())
                .unwrap_or_else(|| "none".into())
        };
        println!(
            "  overlap {}, missed runs {}, jitter {}, timeout {}, overdue after {}",
            match job.overlap {
                Overlap::Skip => "skip",
                Overlap::Queue => "queue",
            },
            match job.missed {
                Missed::RunOnce => "run-once",
                Missed::Skip => "skip",
            },
            humantime::format_duration(job.jitter),
            dur(job.timeout),
            lifeboat::config::human_duration(job.overdue_threshold(now).num_seconds()),
        );
        println!("  next {next} run(s):");
        for t in job.schedule.upcoming(job.timezone, now, next) {
            let local = t.with_timezone(&job.timezone);
            println!(
                "    {}  ({})",
                local.format("%a %Y-%m-%d %H:%M:%S %Z (%:z)"),
                t.format("%Y-%m-%dT%H:%M:%SZ")
            );
        }
    }
    println!();
    println!("configuration OK: {} job(s)", spec.jobs.len());
}
