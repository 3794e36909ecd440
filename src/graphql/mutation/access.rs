//! Grants: roles given to users on scopes. Administrators only.

use async_graphql::{Context, ID, InputObject, Object, OneofObject};
use sea_orm::{ConnectionTrait, EntityTrait as _};

use super::payload::GrantPayload;
use super::{admin, bad, id_of, write};
use crate::auth::{Role, Scope};
use crate::entity::{installations, sites};
use crate::error::Error;
use crate::service::{eosc, users};

/// Where a role applies: exactly one of these.
#[derive(OneofObject)]
pub(crate) enum GrantScope {
    /// The whole instance (`true`).
    System(bool),
    /// A project (global id).
    Project(ID),
    /// A user group (global id); HEAppE's roles are held on groups.
    Group(ID),
    /// A storage bucket (global id).
    Bucket(ID),
    /// An APEL site, by name.
    Site(String),
    /// An EOSC installation, by its EOSC id (24 hex digits).
    Installation(String),
    /// A provider within a project (the `project_providers` row id).
    ProjectProvider(i64),
}

/// A role, a user and a scope.
#[derive(InputObject)]
pub(crate) struct GrantInput {
    /// The user's username.
    user: String,
    /// The role's name, e.g. `heappe_reporter`, `collector`, `system_admin`
    /// (`docs/access.md` lists them).
    role: String,
    /// Where the role applies.
    scope: GrantScope,
}

/// The scope `scope` names, checked to exist.
async fn resolve(db: &impl ConnectionTrait, scope: GrantScope) -> Result<Scope, Error> {
    let id = |id: &ID, kind: &str| {
        id_of(id, kind, "scope").map_err(|_| {
            Error::BadRequest(format!(
                "scope: {:?} is not the id of a {kind}",
                id.as_str()
            ))
        })
    };
    let scope = match scope {
        GrantScope::System(true) => Scope::System,
        GrantScope::System(false) => {
            return Err(Error::BadRequest(
                "scope: system must be true when given".to_owned(),
            ));
        }
        GrantScope::Project(project) => Scope::Project(id(&project, "Project")?),
        GrantScope::Group(group) => Scope::UserGroup(id(&group, "Group")?),
        GrantScope::Bucket(bucket) => Scope::Bucket(id(&bucket, "Bucket")?),
        GrantScope::Site(name) => Scope::Site(
            sites::Entity::find_by_name(&name)
                .one(db)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no site {name:?}")))?
                .id,
        ),
        GrantScope::Installation(text) => {
            let id = eosc::parse_external_id(&text).ok_or_else(|| {
                Error::BadRequest(format!("scope: {text:?} is not an EOSC id (24 hex digits)"))
            })?;
            installations::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no installation {text}")))?;
            Scope::Installation(id)
        }
        GrantScope::ProjectProvider(id) => Scope::ProjectProvider(id),
    };
    users::check_scope(db, scope).await?;
    Ok(scope)
}

/// Validates the role name.
fn role(name: &str) -> async_graphql::Result<Role> {
    Role::from_name(name).ok_or_else(|| bad(format!("no role {name:?}")))
}

/// Grants and revocations.
#[derive(Default)]
pub(crate) struct AccessMutation;

/// Grants and revocations.
#[Object]
impl AccessMutation {
    /// Grants a role to a user on a scope; granting it again changes nothing.
    /// Administrators only. `NOT_FOUND` for an unknown user or scope;
    /// `BAD_USER_INPUT` for an unknown role. The user's tokens carry the grant
    /// from their next request on.
    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who, what and where.")] input: GrantInput,
    ) -> async_graphql::Result<GrantPayload> {
        admin(ctx)?;
        let role = role(&input.role)?;
        let user = input.user;
        let scope = input.scope;
        write(ctx, async |txn| {
            let scope = resolve(txn, scope).await?;
            users::grant(txn, &user, role.name(), scope).await?;
            let (kind, id) = scope.to_row();
            Ok(GrantPayload {
                user: user.clone(),
                role: role.name().to_owned(),
                scope_kind: kind.to_owned(),
                scope_id: id,
            })
        })
        .await
    }

    /// Revokes a role granted with the same scope; answers whether the user
    /// held it. Administrators only. `NOT_FOUND` for an unknown user or scope.
    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who, what and where.")] input: GrantInput,
    ) -> async_graphql::Result<bool> {
        admin(ctx)?;
        let role = role(&input.role)?;
        let user = input.user;
        let scope = input.scope;
        write(ctx, async |txn| {
            let scope = resolve(txn, scope).await?;
            users::revoke(txn, &user, role.name(), scope).await
        })
        .await
    }
}
