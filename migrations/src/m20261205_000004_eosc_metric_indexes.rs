//! Indexes that let a page of EOSC metrics cost its size (issue 13): every
//! listing of the EOSC REST API orders by metric id and pages with
//! LIMIT/OFFSET, so each reads an index range in id order.
//!
//! - `metrics (installation_id, id)`: an installation's metrics.
//! - `metrics (project_id, id)`: a project's metrics, and a provider's within
//!   a project (the provider's installations filtered along the range).
//! - `metrics (project_id, group_id, id)`, `metrics (project_id, user_id, id)`:
//!   a project's metrics of one EOSC group or user.
//!
//! Plain (non-unique) indexes: `metrics` stays distributable by `project_id`.

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
                index("metrics", &["installation_id", "id"]),
                index("metrics", &["project_id", "id"]),
                index("metrics", &["project_id", "group_id", "id"]),
                index("metrics", &["project_id", "user_id", "id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_metrics_project_id_user_id_id",
            "ix_metrics_project_id_group_id_id",
            "ix_metrics_project_id_id",
            "ix_metrics_installation_id_id",
        ] {
            manager
                .drop_index(Index::drop().name(name).table("metrics").to_owned())
                .await?;
        }
        Ok(())
    }
}
