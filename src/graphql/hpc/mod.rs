//! HPC objects: clusters, node types, jobs, tasks, formulas, and the
//! sub-projects and groups of a project.

mod cluster;
mod formula;
mod job;
mod task;
mod tenancy;

use async_graphql::Context;

use super::context::ContextExt as _;
use super::page::{Kind, SortKey};
use crate::auth::ProjectScope;

pub(crate) use cluster::{
    Cluster, ClusterFilter, ClusterOrder, NodeType, NodeTypeFilter, NodeTypeOrder,
};
pub(crate) use formula::{Formula, FormulaFilter, FormulaOrder};
pub(crate) use job::{Job, JobArgs, JobFilter, JobOrder, JobState};
pub(crate) use task::{Task, UsageStatus};
pub(crate) use tenancy::{
    Group, GroupFilter, GroupOrder, SubProject, SubProjectFilter, SubProjectOrder,
};

/// The projects the caller may see.
pub(crate) fn scope(ctx: &Context<'_>) -> async_graphql::Result<ProjectScope> {
    Ok(ctx.principal()?.visible_projects())
}

/// The parent of a list under an object reached through `project` (if any),
/// and the relation name for the list spec (the two kinds never share a
/// statement).
fn parent(id: i64, project: Option<i64>, relation: &str) -> ((i64, i64), String) {
    match project {
        Some(project) => ((id, project), format!("{relation}@project")),
        None => ((id, 0), relation.to_owned()),
    }
}

/// A sort by one column, then id.
pub(crate) fn by(column: &'static str, kind: Kind) -> Vec<SortKey> {
    vec![SortKey::asc(column, kind)]
}
