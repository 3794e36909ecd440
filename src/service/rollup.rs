//! Additive upserts into rollup tables, in the caller's transaction.
//!
//! A service that writes facts also computes, in Rust, how much each rollup row
//! changes (new values minus old ones, summed per rollup key) and hands the
//! deltas here. One multi-row `INSERT … ON CONFLICT (key) DO UPDATE SET col =
//! col + excluded.col` per chunk (as many rows as the backend's bind limit
//! allows) applies them: the same SQL on PostgreSQL and
//! SQLite, exact because every summed quantity is an integer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, Value};

use crate::error::Error;

/// A rollup table: its key columns and its summed columns.
#[derive(Debug, Clone, Copy)]
pub struct Rollup {
    /// The table.
    pub table: &'static str,
    /// The columns of its unique key, in the order keys are given.
    pub keys: &'static [&'static str],
    /// Columns set when a row is created and never changed (e.g. the project
    /// a bucket's rows are copied with), given after the key columns.
    pub extra: &'static [&'static str],
    /// The summed columns, in the order deltas are given.
    pub sums: &'static [&'static str],
    /// The summed columns a `CHECK` keeps non-negative. A row whose delta is
    /// negative in one of them (a correction that lowers a stored fact) cannot
    /// go through the upsert, whose proposed row would fail the check: it is
    /// applied by an `UPDATE` of the existing row instead.
    pub nonnegative: &'static [&'static str],
}

/// A rollup key: the values of the key columns, then of the extra columns.
/// `Value` is not `Ord`, so keys are compared by their debug text.
#[derive(Debug, Clone)]
pub struct Key(pub Vec<Value>);

/// A key and its deltas.
type Row = (Key, Vec<i64>);

/// Deltas accumulated per key before they are written.
#[derive(Debug, Default)]
pub struct Deltas {
    rows: BTreeMap<String, Row>,
}

impl Deltas {
    /// Adds `amounts` (one per summed column) to the row `key`.
    pub fn add(&mut self, key: Key, amounts: &[i64]) {
        let text = format!("{:?}", key.0);
        let entry = self
            .rows
            .entry(text)
            .or_insert_with(|| (key, vec![0; amounts.len()]));
        for (sum, amount) in entry.1.iter_mut().zip(amounts) {
            *sum = sum.saturating_add(*amount);
        }
    }

    /// Whether nothing changes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows
            .values()
            .all(|(_, sums)| sums.iter().all(|s| *s == 0))
    }

    /// Writes the deltas into `rollup`, then forgets them.
    ///
    /// # Errors
    /// A database error (the caller's transaction then rolls back).
    pub async fn apply(
        &mut self,
        db: &impl ConnectionTrait,
        rollup: &Rollup,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (lowering, rows): (Vec<Row>, Vec<Row>) = std::mem::take(&mut self.rows)
            .into_values()
            .filter(|(_, sums)| sums.iter().any(|s| *s != 0))
            .partition(|(_, sums)| {
                rollup
                    .sums
                    .iter()
                    .zip(sums)
                    .any(|(column, delta)| *delta < 0 && rollup.nonnegative.contains(column))
            });
        super::events::record_rollup(
            rollup,
            lowering
                .iter()
                .chain(&rows)
                .map(|(key, sums)| (key, sums.as_slice())),
        )?;
        for (key, sums) in &lowering {
            let mut update = Query::update();
            update.table(rollup.table);
            for (column, delta) in rollup.sums.iter().zip(sums) {
                update.value(*column, Expr::col(*column).add(*delta));
            }
            update.value("updated_at", Expr::val(now));
            for (column, value) in rollup.keys.iter().zip(&key.0) {
                update.and_where(Expr::col(*column).eq(Expr::val(value.clone())));
            }
            let result = db.execute(&update).await?;
            if result.rows_affected() != 1 {
                return Err(Error::internal(&format!(
                    "rollup {}: lowering a row that does not exist",
                    rollup.table
                )));
            }
        }
        let columns = rollup.keys.len() + rollup.extra.len() + rollup.sums.len() + 1;
        let per = super::bulk::rows_for(db.get_database_backend(), columns);
        for chunk in rows.chunks(per) {
            let mut insert = Query::insert();
            insert.into_table(rollup.table).columns(
                rollup
                    .keys
                    .iter()
                    .chain(rollup.extra)
                    .chain(rollup.sums)
                    .copied()
                    .chain(["updated_at"]),
            );
            for (key, sums) in chunk {
                let values = key
                    .0
                    .iter()
                    .cloned()
                    .map(Expr::val)
                    .chain(sums.iter().map(|s| Expr::val(*s)))
                    .chain([Expr::val(now)]);
                insert.values(values).map_err(|e| Error::internal(&e))?;
            }
            let table = rollup.table;
            let mut conflict = OnConflict::columns(rollup.keys.iter().copied());
            for column in rollup.sums {
                conflict.value(
                    *column,
                    Expr::cust(format!("\"{table}\".\"{column}\" + excluded.\"{column}\"")),
                );
            }
            conflict.value("updated_at", Expr::cust("excluded.\"updated_at\""));
            insert.on_conflict(conflict);
            db.execute(&insert).await?;
        }
        Ok(())
    }
}
