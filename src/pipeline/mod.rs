//! The streaming pipeline between PostgreSQL and the repository.
//!
//! Backup:  plaintext ─► BLAKE3 ─► zstd ─► age ─► SHA-256 ─► repository
//! Restore: repository ─► SHA-256 ─► age ─► zstd ─► BLAKE3 ─► PostgreSQL
//!
//! Compression and encryption run on a blocking thread per object, joined to the async
//! side by small bounded channels, so memory is set by chunk sizes and channel depths and
//! never by the size of the data. Every channel carries an explicit `End`: a stream that
//! stops without one was aborted, and nothing downstream treats it as complete.

mod channel;
mod decode;
mod encode;

pub use channel::{Chunk, ChunkReceiver, ChunkSender};
pub use decode::{ObjectReader, ReadChunk};
pub use encode::{EncodeOptions, ObjectStats, ObjectWriter};

/// Plaintext is coalesced into blocks this large before compression: COPY yields one
/// message per row, far too small to hand across threads one by one.
pub const PLAIN_BLOCK: usize = 1 << 20;

/// Depth of each channel in the pipeline, in blocks.
pub const CHANNEL_DEPTH: usize = 4;
