//! Connecting to the database and applying migrations.
//!
//! SQLite runs with WAL, `foreign_keys = ON` and a busy timeout (DESIGN §2):
//! foreign keys are what make invalid rows impossible, and WAL lets readers
//! proceed while the single writer writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a pooled connection (and thus how fast `/readyz` fails
/// when the database is gone).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a connection pool to `url` (`postgres://…` or `sqlite:…`).
///
/// PostgreSQL's `sslmode` (a parameter of the URL) is honoured as libpq does:
/// `disable`, `prefer` (the default), `require`, `verify-ca` and `verify-full`,
/// with `sslrootcert=<file>` naming the CA to verify against. Under `prefer` a
/// TLS handshake that fails (a self-signed or old-format certificate, as
/// `CREATE EXTENSION citus` installs) falls back to an unencrypted connection,
/// as libpq's does, with a warning naming the setting that would make it
/// strict.
///
/// # Errors
/// The database cannot be reached or opened.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let db = connect_once(url, max_connections).await?;
    if migration::citus::is_citus(&db).await? {
        CITUS.store(true, Ordering::Relaxed);
    }
    Ok(db)
}

/// Set once this process has connected to a Citus coordinator.
static CITUS: AtomicBool = AtomicBool::new(false);

/// Whether this process talks to Citus: a few statements take another form
/// there (`service::page`). A process connects to one database, so this is
/// a property of the process.
pub fn is_citus() -> bool {
    CITUS.load(Ordering::Relaxed)
}

async fn connect_once(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    match open(url, max_connections).await {
        Err(error) if prefers_tls(url) && is_tls_failure(&error) => {
            tracing::warn!(
                %error,
                "the database server's TLS handshake failed under sslmode=prefer: connecting \
                 without TLS, as libpq does; set sslmode=require (or verify-full with \
                 sslrootcert=<CA file>) in TALLY_DATABASE_URL to refuse that"
            );
            open(&with_sslmode_disable(url), max_connections).await
        }
        other => other,
    }
}

/// Whether `url` is a PostgreSQL URL whose `sslmode` is `prefer` (stated or by
/// default): one that may fall back to an unencrypted connection.
pub(crate) fn prefers_tls(url: &str) -> bool {
    if !url.starts_with("postgres") {
        return false;
    }
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mode = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("sslmode"))
        .map(|(_, value)| value.to_ascii_lowercase());
    matches!(mode.as_deref(), None | Some("prefer"))
}

/// Whether a connection failed in the TLS handshake (rather than because the
/// server is down or refused the credentials).
fn is_tls_failure(error: &DbErr) -> bool {
    is_tls_message(&error.to_string())
}

/// Whether a connection error's text tells of a failed TLS handshake.
pub(crate) fn is_tls_message(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    ["tls", "ssl", "certificate", "handshake"]
        .iter()
        .any(|word| text.contains(word))
}

/// `url` with `sslmode=disable` in place of any `sslmode` it had.
pub(crate) fn with_sslmode_disable(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            !pair.is_empty()
                && !pair
                    .split_once('=')
                    .is_some_and(|(key, _)| key.eq_ignore_ascii_case("sslmode"))
        })
        .collect();
    pairs.push("sslmode=disable");
    format!("{base}?{}", pairs.join("&"))
}

async fn open(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_timeout(ACQUIRE_TIMEOUT)
        // Statements are traced by our own layers; sqlx's per-statement INFO
        // lines would drown the request log.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    Database::connect(options).await
}

/// Applies every pending migration, then, on a Citus coordinator, makes the
/// reference and distributed tables that are not yet (`docs/scaling.md`).
///
/// # Errors
/// A migration failed (nothing of it is applied on PostgreSQL), or Citus
/// refused to distribute a table.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    migration::citus::distribute(db).await
}

#[cfg(test)]
mod tests {
    use super::{is_tls_failure, prefers_tls, with_sslmode_disable};
    use sea_orm::DbErr;

    #[test]
    fn only_prefer_falls_back() {
        assert!(prefers_tls("postgres://u@h/db"));
        assert!(prefers_tls("postgres://u@h/db?sslmode=prefer"));
        assert!(prefers_tls(
            "postgresql://u@h/db?application_name=x&SSLMODE=Prefer"
        ));
        for strict in ["require", "verify-ca", "verify-full", "disable"] {
            assert!(!prefers_tls(&format!("postgres://u@h/db?sslmode={strict}")));
        }
        assert!(!prefers_tls("sqlite://tally.db?mode=rwc"));
    }

    #[test]
    fn fallback_url_disables_tls_and_keeps_the_rest() {
        assert_eq!(
            with_sslmode_disable("postgres://u@h:9700/db"),
            "postgres://u@h:9700/db?sslmode=disable"
        );
        assert_eq!(
            with_sslmode_disable("postgres://u@h/db?sslmode=prefer&application_name=t"),
            "postgres://u@h/db?application_name=t&sslmode=disable"
        );
    }

    #[test]
    fn tls_failures_are_told_from_other_failures() {
        let tls = DbErr::Conn(sea_orm::RuntimeErr::Internal(
            "error communicating with database: invalid peer certificate: UnsupportedCertVersion"
                .to_owned(),
        ));
        assert!(is_tls_failure(&tls));
        let refused = DbErr::Conn(sea_orm::RuntimeErr::Internal(
            "Connection refused (os error 111)".to_owned(),
        ));
        assert!(!is_tls_failure(&refused));
    }
}
