//! When a request has stopped asking: the signal that lets a data loader's
//! batch leave with every key of a level (`docs/architecture.md`, GraphQL).
//!
//! async-graphql runs all of a request's resolvers inside the one future that
//! executes it (sibling fields and list items are joined, never spawned). A
//! resolver that needs a relation adds its key to the request's loader while
//! that future is being polled, then waits for the batch. So once a poll of
//! the request's future has returned `Pending` and nothing has woken it since,
//! every resolver that could ask for a key has asked: the others wait on
//! batches, or on I/O that will wake the future first. [`Idle`] watches the
//! request's future (or, on a WebSocket, the connection's stream) and tells
//! the loaders when it is in that state; a batch waits for it
//! ([`Idle::settled`]) before it takes its keys.
//!
//! A batch that is handing out its answers counts as activity too
//! ([`Idle::answer`]): it wakes the waiting resolvers one after the other, and
//! the request, polled between two of those wake-ups, would otherwise look
//! idle with only some of the next level's keys asked.
//!
//! Being polled and being woken are tracked in one atomic word, so a batch
//! never sees a half-updated state, whichever threads the request, its wakers
//! and the batch run on. Two wake-ups do not pass through the waker at once:
//! a poll that ran out of tokio's cooperative budget (tokio wakes the task
//! only after it yields), which is counted as a wake-up, and a stream that
//! yielded an item (its consumer polls it again unasked), likewise. A
//! resolver that called `tokio::task::yield_now` would defer its wake-up
//! unseen; none does. A future that is never watched counts as idle: its
//! batches leave at once instead of waiting forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::futures_util::Stream;
use tokio::sync::Notify;

/// The watched future is being polled.
const POLLING: u64 = 1;
/// The watched future was woken since its last poll began.
const WOKEN: u64 = 2;
/// The watched future finished or was dropped.
const DONE: u64 = 4;
/// One batch is being polled (loading, or handing out answers); the bits
/// from here up count them.
const ANSWERING: u64 = 1 << 8;

/// The most polls a batch waits for the request to become idle. A request
/// that is woken again after every poll (one that keeps making progress) lets
/// its batches leave after this many polls rather than hold them back.
const BUSY_POLLS: u64 = 256;

/// Whether a request (a future or a stream) is idle; shared by the request's
/// wrapper, its wakers and its loaders.
#[derive(Clone, Default)]
pub(crate) struct Idle(Arc<State>);

#[derive(Default)]
struct State {
    /// [`POLLING`], [`WOKEN`], [`DONE`], and [`ANSWERING`] times the batches
    /// being polled.
    flags: AtomicU64,
    /// Polls that returned `Pending`.
    polls: AtomicU64,
    /// Signalled after every poll, and when the watched future goes.
    changed: Notify,
    /// The waker of the task that polls the watched future.
    outer: Mutex<Option<Waker>>,
}

impl Idle {
    /// Whether the watched future is waiting on something outside itself (or
    /// is gone): not being polled, not woken since its last poll, and no batch
    /// of its loaders in the middle of answering.
    fn is_idle(&self) -> bool {
        let flags = self.0.flags.load(Ordering::SeqCst);
        flags & DONE != 0 || (flags & (POLLING | WOKEN) == 0 && flags < ANSWERING)
    }

    /// Waits until the watched future is idle, or has been polled
    /// [`BUSY_POLLS`] times without becoming idle.
    pub(crate) async fn settled(&self) {
        let start = self.0.polls.load(Ordering::SeqCst);
        loop {
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change in between is not missed.
            changed.as_mut().enable();
            let polls = self.0.polls.load(Ordering::SeqCst).wrapping_sub(start);
            if self.is_idle() || polls >= BUSY_POLLS {
                return;
            }
            changed.await;
        }
    }

    /// Runs a loader's `batch` (after [`Self::settled`]): while it is polled
    /// (loading, or waking the resolvers it answers), the request is not idle.
    pub(crate) async fn answer<F: Future>(&self, batch: F) -> F::Output {
        let mut batch = std::pin::pin!(batch);
        std::future::poll_fn(|cx| {
            let _answering = Answering::start(&self.0);
            batch.as_mut().poll(cx)
        })
        .await
    }

    /// `future`, watched: polling it keeps this [`Idle`] up to date.
    pub(crate) fn watch<F: Future>(&self, future: F) -> Watched<Pin<Box<F>>> {
        Watched {
            inner: Box::pin(future),
            idle: self.clone(),
        }
    }

    /// `stream`, watched: polling it keeps this [`Idle`] up to date.
    pub(crate) fn watch_stream<S: Stream>(&self, stream: S) -> Watched<Pin<Box<S>>> {
        Watched {
            inner: Box::pin(stream),
            idle: self.clone(),
        }
    }

