//! A PostgreSQL session that speaks the protocol itself, for one job: streaming `COPY … TO
//! STDOUT` out of the server in bulk.
//!
//! A driver hands each `CopyData` message (one per row) to its caller as a separate value,
//! through its connection task: measured by callgrind on narrow rows, ~520 instructions per
//! row went to that and to lifeboat's per-row loop, more than zstd spent compressing the row
//! (issue 14). Here the socket is read in large buffers and the framing of every complete
//! message in the buffer is stripped in one tight loop, the rows copied back to back straight
//! into the pipeline's block: the cost per row is a header read and a `memcpy`. Once a COPY
//! is large, a TCP socket wakes its reader per batch that arrived rather than per send of the
//! server ([`BATCH`]): the other half of the client's cost was waking up ~120,000 times.
//!
//! The rest is the least a backup worker needs, with libpq's meanings: the hosts and ports of
//! the [`ConnSpec`] in order, TLS by `sslmode` (the same rustls configuration as every other
//! connection: `prefer` falls back to plain text, Unix sockets never use TLS), and password,
//! MD5 or SCRAM-SHA-256 authentication (without channel binding). Errors name the server and
//! keep the server's message, detail and hint. Dropping a session closes its socket: the
//! server ends the backend, as it does for any client that goes away.

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::frontend;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_postgres::config::Host;

use super::tls::{self, TlsMode};
use super::ConnSpec;
use crate::error::{Error, Result};
use crate::pipeline::{fits, ObjectWriter};
use crate::progress::Progress;

/// The socket is read this much at a time (more when one message is larger).
const READ: usize = 512 << 10;

/// While a COPY streams, a TCP socket wakes its reader only once this much has arrived
/// (`SO_RCVLOWAT`) instead of at every send of the server's 8 KiB output buffer. Measured at
/// pgbench scale 100 (978 MB of COPY text, --jobs 2): ~118,000 context switches per backup
/// became ~6,500, and system time 1.4 s became 0.3 s.
const BATCH: usize = 256 << 10;

/// A COPY is batched once it has streamed this much: small tables never wait for a batch.
const BATCH_AFTER: u64 = 1 << 20;

/// How long a batched read waits for a batch's worth before taking what has arrived: the
/// most a COPY's end (whose last messages are smaller than a batch) can be delayed.
const BATCH_WAIT: Duration = Duration::from_millis(5);

trait Socket: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Socket for T {}

pub struct WireSession {
    socket: Box<dyn Socket>,
    /// The TCP socket under `socket` (under TLS too), for `SO_RCVLOWAT`; none for Unix
    /// sockets, whose readiness ignores it. Owned by `socket`, so open while the session is.
    tcp_fd: Option<RawFd>,
    /// Bytes read from the server and not yet parsed.
    input: BytesMut,
    output: BytesMut,
    /// The message [`next_message`](Self::next_message) returned last.
    last: BytesMut,
    /// `user@host:port/db`, for errors.
    target: String,
}

/// One backend message, as sliced out of the input.
struct Message<'a> {
    tag: u8,
    body: &'a [u8],
}

