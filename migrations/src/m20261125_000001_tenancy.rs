//! Tenancy and people: projects, sub-projects, user groups, users, the roles a
//! grant may carry, grants, HEAppE session codes, the audit log and the
//! secrets Tally generates for itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, date_null, small_integer, text, text_null, timestamp_with_time_zone,
};

use crate::util::{
    check, create_indexes, created_at, drop_tables, fk, id, index, now, reference, reference_null,
    unique, updated_at,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The roles a grant may carry, with the family (upstream) they come from.
/// `rank` orders HEAppE's roles by id, as upstream numbers them (heappe.md §2).
const ROLES: &[(&str, &str, i16, &str)] = &[
    (
        "system_admin",
        "tally",
        0,
        "Administers the whole Tally instance.",
    ),
    (
        "heappe_administrator",
        "heappe",
        1,
        "HEAppE Administrator: contains every HEAppE role.",
    ),
    ("heappe_maintainer", "heappe", 2, "HEAppE Maintainer."),
    (
        "heappe_submitter",
        "heappe",
        3,
        "HEAppE Submitter: submits jobs; contains Reporter and GroupReporter.",
    ),
    (
        "heappe_group_reporter",
        "heappe",
        4,
        "HEAppE GroupReporter: reports on the groups of a project.",
    ),
    (
        "heappe_reporter",
        "heappe",
        5,
        "HEAppE Reporter: reports on a group's usage.",
    ),
    (
        "heappe_management_admin",
        "heappe",
        6,
        "HEAppE ManagementAdmin: manages formulas and aggregations.",
    ),
    (
        "heappe_manager",
        "heappe",
        7,
        "HEAppE Manager: triggers accounting recomputation.",
    ),
    (
        "eosc_project_admin",
        "eosc",
        0,
        "EOSC project_admin on a project.",
    ),
    (
        "eosc_provider_admin",
        "eosc",
        0,
        "EOSC provider_admin on a provider within a project.",
    ),
    (
        "eosc_installation_admin",
        "eosc",
        0,
        "EOSC installation_admin on an installation.",
    ),
    (
        "eosc_project_reader",
        "eosc",
        0,
        "EOSC project_reader on a project.",
    ),
    (
        "eosc_collection_owner",
        "eosc",
        0,
        "EOSC collection_owner: owns the global collections.",
    ),
    (
        "eosc_collection_reader",
        "eosc",
        0,
        "EOSC collection_reader: reads the global collections.",
    ),
    (
        "eosc_metric_definition_creator",
        "eosc",
        0,
        "EOSC metric_definition_creator.",
    ),
    ("eosc_provider_creator", "eosc", 0, "EOSC provider_creator."),
    (
        "eosc_unit_type_creator",
        "eosc",
        0,
        "EOSC unit_type_creator.",
    ),
    (
        "eosc_metric_type_creator",
        "eosc",
        0,
        "EOSC metric_type_creator.",
    ),
    (
        "apel_summary_reader",
        "apel",
        0,
        "Reads APEL cloud summaries (ALLOWED_FOR_GET).",
    ),
    (
        "storage_reader",
        "storage",
        0,
        "Reads the chargeback report of every bucket in scope.",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .col(id())
                    .col(text("accounting_string"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(date_null("start_date"))
                    .col(date_null("end_date"))
                    // HEAppE's UsageType: a label for the unit the project's formulas yield
                    // (NodeHours = `node_hour`, CoreHours = `core_hour`).
                    .col(text("usage_type").default("node_hour"))
                    .col(text_null("eosc_id"))
                    .col(text_null("acronym"))
                    .col(text_null("title"))
                    .col(text_null("call_identifier"))
                    .col(created_at(manager))
                    .col(updated_at(manager))
                    .index(&mut unique(
                        "uq_projects_accounting_string",
                        &["accounting_string"],
                    ))
                    .index(&mut unique("uq_projects_eosc_id", &["eosc_id"]))
                    .check(check(
                        "ck_projects_accounting_string",
                        "length(accounting_string) > 0",
                    ))
                    .check(check("ck_projects_name", "length(name) > 0"))
                    .check(check(
                        "ck_projects_dates",
                        "start_date IS NULL OR end_date IS NULL OR end_date >= start_date",
                    ))
                    .check(check(
                        "ck_projects_usage_type",
                        "usage_type IN ('node_hour', 'core_hour')",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sub_projects")
                    .col(id())
                    .col(reference("project_id"))
                    .col(text("identifier"))
                    .col(text_null("description"))
                    .col(date_null("start_date"))
                    .col(date_null("end_date"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "sub_projects",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique(
                        "uq_sub_projects_identifier",
                        &["project_id", "identifier"],
                    ))
                    // Lets children reference (sub_project_id, project_id) together.
                    .index(&mut unique(
                        "uq_sub_projects_id_project",
                        &["id", "project_id"],
                    ))
                    .check(check(
                        "ck_sub_projects_identifier",
                        "length(identifier) > 0",
                    ))
                    .check(check(
                        "ck_sub_projects_dates",
                        "start_date IS NULL OR end_date IS NULL OR end_date >= start_date",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("user_groups")
                    .col(id())
                    .col(reference_null("project_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "user_groups",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique("uq_user_groups_name", &["project_id", "name"]))
                    .check(check("ck_user_groups_name", "length(name) > 0"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(id())
                    .col(text("username"))
                    .col(text_null("email"))
                    // argon2id PHC string; NULL for identities that only log in by token.
                    .col(text_null("password_hash"))
                    // The `iss` and `sub` of an external OIDC identity.
                    .col(text_null("external_issuer"))
                    .col(text_null("external_subject"))
                    .col(boolean("disabled").default(false))
                    .col(created_at(manager))
                    .col(updated_at(manager))
                    .index(&mut unique("uq_users_username", &["username"]))
                    .index(&mut unique(
                        "uq_users_external",
                        &["external_issuer", "external_subject"],
                    ))
                    .check(check("ck_users_username", "length(username) > 0"))
                    .check(check(
                        "ck_users_external",
                        "(external_issuer IS NULL) = (external_subject IS NULL)",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("roles")
                    .col(id())
                    .col(text("name"))
                    .col(text("family"))
                    .col(small_integer("rank").default(0))
                    .col(text("description"))
                    .index(&mut unique("uq_roles_name", &["name"]))
                    .check(check(
                        "ck_roles_family",
                        "family IN ('tally', 'heappe', 'eosc', 'apel', 'storage')",
                    ))
                    .take(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table("roles")
            .columns(["name", "family", "rank", "description"]);
        for (name, family, rank, description) in ROLES {
            seed.values_panic([
                (*name).into(),
                (*family).into(),
                (*rank).into(),
                (*description).into(),
            ]);
        }
        manager.exec_stmt(seed).await?;

        manager
            .create_table(
                Table::create()
                    .table("grants")
                    .col(id())
                    .col(reference("user_id"))
                    .col(reference("role_id"))
                    // What the grant applies to. `scope_id` is the id of a row of the
                    // table the kind names, or 0 for the whole system.
                    .col(text("scope_kind"))
                    .col(reference("scope_id"))
                    .col(reference_null("granted_by"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk("grants", "user_id", "users", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk("grants", "role_id", "roles", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk("grants", "granted_by", "users", ForeignKeyAction::SetNull))
                    .index(&mut unique("uq_grants", &["user_id", "role_id", "scope_kind", "scope_id"]))
                    .check(check(
                        "ck_grants_scope_kind",
                        "scope_kind IN ('system', 'project', 'user_group', 'project_provider', \
                         'installation', 'site', 'bucket')",
                    ))
                    .check(check(
                        "ck_grants_scope_id",
                        "(scope_kind = 'system' AND scope_id = 0) OR (scope_kind <> 'system' AND scope_id > 0)",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("session_codes")
                    .col(id())
                    .col(reference("user_id"))
                    // SHA-256 of the code, hex: the code itself is never stored.
                    .col(text("code_hash"))
                    .col(timestamp_with_time_zone("authenticated_at"))
                    .col(timestamp_with_time_zone("last_access_at"))
                    .foreign_key(&mut fk(
                        "session_codes",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique("uq_session_codes_code_hash", &["code_hash"]))
                    .check(check(
                        "ck_session_codes_access",
                        "last_access_at >= authenticated_at",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(id())
                    .col(timestamp_with_time_zone("at").default(now(manager)))
                    .col(text("principal"))
                    .col(text("action"))
                    .col(text("target"))
                    .col(text_null("request_id"))
                    .col(text_null("detail"))
                    .take(),
            )
            .await?;

        // Secrets Tally generates for itself when none is configured (the JWT
        // signing key of the embedded default), shared by every instance.
        manager
            .create_table(
                Table::create()
                    .table("server_secrets")
                    .col(id())
                    .col(text("name"))
                    .col(text("value"))
                    .col(created_at(manager))
                    .index(&mut unique("uq_server_secrets_name", &["name"]))
                    .take(),
            )
            .await?;

        create_indexes(
            manager,
            vec![
                index("user_groups", &["project_id"]),
                index("grants", &["scope_kind", "scope_id"]),
                index("session_codes", &["user_id"]),
                index("audit_log", &["at"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "server_secrets",
                "audit_log",
                "session_codes",
                "grants",
                "roles",
                "users",
                "user_groups",
                "sub_projects",
                "projects",
            ],
        )
        .await
    }
}
