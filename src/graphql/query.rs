//! The query root: one object per domain, merged.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, MergedObject, Object, OneofObject};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{EntityTrait as _, QuerySelect as _, QueryTrait as _};

use super::admin::AdminQuery;
use super::context::ContextExt as _;
use super::filter::{Direction, ScalarFilter, combine};
use super::hpc::{Cluster, Formula, by, scope};
use super::id::GlobalId;
use super::loader::{BaseFn, Conn, ListSpec, connection, everything, gql};
use super::node::{Node, resolve};
use super::object::{Project, Viewer};
use super::page::{Kind, PageArgs, SortKey};
use super::storage::Bucket;
use super::usage::UsageQuery;
use crate::entity::{buckets, clusters, formulas, projects as project_rows};
use crate::error::Error;
use crate::service::projects;

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

/// Which projects a list keeps; all given conditions must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct ProjectFilter {
    /// The accounting string.
    accounting_string: Option<ScalarFilter<String>>,
    /// The name.
    name: Option<ScalarFilter<String>>,
    /// All of these hold.
    and: Option<Vec<ProjectFilter>>,
    /// Any of these holds.
    or: Option<Vec<ProjectFilter>>,
    /// This does not hold.
    not: Option<Box<ProjectFilter>>,
}

impl ProjectFilter {
    fn condition(&self) -> async_graphql::Result<Condition> {
        let mut own = Condition::all();
        if let Some(f) = &self.accounting_string {
            own = own.add(f.condition("accounting_string")?);
        }
        if let Some(f) = &self.name {
            own = own.add(f.condition("name")?);
        }
        combine(
            own,
            self.and.as_ref(),
            self.or.as_ref(),
            self.not.as_deref(),
            Self::condition,
        )
    }
}

/// What projects can be sorted by.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProjectOrderField {
    /// The accounting string.
    AccountingString,
    /// The name.
    Name,
}

/// One sort key of a project list; ties are broken by id.
#[derive(InputObject, Clone, Copy, Debug)]
pub(crate) struct ProjectOrder {
    /// The field.
    field: ProjectOrderField,
    /// The direction (ascending unless given).
    #[graphql(default)]
    direction: Direction,
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
        let base: BaseFn = Arc::new(move |_: &[i64], _: &[i64]| {
            scope
                .apply(project_rows::Entity::find(), project_rows::Column::Id)
                .column_as(Expr::val(0_i64), "parent_key")
                .column_as(Expr::val(0_i64), "parent_ctx")
                .into_query()
        });
        let order = order_by.unwrap_or_default();
        if order.len() > 5 {
            return Err(gql(Error::BadRequest(
                "orderBy takes at most 5 fields".to_owned(),
            )));
        }
        let sort = order
            .iter()
            .map(|o| SortKey {
                column: match o.field {
                    ProjectOrderField::AccountingString => "accounting_string",
                    ProjectOrderField::Name => "name",
                },
                kind: Kind::Text,
                descending: o.direction == Direction::Desc,
            })
            .collect();
        let condition = match &filter {
            Some(filter) => filter.condition()?,
            None => Condition::all(),
        };
        let spec = ListSpec::new(
            "projects",
            &format!("{filter:?}/{order:?}"),
            "Project",
            base,
            condition,
            sort,
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
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
    /// Every cluster, by name. Their job lists and totals show only the
    /// projects the caller may see. Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn clusters(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Cluster>> {
        ctx.principal()?;
        let base = everything::<clusters::Entity>();
        let spec = ListSpec::new(
            "clusters",
            "",
            "Cluster",
            base,
            Condition::all(),
            by("name", Kind::Text),
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (0, 0), |row| Cluster { row, project: None }).await
    }

    /// Every formula version, newest first. Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn formulas(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Formula>> {
        ctx.principal()?;
        let base = everything::<formulas::Entity>();
        let spec = ListSpec::new(
            "formulas",
            "",
            "Formula",
            base,
            Condition::all(),
            vec![SortKey {
                column: "validity_from",
                kind: Kind::Time,
                descending: true,
            }],
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (0, 0), Formula).await
    }
}

/// Storage.
#[derive(Default)]
pub(crate) struct StorageQuery;

/// Storage.
#[Object]
impl StorageQuery {
    /// The buckets of the projects the caller may see, by name (buckets of no
    /// project: administrators only). Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn buckets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Bucket>> {
        let scope = scope(ctx)?;
        let base: BaseFn = Arc::new(move |_: &[i64], _: &[i64]| {
            scope
                .apply(buckets::Entity::find(), buckets::Column::ProjectId)
                .column_as(Expr::val(0_i64), "parent_key")
                .column_as(Expr::val(0_i64), "parent_ctx")
                .into_query()
        });
        let spec = ListSpec::new(
            "buckets",
            "",
            "Bucket",
            base,
            Condition::all(),
            by("name", Kind::Text),
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (0, 0), Bucket).await
    }
}
