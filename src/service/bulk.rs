//! Multi-row inserts for the ingestion services: one statement per chunk of
//! rows instead of one per row, which is what makes benchmark-sized loads
//! (a million tasks) take minutes instead of hours (`docs/benchmarks.md`).
//!
//! A chunk is as long as the backend's limit on bind parameters allows
//! (SQLite's 32 766, PostgreSQL's 65 535). Rows that need their generated ids back are
//! inserted with `INSERT … RETURNING` (PostgreSQL, SQLite ≥ 3.35) and matched
//! to what was sent by their natural key, never by position: neither backend
//! promises to return rows in the order of `VALUES`.

use std::collections::HashMap;
use std::hash::Hash;

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Iterable as _, QueryResult,
    QueryTrait as _,
};

use crate::error::Error;

/// Bind parameters per statement: under SQLite's limit of 32 766 and
/// PostgreSQL's of 65 535, with room.
fn max_binds(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 64_000,
        _ => 32_000,
    }
}

/// How many rows of `columns` values fit in one statement on `backend`.
///
/// As many as the backend takes: on PostgreSQL over TCP, each statement
/// whose parameters span several TCP segments can wait ~40 ms for a delayed
/// ACK (sqlx 0.9.0 does not set `TCP_NODELAY`), so fewer, longer statements
/// are much faster (`docs/benchmarks.md`).
#[must_use]
pub(crate) fn rows_for(backend: DbBackend, columns: usize) -> usize {
    (max_binds(backend) / columns.max(1)).max(1)
}

/// How many rows of `E` fit in one statement on `backend`.
fn rows_per_statement<E: EntityTrait>(backend: DbBackend) -> usize {
    rows_for(backend, E::Column::iter().count())
}

/// Inserts `rows` (which must all set the same columns) in chunks.
///
/// # Errors
/// A database error (the caller's transaction then rolls back).
pub(crate) async fn insert<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), Error>
where
    A: ActiveModelTrait,
{
    let per = rows_per_statement::<A::Entity>(db.get_database_backend());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Inserts `rows` (which must all set the same columns) in chunks and returns,
/// in the order of `rows`, the `returning` columns of each inserted row.
///
/// Each row comes with its key (e.g. a natural key) and `key_of` reads that
/// key back from a returned row: that is how returned rows are matched to
/// what was sent. Two rows with the same key never share a statement.
///
/// # Errors
/// A database error (the caller's transaction then rolls back), or a row
/// that did not come back under its key.
pub(crate) async fn insert_returning<A, K>(
    db: &impl ConnectionTrait,
    rows: Vec<(K, A)>,
    returning: &[<A::Entity as EntityTrait>::Column],
    key_of: impl Fn(&QueryResult) -> Result<K, Error>,
) -> Result<Vec<QueryResult>, Error>
where
    A: ActiveModelTrait,
    K: Eq + Hash,
{
    let per = rows_per_statement::<A::Entity>(db.get_database_backend());
    let mut out = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        // Positions in the chunk, by key.
        let mut positions: HashMap<K, usize> = HashMap::new();
        let mut chunk = Vec::new();
        while let Some((key, _)) = rows.peek() {
            if chunk.len() == per || positions.contains_key(key) {
                break;
            }
            let Some((key, row)) = rows.next() else { break };
            positions.insert(key, chunk.len());
            chunk.push(row);
        }
        let mut returned: Vec<Option<QueryResult>> =
            std::iter::repeat_with(|| None).take(chunk.len()).collect();
        let mut insert = A::Entity::insert_many(chunk).into_query();
        insert.returning(Query::returning().columns(returning.iter().copied()));
        for row in db.query_all(&insert).await? {
            let slot = positions
                .get(&key_of(&row)?)
                .and_then(|position| returned.get_mut(*position))
                .ok_or_else(|| Error::internal(&"an inserted row came back under another key"))?;
            *slot = Some(row);
        }
        for row in returned {
            out.push(row.ok_or_else(|| Error::internal(&"an inserted row did not come back"))?);
        }
    }
    Ok(out)
}

/// Inserts `rows` (which must all set the same columns) in chunks, resolving
/// conflicts with `on_conflict`. No two rows may share a conflict key (one
/// statement cannot update a row twice).
///
/// # Errors
/// A database error (the caller's transaction then rolls back).
pub(crate) async fn upsert<A>(
    db: &impl ConnectionTrait,
    rows: Vec<A>,
    on_conflict: &OnConflict,
) -> Result<(), Error>
where
    A: ActiveModelTrait,
{
    let per = rows_per_statement::<A::Entity>(db.get_database_backend());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per).collect();
        A::Entity::insert_many(chunk)
            .on_conflict(on_conflict.clone())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
