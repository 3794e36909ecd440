//! When a request has stopped asking: the signal that lets a data loader's
//! batch leave with every key of a level (`docs/architecture.md`, GraphQL
//! data loaders).
//!
//! async-graphql runs all of a request's resolvers inside the one future that
//! executes it (sibling fields and list items are joined, never spawned). A
//! resolver that needs a relation adds its key to the request's loader while
//! that future is being polled, then waits for the batch. So once a poll of
//! the request's future has returned `Pending` and nothing has woken it since,
//! every resolver that could ask for a key has asked: the others wait on
//! batches, or on I/O that will wake the future first. [`Idle`] watches the
//! request's future (or, on a WebSocket, each subscription's stream) and runs
//! the loaders' batches ([`Idle::batch`]) so that a batch takes its keys only
//! in that state.
//!
//! Two more rules make that exact on a multi-threaded runtime, where batches
//! and the request run on different threads:
//!
//! - **One batch at a time is polled** (the *turn*). A batch that answers
//!   wakes its resolvers one after the other; the request, polled between two
//!   of those wake-ups, would look idle with only part of the next level's
//!   keys asked. And a batch must not take its keys while another batch's
//!   answers are being handed out. Polls are short (a batch waits for the
//!   database between them), so the turn is held only briefly.
//! - **A batch's keys are taken in the same turn that found the request
//!   idle**, so no answer can arrive between the check and the take.
//!
//! Being polled and being woken are tracked in one atomic word, so nobody
//! reads a half-updated state. Two wake-ups do not pass through the recorded
//! waker and are counted explicitly: a poll that ran out of tokio's
//! cooperative budget (tokio wakes the task only after it yields) and a stream
//! that yielded an item (its consumer polls it again unasked). A resolver
//! that called `tokio::task::yield_now` would defer its wake-up unseen; none
//! does. A future that is never watched counts as idle.
//!
//! A request's future always settles: its resolvers do finite work, and the
//! request timeout bounds it anyway. Polls alone say nothing about being
//! stuck: handing 100 answers to a list of nested objects takes hundreds of
//! polls, each one woken by the last (async-graphql joins an object's fields
//! in a `FuturesUnordered`, which wakes itself after polling them all). A
//! subscription's stream, though, may never pause while events keep
//! coming, so there a batch also goes after [`BUSY_ITEMS`] items yielded
//! without a pause.
//!
//! # What this relies on in async-graphql (pinned `=7.2.1`)
//!
//! Verified against async-graphql 7.2.1, which `Cargo.toml` pins exactly
//! (with its derive, parser and value crates); paths are under
//! `~/.cargo/registry/src/*/async-graphql-7.2.1/src/`:
//!
//! 1. **Fields are joined, not spawned.** `resolver_utils/container.rs`
//!    (`do_resolve_container`) resolves an object's fields in a
//!    `FuturesUnordered` inside the caller's future (mutation roots serially,
//!    `resolve_container_serial`); `resolver_utils/list.rs` (`resolve_list`)
//!    joins list items with `try_join_all`. Nothing of a request runs on
//!    another task, so the request's one future is all there is to watch.
//! 2. **How `FuturesUnordered` wakes.** After polling its ready children it
//!    wakes itself (yields) rather than looping, so one level's answers are
//!    handed out over many polls, each woken by the previous one: a poll that
//!    returns `Pending` with no wake-up recorded means every child is waiting
//!    elsewhere. This is `futures-util`'s behaviour, reached through
//!    async-graphql's re-export (`async_graphql::futures_util`).
//! 3. **Execution is one future per request.** `schema.rs`
//!    (`execute` → `prepare_request` → `execute_once`) parses, validates and
//!    resolves inside the future that [`Idle::watch`] wraps; `Schema::
//!    execute_stream` does the same per event for subscriptions.
//! 4. **The data loader hands its batches to our spawner.**
//!    `dataloader/mod.rs` calls the `spawner` given to `DataLoader::new` with
//!    the batch future, after `delay` (set to zero in
//!    `super::loader`); that future is what [`Idle::batch`] holds back.
//!
//! If an upgrade changed any of these (fields spawned, a different join, a
//! delay of its own), batches would leave with part of a level's keys and a
//! query would issue more statements as rows grow. The guards are the
//! statement-count tests, which assert exact counts: in `tests/graphql.rs`,
//! `a_five_level_query_costs_the_same_statements_for_1_and_200_rows` and
//! `a_five_level_query_costs_the_same_statements_on_a_multi_threaded_runtime`
//! (the same count for 1 and 200 rows per level, on every one of 20 runs,
//! and at most the caller's lookup plus a page and a count per level), and
//! `tests/graphql_access.rs`'s
//! `project_installations_metrics_cost_the_same_statements_for_1_and_100_rows`
//! (a bound independent of the rows, and 1 and 100 rows within 2 statements
//! of each other); this module's own unit tests check the idle signal itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::futures_util::Stream;

