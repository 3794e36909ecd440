//! Projects as the caller may see them, and the tenancy rows administrators
//! create: projects, their sub-projects and their user groups.

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbErr,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    SqlErr,
};

use crate::auth::ProjectScope;
use crate::domain::catalogue::{AccountingString, DateSpan, Name, UsageType};
use crate::entity::{projects, sub_projects, user_groups};
use crate::error::Error;

/// A page of the projects in `scope`, by id, after the id `after`.
///
/// # Errors
/// A database error.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<projects::Model>, Error> {
    let mut select = scope.apply(projects::Entity::find(), projects::Column::Id);
    if let Some(after) = after {
        select = select.filter(projects::Column::Id.gt(after));
    }
    Ok(select
        .order_by_asc(projects::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// How many projects `scope` holds.
///
/// # Errors
/// A database error.
pub async fn count(db: &impl ConnectionTrait, scope: &ProjectScope) -> Result<u64, Error> {
    Ok(scope
        .apply(projects::Entity::find(), projects::Column::Id)
        .count(db)
        .await?)
}

/// The project with id `id`, if it is in `scope`.
///
/// # Errors
/// A database error.
pub async fn by_id(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    id: i64,
) -> Result<Option<projects::Model>, Error> {
    Ok(scope
        .apply(projects::Entity::find_by_id(id), projects::Column::Id)
        .one(db)
        .await?)
}

/// The project with accounting string `accounting`, if it is in `scope`.
///
/// # Errors
/// A database error.
pub async fn by_accounting_string(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
    accounting: &str,
) -> Result<Option<projects::Model>, Error> {
    Ok(scope
        .apply(
            projects::Entity::find_by_accounting_string(accounting),
            projects::Column::Id,
        )
        .one(db)
        .await?)
}

/// The accounting strings of the projects `ids` (for labelling rows the caller
/// was already allowed to read).
///
/// # Errors
/// A database error.
pub async fn accounting_strings(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, Error> {
    Ok(projects::Entity::find()
        .filter(projects::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.accounting_string))
        .collect())
}

/// Maps a unique-key violation on insert or update to [`Error::Conflict`]
/// with `message`; any other database error as usual.
pub(crate) fn conflict_on_unique(error: DbErr, message: impl FnOnce() -> String) -> Error {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(message()),
        _ => error.into(),
    }
}

/// A project to create, validated.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Its accounting string (unique).
    pub accounting_string: AccountingString,
    /// Its display name.
    pub name: Name,
    /// Free-text description.
    pub description: Option<String>,
    /// Its days.
    pub dates: DateSpan,
    /// The unit its HPC usage is labelled in.
    pub usage_type: UsageType,
}

/// Creates a project.
///
/// # Errors
/// [`Error::Conflict`] when the accounting string is taken.
pub async fn create(db: &impl ConnectionTrait, new: NewProject) -> Result<projects::Model, Error> {
    let accounting = new.accounting_string.as_str().to_owned();
    projects::ActiveModel {
        accounting_string: Set(accounting.clone()),
        name: Set(new.name.into_inner()),
        description: Set(new.description),
        start_date: Set(new.dates.start),
        end_date: Set(new.dates.end),
        usage_type: Set(new.usage_type.as_str().to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("a project with accounting string {accounting:?} exists")
        })
    })
}

/// Changes to a project's descriptive fields; `None` leaves a field as it is.
/// The accounting string never changes: collectors and schedulers key on it.
#[derive(Debug, Clone, Default)]
pub struct ProjectChanges {
    /// A new display name.
    pub name: Option<Name>,
    /// A new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New first day (`Some(None)` clears it).
    pub start_date: Option<Option<NaiveDate>>,
    /// New last day (`Some(None)` clears it).
    pub end_date: Option<Option<NaiveDate>>,
    /// A new usage type.
    pub usage_type: Option<UsageType>,
}

/// Applies `changes` to project `id`.
///
/// # Errors
/// [`Error::NotFound`] when there is no such project, [`Error::BadRequest`]
/// when the resulting dates are reversed.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    changes: ProjectChanges,
) -> Result<projects::Model, Error> {
    let found = projects::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no project {id}")))?;
    let start = changes.start_date.unwrap_or(found.start_date);
    let end = changes.end_date.unwrap_or(found.end_date);
    let dates = DateSpan::new(start, end).map_err(|e| Error::BadRequest(e.to_string()))?;
    let mut row: projects::ActiveModel = found.into();
    if let Some(name) = changes.name {
        row.name = Set(name.into_inner());
    }
    if let Some(description) = changes.description {
        row.description = Set(description);
    }
    row.start_date = Set(dates.start);
    row.end_date = Set(dates.end);
    if let Some(usage_type) = changes.usage_type {
        row.usage_type = Set(usage_type.as_str().to_owned());
    }
    row.updated_at = Set(chrono::Utc::now());
    Ok(row.update(db).await?)
}

/// The project `id`, or [`Error::NotFound`].
///
/// # Errors
/// [`Error::NotFound`] when there is none, or a database error.
pub async fn require(db: &impl ConnectionTrait, id: i64) -> Result<projects::Model, Error> {
    projects::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no project {id}")))
}

/// Creates sub-project `identifier` of project `project_id`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown project, [`Error::Conflict`] when the
/// project has a sub-project with that identifier.
pub async fn create_sub_project(
    db: &impl ConnectionTrait,
    project_id: i64,
    identifier: Name,
    description: Option<String>,
    dates: DateSpan,
) -> Result<sub_projects::Model, Error> {
    let project = require(db, project_id).await?;
    let identifier = identifier.into_inner();
    sub_projects::ActiveModel {
        project_id: Set(project.id),
        identifier: Set(identifier.clone()),
        description: Set(description),
        start_date: Set(dates.start),
        end_date: Set(dates.end),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "project {:?} has a sub-project {identifier:?}",
                project.accounting_string
            )
        })
    })
}

/// Creates user group `name` of project `project_id`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown project, [`Error::Conflict`] when the
/// project has a group of that name.
pub async fn create_group(
    db: &impl ConnectionTrait,
    project_id: i64,
    name: Name,
    description: Option<String>,
) -> Result<user_groups::Model, Error> {
    let project = require(db, project_id).await?;
    let name = name.into_inner();
    user_groups::ActiveModel {
        project_id: Set(Some(project.id)),
        name: Set(name.clone()),
        description: Set(description),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "project {:?} has a group {name:?}",
                project.accounting_string
            )
        })
    })
}
