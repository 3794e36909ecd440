//! EOSC projects, their providers and installations (eosc.md §1.1 Project,
//! Installation; §1.2): what the `/accounting-system/projects/…`,
//! `/installations/…` and `/admin/projects` routes read and write.
//!
//! An EOSC project is a Tally project with a grant id (`projects.eosc_id`);
//! registering one creates the Tally project, with the grant id as its
//! accounting string. Providers are associated with a project
//! (`project_providers`) before installations can be made under the pair.
//!
//! Access (eosc.md §5) is decided by the caller's [`InstallationScope`] for
//! the action: project-level routes look at the project's ACL only,
//! installation-level ones at the project's, the provider-within-project's
//! and the installation's.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::projects::conflict_on_unique;
use crate::auth::InstallationScope;
use crate::entity::{
    eosc_resources, installations, metric_definitions, metric_types, metrics, project_providers,
    projects, providers, unit_types,
};
use crate::error::Error;

/// Upstream's answer for a project id that names nothing (404).
#[must_use]
pub fn project_not_found(id: &str) -> String {
    format!("There is no Project with the following id: {id}")
}

/// Upstream's answer for a provider id that names nothing (404).
#[must_use]
pub fn provider_not_found(id: &str) -> String {
    format!("There is no Provider with the following id: {id}")
}

/// A project as a system administrator registers it (`POST /admin/projects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// The grant id (no dot).
    pub id: String,
    /// The acronym.
    pub acronym: String,
    /// The title.
    pub title: String,
    /// The first day.
    pub start_date: NaiveDate,
    /// The last day.
    pub end_date: NaiveDate,
    /// The call it was funded under.
    pub call_identifier: String,
}

/// Registers an EOSC project: a Tally project whose accounting string and
/// grant id are `new.id`.
///
/// # Errors
/// [`Error::BadRequest`] for an id with a dot or reversed dates,
/// [`Error::Conflict`] when a project with that id (or accounting string)
/// exists.
pub async fn register(
    db: &impl ConnectionTrait,
    new: NewProject,
) -> Result<projects::Model, Error> {
    if new.id.contains('.') {
        return Err(Error::BadRequest(
            "Project ID should not contain a dot character.".to_owned(),
        ));
    }
    if new.end_date < new.start_date {
        return Err(Error::BadRequest(
            "end_date cannot be before start_date.".to_owned(),
        ));
    }
    let id = new.id.clone();
    projects::ActiveModel {
        accounting_string: Set(new.id.clone()),
        name: Set(new.title.clone()),
        start_date: Set(Some(new.start_date)),
        end_date: Set(Some(new.end_date)),
        // The HPC label of a project that is not (yet) an HPC one: the default.
        usage_type: Set(crate::domain::catalogue::UsageType::default()
            .as_str()
            .to_owned()),
        eosc_id: Set(Some(new.id)),
        acronym: Set(Some(new.acronym)),
        title: Set(Some(new.title)),
        call_identifier: Set(Some(new.call_identifier)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("There is a Project with the following id: {id}")
        })
    })
}

/// The project with grant id `id`.
///
/// # Errors
/// [`Error::NotFound`] with upstream's message.
pub async fn project(db: &impl ConnectionTrait, id: &str) -> Result<projects::Model, Error> {
    projects::Entity::find()
        .filter(projects::Column::EoscId.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(project_not_found(id)))
}

/// The provider with text id `id`.
///
/// # Errors
/// [`Error::NotFound`] with upstream's message.
pub async fn provider(db: &impl ConnectionTrait, id: &str) -> Result<providers::Model, Error> {
    providers::Entity::find_by_external_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(provider_not_found(id)))
}

/// The EOSC projects whose ACL gives the caller the scope's action, a page
/// of them in grant-id order, and how many there are.
///
/// # Errors
/// A database error.
pub async fn projects_page(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    offset: u64,
    limit: u64,
) -> Result<(Vec<projects::Model>, u64), Error> {
    let mut select = projects::Entity::find().filter(projects::Column::EoscId.is_not_null());
    if let InstallationScope::Only { projects, .. } = scope {
        select = select.filter(projects::Column::Id.is_in(projects.iter().copied()));
    }
    let total = select.clone().count(db).await?;
    let page = select
        .order_by_asc(projects::Column::EoscId)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((page, total))
}

/// A metric definition with the names of its unit and metric types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionView {
    /// The definition.
    pub definition: metric_definitions::Model,
    /// Its unit type's name.
    pub unit_type: String,
    /// Its metric type's name.
    pub metric_type: String,
}

