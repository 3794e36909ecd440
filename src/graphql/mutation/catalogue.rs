//! The HPC catalogue: clusters, node-type aggregations, node types, which
//! projects use which cluster, formula versions, and recomputation runs.
//! Administrators only.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::super::hpc::{Cluster, Formula, NodeType};
use super::super::object::Project;
use super::payload::{Aggregation, RecomputationRun};
use super::{admin, bad, id_of, write};
use crate::domain::catalogue::{self, Name, Validity, positive};
use crate::service::catalogue::{self as service, NewNodeType};
use crate::service::formulas::{self, NewFormula};
use crate::service::recompute;

/// A new cluster.
#[derive(InputObject)]
pub(crate) struct CreateClusterInput {
    /// Its name, unique (collectors post jobs under it).
    name: String,
    /// Free-text description.
    description: Option<String>,
    /// The scheduler, e.g. `slurm` or `pbs` (a label).
    scheduler: Option<String>,
}

/// A new node-type aggregation.
#[derive(InputObject)]
pub(crate) struct CreateAggregationInput {
    /// Its name, unique.
    name: String,
    /// Free-text description.
    description: Option<String>,
    /// HEAppE's allocation type, a free-text label.
    allocation_type: Option<String>,
    /// Start of validity.
    valid_from: DateTime<Utc>,
    /// End of validity (not before `validFrom`), or open.
    valid_to: Option<DateTime<Utc>>,
}

/// A new node type of a cluster.
#[derive(InputObject)]
pub(crate) struct CreateNodeTypeInput {
    /// The cluster (global id).
    cluster: ID,
    /// The aggregation whose formulas price its tasks (global id); without
    /// one its tasks are `no_formula`.
    aggregation: Option<ID>,
    /// Its name, unique on the cluster (collectors name a task's node type by
    /// it or by its queue).
    name: String,
    /// Free-text description.
    description: Option<String>,
    /// The scheduler queue (partition); default: the name.
    queue: Option<String>,
    /// The quality of service, if the scheduler has one.
    quality_of_service: Option<String>,
    /// Cores per node (positive).
    cores_per_node: i32,
    /// Number of nodes (not negative).
    node_count: Option<i32>,
    /// The longest wall time a job may ask for, in seconds (positive).
    max_walltime_seconds: Option<i64>,
}

/// A cluster and a project that uses it.
#[derive(InputObject)]
pub(crate) struct AttachClusterInput {
    /// The cluster (global id).
    cluster: ID,
    /// The project (global id).
    project: ID,
}

/// A new formula version of an aggregation.
#[derive(InputObject)]
pub(crate) struct CreateFormulaVersionInput {
    /// The aggregation it prices (global id).
    aggregation: ID,
    /// The expression over the task's scheduler parameters, e.g.
    /// `NumNodes * RunTime` (arithmetic only, known variables, at most 200
    /// characters).
    expression: String,
    /// The unit it yields: `core_hour`, `node_hour`, `gpu_hour`,
    /// `billing_hour` or `hour`.
    unit: String,
    /// Start of validity (inclusive).
    valid_from: DateTime<Utc>,
    /// End of validity (inclusive), or open.
    valid_to: Option<DateTime<Utc>>,
    /// The version this one replaces (global id of a `Formula` of the same
    /// aggregation). It is not changed: the newest version valid at a task's
    /// start prices the task.
    supersedes: Option<ID>,
}

/// A recomputation to queue.
#[derive(InputObject)]
pub(crate) struct RequestRecomputationInput {
    /// The project (global id).
    project: ID,
    /// Tasks that started at or after this instant…
    from: DateTime<Utc>,
    /// …and ended at or before this one (after `from`).
    to: DateTime<Utc>,
}

fn optional_name(field: &str, text: Option<&str>) -> async_graphql::Result<Option<Name>> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| Name::parse(field, t))
        .transpose()
        .map_err(bad)
}

/// The HPC catalogue, formulas and recomputations.
#[derive(Default)]
pub(crate) struct CatalogueMutation;

/// The HPC catalogue, formulas and recomputations.
#[Object]
impl CatalogueMutation {
    /// Creates a cluster. Administrators only. `CONFLICT` when the name is
    /// taken.
    async fn create_cluster(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new cluster.")] input: CreateClusterInput,
    ) -> async_graphql::Result<Cluster> {
        admin(ctx)?;
        let name = Name::parse("name", &input.name).map_err(bad)?;
        let description = catalogue::description(input.description.as_deref()).map_err(bad)?;
        let scheduler = optional_name("scheduler", input.scheduler.as_deref())?;
        let row = write(ctx, async |txn| {
            service::create_cluster(txn, name, description, scheduler).await
        })
        .await?;
        Ok(Cluster { row, project: None })
    }

