//! The HPC catalogue administrators keep: clusters, node-type aggregations,
//! node types and which projects use which cluster (HEAppE's ClusterProject).
//! Inputs arrive parsed ([`crate::domain::catalogue`]); unique keys become
//! [`Error::Conflict`] naming the duplicate, unknown references
//! [`Error::NotFound`].

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ConnectionTrait, EntityTrait as _, QueryOrder as _,
};

use super::projects::{conflict_on_unique, require as require_project};
use crate::domain::catalogue::{Name, Validity};
use crate::entity::{cluster_projects, clusters, node_type_aggregations, node_types, projects};
use crate::error::Error;

/// The cluster `id`, or [`Error::NotFound`].
///
/// # Errors
/// [`Error::NotFound`] when there is none, or a database error.
pub async fn cluster(db: &impl ConnectionTrait, id: i64) -> Result<clusters::Model, Error> {
    clusters::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no cluster {id}")))
}

/// The aggregation `id`, or [`Error::NotFound`].
///
/// # Errors
/// [`Error::NotFound`] when there is none, or a database error.
pub async fn aggregation(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<node_type_aggregations::Model, Error> {
    node_type_aggregations::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no node type aggregation {id}")))
}

/// Every aggregation, by id (HEAppE's `GET ClusterNodeTypeAggregations`).
///
/// # Errors
/// A database error.
pub async fn aggregations(
    db: &impl ConnectionTrait,
) -> Result<Vec<node_type_aggregations::Model>, Error> {
    Ok(node_type_aggregations::Entity::find()
        .order_by_asc(node_type_aggregations::Column::Id)
        .all(db)
        .await?)
}

/// Creates cluster `name`.
///
/// # Errors
/// [`Error::Conflict`] when a cluster has that name.
pub async fn create_cluster(
    db: &impl ConnectionTrait,
    name: Name,
    description: Option<String>,
    scheduler: Option<Name>,
) -> Result<clusters::Model, Error> {
    let name = name.into_inner();
    clusters::ActiveModel {
        name: Set(name.clone()),
        description: Set(description),
        scheduler: Set(scheduler.map(Name::into_inner)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a cluster named {name:?} exists")))
}

/// Creates node-type aggregation `name`, valid over `validity`.
///
/// # Errors
/// [`Error::Conflict`] when an aggregation has that name.
pub async fn create_aggregation(
    db: &impl ConnectionTrait,
    name: Name,
    description: Option<String>,
    allocation_type: Option<Name>,
    validity: Validity,
) -> Result<node_type_aggregations::Model, Error> {
    let name = name.into_inner();
    node_type_aggregations::ActiveModel {
        name: Set(name.clone()),
        description: Set(description),
        allocation_type: Set(allocation_type.map(Name::into_inner)),
        validity_from: Set(validity.from),
        validity_to: Set(validity.to),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("a node type aggregation named {name:?} exists")
        })
    })
}

/// A node type to create, validated.
#[derive(Debug, Clone)]
pub struct NewNodeType {
    /// Its cluster.
    pub cluster_id: i64,
    /// The aggregation whose formulas price it, if any.
    pub aggregation_id: Option<i64>,
    /// Its name, unique on the cluster.
    pub name: Name,
    /// Free-text description.
    pub description: Option<String>,
    /// The scheduler queue (partition).
    pub queue: Name,
    /// The quality of service.
    pub quality_of_service: Option<Name>,
    /// Cores per node (positive).
    pub cores_per_node: i32,
    /// Number of nodes (not negative).
    pub node_count: Option<i32>,
    /// Longest wall time, seconds (positive).
    pub max_walltime_seconds: Option<i64>,
}

/// Creates a node type.
///
/// # Errors
/// [`Error::NotFound`] for an unknown cluster or aggregation,
/// [`Error::Conflict`] when the cluster has a node type of that name.
pub async fn create_node_type(
    db: &impl ConnectionTrait,
    new: NewNodeType,
) -> Result<node_types::Model, Error> {
    let cluster = cluster(db, new.cluster_id).await?;
    if let Some(id) = new.aggregation_id {
        aggregation(db, id).await?;
    }
    let name = new.name.into_inner();
    node_types::ActiveModel {
        cluster_id: Set(cluster.id),
        aggregation_id: Set(new.aggregation_id),
        name: Set(name.clone()),
        description: Set(new.description),
        queue: Set(new.queue.into_inner()),
        quality_of_service: Set(new.quality_of_service.map(Name::into_inner)),
        cores_per_node: Set(new.cores_per_node),
        node_count: Set(new.node_count),
        max_walltime_seconds: Set(new.max_walltime_seconds),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("cluster {:?} has a node type {name:?}", cluster.name)
        })
    })
}

/// Lets project `project_id` use cluster `cluster_id` (so the cluster shows in
/// its reports). Doing it twice changes nothing.
///
/// # Errors
/// [`Error::NotFound`] for an unknown cluster or project.
pub async fn attach_cluster(
    db: &impl ConnectionTrait,
    cluster_id: i64,
    project_id: i64,
) -> Result<(clusters::Model, projects::Model), Error> {
    let cluster = cluster(db, cluster_id).await?;
    let project = require_project(db, project_id).await?;
    cluster_projects::Entity::insert(cluster_projects::ActiveModel {
        cluster_id: Set(cluster.id),
        project_id: Set(project.id),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            cluster_projects::Column::ClusterId,
            cluster_projects::Column::ProjectId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok((cluster, project))
}
