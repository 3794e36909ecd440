//! Loading a principal: a user and their grants, each grant resolved to the
//! project its scope lies in. A handful of indexed queries per request,
//! whatever the number of grants.

use std::collections::HashMap;

use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use super::policy::{Grant, Principal, Role, Scope};
use crate::entity::{buckets, grants, installations, project_providers, roles, user_groups, users};
use crate::error::Error;

/// The principal of `user` with all their grants.
///
/// # Errors
/// A database error.
pub async fn load(db: &impl ConnectionTrait, user: &users::Model) -> Result<Principal, Error> {
    let rows = grants::Entity::find()
        .filter(grants::Column::UserId.eq(user.id))
        .find_also_related(roles::Entity)
        .all(db)
        .await?;
    let mut scoped: Vec<(Role, Scope)> = Vec::with_capacity(rows.len());
    for (grant, role) in rows {
        let role = role.and_then(|r| Role::from_name(&r.name));
        let scope = Scope::from_row(&grant.scope_kind, grant.scope_id);
        match (role, scope) {
            (Some(role), Some(scope)) => scoped.push((role, scope)),
            // A role this version does not know grants nothing.
            _ => tracing::warn!(
                grant_id = grant.id,
                "grant with an unknown role or scope ignored"
            ),
        }
    }
    let projects = resolve_projects(db, &scoped).await?;
    let grants = scoped
        .into_iter()
        .map(|(role, scope)| Grant {
            role,
            scope,
            project_id: projects.get(&scope).copied(),
        })
        .collect();
    Ok(Principal {
        user_id: Some(user.id),
        name: user.username.clone(),
        grants,
    })
}

/// The project of each scoped grant: one query per kind of scope present.
async fn resolve_projects(
    db: &impl ConnectionTrait,
    scoped: &[(Role, Scope)],
) -> Result<HashMap<Scope, i64>, Error> {
    let ids = |want: fn(Scope) -> Option<i64>| -> Vec<i64> {
        scoped.iter().filter_map(|(_, s)| want(*s)).collect()
    };
    let mut projects = HashMap::new();
    for (_, scope) in scoped {
        if let Scope::Project(id) = scope {
            projects.insert(*scope, *id);
        }
    }
    let groups = ids(|s| {
        if let Scope::UserGroup(id) = s {
            Some(id)
        } else {
            None
        }
    });
    if !groups.is_empty() {
        for group in user_groups::Entity::find()
            .filter(user_groups::Column::Id.is_in(groups))
            .all(db)
            .await?
        {
            if let Some(project) = group.project_id {
                projects.insert(Scope::UserGroup(group.id), project);
            }
        }
    }
    let pairs = ids(|s| {
        if let Scope::ProjectProvider(id) = s {
            Some(id)
        } else {
            None
        }
    });
    if !pairs.is_empty() {
        for pair in project_providers::Entity::find()
            .filter(project_providers::Column::Id.is_in(pairs))
            .all(db)
            .await?
        {
            projects.insert(Scope::ProjectProvider(pair.id), pair.project_id);
        }
    }
    let installs = ids(|s| {
        if let Scope::Installation(id) = s {
            Some(id)
        } else {
            None
        }
    });
    if !installs.is_empty() {
        for installation in installations::Entity::find()
            .filter(installations::Column::Id.is_in(installs))
            .all(db)
            .await?
        {
            projects.insert(
                Scope::Installation(installation.id),
                installation.project_id,
            );
        }
    }
    let bucket_ids = ids(|s| {
        if let Scope::Bucket(id) = s {
            Some(id)
        } else {
            None
        }
    });
    if !bucket_ids.is_empty() {
        for bucket in buckets::Entity::find()
            .filter(buckets::Column::Id.is_in(bucket_ids))
            .all(db)
            .await?
        {
            if let Some(project) = bucket.project_id {
                projects.insert(Scope::Bucket(bucket.id), project);
            }
        }
    }
    Ok(projects)
}
