//! EOSC objects: installations and their metrics, metric definitions with
//! their unit and metric types, providers and catalogue resources.
//!
//! An installation and its metrics are visible when their project is;
//! providers, definitions, unit and metric types and resources form the
//! catalogue, visible to every authenticated caller (the installations listed
//! under a provider are still scoped).

mod installation;
mod metric;
mod provider;

use async_graphql::Context;

use super::context::ContextExt as _;
use super::loader::ById;

pub(crate) use installation::{
    Installation, InstallationFilter, InstallationOrder, installations_spec,
};
pub(crate) use metric::{Metric, MetricDefinition, MetricDefinitionFilter, MetricDefinitionOrder};
pub(crate) use provider::{Provider, ProviderFilter, ProviderOrder};

/// Loads the row `id` of `E` through the request's loader.
pub(super) async fn load<E>(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<E::Model>>
where
    E: crate::service::read::by_id::Visible,
    E::Model: Clone + Send + Sync + 'static,
{
    ctx.request()?.loaders.load_one(ById::<E>::new(id)).await
}
