//! What protects the listener from clients that are slow, idle or too many: connection caps
//! per source address and in total, an idle timeout on every connection, and the settings
//! for the TLS handshake, header and body read timeouts applied elsewhere in `http`.
//!
//! A thousand clients that each send one header byte a second must not lock anyone else
//! out: each source address gets a bounded share of the connections, a connection that
//! sends nothing is closed, and one that sends its headers or body too slowly is too.

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Time limits and connection caps of the listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerSettings {
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// An HTTP/1.1 request's headers must arrive within this (also the longest a
    /// keep-alive connection waits for its next request).
    pub header_read_timeout: Duration,
    /// A request's whole body must arrive within this.
    pub body_read_timeout: Duration,
    /// A connection on which no byte moves for this long is closed (HTTP/2 included).
    pub idle_timeout: Duration,
    /// Open connections allowed from one source address.
    pub max_connections_per_source: usize,
    /// Open connections allowed in total (also bounded by the open-file limit).
    pub max_connections: usize,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections_per_source: 256,
            max_connections: 8_192,
        }
    }
}

/// Counts open connections per source address and in total.
#[derive(Debug)]
pub struct ConnectionLimits {
    per_source: usize,
    total: usize,
    by_source: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    refused: AtomicU64,
}

impl ConnectionLimits {
    pub fn new(per_source: usize, total: usize) -> Self {
        Self {
            per_source: per_source.max(1),
            total: total.max(1),
            by_source: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A permit for one more connection from `source`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, source: IpAddr) -> Option<ConnectionPermit> {
        let mut by_source = self.by_source.lock().expect("connection table poisoned");
        let from_source = by_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.per_source || self.open.load(Ordering::Acquire) >= self.total {
            drop(by_source);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        by_source.insert(source, from_source + 1);
        self.open.fetch_add(1, Ordering::AcqRel);
        Some(ConnectionPermit {
            limits: Arc::clone(self),
            source,
        })
    }

    fn release(&self, source: IpAddr) {
        let mut by_source = self.by_source.lock().expect("connection table poisoned");
        if let Some(count) = by_source.get_mut(&source) {
            *count -= 1;
            if *count == 0 {
                by_source.remove(&source);
            }
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Connections refused because a cap was reached, since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// One admitted connection; closing it gives its place back.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    source: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limits.release(self.source);
    }
}

/// A connection that holds its permit and fails its next read once no byte has moved in
/// either direction for the idle timeout.
pub struct Watched<S> {
    inner: S,
    _permit: ConnectionPermit,
    idle: Duration,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> Watched<S> {
    fn new(inner: S, permit: ConnectionPermit, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            _permit: permit,
            idle,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// Whether the connection has been idle for too long. The timer is not moved on every
    /// byte (that would touch the timer wheel for every request); when it fires early, it is
    /// re-armed for the last activity plus the idle timeout.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return false,
                Poll::Ready(()) => {
                    let deadline = self.last_activity + self.idle;
                    if deadline <= Instant::now() {
                        return true;
                    }
                    self.timer.as_mut().reset(deadline);
                }
            }
        }
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.last_activity = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.poll_idle(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.last_activity = Instant::now();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Admits a TCP connection if its source and the total are under their caps, watches it
/// for idleness, and hands it to the inner acceptor (TLS, or none for plain HTTP). A
/// refused connection is closed at once, before any TLS work.
#[derive(Clone)]
pub struct GuardedAcceptor<A> {
    inner: A,
    limits: Arc<ConnectionLimits>,
    idle: Duration,
}

impl<A> GuardedAcceptor<A> {
    pub fn new(inner: A, limits: Arc<ConnectionLimits>, idle: Duration) -> Self {
        Self {
            inner,
            limits,
            idle,
        }
    }
}

impl<A, S> Accept<TcpStream, S> for GuardedAcceptor<A>
where
    A: Accept<Watched<TcpStream>, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let permit = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.limits.admit(peer.ip()));
        match permit {
            Some(permit) => Box::pin(
                self.inner
                    .accept(Watched::new(stream, permit, self.idle), service),
            ),
            None => Box::pin(std::future::ready(Err(io::Error::other(
                "connection cap reached",
            )))),
        }
    }
}

/// Raises the soft limit on open files to the hard limit (the default soft limit of 1,024
/// would cap the service at about a thousand connections) and returns the soft limit now in
/// force, if it could be read.
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by pointer,
    // which lives on this stack frame for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_share_and_gives_it_back_when_a_connection_closes() {
        let limits = Arc::new(ConnectionLimits::new(2, 3));
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = limits.admit(a).expect("first");
        let _second = limits.admit(a).expect("second");
        assert!(limits.admit(a).is_none(), "a third from one source");
        let _other = limits.admit(b).expect("another source still gets in");
        assert!(limits.admit(b).is_none(), "the total cap holds");
        drop(first);
        assert!(
            limits.admit(a).is_some(),
            "a closed connection frees its place"
        );
        assert_eq!(limits.refused(), 2);
    }
}
