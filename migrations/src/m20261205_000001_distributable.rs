//! A schema Citus can distribute (issue 11), with unchanged behaviour on plain
//! PostgreSQL and SQLite. `docs/scaling.md` has the table-by-table decision.
//!
//! On PostgreSQL:
//! - Every `GENERATED … AS IDENTITY` id becomes a sequence default (`nextval`),
//!   which Citus supports on distributed and reference tables alike; the
//!   sequence continues where the identity stopped.
//! - The tables sharded by `project_id` (jobs, tasks, task parameters, EOSC
//!   metrics and the four project rollups) get primary and unique keys that
//!   include `project_id`, and their foreign keys over `project_id` lose
//!   `ON UPDATE CASCADE` (Citus refuses a cascading update of the
//!   distribution column; project ids never change).
//! - `task_parameters` carries `project_id` (filled from its task), so that a
//!   task's parameters live on the task's shard.
//! - A job's natural key (cluster, scheduler id, submit time) can no longer be
//!   a unique constraint across projects: the ingestion service keeps it
//!   unique (`service::jobs`, one cluster's batches at a time).
//!
//! On SQLite `task_parameters` is rebuilt with `project_id` (its primary key
//! and foreign key unchanged), and the two unique keys that `ON CONFLICT`
//! names get a twin with `project_id`, as on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// Tables sharded by `project_id`, each with a surrogate `id` that becomes
/// part of a `(id, project_id)` primary key.
const SHARDED_WITH_ID: &[&str] = &[
    "jobs",
    "tasks",
    "metrics",
    "hpc_usage_daily",
    "usage_daily",
    "usage_hourly",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => postgres(manager).await,
            DbBackend::Sqlite => sqlite(manager).await,
            _ => Err(DbErr::Migration("MySQL is not supported".to_owned())),
        }
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "m20261205_000001_distributable cannot be reverted: restore a backup".to_owned(),
        ))
    }
}

