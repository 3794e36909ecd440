//! The EOSC catalogue: metric definitions, unit types, metric types and
//! providers (eosc.md §1.1), with upstream's validation order and messages.
//!
//! Every function takes the caller's [`Access`] for the operation (decided by
//! [`Principal::eosc_collection`](crate::auth::Principal::eosc_collection))
//! and the caller's name, which is the `creator_id` of what they create and
//! what [`Access::Entity`] compares against. [`Access::Never`] is refused by
//! the adapter before it reads the body; here it is refused again, so no
//! caller can bypass it. On reads, [`Access::Entity`] restricts the listing
//! to the caller's entities inside the query.
//!
//! Name lookups ignore case (upstream's collation `en`, strength SECONDARY),
//! as the unique indexes on `lower(name)` do.

use std::collections::HashMap;

use sea_orm::sea_query::{ExprTrait as _, Func};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DbErr,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    SqlErr,
};

use super::eosc::{FORBIDDEN, definition_not_found, external_id};
use super::projects::conflict_on_unique;
use crate::auth::Access;
use crate::entity::{
    installations, metric_definitions, metric_types, project_providers, providers, unit_types,
};
use crate::error::Error;

/// One page of a listing: rows to skip and rows to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u64,
}

/// Refuses [`Access::Never`], and [`Access::Entity`] on an entity someone
/// else created.
fn permit(access: Access, creator: Option<&str>, caller: &str) -> Result<(), Error> {
    match access {
        Access::Always => Ok(()),
        Access::Entity if creator == Some(caller) => Ok(()),
        Access::Entity | Access::Never => Err(Error::Forbidden(FORBIDDEN.to_owned())),
    }
}

/// `Err` unless the caller may act at all.
fn permit_any(access: Access) -> Result<(), Error> {
    if access == Access::Never {
        Err(Error::Forbidden(FORBIDDEN.to_owned()))
    } else {
        Ok(())
    }
}

/// `Some(text)` when `text` is present and not empty (upstream's
/// `@NotEmpty`, and PATCH's "empty or null values are ignored").
fn given(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

/// A required text field: upstream's "`field` may not be empty."
fn required<'a>(text: Option<&'a str>, field: &str) -> Result<&'a str, Error> {
    given(text).ok_or_else(|| Error::BadRequest(format!("{field} may not be empty.")))
}

/// `lower(column) = lower(value)`.
fn same_name(column: impl sea_orm::ColumnTrait, value: &str) -> sea_orm::sea_query::SimpleExpr {
    Func::lower(column.into_expr()).eq(Func::lower(value))
}

// ---------------------------------------------------------------------------
// Unit types and metric types
// ---------------------------------------------------------------------------

/// Which of the two type collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// `unit_types` (upstream `UnitType`, wire field `unit_type`).
    Unit,
    /// `metric_types` (upstream `MetricType`, wire field `metric_type`).
    Metric,
}

impl TypeKind {
    /// Upstream's name of the collection in messages.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Unit => "Unit Type",
            Self::Metric => "Metric Type",
        }
    }

    /// The wire field of the type's name.
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            Self::Unit => "unit_type",
            Self::Metric => "metric_type",
        }
    }

    /// 404 for an id that names nothing.
    #[must_use]
    pub fn not_found(self, id: &str) -> Error {
        Error::NotFound(format!(
            "There is no {} with the following id: {id}",
            self.label()
        ))
    }

    fn duplicate(self, id: i64) -> Error {
        Error::Conflict(format!(
            "This {} already exists in the Accounting Service database. Its id is {}",
            self.label(),
            external_id(id)
        ))
    }
}

/// Runs `$body` with `$m` bound to the kind's entity module.
macro_rules! with_types {
    ($kind:expr, $m:ident => $body:expr) => {
        match $kind {
            TypeKind::Unit => {
                use crate::entity::unit_types as $m;
                $body
            }
            TypeKind::Metric => {
                use crate::entity::metric_types as $m;
                $body
            }
        }
    };
}

/// A unit type or a metric type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRow {
    /// Row id.
    pub id: i64,
    /// The unit or metric type itself, e.g. `TB`.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Who registered it (`""` for the built-ins).
    pub creator_id: Option<String>,
    /// Registered by the system.
    pub built_in: bool,
}