impl WireSession {
    /// Connects and authenticates; the session is then idle, ready for queries.
    pub async fn connect(conn: &ConnSpec) -> Result<Self> {
        let config = conn.config_with_passfile();
        let hosts = config.get_hosts();
        let ports = config.get_ports();
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let mut last = None;
        for (i, host) in hosts.iter().enumerate() {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match tokio::time::timeout(timeout, Self::open(conn, host, port)).await {
                Ok(Ok((socket, tcp_fd))) => {
                    let mut session = WireSession {
                        socket,
                        tcp_fd,
                        input: BytesMut::with_capacity(READ),
                        output: BytesMut::new(),
                        last: BytesMut::new(),
                        target: conn.display(),
                    };
                    session.startup(&config).await?;
                    return Ok(session);
                }
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    last = Some(conn.fail(format!(
                        "cannot connect: no answer within {} s",
                        timeout.as_secs()
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| conn.fail("cannot connect: no host given".into())))
    }

    /// A socket to one host, with TLS as `sslmode` says, and its TCP descriptor.
    async fn open(
        conn: &ConnSpec,
        host: &Host,
        port: u16,
    ) -> Result<(Box<dyn Socket>, Option<RawFd>)> {
        let cannot = |e: std::io::Error| {
            conn.fail(format!(
                "cannot connect: {e}. Check that the server is running and the host and port \
                 are right"
            ))
        };
        let (name, tcp) = match host {
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let socket = tokio::net::UnixStream::connect(&path)
                    .await
                    .map_err(cannot)?;
                return Ok((Box::new(socket), None));
            }
            Host::Tcp(name) => {
                let tcp = tokio::net::TcpStream::connect((name.as_str(), port))
                    .await
                    .map_err(cannot)?;
                let _ = tcp.set_nodelay(true);
                (name.clone(), tcp)
            }
        };
        let fd = Some(tcp.as_raw_fd());
        let Some(config) = tls::client_config(conn.tls_mode(), conn.root_cert())? else {
            return Ok((Box::new(tcp), fd));
        };
        let mut tcp = tcp;
        let mut request = BytesMut::new();
        frontend::ssl_request(&mut request);
        tcp.write_all(&request).await.map_err(cannot)?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await.map_err(cannot)?;
        match answer[0] {
            b'S' => {
                let server = rustls::pki_types::ServerName::try_from(name)
                    .map_err(|e| conn.fail(format!("cannot connect: host name: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                    .connect(server, tcp)
                    .await
                    .map_err(|e| {
                        conn.fail(format!(
                            "cannot connect: TLS: {e}. Check sslmode, sslrootcert / \
                             PGSSLROOTCERT and the server's certificate"
                        ))
                    })?;
                Ok((Box::new(tls), fd))
            }
            b'N' if conn.tls_mode() == TlsMode::Prefer => Ok((Box::new(tcp), fd)),
            b'N' => Err(conn.fail(format!(
                "cannot connect: the server does not accept TLS, and sslmode is {}",
                conn.tls_mode().as_str()
            ))),
            other => Err(conn.fail(format!(
                "cannot connect: unexpected answer {other:#04x} to the TLS request"
            ))),
        }
    }

    /// The startup message, authentication, and the server's parameters, up to the first
    /// ReadyForQuery.
    async fn startup(&mut self, config: &tokio_postgres::Config) -> Result<()> {
        let user = config.get_user().unwrap_or("postgres");
        let mut params = vec![
            ("user", user),
            ("database", config.get_dbname().unwrap_or("postgres")),
            ("client_encoding", "UTF8"),
        ];
        if let Some(app) = config.get_application_name() {
            params.push(("application_name", app));
        }
        if let Some(options) = config.get_options() {
            params.push(("options", options));
        }
        frontend::startup_message(params, &mut self.output).map_err(|e| self.io(e))?;
        self.flush().await?;
        let password = config.get_password();
        let mut scram: Option<ScramSha256> = None;
        loop {
            let (tag, body) = {
                let m = self.next_message().await?;
                (m.tag, m.body.to_vec())
            };
            let data = body.get(4..).unwrap_or_default();
            match tag {
                b'R' => {
                    let code = be_i32(&body, 0);
                    match code {
                        0 => {}
                        3 => {
                            let p = self.need_password(password)?;
                            frontend::password_message(p, &mut self.output)
                                .map_err(|e| self.io(e))?;
                            self.flush().await?;
                        }
                        5 => {
                            let p = self.need_password(password)?;
                            let salt = match body.get(4..8) {
                                Some(b) => [b[0], b[1], b[2], b[3]],
                                None => return Err(self.fail("protocol error: no MD5 salt".into())),
                            };
                            let hashed = postgres_protocol::authentication::md5_hash(
                                user.as_bytes(),
                                p,
                                salt,
                            );
                            frontend::password_message(hashed.as_bytes(), &mut self.output)
                                .map_err(|e| self.io(e))?;
                            self.flush().await?;
                        }
                        10 => {
                            let mechanisms = cstrings(data);
                            if !mechanisms.contains(&SCRAM_SHA_256) {
                                return Err(self.fail(format!(
                                    "cannot connect: the server asks for SASL mechanism(s) {} \
                                     and lifeboat speaks SCRAM-SHA-256",
                                    mechanisms.join(", ")
                                )));
                            }
                            let p = self.need_password(password)?;
                            let s = ScramSha256::new(p, ChannelBinding::unsupported());
                            frontend::sasl_initial_response(
                                SCRAM_SHA_256,
                                s.message(),
                                &mut self.output,
                            )
                            .map_err(|e| self.io(e))?;
                            self.flush().await?;
                            scram = Some(s);
                        }
                        11 | 12 => {
                            let s = scram.as_mut().ok_or_else(|| {
                                self.fail(
                                    "the server continued a SASL exchange never started".into(),
                                )
                            })?;
                            let step = if code == 11 {
                                s.update(data)
                            } else {
                                s.finish(data)
                            };
                            step.map_err(|e| {
                                self.fail(format!("cannot connect: SCRAM authentication: {e}"))
                            })?;
                            if code == 11 {
                                frontend::sasl_response(s.message(), &mut self.output)
                                    .map_err(|e| self.io(e))?;
                                self.flush().await?;
                            }
                        }
                        other => {
                            return Err(self.fail(format!(
                                "cannot connect: the server asks for an authentication method \
                                 (code {other}) lifeboat does not speak; use password, md5 or \
                                 scram-sha-256 in pg_hba.conf for the backup role"
                            )))
                        }
                    }
                }
                b'E' => return Err(self.fail(format!("cannot connect: {}", server_error(&body)))),
                b'Z' => return Ok(()),
                // ParameterStatus, BackendKeyData, notices.
                _ => {}
            }
        }
    }

    fn need_password<'p>(&self, password: Option<&'p [u8]>) -> Result<&'p [u8]> {
        password.ok_or_else(|| {
            self.fail(
                "cannot connect: the server asks for a password and none was given. Give it \
                 with PGPASSWORD, a password file (~/.pgpass, PGPASSFILE) or the URL"
                    .into(),
            )
        })
    }

    /// Runs SQL with the simple query protocol (several statements allowed), failing with
    /// the server's error.
    pub async fn execute(&mut self, sql: &str, what: &str) -> Result<()> {
        self.send_query(sql).await?;
        let mut error = None;
        loop {
            let m = self.next_message().await?;
            match m.tag {
                b'E' => error = Some(server_error(m.body)),
                b'Z' => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(self.fail(format!("{what}: {e}"))),
            None => Ok(()),
        }
    }

    /// Runs a `COPY … TO STDOUT` and streams its rows into `writer`; returns the row count.
    /// A server error (before or during the copy) fails with the server's message, prefixed
    /// by `what`.
    pub async fn copy_out(
        &mut self,
        sql: &str,
        what: &str,
        writer: &mut ObjectWriter,
        progress: &Progress,
    ) -> Result<u64> {
        self.send_query(sql).await?;
        let mut batch = Batching::new(self.tcp_fd);
        let result = self.stream_copy(writer, progress, &mut batch).await;
        // The next query's answer is small: back to waking at its first byte.
        batch.stop();
        match result? {
            (_, Some(e)) => Err(self.fail(format!("{what}: {e}"))),
            (rows, None) => Ok(rows),
        }
    }

    /// The COPY's messages up to ReadyForQuery: the row count, and the server's error if
    /// one came.
    async fn stream_copy(
        &mut self,
        writer: &mut ObjectWriter,
        progress: &Progress,
        batch: &mut Batching,
    ) -> Result<(u64, Option<String>)> {
        let mut rows = 0u64;
        let mut error = None;
        let mut done = false;
        while !done {
            // The complete messages in the input, in one pass, the rows appended straight to
            // the pipeline's block until the next would not fit (a block never outgrows its
            // allocation, which would copy it; only a row larger than a block makes one grow).
            let mut at = 0;
            let mut full = false;
            let input = &self.input[..];
            let block = writer.pending();
            let before = block.len();
            while let Some((tag, body, next)) = frame(input, at) {
                match tag {
                    b'd' => {
                        if !fits(block, body.len()) {
                            full = true;
                            break;
                        }
                        block.extend_from_slice(body);
                        rows += 1;
                    }
                    b'E' => error = Some(server_error(body)),
                    b'Z' => {
                        done = true;
                        at = next;
                        break;
                    }
                    // CopyOutResponse, CopyDone, CommandComplete, notices, parameters.
                    _ => {}
                }
                at = next;
            }
            let streamed = block.len().saturating_sub(before) as u64;
            progress.inc(streamed);
            self.input.advance(at);
            if full {
                writer.send_pending().await?;
            }
            batch.streamed(streamed);
            if done || full {
                continue;
            }
            let filled = if batch.on {
                match tokio::time::timeout(BATCH_WAIT, self.fill()).await {
                    Ok(filled) => filled,
                    Err(_) => {
                        // Less than a batch came in time (the COPY's end, or a slow scan):
                        // the kernel signals what it holds as soon as the mark drops.
                        batch.stop();
                        self.fill().await
                    }
                }
            } else {
                self.fill().await
            };
            if let Err(e) = filled {
                // A server that ends the session says why first (FATAL): that is the error.
                return match error {
                    Some(server) => Ok((rows, Some(server))),
                    None => Err(e),
                };
            }
        }
        Ok((rows, error))
    }

    async fn send_query(&mut self, sql: &str) -> Result<()> {
        frontend::query(sql, &mut self.output).map_err(|e| self.io(e))?;
        self.flush().await
    }

    async fn flush(&mut self) -> Result<()> {
        let out = self.output.split();
        self.socket.write_all(&out).await.map_err(|e| self.io(e))?;
        self.socket.flush().await.map_err(|e| self.io(e))
    }

    /// Reads more from the server (at least one byte), making room for a message larger
    /// than the buffer.
    async fn fill(&mut self) -> Result<()> {
        let wanted = match header(&self.input, 0) {
            Some((_, len)) => (1 + len).saturating_sub(self.input.len()).max(READ),
            None => READ,
        };
        self.input.reserve(wanted);
        let n = self
            .socket
            .read_buf(&mut self.input)
            .await
            .map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(self.fail("the server closed the connection".into()));
        }
        Ok(())
    }

    /// The next whole message (reading as needed). Its bytes stay in the input until the
    /// next call.
    async fn next_message(&mut self) -> Result<Message<'_>> {
        loop {
            if let Some((_, len)) = header(&self.input, 0) {
                if len < 4 {
                    return Err(
                        self.fail("protocol error: a message shorter than its header".into())
                    );
                }
                if self.input.len() > len {
                    break;
                }
            }
            self.fill().await?;
        }
        let (tag, len) = header(&self.input, 0).unwrap_or((0, 4));
        let whole = self.input.split_to(1 + len);
        self.last = whole;
        Ok(Message {
            tag,
            body: &self.last[5..],
        })
    }

    fn io(&self, e: std::io::Error) -> Error {
        self.fail(format!("connection failed: {e}"))
    }

    fn fail(&self, reason: String) -> Error {
        Error::Postgres {
            target: self.target.clone(),
            reason,
        }
    }
}

/// Whether a COPY's socket wakes its reader per batch (`SO_RCVLOWAT` raised), and what it
/// streamed since it last woke per send.
struct Batching {
    fd: Option<RawFd>,
    on: bool,
    unbatched: u64,
}

impl Batching {
    fn new(fd: Option<RawFd>) -> Self {
        Batching {
            fd,
            on: false,
            unbatched: 0,
        }
    }

    /// Counts what a read brought; raises the mark once a COPY has shown itself large.
    fn streamed(&mut self, bytes: u64) {
        if self.on {
            return;
        }
        self.unbatched += bytes;
        if self.unbatched >= BATCH_AFTER {
            if let Some(fd) = self.fd {
                self.on = set_rcvlowat(fd, BATCH);
            }
            self.unbatched = 0;
        }
    }

    /// Back to waking at the first byte.
    fn stop(&mut self) {
        if let (true, Some(fd)) = (self.on, self.fd) {
            set_rcvlowat(fd, 1);
        }
        self.on = false;
    }
}

/// Sets `SO_RCVLOWAT`; whether it took. Lowering it wakes a reader waiting on fewer bytes
/// than the old mark (Linux checks readiness again when it is set). Elsewhere than Linux,
/// where readiness may ignore it, nothing is set.
fn set_rcvlowat(fd: RawFd, bytes: usize) -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is the session's TCP socket, open for as long as the session owns it (the
    // only caller's lifetime); the option value is a c_int read during the call only.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!("SO_RCVLOWAT not set: {}", std::io::Error::last_os_error());
    }
    rc == 0
}