/// An installation with what its wire form names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationView {
    /// The installation.
    pub installation: installations::Model,
    /// Its project's grant id.
    pub project: String,
    /// Its provider's text id.
    pub organisation: String,
    /// Its EOSC resource's id, if any.
    pub resource: Option<String>,
    /// Its unit of access, if any.
    pub unit_of_access: Option<DefinitionView>,
}

/// A project with its providers, each with its installations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The project.
    pub project: projects::Model,
    /// Its providers in association order, with their installations.
    pub providers: Vec<(providers::Model, Vec<InstallationView>)>,
}

/// The project's hierarchy (upstream's `ProjectProjection`).
///
/// # Errors
/// A database error.
pub async fn hierarchy(
    db: &impl ConnectionTrait,
    project: projects::Model,
) -> Result<Hierarchy, Error> {
    let links = project_providers::Entity::find()
        .filter(project_providers::Column::ProjectId.eq(project.id))
        .order_by_asc(project_providers::Column::Id)
        .find_also_related(providers::Entity)
        .all(db)
        .await?;
    let rows = installations::Entity::find()
        .filter(installations::Column::ProjectId.eq(project.id))
        .order_by_asc(installations::Column::Id)
        .all(db)
        .await?;
    let mut views = views(db, rows).await?;
    let mut providers = Vec::new();
    for (_, provider) in links {
        let Some(provider) = provider else { continue };
        let (mine, rest) = views
            .into_iter()
            .partition(|v| v.installation.provider_id == provider.id);
        views = rest;
        providers.push((provider, mine));
    }
    Ok(Hierarchy { project, providers })
}

/// Associates `ids` (provider text ids) with the project; already associated
/// ones are left as they are.
///
/// # Errors
/// [`Error::NotFound`] for the first unknown provider (nothing is changed).
pub async fn associate(
    db: &impl ConnectionTrait,
    project: &projects::Model,
    ids: &[String],
) -> Result<(), Error> {
    let mut found = Vec::new();
    for id in ids {
        found.push(provider(db, id).await?);
    }
    for provider in found {
        let exists = project_providers::Entity::find()
            .filter(project_providers::Column::ProjectId.eq(project.id))
            .filter(project_providers::Column::ProviderId.eq(provider.id))
            .one(db)
            .await?
            .is_some();
        if !exists {
            project_providers::ActiveModel {
                project_id: Set(project.id),
                provider_id: Set(provider.id),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Dissociates `ids` from the project.
///
/// # Errors
/// [`Error::NotFound`] for an unknown provider, [`Error::Conflict`] with
/// upstream's message when installations are registered under a pair
/// (nothing is changed).
pub async fn dissociate(
    db: &impl ConnectionTrait,
    project: &projects::Model,
    ids: &[String],
) -> Result<(), Error> {
    let mut found = Vec::new();
    for id in ids {
        let provider = provider(db, id).await?;
        let used = installations::Entity::find()
            .filter(installations::Column::ProjectId.eq(project.id))
            .filter(installations::Column::ProviderId.eq(provider.id))
            .count(db)
            .await?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "Dissociation is not allowed. There are registered installations to {{{}, {}}}.",
                project.eosc_id.as_deref().unwrap_or_default(),
                provider.external_id
            )));
        }
        found.push(provider.id);
    }
    project_providers::Entity::delete_many()
        .filter(project_providers::Column::ProjectId.eq(project.id))
        .filter(project_providers::Column::ProviderId.is_in(found))
        .exec(db)
        .await?;
    Ok(())
}

/// The `project_providers` row of the pair, if the provider is associated.
///
/// # Errors
/// A database error.
pub async fn association(
    db: &impl ConnectionTrait,
    project_id: i64,
    provider_id: i64,
) -> Result<Option<i64>, Error> {
    Ok(project_providers::Entity::find()
        .filter(project_providers::Column::ProjectId.eq(project_id))
        .filter(project_providers::Column::ProviderId.eq(provider_id))
        .one(db)
        .await?
        .map(|row| row.id))
}

/// Whether `scope` reaches installation `row` (through its project, its
/// provider within the project, or itself).
///
/// # Errors
/// A database error.
pub async fn reaches(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    row: &installations::Model,
) -> Result<bool, Error> {
    let pair = association(db, row.project_id, row.provider_id).await?;
    Ok(scope.contains(row.project_id, pair, Some(row.id)))
}

