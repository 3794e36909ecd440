//! Grants: roles given to users on scopes. Administrators only.

use async_graphql::{Context, ID, InputObject, Object, OneofObject};

use super::payload::GrantPayload;
use super::{admin, bad, gql, id_of, write};
use crate::auth::{Role, Scope};
use crate::error::Error;
use crate::service::eosc;
use crate::service::users::{self, GrantTarget};

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

/// The grant target `scope` names, parsed (the service checks that it exists).
fn target(scope: GrantScope) -> Result<GrantTarget, Error> {
    let id = |id: &ID, kind: &str| {
        id_of(id, kind, "scope").map_err(|_| {
            Error::BadRequest(format!(
                "scope: {:?} is not the id of a {kind}",
                id.as_str()
            ))
        })
    };
    Ok(match scope {
        GrantScope::System(true) => GrantTarget::Row(Scope::System),
        GrantScope::System(false) => {
            return Err(Error::BadRequest(
                "scope: system must be true when given".to_owned(),
            ));
        }
        GrantScope::Project(project) => GrantTarget::Row(Scope::Project(id(&project, "Project")?)),
        GrantScope::Group(group) => GrantTarget::Row(Scope::UserGroup(id(&group, "Group")?)),
        GrantScope::Bucket(bucket) => GrantTarget::Row(Scope::Bucket(id(&bucket, "Bucket")?)),
        GrantScope::Site(name) => GrantTarget::Site(name),
        GrantScope::Installation(text) => {
            GrantTarget::Installation(eosc::parse_external_id(&text).ok_or_else(|| {
                Error::BadRequest(format!("scope: {text:?} is not an EOSC id (24 hex digits)"))
            })?)
        }
        GrantScope::ProjectProvider(id) => GrantTarget::Row(Scope::ProjectProvider(id)),
    })
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
        let visible = admin(ctx)?.visible_projects();
        let role = role(&input.role)?;
        let user = input.user;
        let target = target(input.scope).map_err(gql)?;
        write(ctx, async |txn| {
            let scope = users::grant_scope(txn, &visible, target).await?;
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
        let visible = admin(ctx)?.visible_projects();
        let role = role(&input.role)?;
        let user = input.user;
        let target = target(input.scope).map_err(gql)?;
        write(ctx, async |txn| {
            let scope = users::grant_scope(txn, &visible, target).await?;
            users::revoke(txn, &user, role.name(), scope).await
        })
        .await
    }
}
