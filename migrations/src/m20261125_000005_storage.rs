//! Object storage (HCP): buckets and their usage. The hourly row is the raw
//! fact; daily and monthly rows roll up from it in the same transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, date, integer, text, timestamp_with_time_zone};

use crate::util::{
    check, create_indexes, created_at, drop_tables, fk, id, index, reference, reference_null,
    unique, updated_at,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The quantities every bucket-usage row carries, in exact integer units.
const AMOUNTS: &[&str] = &[
    "byte_hours",
    "object_delta",
    "writes",
    "deletes",
    "bytes_written",
    "bytes_deleted",
];

/// `CHECK`: everything but the object count change is non-negative.
const NON_NEGATIVE: &str = "byte_hours >= 0 AND writes >= 0 AND deletes >= 0 \
                            AND bytes_written >= 0 AND bytes_deleted >= 0";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("buckets")
                    .col(id())
                    .col(text("name"))
                    // The owner as HCP names it (e.g. `Jimmy@example.org`).
                    .col(text("owner_name"))
                    // The Tally user who owns the bucket, when known.
                    .col(reference_null("owner_id"))
                    .col(text("storage_class").default("STANDARD"))
                    .col(reference_null("project_id"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "buckets",
                        "owner_id",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "buckets",
                        "project_id",
                        "projects",
                        ForeignKeyAction::SetNull,
                    ))
                    .index(&mut unique("uq_buckets_name", &["name"]))
                    .check(check("ck_buckets_name", "length(name) > 0"))
                    .check(check("ck_buckets_owner_name", "length(owner_name) > 0"))
                    .take(),
            )
            .await?;

        // (table, period column, whether the period is an hour (a timestamp)
        // rather than a day or a month (a date; a month is its first day)).
        for (table, period, is_hour) in [
            ("bucket_usage_hourly", "hour", true),
            ("bucket_usage_daily", "day", false),
            ("bucket_usage_monthly", "month", false),
        ] {
            let mut create = Table::create();
            create
                .table(table)
                .col(reference("bucket_id"))
                .col(if is_hour {
                    timestamp_with_time_zone(period)
                } else {
                    date(period)
                })
                // Copied from the bucket, so usage can be distributed by project.
                .col(reference_null("project_id"));
            for amount in AMOUNTS {
                create.col(big_integer(*amount).default(0));
            }
            if !is_hour {
                // How many hourly samples the row sums.
                create.col(integer("samples").default(0));
                create.check(check(&format!("ck_{table}_samples"), "samples >= 0"));
            } else {
                create.col(created_at(manager));
            }
            create
                .col(updated_at(manager))
                .primary_key(Index::create().col("bucket_id").col(period))
                .foreign_key(&mut fk(
                    table,
                    "bucket_id",
                    "buckets",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    table,
                    "project_id",
                    "projects",
                    ForeignKeyAction::SetNull,
                ))
                .check(check(&format!("ck_{table}_amounts"), NON_NEGATIVE));
            manager.create_table(create).await?;
        }

        create_indexes(
            manager,
            vec![
                index("buckets", &["owner_id"]),
                index("buckets", &["project_id"]),
                index("bucket_usage_hourly", &["project_id", "hour"]),
                index("bucket_usage_daily", &["project_id", "day"]),
                index("bucket_usage_monthly", &["project_id", "month"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "bucket_usage_monthly",
                "bucket_usage_daily",
                "bucket_usage_hourly",
                "buckets",
            ],
        )
        .await
    }
}
