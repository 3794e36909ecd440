//! `node(id:)`: any object by its global id, as the caller may see it.

use async_graphql::{Context, ID, Interface};

use super::admin::{User, UserGrant};
use super::cloud::Site;
use super::context::ContextExt as _;
use super::eosc::{Installation, Metric, MetricDefinition, Provider};
use super::hpc::{Cluster, Formula, Group, Job, NodeType, SubProject, Task};
use super::id::GlobalId;
use super::loader::{ById, gql};
use super::mutation::{Aggregation, RecomputationRun};
use super::object::Project;
use super::storage::Bucket;
use crate::entity::{
    accounting_runs, buckets, clusters, formulas, grants, installations, jobs, metric_definitions,
    metrics, node_type_aggregations, node_types, projects, providers, sites, sub_projects, tasks,
    user_groups, users,
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
    /// An EOSC installation.
    Installation(Installation),
    /// An EOSC metric.
    Metric(Metric),
    /// An EOSC metric definition.
    MetricDefinition(MetricDefinition),
    /// An EOSC provider.
    Provider(Provider),
    /// An APEL site.
    Site(Site),
    /// A Tally user (administrators only).
    User(User),
    /// A grant (administrators only).
    Grant(UserGrant),
    /// A node-type aggregation.
    Aggregation(Aggregation),
    /// A recomputation run.
    RecomputationRun(RecomputationRun),
}

/// The object `id` names, or `None` when it does not exist or the caller may
/// not see it (the two are not told apart). The request's by-id loader reads
/// as the caller: the scope is a condition of its statement, so a row out of
/// scope is never loaded.
pub(crate) async fn resolve(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<Option<Node>> {
    let Some(global) = GlobalId::decode(id) else {
        return Err(gql(Error::BadRequest(format!(
            "{:?} is not a global id",
            id.as_str()
        ))));
    };
    let loaders = &ctx.request()?.loaders;
    let admin = ctx.principal()?.is_system_admin();
    Ok(match global.kind.as_str() {
        "Project" => loaders
            .load_one(ById::<projects::Entity>::new(global.id))
            .await?
            .map(|r| Node::Project(Project(r))),
        "SubProject" => loaders
            .load_one(ById::<sub_projects::Entity>::new(global.id))
            .await?
            .map(|r| Node::SubProject(SubProject(r))),
        "Group" => loaders
            .load_one(ById::<user_groups::Entity>::new(global.id))
            .await?
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
            .map(|r| Node::Job(Job(r))),
        "Task" => loaders
            .load_one(ById::<tasks::Entity>::new(global.id))
            .await?
            .map(|r| Node::Task(Task(r))),
        "Bucket" => loaders
            .load_one(ById::<buckets::Entity>::new(global.id))
            .await?
            .map(|r| Node::Bucket(Bucket(r))),
        "Installation" => loaders
            .load_one(ById::<installations::Entity>::new(global.id))
            .await?
            .map(|r| Node::Installation(Installation(r))),
        "Metric" => loaders
            .load_one(ById::<metrics::Entity>::new(global.id))
            .await?
            .map(|r| Node::Metric(Metric(r))),
        "MetricDefinition" => loaders
            .load_one(ById::<metric_definitions::Entity>::new(global.id))
            .await?
            .map(|r| Node::MetricDefinition(MetricDefinition(r))),
        "Provider" => loaders
            .load_one(ById::<providers::Entity>::new(global.id))
            .await?
            .map(|r| Node::Provider(Provider(r))),
        "Site" => loaders
            .load_one(ById::<sites::Entity>::new(global.id))
            .await?
            .map(|row| Node::Site(Site { row, project: None })),
        "User" if admin => loaders
            .load_one(ById::<users::Entity>::new(global.id))
            .await?
            .map(|r| Node::User(User(r))),
        "Grant" if admin => loaders
            .load_one(ById::<grants::Entity>::new(global.id))
            .await?
            .map(|r| Node::Grant(UserGrant(r))),
        "Aggregation" => loaders
            .load_one(ById::<node_type_aggregations::Entity>::new(global.id))
            .await?
            .map(|r| Node::Aggregation(Aggregation(r))),
        "RecomputationRun" => loaders
            .load_one(ById::<accounting_runs::Entity>::new(global.id))
            .await?
            .map(|r| Node::RecomputationRun(RecomputationRun(r))),
        _ => None,
    })
}