macro_rules! type_row {
    ($model:expr) => {{
        let m = $model;
        TypeRow {
            id: m.id,
            name: m.name,
            description: m.description,
            creator_id: m.creator_id,
            built_in: m.built_in,
        }
    }};
}

/// A unit or metric type as posted or patched (raw, validated here).
#[derive(Debug, Clone, Default)]
pub struct TypeInput {
    /// The name (`unit_type` / `metric_type`).
    pub name: Option<String>,
    /// The description.
    pub description: Option<String>,
}

/// The type `id`, if any.
///
/// # Errors
/// A database error.
pub async fn find_type(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    id: i64,
) -> Result<Option<TypeRow>, Error> {
    Ok(with_types!(kind, m => m::Entity::find_by_id(id).one(db).await?.map(|x| type_row!(x))))
}

/// The type named `name` (ignoring case), if any.
///
/// # Errors
/// A database error.
pub async fn find_type_by_name(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    name: &str,
) -> Result<Option<TypeRow>, Error> {
    Ok(with_types!(kind, m => m::Entity::find_by_name(name).one(db).await?.map(|x| type_row!(x))))
}

/// A page of types ordered by id, and how many there are; with
/// [`Access::Entity`], only the caller's.
///
/// # Errors
/// [`Error::Forbidden`] for [`Access::Never`], or a database error.
pub async fn list_types(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    access: Access,
    caller: &str,
    window: Window,
) -> Result<(Vec<TypeRow>, u64), Error> {
    permit_any(access)?;
    with_types!(kind, m => {
        let mut select = m::Entity::find();
        if access == Access::Entity {
            select = select.filter(m::Column::CreatorId.eq(caller));
        }
        let total = select.clone().count(db).await?;
        let rows = select
            .order_by_asc(m::Column::Id)
            .offset(window.offset)
            .limit(window.limit)
            .all(db)
            .await?;
        Ok((rows.into_iter().map(|x| type_row!(x)).collect(), total))
    })
}

/// Registers a type.
///
/// # Errors
/// 400 for a missing field, 409 for a name taken (ignoring case), 403
/// without access, or a database error.
pub async fn create_type(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    access: Access,
    caller: &str,
    input: &TypeInput,
) -> Result<TypeRow, Error> {
    permit_any(access)?;
    let name = required(input.name.as_deref(), kind.field())?;
    let description = required(input.description.as_deref(), "description")?;
    if let Some(existing) = find_type_by_name(db, kind, name).await? {
        return Err(kind.duplicate(existing.id));
    }
    let inserted = with_types!(kind, m => {
        m::ActiveModel {
            name: Set(name.to_owned()),
            description: Set(description.to_owned()),
            creator_id: Set(Some(caller.to_owned())),
            built_in: Set(false),
            ..Default::default()
        }
        .insert(db)
        .await
        .map(|x| type_row!(x))
    });
    match inserted {
        Ok(row) => Ok(row),
        Err(error) => Err(duplicate_type_or(db, kind, name, error).await),
    }
}

/// A unique violation raced by another writer: name the winner.
async fn duplicate_type_or(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    name: &str,
    error: DbErr,
) -> Error {
    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        match find_type_by_name(db, kind, name).await {
            Ok(Some(existing)) => return kind.duplicate(existing.id),
            Ok(None) => {}
            Err(other) => return other,
        }
    }
    error.into()
}

/// Whether a metric definition uses the type.
async fn type_in_use(db: &impl ConnectionTrait, kind: TypeKind, id: i64) -> Result<bool, Error> {
    let column = match kind {
        TypeKind::Unit => metric_definitions::Column::UnitTypeId,
        TypeKind::Metric => metric_definitions::Column::MetricTypeId,
    };
    Ok(metric_definitions::Entity::find()
        .filter(column.eq(id))
        .one(db)
        .await?
        .is_some())
}

