//! zstd compression on the C library's streaming API (`ZSTD_compressStream2`), for two things
//! the `zstd` crate's encoder cannot do (issue 14, measured on narrow rows):
//!
//! - **No pre-splitting of blocks.** zstd 1.5.7 fingerprints every 128 KiB block to decide
//!   whether to split it (`ZSTD_c_blockSplitterLevel`, an experimental parameter the crate
//!   does not expose). Over the COPY text of pgbench_accounts (978 MB) it cost 23% of zstd's
//!   time (median 0.60 s → 0.46 s) and saved nothing: the output was the same size, as it was
//!   on md5-filled wide rows (298 MB) and on mixed rows (164 MB of numbers, timestamps, text
//!   and JSON). zstd 1.5.4, the `zstd` command lifeboat is measured against, has no
//!   pre-splitter.
//! - **One context per thread, reused.** A context is ~5 MiB of tables and buffers at level
//!   3; a fresh one per stream has every page faulted in and zeroed again. A finished
//!   stream's context is kept for the next stream on the same thread.
//!
//! Everything else is zstd's defaults: the level, a content checksum in every frame (the
//! decoder checks it), and worker threads when asked for.

use std::cell::RefCell;
use std::ffi::CStr;
use std::io::{self, Write};
use std::ptr::NonNull;
use zstd_sys as sys;

/// `ZSTD_c_blockSplitterLevel` (zstd.h: `ZSTD_c_experimentalParam20`); 1 means no splitting.
const BLOCK_SPLITTER_LEVEL: sys::ZSTD_cParameter = sys::ZSTD_cParameter::ZSTD_c_experimentalParam20;
const NO_SPLITTING: i32 = 1;

