//! Counts the SQL statements the application under test runs, to prove that a
//! request ran none (refused before the database) or a bounded number (no
//! N+1).
//!
//! Every [`super::TestApp`] has one, installed on the application's own
//! connection pool before it serves: `app.statements`. Measure a request:
//!
//! ```ignore
//! app.statements.reset();
//! let (status, body) = app.graphql_as(Some(&token), query).await;
//! assert_eq!(app.statements.count(), 0, "{:?}", app.statements.recorded());
//! ```
//!
//! Background work on the same pool counts too: tests that count should turn
//! the recomputation worker off (`TALLY_RECOMPUTE_POLL_SECS=0`, as
//! [`super::TestDb::config_with`] allows).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How many statements' text [`StatementCounter::recorded`] keeps.
const KEPT: usize = 200;

/// A shared counter of executed statements.
#[derive(Clone, Default)]
pub struct StatementCounter {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    count: AtomicUsize,
    recorded: Mutex<Vec<String>>,
}

impl StatementCounter {
    /// Installs a counter on `application`'s connection pool.
    pub fn install(application: &mut tally::Application) -> Self {
        let counter = Self::default();
        let inner = counter.inner.clone();
        let installed = application.on_statement(move |info| {
            inner.count.fetch_add(1, Ordering::SeqCst);
            let mut recorded = inner.recorded.lock().unwrap();
            if recorded.len() < KEPT {
                recorded.push(info.statement.sql.clone());
            }
        });
        assert!(
            installed,
            "install the counter before the application is shared"
        );
        counter
    }

    /// Statements run since the counter was installed or last reset.
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.inner.count.store(0, Ordering::SeqCst);
        self.inner.recorded.lock().unwrap().clear();
    }

    /// The SQL of the (first 200) statements counted, for failure messages.
    pub fn recorded(&self) -> Vec<String> {
        self.inner.recorded.lock().unwrap().clone()
    }
}
