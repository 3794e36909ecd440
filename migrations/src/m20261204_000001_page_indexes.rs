//! Indexes that let a page of a child list cost its size, not the parent's
//! history (issue 10, item 11).
//!
//! - `jobs (project_id, submit_time)`: a project's jobs newest first (the
//!   default order of every job list), and a node type's jobs seen from a
//!   project, read in that order until a page is full.
//! - `tasks (node_type_id, job_id)`: whether a job has a task on a node type
//!   (`EXISTS`), answered from the index alone.

use sea_orm_migration::prelude::*;

use crate::util::{create_indexes, index};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(
            manager,
            vec![
                index("jobs", &["project_id", "submit_time"]),
                index("tasks", &["node_type_id", "job_id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in [
            ("tasks", "ix_tasks_node_type_id_job_id"),
            ("jobs", "ix_jobs_project_id_submit_time"),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