thread_local! {
    /// The context of the last stream this thread finished, for the next one.
    static SPARE: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// An owned compression context, freed on drop.
struct Context(NonNull<sys::ZSTD_CCtx>);

// SAFETY: a ZSTD_CCtx is plain memory (plus, with workers, a pool that is itself
// thread-safe); it may be used from any thread, one at a time, which `&mut self` ensures.
unsafe impl Send for Context {}

impl Context {
    /// The thread's spare context reset to defaults, or a new one.
    fn obtain() -> io::Result<Self> {
        if let Some(spare) = SPARE.with(|s| s.borrow_mut().take()) {
            // SAFETY: the context is valid (owned); the directive is a valid enum value.
            let reset = unsafe {
                sys::ZSTD_CCtx_reset(
                    spare.0.as_ptr(),
                    sys::ZSTD_ResetDirective::ZSTD_reset_session_and_parameters,
                )
            };
            if check(reset).is_ok() {
                return Ok(spare);
            }
        }
        // SAFETY: no arguments; a null result (out of memory) is handled.
        NonNull::new(unsafe { sys::ZSTD_createCCtx() })
            .map(Context)
            .ok_or_else(|| io::Error::other("zstd: cannot allocate a compression context"))
    }

    fn set(&mut self, parameter: sys::ZSTD_cParameter, value: i32) -> io::Result<()> {
        // SAFETY: the context is valid (owned); zstd checks the parameter and value.
        check(unsafe { sys::ZSTD_CCtx_setParameter(self.0.as_ptr(), parameter, value) }).map(drop)
    }

    /// Kept for the thread's next stream.
    fn keep(self) {
        SPARE.with(|s| *s.borrow_mut() = Some(self));
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the context is valid and owned, and not used after this.
        unsafe { sys::ZSTD_freeCCtx(self.0.as_ptr()) };
    }
}

/// zstd's result code as an error, with zstd's own name for it.
fn check(code: usize) -> io::Result<usize> {
    // SAFETY: pure functions of the code; the name is a static C string.
    if unsafe { sys::ZSTD_isError(code) } == 0 {
        return Ok(code);
    }
    let name = unsafe { CStr::from_ptr(sys::ZSTD_getErrorName(code)) };
    Err(io::Error::other(format!(
        "zstd: {}",
        name.to_string_lossy()
    )))
}

/// One zstd frame written through to `inner`. [`finish`](Self::finish) ends the frame;
/// dropping the encoder without it leaves the frame incomplete (an aborted stream).
pub struct ZstdEncoder<W: Write> {
    ctx: Context,
    out: Box<[u8]>,
    inner: W,
}

impl<W: Write> ZstdEncoder<W> {
    /// `workers` > 0 compresses on that many zstd threads; 0 on the caller's.
    pub fn new(inner: W, level: i32, workers: u32) -> io::Result<Self> {
        let mut ctx = Context::obtain()?;
        ctx.set(sys::ZSTD_cParameter::ZSTD_c_compressionLevel, level)?;
        ctx.set(sys::ZSTD_cParameter::ZSTD_c_checksumFlag, 1)?;
        ctx.set(BLOCK_SPLITTER_LEVEL, NO_SPLITTING)?;
        if workers > 0 {
            let workers = i32::try_from(workers).unwrap_or(i32::MAX);
            ctx.set(sys::ZSTD_cParameter::ZSTD_c_nbWorkers, workers)?;
        }
        // SAFETY: a pure function.
        let out_size = unsafe { sys::ZSTD_CStreamOutSize() };
        Ok(ZstdEncoder {
            ctx,
            out: vec![0u8; out_size].into_boxed_slice(),
            inner,
        })
    }

    /// Feeds `input` (all of it) with `end`, writing what zstd produces; for a flush or the
    /// frame's end, until zstd has nothing left to write.
    fn run(&mut self, input: &[u8], end: sys::ZSTD_EndDirective) -> io::Result<()> {
        let mut src = sys::ZSTD_inBuffer {
            src: input.as_ptr().cast(),
            size: input.len(),
            pos: 0,
        };
        loop {
            let mut dst = sys::ZSTD_outBuffer {
                dst: self.out.as_mut_ptr().cast(),
                size: self.out.len(),
                pos: 0,
            };
            // SAFETY: the context is valid (owned); `src` describes `input` and `dst` our
            // output buffer, both alive and unaliased for the call; zstd only advances `pos`
            // within `size`.
            let left = check(unsafe {
                sys::ZSTD_compressStream2(self.ctx.0.as_ptr(), &mut dst, &mut src, end)
            })?;
            if dst.pos > 0 {
                self.inner.write_all(&self.out[..dst.pos])?;
            }
            let done = match end {
                sys::ZSTD_EndDirective::ZSTD_e_continue => src.pos == src.size,
                _ => left == 0,
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Ends the frame (its checksum included) and returns the writer underneath.
    pub fn finish(mut self) -> io::Result<W> {
        self.run(&[], sys::ZSTD_EndDirective::ZSTD_e_end)?;
        let ZstdEncoder { ctx, inner, .. } = self;
        ctx.keep();
        Ok(inner)
    }
}

impl<W: Write> Write for ZstdEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.run(buf, sys::ZSTD_EndDirective::ZSTD_e_continue)?;
        Ok(buf.len())
    }

    /// Everything written so far is compressed and written through (the frame stays open).
    fn flush(&mut self) -> io::Result<()> {
        self.run(&[], sys::ZSTD_EndDirective::ZSTD_e_flush)?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("{i}\t{}\t0\t{:>84}\n", i / 1000, "").into_bytes())
            .collect()
    }

    fn compress(data: &[u8], workers: u32, chunk: usize) -> Vec<u8> {
        let mut z = ZstdEncoder::new(Vec::new(), 3, workers).expect("encoder");
        for piece in data.chunks(chunk.max(1)) {
            z.write_all(piece).expect("write");
        }
        z.finish().expect("finish")
    }

    #[test]
    fn round_trips_through_the_standard_decoder() {
        let data = sample(200_000);
        for (workers, chunk) in [(0, 1 << 20), (0, 1000), (2, 1 << 20)] {
            let frame = compress(&data, workers, chunk);
            assert!(frame.len() < data.len() / 10, "it compresses");
            let back = zstd::decode_all(&frame[..]).expect("decodes");
            assert!(back == data, "workers {workers}, writes of {chunk}");
        }
    }

    #[test]
    fn an_empty_stream_is_a_valid_frame_and_contexts_are_reused() {
        for _ in 0..3 {
            let frame = compress(&[], 0, 1);
            assert!(zstd::decode_all(&frame[..]).expect("decodes").is_empty());
        }
        assert!(
            SPARE.with(|s| s.borrow().is_some()),
            "the finished context is kept"
        );
    }

    #[test]
    fn frames_carry_a_checksum_the_decoder_checks() {
        let data = sample(10_000);
        let mut frame = compress(&data, 0, 4096);
        // The last 4 bytes are the content checksum.
        let n = frame.len();
        frame[n - 1] ^= 0xff;
        assert!(zstd::decode_all(&frame[..]).is_err());
    }

    #[test]
    fn a_flush_makes_everything_so_far_decodable() {
        let data = sample(5_000);
        let mut z = ZstdEncoder::new(Vec::new(), 3, 0).expect("encoder");
        z.write_all(&data).expect("write");
        z.flush().expect("flush");
        let so_far = z.inner.clone();
        let mut d = zstd::stream::read::Decoder::new(&so_far[..]).expect("decoder");
        let mut back = vec![0u8; data.len()];
        std::io::Read::read_exact(&mut d, &mut back).expect("everything written is there");
        assert!(back == data);
    }
}