/// Installations with what their wire form names, in the order given.
///
/// # Errors
/// A database error.
pub async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<installations::Model>,
) -> Result<Vec<InstallationView>, Error> {
    let ids = |f: fn(&installations::Model) -> Option<i64>| -> Vec<i64> {
        rows.iter().filter_map(f).collect()
    };
    let projects: HashMap<i64, String> = projects::Entity::find()
        .filter(projects::Column::Id.is_in(rows.iter().map(|r| r.project_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.eosc_id.unwrap_or(p.accounting_string)))
        .collect();
    let providers: HashMap<i64, String> = providers::Entity::find()
        .filter(providers::Column::Id.is_in(rows.iter().map(|r| r.provider_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.external_id))
        .collect();
    let resources: HashMap<i64, String> = eosc_resources::Entity::find()
        .filter(eosc_resources::Column::Id.is_in(ids(|r| r.resource_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.external_id))
        .collect();
    let definitions = definition_views(db, &ids(|r| r.unit_of_access_id)).await?;
    Ok(rows
        .into_iter()
        .map(|installation| InstallationView {
            project: projects
                .get(&installation.project_id)
                .cloned()
                .unwrap_or_default(),
            organisation: providers
                .get(&installation.provider_id)
                .cloned()
                .unwrap_or_default(),
            resource: installation
                .resource_id
                .and_then(|id| resources.get(&id).cloned()),
            unit_of_access: installation
                .unit_of_access_id
                .and_then(|id| definitions.get(&id).cloned()),
            installation,
        })
        .collect())
}

/// The definitions `ids` with their type names.
///
/// # Errors
/// A database error.
pub async fn definition_views(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, DefinitionView>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = metric_definitions::Entity::find()
        .filter(metric_definitions::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let units: HashMap<i64, String> = unit_types::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let kinds: HashMap<i64, String> = metric_types::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    Ok(rows
        .into_iter()
        .map(|definition| {
            let view = DefinitionView {
                unit_type: units
                    .get(&definition.unit_type_id)
                    .cloned()
                    .unwrap_or_default(),
                metric_type: kinds
                    .get(&definition.metric_type_id)
                    .cloned()
                    .unwrap_or_default(),
                definition,
            };
            (view.definition.id, view)
        })
        .collect())
}

/// An installation as a client creates it (`POST /installations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstallation {
    /// The project's grant id.
    pub project: String,
    /// The provider's text id.
    pub organisation: String,
    /// Its short name.
    pub installation: String,
    /// The infrastructure it belongs to.
    pub infrastructure: Option<String>,
    /// An EOSC resource id.
    pub resource: Option<String>,
    /// A metric definition's 24-hex id.
    pub unit_of_access: Option<String>,
}

/// The resource and unit of access ids a request names.
async fn references(
    db: &impl ConnectionTrait,
    resource: Option<&str>,
    unit_of_access: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), Error> {
    let resource = match resource {
        None => None,
        Some(id) => Some(
            eosc_resources::Entity::find()
                .filter(eosc_resources::Column::ExternalId.eq(id))
                .one(db)
                .await?
                .ok_or_else(|| {
                    Error::NotFound(format!("There is no Resource with the following id: {id}"))
                })?
                .id,
        ),
    };
    let unit = match unit_of_access {
        None => None,
        Some(id) => {
            let row = match super::eosc::parse_external_id(id) {
                Some(row) => metric_definitions::Entity::find_by_id(row).one(db).await?,
                None => None,
            };
            Some(
                row.ok_or_else(|| Error::NotFound(super::eosc::definition_not_found(id)))?
                    .id,
            )
        }
    };
    Ok((resource, unit))
}

/// Creates an installation, if `scope` (the caller's, for creating
/// installations) reaches the project or the provider within it.
///
/// # Errors
/// [`Error::NotFound`] for an unknown project, provider, resource or unit of
/// access; [`Error::Forbidden`] outside the scope; [`Error::BadRequest`] when
/// the provider is not associated with the project; [`Error::Conflict`] for
/// a duplicate.
pub async fn create_installation(
    db: &impl ConnectionTrait,
    scope: &InstallationScope,
    new: NewInstallation,
    creator: &str,
) -> Result<installations::Model, Error> {
    let project = project(db, &new.project).await?;
    let provider = provider(db, &new.organisation).await?;
    let pair = association(db, project.id, provider.id).await?;
    if !scope.contains(project.id, pair, None) {
        return Err(Error::Forbidden(super::eosc::FORBIDDEN.to_owned()));
    }
    if pair.is_none() {
        return Err(Error::BadRequest(format!(
            "There is no relationship between Project {} and Provider {}",
            new.project, new.organisation
        )));
    }
    let (resource, unit) =
        references(db, new.resource.as_deref(), new.unit_of_access.as_deref()).await?;
    if let Some(existing) = installations::Entity::find()
        .filter(installations::Column::ProjectId.eq(project.id))
        .filter(installations::Column::ProviderId.eq(provider.id))
        .filter(installations::Column::Installation.eq(&new.installation))
        .one(db)
        .await?
    {
        return Err(Error::Conflict(format!(
            "There is an Installation with the following combination : {{{}, {}, {}}}. Its id is {}",
            new.project,
            new.organisation,
            new.installation,
            super::eosc::external_id(existing.id)
        )));
    }
    Ok(installations::ActiveModel {
        project_id: Set(project.id),
        provider_id: Set(provider.id),
        installation: Set(new.installation),
        infrastructure: Set(new.infrastructure),
        resource_id: Set(resource),
        unit_of_access_id: Set(unit),
        creator_id: Set(Some(creator.to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The installation with 24-hex id `id`.
///
/// # Errors
/// [`Error::NotFound`] with upstream's message.
pub async fn installation(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<installations::Model, Error> {
    let row = match super::eosc::parse_external_id(id) {
        Some(row) => installations::Entity::find_by_id(row).one(db).await?,
        None => None,
    };
    row.ok_or_else(|| Error::NotFound(super::eosc::installation_not_found(id)))
}

/// Changes to an installation; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallationChanges {
    /// A new short name.
    pub installation: Option<String>,
    /// A new infrastructure.
    pub infrastructure: Option<String>,
    /// A new EOSC resource id.
    pub resource: Option<String>,
    /// A new unit of access (a metric definition's 24-hex id).
    pub unit_of_access: Option<String>,
}

/// Whether metrics are registered under the installation.
async fn has_metrics(db: &impl ConnectionTrait, row: &installations::Model) -> Result<bool, Error> {
    Ok(metrics::Entity::find()
        .filter(metrics::Column::ProjectId.eq(row.project_id))
        .filter(metrics::Column::InstallationId.eq(row.id))
        .limit(1)
        .one(db)
        .await?
        .is_some())
}

/// Updates an installation without metrics.
///
/// # Errors
/// [`Error::Forbidden`] with upstream's message when it has metrics;
/// [`Error::NotFound`] for an unknown resource or unit of access;
/// [`Error::Conflict`] when the new name is taken under the pair.
pub async fn update_installation(
    db: &impl ConnectionTrait,
    row: installations::Model,
    changes: InstallationChanges,
) -> Result<installations::Model, Error> {
    if has_metrics(db, &row).await? {
        return Err(Error::Forbidden(
            "Updating an Installation is not allowed if there are Metrics assigned to it."
                .to_owned(),
        ));
    }
    let (resource, unit) = references(
        db,
        changes.resource.as_deref(),
        changes.unit_of_access.as_deref(),
    )
    .await?;
    let name = changes.installation.clone();
    let mut active: installations::ActiveModel = row.into();
    if let Some(installation) = changes.installation {
        active.installation = Set(installation);
    }
    if let Some(infrastructure) = changes.infrastructure {
        active.infrastructure = Set(Some(infrastructure));
    }
    if let Some(resource) = resource {
        active.resource_id = Set(Some(resource));
    }
    if let Some(unit) = unit {
        active.unit_of_access_id = Set(Some(unit));
    }
    active.update(db).await.map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "There is an Installation named {} under the same project and provider.",
                name.unwrap_or_default()
            )
        })
    })
}

/// Deletes an installation without metrics.
///
/// # Errors
/// [`Error::Forbidden`] with upstream's message when it has metrics.
pub async fn delete_installation(
    db: &impl ConnectionTrait,
    row: installations::Model,
) -> Result<(), Error> {
    if has_metrics(db, &row).await? {
        return Err(Error::Forbidden(
            "Deleting an Installation is not allowed if there are Metrics assigned to it."
                .to_owned(),
        ));
    }
    installations::Entity::delete_by_id(row.id).exec(db).await?;
    Ok(())
}

/// A page of a project's installations (of one provider, if given) in id
/// order, and how many there are.
///
/// # Errors
/// A database error.
pub async fn installations_page(
    db: &impl ConnectionTrait,
    project_id: i64,
    provider_id: Option<i64>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<InstallationView>, u64), Error> {
    let mut select =
        installations::Entity::find().filter(installations::Column::ProjectId.eq(project_id));
    if let Some(provider) = provider_id {
        select = select.filter(installations::Column::ProviderId.eq(provider));
    }
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by_asc(installations::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((views(db, rows).await?, total))
}
