//! `node(id:)`: any object by its global id, as the caller may see it.

use async_graphql::{Context, ID, Interface};

use super::context::ContextExt as _;
use super::hpc::{Cluster, Formula, Group, Job, NodeType, SubProject, Task, scope};
use super::id::GlobalId;
use super::loader::{ById, gql};
use super::mutation::{Aggregation, RecomputationRun};
use super::object::Project;
use super::storage::Bucket;
use crate::entity::{
    accounting_runs, buckets, clusters, formulas, jobs, node_type_aggregations, node_types,
    projects, sub_projects, tasks, user_groups,
};
use crate::error::Error;

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global id."))]
pub(crate) enum Node {
    /// A project.
    Project(Project),
    /// A sub-project.
    SubProject(SubProject),
    /// A user group.
    Group(Group),
    /// A cluster.
    Cluster(Cluster),
    /// A node type.
    NodeType(NodeType),
    /// A formula version.
    Formula(Formula),
    /// A job.
    Job(Job),
    /// A task.
    Task(Task),
    /// A bucket.
    Bucket(Bucket),
    /// A node-type aggregation.
    Aggregation(Aggregation),
    /// A recomputation run.
    RecomputationRun(RecomputationRun),
}

/// The object `id` names, or `None` when it does not exist or the caller may
/// not see it (the two are not told apart).
pub(crate) async fn resolve(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<Option<Node>> {
    let scope = scope(ctx)?;
    let Some(global) = GlobalId::decode(id) else {
        return Err(gql(Error::BadRequest(format!(
            "{:?} is not a global id",
            id.as_str()
        ))));
    };
    let loaders = &ctx.request()?.loaders;
    let visible = |project: Option<i64>| match project {
        Some(project) => scope.contains(project),
        None => scope == crate::auth::ProjectScope::All,
    };
    Ok(match global.kind.as_str() {
        "Project" => loaders
            .load_one(ById::<projects::Entity>::new(global.id))
            .await?
            .filter(|r| visible(Some(r.id)))
            .map(|r| Node::Project(Project(r))),
        "SubProject" => loaders
            .load_one(ById::<sub_projects::Entity>::new(global.id))
            .await?
            .filter(|r| visible(Some(r.project_id)))
            .map(|r| Node::SubProject(SubProject(r))),
        "Group" => loaders
            .load_one(ById::<user_groups::Entity>::new(global.id))
            .await?
            .filter(|r| visible(r.project_id))
            .map(|r| Node::Group(Group(r))),
        "Cluster" => loaders
            .load_one(ById::<clusters::Entity>::new(global.id))
            .await?
            .map(|row| Node::Cluster(Cluster { row, project: None })),
        "NodeType" => loaders
            .load_one(ById::<node_types::Entity>::new(global.id))
            .await?
            .map(|row| Node::NodeType(NodeType { row, project: None })),
        "Formula" => loaders
            .load_one(ById::<formulas::Entity>::new(global.id))
            .await?
            .map(|r| Node::Formula(Formula(r))),
        "Job" => loaders
            .load_one(ById::<jobs::Entity>::new(global.id))
            .await?
            .filter(|r| visible(Some(r.project_id)))
            .map(|r| Node::Job(Job(r))),
        "Task" => loaders
            .load_one(ById::<tasks::Entity>::new(global.id))
            .await?
            .filter(|r| visible(Some(r.project_id)))
            .map(|r| Node::Task(Task(r))),
        "Bucket" => loaders
            .load_one(ById::<buckets::Entity>::new(global.id))
            .await?
            .filter(|r| visible(r.project_id))
            .map(|r| Node::Bucket(Bucket(r))),
        "Aggregation" => loaders
            .load_one(ById::<node_type_aggregations::Entity>::new(global.id))
            .await?
            .map(|r| Node::Aggregation(Aggregation(r))),
        "RecomputationRun" => loaders
            .load_one(ById::<accounting_runs::Entity>::new(global.id))
            .await?
            .filter(|r| visible(Some(r.project_id)))
            .map(|r| Node::RecomputationRun(RecomputationRun(r))),
        _ => None,
    })
}
