//! `projects`: the tenants of Tally. Every accounted quantity (HEAppE jobs and
//! tasks, APEL cloud records of a VO, EOSC installations and metrics, HCP buckets,
//! and every rollup) is attributed to one project, identified externally by its
//! accounting string (HEAppE) or its EOSC id.

use sea_orm::entity::prelude::*;

/// A project: the unit usage is accounted to and access is granted on.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// HEAppE's accounting string, the project's natural key (unique, non-empty).
    pub accounting_string: String,
    /// Human-readable name (non-empty).
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// First day of the project, if bounded.
    pub start_date: Option<Date>,
    /// Last day of the project, if bounded (never before `start_date`).
    pub end_date: Option<Date>,
    /// HEAppE's UsageType: the label of the unit the formulas yield,
    /// `node_hour` (default, HEAppE NodeHours) or `core_hour` (CoreHours).
    pub usage_type: String,
    /// The project's id in the EOSC Accounting System (unique when set).
    pub eosc_id: Option<String>,
    /// EOSC project acronym.
    pub acronym: Option<String>,
    /// EOSC project title.
    pub title: Option<String>,
    /// EOSC funding call identifier.
    pub call_identifier: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Tables that reference a project directly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The project's sub-projects.
    #[sea_orm(has_many = "super::sub_projects::Entity")]
    SubProjects,
    /// The user groups scoped to the project.
    #[sea_orm(has_many = "super::user_groups::Entity")]
    UserGroups,
    /// The clusters the project may use.
    #[sea_orm(has_many = "super::cluster_projects::Entity")]
    ClusterProjects,
    /// The project's allocations on node-type aggregations.
    #[sea_orm(has_many = "super::project_allocations::Entity")]
    ProjectAllocations,
    /// Command templates private to the project.
    #[sea_orm(has_many = "super::command_templates::Entity")]
    CommandTemplates,
    /// The HPC jobs accounted to the project.
    #[sea_orm(has_many = "super::jobs::Entity")]
    Jobs,
    /// The usage recomputation runs of the project.
    #[sea_orm(has_many = "super::accounting_runs::Entity")]
    AccountingRuns,
    /// The APEL VOs whose cloud usage counts for the project.
    #[sea_orm(has_many = "super::vos::Entity")]
    Vos,
    /// The APEL cloud records resolved to the project.
    #[sea_orm(has_many = "super::cloud_records::Entity")]
    CloudRecords,
    /// The APEL daily cloud summaries resolved to the project.
    #[sea_orm(has_many = "super::cloud_summaries_daily::Entity")]
    CloudSummariesDaily,
    /// The EOSC providers associated with the project.
    #[sea_orm(has_many = "super::project_providers::Entity")]
    ProjectProviders,
    /// The HCP buckets charged to the project.
    #[sea_orm(has_many = "super::buckets::Entity")]
    Buckets,
    /// Hourly bucket usage charged to the project.
    #[sea_orm(has_many = "super::bucket_usage_hourly::Entity")]
    BucketUsageHourly,
    /// Daily bucket usage charged to the project.
    #[sea_orm(has_many = "super::bucket_usage_daily::Entity")]
    BucketUsageDaily,
    /// Monthly bucket usage charged to the project.
    #[sea_orm(has_many = "super::bucket_usage_monthly::Entity")]
    BucketUsageMonthly,
    /// The project's daily HPC usage rollup.
    #[sea_orm(has_many = "super::hpc_usage_daily::Entity")]
    HpcUsageDaily,
    /// The project's daily EOSC metric rollup.
    #[sea_orm(has_many = "super::eosc_metric_daily::Entity")]
    EoscMetricDaily,
    /// The project's hourly cross-source usage.
    #[sea_orm(has_many = "super::usage_hourly::Entity")]
    UsageHourly,
    /// The project's daily cross-source usage.
    #[sea_orm(has_many = "super::usage_daily::Entity")]
    UsageDaily,
}

impl Related<super::sub_projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SubProjects.def()
    }
}

impl Related<super::user_groups::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserGroups.def()
    }
}

impl Related<super::cluster_projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ClusterProjects.def()
    }
}

impl Related<super::project_allocations::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectAllocations.def()
    }
}

impl Related<super::command_templates::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CommandTemplates.def()
    }
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl Related<super::accounting_runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AccountingRuns.def()
    }
}

impl Related<super::vos::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Vos.def()
    }
}

impl Related<super::cloud_records::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudRecords.def()
    }
}

impl Related<super::cloud_summaries_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CloudSummariesDaily.def()
    }
}

impl Related<super::project_providers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProjectProviders.def()
    }
}

impl Related<super::buckets::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Buckets.def()
    }
}

impl Related<super::bucket_usage_hourly::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BucketUsageHourly.def()
    }
}

impl Related<super::bucket_usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BucketUsageDaily.def()
    }
}

impl Related<super::bucket_usage_monthly::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BucketUsageMonthly.def()
    }
}

impl Related<super::hpc_usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HpcUsageDaily.def()
    }
}

impl Related<super::eosc_metric_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EoscMetricDaily.def()
    }
}

impl Related<super::usage_hourly::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UsageHourly.def()
    }
}

impl Related<super::usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UsageDaily.def()
    }
}

/// The clusters a project may use, through `cluster_projects`.
impl Related<super::clusters::Entity> for Entity {
    fn to() -> RelationDef {
        super::cluster_projects::Relation::Cluster.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::cluster_projects::Relation::Project.def().rev())
    }
}

/// The EOSC providers associated with a project, through `project_providers`.
impl Related<super::providers::Entity> for Entity {
    fn to() -> RelationDef {
        super::project_providers::Relation::Provider.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::project_providers::Relation::Project.def().rev())
    }
}

/// The node-type aggregations a project has an allocation on, through
/// `project_allocations`.
impl Related<super::node_type_aggregations::Entity> for Entity {
    fn to() -> RelationDef {
        super::project_allocations::Relation::Aggregation.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::project_allocations::Relation::Project.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The project with HEAppE accounting string `accounting_string` (unique).
    pub fn find_by_accounting_string(accounting_string: &str) -> Select<Entity> {
        Self::find().filter(Column::AccountingString.eq(accounting_string))
    }

    /// The projects whose id is among `ids`.
    pub fn find_in(ids: impl IntoIterator<Item = i64>) -> Select<Entity> {
        Self::find().filter(Column::Id.is_in(ids))
    }
}
