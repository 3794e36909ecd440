//! The query root: one object per domain, merged.

use async_graphql::{Context, ID, MergedObject, Object, OneofObject};

use super::admin::AdminQuery;
use super::context::ContextExt as _;
use super::filter::{DateFilter, ScalarFilter};
use super::hpc::{
    Cluster, ClusterFilter, ClusterOrder, Formula, FormulaFilter, FormulaOrder, by, scope,
};
use super::id::GlobalId;
use super::list::{ListArgs, list_inputs};
use super::loader::{Conn, connection, gql};
use super::node::{Node, resolve};
use super::object::{Project, Viewer};
use super::page::{Kind, SortKey};
use super::storage::{Bucket, BucketFilter, BucketOrder};
use super::usage::UsageQuery;
use crate::entity::{clusters, formulas};
use crate::error::Error;
use crate::service::projects;
use crate::service::read::lists;

/// Every query Tally answers.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    MetaQuery,
    ViewerQuery,
    ProjectQuery,
    HpcQuery,
    StorageQuery,
    UsageQuery,
    AdminQuery,
);

/// Facts about the API itself.
#[derive(Default)]
pub(crate) struct MetaQuery;

/// Facts about the API itself.
#[Object]
impl MetaQuery {
    /// The version of the Tally server answering (its crate version).
    async fn api_version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Any object by its global id; null when it does not exist or is not
    /// visible to the caller. Requires authentication.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global id.")] id: ID,
    ) -> async_graphql::Result<Option<Node>> {
        resolve(ctx, &id).await
    }
}

/// The caller.
#[derive(Default)]
pub(crate) struct ViewerQuery;

/// The caller.
#[Object]
impl ViewerQuery {
    /// Who is asking, and what they were granted. Requires authentication.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        Ok(Viewer(ctx.principal()?.clone()))
    }
}

/// How to name one project.
#[derive(OneofObject)]
pub(crate) enum ProjectKey {
    /// Its global id.
    Id(ID),
    /// Its accounting string.
    AccountingString(String),
}

list_inputs! {
    /// Which projects a list keeps; all given conditions must hold.
    filter ProjectFilter {
        /// The accounting string.
        accounting_string: ScalarFilter<String> => "accounting_string",
        /// The name.
        name: ScalarFilter<String> => "name",
        /// The first day it runs.
        start_date: DateFilter => "start_date",
        /// The last day it runs.
        end_date: DateFilter => "end_date",
    }
    /// What projects can be sorted by.
    order ProjectOrderField {
        /// The accounting string.
        AccountingString => SortKey::asc("accounting_string", Kind::Text),
        /// The name.
        Name => SortKey::asc("name", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a project list; ties are broken by id.
    key ProjectOrder
}

/// Projects.
#[derive(Default)]
pub(crate) struct ProjectQuery;

/// Projects.
#[Object]
impl ProjectQuery {
    /// The projects the caller may see (default order: by id). Requires
    /// authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the projects meet (all must hold).")] filter: Option<
            ProjectFilter,
        >,
        #[graphql(desc = "Sort keys (default: by id).")] order_by: Option<Vec<ProjectOrder>>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Project>> {
        let scope = scope(ctx)?;
        let base = lists::projects(scope);
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec("projects", "Project", base, Vec::new())?;
        connection(ctx, spec, (0, 0), Project).await
    }

    /// One project the caller may see, by id or accounting string; null when it
    /// does not exist or is not visible. Requires authentication.
    async fn project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its id or its accounting string.")] by: ProjectKey,
    ) -> async_graphql::Result<Option<Project>> {
        let scope = ctx.principal()?.visible_projects();
        let db = &ctx.request()?.db;
        let found = match by {
            ProjectKey::Id(id) => match GlobalId::id_of(&id, "Project") {
                Some(id) => projects::by_id(db, &scope, id).await,
                None => return Err(gql(Error::BadRequest("not a project id".to_owned()))),
            },
            ProjectKey::AccountingString(accounting) => {
                projects::by_accounting_string(db, &scope, &accounting).await
            }
        };
        Ok(found.map_err(gql)?.map(Project))
    }
}

/// The HPC catalogue.
#[derive(Default)]
pub(crate) struct HpcQuery;

/// The HPC catalogue.
#[Object]
impl HpcQuery {
    /// Every cluster; by name unless `orderBy` says otherwise. Their job
    /// lists and totals show only the projects the caller may see. Requires
    /// authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn clusters(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            ClusterFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<ClusterOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Cluster>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        ctx.principal()?;
        let base = lists::everything::<clusters::Entity>();
        let spec = args.spec("clusters", "Cluster", base, by("name", Kind::Text))?;
        connection(ctx, spec, (0, 0), |row| Cluster { row, project: None }).await
    }

    /// Every formula version; newest first unless `orderBy` says otherwise.
    /// Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn formulas(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            FormulaFilter,
        >,
        #[graphql(desc = "Sort keys (default: newest first); ties by id.")] order_by: Option<
            Vec<FormulaOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Formula>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        ctx.principal()?;
        let base = lists::everything::<formulas::Entity>();
        let newest = vec![SortKey::asc("validity_from", Kind::Time).desc()];
        let spec = args.spec("formulas", "Formula", base, newest)?;
        connection(ctx, spec, (0, 0), Formula).await
    }
}

/// Storage.
#[derive(Default)]
pub(crate) struct StorageQuery;

/// Storage.
#[Object]
impl StorageQuery {
    /// The buckets of the projects the caller may see (buckets of no project:
    /// administrators only); by name unless `orderBy` says otherwise.
    /// Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn buckets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items meet (all must hold).")] filter: Option<
            BucketFilter,
        >,
        #[graphql(desc = "Sort keys (default: by name); ties by id.")] order_by: Option<
            Vec<BucketOrder>,
        >,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Bucket>> {
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let scope = scope(ctx)?;
        let base = lists::buckets(scope);
        let spec = args.spec("buckets", "Bucket", base, by("name", Kind::Text))?;
        connection(ctx, spec, (0, 0), Bucket).await
    }
}
