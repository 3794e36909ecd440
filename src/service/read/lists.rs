//! The base select of every list of the graph, per relation: the rows of the
//! list for its parents ([`Parents`]), with the caller's scope applied.
//!
//! A base filters on the column that holds the parent's id, so that on
//! PostgreSQL each parent's page is one index range (`LATERAL … LIMIT n + 1`,
//! [`super::super::page`]). Lists under an object reached through a project
//! (a cluster's jobs seen from a project) are kept to that project as well.

use std::sync::Arc;

use sea_orm::sea_query::{Condition, Expr, ExprTrait as _, Query};
use sea_orm::{
    EntityTrait, JoinType, QueryFilter as _, QuerySelect as _, QueryTrait as _, RelationTrait as _,
};

use super::{BaseFn, scoped};
use crate::auth::ProjectScope;
use crate::entity::{
    buckets, cluster_projects, clusters, grants, installations, jobs, metrics, node_types,
    projects, sub_projects, tasks, user_groups,
};
use crate::service::page::Parents;

/// A root list of every row of `E`: no parent, no scope (catalogue lists,
/// and administrators' lists whose resolvers check the role).
pub(crate) fn everything<E: EntityTrait>() -> BaseFn {
    Arc::new(|_: &Parents<'_>| Parents::root(E::find()).into_query())
}

/// The projects in `scope` (a root list).
pub(crate) fn projects(scope: ProjectScope) -> BaseFn {
    Arc::new(move |_: &Parents<'_>| {
        scoped(
            &scope,
            Parents::root(projects::Entity::find()),
            projects::Column::Id,
        )
    })
}

/// The sub-projects of the parent projects.
pub(crate) fn project_sub_projects() -> BaseFn {
    Arc::new(|parents: &Parents<'_>| {
        let select = parents.keyed(
            sub_projects::Entity::find(),
            sub_projects::Column::ProjectId,
        );
        Parents::no_context(select).into_query()
    })
}

/// The user groups of the parent projects.
pub(crate) fn project_groups() -> BaseFn {
    Arc::new(|parents: &Parents<'_>| {
        let select = parents.keyed(user_groups::Entity::find(), user_groups::Column::ProjectId);
        Parents::no_context(select).into_query()
    })
}

/// The clusters the parent projects may use.
pub(crate) fn project_clusters() -> BaseFn {
    Arc::new(|parents: &Parents<'_>| {
        let select = clusters::Entity::find().join(
            JoinType::InnerJoin,
            cluster_projects::Relation::Cluster.def().rev(),
        );
        Parents::no_context(parents.keyed(select, cluster_projects::Column::ProjectId)).into_query()
    })
}

/// The node types of the parent clusters.
pub(crate) fn cluster_node_types() -> BaseFn {
    Arc::new(|parents: &Parents<'_>| {
        let select = parents.keyed(node_types::Entity::find(), node_types::Column::ClusterId);
        Parents::no_context(select).into_query()
    })
}

/// Jobs of the projects in `scope` whose `parent` column is a parent's id.
pub(crate) fn jobs(scope: ProjectScope, parent: jobs::Column) -> BaseFn {
    Arc::new(move |parents: &Parents<'_>| {
        let select = parents.keyed(jobs::Entity::find(), parent);
        scoped(
            &scope,
            parents.context(select, jobs::Column::ProjectId),
            jobs::Column::ProjectId,
        )
    })
}

/// Jobs of the parent projects (in `scope`).
pub(crate) fn project_jobs(scope: ProjectScope) -> BaseFn {
    jobs(scope, jobs::Column::ProjectId)
}

