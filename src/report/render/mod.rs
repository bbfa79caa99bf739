//! The report's formats: a terminal table (default), Markdown, JSON (the model serialized,
//! docs/report-schema.md) and one self-contained HTML file. Renderers only read the model.

pub(crate) mod html;
mod markdown;
pub mod svg;
mod table;

use std::path::Path;

use chrono_tz::Tz;

use super::model::Report;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Json,
    Html,
}

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => json(report),
        Format::Html => html::render(report),
    }
}

pub fn json(report: &Report) -> String {
    // Plain data (strings, numbers, times): serializing cannot fail.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// The zone the report's times are shown in.
/// One sentence about an RDS target's row (what it is, point-in-time recovery, its newest
/// snapshot and copies); `None` for a logical database.
pub fn rds_summary(d: &crate::report::model::DatabaseReport, tz: Tz) -> Option<String> {
    use crate::report::format::time;
    let r = d.rds.as_ref()?;
    let pitr = match (r.latest_restorable_time, r.backup_retention_days) {
        (_, Some(days)) if days <= 0 => "point-in-time recovery off".to_string(),
        (Some(t), Some(days)) => {
            format!(
                "point-in-time recovery up to {} ({days} days kept)",
                time(t, tz)
            )
        }
        _ => "point-in-time recovery unknown (the RDS API did not answer)".to_string(),
    };
    let newest = r
        .newest_snapshot
        .as_ref()
        .map(|p| format!("newest snapshot {} ({})", p.snapshot, time(p.taken_at, tz)))
        .unwrap_or_else(|| "no snapshot".into());
    let copies: Vec<String> = r
        .copies
        .iter()
        .map(|c| match &c.newest {
            Some(p) => format!("{}: {} ({})", c.region, p.snapshot, time(p.taken_at, tz)),
            None => format!("{}: none", c.region),
        })
        .collect();
    Some(format!(
        "RDS {} {} in {}: {pitr}; {newest}; DR copies: {}",
        r.kind,
        r.identifier,
        r.region,
        if copies.is_empty() {
            "no DR region configured".to_string()
        } else {
            copies.join(", ")
        }
    ))
}

fn zone(report: &Report) -> Tz {
    report.window.timezone.parse().unwrap_or(chrono_tz::UTC)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. A reader sees the old file or the new one, never half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let context = |what: &str| format!("{what} {}", path.display());
    // A report holds no secret: readable like any file the user writes (not tempfile's 0600).
    let mut tmp = tempfile::Builder::new()
        .prefix(".lifeboat-report.")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| Error::io(context("cannot create a temporary file beside"), e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(context("cannot write"), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io(context("cannot rename the report into"), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let err = write_atomically(&dir.path().join("missing/x.html"), b"x").unwrap_err();
        assert!(err.to_string().contains("missing/x.html"), "{err}");
    }
}
