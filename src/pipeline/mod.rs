//! The streaming pipeline between PostgreSQL and the repository.
//!
//! Backup:  plaintext ─► keyed BLAKE3 ─► zstd ─► age ─► SHA-256 ─► storage
//! Restore: storage ─► SHA-256 ─► age ─► zstd ─► keyed BLAKE3 ─► PostgreSQL
//!
//! A stream larger than the segment size rolls over into a sequence of objects, each a
//! complete age file over complete zstd frames, so no single upload outgrows the part
//! size × concurrency that bounds memory.
//!
//! Compression and encryption run on a blocking thread per object, joined to the async
//! side by small bounded channels, so memory is set by chunk sizes and channel depths and
//! never by the size of the data. Every channel carries an explicit `End`: a stream that
//! stops without one was aborted, and nothing downstream treats it as complete.

mod channel;
mod compress;
mod decode;
mod encode;

pub use crate::repository::manifest::{ObjectStats, StoredObject};
pub use channel::{Chunk, ChunkReceiver, ChunkSender};
pub use decode::{ObjectReader, ReadChunk, ReadSource};
pub use encode::{fits, EncodeOptions, ObjectWriter, WriteTarget, DEFAULT_SEGMENT_BYTES};

/// Plaintext is coalesced into blocks this large before compression: COPY yields one
/// message per row, far too small to hand across threads one by one.
pub const PLAIN_BLOCK: usize = 1 << 20;

/// Depth of each channel in the pipeline, in blocks.
pub const CHANNEL_DEPTH: usize = 4;
