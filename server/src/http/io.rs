//! The one adapter between glommio's sockets and hyper's IO traits: the server's accepted
//! connections and the webhook client's outgoing ones (plain, or TLS over a glommio socket) all
//! go through `HyperIo`.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// Reads at most this much per call, so the part of hyper's buffer we must zero first (hyper
/// hands out uninitialised memory; futures' `AsyncRead` wants initialised) stays small.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// A futures-io byte stream (by default a glommio `TcpStream`) seen through hyper's IO traits.
pub struct HyperIo<S = TcpStream> {
    stream: S,
}

impl<S> HyperIo<S> {
    pub fn new(stream: S) -> Self {
        Self { stream }
    }
}

impl<S: AsyncRead + Unpin> hyper::rt::Read for HyperIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: we only hand out the prefix we initialise right here, and advance by what the
        // read reports, which never exceeds that prefix.
        let n = unsafe {
            let spare: &mut [MaybeUninit<u8>] = buf.as_mut();
            let len = spare.len().min(READ_CHUNK_BYTES);
            let spare = &mut spare[..len];
            for byte in spare.iter_mut() {
                byte.write(0);
            }
            let init = &mut *(spare as *mut [MaybeUninit<u8>] as *mut [u8]);
            match Pin::new(&mut self.stream).poll_read(cx, init) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        };
        // SAFETY: `n` bytes were written by the read above.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}

/// hyper's timer (header read timeout). hyper wants `Send + Sync` sleeps, which glommio's
/// executor-local timers are not; async-io's timers are.
#[derive(Clone, Copy, Debug)]
pub struct HyperTimer;

struct TimerSleep(async_io::Timer);

impl std::future::Future for TimerSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl hyper::rt::Sleep for TimerSleep {}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TimerSleep(async_io::Timer::after(duration)))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TimerSleep(async_io::Timer::at(deadline)))
    }
}