/// The checks upstream makes before changing a type: it exists, the caller
/// may, it is not built in, no definition uses it.
async fn changeable_type(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    access: Access,
    caller: &str,
    id: i64,
    wire_id: &str,
    verb: &str,
) -> Result<TypeRow, Error> {
    let row = find_type(db, kind, id)
        .await?
        .ok_or_else(|| kind.not_found(wire_id))?;
    permit(access, row.creator_id.as_deref(), caller)?;
    if row.built_in {
        return Err(Error::Forbidden(format!(
            "You cannot {verb} a {} registered by Accounting Service.",
            kind.label()
        )));
    }
    if type_in_use(db, kind, id).await? {
        return Err(Error::Forbidden(format!(
            "This {} is used in an existing Metric Definition, so you cannot {verb} it.",
            kind.label()
        )));
    }
    Ok(row)
}

/// Updates a type (`id` as the caller wrote it is `wire_id`); empty and
/// missing fields are left alone.
///
/// # Errors
/// 404, 403 (access, built in, in use), 409 (name taken), or a database
/// error.
pub async fn update_type(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    access: Access,
    caller: &str,
    (id, wire_id): (i64, &str),
    input: &TypeInput,
) -> Result<TypeRow, Error> {
    let row = changeable_type(db, kind, access, caller, id, wire_id, "update").await?;
    let name = given(input.name.as_deref());
    if let Some(name) = name
        && let Some(existing) = find_type_by_name(db, kind, name).await?
        && existing.id != id
    {
        return Err(kind.duplicate(existing.id));
    }
    let description = given(input.description.as_deref());
    let updated = with_types!(kind, m => {
        let mut model = m::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id),
            ..Default::default()
        };
        if let Some(name) = name {
            model.name = Set(name.to_owned());
        }
        if let Some(description) = description {
            model.description = Set(description.to_owned());
        }
        if name.is_none() && description.is_none() {
            return Ok(row);
        }
        model.update(db).await.map(|x| type_row!(x))
    });
    match updated {
        Ok(row) => Ok(row),
        Err(error) => Err(duplicate_type_or(db, kind, name.unwrap_or_default(), error).await),
    }
}

/// Deletes a type.
///
/// # Errors
/// 404, 403 (access, built in, in use), or a database error.
pub async fn delete_type(
    db: &impl ConnectionTrait,
    kind: TypeKind,
    access: Access,
    caller: &str,
    (id, wire_id): (i64, &str),
) -> Result<(), Error> {
    changeable_type(db, kind, access, caller, id, wire_id, "delete").await?;
    with_types!(kind, m => m::Entity::delete_by_id(id).exec(db).await?);
    Ok(())
}

// ---------------------------------------------------------------------------
// Metric definitions
// ---------------------------------------------------------------------------

/// A metric definition with its unit and metric type's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Row id.
    pub id: i64,
    /// `metric_name`.
    pub name: String,
    /// `metric_description`.
    pub description: Option<String>,
    /// The unit type's name.
    pub unit_type: String,
    /// The metric type's name.
    pub metric_type: String,
    /// Who registered it.
    pub creator_id: Option<String>,
}

/// A metric definition as posted or patched (raw, validated here).
#[derive(Debug, Clone, Default)]
pub struct DefinitionInput {
    /// `metric_name`.
    pub name: Option<String>,
    /// `metric_description`.
    pub description: Option<String>,
    /// `unit_type`, a unit type's name.
    pub unit_type: Option<String>,
    /// `metric_type`, a metric type's name.
    pub metric_type: Option<String>,
}