    /// Creates a node-type aggregation. Administrators only. `CONFLICT` when
    /// the name is taken.
    async fn create_aggregation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new aggregation.")] input: CreateAggregationInput,
    ) -> async_graphql::Result<Aggregation> {
        admin(ctx)?;
        let name = Name::parse("name", &input.name).map_err(bad)?;
        let description = catalogue::description(input.description.as_deref()).map_err(bad)?;
        let allocation_type = optional_name("allocationType", input.allocation_type.as_deref())?;
        let validity = Validity::new(input.valid_from, input.valid_to).map_err(bad)?;
        let row = write(ctx, async |txn| {
            service::create_aggregation(txn, name, description, allocation_type, validity).await
        })
        .await?;
        Ok(Aggregation(row))
    }

    /// Creates a node type on a cluster. Administrators only. `NOT_FOUND` for
    /// an unknown cluster or aggregation; `CONFLICT` when the cluster has a
    /// node type of that name.
    async fn create_node_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new node type.")] input: CreateNodeTypeInput,
    ) -> async_graphql::Result<NodeType> {
        admin(ctx)?;
        let name = Name::parse("name", &input.name).map_err(bad)?;
        let queue = match input.queue.as_deref() {
            Some(queue) => Name::parse("queue", queue).map_err(bad)?,
            None => name.clone(),
        };
        let new = NewNodeType {
            cluster_id: id_of(&input.cluster, "Cluster", "cluster")?,
            aggregation_id: input
                .aggregation
                .as_ref()
                .map(|id| id_of(id, "Aggregation", "aggregation"))
                .transpose()?,
            name,
            description: catalogue::description(input.description.as_deref()).map_err(bad)?,
            queue,
            quality_of_service: optional_name(
                "qualityOfService",
                input.quality_of_service.as_deref(),
            )?,
            cores_per_node: positive("coresPerNode", input.cores_per_node).map_err(bad)?,
            node_count: match input.node_count {
                Some(n) if n < 0 => return Err(bad(format!("nodeCount is negative: {n}"))),
                other => other,
            },
            max_walltime_seconds: input
                .max_walltime_seconds
                .map(|s| positive("maxWalltimeSeconds", s))
                .transpose()
                .map_err(bad)?,
        };
        let row = write(ctx, async |txn| service::create_node_type(txn, new).await).await?;
        Ok(NodeType { row, project: None })
    }

    /// Lets a project use a cluster, so the cluster shows in the project's
    /// reports (ingestion does this by itself for the clusters a project's
    /// jobs ran on). Doing it again changes nothing. Administrators only.
    /// `NOT_FOUND` for an unknown cluster or project.
    async fn attach_cluster_to_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cluster and the project.")] input: AttachClusterInput,
    ) -> async_graphql::Result<Project> {
        admin(ctx)?;
        let cluster = id_of(&input.cluster, "Cluster", "cluster")?;
        let project = id_of(&input.project, "Project", "project")?;
        let (_, project) = write(ctx, async |txn| {
            service::attach_cluster(txn, cluster, project).await
        })
        .await?;
        Ok(Project(project))
    }

    /// Creates a new formula version for an aggregation. Formulas are never
    /// edited: a change is a new version, which prices the tasks that start
    /// within its validity from now on (queue a recomputation to price stored
    /// tasks again). Administrators only. `BAD_USER_INPUT` naming what is
    /// wrong with the expression (syntax, unknown variable, length), unit or
    /// window; `NOT_FOUND` for an unknown aggregation or superseded version.
    async fn create_formula_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new version.")] input: CreateFormulaVersionInput,
    ) -> async_graphql::Result<Formula> {
        let principal = admin(ctx)?;
        let aggregation = id_of(&input.aggregation, "Aggregation", "aggregation")?;
        let supersedes = input
            .supersedes
            .as_ref()
            .map(|id| id_of(id, "Formula", "supersedes"))
            .transpose()?;
        let new = NewFormula {
            expression: input.expression,
            unit: input.unit.trim().to_owned(),
            validity_from: input.valid_from,
            validity_to: input.valid_to,
            supersedes,
        };
        let created_by = principal.user_id;
        let row = write(ctx, async |txn| {
            formulas::create_version(txn, aggregation, new, created_by).await
        })
        .await?;
        Ok(Formula(row))
    }

    /// Queues a recomputation of a project's HPC task usage with the formula
    /// versions that exist now, for the tasks that lie within the period; any
    /// Tally instance picks it up (`recomputationProgress` reports it).
    /// Administrators only. `BAD_USER_INPUT` when the period is empty or
    /// reversed; `NOT_FOUND` for an unknown project.
    async fn request_recomputation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the period.")] input: RequestRecomputationInput,
    ) -> async_graphql::Result<RecomputationRun> {
        let principal = admin(ctx)?;
        let project = id_of(&input.project, "Project", "project")?;
        let by = principal.user_id;
        let row = write(ctx, async |txn| {
            recompute::enqueue(txn, project, input.from, input.to, by).await
        })
        .await?;
        Ok(RecomputationRun(row))
    }
}
