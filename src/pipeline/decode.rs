use bytes::{Bytes, BytesMut};
use std::io::{BufReader, Read};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::channel::HashingChannelReader;
use super::encode::ObjectStats;
use super::{CHANNEL_DEPTH, PLAIN_BLOCK};
use crate::crypto::Identity;
use crate::error::{Error, Result};
use crate::repository::Repository;

/// What the decoder hands the consumer.
#[derive(Debug)]
pub enum ReadChunk {
    Data(Bytes),
    /// The whole object was read and both checksums and sizes matched the manifest.
    Verified,
}

/// Streams one object out of the repository as verified plaintext.
///
/// Consumers must not commit what they loaded until `next` returns `Ok(None)`: only then
/// have the object's SHA-256 and the plaintext's BLAKE3 been checked against the manifest.
pub struct ObjectReader {
    name: String,
    rx: mpsc::Receiver<ReadChunk>,
    decoder: Option<JoinHandle<Result<()>>>,
    download: Option<JoinHandle<Result<()>>>,
}

impl ObjectReader {
    pub fn open(
        repo: Arc<Repository>,
        full_key: String,
        expected: ObjectStats,
        identities: Arc<Vec<Identity>>,
    ) -> Self {
        let (cipher_tx, cipher_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (plain_tx, plain_rx) = mpsc::channel(CHANNEL_DEPTH);
        let name = expected.key.clone();
        let download = tokio::spawn(async move { repo.get_stream(&full_key, cipher_tx).await });
        let decoder = tokio::task::spawn_blocking(move || {
            decode(
                HashingChannelReader::new(cipher_rx),
                plain_tx,
                &expected,
                &identities,
            )
        });
        ObjectReader {
            name,
            rx: plain_rx,
            decoder: Some(decoder),
            download: Some(download),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next block of plaintext; `Ok(None)` once the object is complete and verified.
    pub async fn next(&mut self) -> Result<Option<Bytes>> {
        match self.rx.recv().await {
            Some(ReadChunk::Data(b)) => Ok(Some(b)),
            Some(ReadChunk::Verified) => Ok(None),
            None => Err(self.failure().await),
        }
    }

    async fn failure(&mut self) -> Error {
        // A failed download explains a decoder that saw its input end early.
        if let Some(h) = self.download.take() {
            match h.await {
                Ok(Err(e)) => return e,
                Err(e) => return Error::Restore(format!("{}: download failed: {e}", self.name)),
                Ok(Ok(())) => {}
            }
        }
        if let Some(h) = self.decoder.take() {
            match h.await {
                Ok(Err(e)) => return e,
                Err(e) => return Error::Restore(format!("{}: decoder failed: {e}", self.name)),
                Ok(Ok(())) => {}
            }
        }
        Error::Restore(format!("{}: stream stopped unexpectedly", self.name))
    }
}

fn decode(
    mut input: HashingChannelReader,
    tx: mpsc::Sender<ReadChunk>,
    expected: &ObjectStats,
    identities: &[Identity],
) -> Result<()> {
    let object = expected.key.as_str();
    let corrupt = |reason: String| Error::Corrupt {
        object: object.to_string(),
        reason,
    };
    let mut plain_hash = blake3::Hasher::new();
    let mut plain_size = 0u64;
    {
        let decryptor =
            age::Decryptor::new_buffered(BufReader::with_capacity(64 * 1024, &mut input))
                .map_err(|e| classify(object, e))?;
        let stream = decryptor
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| classify(object, e))?;
        let mut zstd = zstd::Decoder::new(stream).map_err(|e| corrupt(e.to_string()))?;
        let mut block = BytesMut::zeroed(PLAIN_BLOCK);
        loop {
            let n = read_full(&mut zstd, &mut block).map_err(|e| read_error(object, e))?;
            if n == 0 {
                break;
            }
            plain_hash.update(&block[..n]);
            plain_size += n as u64;
            if tx
                .blocking_send(ReadChunk::Data(Bytes::copy_from_slice(&block[..n])))
                .is_err()
            {
                // The consumer stopped reading; its own error is the one to report.
                return Ok(());
            }
        }
    }
    let (size, sha) = input
        .drain_and_digest()
        .map_err(|e| read_error(object, e))?;
    if size != expected.size || sha != expected.sha256 {
        return Err(corrupt(format!(
            "stored object is {size} bytes with SHA-256 {sha}, manifest says {} bytes with {}",
            expected.size, expected.sha256
        )));
    }
    let plain_hash = plain_hash.finalize().to_hex().to_string();
    if plain_size != expected.plain_size || plain_hash != expected.plain_blake3 {
        return Err(corrupt(format!(
            "decrypted content is {plain_size} bytes with BLAKE3 {plain_hash}, manifest says {} \
             bytes with {}",
            expected.plain_size, expected.plain_blake3
        )));
    }
    let _ = tx.blocking_send(ReadChunk::Verified);
    Ok(())
}

/// Fills `buf` as far as the stream allows, so blocks are large even from a chunky reader.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_error(object: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof && e.to_string().contains("download stopped") {
        return Error::Restore(format!("{object}: download stopped early"));
    }
    Error::Corrupt {
        object: object.to_string(),
        reason: format!(
            "{e} (the object was modified or truncated after it was written; restore an \
             older backup or check the storage)"
        ),
    }
}

fn classify(object: &str, e: age::DecryptError) -> Error {
    match e {
        age::DecryptError::NoMatchingKeys => Error::Decrypt {
            object: object.to_string(),
            reason: "none of the given identities matches its recipients".into(),
        },
        age::DecryptError::Io(io) => read_error(object, io),
        other => Error::Corrupt {
            object: object.to_string(),
            reason: format!("not a readable age file ({other})"),
        },
    }
}
