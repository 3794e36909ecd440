//! HPC (HEAppE's model): clusters, node-type aggregations, node types, which
//! projects may use a cluster, command templates, accounting formulas with their
//! validity windows, jobs, tasks with their scheduler parameters and computed
//! usage, and the recomputation runs (HEAppE's AccountingState).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, small_integer, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

use crate::util::{
    check, create_indexes, created_at, drop_tables, fk, fk_pair, id, index, now, reference,
    reference_null, unique, updated_at,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// HEAppE's JobState / TaskState flag values (heappe.md §5).
const STATES: &str = "(1, 2, 4, 8, 16, 32, 64, 128, 256)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("clusters")
                    .col(id())
                    .col(text("name"))
                    .col(text_null("description"))
                    // `slurm`, `pbs`, … (free text: only a label).
                    .col(text_null("scheduler"))
                    .col(created_at(manager))
                    .index(&mut unique("uq_clusters_name", &["name"]))
                    .check(check("ck_clusters_name", "length(name) > 0"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("cluster_projects")
                    .col(id())
                    .col(reference("cluster_id"))
                    .col(reference("project_id"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "cluster_projects",
                        "cluster_id",
                        "clusters",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "cluster_projects",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique(
                        "uq_cluster_projects",
                        &["cluster_id", "project_id"],
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("node_type_aggregations")
                    .col(id())
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(text_null("allocation_type"))
                    .col(timestamp_with_time_zone("validity_from"))
                    .col(timestamp_with_time_zone_null("validity_to"))
                    .col(created_at(manager))
                    .index(&mut unique("uq_node_type_aggregations_name", &["name"]))
                    .check(check("ck_node_type_aggregations_name", "length(name) > 0"))
                    .check(check(
                        "ck_node_type_aggregations_validity",
                        "validity_to IS NULL OR validity_to >= validity_from",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("node_types")
                    .col(id())
                    .col(reference("cluster_id"))
                    .col(reference_null("aggregation_id"))
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(text("queue"))
                    .col(text_null("quality_of_service"))
                    .col(integer("cores_per_node"))
                    .col(integer_null("node_count"))
                    .col(big_integer_null("max_walltime_seconds"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "node_types",
                        "cluster_id",
                        "clusters",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "node_types",
                        "aggregation_id",
                        "node_type_aggregations",
                        ForeignKeyAction::SetNull,
                    ))
                    .index(&mut unique("uq_node_types_name", &["cluster_id", "name"]))
                    .check(check("ck_node_types_name", "length(name) > 0"))
                    .check(check("ck_node_types_cores_per_node", "cores_per_node > 0"))
                    .check(check(
                        "ck_node_types_node_count",
                        "node_count IS NULL OR node_count >= 0",
                    ))
                    .check(check(
                        "ck_node_types_max_walltime",
                        "max_walltime_seconds IS NULL OR max_walltime_seconds > 0",
                    ))
                    .take(),
            )
            .await?;

        // HEAppE's ProjectClusterNodeTypeAggregation: a project's allocation on an
        // aggregation, in the unit of the aggregation's formulas.
        manager
            .create_table(
                Table::create()
                    .table("project_allocations")
                    .col(id())
                    .col(reference("project_id"))
                    .col(reference("aggregation_id"))
                    .col(big_integer("allocation_amount"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "project_allocations",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "project_allocations",
                        "aggregation_id",
                        "node_type_aggregations",
                        ForeignKeyAction::Cascade,
                    ))
                    .index(&mut unique(
                        "uq_project_allocations",
                        &["project_id", "aggregation_id"],
                    ))
                    .check(check(
                        "ck_project_allocations_amount",
                        "allocation_amount >= 0",
                    ))
                    .take(),
            )
            .await?;

        // A formula is never edited: a change is a new row that `supersedes` the
        // old one, so every computed usage keeps pointing at what produced it.
        manager
            .create_table(
                Table::create()
                    .table("formulas")
                    .col(id())
                    .col(text("expression"))
                    // The unit the expression yields, e.g. `core_hour`, `node_hour`.
                    .col(text("unit"))
                    .col(timestamp_with_time_zone("validity_from"))
                    .col(timestamp_with_time_zone_null("validity_to"))
                    .col(reference_null("supersedes_id"))
                    .col(reference_null("created_by"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "formulas",
                        "supersedes_id",
                        "formulas",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "formulas",
                        "created_by",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .check(check(
                        "ck_formulas_expression",
                        "length(expression) > 0 AND length(expression) <= 200",
                    ))
                    .check(check("ck_formulas_unit", "length(unit) > 0"))
                    .check(check(
                        "ck_formulas_validity",
                        "validity_to IS NULL OR validity_to >= validity_from",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("aggregation_formulas")
                    .col(reference("aggregation_id"))
                    .col(reference("formula_id"))
                    .primary_key(Index::create().col("aggregation_id").col("formula_id"))
                    .foreign_key(&mut fk(
                        "aggregation_formulas",
                        "aggregation_id",
                        "node_type_aggregations",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "aggregation_formulas",
                        "formula_id",
                        "formulas",
                        ForeignKeyAction::Restrict,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("command_templates")
                    .col(id())
                    .col(text("name"))
                    .col(text_null("description"))
                    .col(text_null("executable"))
                    .col(boolean("enabled").default(true))
                    .col(reference_null("node_type_id"))
                    .col(reference_null("project_id"))
                    .col(created_at(manager))
                    .foreign_key(&mut fk(
                        "command_templates",
                        "node_type_id",
                        "node_types",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "command_templates",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check("ck_command_templates_name", "length(name) > 0"))
                    .take(),
            )
            .await?;

        // Jobs: keyed as schedulers key them. Slurm reuses job ids, so the submit
        // time is part of the natural key.
        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .col(id())
                    .col(reference("cluster_id"))
                    .col(text("scheduler_job_id"))
                    .col(timestamp_with_time_zone("submit_time"))
                    .col(text("name"))
                    .col(small_integer("state"))
                    .col(reference("project_id"))
                    .col(reference_null("sub_project_id"))
                    .col(reference_null("submitter_id"))
                    .col(reference_null("group_id"))
                    // The scheduler's account string, as the collector saw it.
                    .col(text_null("account"))
                    .col(timestamp_with_time_zone("creation_time"))
                    .col(timestamp_with_time_zone_null("start_time"))
                    .col(timestamp_with_time_zone_null("end_time"))
                    // A final job changes only by an explicit correction.
                    .col(boolean("is_final").default(false))
                    .col(created_at(manager))
                    .col(updated_at(manager))
                    .foreign_key(&mut fk(
                        "jobs",
                        "cluster_id",
                        "clusters",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "jobs",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk_pair(
                        "fk_jobs_sub_project",
                        "jobs",
                        ("sub_project_id", "project_id"),
                        "sub_projects",
                        ("id", "project_id"),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "jobs",
                        "submitter_id",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "jobs",
                        "group_id",
                        "user_groups",
                        ForeignKeyAction::SetNull,
                    ))
                    .index(&mut unique(
                        "uq_jobs_natural",
                        &["cluster_id", "scheduler_job_id", "submit_time"],
                    ))
                    .index(&mut unique("uq_jobs_id_project", &["id", "project_id"]))
                    .check(check(
                        "ck_jobs_scheduler_job_id",
                        "length(scheduler_job_id) > 0",
                    ))
                    .check(check("ck_jobs_state", &format!("state IN {STATES}")))
                    .check(check(
                        "ck_jobs_times",
                        "start_time IS NULL OR end_time IS NULL OR end_time >= start_time",
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("tasks")
                    .col(id())
                    .col(reference("job_id"))
                    .col(reference("project_id"))
                    .col(integer("ordinal"))
                    .col(text_null("scheduler_job_id"))
                    .col(text("name"))
                    .col(small_integer("state"))
                    .col(reference_null("node_type_id"))
                    .col(reference_null("command_template_id"))
                    .col(timestamp_with_time_zone_null("start_time"))
                    .col(timestamp_with_time_zone_null("end_time"))
                    .col(integer_null("allocated_cores"))
                    .col(integer_null("allocated_nodes"))
                    .col(integer_null("allocated_gpus"))
                    .col(big_integer_null("allocated_seconds"))
                    // Usage in thousandths of `usage_unit` (HEAppE rounds to 3
                    // decimals), computed by `formula_id`.
                    .col(big_integer_null("usage_milli"))
                    .col(text_null("usage_unit"))
                    .col(reference_null("formula_id"))
                    .col(text("usage_status").default("pending"))
                    .col(text_null("usage_error"))
                    .col(timestamp_with_time_zone_null("usage_computed_at"))
                    .col(created_at(manager))
                    .col(updated_at(manager))
                    .foreign_key(&mut fk_pair(
                        "fk_tasks_job",
                        "tasks",
                        ("job_id", "project_id"),
                        "jobs",
                        ("id", "project_id"),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk("tasks", "node_type_id", "node_types", ForeignKeyAction::Restrict))
                    .foreign_key(&mut fk(
                        "tasks",
                        "command_template_id",
                        "command_templates",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk("tasks", "formula_id", "formulas", ForeignKeyAction::Restrict))
                    .index(&mut unique("uq_tasks_ordinal", &["job_id", "ordinal"]))
                    .check(check("ck_tasks_ordinal", "ordinal >= 0"))
                    .check(check("ck_tasks_state", &format!("state IN {STATES}")))
                    .check(check(
                        "ck_tasks_times",
                        "start_time IS NULL OR end_time IS NULL OR end_time >= start_time",
                    ))
                    .check(check(
                        "ck_tasks_allocations",
                        "(allocated_cores IS NULL OR allocated_cores >= 0) \
                         AND (allocated_nodes IS NULL OR allocated_nodes >= 0) \
                         AND (allocated_gpus IS NULL OR allocated_gpus >= 0) \
                         AND (allocated_seconds IS NULL OR allocated_seconds >= 0)",
                    ))
                    .check(check("ck_tasks_usage", "usage_milli IS NULL OR usage_milli >= 0"))
                    .check(check(
                        "ck_tasks_usage_status",
                        "usage_status IN ('pending', 'computed', 'no_formula', 'error')",
                    ))
                    .check(check(
                        "ck_tasks_usage_computed",
                        "usage_status <> 'computed' \
                         OR (usage_milli IS NOT NULL AND usage_unit IS NOT NULL AND formula_id IS NOT NULL)",
                    ))
                    .take(),
            )
            .await?;

        // Scheduler parameters of a task (`NumNodes`, `RunTime`, `AllocTRES_cpu`…),
        // the variables its formula is evaluated with.
        manager
            .create_table(
                Table::create()
                    .table("task_parameters")
                    .col(reference("task_id"))
                    .col(text("name"))
                    .col(text("value"))
                    .primary_key(Index::create().col("task_id").col("name"))
                    .foreign_key(&mut fk(
                        "task_parameters",
                        "task_id",
                        "tasks",
                        ForeignKeyAction::Cascade,
                    ))
                    .check(check("ck_task_parameters_name", "length(name) > 0"))
                    .take(),
            )
            .await?;

        // Recomputation of usage for a project and period (HEAppE AccountingState).
        // A run is claimed by one instance at a time and resumes after a restart
        // from `cursor_task_id`.
        manager
            .create_table(
                Table::create()
                    .table("accounting_runs")
                    .col(id())
                    .col(reference("project_id"))
                    .col(timestamp_with_time_zone("period_start"))
                    .col(timestamp_with_time_zone("period_end"))
                    .col(text("state").default("queued"))
                    .col(big_integer("tasks_total").default(0))
                    .col(big_integer("tasks_done").default(0))
                    .col(reference_null("cursor_task_id"))
                    .col(reference_null("triggered_by"))
                    .col(timestamp_with_time_zone("triggered_at").default(now(manager)))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(timestamp_with_time_zone_null("last_updated_at"))
                    .col(text_null("claimed_by"))
                    .col(timestamp_with_time_zone_null("heartbeat_at"))
                    .col(text_null("error"))
                    .foreign_key(&mut fk(
                        "accounting_runs",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "accounting_runs",
                        "triggered_by",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .check(check(
                        "ck_accounting_runs_period",
                        "period_end > period_start",
                    ))
                    .check(check(
                        "ck_accounting_runs_state",
                        "state IN ('queued', 'running', 'finished', 'failed')",
                    ))
                    .check(check(
                        "ck_accounting_runs_progress",
                        "tasks_done >= 0 AND tasks_total >= 0 AND tasks_done <= tasks_total",
                    ))
                    .take(),
            )
            .await?;

        create_indexes(
            manager,
            vec![
                index("cluster_projects", &["project_id"]),
                index("node_types", &["aggregation_id"]),
                index("aggregation_formulas", &["formula_id"]),
                index("jobs", &["project_id", "end_time"]),
                index("jobs", &["project_id", "state"]),
                index("jobs", &["sub_project_id"]),
                index("jobs", &["submitter_id"]),
                index("tasks", &["project_id", "end_time"]),
                index("tasks", &["node_type_id", "start_time"]),
                index("tasks", &["formula_id"]),
                index("tasks", &["usage_status"]),
                index("accounting_runs", &["state", "triggered_at"]),
                index("accounting_runs", &["project_id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "accounting_runs",
                "task_parameters",
                "tasks",
                "jobs",
                "command_templates",
                "aggregation_formulas",
                "formulas",
                "project_allocations",
                "node_types",
                "node_type_aggregations",
                "cluster_projects",
                "clusters",
            ],
        )
        .await
    }
}
