//! What every resolver can reach: the application and the caller.

use async_graphql::{Context, ErrorExtensions as _};
use sea_orm::DatabaseConnection;

use super::idle::Idle;
use super::loader::{Loaders, loaders};
use crate::app::AppState;
use crate::auth::{Caller, Principal, ProjectScope};
use crate::error::Error;

/// Per-request data attached to every GraphQL execution.
pub struct RequestContext {
    /// The application.
    pub state: AppState,
    /// Who is asking.
    pub caller: Caller,
    /// The database the request reads.
    pub(crate) db: DatabaseConnection,
    /// The request's data loaders, reading as the caller.
    pub(crate) loaders: Loaders,
}

impl RequestContext {
    /// The context of a request by `caller`, whose execution `idle` watches
    /// (its loaders' batches wait for it to settle).
    #[must_use]
    pub(crate) fn new(state: AppState, caller: Caller, idle: Idle) -> Self {
        let db = state.db.clone();
        let scope = caller
            .principal()
            .map_or(ProjectScope::Only(Default::default()), |p| {
                p.visible_projects()
            });
        let loaders = loaders(db.clone(), scope, idle);
        Self {
            state,
            caller,
            db,
            loaders,
        }
    }
}

/// Shortcuts on async-graphql's [`Context`].
pub(crate) trait ContextExt {
    /// The request context.
    fn request(&self) -> async_graphql::Result<&RequestContext>;

    /// The authenticated principal, or an `UNAUTHENTICATED` error.
    fn principal(&self) -> async_graphql::Result<&Principal> {
        self.request()?.caller.principal().map_err(|e| e.extend())
    }
}

impl ContextExt for Context<'_> {
    fn request(&self) -> async_graphql::Result<&RequestContext> {
        self.data::<RequestContext>()
            .map_err(|_| Error::internal(&"GraphQL executed without a request context").extend())
    }
}
