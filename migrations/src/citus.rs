//! Distribution on Citus: run after the migrations, when (and only when) the
//! database has the `citus` extension; idempotent, so every `tally migrate`
//! runs it and a table a later migration adds is distributed then.
//!
//! The table-by-table decision, and why, is in `docs/scaling.md`:
//! - [`DISTRIBUTED`]: facts and rollups of a project, sharded by `project_id`
//!   and colocated with `jobs`, so a project's rows of every table sit on one
//!   shard group and a query naming the project runs on one worker.
//! - [`REFERENCE`]: catalogue and tenancy tables (small, read by every query,
//!   joined from every shard), copied to every node.
//! - Everything else stays on the coordinator: cloud records and bucket usage
//!   (their `project_id` may be unknown, and Citus cannot shard rows without a
//!   distribution value), APEL messages, idempotency keys, the audit log and
//!   the migration table. Those with foreign keys to reference tables become
//!   Citus-managed local tables on their own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DbBackend, Statement, TransactionSession as _, TransactionTrait,
};

/// Reference tables, each after the tables it references.
pub const REFERENCE: &[&str] = &[
    "projects",
    "sub_projects",
    "user_groups",
    "users",
    "roles",
    "grants",
    "session_codes",
    "server_secrets",
    "clusters",
    "cluster_projects",
    "node_type_aggregations",
    "node_types",
    "project_allocations",
    "formulas",
    "aggregation_formulas",
    "command_templates",
    "accounting_runs",
    "sites",
    "cloud_services",
    "vo_groups",
    "vo_roles",
    "global_users",
    "vos",
    "publisher_dns",
    "providers",
    "unit_types",
    "metric_types",
    "metric_definitions",
    "project_providers",
    "eosc_resources",
    "installations",
    "eosc_clients",
];

/// Tables sharded by `project_id`, each after the tables it references; the
/// first is the colocation group's anchor.
pub const DISTRIBUTED: &[&str] = &[
    "jobs",
    "tasks",
    "task_parameters",
    "metrics",
    "hpc_usage_daily",
    "hpc_job_usage",
    "hpc_job_usage_monthly",
    "eosc_metric_daily",
    "usage_daily",
    "usage_hourly",
];

/// Whether `db` is a Citus coordinator (has the `citus` extension).
///
/// # Errors
/// The catalogue could not be read.
pub async fn is_citus<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    Ok(db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_extension WHERE extname = 'citus'",
        ))
        .await?
        .is_some())
}

/// Makes the reference and distributed tables that are not yet; does nothing
/// on plain PostgreSQL and SQLite.
///
/// # Errors
/// Citus refused a table (the message names it).
pub async fn distribute<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<(), DbErr> {
    if !is_citus(db).await? {
        return Ok(());
    }
    for table in REFERENCE {
        if !is_distributed(db, table).await? {
            exec(
                db,
                table,
                &format!("SELECT create_reference_table('{table}')"),
            )
            .await?;
        }
    }
    let mut pending = Vec::new();
    for table in DISTRIBUTED {
        // A table a pending migration creates is sharded once it exists.
        if exists(db, table).await? && !is_distributed(db, table).await? {
            pending.push(*table);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    // Citus refuses a foreign key from a local table to a distributed one, so
    // the keys between the tables to shard that involve a table still to
    // shard are dropped, the tables distributed, and the keys made again, in
    // one transaction. Keys between tables already sharded stay. Sequential
    // mode: a table made distributed after its peers (a later migration)
    // takes locks on the reference tables its keys point to, which Citus
    // refuses after a parallel DDL on a sharded table in the same transaction.
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        .await?;
    let keys = foreign_keys_between(&txn, DISTRIBUTED, &pending).await?;
    for (table, name, _) in &keys {
        exec(
            &txn,
            table,
            &format!("ALTER TABLE {table} DROP CONSTRAINT {name}"),
        )
        .await?;
    }
    let anchor = DISTRIBUTED[0];
    for table in pending {
        let colocate = if table == anchor { "default" } else { anchor };
        exec(
            &txn,
            table,
            &format!(
                "SELECT create_distributed_table('{table}', 'project_id', \
                 colocate_with => '{colocate}')"
            ),
        )
        .await?;
    }
    for (table, name, definition) in &keys {
        exec(
            &txn,
            table,
            &format!("ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"),
        )
        .await?;
    }
    txn.commit().await
}

/// The foreign keys (table, name, definition) whose both ends are in
/// `tables` and one end in `pending`.
async fn foreign_keys_between<C: ConnectionTrait>(
    db: &C,
    tables: &[&str],
    pending: &[&str],
) -> Result<Vec<(String, String, String)>, DbErr> {
    let quoted = |names: &[&str]| {
        names
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (list, pending) = (quoted(tables), quoted(pending));
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT c.conrelid::regclass::text AS t, c.conname::text AS n, \
                        pg_get_constraintdef(c.oid) AS d \
                 FROM pg_constraint c \
                 WHERE c.contype = 'f' \
                   AND c.conrelid::regclass::text IN ({list}) \
                   AND c.confrelid::regclass::text IN ({list}) \
                   AND (c.conrelid::regclass::text IN ({pending}) \
                        OR c.confrelid::regclass::text IN ({pending})) \
                 ORDER BY 1, 2"
            ),
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "t")?,
                r.try_get("", "n")?,
                r.try_get("", "d")?,
            ))
        })
        .collect()
}

/// Whether `table` exists.
async fn exists<C: ConnectionTrait>(db: &C, table: &str) -> Result<bool, DbErr> {
    Ok(db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT 1 WHERE to_regclass('{table}') IS NOT NULL"),
        ))
        .await?
        .is_some())
}

/// Whether `table` is already distributed (hash) or a reference table (a
/// Citus-managed local table is neither).
async fn is_distributed<C: ConnectionTrait>(db: &C, table: &str) -> Result<bool, DbErr> {
    Ok(db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '{table}'::regclass \
                 AND (partmethod = 'h' OR (partmethod = 'n' AND repmodel = 't'))"
            ),
        ))
        .await?
        .is_some())
}

async fn exec<C: ConnectionTrait>(db: &C, table: &str, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql)
        .await
        .map(drop)
        .map_err(|e| DbErr::Migration(format!("Citus: distributing table {table}: {e}")))
}