/// The definitions of `rows` with their types' names (two more statements).
async fn with_type_names(
    db: &impl ConnectionTrait,
    rows: Vec<metric_definitions::Model>,
) -> Result<Vec<Definition>, Error> {
    let unit_ids: Vec<i64> = rows.iter().map(|r| r.unit_type_id).collect();
    let metric_ids: Vec<i64> = rows.iter().map(|r| r.metric_type_id).collect();
    let units: HashMap<i64, String> = unit_types::Entity::find()
        .filter(unit_types::Column::Id.is_in(unit_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let metrics: HashMap<i64, String> = metric_types::Entity::find()
        .filter(metric_types::Column::Id.is_in(metric_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| Definition {
            id: r.id,
            unit_type: units.get(&r.unit_type_id).cloned().unwrap_or_default(),
            metric_type: metrics.get(&r.metric_type_id).cloned().unwrap_or_default(),
            name: r.name,
            description: r.description,
            creator_id: r.creator_id,
        })
        .collect())
}

/// The definition `id`, if any.
///
/// # Errors
/// A database error.
pub async fn find_definition(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<Definition>, Error> {
    let Some(row) = metric_definitions::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    Ok(with_type_names(db, vec![row]).await?.pop())
}

/// A page of definitions ordered by id, and how many match `filter`; with
/// [`Access::Entity`], only the caller's.
///
/// # Errors
/// [`Error::Forbidden`] for [`Access::Never`], or a database error.
pub async fn list_definitions(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    filter: Condition,
    window: Window,
) -> Result<(Vec<Definition>, u64), Error> {
    permit_any(access)?;
    let mut select = metric_definitions::Entity::find().filter(filter);
    if access == Access::Entity {
        select = select.filter(metric_definitions::Column::CreatorId.eq(caller));
    }
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by_asc(metric_definitions::Column::Id)
        .offset(window.offset)
        .limit(window.limit)
        .all(db)
        .await?;
    Ok((with_type_names(db, rows).await?, total))
}

/// The unit type and metric type named, with upstream's 404s.
async fn resolve_types(
    db: &impl ConnectionTrait,
    unit_type: &str,
    metric_type: &str,
) -> Result<(TypeRow, TypeRow), Error> {
    let unit = find_type_by_name(db, TypeKind::Unit, unit_type)
        .await?
        .ok_or_else(|| Error::NotFound(format!("There is no unit type : {unit_type}")))?;
    let metric = find_type_by_name(db, TypeKind::Metric, metric_type)
        .await?
        .ok_or_else(|| Error::NotFound(format!("There is no metric type : {metric_type}")))?;
    Ok((unit, metric))
}

/// 409 when another definition (not `except`) has this unit type and name.
async fn definition_unique(
    db: &impl ConnectionTrait,
    unit: &TypeRow,
    name: &str,
    except: Option<i64>,
) -> Result<(), Error> {
    let mut select = metric_definitions::Entity::find()
        .filter(metric_definitions::Column::UnitTypeId.eq(unit.id))
        .filter(same_name(metric_definitions::Column::Name, name));
    if let Some(id) = except {
        select = select.filter(metric_definitions::Column::Id.ne(id));
    }
    match select.one(db).await? {
        Some(existing) => Err(duplicate_definition(&unit.name, name, existing.id)),
        None => Ok(()),
    }
}

fn duplicate_definition(unit_type: &str, name: &str, id: i64) -> Error {
    Error::Conflict(format!(
        "There is a Metric Definition with unit type {unit_type} and name {name}. Its id is {}",
        external_id(id)
    ))
}

/// Registers a definition, created by `caller`.
///
/// # Errors
/// 400 (missing field), 404 (unknown unit or metric type), 409 (same unit
/// type and name), 403 without access, or a database error.
pub async fn create_definition(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    input: &DefinitionInput,
) -> Result<Definition, Error> {
    permit_any(access)?;
    let name = required(input.name.as_deref(), "metric_name")?;
    let unit_type = required(input.unit_type.as_deref(), "unit_type")?;
    let metric_type = required(input.metric_type.as_deref(), "metric_type")?;
    let (unit, metric) = resolve_types(db, unit_type, metric_type).await?;
    definition_unique(db, &unit, name, None).await?;
    let row = metric_definitions::ActiveModel {
        name: Set(name.to_owned()),
        description: Set(input.description.clone()),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(metric.id),
        creator_id: Set(Some(caller.to_owned())),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("There is a Metric Definition with unit type {unit_type} and name {name}.")
        })
    })?;
    Ok(Definition {
        id: row.id,
        name: row.name,
        description: row.description,
        unit_type: unit.name,
        metric_type: metric.name,
        creator_id: row.creator_id,
    })
}

/// Whether metrics were reported against the definition.
async fn definition_has_metrics(db: &impl ConnectionTrait, id: i64) -> Result<bool, Error> {
    use crate::entity::metrics;
    Ok(metrics::Entity::find()
        .filter(metrics::Column::MetricDefinitionId.eq(id))
        .one(db)
        .await?
        .is_some())
}

async fn changeable_definition(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    (id, wire_id): (i64, &str),
    verb: &str,
) -> Result<Definition, Error> {
    let current = find_definition(db, id)
        .await?
        .ok_or_else(|| Error::NotFound(definition_not_found(wire_id)))?;
    permit(access, current.creator_id.as_deref(), caller)?;
    if definition_has_metrics(db, id).await? {
        return Err(Error::Conflict(format!(
            "The Metric Definition cannot be {verb}. There is a Metric assigned to it."
        )));
    }
    Ok(current)
}

