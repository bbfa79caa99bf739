use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A message on a pipeline channel. `End` marks a complete stream; a channel that closes
/// without it was aborted.
#[derive(Debug)]
pub enum Chunk {
    Data(Bytes),
    End,
}

pub type ChunkSender = mpsc::Sender<Chunk>;
pub type ChunkReceiver = mpsc::Receiver<Chunk>;

/// A `std::io::Write` that hashes and counts what passes and forwards it in blocks over a
/// channel, from a blocking thread to the async side.
pub struct HashingChannelWriter {
    tx: ChunkSender,
    buf: BytesMut,
    block: usize,
    hash: Sha256,
    bytes: u64,
    /// Bytes written so far, readable while the writer is buried under age and zstd.
    counter: Arc<AtomicU64>,
}

impl HashingChannelWriter {
    pub fn new(tx: ChunkSender, block: usize) -> Self {
        HashingChannelWriter {
            tx,
            buf: BytesMut::with_capacity(block),
            block,
            hash: Sha256::new(),
            bytes: 0,
            counter: Arc::default(),
        }
    }

    /// A handle on the count of bytes written.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.counter.clone()
    }

    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "downstream stopped"))
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let block = self.buf.split().freeze();
            self.send(Chunk::Data(block))?;
        }
        Ok(())
    }

    /// Sends the remainder and the `End` marker; returns (bytes, sha256 hex).
    pub fn finish(mut self) -> io::Result<(u64, String)> {
        self.flush_block()?;
        self.send(Chunk::End)?;
        Ok((self.bytes, hex::encode(self.hash.finalize_reset())))
    }
}

impl io::Write for HashingChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hash.update(data);
        self.bytes += data.len() as u64;
        self.counter.store(self.bytes, Ordering::Relaxed);
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.block - self.buf.len();
            let take = room.min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() >= self.block {
                self.flush_block()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `std::io::Read` over a channel of chunks, hashing and counting what it reads. Reading
/// past a stream that closed without `End` is an error, never a silent end of file.
pub struct HashingChannelReader {
    rx: ChunkReceiver,
    current: Bytes,
    ended: bool,
    hash: Sha256,
    bytes: u64,
}

impl HashingChannelReader {
    pub fn new(rx: ChunkReceiver) -> Self {
        HashingChannelReader {
            rx,
            current: Bytes::new(),
            ended: false,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    /// Reads and hashes whatever the consumer left unread (age stops at its last chunk),
    /// then returns (bytes, sha256 hex) of the whole stream.
    pub fn drain_and_digest(mut self) -> io::Result<(u64, String)> {
        let mut sink = [0u8; 64 * 1024];
        while io::Read::read(&mut self, &mut sink)? > 0 {}
        Ok((self.bytes, hex::encode(self.hash.finalize_reset())))
    }
}

impl io::Read for HashingChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => {
                    self.hash.update(&b);
                    self.bytes += b.len() as u64;
                    self.current = b;
                }
                Some(Chunk::End) => self.ended = true,
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        DownloadStopped,
                    ))
                }
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

/// The error a reader gets when the download feeding it stopped before the object's end:
/// the download's own error is the one to report.
#[derive(Debug, thiserror::Error)]
#[error("download stopped before the end of the object")]
pub struct DownloadStopped;

impl DownloadStopped {
    pub fn is(e: &io::Error) -> bool {
        e.get_ref()
            .is_some_and(|inner| inner.is::<DownloadStopped>())
    }
}
