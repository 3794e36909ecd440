//! The GraphQL API (async-graphql): the schema, its roots and the HTTP handler.
//!
//! One `XxxQuery` per domain is merged into [`QueryRoot`] with `MergedObject`,
//! and one `XxxMutation` per domain into [`MutationRoot`].
//! `schema.graphql` at the repository root is [`sdl`]'s output; a test fails when
//! it is stale (regenerate it with `cargo run -- schema > schema.graphql`).
//!
//! [`http`] serves `/graphql` and decides what runs (`docs/graphql.md`);
//! [`limits`] measures what an operation may cost; [`ws`] serves
//! subscriptions ([`SubscriptionRoot`]) at `/graphql/ws`. Relations are read
//! through the request's data loaders (`loader`), whose batches leave once the
//! request has stopped asking for keys (`idle`, `docs/architecture.md`).

mod admin;
mod checks;
mod cloud;
mod context;
mod eosc;
mod filter;
mod hpc;
mod http;
mod id;
mod idle;
pub(crate) mod limits;
mod list;
mod loader;
mod mutation;
mod node;
mod object;
mod page;
mod query;
mod storage;
mod subscription;
mod usage;
mod ws;

use async_graphql::{Schema, SchemaBuilder};

use crate::config::{Exposure, GraphqlConfig};
pub use context::RequestContext;
pub(crate) use http::{handler, refusal};
pub use id::GlobalId;
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;
pub(crate) use ws::ws_handler;

/// Tally's GraphQL schema.
pub type TallySchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema's roots, before limits are applied.
fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
}

/// Builds the schema with the default limits. The application's shared state
/// is attached per request.
#[must_use]
pub fn build_schema() -> TallySchema {
    build_schema_with(&GraphqlConfig::default())
}

/// Builds the schema with `limits` (`TALLY_GRAPHQL_*`).
#[must_use]
pub fn build_schema_with(limits: &GraphqlConfig) -> TallySchema {
    let mut builder = schema_builder()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        // Selection sets and fragment spreads nest at most this deep while
        // async-graphql walks them (fields and fragment hops both count).
        .limit_recursive_depth(limits.max_depth.max(16) * 2)
        // `limits::inspect` refuses piles of directives first, with a clearer
        // message; this also guards operations that do not pass through it.
        .limit_directives(limits.max_directives)
        .extension(http::Authenticate);
    if limits.suggestions == Exposure::Never {
        builder = builder.disable_suggestions();
    }
    if limits.introspection == Exposure::Never {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema in SDL, as `tally schema` prints it and `schema.graphql` holds it.
#[must_use]
pub fn sdl() -> String {
    build_schema().sdl()
}