/// Updates a definition; empty and missing fields are left alone.
///
/// # Errors
/// 404, 403, 409 (metrics reported against it, or unit type and name taken),
/// or a database error.
pub async fn update_definition(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    id: (i64, &str),
    input: &DefinitionInput,
) -> Result<Definition, Error> {
    let current = changeable_definition(db, access, caller, id, "updated").await?;
    let name = given(input.name.as_deref()).unwrap_or(&current.name);
    let unit_type = given(input.unit_type.as_deref()).unwrap_or(&current.unit_type);
    let metric_type = given(input.metric_type.as_deref()).unwrap_or(&current.metric_type);
    let (unit, metric) = resolve_types(db, unit_type, metric_type).await?;
    definition_unique(db, &unit, name, Some(id.0)).await?;
    let mut model = metric_definitions::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id.0),
        name: Set(name.to_owned()),
        unit_type_id: Set(unit.id),
        metric_type_id: Set(metric.id),
        ..Default::default()
    };
    if let Some(description) = given(input.description.as_deref()) {
        model.description = Set(Some(description.to_owned()));
    }
    let row = model.update(db).await.map_err(|e| {
        conflict_on_unique(e, || {
            format!("There is a Metric Definition with unit type {unit_type} and name {name}.")
        })
    })?;
    Ok(Definition {
        id: row.id,
        name: row.name,
        description: row.description,
        unit_type: unit.name,
        metric_type: metric.name,
        creator_id: row.creator_id,
    })
}

/// Deletes a definition.
///
/// # Errors
/// 404, 403, 409 (metrics reported against it, or an installation's unit of
/// access), or a database error.
pub async fn delete_definition(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    id: (i64, &str),
) -> Result<(), Error> {
    changeable_definition(db, access, caller, id, "deleted").await?;
    let unit_of_access = installations::Entity::find()
        .filter(installations::Column::UnitOfAccessId.eq(id.0))
        .one(db)
        .await?;
    if unit_of_access.is_some() {
        return Err(Error::Conflict(
            "The Metric Definition cannot be deleted. It is the unit of access of an Installation."
                .to_owned(),
        ));
    }
    metric_definitions::Entity::delete_by_id(id.0)
        .exec(db)
        .await
        .map_err(|e| match e.sql_err() {
            // Rows written meanwhile (a metric's daily total) still name it.
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::Conflict(
                "The Metric Definition cannot be deleted. There is a Metric assigned to it."
                    .to_owned(),
            ),
            _ => e.into(),
        })?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------

/// A provider as posted or patched (raw, validated here).
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    /// `id` (create only).
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `website`.
    pub website: Option<String>,
    /// `abbreviation`.
    pub abbreviation: Option<String>,
    /// `logo`.
    pub logo: Option<String>,
}

/// Upstream's 404 for a provider id that names nothing.
#[must_use]
pub fn provider_not_found(id: &str) -> Error {
    Error::NotFound(format!("There is no Provider with the following id: {id}"))
}

/// The provider whose EOSC id is `id`, if any.
///
/// # Errors
/// A database error.
pub async fn find_provider(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<providers::Model>, Error> {
    Ok(providers::Entity::find_by_external_id(id).one(db).await?)
}

/// Which providers a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderListing {
    /// All of them (`GET /providers`).
    All,
    /// Those the caller registered (`GET /providers/all`).
    Mine,
}

