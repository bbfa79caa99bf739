//! An RDS drill: the target's newest DR-region copy (tagged by lifeboat and named by a
//! trusted snapshot-set record) restored into a scratch instance in the DR region, timed to
//! available (the RTO of a regional failover), the scenario's SQL checks run when the
//! instance can be reached — recorded as NOT RUN, never as a pass, when it cannot — and the
//! scratch instance deleted whatever happened before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{timed, Step, StepFailed};
use crate::config::AssertionConfig;
use crate::rds::restore::{self, RestoreFrom, RestoreRequest};
use crate::rds::{Rds, RdsTarget};
use crate::repository::Repository;

/// The scenario's `[rds]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsScenario {
    /// The `[[rds.target]]` name.
    pub target: String,
    /// The DR region to restore in (default: the target's first copy region).
    pub region: Option<String>,
    /// Instance class of the scratch instance (required for Aurora).
    pub instance_class: Option<String>,
    pub subnet_group: Option<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// The database the SQL checks run in (assertions whose `database` is this one).
    pub database: Option<String>,
    /// The user to connect as (the source's master user); the password from `PGPASSWORD`
    /// or a password file.
    pub user: Option<String>,
    /// libpq sslmode for the checks (default `require`).
    pub sslmode: Option<String>,
}

/// What an RDS drill restored and removed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RdsDrillEvidence {
    pub target: String,
    pub region: String,
    /// The DR copy restored.
    pub snapshot: String,
    pub arn: String,
    /// The recovery point it holds.
    pub taken_at: Option<DateTime<Utc>>,
    pub encrypted: bool,
    /// The signed record naming it.
    pub record: String,
    pub scratch_instance: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// From the restore call to available: the measured RTO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_seconds: Option<f64>,
    /// The scratch instance was deleted (or was already gone).
    pub cleaned_up: bool,
}

/// Runs the RDS steps, appending them to `steps`; the evidence when a copy was chosen.
pub async fn run(
    repo: &Repository,
    rds: Option<&Rds>,
    scen: &RdsScenario,
    assertions: &[AssertionConfig],
    steps: &mut Vec<Step>,
) -> Option<RdsDrillEvidence> {
    let mut evidence: Option<RdsDrillEvidence> = None;
    let mut target: Option<RdsTarget> = None;
    timed(steps, "DR-region copy chosen", async {
        let rds = rds.ok_or_else(|| {
            StepFailed("no [rds] configuration: the scenario names an RDS target".into())
        })?;
        let t = rds.settings.one(Some(&scen.target), None, None)?.clone();
        let chosen = choose(repo, rds, &t, scen).await?;
        let text = format!(
            "copy {} in {} ({}), taken {}, named by record {}",
            chosen.snapshot,
            chosen.region,
            if chosen.encrypted {
                "encrypted"
            } else {
                "NOT encrypted"
            },
            chosen
                .taken_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| "at an unknown time".into()),
            chosen.record
        );
        evidence = Some(chosen);
        target = Some(t);
        Ok::<_, StepFailed>(text)
    })
    .await;
    let (Some(rds), Some(t), Some(ev)) = (rds, target, evidence.as_mut()) else {
        return evidence;
    };

    let req = RestoreRequest {
        from: RestoreFrom::Snapshot {
            id: ev.snapshot.clone(),
            region: Some(ev.region.clone()),
        },
        name: ev.scratch_instance.clone(),
        instance_class: scen.instance_class.clone(),
        subnet_group: scen.subnet_group.clone(),
        security_groups: scen.security_groups.clone(),
        parameter_group: None,
        publicly_accessible: false,
        dry_run: false,
    };
    let restored = timed(steps, "restore into a scratch instance", async {
        let out = restore::restore(rds, &t, &req, &crate::progress::Progress::hidden()).await?;
        ev.endpoint = out.endpoint.clone();
        ev.restore_seconds = out.seconds;
        Ok::<_, StepFailed>(format!(
            "{} restored as {} in {}, available after {:.1}s; endpoint {}",
            ev.snapshot,
            out.instance,
            ev.region,
            out.seconds.unwrap_or_default(),
            out.endpoint.as_deref().unwrap_or("(none reported)")
        ))
    })
    .await;

    if restored {
        sql_checks(scen, assertions, ev, steps).await;
    }

    // Always: whatever failed above, the scratch instance must not stay.
    let api = rds.api(&t, &ev.region);
    let cleaned = timed(steps, "clean-up", async {
        Ok::<_, StepFailed>(restore::delete_restored(&api, &t, &ev.scratch_instance).await?)
    })
    .await;
    ev.cleaned_up = cleaned;
    evidence
}

