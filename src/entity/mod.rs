//! SeaORM entities: one module per table of the schema the migrations in
//! `migrations/` define (the migrations are the source of truth; these modules
//! mirror them column for column).
//!
//! Each module holds the table's `Model`, its `Relation`s (a `belongs_to` per
//! foreign key, `has_many` on the parent side where useful), the `Related`
//! impls, and scoped finders on `Entity` that return a chainable
//! [`Select`](sea_orm::Select), e.g. `jobs::Entity::find_in_projects(ids)`.
//! Composite foreign keys that make a child agree with its parent on the project
//! are declared on their single-column part (e.g. `jobs.sub_project_id`).
//!
//! [`prelude`] re-exports every `Entity` under its table's CamelCase name.

// Tenancy and people.
pub mod audit_log;
pub mod grants;
pub mod idempotency_keys;
pub mod projects;
pub mod roles;
pub mod server_secrets;
pub mod session_codes;
pub mod sub_projects;
pub mod user_groups;
pub mod users;

// HPC (HEAppE).
pub mod accounting_runs;
pub mod aggregation_formulas;
pub mod cluster_projects;
pub mod clusters;
pub mod command_templates;
pub mod formulas;
pub mod jobs;
pub mod node_type_aggregations;
pub mod node_types;
pub mod project_allocations;
pub mod task_parameters;
pub mod tasks;

// Cloud (APEL).
pub mod apel_messages;
pub mod cloud_records;
pub mod cloud_services;
pub mod cloud_summaries_daily;
pub mod cloud_vm_days;
pub mod global_users;
pub mod publisher_dns;
pub mod sites;
pub mod vo_groups;
pub mod vo_roles;
pub mod vos;

// EOSC Accounting System.
pub mod eosc_clients;
pub mod eosc_resources;
pub mod installations;
pub mod metric_definitions;
pub mod metric_types;
pub mod metrics;
pub mod project_providers;
pub mod providers;
pub mod unit_types;

// Object storage (HCP).
pub mod bucket_usage_daily;
pub mod bucket_usage_hourly;
pub mod bucket_usage_monthly;
pub mod buckets;

// Rollups.
pub mod eosc_metric_daily;
pub mod hpc_job_usage;
pub mod hpc_job_usage_monthly;
pub mod hpc_usage_daily;
pub mod usage_daily;
pub mod usage_hourly;

/// Every `Entity`, under the CamelCase name of its table, as `sea-orm-cli`'s
/// prelude does: `use crate::entity::prelude::*;` then `Jobs::find()`.
pub mod prelude {
    pub use super::accounting_runs::Entity as AccountingRuns;
    pub use super::aggregation_formulas::Entity as AggregationFormulas;
    pub use super::apel_messages::Entity as ApelMessages;
    pub use super::audit_log::Entity as AuditLog;
    pub use super::bucket_usage_daily::Entity as BucketUsageDaily;
    pub use super::bucket_usage_hourly::Entity as BucketUsageHourly;
    pub use super::bucket_usage_monthly::Entity as BucketUsageMonthly;
    pub use super::buckets::Entity as Buckets;
    pub use super::cloud_records::Entity as CloudRecords;
    pub use super::cloud_services::Entity as CloudServices;
    pub use super::cloud_summaries_daily::Entity as CloudSummariesDaily;
    pub use super::cloud_vm_days::Entity as CloudVmDays;
    pub use super::cluster_projects::Entity as ClusterProjects;
    pub use super::clusters::Entity as Clusters;
    pub use super::command_templates::Entity as CommandTemplates;
    pub use super::eosc_clients::Entity as EoscClients;
    pub use super::eosc_metric_daily::Entity as EoscMetricDaily;
    pub use super::eosc_resources::Entity as EoscResources;
    pub use super::formulas::Entity as Formulas;
    pub use super::global_users::Entity as GlobalUsers;
    pub use super::grants::Entity as Grants;
    pub use super::hpc_job_usage::Entity as HpcJobUsage;
    pub use super::hpc_job_usage_monthly::Entity as HpcJobUsageMonthly;
    pub use super::hpc_usage_daily::Entity as HpcUsageDaily;
    pub use super::idempotency_keys::Entity as IdempotencyKeys;
    pub use super::installations::Entity as Installations;
    pub use super::jobs::Entity as Jobs;
    pub use super::metric_definitions::Entity as MetricDefinitions;
    pub use super::metric_types::Entity as MetricTypes;
    pub use super::metrics::Entity as Metrics;
    pub use super::node_type_aggregations::Entity as NodeTypeAggregations;
    pub use super::node_types::Entity as NodeTypes;
    pub use super::project_allocations::Entity as ProjectAllocations;
    pub use super::project_providers::Entity as ProjectProviders;
    pub use super::projects::Entity as Projects;
    pub use super::providers::Entity as Providers;
    pub use super::publisher_dns::Entity as PublisherDns;
    pub use super::roles::Entity as Roles;
    pub use super::server_secrets::Entity as ServerSecrets;
    pub use super::session_codes::Entity as SessionCodes;
    pub use super::sites::Entity as Sites;
    pub use super::sub_projects::Entity as SubProjects;
    pub use super::task_parameters::Entity as TaskParameters;
    pub use super::tasks::Entity as Tasks;
    pub use super::unit_types::Entity as UnitTypes;
    pub use super::usage_daily::Entity as UsageDaily;
    pub use super::usage_hourly::Entity as UsageHourly;
    pub use super::user_groups::Entity as UserGroups;
    pub use super::users::Entity as Users;
    pub use super::vo_groups::Entity as VoGroups;
    pub use super::vo_roles::Entity as VoRoles;
    pub use super::vos::Entity as Vos;
}
