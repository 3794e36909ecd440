//! The catalogue and administration roots: providers, metric definitions,
//! sites, node types and users with their grants.
//!
//! Every root needs an authenticated caller. The catalogue (providers,
//! definitions, sites, node types) is visible to every authenticated caller;
//! what hangs off it (installations, usage, jobs) stays scoped to the caller's
//! projects. Users and their grants are for system administrators only
//! (`FORBIDDEN` otherwise).

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::cloud::{Site, SiteFilter, SiteOrder};
use super::context::ContextExt as _;
use super::eosc::{
    MetricDefinition, MetricDefinitionFilter, MetricDefinitionOrder, Provider, ProviderFilter,
    ProviderOrder,
};
use super::filter::ScalarFilter;
use super::hpc::{NodeType, NodeTypeFilter, NodeTypeOrder, by};
use super::id::GlobalId;
use super::list::{ListArgs, list_inputs};
use super::loader::{ById, Conn, connection, gql};
use super::page::{Kind, SortKey};
use crate::entity::{grants, metric_definitions, node_types, providers, roles, sites, users};
use crate::error::Error;
use crate::service::read::lists;

/// Fails with `FORBIDDEN` unless the caller administers the whole instance
/// (`UNAUTHENTICATED` for anonymous callers).
pub(crate) fn require_admin(ctx: &Context<'_>) -> async_graphql::Result<()> {
    if ctx.principal()?.is_system_admin() {
        Ok(())
    } else {
        Err(gql(Error::Forbidden(
            "only system administrators may read users and grants".to_owned(),
        )))
    }
}

list_inputs! {
    /// Which users a list keeps; all given conditions must hold.
    filter UserFilter {
        /// The login name.
        username: ScalarFilter<String> => "username",
        /// The contact e-mail address.
        email: ScalarFilter<String> => "email",
        /// The issuer of the user's external identity.
        external_issuer: ScalarFilter<String> => "external_issuer",
        /// Whether the user is disabled.
        disabled: bool => "disabled",
    }
    /// What users can be sorted by.
    order UserOrderField {
        /// The login name.
        Username => SortKey::asc("username", Kind::Text),
        /// When the user was created.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a user list; ties are broken by id.
    key UserOrder
}

list_inputs! {
    /// Which grants a list keeps; all given conditions must hold.
    filter GrantFilter {
        /// What the role applies to (`system`, `project`, …).
        scope_kind: ScalarFilter<String> => "scope_kind",
        /// When it was made.
        granted_at: ScalarFilter<crate::graphql::filter::Instant> => "created_at",
    }
    /// What grants can be sorted by.
    order GrantOrderField {
        /// When it was made.
        GrantedAt => SortKey::asc("created_at", Kind::Time),
        /// What the role applies to.
        ScopeKind => SortKey::asc("scope_kind", Kind::Text),
    }
    /// One sort key of a grant list; ties are broken by id.
    key GrantOrder
}

/// The catalogue and administration roots.
#[derive(Default)]
pub(crate) struct AdminQuery;

/// The catalogue and administration roots.
#[Object]
impl AdminQuery {
    /// Every EOSC provider; by name unless `orderBy` says otherwise. Their
    /// installation lists show only the projects the caller may see. Requires
    /// authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn providers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            ProviderFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<ProviderOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Provider>> {
        ctx.principal()?;
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "providers",
            "Provider",
            lists::everything::<providers::Entity>(),
            by("name", Kind::Text),
        )?;
        connection(ctx, spec, (0, 0), Provider).await
    }

    /// Every EOSC metric definition; by name unless `orderBy` says otherwise.
    /// Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn metric_definitions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            MetricDefinitionFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<MetricDefinitionOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<MetricDefinition>> {
        ctx.principal()?;
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "metricDefinitions",
            "MetricDefinition",
            lists::everything::<metric_definitions::Entity>(),
            by("name", Kind::Text),
        )?;
        connection(ctx, spec, (0, 0), MetricDefinition).await
    }

    /// Every APEL site; by name unless `orderBy` says otherwise. Their totals
    /// show only the projects the caller may see. Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<SiteFilter>,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<SiteOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Site>> {
        ctx.principal()?;
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "sites",
            "Site",
            lists::everything::<sites::Entity>(),
            by("name", Kind::Text),
        )?;
        connection(ctx, spec, (0, 0), |row| Site { row, project: None }).await
    }

    /// Every node type of every cluster; by name unless `orderBy` says
    /// otherwise. Their job lists and totals show only the projects the
    /// caller may see. Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn node_types(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            NodeTypeFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<NodeTypeOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<NodeType>> {
        ctx.principal()?;
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "nodeTypes",
            "NodeType",
            lists::everything::<node_types::Entity>(),
            by("name", Kind::Text),
        )?;
        connection(ctx, spec, (0, 0), |row| NodeType { row, project: None }).await
    }

    /// Every Tally user with their grants; by username unless `orderBy` says
    /// otherwise. System administrators only (`FORBIDDEN` otherwise).
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<UserFilter>,
        #[graphql(desc = "Sort keys (default: by username); ties by id.")] order_by: Option<
            Vec<UserOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<User>> {
        require_admin(ctx)?;
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec(
            "users",
            "User",
            lists::everything::<users::Entity>(),
            by("username", Kind::Text),
        )?;
        connection(ctx, spec, (0, 0), User).await
    }
}

