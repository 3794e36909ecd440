//! Connecting to the database and applying migrations.
//!
//! SQLite runs with WAL, `foreign_keys = ON` and a busy timeout (DESIGN §2):
//! foreign keys are what make invalid rows impossible, and WAL lets readers
//! proceed while the single writer writes.

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
/// # Errors
/// The database cannot be reached or opened.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
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

/// Applies every pending migration.
///
/// # Errors
/// A migration failed; nothing of that migration is applied on PostgreSQL.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
