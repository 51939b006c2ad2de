//! Spots requests framed two ways: both `Transfer-Encoding` and `Content-Length`.
//!
//! hyper follows RFC 9112 §6.3: it drops the `Content-Length`, reads the body as chunked and
//! closes the connection afterwards, so the service cannot tell such a request from a plain
//! chunked one. The simulator refuses it instead (the RFC allows either): a front end and a
//! back end that disagree about where such a body ends are how requests get smuggled, and a
//! test double should not accept what a careful server may refuse.
//!
//! [`Sniff`] wraps the connection and follows the byte stream as hyper reads it: each request
//! head, then its body (by `Content-Length` or chunk sizes) to find the next head. The number
//! (1-based, per connection) of a request framed both ways goes into [`Framing`]; the service
//! counts its requests and refuses that one. Anything it cannot follow (a head too large, a
//! broken chunk) makes it stop watching the connection: hyper refuses such bytes itself.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest head followed; hyper refuses longer ones (431) on its own.
const MAX_HEAD: usize = 1 << 20;
/// Longest chunk-size or trailer line followed.
const MAX_LINE: usize = 4096;

/// Request extension: this request was framed both ways (refuse it).
#[derive(Debug, Clone, Copy)]
pub struct Ambiguous;

/// What [`Sniff`] found, shared with the connection's service.
#[derive(Debug, Default)]
pub struct Framing {
    /// Number of the request framed both ways, 0 when none.
    ambiguous: AtomicU64,
}

impl Framing {
    /// Whether request number `n` (1-based) of the connection was framed both ways.
    pub fn is_ambiguous(&self, n: u64) -> bool {
        n != 0 && self.ambiguous.load(Ordering::SeqCst) == n
    }
}

#[derive(Debug)]
enum State {
    /// Reading a head (bytes so far).
    Head(Vec<u8>),
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize(Vec<u8>),
    /// Skipping chunk data, then its CRLF (`n` counts both).
    ChunkData(u64),
    /// Reading trailer lines after the last chunk, until an empty one.
    Trailers(Vec<u8>),
    /// Not following any more.
    Lost,
}

/// The connection's byte stream, followed on its way to hyper.
pub struct Sniff<S> {
    inner: S,
    state: State,
    requests: u64,
    framing: Arc<Framing>,
}