/// A Tally user: a password login or an external (OIDC) identity.
pub(crate) struct User(pub(crate) users::Model);

/// A Tally user: a password login or an external (OIDC) identity.
#[Object]
impl User {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("User", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// The login name.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// The contact e-mail address.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// Whether the user may log in with a password.
    async fn has_password(&self) -> bool {
        self.0.password_hash.is_some()
    }

    /// The issuer (`iss`) of the user's external identity, if any.
    async fn external_issuer(&self) -> Option<&str> {
        self.0.external_issuer.as_deref()
    }

    /// The subject (`sub`) of the user's external identity, if any.
    async fn external_subject(&self) -> Option<&str> {
        self.0.external_subject.as_deref()
    }

    /// Whether the user is disabled (cannot log in).
    async fn disabled(&self) -> bool {
        self.0.disabled
    }

    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The user's grants; oldest first unless `orderBy` says otherwise.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn grants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the grants meet (all must hold).")] filter: Option<
            GrantFilter,
        >,
        #[graphql(desc = "Sort keys (default: oldest first); ties by id.")] order_by: Option<
            Vec<GrantOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<UserGrant>> {
        // A user object is only ever handed to administrators; check anyway,
        // so that no future path leaks grants.
        require_admin(ctx)?;
        let base = lists::user_grants();
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec("User.grants", "Grant", base, by("created_at", Kind::Time))?;
        connection(ctx, spec, (self.0.id, 0), UserGrant).await
    }
}

/// One grant of a user: a role over a scope.
pub(crate) struct UserGrant(pub(crate) grants::Model);

/// One grant of a user: a role over a scope.
#[Object(name = "Grant")]
impl UserGrant {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Grant", self.0.id)
    }

    /// The role's name, e.g. `heappe_reporter`, `eosc_project_admin`, `system_admin`.
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let role = ctx
            .request()?
            .loaders
            .load_one(ById::<roles::Entity>::new(self.0.role_id))
            .await?;
        Ok(role.map(|r| r.name).unwrap_or_default())
    }

    /// What the role applies to: `system`, `project`, `user_group`,
    /// `project_provider`, `installation`, `site` or `bucket`.
    async fn scope_kind(&self) -> &str {
        &self.0.scope_kind
    }

    /// The id of the scope's row (0 for `system`).
    async fn scope_id(&self) -> i64 {
        self.0.scope_id
    }

    /// The user holding it.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        require_admin(ctx)?;
        let user = ctx
            .request()?
            .loaders
            .load_one(ById::<users::Entity>::new(self.0.user_id))
            .await?;
        Ok(user.map(User))
    }

    /// When it was made.
    async fn granted_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
