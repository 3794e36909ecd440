//! Rollups, maintained in the transaction that writes the facts they summarise
//! (DESIGN §3): HPC usage per day, EOSC metric totals per day, and the
//! cross-source usage tables a dashboard asks one question of.
//!
//! Rollups are derived data: they can be rebuilt from the facts. Dimensions that
//! may be absent (a job without a sub-project, usage without a known user) are
//! stored as the key `0` instead of `NULL`, so that the `UNIQUE` key an upsert
//! targets behaves the same on PostgreSQL and SQLite (both treat `NULL`s as
//! distinct in a unique key). Those `*_key` columns carry no foreign key.
//!
//! Quantities are exact integers: `quantity / 10^scale` is the amount in `unit`.
//! Rows of different units are never added together; the ingesting service
//! uses one scale per unit, and the scale is part of the key so that a mistake
//! there cannot merge rows of different scales.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, date, double, small_integer, text, timestamp_with_time_zone,
};

use crate::util::{
    check, create_indexes, drop_tables, fk, id, index, reference, unique, updated_at,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("hpc_usage_daily")
                    .col(id())
                    .col(reference("project_id"))
                    .col(reference("cluster_id"))
                    .col(reference("node_type_id"))
                    // `sub_projects.id`, or 0 for jobs without a sub-project.
                    .col(big_integer("sub_project_key").default(0))
                    // `users.id` of the submitter, or 0 when unknown.
                    .col(big_integer("submitter_key").default(0))
                    .col(date("day"))
                    .col(text("unit"))
                    .col(big_integer("usage_milli").default(0))
                    .col(big_integer("task_count").default(0))
                    .col(updated_at(manager))
                    .foreign_key(&mut fk("hpc_usage_daily", "project_id", "projects", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("hpc_usage_daily", "cluster_id", "clusters", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("hpc_usage_daily", "node_type_id", "node_types", ForeignKeyAction::Cascade))
                    .index(&mut unique(
                        "uq_hpc_usage_daily",
                        &[
                            "project_id",
                            "cluster_id",
                            "node_type_id",
                            "sub_project_key",
                            "submitter_key",
                            "day",
                            "unit",
                        ],
                    ))
                    .check(check(
                        "ck_hpc_usage_daily_amounts",
                        "usage_milli >= 0 AND task_count >= 0 AND sub_project_key >= 0 AND submitter_key >= 0",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("eosc_metric_daily")
                    .col(reference("installation_id"))
                    .col(reference("metric_definition_id"))
                    .col(date("day"))
                    .col(reference("project_id"))
                    .col(double("value_sum").default(0.0))
                    .col(big_integer("metric_count").default(0))
                    .col(updated_at(manager))
                    .primary_key(
                        Index::create()
                            .col("installation_id")
                            .col("metric_definition_id")
                            .col("day"),
                    )
                    .foreign_key(&mut fk(
                        "eosc_metric_daily",
                        "installation_id",
                        "installations",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "eosc_metric_daily",
                        "metric_definition_id",
                        "metric_definitions",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "eosc_metric_daily",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check("ck_eosc_metric_daily_count", "metric_count >= 0"))
                    .take(),
            )
            .await?;

        // The cross-source view: one row per project, source, resource, user,
        // group, unit and time bucket. Hourly rows serve series in any time zone;
        // daily rows (UTC days) serve period reports.
        for (table, bucket, is_hour) in [
            ("usage_hourly", "hour", true),
            ("usage_daily", "day", false),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .col(id())
                        .col(reference("project_id"))
                        .col(text("source"))
                        .col(text("resource_kind"))
                        .col(reference("resource_id"))
                        // `users.id`, or 0 when the usage has no known Tally user.
                        .col(big_integer("user_key").default(0))
                        // `user_groups.id`, or 0.
                        .col(big_integer("group_key").default(0))
                        .col(text("unit"))
                        .col(small_integer("scale"))
                        .col(if is_hour {
                            timestamp_with_time_zone(bucket)
                        } else {
                            date(bucket)
                        })
                        .col(big_integer("quantity").default(0))
                        .col(big_integer("record_count").default(0))
                        .col(updated_at(manager))
                        .foreign_key(&mut fk(
                            table,
                            "project_id",
                            "projects",
                            ForeignKeyAction::Cascade,
                        ))
                        .index(&mut unique(
                            &format!("uq_{table}"),
                            &[
                                "project_id",
                                "source",
                                "resource_kind",
                                "resource_id",
                                "user_key",
                                "group_key",
                                "unit",
                                "scale",
                                bucket,
                            ],
                        ))
                        .check(check(
                            &format!("ck_{table}_source"),
                            "source IN ('hpc', 'cloud', 'eosc', 'storage')",
                        ))
                        .check(check(
                            &format!("ck_{table}_resource_kind"),
                            "resource_kind IN ('node_type', 'site', 'installation', 'bucket')",
                        ))
                        .check(check(
                            &format!("ck_{table}_scale"),
                            "scale >= 0 AND scale <= 9",
                        ))
                        .check(check(
                            &format!("ck_{table}_keys"),
                            "user_key >= 0 AND group_key >= 0 AND record_count >= 0",
                        ))
                        .take(),
                )
                .await?;
        }

        create_indexes(
            manager,
            vec![
                index("hpc_usage_daily", &["project_id", "day"]),
                index("eosc_metric_daily", &["project_id", "day"]),
                index("usage_daily", &["project_id", "day"]),
                index("usage_daily", &["day"]),
                index("usage_hourly", &["project_id", "hour"]),
                index("usage_hourly", &["hour"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "usage_daily",
                "usage_hourly",
                "eosc_metric_daily",
                "hpc_usage_daily",
            ],
        )
        .await
    }
}
