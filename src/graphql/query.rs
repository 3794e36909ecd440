//! The query root: one object per domain, merged.

use async_graphql::{MergedObject, Object};

/// Every query Tally answers.
#[derive(MergedObject, Default)]
pub struct QueryRoot(MetaQuery);

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