async fn run(manager: &SchemaManager<'_>, statements: &[String]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

async fn postgres(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let mut sql: Vec<String> = Vec::new();

    // 1. Identity columns → sequences.
    let identities: Vec<String> = manager
        .get_connection()
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name::text AS t FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'id' \
               AND is_identity = 'YES' ORDER BY table_name",
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "t"))
        .collect::<Result<_, _>>()?;
    for table in &identities {
        let seq = format!("{table}_id_seq");
        sql.push(format!("ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY"));
        sql.push(format!(
            "CREATE SEQUENCE {seq} AS bigint OWNED BY {table}.id"
        ));
        sql.push(format!(
            "SELECT setval('{seq}', COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        ));
        sql.push(format!(
            "ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{seq}')"
        ));
    }

    // 2. Foreign keys that will be re-created: between sharded tables, and
    //    from sharded tables over project_id.
    for (table, name) in [
        ("tasks", "fk_tasks_job"),
        ("task_parameters", "fk_task_parameters_task_id"),
        ("jobs", "fk_jobs_project_id"),
        ("jobs", "fk_jobs_sub_project"),
        ("metrics", "fk_metrics_installation"),
        ("hpc_usage_daily", "fk_hpc_usage_daily_project_id"),
        ("eosc_metric_daily", "fk_eosc_metric_daily_project_id"),
        ("usage_daily", "fk_usage_daily_project_id"),
        ("usage_hourly", "fk_usage_hourly_project_id"),
    ] {
        sql.push(format!("ALTER TABLE {table} DROP CONSTRAINT {name}"));
    }

    // 3. Primary and unique keys that include project_id.
    for table in SHARDED_WITH_ID {
        sql.push(format!(
            "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY (id, project_id)"
        ));
    }
    sql.push("ALTER TABLE jobs DROP CONSTRAINT uq_jobs_id_project".to_owned());
    sql.push(
        "ALTER TABLE jobs DROP CONSTRAINT uq_jobs_natural, ADD CONSTRAINT uq_jobs_natural \
         UNIQUE (cluster_id, scheduler_job_id, submit_time, project_id)"
            .to_owned(),
    );
    sql.push(
        "ALTER TABLE tasks DROP CONSTRAINT uq_tasks_ordinal, ADD CONSTRAINT uq_tasks_ordinal \
         UNIQUE (job_id, ordinal, project_id)"
            .to_owned(),
    );
    sql.push(
        "ALTER TABLE metrics DROP CONSTRAINT uq_metrics_idempotency_key, \
         ADD CONSTRAINT uq_metrics_idempotency_key \
         UNIQUE (installation_id, idempotency_key, project_id)"
            .to_owned(),
    );
    sql.push(
        "ALTER TABLE eosc_metric_daily DROP CONSTRAINT eosc_metric_daily_pkey, \
         ADD PRIMARY KEY (installation_id, metric_definition_id, day, project_id)"
            .to_owned(),
    );

    // 4. task_parameters on its task's shard.
    sql.push("ALTER TABLE task_parameters ADD COLUMN project_id bigint".to_owned());
    sql.push(
        "UPDATE task_parameters p SET project_id = t.project_id FROM tasks t WHERE t.id = p.task_id"
            .to_owned(),
    );
    sql.push("ALTER TABLE task_parameters ALTER COLUMN project_id SET NOT NULL".to_owned());
    sql.push(
        "ALTER TABLE task_parameters DROP CONSTRAINT task_parameters_pkey, \
         ADD PRIMARY KEY (task_id, name, project_id)"
            .to_owned(),
    );

    // 5. The foreign keys again, without cascading updates of project_id.
    for (table, name, columns, target) in [
        (
            "tasks",
            "fk_tasks_job",
            "job_id, project_id",
            "jobs (id, project_id)",
        ),
        (
            "task_parameters",
            "fk_task_parameters_task",
            "task_id, project_id",
            "tasks (id, project_id)",
        ),
        ("jobs", "fk_jobs_project_id", "project_id", "projects (id)"),
        (
            "jobs",
            "fk_jobs_sub_project",
            "sub_project_id, project_id",
            "sub_projects (id, project_id)",
        ),
        (
            "metrics",
            "fk_metrics_installation",
            "installation_id, project_id",
            "installations (id, project_id)",
        ),
        (
            "hpc_usage_daily",
            "fk_hpc_usage_daily_project_id",
            "project_id",
            "projects (id)",
        ),
        (
            "eosc_metric_daily",
            "fk_eosc_metric_daily_project_id",
            "project_id",
            "projects (id)",
        ),
        (
            "usage_daily",
            "fk_usage_daily_project_id",
            "project_id",
            "projects (id)",
        ),
        (
            "usage_hourly",
            "fk_usage_hourly_project_id",
            "project_id",
            "projects (id)",
        ),
    ] {
        // Each keeps its old delete rule: a job's project, sub-project and a
        // metric's installation may not go while referenced; the rest cascade.
        let restrict = [
            "fk_jobs_project_id",
            "fk_jobs_sub_project",
            "fk_metrics_installation",
        ];
        let on_delete = if restrict.contains(&name) {
            "RESTRICT"
        } else {
            "CASCADE"
        };
        sql.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) \
             REFERENCES {target} ON DELETE {on_delete}"
        ));
    }
    run(manager, &sql).await
}

async fn sqlite(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let sql = [
        "CREATE TABLE task_parameters_new ( \
            task_id bigint NOT NULL, \
            name text NOT NULL, \
            value text NOT NULL, \
            project_id bigint NOT NULL, \
            CONSTRAINT ck_task_parameters_name CHECK (length(name) > 0), \
            PRIMARY KEY (task_id, name), \
            CONSTRAINT fk_task_parameters_task_id FOREIGN KEY (task_id) REFERENCES tasks (id) \
                ON DELETE CASCADE ON UPDATE CASCADE)",
        "INSERT INTO task_parameters_new (task_id, name, value, project_id) \
            SELECT p.task_id, p.name, p.value, t.project_id \
            FROM task_parameters p JOIN tasks t ON t.id = p.task_id",
        "DROP TABLE task_parameters",
        "ALTER TABLE task_parameters_new RENAME TO task_parameters",
        // The keys PostgreSQL now has, so that `ON CONFLICT` names the same
        // columns on both backends (the narrower keys stay: the installation
        // decides the project, so they hold the same rows).
        "CREATE UNIQUE INDEX uq_metrics_idempotency_key_project \
            ON metrics (installation_id, idempotency_key, project_id)",
        "CREATE UNIQUE INDEX uq_eosc_metric_daily_project \
            ON eosc_metric_daily (installation_id, metric_definition_id, day, project_id)",
    ]
    .join(";\n");
    // One string, so that every statement runs on one pooled connection (a
    // rename on another connection did not see the drop), in one transaction.
    manager
        .get_connection()
        .execute_unprepared(&format!("BEGIN;\n{sql};\nCOMMIT;"))
        .await
        .map(drop)
}
