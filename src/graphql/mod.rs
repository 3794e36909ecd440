//! The GraphQL API (async-graphql): the schema, its roots and the HTTP handler.
//!
//! One `XxxQuery` per domain is merged into [`QueryRoot`] with `MergedObject`.
//! `schema.graphql` at the repository root is [`sdl`]'s output; a test fails when
//! it is stale (regenerate it with `cargo run -- schema > schema.graphql`).

mod context;
mod filter;
mod hpc;
mod id;
mod loader;
mod node;
mod object;
mod page;
mod query;
mod storage;
mod usage;

use async_graphql::{EmptyMutation, EmptySubscription, ErrorExtensions as _, Schema};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::rest::tally::auth_error;
pub use context::RequestContext;
pub use id::GlobalId;
pub use query::QueryRoot;

/// Tally's GraphQL schema.
pub type TallySchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Builds the schema. The application's shared state is attached per request.
#[must_use]
pub fn build_schema() -> TallySchema {
    Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription).finish()
}

/// The schema in SDL, as `tally schema` prints it and `schema.graphql` holds it.
#[must_use]
pub fn sdl() -> String {
    build_schema().sdl()
}

/// `POST /graphql`. A request without credentials runs as an anonymous caller
/// (who may read only what is public); a request with refused credentials is
/// answered 401 with a GraphQL error whose `extensions.code` is
/// `UNAUTHENTICATED`, and is not executed.
pub(crate) async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let caller = match state.auth.bearer(&state.db, &headers).await {
        Ok(caller) => caller,
        Err(failure) => {
            let error = auth_error(failure);
            let status = error.status();
            let mut server_error = async_graphql::ServerError::new(error.to_string(), None);
            server_error.extensions = error.extend().extensions;
            let response = async_graphql::Response::from_errors(vec![server_error]);
            return (
                if status == StatusCode::INTERNAL_SERVER_ERROR {
                    status
                } else {
                    StatusCode::UNAUTHORIZED
                },
                GraphQLResponse::from(response),
            )
                .into_response();
        }
    };
    let context = RequestContext::new(state.clone(), caller);
    GraphQLResponse::from(
        state
            .schema
            .execute(request.into_inner().data(context))
            .await,
    )
    .into_response()
}
