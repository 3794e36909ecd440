//! HEAppE's reports and accounting management (issue 12).
//!
//! - `hpc_job_usage`: HPC usage per project × cluster × node type ×
//!   sub-project × submitter × unit, keyed by the UTC days its *job* started
//!   and ended. HEAppE counts a job in a period only when the whole job lies
//!   inside it (heappe.md §3), which the per-day rollup of when usage happened
//!   (`hpc_usage_daily`) cannot answer; this one can, for any period of whole
//!   UTC days, reading a number of rows that depends on the period and the
//!   dimensions, not on how many jobs there were. Only jobs that started and
//!   ended are in it. Born distributable: sharded by `project_id` (in its
//!   primary key), colocated with `jobs`.
//! - `formulas.deleted_at`: HEAppE's `DELETE Accounting` retires a formula
//!   (upstream sets `IsDeleted`): it is no longer chosen for new usage, and
//!   the tasks it priced keep naming it.
//! - `jobs (project_id, start_time)`: the jobs that started on a period's
//!   first, partial day.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, date, text, timestamp_with_time_zone_null};

use crate::util::{check, create_indexes, drop_tables, fk, index, reference, updated_at};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("formulas")
                    .add_column(timestamp_with_time_zone_null("deleted_at"))
                    .take(),
            )
            .await?;
        // The project key has no `ON UPDATE CASCADE`: Citus refuses a
        // cascading update of the distribution column (project ids never
        // change).
        let mut project = ForeignKey::create()
            .name("fk_hpc_job_usage_project_id")
            .from("hpc_job_usage", "project_id")
            .to("projects", "id")
            .on_delete(ForeignKeyAction::Cascade)
            .take();
        manager
            .create_table(
                Table::create()
                    .table("hpc_job_usage")
                    .col(reference("project_id"))
                    .col(reference("cluster_id"))
                    .col(reference("node_type_id"))
                    // `sub_projects.id`, or 0 for jobs without a sub-project.
                    .col(big_integer("sub_project_key").default(0))
                    // `users.id` of the submitter, or 0 when unknown.
                    .col(big_integer("submitter_key").default(0))
                    // The UTC days the job started and ended.
                    .col(date("start_day"))
                    .col(date("end_day"))
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
                            .col("start_day")
                            .col("end_day")
                            .col("unit"),
                    )
                    .foreign_key(&mut project)
                    .foreign_key(&mut fk(
                        "hpc_job_usage",
                        "cluster_id",
                        "clusters",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "hpc_job_usage",
                        "node_type_id",
                        "node_types",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check(
                        "ck_hpc_job_usage_amounts",
                        "usage_milli >= 0 AND task_count >= 0 AND sub_project_key >= 0 \
                         AND submitter_key >= 0 AND end_day >= start_day",
                    ))
                    .take(),
            )
            .await?;
        // The jobs that started on a period's first, partial day (the raw
        // edge of a whole-jobs question; `jobs (project_id, end_time)` serves
        // the last day).
        create_indexes(
            manager,
            vec![
                index("hpc_job_usage", &["project_id", "start_day"]),
                index("jobs", &["project_id", "start_time"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_jobs_project_id_start_time")
                    .table("jobs")
                    .to_owned(),
            )
            .await?;
        drop_tables(manager, &["hpc_job_usage"]).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("formulas")
                    .drop_column("deleted_at")
                    .take(),
            )
            .await
    }
}
