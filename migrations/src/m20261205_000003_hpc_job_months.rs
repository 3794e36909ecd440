//! Whole-jobs reports whose cost does not grow with the jobs (issue 12).
//!
//! - `hpc_job_usage_monthly`: `hpc_job_usage` summed to the UTC *months* its
//!   job started and ended. A report over whole months reads it: a year is at
//!   most twelve start months per dimension, however many jobs ran, whereas
//!   the per-day rows of a year keep growing with the jobs until every pair of
//!   days of every dimension holds one. `hpc_job_usage` answers the days
//!   before the first whole month and after the last. Born distributable:
//!   sharded by `project_id` (in its primary key), colocated with `jobs`.
//!   Filled from `hpc_job_usage` when created.
//! - `hpc_job_usage (project_id, end_day)`: the jobs that end in the days after
//!   a period's last whole month.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, date, text};

use crate::util::{check, create_indexes, drop_tables, fk, index, reference, updated_at};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No `ON UPDATE CASCADE` on the distribution column (as in
        // `hpc_job_usage`).
        let mut project = ForeignKey::create()
            .name("fk_hpc_job_usage_monthly_project_id")
            .from("hpc_job_usage_monthly", "project_id")
            .to("projects", "id")
            .on_delete(ForeignKeyAction::Cascade)
            .take();
        manager
            .create_table(
                Table::create()
                    .table("hpc_job_usage_monthly")
                    .col(reference("project_id"))
                    .col(reference("cluster_id"))
                    .col(reference("node_type_id"))
                    .col(big_integer("sub_project_key").default(0))
                    .col(big_integer("submitter_key").default(0))
                    // The first days of the UTC months the job started and
                    // ended.
                    .col(date("start_month"))
                    .col(date("end_month"))
                    .col(text("unit"))
                    .col(big_integer("usage_milli").default(0))
                    .col(big_integer("task_count").default(0))
                    .col(updated_at(manager))
                    .primary_key(
                        Index::create()
                            .col("project_id")
                            .col("cluster_id")
                            .col("node_type_id")
                            .col("sub_project_key")
                            .col("submitter_key")
                            .col("start_month")
                            .col("end_month")
                            .col("unit"),
                    )
                    .foreign_key(&mut project)
                    .foreign_key(&mut fk(
                        "hpc_job_usage_monthly",
                        "cluster_id",
                        "clusters",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "hpc_job_usage_monthly",
                        "node_type_id",
                        "node_types",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check(
                        "ck_hpc_job_usage_monthly_amounts",
                        "usage_milli >= 0 AND task_count >= 0 AND sub_project_key >= 0 \
                         AND submitter_key >= 0 AND end_month >= start_month",
                    ))
                    .take(),
            )
            .await?;
        let month = |column: &str| match manager.get_database_backend() {
            sea_orm::DbBackend::Sqlite => format!("date({column}, 'start of month')"),
            _ => format!("CAST(date_trunc('month', {column}) AS DATE)"),
        };
        let (start, end) = (month("start_day"), month("end_day"));
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO hpc_job_usage_monthly (project_id, cluster_id, node_type_id, \
                 sub_project_key, submitter_key, start_month, end_month, unit, usage_milli, \
                 task_count) \
                 SELECT project_id, cluster_id, node_type_id, sub_project_key, submitter_key, \
                 {start}, {end}, unit, SUM(usage_milli), SUM(task_count) \
                 FROM hpc_job_usage \
                 GROUP BY project_id, cluster_id, node_type_id, sub_project_key, \
                 submitter_key, {start}, {end}, unit"
            ))
            .await?;
        create_indexes(
            manager,
            vec![
                index("hpc_job_usage_monthly", &["project_id", "start_month"]),
                index("hpc_job_usage", &["project_id", "end_day"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_hpc_job_usage_project_id_end_day")
                    .table("hpc_job_usage")
                    .to_owned(),
            )
            .await?;
        drop_tables(manager, &["hpc_job_usage_monthly"]).await
    }
}
