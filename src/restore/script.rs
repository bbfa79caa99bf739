//! Running the SQL objects of a backup: large ones streamed through psql, small ones read
//! whole and run over our own connection.

use tokio::io::AsyncWriteExt;
use tokio_postgres::error::SqlState;

use crate::error::{Error, Result, ToolFailure};
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

    /// Reads a stream to its end, checking every checksum, and keeps nothing: proof that it
    /// can be restored before anything is written.
    pub async fn verify(&self, object: &ObjectStats) -> Result<()> {
        let mut reader = self.open(object);
        while reader.next().await?.is_some() {}
        Ok(())
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
    let (mut child, mut stdin, stderr) = spawn_psql(psql, target, single_transaction)?;
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
    finish_psql(child, stderr, object.name(), target).await
}

/// Runs an SQL script held in memory (a schema section lifeboat rewrote) through psql,
/// as [`run_with_psql`] runs a stored one; `what` names it in errors.
pub async fn run_text_with_psql(
    psql: &PgTool,
    target: &ConnSpec,
    sql: &str,
    what: &str,
    single_transaction: bool,
) -> Result<()> {
    let (child, mut stdin, stderr) = spawn_psql(psql, target, single_transaction)?;
    // A write error means psql stopped early: its exit status and stderr say why.
    let _ = stdin.write_all(sql.as_bytes()).await;
    drop(stdin);
    finish_psql(child, stderr, what, target).await
}

type Stderr = tokio::task::JoinHandle<String>;

fn spawn_psql(
    psql: &PgTool,
    target: &ConnSpec,
    single_transaction: bool,
) -> Result<(tokio::process::Child, tokio::process::ChildStdin, Stderr)> {
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
    let stdin = child.stdin.take().ok_or_else(|| Error::Tool {
        tool: "psql".into(),
        failure: ToolFailure::NoPipe("stdin"),
    })?;
    Ok((child, stdin, stderr))
}

async fn finish_psql(
    mut child: tokio::process::Child,
    stderr: Stderr,
    what: &str,
    target: &ConnSpec,
) -> Result<()> {
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("waiting for psql", e))?;
    let err_text = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(Error::Restore(format!(
            "{what} failed on {}: {}",
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
/// `CREATE ROLE` fail harmlessly (SQLSTATE 42710, duplicate object); the `ALTER ROLE` that
/// follows still sets their attributes. Any other error fails the step.
pub async fn apply_globals(
    psql: &PgTool,
    target: &ConnSpec,
    source: &Source,
    object: &ObjectStats,
) -> Result<()> {
    let sql = source.read_text(object).await?;
    let maint = target.with_database("postgres");
    let conninfo = maint.libpq_conninfo();
    // Verbose errors carry their SQLSTATE: `ERROR:  42710: role "x" already exists`.
    let args = [
        "-X",
        "-q",
        "-v",
        "VERBOSITY=verbose",
        "--no-password",
        "-d",
        &conninfo,
        "-f",
        "-",
    ];
    let (mut child, stderr) = psql.spawn(&maint, &args, true)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(sql.as_bytes()).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("waiting for psql", e))?;
    let errors = unexpected_errors(&stderr.await.unwrap_or_default());
    if !status.success() || !errors.is_empty() {
        return Err(Error::Restore(format!(
            "applying roles and tablespaces to {}: {}",
            maint.display(),
            errors.join("; ")
        )));
    }
    Ok(())
}

/// psql's error lines other than "already exists" (duplicate object).
fn unexpected_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("ERROR:"))
        .filter(|l| sqlstate(l) != Some(SqlState::DUPLICATE_OBJECT.code()))
        .map(str::to_string)
        .collect()
}

/// The SQLSTATE of a verbose psql error line (`…ERROR:  42710: message`).
fn sqlstate(line: &str) -> Option<&str> {
    let (_, after) = line.split_once("ERROR:")?;
    let (code, _) = after.trim_start().split_once(':')?;
    (code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric())).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::unexpected_errors;

    #[test]
    fn only_duplicate_objects_are_expected() {
        let stderr = "psql:<stdin>:14: ERROR:  42710: role \"postgres\" already exists\n\
                      LOCATION:  CreateRole, user.c:143\n\
                      psql:<stdin>:20: ERROR:  42501: permission denied to create role\n";
        assert_eq!(
            unexpected_errors(stderr),
            ["psql:<stdin>:20: ERROR:  42501: permission denied to create role"]
        );
        // A message that merely says "already exists" without the SQLSTATE is not excused.
        assert_eq!(unexpected_errors("ERROR:  role x already exists").len(), 1);
    }
}
