//! What every resolver can reach: the application and the caller.

use async_graphql::{Context, ErrorExtensions as _};

use crate::app::AppState;
use crate::auth::{Caller, Principal};
use crate::error::Error;

/// Per-request data attached to every GraphQL execution.
#[derive(Clone)]
pub struct RequestContext {
    /// The application.
    pub state: AppState,
    /// Who is asking.
    pub caller: Caller,
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