impl<S> Sniff<S> {
    pub fn new(inner: S, framing: Arc<Framing>) -> Sniff<S> {
        Sniff {
            inner,
            state: State::Head(Vec::new()),
            requests: 0,
            framing,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Lost);
            self.state = match state {
                State::Lost => return,
                State::Head(mut buf) => {
                    // hyper skips blank lines before a request line.
                    if buf.is_empty() {
                        let skip = data
                            .iter()
                            .take_while(|b| **b == b'\r' || **b == b'\n')
                            .count();
                        data = &data[skip..];
                        if data.is_empty() {
                            self.state = State::Head(buf);
                            return;
                        }
                    }
                    let (line_end, used) = take_until(&mut buf, data, b"\r\n\r\n");
                    data = &data[used..];
                    match line_end {
                        None if buf.len() > MAX_HEAD => State::Lost,
                        None => State::Head(buf),
                        Some(()) => self.head(&buf),
                    }
                }
                State::Body(n) => {
                    let used = n.min(data.len() as u64);
                    data = &data[used as usize..];
                    if used == n {
                        State::Head(Vec::new())
                    } else {
                        State::Body(n - used)
                    }
                }
                State::ChunkSize(mut buf) => {
                    let (end, used) = take_until(&mut buf, data, b"\r\n");
                    data = &data[used..];
                    match end {
                        None if buf.len() > MAX_LINE => State::Lost,
                        None => State::ChunkSize(buf),
                        Some(()) => match chunk_size(&buf) {
                            Some(0) => State::Trailers(Vec::new()),
                            Some(n) => State::ChunkData(n.saturating_add(2)),
                            None => State::Lost,
                        },
                    }
                }
                State::ChunkData(n) => {
                    let used = n.min(data.len() as u64);
                    data = &data[used as usize..];
                    if used == n {
                        State::ChunkSize(Vec::new())
                    } else {
                        State::ChunkData(n - used)
                    }
                }
                State::Trailers(mut buf) => {
                    let (end, used) = take_until(&mut buf, data, b"\r\n");
                    data = &data[used..];
                    match end {
                        None if buf.len() > MAX_LINE => State::Lost,
                        None => State::Trailers(buf),
                        // An empty line ends the message.
                        Some(()) if buf.len() == 2 => State::Head(Vec::new()),
                        Some(()) => State::Trailers(Vec::new()),
                    }
                }
            };
        }
    }

    /// A complete head (ending in CRLF CRLF): counts the request and decides its body.
    fn head(&mut self, head: &[u8]) -> State {
        self.requests += 1;
        let mut te: Option<Vec<u8>> = None;
        let mut cl: Option<u64> = None;
        let mut has_cl = false;
        for line in head.split(|b| *b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                let all = te.get_or_insert_with(Vec::new);
                if !all.is_empty() {
                    all.push(b',');
                }
                all.extend_from_slice(value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                has_cl = true;
                cl = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
        }
        match (te, has_cl) {
            (Some(_), true) => {
                self.framing
                    .ambiguous
                    .store(self.requests, Ordering::SeqCst);
                // hyper closes the connection after answering it: nothing more to follow.
                State::Lost
            }
            (Some(te), false) => {
                let last = te.rsplit(|b| *b == b',').next().unwrap_or_default();
                if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    State::ChunkSize(Vec::new())
                } else {
                    State::Lost
                }
            }
            (None, true) => match cl {
                Some(0) => State::Head(Vec::new()),
                Some(n) => State::Body(n),
                None => State::Lost,
            },
            (None, false) => State::Head(Vec::new()),
        }
    }
}

/// Appends `data` to `buf` up to and including the first `end` in `buf + data`. Returns
/// whether `end` was found and how many bytes of `data` were used.
fn take_until(buf: &mut Vec<u8>, data: &[u8], end: &[u8]) -> (Option<()>, usize) {
    // Byte by byte: `end` may straddle what was buffered and what arrived.
    for (i, b) in data.iter().enumerate() {
        buf.push(*b);
        if buf.len() >= end.len() && buf[buf.len() - end.len()..] == *end {
            return (Some(()), i + 1);
        }
    }
    (None, data.len())
}

/// The size of a chunk-size line (`1a;ext=v\r\n`), hex.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n")?;
    let hex = line.split(|b| *b == b';').next()?.trim_ascii();
    u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniff<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.feed(&buf.filled()[before..]);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(chunks: &[&[u8]]) -> (u64, u64, bool) {
        let framing = Arc::new(Framing::default());
        let mut s = Sniff::new((), framing.clone());
        for c in chunks {
            s.feed(c);
        }
        let lost = matches!(s.state, State::Lost);
        (s.requests, framing.ambiguous.load(Ordering::SeqCst), lost)
    }

    #[test]
    fn follows_lengths_and_chunks_to_the_next_head() {
        let stream: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde\
            POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n\
            \r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(follow(&[stream]), (3, 0, false));
        // Byte by byte: the same.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(follow(&bytes), (3, 0, false));
    }

    #[test]
    fn a_head_with_both_framings_is_numbered_in_either_order() {
        let ok: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        let cl_te: &[u8] =
            b"POST / HTTP/1.1\r\ncontent-length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let te_cl: &[u8] =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(follow(&[ok, cl_te]), (2, 2, true));
        assert_eq!(follow(&[te_cl]), (1, 1, true));
        // A body that only looks like such a head is skipped, not read as one.
        let body = b"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
        let head = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
        assert_eq!(follow(&[head.as_bytes(), body, ok]), (2, 0, false));
    }

    #[test]
    fn what_it_cannot_follow_stops_it() {
        assert_eq!(
            follow(&[b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]),
            (1, 0, true)
        );
        assert_eq!(
            follow(&[b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"]),
            (1, 0, true)
        );
    }
}