/// The tag and length (without the tag byte) of the message at `at`, if its header is there.
fn header(input: &[u8], at: usize) -> Option<(u8, usize)> {
    let h = input.get(at..at + 5)?;
    Some((h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize))
}

/// The complete message at `at`: tag, body and where the next one starts.
fn frame(input: &[u8], at: usize) -> Option<(u8, &[u8], usize)> {
    let (tag, len) = header(input, at)?;
    let end = at + 1 + len.max(4);
    let body = input.get(at + 5..end)?;
    Some((tag, body, end))
}

fn be_i32(body: &[u8], at: usize) -> i32 {
    body.get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(-1)
}

/// NUL-terminated strings, up to an empty one.
fn cstrings(body: &[u8]) -> Vec<&str> {
    body.split(|b| *b == 0)
        .take_while(|s| !s.is_empty())
        .map(|s| std::str::from_utf8(s).unwrap_or("?"))
        .collect()
}

/// An ErrorResponse as the rest of lifeboat words a server error: the message, then the
/// detail in parentheses, then the hint.
fn server_error(body: &[u8]) -> String {
    let (mut message, mut detail, mut hint) = (None, None, None);
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).into_owned();
        match kind {
            b'M' => message = Some(value),
            b'D' => detail = Some(value),
            b'H' => hint = Some(value),
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    let mut s = message.unwrap_or_else(|| "unknown server error".into());
    if let Some(d) = detail {
        s.push_str(&format!(" ({d})"));
    }
    if let Some(h) = hint {
        s.push_str(&format!("; hint: {h}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn frames_are_cut_only_when_whole() {
        let mut input = msg(b'd', b"1\ta\n");
        input.extend(msg(b'd', b"2\tb\n"));
        input.extend(&msg(b'c', b"")[..3]);
        let (tag, body, next) = frame(&input, 0).unwrap();
        assert_eq!((tag, body), (b'd', &b"1\ta\n"[..]));
        let (_, body, next) = frame(&input, next).unwrap();
        assert_eq!(body, b"2\tb\n");
        assert!(
            frame(&input, next).is_none(),
            "a partial header is not a frame"
        );
        let short = &msg(b'd', b"abcdef")[..8];
        assert!(frame(short, 0).is_none(), "a partial body is not a frame");
    }

    #[test]
    fn server_errors_read_like_the_drivers() {
        let body = b"SERROR\0C42501\0Mpermission denied for table t\0Dthe detail\0Hthe hint\0\0";
        assert_eq!(
            server_error(body),
            "permission denied for table t (the detail); hint: the hint"
        );
        assert_eq!(
            cstrings(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
            ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        );
    }
}
