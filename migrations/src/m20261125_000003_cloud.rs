//! Cloud accounting (APEL): the name tables APEL keeps (sites, cloud compute
//! services, VOs, VO groups, VO roles, global user names), the publishers allowed
//! or banned by DN, the messages received, the cloud records under APEL's natural
//! key, and the daily summaries with APEL's semantics (apel.md §A2b).
//!
//! As in APEL, a missing name is stored as the name `None`, so every dimension of
//! a summary is `NOT NULL` and the summary key has no nullable column.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, date, double, double_null, integer, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

use crate::util::{
    check, create_indexes, created_at, drop_tables, fk, id, index, now, reference, reference_null,
    unique, updated_at,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// APEL's name tables: each is `(id, name UNIQUE)`.
const NAME_TABLES: &[&str] = &[
    "sites",
    "cloud_services",
    "vo_groups",
    "vo_roles",
    "global_users",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in NAME_TABLES {
            manager
                .create_table(
                    Table::create()
                        .table(*table)
                        .col(id())
                        .col(text("name"))
                        .index(&mut unique(&format!("uq_{table}_name"), &["name"]))
                        .check(check(&format!("ck_{table}_name"), "length(name) > 0"))
                        .take(),
                )
                .await?;
        }

        // A VO may be accounted to a Tally project: its usage then counts there.
        manager
            .create_table(
                Table::create()
                    .table("vos")
                    .col(id())
                    .col(text("name"))
                    .col(reference_null("project_id"))
                    .foreign_key(&mut fk(
                        "vos",
                        "project_id",
                        "projects",
                        ForeignKeyAction::SetNull,
                    ))
                    .index(&mut unique("uq_vos_name", &["name"]))
                    .check(check("ck_vos_name", "length(name) > 0"))
                    .take(),
            )
            .await?;

        // Publishers, by DN in slash form (`/C=XX/O=XX/CN=host`). A banned DN is
        // refused even when it would otherwise be allowed. `site_id`, when set,
        // binds the publisher to the one site it may publish for.
        manager
            .create_table(
                Table::create()
                    .table("publisher_dns")
                    .col(id())
                    .col(text("dn"))
                    .col(text("access"))
                    .col(reference_null("site_id"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "publisher_dns",
                        "site_id",
                        "sites",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique("uq_publisher_dns_dn", &["dn"]))
                    .check(check("ck_publisher_dns_dn", "length(dn) > 0"))
                    .check(check(
                        "ck_publisher_dns_access",
                        "access IN ('allowed', 'banned')",
                    ))
                    .take(),
            )
            .await?;

        // What arrived, when and from whom (APEL's `incoming/` queue entries).
        manager
            .create_table(
                Table::create()
                    .table("apel_messages")
                    .col(id())
                    .col(text_null("empa_id"))
                    .col(text("publisher_dn"))
                    .col(timestamp_with_time_zone("received_at").default(now(manager)))
                    .col(integer("record_count"))
                    // SHA-256 of the body, hex.
                    .col(text("body_hash"))
                    .check(check("ck_apel_messages_record_count", "record_count >= 0"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("cloud_records")
                    .col(id())
                    .col(text("vm_uuid"))
                    .col(reference("site_id"))
                    .col(reference("cloud_service_id"))
                    .col(reference("global_user_id"))
                    .col(reference("vo_id"))
                    .col(reference("vo_group_id"))
                    .col(reference("vo_role_id"))
                    // Resolved from the VO when the record is ingested.
                    .col(reference_null("project_id"))
                    .col(text_null("machine_name"))
                    .col(text_null("local_user_id"))
                    .col(text_null("local_group_id"))
                    .col(text_null("fqan"))
                    .col(text("status"))
                    .col(timestamp_with_time_zone("start_time"))
                    .col(timestamp_with_time_zone_null("end_time"))
                    .col(big_integer("suspend_duration").default(0))
                    .col(big_integer("wall_duration"))
                    .col(big_integer_null("cpu_duration"))
                    // An integer in APEL 1.6, DECIMAL(10,3) since 2025.
                    .col(double_null("cpu_count"))
                    .col(text_null("network_type"))
                    .col(big_integer_null("network_inbound"))
                    .col(big_integer_null("network_outbound"))
                    .col(big_integer_null("public_ip_count"))
                    .col(big_integer_null("memory"))
                    .col(big_integer_null("disk"))
                    .col(text_null("storage_record_id"))
                    .col(text("image_id"))
                    .col(text("cloud_type"))
                    .col(text("benchmark_type"))
                    .col(double("benchmark").default(0.0))
                    .col(timestamp_with_time_zone_null("record_create_time"))
                    // start + suspend + wall: the instant the snapshot measures.
                    .col(timestamp_with_time_zone("measurement_time"))
                    // The UTC calendar day of `measurement_time`.
                    .col(date("measurement_day"))
                    .col(text_null("publisher_dn"))
                    .col(reference_null("message_id"))
                    .col(created_at(manager))
                    .col(updated_at(manager))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "site_id",
                        "sites",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "cloud_service_id",
                        "cloud_services",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "global_user_id",
                        "global_users",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "vo_id",
                        "vos",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "vo_group_id",
                        "vo_groups",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "vo_role_id",
                        "vo_roles",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "project_id",
                        "projects",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_records",
                        "message_id",
                        "apel_messages",
                        ForeignKeyAction::SetNull,
                    ))
                    // APEL's key (apel/rest schemas/10-cloud.sql): several cumulative
                    // snapshots of a VM coexist; a replayed snapshot is the same row.
                    .index(&mut unique(
                        "uq_cloud_records_natural",
                        &["vm_uuid", "start_time", "suspend_duration", "wall_duration"],
                    ))
                    .check(check("ck_cloud_records_vm_uuid", "length(vm_uuid) > 0"))
                    .check(check(
                        "ck_cloud_records_durations",
                        "suspend_duration >= 0 AND wall_duration >= 0 \
                         AND (cpu_duration IS NULL OR cpu_duration >= 0)",
                    ))
                    .check(check(
                        "ck_cloud_records_amounts",
                        "(cpu_count IS NULL OR cpu_count >= 0) \
                         AND (network_inbound IS NULL OR network_inbound >= 0) \
                         AND (network_outbound IS NULL OR network_outbound >= 0) \
                         AND (public_ip_count IS NULL OR public_ip_count >= 0) \
                         AND (memory IS NULL OR memory >= 0) AND (disk IS NULL OR disk >= 0)",
                    ))
                    .check(check(
                        "ck_cloud_records_times",
                        "end_time IS NULL OR end_time >= start_time",
                    ))
                    .check(check(
                        "ck_cloud_records_measurement",
                        "measurement_time >= start_time",
                    ))
                    .take(),
            )
            .await?;

        // The snapshot that counts for a VM on a day: the one with the latest
        // measurement time (APEL's LastCloudRecordPerDay), with that day's deltas.
        manager
            .create_table(
                Table::create()
                    .table("cloud_vm_days")
                    .col(id())
                    .col(text("vm_uuid"))
                    .col(date("day"))
                    .col(reference("record_id"))
                    // This day's usage: the kept snapshot's cumulative counters
                    // minus those of the VM's previous kept snapshot (APEL's
                    // per-day deltas). Summaries are sums of these rows.
                    .col(big_integer("wall_delta").default(0))
                    .col(big_integer("cpu_delta").default(0))
                    .col(big_integer("network_inbound_delta").default(0))
                    .col(big_integer("network_outbound_delta").default(0))
                    .foreign_key(&mut fk(
                        "cloud_vm_days",
                        "record_id",
                        "cloud_records",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique("uq_cloud_vm_days", &["vm_uuid", "day"]))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("cloud_summaries_daily")
                    .col(id())
                    .col(reference("site_id"))
                    .col(reference("cloud_service_id"))
                    .col(date("day"))
                    .col(reference("global_user_id"))
                    .col(reference("vo_id"))
                    .col(reference("vo_group_id"))
                    .col(reference("vo_role_id"))
                    .col(reference_null("project_id"))
                    .col(text("status"))
                    .col(text("cloud_type"))
                    .col(text("image_id"))
                    .col(double("cpu_count").default(0.0))
                    .col(text("benchmark_type"))
                    .col(double("benchmark").default(0.0))
                    .col(timestamp_with_time_zone("earliest_start_time"))
                    .col(timestamp_with_time_zone("latest_start_time"))
                    .col(big_integer("wall_duration").default(0))
                    .col(big_integer("cpu_duration").default(0))
                    .col(big_integer("network_inbound").default(0))
                    .col(big_integer("network_outbound").default(0))
                    .col(big_integer("public_ip_count").default(0))
                    .col(big_integer("memory").default(0))
                    .col(big_integer("disk").default(0))
                    .col(big_integer("number_of_vms").default(0))
                    .col(updated_at(manager))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "site_id",
                        "sites",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "cloud_service_id",
                        "cloud_services",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "global_user_id",
                        "global_users",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "vo_id",
                        "vos",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "vo_group_id",
                        "vo_groups",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "vo_role_id",
                        "vo_roles",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "cloud_summaries_daily",
                        "project_id",
                        "projects",
                        ForeignKeyAction::SetNull,
                    ))
                    // APEL's GROUP BY of SummariseVMs, so that two groups never
                    // overwrite each other (APEL's narrower primary key can).
                    .index(&mut unique(
                        "uq_cloud_summaries_daily",
                        &[
                            "site_id",
                            "cloud_service_id",
                            "day",
                            "global_user_id",
                            "vo_id",
                            "vo_group_id",
                            "vo_role_id",
                            "status",
                            "cloud_type",
                            "image_id",
                            "cpu_count",
                            "benchmark_type",
                            "benchmark",
                        ],
                    ))
                    .check(check(
                        "ck_cloud_summaries_daily_start",
                        "latest_start_time >= earliest_start_time",
                    ))
                    .check(check("ck_cloud_summaries_daily_vms", "number_of_vms >= 0"))
                    .take(),
            )
            .await?;

        create_indexes(
            manager,
            vec![
                index("vos", &["project_id"]),
                index("publisher_dns", &["site_id"]),
                index("apel_messages", &["body_hash"]),
                index("cloud_records", &["site_id", "measurement_day"]),
                index("cloud_records", &["project_id", "measurement_day"]),
                index("cloud_records", &["vm_uuid", "measurement_time"]),
                index("cloud_vm_days", &["record_id"]),
                index("cloud_summaries_daily", &["earliest_start_time"]),
                index("cloud_summaries_daily", &["project_id", "day"]),
                index("cloud_summaries_daily", &["global_user_id"]),
                index("cloud_summaries_daily", &["vo_group_id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "cloud_summaries_daily",
                "cloud_vm_days",
                "cloud_records",
                "apel_messages",
                "publisher_dns",
                "vos",
                "global_users",
                "vo_roles",
                "vo_groups",
                "cloud_services",
                "sites",
            ],
        )
        .await
    }
}
