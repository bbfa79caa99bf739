use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::channel::{Chunk, ChunkReceiver, HashingChannelWriter};
use super::{CHANNEL_DEPTH, PLAIN_BLOCK};
use crate::crypto::Recipient;
use crate::error::{Error, Result};
use crate::repository::Repository;

#[derive(Debug, Clone)]
pub struct EncodeOptions {
    pub zstd_level: i32,
    /// zstd worker threads per object; 0 compresses on the pipeline thread itself.
    pub zstd_workers: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            zstd_level: 3,
            zstd_workers: 0,
        }
    }
}

impl EncodeOptions {
    /// zstd worker threads per stream when `jobs` streams run at once: the cores each stream
    /// can have to itself, and none below two. A single worker thread only adds a copy of the
    /// input and a second compression context (measured on 2 cores with --jobs 2: same speed,
    /// peak RSS 124 MiB with one worker per stream, 55 MiB with none).
    pub fn workers_for(jobs: usize) -> u32 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match cores / jobs.max(1) {
            0 | 1 => 0,
            n => n as u32,
        }
    }
}

/// What the manifest records of one stored object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectStats {
    /// Key relative to the backup's directory.
    pub key: String,
    /// Size of the stored (encrypted) object and its SHA-256: `sha256sum` checks it by hand.
    pub size: u64,
    pub sha256: String,
    /// Size and BLAKE3 of the plaintext (SQL or COPY text), checked again on restore. BLAKE3
    /// rather than SHA-256 here: it hashes every byte of the database, and BLAKE3 is several
    /// times faster (`b3sum` checks it by hand).
    pub plain_size: u64,
    pub plain_blake3: String,
}

/// Streams plaintext into one encrypted, compressed repository object.
///
/// Dropping it without `finish` aborts: the encoder sees its input close without `End`,
/// and the upload is abandoned (multipart aborted, temporary file removed).
pub struct ObjectWriter {
    key: String,
    plain_tx: Option<mpsc::Sender<Chunk>>,
    buf: BytesMut,
    encoder: JoinHandle<Result<(u64, String, u64, String)>>,
    upload: JoinHandle<Result<()>>,
}

impl ObjectWriter {
    /// `full_key` is where the object goes in the repository; `key` is how the manifest names it.
    pub fn start(
        repo: Arc<Repository>,
        full_key: String,
        key: String,
        recipients: Arc<Vec<Recipient>>,
        opts: EncodeOptions,
    ) -> Self {
        let (plain_tx, plain_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (cipher_tx, cipher_rx) = mpsc::channel(CHANNEL_DEPTH);
        let object = key.clone();
        let encoder = tokio::task::spawn_blocking(move || {
            encode(
                plain_rx,
                HashingChannelWriter::new(cipher_tx, PLAIN_BLOCK),
                &recipients,
                &opts,
            )
            .map_err(|e| Error::Backup(format!("compressing/encrypting {object}: {e}")))
        });
        let upload = tokio::spawn(async move { repo.put_stream(&full_key, cipher_rx).await });
        ObjectWriter {
            key,
            plain_tx: Some(plain_tx),
            buf: BytesMut::with_capacity(PLAIN_BLOCK),
            encoder,
            upload,
        }
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.buf.len() + data.len() > PLAIN_BLOCK && !self.buf.is_empty() {
            let block = self.buf.split().freeze();
            self.send(block).await?;
        }
        if data.len() >= PLAIN_BLOCK {
            return self.send(Bytes::copy_from_slice(data)).await;
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    async fn send(&mut self, block: Bytes) -> Result<()> {
        let tx = self.plain_tx.as_ref().ok_or_else(|| self.closed())?;
        if tx.send(Chunk::Data(block)).await.is_err() {
            // The encoder or the upload stopped: report their error, not a broken pipe.
            self.plain_tx = None;
            return Err(self.failure().await);
        }
        Ok(())
    }

    fn closed(&self) -> Error {
        Error::Backup(format!("object {} already closed", self.key))
    }

    async fn failure(&mut self) -> Error {
        let upload = (&mut self.upload).await;
        let encoder = (&mut self.encoder).await;
        match (upload, encoder) {
            (Ok(Err(e)), _) => e,
            (_, Ok(Err(e))) => e,
            (Err(e), _) | (_, Err(e)) => Error::Backup(format!("{}: task failed: {e}", self.key)),
            _ => Error::Backup(format!("{}: pipeline stopped unexpectedly", self.key)),
        }
    }

    /// Completes the object: flushes, finishes the age and zstd streams, waits until the
    /// repository holds the whole object, and returns what the manifest records.
    pub async fn finish(mut self) -> Result<ObjectStats> {
        if !self.buf.is_empty() {
            let block = self.buf.split().freeze();
            self.send(block).await?;
        }
        let tx = self.plain_tx.take().ok_or_else(|| self.closed())?;
        if tx.send(Chunk::End).await.is_err() {
            return Err(self.failure().await);
        }
        drop(tx);
        let stats = match (&mut self.encoder).await {
            Ok(Ok(stats)) => stats,
            Ok(Err(e)) => {
                // The upload's error, if any, is the cause; the encoder only saw a closed pipe.
                return Err(match (&mut self.upload).await {
                    Ok(Err(up)) => up,
                    _ => e,
                });
            }
            Err(e) => return Err(Error::Backup(format!("{}: encoder failed: {e}", self.key))),
        };
        match (&mut self.upload).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(Error::Backup(format!("{}: upload failed: {e}", self.key))),
        }
        let (plain_size, plain_blake3, size, sha256) = stats;
        Ok(ObjectStats {
            key: self.key.clone(),
            size,
            sha256,
            plain_size,
            plain_blake3,
        })
    }
}

/// Blocking half: plaintext blocks in, age(zstd(plaintext)) out.
fn encode(
    mut rx: ChunkReceiver,
    sink: HashingChannelWriter,
    recipients: &[Recipient],
    opts: &EncodeOptions,
) -> std::io::Result<(u64, String, u64, String)> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| std::io::Error::other(format!("age: {e}")))?;
    let age_writer = encryptor.wrap_output(sink)?;
    let mut zstd = zstd::Encoder::new(age_writer, opts.zstd_level)?;
    zstd.include_checksum(true)?;
    if opts.zstd_workers > 0 {
        zstd.multithread(opts.zstd_workers)?;
    }
    let mut hash = blake3::Hasher::new();
    let mut plain = 0u64;
    loop {
        match rx.blocking_recv() {
            Some(Chunk::Data(block)) => {
                hash.update(&block);
                plain += block.len() as u64;
                zstd.write_all(&block)?;
            }
            Some(Chunk::End) => break,
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "aborted before the end of the data",
                ))
            }
        }
    }
    let age_writer = zstd.finish()?;
    let sink = age_writer.finish()?;
    let (size, sha) = sink.finish()?;
    Ok((plain, hash.finalize().to_hex().to_string(), size, sha))
}