/// Jobs with a task on one of the parent node types (in `scope`).
///
/// For one parent (a page), a job is kept by `EXISTS` over the index on
/// `tasks (node_type_id, job_id)`, so the page walks the jobs in page order
/// (through `jobs (project_id, submit_time)` when reached through a project)
/// and stops after `n + 1`, instead of joining every task of the node type.
/// For a set of parents (counts), the join gives each job once per node type.
pub(crate) fn node_type_jobs(scope: ProjectScope) -> BaseFn {
    Arc::new(move |parents: &Parents<'_>| {
        let select = match parents.key() {
            Some(key) => {
                let on_node_type = Query::select()
                    .expr(Expr::val(1))
                    .from(tasks::Entity)
                    .and_where(
                        Expr::col((tasks::Entity, tasks::Column::JobId))
                            .equals((jobs::Entity, jobs::Column::Id)),
                    )
                    // The job's project: keeps the subquery on the job's
                    // shard on Citus.
                    .and_where(
                        Expr::col((tasks::Entity, tasks::Column::ProjectId))
                            .equals((jobs::Entity, jobs::Column::ProjectId)),
                    )
                    .and_where(
                        Expr::col((tasks::Entity, tasks::Column::NodeTypeId)).eq(key.clone()),
                    )
                    .to_owned();
                jobs::Entity::find()
                    .filter(Expr::exists(on_node_type))
                    .column_as(key, "parent_key")
            }
            None => parents
                .keyed(
                    jobs::Entity::find().join(
                        JoinType::InnerJoin,
                        jobs::Relation::Tasks.def().on_condition(|job, task| {
                            Condition::all().add(
                                Expr::col((job, jobs::Column::ProjectId))
                                    .equals((task, tasks::Column::ProjectId)),
                            )
                        }),
                    ),
                    tasks::Column::NodeTypeId,
                )
                .distinct(),
        };
        scoped(
            &scope,
            parents.context(select, jobs::Column::ProjectId),
            jobs::Column::ProjectId,
        )
    })
}

/// The tasks of the parent jobs.
///
/// The parents come with their job's project as context, so that each
/// parent's select names the project (one shard on Citus).
pub(crate) fn job_tasks() -> BaseFn {
    Arc::new(|parents: &Parents<'_>| {
        let select = parents.keyed(tasks::Entity::find(), tasks::Column::JobId);
        parents
            .context(select, tasks::Column::ProjectId)
            .into_query()
    })
}

/// The tasks (in `scope`) whose usage the parent formulas computed.
pub(crate) fn formula_tasks(scope: ProjectScope) -> BaseFn {
    Arc::new(move |parents: &Parents<'_>| {
        let select = parents.keyed(tasks::Entity::find(), tasks::Column::FormulaId);
        scoped(
            &scope,
            Parents::no_context(select),
            tasks::Column::ProjectId,
        )
    })
}

/// The buckets in `scope` (a root list).
pub(crate) fn buckets(scope: ProjectScope) -> BaseFn {
    Arc::new(move |_: &Parents<'_>| {
        scoped(
            &scope,
            Parents::root(buckets::Entity::find()),
            buckets::Column::ProjectId,
        )
    })
}

/// The buckets of the parent projects (in `scope`).
pub(crate) fn project_buckets(scope: ProjectScope) -> BaseFn {
    Arc::new(move |parents: &Parents<'_>| {
        let select = parents.keyed(buckets::Entity::find(), buckets::Column::ProjectId);
        scoped(
            &scope,
            Parents::no_context(select),
            buckets::Column::ProjectId,
        )
    })
}

/// Installations (in `scope`) whose `parent` column is a parent's id.
pub(crate) fn installations(scope: ProjectScope, parent: installations::Column) -> BaseFn {
    Arc::new(move |parents: &Parents<'_>| {
        let select = parents.keyed(installations::Entity::find(), parent);
        scoped(
            &scope,
            Parents::no_context(select),
            installations::Column::ProjectId,
        )
    })
}

/// The metrics (in `scope`) of the parent installations, reached with the
/// installation's project as context.
pub(crate) fn installation_metrics(scope: ProjectScope) -> BaseFn {
    Arc::new(move |parents: &Parents<'_>| {
        let select = parents.keyed(metrics::Entity::find(), metrics::Column::InstallationId);
        // With the installation's project as context: one shard on Citus.
        scoped(
            &scope,
            parents.context(select, metrics::Column::ProjectId),
            metrics::Column::ProjectId,
        )
    })
}

/// The grants of the parent users (administrators only; the resolver checks).
pub(crate) fn user_grants() -> BaseFn {
    Arc::new(|parents: &Parents<'_>| {
        let select = parents.keyed(grants::Entity::find(), grants::Column::UserId);
        Parents::no_context(select).into_query()
    })
}
