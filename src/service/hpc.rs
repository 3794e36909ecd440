//! HPC jobs and tasks: the reads HEAppE's reports are built from (their
//! totals come from [`super::report`]). Every read keeps to the caller's
//! [`ProjectScope`] inside its statement.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, JoinType, Order, Query};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, FromQueryResult, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use crate::auth::{ProjectScope, Scope};
use crate::entity::{
    cluster_projects, clusters, command_templates, grants, jobs, node_type_aggregations,
    node_types, projects, sub_projects, tasks, user_groups, users,
};
use crate::error::Error;

/// How many jobs are in one state.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct StateCount {
    /// HEAppE's JobState value.
    pub state: i16,
    /// How many jobs are in it.
    pub count: i64,
}

/// The number of jobs per state over every job of the projects in `scope`
/// (HEAppE's JobsStateAgregationReport: no time filter), by state.
///
/// # Errors
/// A database error.
pub async fn job_state_counts(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
) -> Result<Vec<StateCount>, Error> {
    Ok(scope
        .apply(jobs::Entity::find(), jobs::Column::ProjectId)
        .select_only()
        .column(jobs::Column::State)
        .column_as(Expr::col(jobs::Column::Id).count(), "count")
        .group_by(jobs::Column::State)
        .order_by_asc(jobs::Column::State)
        .into_model::<StateCount>()
        .all(db)
        .await?)
}

/// The user groups `ids` (every group with `None`) whose project is in
/// `scope`, by id: HEAppE's groups of a caller.
///
/// # Errors
/// A database error.
pub async fn groups(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    ids: Option<&BTreeSet<i64>>,
) -> Result<Vec<user_groups::Model>, Error> {
    let mut select = scope
        .apply(user_groups::Entity::find(), user_groups::Column::ProjectId)
        .filter(user_groups::Column::ProjectId.is_not_null());
    if let Some(ids) = ids {
        select = select.filter(user_groups::Column::Id.is_in(ids.iter().copied()));
    }
    Ok(select.order_by_asc(user_groups::Column::Id).all(db).await?)
}

/// The user group `id`, whatever its project, if it exists.
///
/// # Errors
/// A database error.
pub async fn group(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<user_groups::Model>, Error> {
    Ok(user_groups::Entity::find_by_id(id).one(db).await?)
}

/// The user groups on which user `user_id` holds any role, or `None` when
/// there is no such user.
///
/// # Errors
/// A database error.
pub async fn groups_of_user(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Option<BTreeSet<i64>>, Error> {
    if users::Entity::find_by_id(user_id).one(db).await?.is_none() {
        return Ok(None);
    }
    let (kind, _) = Scope::UserGroup(0).to_row();
    let grants = grants::Entity::find()
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::ScopeKind.eq(kind))
        .all(db)
        .await?;
    Ok(Some(grants.into_iter().map(|g| g.scope_id).collect()))
}

/// The projects `ids` that are in `scope`, by id.
///
/// # Errors
/// A database error.
pub async fn projects(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<projects::Model>, Error> {
    Ok(scope
        .apply(projects::Entity::find(), projects::Column::Id)
        .filter(projects::Column::Id.is_in(ids))
        .order_by_asc(projects::Column::Id)
        .all(db)
        .await?)
}

/// What HEAppE's report trees hang on, for some projects: the clusters each
/// may use, those clusters' node types and aggregations, and the projects'
/// sub-projects.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// (project, cluster) pairs, by project then cluster id.
    pub clusters: Vec<(i64, clusters::Model)>,
    /// The node types of those clusters, by id.
    pub node_types: Vec<node_types::Model>,
    /// The aggregations of those node types, by id.
    pub aggregations: Vec<node_type_aggregations::Model>,
    /// The projects' sub-projects, by id.
    pub sub_projects: Vec<sub_projects::Model>,
}

/// The [`Catalogue`] of the projects `ids` that are in `scope`.
///
/// # Errors
/// A database error.
pub async fn catalogue(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    ids: &[i64],
) -> Result<Catalogue, Error> {
    let pairs = scope
        .apply(
            cluster_projects::Entity::find(),
            cluster_projects::Column::ProjectId,
        )
        .filter(cluster_projects::Column::ProjectId.is_in(ids.iter().copied()))
        .find_also_related(clusters::Entity)
        .order_by_asc(cluster_projects::Column::ProjectId)
        .order_by_asc(cluster_projects::Column::ClusterId)
        .all(db)
        .await?;
    let clusters: Vec<(i64, clusters::Model)> = pairs
        .into_iter()
        .filter_map(|(pair, cluster)| cluster.map(|c| (pair.project_id, c)))
        .collect();
    let cluster_ids: BTreeSet<i64> = clusters.iter().map(|(_, c)| c.id).collect();
    let node_types = node_types::Entity::find()
        .filter(node_types::Column::ClusterId.is_in(cluster_ids))
        .order_by_asc(node_types::Column::Id)
        .all(db)
        .await?;
    let aggregation_ids: BTreeSet<i64> =
        node_types.iter().filter_map(|n| n.aggregation_id).collect();
    let aggregations = node_type_aggregations::Entity::find()
        .filter(node_type_aggregations::Column::Id.is_in(aggregation_ids))
        .order_by_asc(node_type_aggregations::Column::Id)
        .all(db)
        .await?;
    let sub_projects = scope
        .apply(
            sub_projects::Entity::find(),
            sub_projects::Column::ProjectId,
        )
        .filter(sub_projects::Column::ProjectId.is_in(ids.iter().copied()))
        .order_by_asc(sub_projects::Column::Id)
        .all(db)
        .await?;
    Ok(Catalogue {
        clusters,
        node_types,
        aggregations,
        sub_projects,
    })
}

/// Which jobs by their times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobPeriod {
    /// Every job.
    #[default]
    Any,
    /// Every job that started and ended.
    Ended,
    /// The jobs that started at or after the first instant and ended at or
    /// before the second (both inclusive): HEAppE's period rule.
    Inside(DateTime<Utc>, DateTime<Utc>),
}