/// A page of providers ordered by their EOSC id, and how many match
/// `filter`; with [`Access::Entity`] or [`ProviderListing::Mine`], only the
/// caller's.
///
/// # Errors
/// [`Error::Forbidden`] for [`Access::Never`], or a database error.
pub async fn list_providers(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    (listing, filter): (ProviderListing, Condition),
    window: Window,
) -> Result<(Vec<providers::Model>, u64), Error> {
    permit_any(access)?;
    let mut select = providers::Entity::find().filter(filter);
    if access == Access::Entity || listing == ProviderListing::Mine {
        select = select.filter(providers::Column::CreatorId.eq(caller));
    }
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by_asc(providers::Column::ExternalId)
        .offset(window.offset)
        .limit(window.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

async fn provider_name_free(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<i64>,
) -> Result<(), Error> {
    let mut select = providers::Entity::find().filter(providers::Column::Name.eq(name));
    if let Some(id) = except {
        select = select.filter(providers::Column::Id.ne(id));
    }
    if select.one(db).await?.is_some() {
        return Err(Error::Conflict(format!(
            "There is a Provider with name: {name}"
        )));
    }
    Ok(())
}

/// Registers a provider, created by `caller`.
///
/// # Errors
/// 400 (missing `id` or `name`, a dot in the id), 409 (id or name taken),
/// 403 without access, or a database error.
pub async fn create_provider(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    input: &ProviderInput,
) -> Result<providers::Model, Error> {
    permit_any(access)?;
    let id = required(input.id.as_deref(), "id")?;
    let name = required(input.name.as_deref(), "name")?;
    if id.contains('.') {
        return Err(Error::BadRequest(
            "Provider ID should not contain a dot character.".to_owned(),
        ));
    }
    if find_provider(db, id).await?.is_some() {
        return Err(Error::Conflict(format!(
            "There is a Provider with id: {id}"
        )));
    }
    provider_name_free(db, name, None).await?;
    providers::ActiveModel {
        external_id: Set(id.to_owned()),
        name: Set(name.to_owned()),
        website: Set(input.website.clone()),
        abbreviation: Set(input.abbreviation.clone()),
        logo: Set(input.logo.clone()),
        creator_id: Set(Some(caller.to_owned())),
        from_portal: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("There is a Provider with id: {id}")))
}

async fn changeable_provider(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    id: &str,
    verb: &str,
) -> Result<providers::Model, Error> {
    let provider = find_provider(db, id)
        .await?
        .ok_or_else(|| provider_not_found(id))?;
    permit(access, provider.creator_id.as_deref(), caller)?;
    if provider.from_portal {
        return Err(Error::Forbidden(format!(
            "You cannot {verb} a Provider which derives from EOSC-Portal."
        )));
    }
    Ok(provider)
}

/// Updates a provider; empty and missing fields are left alone, the id
/// cannot change.
///
/// # Errors
/// 404, 403 (access, from the EOSC portal), 409 (name taken), or a database
/// error.
pub async fn update_provider(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    id: &str,
    input: &ProviderInput,
) -> Result<providers::Model, Error> {
    let provider = changeable_provider(db, access, caller, id, "update").await?;
    let mut model = providers::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(provider.id),
        ..Default::default()
    };
    let mut changed = false;
    if let Some(name) = given(input.name.as_deref()) {
        provider_name_free(db, name, Some(provider.id)).await?;
        model.name = Set(name.to_owned());
        changed = true;
    }
    for (value, field) in [
        (&input.website, &mut model.website),
        (&input.abbreviation, &mut model.abbreviation),
        (&input.logo, &mut model.logo),
    ] {
        if let Some(value) = given(value.as_deref()) {
            *field = Set(Some(value.to_owned()));
            changed = true;
        }
    }
    if !changed {
        return Ok(provider);
    }
    model.update(db).await.map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "There is a Provider with name: {}",
                input.name.as_deref().unwrap_or_default()
            )
        })
    })
}

/// Deletes a provider.
///
/// # Errors
/// 404, 403 (access, from the EOSC portal, associated with a project), or a
/// database error.
pub async fn delete_provider(
    db: &impl ConnectionTrait,
    access: Access,
    caller: &str,
    id: &str,
) -> Result<(), Error> {
    let provider = changeable_provider(db, access, caller, id, "delete").await?;
    let in_project = project_providers::Entity::find()
        .filter(project_providers::Column::ProviderId.eq(provider.id))
        .one(db)
        .await?;
    if in_project.is_some() {
        return Err(Error::Forbidden(
            "You cannot delete a Provider which belongs to a Project.".to_owned(),
        ));
    }
    providers::Entity::delete_by_id(provider.id)
        .exec(db)
        .await
        .map_err(|e| match e.sql_err() {
            // Associated meanwhile.
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::Forbidden(
                "You cannot delete a Provider which belongs to a Project.".to_owned(),
            ),
            _ => e.into(),
        })?;
    Ok(())
}
