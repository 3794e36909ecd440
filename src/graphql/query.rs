//! The query root: one object per domain, merged.

use async_graphql::connection::{Connection, Edge, EmptyFields, query};
use async_graphql::{Context, ErrorExtensions as _, ID, MergedObject, Object, OneofObject};

use super::context::ContextExt as _;
use super::id::GlobalId;
use super::object::{Project, Viewer};
use crate::error::Error;
use crate::service::projects;

/// The most items one page of a list holds.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// Every query Tally answers.
#[derive(MergedObject, Default)]
pub struct QueryRoot(MetaQuery, ViewerQuery, ProjectQuery);

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

/// Projects.
#[derive(Default)]
pub(crate) struct ProjectQuery;

/// Projects.
#[Object]
impl ProjectQuery {
    /// The projects the caller may see, by id. Requires authentication.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, None, child_complexity)?"
    )]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Project, ProjectTotals, EmptyFields>> {
        let principal = ctx.principal()?;
        let scope = principal.visible_projects();
        let db = &ctx.request()?.state.db;
        query(
            after,
            None,
            first,
            None,
            |after: Option<String>, _, first, _| async move {
                let first = first.unwrap_or(MAX_PAGE_SIZE);
                if first == 0 || first > MAX_PAGE_SIZE {
                    return Err(Error::BadRequest(format!(
                        "first must be between 1 and {MAX_PAGE_SIZE}"
                    ))
                    .extend());
                }
                let after = match after {
                    Some(cursor) => Some(GlobalId::id_of(&cursor, "Project").ok_or_else(|| {
                        Error::BadRequest("after is not a project cursor".to_owned()).extend()
                    })?),
                    None => None,
                };
                let limit = u64::try_from(first).unwrap_or(u64::MAX).saturating_add(1);
                let mut rows = projects::page(db, &scope, after, limit)
                    .await
                    .map_err(|e| e.extend())?;
                let has_next = rows.len() > first;
                rows.truncate(first);
                let mut connection = Connection::with_additional_fields(
                    after.is_some(),
                    has_next,
                    ProjectTotals {
                        scope: scope.clone(),
                    },
                );
                connection.edges.extend(
                    rows.into_iter()
                        .map(|row| Edge::new(GlobalId::encode("Project", row.id).0, Project(row))),
                );
                Ok::<_, async_graphql::Error>(connection)
            },
        )
        .await
    }

    /// One project the caller may see, by id or accounting string; null when it
    /// does not exist or is not visible. Requires authentication.
    async fn project(
        &self,
        ctx: &Context<'_>,
        by: ProjectKey,
    ) -> async_graphql::Result<Option<Project>> {
        let scope = ctx.principal()?.visible_projects();
        let db = &ctx.request()?.state.db;
        let found = match by {
            ProjectKey::Id(id) => match GlobalId::id_of(&id, "Project") {
                Some(id) => projects::by_id(db, &scope, id).await,
                None => return Err(Error::BadRequest("not a project id".to_owned()).extend()),
            },
            ProjectKey::AccountingString(accounting) => {
                projects::by_accounting_string(db, &scope, &accounting).await
            }
        };
        Ok(found.map_err(|e| e.extend())?.map(Project))
    }
}

/// Fields of the project list as a whole.
pub(crate) struct ProjectTotals {
    scope: crate::auth::ProjectScope,
}

/// Fields of the project list as a whole.
#[Object]
impl ProjectTotals {
    /// How many projects the list holds in all (computed only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let db = &ctx.request()?.state.db;
        projects::count(db, &self.scope)
            .await
            .map_err(|e| e.extend())
    }
}
