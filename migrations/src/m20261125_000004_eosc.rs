//! EOSC Accounting System: providers, unit and metric types (seeded with the
//! upstream defaults, eosc.md §1.1), metric definitions, the project↔provider
//! association, EOSC resources, installations, metrics and registered clients.
//!
//! Scoped access (EOSC's ACL entries on a project, a provider within a project or
//! an installation) lives in `grants`, with scope kinds `project`,
//! `project_provider` and `installation`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, double, text, text_null, timestamp_with_time_zone};

use crate::util::{
    check, create_indexes, created_at, drop_tables, fk, fk_pair, id, index, now, reference,
    reference_null, unique, updated_at,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// EOSC's built-in unit types (changeLog.xml changeSet 17).
const UNIT_TYPES: &[(&str, &str)] = &[
    ("TB", "Terabyte"),
    ("TB/year", "Terabyte per year"),
    ("Endpoints Monitored/hour", "Endpoints monitored per hour"),
    ("Messages/hour", "Messages per hour"),
    ("Service Updates", "Service updates"),
    ("#", "Number of"),
    ("count", "Count"),
    ("API reqs", "API requests"),
    ("PID prefixes", "PID prefixes"),
    ("CPU Time", "CPU time"),
    ("s", "Seconds"),
];

/// EOSC's built-in metric types (changeLog.xml changeSet 20).
const METRIC_TYPES: &[(&str, &str)] = &[
    ("aggregated", "The sum of the values over the interval."),
    ("count", "The number of occurrences of an event."),
    ("summarised", "Measured values."),
    ("averaged", "The average of the values over the interval."),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("providers")
                    .col(id())
                    // The id EOSC shows (e.g. `grnet`); never contains a dot.
                    .col(text("external_id"))
                    .col(text("name"))
                    .col(text_null("website"))
                    .col(text_null("abbreviation"))
                    .col(text_null("logo"))
                    .col(text_null("creator_id"))
                    // Pulled from the EOSC portal: upstream refuses to edit those.
                    .col(boolean("from_portal").default(false))
                    .col(created_at(manager))
                    .index(&mut unique("uq_providers_external_id", &["external_id"]))
                    .index(&mut unique("uq_providers_name", &["name"]))
                    .check(check(
                        "ck_providers_external_id",
                        "length(external_id) > 0 AND external_id NOT LIKE '%.%'",
                    ))
                    .check(check("ck_providers_name", "length(name) > 0"))
                    .take(),
            )
            .await?;

        for (table, rows) in [("unit_types", UNIT_TYPES), ("metric_types", METRIC_TYPES)] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .col(id())
                        .col(text("name"))
                        .col(text("description"))
                        .col(text_null("creator_id"))
                        // Registered by the system itself: cannot be deleted.
                        .col(boolean("built_in").default(false))
                        .col(created_at(manager))
                        .check(check(&format!("ck_{table}_name"), "length(name) > 0"))
                        .take(),
                )
                .await?;
            // Names are unique regardless of case, as in upstream's collation.
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "CREATE UNIQUE INDEX uq_{table}_name ON {table} (lower(name))"
                ))
                .await?;
            let mut seed = Query::insert();
            seed.into_table(table)
                .columns(["name", "description", "creator_id", "built_in"]);
            for (name, description) in rows {
                seed.values_panic([
                    (*name).into(),
                    (*description).into(),
                    "".into(),
                    true.into(),
                ]);
            }
            manager.exec_stmt(seed).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("metric_definitions")
                    .col(id())
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(reference("unit_type_id"))
                    .col(reference("metric_type_id"))
                    .col(text_null("creator_id"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "metric_definitions",
                        "unit_type_id",
                        "unit_types",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "metric_definitions",
                        "metric_type_id",
                        "metric_types",
                        ForeignKeyAction::Restrict,
                    ))
                    .check(check("ck_metric_definitions_name", "length(name) > 0"))
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_metric_definitions_name \
                 ON metric_definitions (unit_type_id, lower(name))",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("project_providers")
                    .col(id())
                    .col(reference("project_id"))
                    .col(reference("provider_id"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "project_providers",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "project_providers",
                        "provider_id",
                        "providers",
                        ForeignKeyAction::Restrict,
                    ))
                    .index(&mut unique(
                        "uq_project_providers",
                        &["project_id", "provider_id"],
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("eosc_resources")
                    .col(id())
                    .col(text("external_id"))
                    .col(text("name"))
                    .col(created_at(manager))
                    .index(&mut unique(
                        "uq_eosc_resources_external_id",
                        &["external_id"],
                    ))
                    .check(check(
                        "ck_eosc_resources_external_id",
                        "length(external_id) > 0",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("installations")
                    .col(id())
                    .col(reference("project_id"))
                    .col(reference("provider_id"))
                    .col(text("installation"))
                    .col(text_null("infrastructure"))
                    .col(reference_null("resource_id"))
                    .col(reference_null("unit_of_access_id"))
                    .col(text_null("external_id"))
                    .col(text_null("creator_id"))
                    .col(created_at(manager))
                    // The provider must be associated with the project first.
                    .foreign_key(&mut fk_pair(
                        "fk_installations_project_provider",
                        "installations",
                        ("project_id", "provider_id"),
                        "project_providers",
                        ("project_id", "provider_id"),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "installations",
                        "resource_id",
                        "eosc_resources",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "installations",
                        "unit_of_access_id",
                        "metric_definitions",
                        ForeignKeyAction::Restrict,
                    ))
                    .index(&mut unique(
                        "uq_installations_natural",
                        &["project_id", "provider_id", "installation"],
                    ))
                    .index(&mut unique(
                        "uq_installations_external_id",
                        &["external_id"],
                    ))
                    .index(&mut unique(
                        "uq_installations_id_project",
                        &["id", "project_id"],
                    ))
                    .check(check(
                        "ck_installations_installation",
                        "length(installation) > 0",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("metrics")
                    .col(id())
                    .col(reference("installation_id"))
                    .col(reference("project_id"))
                    .col(reference("metric_definition_id"))
                    .col(timestamp_with_time_zone("period_start"))
                    .col(timestamp_with_time_zone("period_end"))
                    // A double, as upstream defines it.
                    .col(double("value"))
                    .col(text_null("user_id"))
                    .col(text_null("group_id"))
                    .col(text_null("creator_id"))
                    // Upstream accepts duplicates; a client-supplied key prevents
                    // a retried request from counting twice.
                    .col(text_null("idempotency_key"))
                    .col(created_at(manager))
                    .col(updated_at(manager))
                    .foreign_key(&mut fk_pair(
                        "fk_metrics_installation",
                        "metrics",
                        ("installation_id", "project_id"),
                        "installations",
                        ("id", "project_id"),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "metrics",
                        "metric_definition_id",
                        "metric_definitions",
                        ForeignKeyAction::Restrict,
                    ))
                    .index(&mut unique(
                        "uq_metrics_idempotency_key",
                        &["installation_id", "idempotency_key"],
                    ))
                    .check(check("ck_metrics_period", "period_end > period_start"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("eosc_clients")
                    .col(id())
                    // The token's `voperson_id`, `sub` or `client_id`.
                    .col(text("subject"))
                    .col(text_null("name"))
                    .col(text_null("email"))
                    .col(reference_null("user_id"))
                    .col(timestamp_with_time_zone("registered_on").default(now(manager)))
                    .foreign_key(&mut fk(
                        "eosc_clients",
                        "user_id",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .index(&mut unique("uq_eosc_clients_subject", &["subject"]))
                    .check(check("ck_eosc_clients_subject", "length(subject) > 0"))
                    .take(),
            )
            .await?;

        create_indexes(
            manager,
            vec![
                index("metric_definitions", &["metric_type_id"]),
                index("project_providers", &["provider_id"]),
                index("installations", &["provider_id"]),
                index("installations", &["unit_of_access_id"]),
                index("metrics", &["installation_id", "period_start"]),
                index("metrics", &["project_id", "period_start"]),
                index("metrics", &["metric_definition_id"]),
                index("metrics", &["user_id"]),
                index("metrics", &["group_id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "eosc_clients",
                "metrics",
                "installations",
                "eosc_resources",
                "project_providers",
                "metric_definitions",
                "metric_types",
                "unit_types",
                "providers",
            ],
        )
        .await
    }
}
