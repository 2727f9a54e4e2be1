//! The listener's limits: at most so many connections at once (the rest wait in the kernel's
//! backlog, holding none of the process's file descriptors), a connection must start its
//! request promptly, may not sit idle, and may not live for ever.

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 128;
/// From accepting a connection to its first bytes.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Between reads, once the request has started.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// However busy: a connection is closed after this (the sender opens another).
pub const MAX_LIFE: Duration = Duration::from_secs(120);

/// A TCP listener that hands out guarded connections, no more than its slots.
pub struct GuardedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl GuardedListener {
    pub fn new(inner: TcpListener) -> Self {
        GuardedListener {
            inner,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }
}

impl Listener for GuardedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        // Waiting here rather than accepting and dropping: a burst queues in the backlog.
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            // Never closed; were it, accepting would stop rather than run unbounded.
            return std::future::pending().await;
        };
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let now = Instant::now();
        (
            Guarded {
                stream,
                _slot: permit,
                timer: Box::pin(tokio::time::sleep(HEADER_TIMEOUT)),
                end_of_life: now + MAX_LIFE,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that fails with `TimedOut` once it has been quiet too long, or lived too long.
pub struct Guarded {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    timer: Pin<Box<Sleep>>,
    end_of_life: Instant,
}

impl Guarded {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready() || Instant::now() >= self.end_of_life
    }

    fn progressed(&mut self) {
        let next = (Instant::now() + IDLE_TIMEOUT).min(self.end_of_life);
        self.timer.as_mut().reset(next);
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle or too long")
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut me.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    me.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if me.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        match Pin::new(&mut me.stream).poll_write(cx, buf) {
            Poll::Pending if me.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
