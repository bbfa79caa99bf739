//! A repository in a local directory (or a mounted network filesystem).

use bytes::Bytes;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ObjectInfo;
use crate::error::{Error, Result};
use crate::pipeline::{Chunk, ChunkReceiver, ChunkSender, PLAIN_BLOCK};

/// Temporary files carry this marker until they are renamed into place.
const PARTIAL_MARKER: &str = ".partial-";

/// Runs filesystem calls that wait on the disk (fsync, directory changes) off the runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

/// Flushes the directory entry of `path` to disk.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

pub struct LocalRepo {
    root: PathBuf,
}

impl LocalRepo {
    pub fn new(root: PathBuf) -> Self {
        LocalRepo { root }
    }

    pub fn name(&self) -> String {
        self.root.display().to_string()
    }

    fn err(&self, what: String, e: std::io::Error) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: format!("{what}: {e}"),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn temp_path(&self, key: &str) -> PathBuf {
        let suffix: u32 = rand::random();
        self.path(&format!(
            "{key}{PARTIAL_MARKER}{}-{suffix:08x}",
            std::process::id()
        ))
    }

    /// Creates the missing directories above `path`, each made durable in its parent, so an
    /// object that survives a power loss is never in a directory that does not.
    async fn create_parent(&self, path: &Path) -> Result<()> {
        let Some(parent) = path.parent().map(Path::to_path_buf) else {
            return Ok(());
        };
        let shown = parent.display().to_string();
        blocking(move || {
            let mut missing = Vec::new();
            let mut dir = parent.as_path();
            while !dir.is_dir() {
                missing.push(dir.to_path_buf());
                match dir.parent() {
                    Some(up) => dir = up,
                    None => break,
                }
            }
            for d in missing.iter().rev() {
                match std::fs::create_dir(d) {
                    Ok(()) => sync_parent(d)?,
                    // Another worker created it first, and synced it.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| self.err(format!("cannot create {shown}"), e))
    }

    /// Makes a finished (flushed) temporary file the object: rename, then flush the
    /// directory entry, so a crash leaves the old state or the whole new object.
    async fn commit(&self, tmp: &Path, key: &str) -> Result<()> {
        let (tmp, dest) = (tmp.to_path_buf(), self.path(key));
        blocking(move || {
            std::fs::rename(&tmp, &dest)?;
            sync_parent(&dest)
        })
        .await
        .map_err(|e| self.err(format!("cannot move {key} into place"), e))
    }

    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<()> {
        let tmp = self.temp_path(key);
        self.create_parent(&tmp).await?;
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            f.write_all(&data).await?;
            f.sync_all().await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(self.err(format!("cannot write {key}"), e));
        }
        self.commit(&tmp, key).await
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        match tokio::fs::read(self.path(key)).await {
            Ok(v) => Ok(Bytes::from(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                repo: self.name(),
                key: key.to_string(),
            }),
            Err(e) => Err(self.err(format!("cannot read {key}"), e)),
        }
    }

    pub async fn put_stream(&self, key: &str, mut rx: ChunkReceiver) -> Result<()> {
        let tmp = self.temp_path(key);
        self.create_parent(&tmp).await?;
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| self.err(format!("cannot create {}", tmp.display()), e))?;
        let outcome: Result<bool> = async {
            while let Some(chunk) = rx.recv().await {
                match chunk {
                    Chunk::Data(b) => file
                        .write_all(&b)
                        .await
                        .map_err(|e| self.err(format!("cannot write {key}"), e))?,
                    Chunk::End => {
                        file.sync_all()
                            .await
                            .map_err(|e| self.err(format!("cannot flush {key}"), e))?;
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        .await;
        drop(file);
        match outcome {
            Ok(true) => self.commit(&tmp, key).await,
            Ok(false) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(self.err(
                    format!("{key}: aborted"),
                    std::io::ErrorKind::Interrupted.into(),
                ))
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    pub async fn get_stream(&self, key: &str, tx: ChunkSender) -> Result<()> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    repo: self.name(),
                    key: key.to_string(),
                })
            }
            Err(e) => return Err(self.err(format!("cannot open {key}"), e)),
        };
        loop {
            let mut buf = bytes::BytesMut::with_capacity(PLAIN_BLOCK);
            let n = file
                .read_buf(&mut buf)
                .await
                .map_err(|e| self.err(format!("cannot read {key}"), e))?;
            let chunk = if n == 0 {
                Chunk::End
            } else {
                Chunk::Data(buf.freeze())
            };
            let end = matches!(chunk, Chunk::End);
            if tx.send(chunk).await.is_err() || end {
                return Ok(());
            }
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let root = self.root.clone();
        let start = self.path(prefix);
        let name = self.name();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &start, &mut out).map_err(|e| Error::Repository {
                repo: name,
                reason: format!("cannot list {}: {e}", start.display()),
            })?;
            out.sort_by(|a: &ObjectInfo, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| self.err("listing failed".into(), std::io::Error::other(e)))?
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(format!("cannot delete {key}"), e)),
        }
    }

    /// Removes directories left empty under `prefix` after its objects were deleted.
    pub fn remove_empty_dirs(&self, prefix: &str) {
        fn prune(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        prune(&e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        prune(&self.path(prefix));
    }

    pub async fn check_reachable(&self) -> Result<()> {
        let meta = tokio::fs::metadata(&self.root).await.map_err(|e| {
            self.err(
                "the directory cannot be read (create it with `lifeboat init`)".into(),
                e,
            )
        })?;
        if !meta.is_dir() {
            return Err(Error::Repository {
                repo: self.name(),
                reason: "is not a directory".into(),
            });
        }
        Ok(())
    }
}

/// Collects files below `dir`, with keys relative to `root`. Leftover temporary files are
/// listed too (under their own names), so cleanup can find them; readers never ask for them.
fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            let meta = entry.metadata()?;
            let key = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(ObjectInfo {
                key,
                size: meta.len(),
                modified: meta.modified().ok().map(chrono::DateTime::from),
            });
        }
    }
    Ok(())
}