/// Which jobs of a project a HEAppE report lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSelection {
    /// Which jobs by their times.
    pub period: JobPeriod,
    /// Only jobs of these sub-projects (by identifier).
    pub sub_projects: Option<Vec<String>>,
    /// Only jobs of this cluster.
    pub cluster: Option<i64>,
    /// Only jobs this user submitted.
    pub submitter: Option<i64>,
    /// Only this job.
    pub job: Option<i64>,
    /// At most this many jobs.
    pub limit: Option<u64>,
    /// After skipping this many (in id order).
    pub offset: u64,
}

/// A job as HEAppE's reports show it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ReportJob {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its cluster.
    pub cluster_id: i64,
    /// Its name.
    pub name: String,
    /// HEAppE's JobState value.
    pub state: i16,
    /// When it was created, submitted, started, ended.
    pub creation_time: DateTime<Utc>,
    /// When it was submitted.
    pub submit_time: DateTime<Utc>,
    /// When it started.
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended.
    pub end_time: Option<DateTime<Utc>>,
    /// Its sub-project's identifier.
    pub sub_project: Option<String>,
    /// Its submitter's username.
    pub submitter: Option<String>,
}

/// A task as HEAppE's reports show it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ReportTask {
    /// Its id.
    pub id: i64,
    /// Its job.
    pub job_id: i64,
    /// Its name.
    pub name: String,
    /// HEAppE's TaskState value.
    pub state: i16,
    /// The scheduler's id of the task.
    pub scheduler_job_id: Option<String>,
    /// The node type it ran on.
    pub node_type_id: Option<i64>,
    /// When it started.
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended.
    pub end_time: Option<DateTime<Utc>>,
    /// Its command template.
    pub command_template_id: Option<i64>,
    /// That template's name.
    pub command_template_name: Option<String>,
    /// Its usage in thousandths of `usage_unit`, when computed.
    pub usage_milli: Option<i64>,
    /// The unit of its usage.
    pub usage_unit: Option<String>,
}

