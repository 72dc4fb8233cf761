//! The two clocks a connection runs on while no request is being handled:
//! how long a request's head may take, and how long a keep-alive
//! connection may sit with nothing to do.
//!
//! hyper's own `header_read_timeout` cannot tell the two apart: it starts
//! when hyper begins waiting for a head, which on a keep-alive connection
//! is as soon as the previous answer is written, so it also closes idle
//! connections. We turn it off and keep both clocks here instead.
//!
//! A connection is always in one [`Phase`]. Bytes arriving on an idle
//! connection start a head; hyper calling the service ends it; the service
//! future ending (answered, dropped or failed) makes the connection idle.
//! [`Timers::expired`] watches the phase and resolves once the current one
//! has outlived its limit; the connection is then dropped without an
//! answer, as hyper does when its own header timer fires.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What a connection is doing, and since when.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// A request's head is on its way, since this instant: the connection
    /// opened, or the first byte after an idle spell arrived. A connection
    /// that has sent nothing yet has not earned the idle allowance: it
    /// gets the head's.
    Head(Instant),
    /// A request is being handled; its own timeout bounds it.
    Request,
    /// Between requests, with no byte moved either way since this instant.
    Idle(Instant),
}

/// Why a connection was closed by its timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// A request's head took longer than the header read timeout.
    Head,
    /// The connection sat idle longer than the idle timeout.
    Idle,
}

/// One connection's phase and limits, shared by its IO, its service and
/// the task that serves it.
#[derive(Debug)]
pub(crate) struct Timers {
    phase: Mutex<Phase>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl Timers {
    /// The timers of a connection that has just opened.
    pub(crate) fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            header_read_timeout,
            idle_timeout,
        })
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        // The phase is a plain value: a panic elsewhere cannot leave it
        // half-written, so a poisoned lock is still good to use.
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = change(*phase);
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request as being handled until the returned guard is
    /// dropped; from then on the connection is idle.
    pub(crate) fn request(self: &Arc<Self>) -> RequestRunning {
        self.update(|_| Phase::Request);
        RequestRunning(Arc::clone(self))
    }

    /// Resolves once the current phase has outlived its limit.
    ///
    /// Phases change without telling this future. It never sleeps longer
    /// than the shorter limit at a time, and every new phase starts at or
    /// after the moment it went to sleep, so it always wakes before the
    /// deadline of whatever phase came in meanwhile: no deadline is missed,
    /// and a busy connection costs no wake-up per request.
    pub(crate) async fn expired(&self) -> Expired {
        let step = self.header_read_timeout.min(self.idle_timeout);
        loop {
            let now = Instant::now();
            let wake = match self.phase() {
                Phase::Request => now + step,
                Phase::Head(since) => {
                    let deadline = since + self.header_read_timeout;
                    if now >= deadline {
                        return Expired::Head;
                    }
                    deadline.min(now + step)
                }
                Phase::Idle(since) => {
                    let deadline = since + self.idle_timeout;
                    if now >= deadline {
                        return Expired::Idle;
                    }
                    deadline.min(now + step)
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    fn read(&self, bytes: usize) {
        if bytes > 0 {
            self.update(|phase| match phase {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
    }

    fn wrote(&self, bytes: usize) {
        // An answer still being written is not idleness: after the handler
        // returns, the clock counts from the last byte that left.
        if bytes > 0 {
            self.update(|phase| match phase {
                Phase::Idle(_) => Phase::Idle(Instant::now()),
                other => other,
            });
        }
    }
}

/// Held while a request is being handled; dropping it makes the connection
/// idle.
#[derive(Debug)]
pub(crate) struct RequestRunning(Arc<Timers>);

impl Drop for RequestRunning {
    fn drop(&mut self) {
        self.0.update(|_| Phase::Idle(Instant::now()));
    }
}

/// A connection's stream, telling its [`Timers`] when bytes move.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    timers: Arc<Timers>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, timers: Arc<Timers>) -> Self {
        Self { inner, timers }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.timers.read(buf.filled().len() - before);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            self.timers.wrote(written);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written)) = polled {
            self.timers.wrote(written);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(600);

    /// `timers.expired()`, which must resolve within a bound no loaded
    /// machine reaches, and how long it took.
    async fn expiry(timers: &Timers) -> (Expired, Duration) {
        let start = Instant::now();
        let expired = tokio::time::timeout(Duration::from_secs(30), timers.expired())
            .await
            .expect("the timer fired");
        (expired, start.elapsed())
    }

    #[tokio::test]
    async fn each_phase_expires_after_its_own_limit_and_a_request_never() {
        let timers = Timers::new(Duration::from_millis(300), Duration::from_millis(700));
        let (expired, took) = expiry(&timers).await;
        assert_eq!(expired, Expired::Head);
        assert!(took >= Duration::from_millis(300), "{took:?}");

        let running = timers.request();
        let handled = tokio::time::timeout(Duration::from_secs(1), timers.expired()).await;
        assert!(handled.is_err(), "a request in progress never expires");
        drop(running);
        let (expired, took) = expiry(&timers).await;
        assert_eq!(expired, Expired::Idle);
        assert!(took >= Duration::from_millis(700), "{took:?}");
    }

    #[tokio::test]
    async fn a_head_that_begins_while_the_watcher_sleeps_is_cut_by_its_own_limit() {
        let timers = Timers::new(Duration::from_millis(400), LONG);
        drop(timers.request());
        let watcher = {
            let timers = Arc::clone(&timers);
            tokio::spawn(async move { expiry(&timers).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let head = Instant::now();
        timers.read(1);
        let (expired, _) = watcher.await.expect("watcher");
        assert_eq!(expired, Expired::Head, "the idle limit is {LONG:?}");
        assert!(head.elapsed() >= Duration::from_millis(400));
    }

    #[tokio::test]
    async fn writing_an_answer_is_not_idleness() {
        let timers = Timers::new(LONG, Duration::from_millis(600));
        drop(timers.request());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let last_byte = Instant::now();
        timers.wrote(1);
        assert_eq!(expiry(&timers).await.0, Expired::Idle);
        assert!(last_byte.elapsed() >= Duration::from_millis(600));
    }
}
