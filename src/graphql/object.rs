//! GraphQL object types.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::NaiveDate;

use super::cloud::{CloudDimension, CloudUsageRow, cloud_usage};
use super::eosc::{Installation, InstallationFilter, InstallationOrder, installations_spec};
use super::hpc::{
    Cluster, ClusterFilter, ClusterOrder, Group, GroupFilter, GroupOrder, Job, JobArgs, JobFilter,
    JobOrder, JobState, SubProject, SubProjectFilter, SubProjectOrder, by, scope,
};
use super::id::GlobalId;
use super::list::ListArgs;
use super::loader::{Conn, connection};
use super::page::Kind;
use super::storage::{Bucket, BucketFilter, BucketOrder};
use super::usage::{Level, Period, UsageAmount, total_usage};
use crate::auth::Principal;
use crate::entity::projects;
use crate::service::read::lists;

/// A project: the unit usage is accounted to, across all four sources.
pub(crate) struct Project(pub(crate) projects::Model);

/// A project: the unit usage is accounted to, across all four sources.
#[Object]
impl Project {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Project", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// The accounting string, unique (HEAppE's `AccountingString`).
    async fn accounting_string(&self) -> &str {
        &self.0.accounting_string
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// First day of the project, if known.
    async fn start_date(&self) -> Option<NaiveDate> {
        self.0.start_date
    }

    /// Last day of the project, if known.
    async fn end_date(&self) -> Option<NaiveDate> {
        self.0.end_date
    }

    /// The unit the project's HPC usage is labelled in: `node_hour` or `core_hour`.
    async fn usage_type(&self) -> &str {
        &self.0.usage_type
    }

    /// Its sub-projects; by identifier unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn sub_projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            SubProjectFilter,
        >,
        #[graphql(desc = "Sort keys (default: by identifier); ties by id.")] order_by: Option<
            Vec<SubProjectOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<SubProject>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let base = lists::project_sub_projects();
        let spec = args.spec(
            "Project.subProjects",
            "SubProject",
            base,
            by("identifier", Kind::Text),
        )?;
        connection(ctx, spec, (self.0.id, 0), SubProject).await
    }

    /// Its user groups; by name unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<GroupFilter>,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<GroupOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Group>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let base = lists::project_groups();
        let spec = args.spec("Project.groups", "Group", base, by("name", Kind::Text))?;
        connection(ctx, spec, (self.0.id, 0), Group).await
    }

    /// The clusters the project may use (by name unless `orderBy` says
    /// otherwise); their lists and totals show only this project.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn clusters(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            ClusterFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<ClusterOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Cluster>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "Project.clusters",
            "Cluster",
            lists::project_clusters(),
            by("name", Kind::Text),
        )?;
        let project = Some(self.0.id);
        connection(ctx, spec, (self.0.id, 0), |row| Cluster { row, project }).await
    }

    /// The project's jobs on every cluster.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Jobs that started in this period.")] period: Option<Period>,
        #[graphql(desc = "Jobs of these sub-projects.")] sub_projects: Option<Vec<ID>>,
        #[graphql(desc = "Jobs in these states.")] states: Option<Vec<JobState>>,
        #[graphql(desc = "Conditions the jobs meet (all must hold).")] filter: Option<JobFilter>,
        #[graphql(desc = "Sort keys (default: newest submitted first); ties by id.")]
        order_by: Option<Vec<JobOrder>>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Job>> {
        let args = JobArgs {
            list: ListArgs::new(filter, order_by, first, after, last, before),
            period,
            sub_projects,
            states,
        };
        let spec = args.spec("Project.jobs", lists::project_jobs(scope(ctx)?))?;
        connection(ctx, spec, (self.0.id, 0), Job).await
    }

    /// The project's storage buckets; by name unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn buckets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            BucketFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<BucketOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Bucket>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let base = lists::project_buckets(scope(ctx)?);
        let spec = args.spec("Project.buckets", "Bucket", base, by("name", Kind::Text))?;
        connection(ctx, spec, (self.0.id, 0), Bucket).await
    }

    /// The project's EOSC installations; by name unless `orderBy` says
    /// otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn installations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            InstallationFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<InstallationOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Installation>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let base =
            lists::installations(scope(ctx)?, crate::entity::installations::Column::ProjectId);
        let spec = installations_spec("Project.installations", base, &args)?;
        connection(ctx, spec, (self.0.id, 0), Installation).await
    }

    /// The project's cloud usage (APEL) over `period`, from the daily cloud
    /// summaries of its VOs: one row per combination of the `groupBy`
    /// dimensions (default: per site), ordered by them. At most 10,000 rows.
    #[graphql(
        complexity = "crate::graphql::cloud::cloud_cost(&period, group_by.as_ref(), child_complexity)"
    )]
    async fn cloud_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to cover (whole UTC days, both included).")] period: Period,
        #[graphql(desc = "Dimensions to split by (default: SITE); none gives one row.")]
        group_by: Option<Vec<CloudDimension>>,
    ) -> async_graphql::Result<Vec<CloudUsageRow>> {
        cloud_usage(ctx, self.0.id, period, group_by).await
    }

    /// The project's usage over `period` from every source, one amount per
    /// source and unit.
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::Project, self.0.id, period).await
    }
}

/// One grant of the caller: a role on a scope.
#[derive(SimpleObject)]
pub(crate) struct ViewerGrant {
    /// The role's name, e.g. `heappe_reporter`, `eosc_project_admin`, `system_admin`.
    role: String,
    /// What the role applies to: `system`, `project`, `user_group`,
    /// `project_provider`, `installation`, `site` or `bucket`.
    scope_kind: String,
    /// The id of the scope's row (0 for `system`).
    scope_id: i64,
}

/// The authenticated caller.
pub(crate) struct Viewer(pub(crate) Principal);

/// The authenticated caller.
#[Object]
impl Viewer {
    /// The Tally user id, or null for an external identity without a Tally user.
    async fn user_id(&self) -> Option<ID> {
        self.0.user_id.map(|id| GlobalId::encode("User", id))
    }

    /// The username (or the external subject).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the caller administers the whole instance.
    async fn is_admin(&self) -> bool {
        self.0.is_system_admin()
    }

    /// The caller's grants.
    async fn grants(&self) -> Vec<ViewerGrant> {
        self.0
            .grants
            .iter()
            .map(|grant| {
                let (kind, id) = grant.scope.to_row();
                ViewerGrant {
                    role: grant.role.name().to_owned(),
                    scope_kind: kind.to_owned(),
                    scope_id: id,
                }
            })
            .collect()
    }
}
