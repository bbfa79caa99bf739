//! The prune plan: the policy applied to each source database's history, plus the
//! protections no policy overrides.
//!
//! **Grouping.** A backup can hold several databases. Each database of each source server
//! has its own history — the backups that hold it — and the policy is applied to each
//! history separately (as restic applies it per host and paths). A backup is deleted only
//! when no history keeps it: a nightly backup of every database and hourly backups of one
//! database share that database's history, and adding a database to the nightly run does
//! not start a new history for the others. The server is its `host:port` (the user and the
//! database lifeboat connected to do not matter).
//!
//! **Protections**, on top of the policy, each with its reason:
//! - a pinned backup is kept;
//! - with keep-verified, the newest backup of each history that passed a trusted
//!   verification for that database is kept;
//! - a backup dated in the future is kept (see [`super::policy`]);
//! - a backup whose signature did not verify is not counted and is left alone: a planted
//!   backup must not push genuine ones out of their periods, and is not lifeboat's to
//!   delete by policy (`forget` removes it by id).
//!
//! Pure: no I/O.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use super::policy::{apply, Candidate, Policy};

/// A complete backup as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// When it started (what `list` shows, and what its id encodes).
    pub time: DateTime<Utc>,
    /// The source as its manifest records it: `user@host:port/db`.
    pub server: String,
    pub databases: Vec<String>,
    /// Its signature verified (or the break-glass override is on): only such backups count.
    pub counted: bool,
}

/// What protects backups whatever the policy says.
#[derive(Debug, Clone, Default)]
pub struct Protections {
    /// Pinned backup ids, with how the pin describes itself (its reason).
    pub pins: BTreeMap<String, String>,
    /// Backup ids with a passing, trusted verification, and the databases it passed for.
    pub verified: BTreeMap<String, BTreeSet<String>>,
    /// Keep the newest verified backup of each history.
    pub keep_verified: bool,
    /// Backups S3 Object Lock still retains, and until when: no one can delete them yet.
    pub retained: BTreeMap<String, DateTime<Utc>>,
}

/// One backup's line in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub id: String,
    pub time: DateTime<Utc>,
    pub databases: Vec<String>,
    pub keep: bool,
    /// Every rule and protection that keeps it; empty when it is deleted.
    pub reasons: Vec<String>,
}

/// Every backup, oldest first, with keep or delete and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub rows: Vec<Row>,
}

impl Plan {
    pub fn to_delete(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| !r.keep)
    }

    pub fn kept(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.keep)
    }
}

/// The reason given to a backup whose signature did not verify.
pub const UNCOUNTED_REASON: &str = "signature not verified: not counted, left alone";
/// The reason given to the newest verified backup of a history.
pub const VERIFIED_REASON: &str = "newest verified";

/// `host:port` of a manifest's `user@host:port/db` (user names may hold `@`, database names
/// `/`; host names hold neither `:<digits>/` nor `@`).
pub fn server_key(server: &str) -> &str {
    let rest = server.rsplit_once('@').map_or(server, |(_, r)| r);
    let bytes = rest.as_bytes();
    for (i, _) in rest.match_indices(':') {
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 && bytes.get(i + 1 + digits) == Some(&b'/') {
            return &rest[..i + 1 + digits];
        }
    }
    rest
}

/// Why each backup is kept, per database, in the order the reasons were found.
#[derive(Default)]
struct Reasons(Vec<(String, BTreeSet<String>)>);

impl Reasons {
    fn add(&mut self, reason: String, database: &str) {
        match self.0.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, dbs)) => {
                dbs.insert(database.to_string());
            }
            None => self
                .0
                .push((reason, BTreeSet::from([database.to_string()]))),
        }
    }

    /// A reason that holds for only some of the backup's databases names them.
    fn render(self, databases: &[String]) -> Vec<String> {
        let all: BTreeSet<String> = databases.iter().cloned().collect();
        self.0
            .into_iter()
            .map(|(reason, dbs)| {
                if dbs.is_superset(&all) || all.len() <= 1 {
                    reason
                } else {
                    let names: Vec<String> = dbs.into_iter().collect();
                    format!("{reason} ({})", names.join(", "))
                }
            })
            .collect()
    }
}

/// Applies `policy` to each database's history (in `tz`, as of `now`) and adds the
/// protections. Returns every entry, oldest first.
pub fn plan(
    policy: &Policy,
    entries: &[Entry],
    protections: &Protections,
    tz: Tz,
    now: DateTime<Utc>,
) -> Plan {
    let mut reasons: BTreeMap<&str, Reasons> = BTreeMap::new();
    let mut fixed: BTreeMap<&str, Vec<String>> = BTreeMap::new();

    for e in entries {
        let mut own = Vec::new();
        if let Some(pin) = protections.pins.get(&e.id) {
            own.push(format!("pinned{}", describe_pin(pin)));
        }
        if let Some(until) = protections.retained.get(&e.id).filter(|t| **t > now) {
            own.push(format!(
                "object lock until {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        if !e.counted {
            own.push(UNCOUNTED_REASON.to_string());
        }
        fixed.insert(&e.id, own);
        reasons.entry(&e.id).or_default();
    }

    let histories = histories(entries);
    // The policy's reasons first, then the newest verified backups, each in history order.
    for ((_, database), members) in &histories {
        let candidates: Vec<Candidate> = members
            .iter()
            .map(|e| Candidate {
                id: e.id.clone(),
                time: e.time,
            })
            .collect();
        for d in apply(policy, &candidates, tz, now) {
            if let Some(r) = reasons.get_mut(d.id.as_str()) {
                for reason in d.reasons {
                    r.add(reason, database);
                }
            }
        }
    }
    if protections.keep_verified {
        for ((_, database), members) in &histories {
            let newest_verified = members
                .iter()
                .filter(|e| {
                    protections
                        .verified
                        .get(&e.id)
                        .is_some_and(|dbs| dbs.contains(*database))
                })
                .max_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            if let Some(e) = newest_verified {
                if let Some(r) = reasons.get_mut(e.id.as_str()) {
                    r.add(VERIFIED_REASON.to_string(), database);
                }
            }
        }
    }

    let mut rows: Vec<Row> = entries
        .iter()
        .map(|e| {
            let mut why = fixed.remove(e.id.as_str()).unwrap_or_default();
            if let Some(r) = reasons.remove(e.id.as_str()) {
                why.extend(r.render(&e.databases));
            }
            Row {
                id: e.id.clone(),
                time: e.time,
                databases: e.databases.clone(),
                keep: !why.is_empty(),
                reasons: why,
            }
        })
        .collect();
    rows.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    Plan { rows }
}

fn describe_pin(pin: &str) -> String {
    if pin.is_empty() {
        String::new()
    } else {
        format!(": {pin}")
    }
}

/// The counted backups holding each database of each server.
fn histories(entries: &[Entry]) -> BTreeMap<(&str, &str), Vec<&Entry>> {
    let mut out: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.counted) {
        let server = server_key(&e.server);
        if e.databases.is_empty() {
            out.entry((server, "")).or_default().push(e);
        }
        for db in &e.databases {
            out.entry((server, db.as_str())).or_default().push(e);
        }
    }
    out
}
