//! Local users and their grants: what `tally user …` and the admin API do.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, SqlErr,
};

use super::eosc;
use super::read::by_id;
use crate::auth::{ProjectScope, Scope, password};
use crate::entity::{grants, installations, roles, sites, users};
use crate::error::Error;

/// The least length of a local password.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// One grant as shown to people: role name and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    /// The role's name (`roles.name`).
    pub role: String,
    /// What it applies to.
    pub scope: Scope,
}

fn check_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::BadRequest(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Creates a local user with `password`; with `admin`, grants them
/// `system_admin`.
///
/// # Errors
/// The name is taken or empty, or the password too short.
pub async fn add(
    db: &impl ConnectionTrait,
    username: &str,
    email: Option<&str>,
    password: &str,
    admin: bool,
) -> Result<users::Model, Error> {
    let username = username.trim();
    if username.is_empty() {
        return Err(Error::BadRequest("a username cannot be empty".to_owned()));
    }
    check_password(password)?;
    let user = users::ActiveModel {
        username: Set(username.to_owned()),
        email: Set(email.map(str::to_owned)),
        password_hash: Set(Some(password::hash(password)?)),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict(format!("user {username:?} exists"))
        }
        _ => e.into(),
    })?;
    if admin {
        grant(db, username, "system_admin", Scope::System).await?;
    }
    Ok(user)
}

/// The user named `username`.
///
/// # Errors
/// [`Error::NotFound`] when there is none.
pub async fn find(db: &impl ConnectionTrait, username: &str) -> Result<users::Model, Error> {
    users::Entity::find_by_username(username)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user {username:?}")))
}

/// Sets a new password.
///
/// # Errors
/// No such user, or the password is too short.
pub async fn set_password(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
) -> Result<(), Error> {
    check_password(password)?;
    let user = find(db, username).await?;
    let mut user: users::ActiveModel = user.into();
    user.password_hash = Set(Some(password::hash(password)?));
    user.updated_at = Set(chrono::Utc::now());
    user.update(db).await?;
    Ok(())
}

/// Every user with their grants, by username.
///
/// # Errors
/// A database error.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<(users::Model, Vec<GrantView>)>, Error> {
    let users = users::Entity::find()
        .order_by_asc(users::Column::Username)
        .all(db)
        .await?;
    let rows = grants::Entity::find()
        .find_also_related(roles::Entity)
        .all(db)
        .await?;
    Ok(users
        .into_iter()
        .map(|user| {
            let grants = rows
                .iter()
                .filter(|(g, _)| g.user_id == user.id)
                .filter_map(|(g, role)| {
                    Some(GrantView {
                        role: role.as_ref()?.name.clone(),
                        scope: Scope::from_row(&g.scope_kind, g.scope_id)?,
                    })
                })
                .collect();
            (user, grants)
        })
        .collect())
}

async fn role_id(db: &impl ConnectionTrait, role: &str) -> Result<i64, Error> {
    roles::Entity::find_by_name(role)
        .one(db)
        .await?
        .map(|r| r.id)
        .ok_or_else(|| Error::BadRequest(format!("no role {role:?}")))
}

/// Grants `role` on `scope` to `username`. Granting twice changes nothing.
///
/// # Errors
/// No such user or role.
pub async fn grant(
    db: &impl ConnectionTrait,
    username: &str,
    role: &str,
    scope: Scope,
) -> Result<(), Error> {
    let user = find(db, username).await?;
    let role_id = role_id(db, role).await?;
    let (kind, scope_id) = scope.to_row();
    let row = grants::ActiveModel {
        user_id: Set(user.id),
        role_id: Set(role_id),
        scope_kind: Set(kind.to_owned()),
        scope_id: Set(scope_id),
        ..Default::default()
    };
    grants::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                grants::Column::UserId,
                grants::Column::RoleId,
                grants::Column::ScopeKind,
                grants::Column::ScopeId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Revokes `role` on `scope` from `username`; returns whether it was held.
///
/// # Errors
/// No such user or role.
pub async fn revoke(
    db: &impl ConnectionTrait,
    username: &str,
    role: &str,
    scope: Scope,
) -> Result<bool, Error> {
    let user = find(db, username).await?;
    let role_id = role_id(db, role).await?;
    let (kind, scope_id) = scope.to_row();
    let deleted = grants::Entity::delete_many()
        .filter(grants::Column::UserId.eq(user.id))
        .filter(grants::Column::RoleId.eq(role_id))
        .filter(grants::Column::ScopeKind.eq(kind))
        .filter(grants::Column::ScopeId.eq(scope_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Where a grant applies, as an administrator names it: a row by id, a site
/// by its name, or an EOSC installation by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTarget {
    /// The scope as stored (its row is checked to exist).
    Row(Scope),
    /// An APEL site, by name.
    Site(String),
    /// An EOSC installation, by its row id.
    Installation(i64),
}

/// The scope `target` names, checked to exist, as a caller who sees
/// `visible` may name it: an installation of a project out of `visible` is
/// not found (the condition is in the statement). Sites are shared by every
/// project (the APEL catalogue), so no project scope narrows them.
///
/// # Errors
/// [`Error::NotFound`] naming what does not exist.
pub async fn grant_scope(
    db: &impl ConnectionTrait,
    visible: &ProjectScope,
    target: GrantTarget,
) -> Result<Scope, Error> {
    let scope = match target {
        GrantTarget::Row(scope) => scope,
        GrantTarget::Site(name) => Scope::Site(
            sites::Entity::find_by_name(&name)
                .one(db)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no site {name:?}")))?
                .id,
        ),
        GrantTarget::Installation(id) => {
            let found = by_id::load::<installations::Entity>(db, visible, [id]).await?;
            if found.is_empty() {
                return Err(Error::NotFound(format!(
                    "no installation {}",
                    eosc::external_id(id)
                )));
            }
            Scope::Installation(id)
        }
    };
    check_scope(db, scope).await?;
    Ok(scope)
}

/// Checks that the row `scope` names exists, so that a grant never points at
/// nothing.
///
/// # Errors
/// [`Error::NotFound`] naming the missing row.
pub async fn check_scope(db: &impl ConnectionTrait, scope: Scope) -> Result<(), Error> {
    use crate::entity::{buckets, project_providers, projects, user_groups};
    let found = match scope {
        Scope::System => true,
        Scope::Project(id) => projects::Entity::find_by_id(id).one(db).await?.is_some(),
        Scope::UserGroup(id) => user_groups::Entity::find_by_id(id).one(db).await?.is_some(),
        Scope::ProjectProvider(id) => project_providers::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_some(),
        Scope::Installation(id) => installations::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_some(),
        Scope::Site(id) => sites::Entity::find_by_id(id).one(db).await?.is_some(),
        Scope::Bucket(id) => buckets::Entity::find_by_id(id).one(db).await?.is_some(),
    };
    if found {
        Ok(())
    } else {
        let (kind, id) = scope.to_row();
        Err(Error::NotFound(format!("no {kind} {id} to grant on")))
    }
}
