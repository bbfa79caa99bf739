//! Runs pg_dump / pg_dumpall and streams their output into a repository object.

use tokio::io::AsyncReadExt;

use crate::error::{Error, Result, ToolFailure};
use crate::pipeline::{ObjectStats, ObjectWriter};
use crate::postgres::{ConnSpec, PgTool};

/// Runs `tool args…` against `conn`, writing its stdout into `writer`. The object is
/// completed only if the tool exits successfully; otherwise it is abandoned.
pub async fn stream_tool(
    tool: &PgTool,
    conn: &ConnSpec,
    args: &[String],
    mut writer: ObjectWriter,
) -> Result<ObjectStats> {
    let name = tool.name();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, stderr) = tool.spawn(conn, &args, false)?;
    let mut stdout = child.stdout.take().ok_or_else(|| Error::Tool {
        tool: name.clone(),
        failure: ToolFailure::NoPipe("stdout"),
    })?;
    let mut buf = vec![0u8; 256 * 1024];
    let copy: Result<()> = async {
        loop {
            let n = stdout
                .read(&mut buf)
                .await
                .map_err(|e| Error::io(format!("reading {name} output"), e))?;
            if n == 0 {
                return Ok(());
            }
            writer.write(&buf[..n]).await?;
        }
    }
    .await;
    if let Err(e) = copy {
        let _ = child.kill().await;
        return Err(e);
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io(format!("waiting for {name}"), e))?;
    let err_text = stderr.await.unwrap_or_default();
    if !status.success() {
        return Err(tool.exit_error(conn, status, err_text));
    }
    if !err_text.is_empty() {
        tracing::warn!(tool = %name, "{err_text}");
    }
    writer.finish().await
}

/// pg_dump arguments for one section of a database, read in the exported snapshot.
pub fn pg_dump_args(
    conn: &ConnSpec,
    snapshot: &str,
    section: &str,
    lock_timeout_secs: u64,
) -> Vec<String> {
    let mut args = vec![
        format!("--dbname={}", conn.libpq_conninfo()),
        format!("--snapshot={snapshot}"),
        format!("--section={section}"),
        "--no-password".into(),
        "--quote-all-identifiers".into(),
    ];
    if lock_timeout_secs > 0 {
        args.push(format!("--lock-wait-timeout={}", lock_timeout_secs * 1000));
    }
    if section == "data" {
        // Only large objects: table rows go through our own parallel COPY, and sequence
        // values are read in the snapshot by lifeboat.
        args.push("--exclude-table-data=*.*".into());
        args.push("-b".into());
    }
    args
}
