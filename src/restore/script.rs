//! Running the SQL objects of a backup: large ones streamed through psql, small ones read
//! whole and run over our own connection.

use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::pipeline::{ObjectReader, ObjectStats, ReadSource};
use crate::postgres::{ConnSpec, PgTool};

/// Where a backup's objects are and how to read them.
#[derive(Clone)]
pub struct Source {
    pub read: ReadSource,
}

impl Source {
    pub fn open(&self, object: &ObjectStats) -> ObjectReader {
        ObjectReader::open(&self.read, object.clone())
    }

    /// Reads a whole (small) object as text, verified.
    pub async fn read_text(&self, object: &ObjectStats) -> Result<String> {
        let mut reader = self.open(object);
        // The size comes from the manifest, which is not authenticated: a hint, capped.
        let mut buf = Vec::with_capacity(object.plain_size.min(64 << 20) as usize);
        while let Some(chunk) = reader.next().await? {
            buf.extend_from_slice(&chunk);
        }
        String::from_utf8(buf).map_err(|_| Error::Corrupt {
            object: object.name().to_string(),
            reason: "SQL script is not valid UTF-8".into(),
        })
    }
}

/// Streams an SQL object into psql. psql's input is closed (letting it commit) only after
/// the object verified; any failure kills psql first, so its transaction rolls back.
pub async fn run_with_psql(
    psql: &PgTool,
    target: &ConnSpec,
    source: &Source,
    object: &ObjectStats,
    single_transaction: bool,
) -> Result<()> {
    let conninfo = target.libpq_conninfo();
    let mut args = vec![
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--no-password",
        "-d",
        &conninfo,
    ];
    if single_transaction {
        args.push("--single-transaction");
    }
    args.extend(["-f", "-"]);
    let (mut child, stderr) = psql.spawn(target, &args, true)?;
    let mut stdin = child.stdin.take().ok_or_else(|| Error::Tool {
        tool: "psql".into(),
        reason: "no stdin".into(),
    })?;
    let mut reader = source.open(object);
    let fed: Result<()> = async {
        while let Some(chunk) = reader.next().await? {
            if stdin.write_all(&chunk).await.is_err() {
                // psql stopped early: its exit status and stderr say why.
                return Ok(());
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = fed {
        let _ = child.kill().await;
        return Err(e);
    }
    drop(stdin);
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("waiting for psql", e))?;
    let err_text = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(Error::Restore(format!(
            "{} failed on {}: {}",
            object.name(),
            target.display(),
            if err_text.is_empty() {
                status.to_string()
            } else {
                err_text
            }
        )));
    }
    Ok(())
}

/// Applies `pg_dumpall --globals-only` output (roles, memberships, tablespaces) to the target
/// cluster. Roles that already exist (the superuser running the restore, at least) make
/// `CREATE ROLE` fail harmlessly; the `ALTER ROLE` that follows still sets their attributes.
/// Any other error fails the step.
pub async fn apply_globals(
    psql: &PgTool,
    target: &ConnSpec,
    source: &Source,
    object: &ObjectStats,
) -> Result<()> {
    let sql = source.read_text(object).await?;
    let maint = target.with_database("postgres");
    let conninfo = maint.libpq_conninfo();
    let args = ["-X", "-q", "--no-password", "-d", &conninfo, "-f", "-"];
    let (mut child, stderr) = psql.spawn(&maint, &args, true)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(sql.as_bytes()).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("waiting for psql", e))?;
    let errors: Vec<String> = stderr
        .await
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ERROR:") && !l.contains("already exists"))
        .map(str::to_string)
        .collect();
    if !status.success() || !errors.is_empty() {
        return Err(Error::Restore(format!(
            "applying roles and tablespaces to {}: {}",
            maint.display(),
            errors.join("; ")
        )));
    }
    Ok(())
}