    /// Runs one poll of the watched future or stream with a waker that records
    /// wake-ups, then records what the poll left behind: finished, to be
    /// polled again, or waiting.
    fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
        finished: impl FnOnce(&T) -> bool,
    ) -> Poll<T> {
        let state = &self.0;
        // POLLING is raised before WOKEN is cleared: no moment looks idle.
        state.flags.fetch_or(POLLING, Ordering::SeqCst);
        state.flags.fetch_and(!WOKEN, Ordering::SeqCst);
        {
            let mut outer = state.outer.lock().unwrap_or_else(PoisonError::into_inner);
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(Arc::new(Recorder(self.clone())));
        let result = poll(&mut Context::from_waker(&waker));
        match &result {
            Poll::Ready(output) if finished(output) => {
                state.flags.fetch_or(DONE, Ordering::SeqCst);
            }
            // A stream's item: its consumer polls it again without a wake-up.
            Poll::Ready(_) => {
                state.polls.fetch_add(1, Ordering::SeqCst);
                state.flags.fetch_or(WOKEN, Ordering::SeqCst);
            }
            Poll::Pending => {
                state.polls.fetch_add(1, Ordering::SeqCst);
                if !tokio::task::coop::has_budget_remaining() {
                    // Out of budget, a resource returned `Pending` and asked
                    // tokio to wake the task once it yields: a wake-up the
                    // recorder does not see yet. Count it, and make sure of it.
                    state.flags.fetch_or(WOKEN, Ordering::SeqCst);
                    cx.waker().wake_by_ref();
                }
            }
        }
        state.flags.fetch_and(!POLLING, Ordering::SeqCst);
        state.changed.notify_waiters();
        result
    }

    /// The watched future or stream is gone: its batches need not wait.
    fn finish(&self) {
        self.0.flags.fetch_or(DONE, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// One poll of a batch, counted in [`State::flags`] until it ends (even by a
/// panic).
struct Answering<'a>(&'a State);

impl<'a> Answering<'a> {
    fn start(state: &'a State) -> Self {
        state.flags.fetch_add(ANSWERING, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.flags.fetch_sub(ANSWERING, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// The waker handed to the watched future: records the wake-up, then wakes
/// the task that polls it.
struct Recorder(Idle);

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let state = &(self.0).0;
        state.flags.fetch_or(WOKEN, Ordering::SeqCst);
        let outer = state
            .outer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(outer) = outer {
            outer.wake();
        }
    }
}

/// A future or stream whose polls an [`Idle`] watches.
pub(crate) struct Watched<T> {
    inner: T,
    idle: Idle,
}

impl<F: Future + Unpin> Future for Watched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        this.idle.poll(cx, |cx| Pin::new(inner).poll(cx), |_| true)
    }
}

impl<S: Stream + Unpin> Stream for Watched<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        this.idle
            .poll(cx, |cx| Pin::new(inner).poll_next(cx), Option::is_none)
    }
}

impl<T> Drop for Watched<T> {
    fn drop(&mut self) {
        self.idle.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// Returns `Pending` once after waking its task, as a join of many items
    /// does between rounds.
    struct Again(bool);

    impl Future for Again {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[tokio::test]
    async fn an_unwatched_request_is_idle() {
        Idle::default().settled().await;
    }

    /// A batch started by the first key leaves with every key asked before
    /// the request waits on it, though the request yields many times (waking
    /// itself, and running out of tokio's budget) and the batch runs on
    /// another thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_waits_until_the_request_waits_on_something_else() {
        let idle = Idle::default();
        let asked = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(u64::MAX));
        let answered = Arc::new(Notify::new());
        let left = Arc::new(AtomicBool::new(false));
        let batch = {
            let (idle, asked, taken, answered, left) = (
                idle.clone(),
                asked.clone(),
                taken.clone(),
                answered.clone(),
                left.clone(),
            );
            async move {
                idle.settled().await;
                taken.store(asked.load(Ordering::SeqCst), Ordering::SeqCst);
                left.store(true, Ordering::SeqCst);
                answered.notify_one();
            }
        };
        let request = {
            let (asked, left) = (asked.clone(), left.clone());
            async move {
                asked.fetch_add(1, Ordering::SeqCst);
                let batch = tokio::spawn(batch);
                for _ in 0..99 {
                    Again(false).await;
                    asked.fetch_add(1, Ordering::SeqCst);
                }
                for _ in 0..1000 {
                    tokio::task::coop::consume_budget().await;
                    asked.fetch_add(1, Ordering::SeqCst);
                }
                assert!(!left.load(Ordering::SeqCst), "the batch left early");
                answered.notified().await;
                batch.await.ok();
            }
        };
        idle.watch(request).await;
        assert_eq!(taken.load(Ordering::SeqCst), 1100);
    }

    /// A batch answers 100 resolvers one by one, and each answered resolver
    /// asks for a key of the next level: the next level's batch leaves with
    /// all 100, though the request is polled between the answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_next_level_waits_for_every_answer_of_this_one() {
        use async_graphql::futures_util::future::join_all;

        let idle = Idle::default();
        let asked = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(u64::MAX));
        let (answered, next_level) = tokio::sync::watch::channel(false);
        let answered = Arc::new(answered);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..100)
            .map(|_| tokio::sync::oneshot::channel::<()>())
            .unzip();
        let first = {
            let idle = idle.clone();
            async move {
                idle.settled().await;
                idle.answer(async move {
                    for sender in senders {
                        sender.send(()).ok();
                        std::thread::yield_now();
                    }
                })
                .await;
            }
        };
        let resolvers = receivers.into_iter().map(|receiver| {
            let (idle, asked, taken, answered, mut next_level) = (
                idle.clone(),
                asked.clone(),
                taken.clone(),
                answered.clone(),
                next_level.clone(),
            );
            async move {
                receiver.await.ok();
                if asked.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::spawn(async move {
                        idle.settled().await;
                        taken.store(asked.load(Ordering::SeqCst), Ordering::SeqCst);
                        answered.send_replace(true);
                    });
                }
                next_level.wait_for(|done| *done).await.ok();
            }
        });
        let request = async move {
            let first = tokio::spawn(first);
            join_all(resolvers).await;
            first.await.ok();
        };
        idle.watch(request).await;
        assert_eq!(taken.load(Ordering::SeqCst), 100);
    }
}
