use bytes::{Bytes, BytesMut};
use std::io::{BufReader, Read};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::channel::{ChunkSender, DownloadStopped, HashingChannelReader};
use super::{CHANNEL_DEPTH, PLAIN_BLOCK};
use crate::crypto::{Identity, PlainHasher};
use crate::error::{Error, Result};
use crate::repository::manifest::{ObjectStats, StoredObject};
use crate::storage::{get_stream_resuming, RetryPolicy, Storage};

/// What the decoder hands the consumer.
#[derive(Debug)]
pub enum ReadChunk {
    Data(Bytes),
    /// The whole stream was read and every checksum and size matched the manifest.
    Verified,
}

/// Where a reader's objects come from and how they are opened.
#[derive(Clone)]
pub struct ReadSource {
    pub store: Arc<dyn Storage>,
    /// `backups/<id>/`
    pub prefix: String,
    pub identities: Arc<Vec<Identity>>,
    pub hasher: PlainHasher,
}

/// A download the decoder asks for: a storage key and where to send its bytes.
type Download = (String, ChunkSender);

/// Streams one stream (one or more objects) out of the store as verified plaintext.
///
/// Consumers must not commit what they loaded until `next` returns `Ok(None)`: only then
/// have every object's SHA-256 and the plaintext's hash been checked against the manifest.
pub struct ObjectReader {
    name: String,
    rx: mpsc::Receiver<ReadChunk>,
    decoder: Option<JoinHandle<Result<()>>>,
    download: Option<JoinHandle<Result<()>>>,
}

impl ObjectReader {
    pub fn open(source: &ReadSource, expected: ObjectStats) -> Self {
        let (request_tx, mut request_rx) = mpsc::channel::<Download>(1);
        let (plain_tx, plain_rx) = mpsc::channel(CHANNEL_DEPTH);
        let name = expected.name().to_string();
        let store = source.store.clone();
        let download = tokio::spawn(async move {
            let policy = RetryPolicy::default();
            while let Some((key, tx)) = request_rx.recv().await {
                get_stream_resuming(store.clone(), &key, tx, &policy).await?;
            }
            Ok(())
        });
        let s = source.clone();
        let decoder =
            tokio::task::spawn_blocking(move || decode(&s, request_tx, plain_tx, &expected));
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

    /// The next block of plaintext; `Ok(None)` once the stream is complete and verified.
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

/// Whether the consumer is still reading.
enum Flow {
    Continue,
    ConsumerGone,
}

fn decode(
    source: &ReadSource,
    downloads: mpsc::Sender<Download>,
    tx: mpsc::Sender<ReadChunk>,
    expected: &ObjectStats,
) -> Result<()> {
    let mut plain_hash = source.hasher.hasher();
    let mut plain_size = 0u64;
    for part in &expected.parts {
        let (cipher_tx, cipher_rx) = mpsc::channel(CHANNEL_DEPTH);
        if downloads
            .blocking_send((format!("{}{}", source.prefix, part.key), cipher_tx))
            .is_err()
        {
            return Err(Error::Restore(format!("{}: download stopped", part.key)));
        }
        let flow = decode_part(
            source,
            HashingChannelReader::new(cipher_rx),
            &tx,
            part,
            &mut |block: &[u8]| {
                plain_hash.update(block);
                plain_size += block.len() as u64;
            },
        )?;
        if let Flow::ConsumerGone = flow {
            // The consumer stopped reading; its own error is the one to report.
            return Ok(());
        }
    }
    let plain_hash = plain_hash.finalize().to_hex().to_string();
    if plain_size != expected.plain_size || plain_hash != expected.plain_hash {
        return Err(Error::Corrupt {
            object: expected.name().to_string(),
            reason: format!(
                "decrypted content is {plain_size} bytes with hash {plain_hash}, the manifest \
                 says {} bytes with {}",
                expected.plain_size, expected.plain_hash
            ),
        });
    }
    let _ = tx.blocking_send(ReadChunk::Verified);
    Ok(())
}

/// Decrypts and decompresses one stored object, sending its plaintext on, then checks the
/// stored bytes' size and SHA-256.
fn decode_part(
    source: &ReadSource,
    mut input: HashingChannelReader,
    tx: &mpsc::Sender<ReadChunk>,
    part: &StoredObject,
    seen: &mut dyn FnMut(&[u8]),
) -> Result<Flow> {
    let object = part.key.as_str();
    {
        let decryptor =
            age::Decryptor::new_buffered(BufReader::with_capacity(64 * 1024, &mut input))
                .map_err(|e| classify(object, e))?;
        let stream = decryptor
            .decrypt(source.identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| classify(object, e))?;
        let mut zstd = zstd::Decoder::new(stream).map_err(|e| Error::Corrupt {
            object: object.to_string(),
            reason: e.to_string(),
        })?;
        let mut block = BytesMut::zeroed(PLAIN_BLOCK);
        loop {
            let n = read_full(&mut zstd, &mut block).map_err(|e| read_error(object, e))?;
            if n == 0 {
                break;
            }
            seen(&block[..n]);
            if tx
                .blocking_send(ReadChunk::Data(Bytes::copy_from_slice(&block[..n])))
                .is_err()
            {
                return Ok(Flow::ConsumerGone);
            }
        }
    }
    let (size, sha) = input
        .drain_and_digest()
        .map_err(|e| read_error(object, e))?;
    if size != part.size || sha != part.sha256 {
        return Err(Error::Corrupt {
            object: object.to_string(),
            reason: format!(
                "stored object is {size} bytes with SHA-256 {sha}, manifest says {} bytes with {}",
                part.size, part.sha256
            ),
        });
    }
    Ok(Flow::Continue)
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
    if DownloadStopped::is(&e) {
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