/// The newest available copy in the drill's region that carries the target's tag and that a
/// trusted record names.
async fn choose(
    repo: &Repository,
    rds: &Rds,
    t: &RdsTarget,
    scen: &RdsScenario,
) -> std::result::Result<RdsDrillEvidence, StepFailed> {
    let region = match &scen.region {
        Some(r) => r.clone(),
        None => t.copies.first().map(|c| c.region.clone()).ok_or_else(|| {
            StepFailed(format!(
                "{} has no DR region ([[rds.target.copy]]); name one with region in the \
                     scenario's [rds]",
                t.name
            ))
        })?,
    };
    let sets = repo.rds_snapshot_sets(Some(&t.name)).await?;
    let snaps = crate::rds::list::tagged(rds, t, &region).await?;
    let (snap, set) = snaps
        .iter()
        .rev()
        .filter(|s| s.available())
        .find_map(|s| {
            sets.iter()
                .find(|set| set.trusted() && set.record.names(&region, &s.id))
                .map(|set| (s, set))
        })
        .ok_or_else(|| {
            StepFailed(format!(
                "no available, recorded lifeboat copy of {} in {region}; run `lifeboat rds \
                 snapshot` (see `lifeboat rds list`)",
                t.name
            ))
        })?;
    let suffix: u16 = rand::random();
    Ok(RdsDrillEvidence {
        target: t.name.clone(),
        region,
        snapshot: snap.id.clone(),
        arn: snap.arn.clone(),
        taken_at: snap.point(),
        encrypted: snap.encrypted,
        record: set.key.clone(),
        scratch_instance: format!("lifeboat-drill-{}-{suffix:04x}", t.name),
        endpoint: None,
        restore_seconds: None,
        cleaned_up: false,
    })
}

/// The scenario's assertions for the RDS database, when the instance answers; otherwise
/// one NOT RUN step saying why.
async fn sql_checks(
    scen: &RdsScenario,
    assertions: &[AssertionConfig],
    ev: &RdsDrillEvidence,
    steps: &mut Vec<Step>,
) {
    let started_at = Utc::now();
    let clock = std::time::Instant::now();
    let not_run = |steps: &mut Vec<Step>, why: String| {
        steps.push(Step {
            name: "SQL checks".into(),
            started_at,
            finished_at: Utc::now(),
            seconds: clock.elapsed().as_secs_f64(),
            passed: true,
            evidence: format!("not run: {why}"),
            not_run: true,
        });
    };
    let (Some(db), Some(user)) = (&scen.database, &scen.user) else {
        return not_run(
            steps,
            "the scenario's [rds] names no database and user to check".into(),
        );
    };
    let mine: Vec<&AssertionConfig> = assertions.iter().filter(|a| &a.database == db).collect();
    if mine.is_empty() {
        return not_run(steps, format!("no assertion for database {db}"));
    }
    let Some(endpoint) = &ev.endpoint else {
        return not_run(steps, "the restored instance reported no endpoint".into());
    };
    let reachable = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect(endpoint.as_str()),
    )
    .await;
    match reachable {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return not_run(
                steps,
                format!("{endpoint} cannot be reached from here ({e})"),
            )
        }
        Err(_) => return not_run(steps, format!("{endpoint} did not answer within 10s")),
    }
    let url = format!(
        "postgres://{user}@{endpoint}/{db}?sslmode={}",
        scen.sslmode.as_deref().unwrap_or("require")
    );
    let point = ev.taken_at.unwrap_or(started_at);
    let _ = timed(steps, "SQL checks", async {
        let conn = crate::postgres::ConnSpec::from_url_and_env(Some(&url))?;
        let mut lines = Vec::new();
        let mut all = true;
        for a in mine {
            let c = crate::verify::checks::assertion(&conn, a, point).await;
            all &= c.passed;
            lines.push(format!(
                "{} {}: {}",
                if c.passed { "pass" } else { "FAILED" },
                c.name,
                c.evidence
            ));
        }
        if all {
            Ok(lines.join("\n"))
        } else {
            Err(StepFailed(lines.join("\n")))
        }
    })
    .await;
}
