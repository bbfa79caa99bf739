//! A store in a local directory (or a mounted network filesystem).
//!
//! An object is written to a temporary file beside its key, flushed, renamed into place and
//! its directory flushed: a crash leaves the old state or the whole object. Temporary files
//! are never listed; `remove_debris` deletes those a crash left behind. Directories appear
//! with their first object and go with their last, as prefixes do in S3.

use async_trait::async_trait;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Listing, ObjectMeta, Storage};
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

fn is_temporary(name: &str) -> bool {
    name.contains(PARTIAL_MARKER)
}

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        LocalStore { root }
    }

    fn err(&self, what: String, e: std::io::Error) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: format!("{what}: {e}"),
        }
    }

    fn not_found(&self, key: &str) -> Error {
        Error::NotFound {
            repo: self.name(),
            key: key.to_string(),
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

    /// Creates a temporary file for `key`. A concurrent delete may remove an emptied
    /// directory between its creation and the file's: then the directory is made again.
    async fn create_temp(&self, key: &str) -> Result<(PathBuf, tokio::fs::File)> {
        let tmp = self.temp_path(key);
        let mut attempt = 0;
        loop {
            self.create_parent(&tmp).await?;
            match tokio::fs::File::create(&tmp).await {
                Ok(f) => return Ok((tmp, f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => attempt += 1,
                Err(e) => return Err(self.err(format!("cannot create {}", tmp.display()), e)),
            }
        }
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

    async fn discard(&self, tmp: &Path) {
        let _ = tokio::fs::remove_file(tmp).await;
    }
}

#[async_trait]
impl Storage for LocalStore {
    fn name(&self) -> String {
        self.root.display().to_string()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let (tmp, mut f) = self.create_temp(key).await?;
        let written = async {
            f.write_all(&data).await?;
            f.sync_all().await
        }
        .await;
        drop(f);
        if let Err(e) = written {
            self.discard(&tmp).await;
            return Err(self.err(format!("cannot write {key}"), e));
        }
        self.commit(&tmp, key).await
    }

    async fn put_stream(&self, key: &str, mut rx: ChunkReceiver) -> Result<()> {
        let (tmp, mut file) = self.create_temp(key).await?;
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
                self.discard(&tmp).await;
                Err(Error::Repository {
                    repo: self.name(),
                    reason: format!("upload of {key} aborted before its end"),
                })
            }
            Err(e) => {
                self.discard(&tmp).await;
                Err(e)
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        match tokio::fs::read(self.path(key)).await {
            Ok(v) => Ok(Bytes::from(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.not_found(key)),
            Err(e) => Err(self.err(format!("cannot read {key}"), e)),
        }
    }

    async fn get_stream(&self, key: &str, offset: u64, tx: ChunkSender) -> Result<()> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.not_found(key)),
            Err(e) => return Err(self.err(format!("cannot open {key}"), e)),
        };
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| self.err(format!("cannot seek in {key}"), e))?;
        }
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

    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        let name = self.name();
        blocking(move || list_dir(&root, &prefix, delimited))
            .await
            .map_err(|e| Error::Repository {
                repo: name,
                reason: format!("cannot list: {e}"),
            })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(meta_of(key.to_string(), &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(format!("cannot read {key}"), e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.err(format!("cannot delete {key}"), e)),
        }
        // Directories go with their last object, up to (not including) the root.
        let root = self.root.clone();
        let _ = blocking(move || {
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == root || !d.starts_with(&root) || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await;
        Ok(())
    }

    async fn check_reachable(&self) -> Result<()> {
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

    async fn remove_debris(&self, prefix: &str, older_than: chrono::Duration) -> Result<usize> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        let cutoff =
            std::time::SystemTime::now() - older_than.to_std().unwrap_or(std::time::Duration::ZERO);
        blocking(move || {
            let mut removed = 0;
            remove_temporaries(&root, &root, &prefix, cutoff, &mut removed)?;
            Ok(removed)
        })
        .await
        .map_err(|e| self.err("cannot remove leftover temporary files".into(), e))
    }
}

/// Lists `prefix` (which need not end at a directory boundary).
fn list_dir(root: &Path, prefix: &str, delimited: bool) -> std::io::Result<Listing> {
    let base = match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    };
    let mut out = Listing::default();
    let Some(entries) = read_dir_if_exists(&root.join(base))? else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{base}{name}");
        let ft = entry.file_type()?;
        if ft.is_dir() {
            let sub = format!("{key}/");
            // `base` ends at the prefix's last `/`, so a directory below it either starts
            // with the prefix or is outside it.
            if !sub.starts_with(prefix) {
                continue;
            }
            if delimited {
                if has_object(&entry.path())? {
                    out.prefixes.push(sub);
                }
            } else {
                walk(root, &entry.path(), prefix, &mut out.objects)?;
            }
        } else if ft.is_file() && key.starts_with(prefix) && !is_temporary(&name) {
            out.objects.push(meta_of(key, &entry.metadata()?));
        }
    }
    out.objects.sort_by(|a, b| a.key.cmp(&b.key));
    out.prefixes.sort();
    Ok(out)
}

/// A directory's entries, or `None` if it does not exist (never made, or removed by a
/// concurrent delete: nothing there either way).
fn read_dir_if_exists(dir: &Path) -> std::io::Result<Option<std::fs::ReadDir>> {
    match std::fs::read_dir(dir) {
        Ok(e) => Ok(Some(e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn meta_of(key: String, m: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        key,
        size: m.len(),
        modified: m.modified().ok().map(chrono::DateTime::from),
        retain_until: None,
    }
}

/// Collects the objects below `dir` whose keys start with `prefix`.
fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
    let Some(entries) = read_dir_if_exists(dir)? else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(root, &path, prefix, out)?;
        } else if ft.is_file() {
            let name = entry.file_name();
            if is_temporary(&name.to_string_lossy()) {
                continue;
            }
            let key = key_of(root, &path);
            if key.starts_with(prefix) {
                out.push(meta_of(key, &entry.metadata()?));
            }
        }
    }
    Ok(())
}

fn key_of(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a directory holds at least one object (stopping at the first).
fn has_object(dir: &Path) -> std::io::Result<bool> {
    let Some(entries) = read_dir_if_exists(dir)? else {
        return Ok(false);
    };
    for entry in entries {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_file() && !is_temporary(&entry.file_name().to_string_lossy()) {
            return Ok(true);
        }
        if ft.is_dir() && has_object(&entry.path())? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn remove_temporaries(
    root: &Path,
    dir: &Path,
    prefix: &str,
    cutoff: std::time::SystemTime,
    removed: &mut usize,
) -> std::io::Result<()> {
    let Some(entries) = read_dir_if_exists(dir)? else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            let key = format!("{}/", key_of(root, &entry.path()));
            if key.starts_with(prefix) || prefix.starts_with(&key) {
                remove_temporaries(root, &entry.path(), prefix, cutoff, removed)?;
            }
        } else if ft.is_file() && is_temporary(&entry.file_name().to_string_lossy()) {
            if !key_of(root, &entry.path()).starts_with(prefix) {
                continue;
            }
            let old = entry.metadata()?.modified().is_ok_and(|t| t <= cutoff);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                *removed += 1;
            }
        }
    }
    // A directory emptied of its debris goes too, as with the last object's delete.
    if dir != root {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}