/// The watched future is being polled.
const POLLING: u64 = 1;
/// The watched future was woken since its last poll began.
const WOKEN: u64 = 2;
/// The watched future finished or was dropped.
const DONE: u64 = 4;
/// A batch holds the turn (is being polled).
const TURN: u64 = 8;

/// How many items a watched stream yields without a pause before a waiting
/// batch goes anyway.
const BUSY_ITEMS: u64 = 256;

/// Whether a request (a future or a stream) is idle; shared by the request's
/// wrapper, its wakers and its loaders' batches.
#[derive(Clone, Default)]
pub(crate) struct Idle(Arc<State>);

#[derive(Default)]
struct State {
    /// [`POLLING`], [`WOKEN`], [`DONE`] and [`TURN`].
    flags: AtomicU64,
    /// Items a watched stream yielded since it last paused.
    items: AtomicU64,
    /// Batches waiting for the request to become idle.
    idle_waiters: Waiters,
    /// Batches waiting for the turn.
    turn_waiters: Waiters,
    /// The waker of the task that polls the watched future.
    outer: Mutex<Option<Waker>>,
}

impl State {
    /// Whether a batch may take its keys now: the watched future is waiting
    /// on something outside itself (not being polled, not woken since its
    /// last poll), is gone, or is a stream that yields without a pause.
    fn settled(&self) -> bool {
        let flags = self.flags.load(Ordering::SeqCst);
        flags & DONE != 0
            || flags & (POLLING | WOKEN) == 0
            || self.items.load(Ordering::SeqCst) >= BUSY_ITEMS
    }
}

/// Tasks to wake when something changes.
#[derive(Default)]
struct Waiters(Mutex<Vec<Waker>>);

impl Waiters {
    fn add(&self, waker: &Waker) {
        let mut waiters = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in waiters {
            waker.wake();
        }
    }
}

/// The turn, held while one batch is polled.
struct Turn<'a>(&'a State);

