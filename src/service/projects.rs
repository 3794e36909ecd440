//! Projects, as the caller may see them.

use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};

use crate::auth::ProjectScope;
use crate::entity::projects;
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
