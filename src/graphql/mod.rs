//! The GraphQL API (async-graphql): the schema, its roots and the HTTP handler.
//!
//! One `XxxQuery` per domain is merged into [`QueryRoot`] with `MergedObject`.
//! `schema.graphql` at the repository root is [`sdl`]'s output; a test fails when
//! it is stale (regenerate it with `cargo run -- schema > schema.graphql`).

mod query;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;

use crate::app::AppState;
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

/// `POST /graphql`.
pub(crate) async fn handler(
    State(state): State<AppState>,
    request: GraphQLRequest,
) -> GraphQLResponse {
    state
        .schema
        .execute(request.into_inner().data(state.clone()))
        .await
        .into()
}
