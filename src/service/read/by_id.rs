//! Rows by id, as a caller may see them: each kind says which of its rows a
//! [`ProjectScope`] may read, and [`load`] puts that condition in the
//! statement. `node(id:)` and every by-id relation of the graph load through
//! here, so an object of a project out of scope never leaves the database.

use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait, Iterable as _, ModelTrait as _,
    PrimaryKeyToColumn as _, QueryFilter as _,
};

use crate::auth::ProjectScope;
use crate::entity::{
    accounting_runs, buckets, clusters, eosc_resources, formulas, grants, installations, jobs,
    metric_definitions, metric_types, metrics, node_type_aggregations, node_types, projects,
    providers, roles, sites, sub_projects, tasks, unit_types, user_groups, users,
};
use crate::error::Error;

/// An entity whose rows are read by id, and who may read which.
pub(crate) trait Visible: EntityTrait {
    /// The condition that keeps the rows a caller who sees `scope` may read.
    fn visible(scope: &ProjectScope) -> Condition;
}

/// Entities that belong to a project: visible when their project is in
/// scope (a row without a project, only to those who see every project).
macro_rules! by_project {
    ($($entity:ident => $column:ident),* $(,)?) => {$(
        impl Visible for $entity::Entity {
            fn visible(scope: &ProjectScope) -> Condition {
                scope.condition($entity::Column::$column.into_expr())
            }
        }
    )*};
}

/// Entities shared by every project (the catalogue) or guarded before any
/// load (users and grants: `node(id:)` asks for them only for
/// administrators; a job's submitter is read through its job, which is in
/// scope).
macro_rules! shared {
    ($($entity:ident),* $(,)?) => {$(
        impl Visible for $entity::Entity {
            fn visible(_: &ProjectScope) -> Condition {
                Condition::all()
            }
        }
    )*};
}

by_project! {
    projects => Id,
    sub_projects => ProjectId,
    user_groups => ProjectId,
    jobs => ProjectId,
    tasks => ProjectId,
    buckets => ProjectId,
    installations => ProjectId,
    metrics => ProjectId,
    accounting_runs => ProjectId,
}

shared! {
    clusters,
    node_types,
    node_type_aggregations,
    formulas,
    providers,
    metric_definitions,
    sites,
    users,
    grants,
    roles,
    eosc_resources,
    unit_types,
    metric_types,
}

/// The rows of `E` with these ids that a caller who sees `scope` may read,
/// with their ids, in one statement.
///
/// # Errors
/// A database error.
pub(crate) async fn load<E>(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<(i64, E::Model)>, Error>
where
    E: Visible,
{
    let Some(primary) = E::PrimaryKey::iter().next().map(|k| k.into_column()) else {
        return Ok(Vec::new());
    };
    let rows = E::find()
        .filter(primary.is_in(ids))
        .filter(E::visible(scope))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row.get(primary) {
            sea_orm::Value::BigInt(Some(id)) => Some((id, row)),
            _ => None,
        })
        .collect())
}
