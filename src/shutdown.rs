//! Telling long-lived connections that the server is stopping.
//!
//! An HTTP request ends by itself, and the server's graceful stop waits for it.
//! A WebSocket does not: once hyper has answered `101 Switching Protocols` the
//! connection is handed to its handler and is no longer one of the server's
//! connections, so nothing would close it, and a subscriber would never learn
//! that the instance went away. The server therefore announces its stop here;
//! every WebSocket connection holds a [`Listener`], closes itself with `1001
//! Going Away` when the stop is announced, and the server waits (within
//! `TALLY_SHUTDOWN_GRACE_SECS`) until every listener has been dropped.

use tokio::sync::watch;

/// The server's side: announces the stop and waits for the listeners to go.
#[derive(Debug)]
pub struct Shutdown {
    stopping: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A server that is not stopping, with no listeners yet.
    #[must_use]
    pub fn new() -> Self {
        let (stopping, _) = watch::channel(false);
        Self { stopping }
    }

    /// A listener for one long-lived connection; keep it for as long as the
    /// connection is open, and drop it when the connection is closed.
    #[must_use]
    pub fn listener(&self) -> Listener {
        Listener(self.stopping.subscribe())
    }

    /// Announces the stop to every listener, present and future.
    pub fn begin(&self) {
        self.stopping.send_replace(true);
    }

    /// Completes when no listener is left (at once if there is none).
    pub async fn finished(&self) {
        self.stopping.closed().await;
    }

    /// How many long-lived connections are open.
    #[must_use]
    pub fn open(&self) -> usize {
        self.stopping.receiver_count()
    }
}

/// One connection's side: learns that the server is stopping.
#[derive(Debug)]
pub struct Listener(watch::Receiver<bool>);

impl Listener {
    /// Completes once the stop has been announced (at once if it already was,
    /// or if the server is gone).
    pub async fn stopping(&mut self) {
        // An error means the `Shutdown` itself is gone: stopping all the same.
        let _gone = self.0.wait_for(|stopping| *stopping).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_hear_the_stop_and_are_awaited() {
        let shutdown = Shutdown::new();
        shutdown.finished().await;
        let mut early = shutdown.listener();
        assert_eq!(shutdown.open(), 1);
        shutdown.begin();
        early.stopping().await;
        // A connection that opens after the announcement hears it at once.
        let mut late = shutdown.listener();
        late.stopping().await;
        drop(early);
        drop(late);
        shutdown.finished().await;
        assert_eq!(shutdown.open(), 0);
    }
}