/// The jobs of project `project_id` that `selection` picks, in id order, for
/// a caller who sees `scope` (in the statement: a project out of scope has
/// none). One statement, through `jobs (project_id, end_time)` or
/// `(project_id, id)`; sub-project identifiers and usernames are joined in.
///
/// # Errors
/// A database error.
pub async fn report_jobs(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    project_id: i64,
    selection: &JobSelection,
) -> Result<Vec<ReportJob>, Error> {
    let col = |name: &str| Expr::cust(format!(r#""j"."{name}""#));
    let mut select = Query::select();
    for name in [
        "id",
        "project_id",
        "cluster_id",
        "name",
        "state",
        "creation_time",
        "submit_time",
        "start_time",
        "end_time",
    ] {
        select.expr_as(col(name), Alias::new(name));
    }
    select
        .expr_as(
            Expr::cust(r#""sp"."identifier""#),
            Alias::new("sub_project"),
        )
        .expr_as(Expr::cust(r#""u"."username""#), Alias::new("submitter"))
        .from_as(jobs::Entity, Alias::new("j"))
        .join_as(
            JoinType::LeftJoin,
            sub_projects::Entity,
            Alias::new("sp"),
            Expr::cust(r#""sp"."id" = "j"."sub_project_id""#),
        )
        .join_as(
            JoinType::LeftJoin,
            users::Entity,
            Alias::new("u"),
            Expr::cust(r#""u"."id" = "j"."submitter_id""#),
        )
        .and_where(col("project_id").eq(project_id))
        .cond_where(scope.condition(col("project_id")));
    match selection.period {
        JobPeriod::Any => {}
        JobPeriod::Inside(from, to) => {
            // `end_time >= from` follows from the others; said, it bounds the
            // index range to the jobs that ended in the period.
            select
                .and_where(col("start_time").gte(from))
                .and_where(col("end_time").gte(from))
                .and_where(col("end_time").lte(to));
        }
        JobPeriod::Ended => {
            select
                .and_where(col("start_time").is_not_null())
                .and_where(col("end_time").is_not_null());
        }
    }
    if let Some(identifiers) = &selection.sub_projects {
        select.and_where(Expr::cust(r#""sp"."identifier""#).is_in(identifiers.iter().cloned()));
    }
    if let Some(cluster) = selection.cluster {
        select.and_where(col("cluster_id").eq(cluster));
    }
    if let Some(submitter) = selection.submitter {
        select.and_where(col("submitter_id").eq(submitter));
    }
    if let Some(job) = selection.job {
        select.and_where(col("id").eq(job));
    }
    select.order_by_expr(col("id"), Order::Asc);
    if let Some(limit) = selection.limit {
        select.limit(limit);
    }
    if selection.offset > 0 {
        select.offset(selection.offset);
    }
    let backend = db.get_database_backend();
    Ok(ReportJob::find_by_statement(backend.build(&select))
        .all(db)
        .await?)
}

/// The tasks of the jobs `job_ids` of project `project_id`, by job then
/// ordinal, for a caller who sees `scope` (in the statement), with their
/// command templates' names.
///
/// # Errors
/// A database error.
pub async fn report_tasks(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    project_id: i64,
    job_ids: &[i64],
) -> Result<Vec<ReportTask>, Error> {
    let col = |name: &str| Expr::cust(format!(r#""t"."{name}""#));
    let backend = db.get_database_backend();
    let mut found = Vec::new();
    for chunk in job_ids.chunks(1000) {
        let mut select = Query::select();
        for name in [
            "id",
            "job_id",
            "name",
            "state",
            "scheduler_job_id",
            "node_type_id",
            "start_time",
            "end_time",
            "command_template_id",
            "usage_unit",
        ] {
            select.expr_as(col(name), Alias::new(name));
        }
        select
            .expr_as(
                Expr::cust(
                    r#"CASE WHEN "t"."usage_status" = 'computed' THEN "t"."usage_milli" END"#,
                ),
                Alias::new("usage_milli"),
            )
            .expr_as(
                Expr::cust(r#""ct"."name""#),
                Alias::new("command_template_name"),
            )
            .from_as(tasks::Entity, Alias::new("t"))
            .join_as(
                JoinType::LeftJoin,
                command_templates::Entity,
                Alias::new("ct"),
                Expr::cust(r#""ct"."id" = "t"."command_template_id""#),
            )
            .and_where(col("project_id").eq(project_id))
            .cond_where(scope.condition(col("project_id")))
            .and_where(col("job_id").is_in(chunk.iter().copied()))
            .order_by_expr(col("job_id"), Order::Asc)
            .order_by_expr(col("ordinal"), Order::Asc);
        found.extend(
            ReportTask::find_by_statement(backend.build(&select))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// Whether job `id` exists, in any project (HEAppE tells an unknown job from
/// one the reporter may not see).
///
/// # Errors
/// A database error.
pub async fn job_exists(db: &impl ConnectionTrait, id: i64) -> Result<bool, Error> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::Id.eq(id))
        .select_only()
        .column(jobs::Column::Id)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// The project of job `id`, if the job exists and its project is in `scope`.
///
/// # Errors
/// A database error.
pub async fn job_project(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    id: i64,
) -> Result<Option<i64>, Error> {
    Ok(scope
        .apply(jobs::Entity::find(), jobs::Column::ProjectId)
        .filter(jobs::Column::Id.eq(id))
        .select_only()
        .column(jobs::Column::ProjectId)
        .into_tuple::<i64>()
        .one(db)
        .await?)
}