impl<'a> Turn<'a> {
    /// The turn, or `None` (and a wake-up when it is free) when another batch
    /// holds it.
    fn take(state: &'a State, cx: &Context<'_>) -> Option<Self> {
        loop {
            if state.flags.fetch_or(TURN, Ordering::SeqCst) & TURN == 0 {
                return Some(Self(state));
            }
            state.turn_waiters.add(cx.waker());
            // Released meanwhile? Then try again rather than wait for a wake-up.
            if state.flags.load(Ordering::SeqCst) & TURN != 0 {
                return None;
            }
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.flags.fetch_and(!TURN, Ordering::SeqCst);
        self.0.turn_waiters.wake_all();
    }
}

impl Idle {
    /// Runs a loader's `batch`, one poll per turn. Its first poll, which
    /// takes the keys asked so far, waits until the request has settled.
    pub(crate) async fn batch<F: Future>(&self, batch: F) -> F::Output {
        let mut batch = std::pin::pin!(batch);
        let mut started = false;
        std::future::poll_fn(|cx| {
            let Some(_turn) = Turn::take(&self.0, cx) else {
                return Poll::Pending;
            };
            if !started {
                // Registered before the check, so a change in between wakes us.
                self.0.idle_waiters.add(cx.waker());
                if !self.0.settled() {
                    return Poll::Pending;
                }
                started = true;
            }
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
    /// wake-ups, then records what the poll left behind (finished, to be
    /// polled again, or waiting) and wakes the batches if it settled.
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
                state.flags.fetch_or(WOKEN, Ordering::SeqCst);
            }
            Poll::Pending => {
                if !tokio::task::coop::has_budget_remaining() {
                    // Out of budget, a resource returned `Pending` and asked
                    // tokio to wake the task once it yields: a wake-up the
                    // recorder does not see yet. Count it, and make sure of it.
                    state.flags.fetch_or(WOKEN, Ordering::SeqCst);
                    cx.waker().wake_by_ref();
                }
            }
        }
        let flags = state.flags.fetch_and(!POLLING, Ordering::SeqCst);
        let items = match &result {
            Poll::Ready(_) if flags & DONE == 0 => state.items.fetch_add(1, Ordering::SeqCst) + 1,
            _ if flags & WOKEN == 0 => {
                state.items.store(0, Ordering::SeqCst);
                0
            }
            _ => state.items.load(Ordering::SeqCst),
        };
        if flags & (WOKEN | DONE) != WOKEN || items == BUSY_ITEMS {
            state.idle_waiters.wake_all();
        }
        result
    }

    /// The watched future or stream is gone: its batches need not wait.
    fn finish(&self) {
        self.0.flags.fetch_or(DONE, Ordering::SeqCst);
        self.0.idle_waiters.wake_all();
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

    use async_graphql::futures_util::future::join_all;
    use tokio::sync::{Notify, oneshot, watch};

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

    /// A batch that records how many keys had been asked when it took them.
    fn recording(
        asked: &Arc<AtomicU64>,
        taken: &Arc<AtomicU64>,
    ) -> impl Future<Output = ()> + use<> {
        let (asked, taken) = (asked.clone(), taken.clone());
        async move {
            taken.store(asked.load(Ordering::SeqCst), Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn an_unwatched_request_is_idle() {
        assert_eq!(Idle::default().batch(async { 7 }).await, 7);
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
            let (idle, take, answered, left) = (
                idle.clone(),
                recording(&asked, &taken),
                answered.clone(),
                left.clone(),
            );
            async move {
                idle.batch(take).await;
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
        let idle = Idle::default();
        let asked = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(u64::MAX));
        let (answered, next_level) = watch::channel(false);
        let answered = Arc::new(answered);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..100).map(|_| oneshot::channel::<()>()).unzip();
        let first = {
            let idle = idle.clone();
            async move {
                idle.batch(async move {
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
                    let take = recording(&asked, &taken);
                    tokio::spawn(async move {
                        idle.batch(take).await;
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

    /// A connection whose stream keeps yielding items does not hold a batch
    /// back for ever: it goes after [`BUSY_ITEMS`] items without a pause.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_that_never_pauses_lets_its_batch_go() {
        use async_graphql::futures_util::{StreamExt as _, stream};

        let idle = Idle::default();
        let asked = Arc::new(AtomicU64::new(0));
        let taken = Arc::new(AtomicU64::new(u64::MAX));
        let counted = asked.clone();
        let mut connection = idle.watch_stream(stream::repeat(()).map(move |()| {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        let batch = tokio::spawn({
            let (idle, take) = (idle.clone(), recording(&asked, &taken));
            async move { idle.batch(take).await }
        });
        for _ in 0..10_000_000 {
            connection.next().await;
            if taken.load(Ordering::SeqCst) != u64::MAX {
                break;
            }
        }
        batch.await.ok();
        let taken = taken.load(Ordering::SeqCst);
        assert!((BUSY_ITEMS..10_000_000).contains(&taken), "{taken}");
    }
}
