//! EOSC installations: a provider's deployments of resources within projects.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, ExprTrait as _};

use super::load;
use super::metric::{Metric, MetricDefinition, MetricFilter, MetricOrder};
use super::provider::{EoscResource, Provider};
use crate::entity::{eosc_resources, installations, metric_definitions, projects, providers};
use crate::graphql::filter::{IdFilter, ScalarFilter, column};
use crate::graphql::hpc::{by, scope};
use crate::graphql::id::GlobalId;
use crate::graphql::list::{ListArgs, list_inputs};
use crate::graphql::loader::{BaseFn, Conn, ListSpec, connection};
use crate::graphql::object::Project;
use crate::graphql::page::{Kind, SortKey};
use crate::graphql::usage::{Level, Period, UsageAmount, total_usage};
use crate::service::read::lists;

list_inputs! {
    /// Which installations a list keeps; all given conditions must hold.
    filter InstallationFilter {
        /// Its name.
        installation: ScalarFilter<String> => "installation",
        /// The infrastructure it runs on.
        infrastructure: ScalarFilter<String> => "infrastructure",
        /// Its id in the EOSC Accounting System interface.
        external_id: ScalarFilter<String> => "external_id",
        /// The provider operating it.
        provider: IdFilter => ("provider_id", "Provider"),
        /// The project it serves.
        project: IdFilter => ("project_id", "Project"),
    }
    /// What installations can be sorted by.
    order InstallationOrderField {
        /// Its name.
        Installation => SortKey::asc("installation", Kind::Text),
        /// The infrastructure (installations without one first).
        Infrastructure => SortKey::nullable("infrastructure", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of an installation list; ties are broken by id.
    key InstallationOrder
}

/// An EOSC installation: a provider's deployment of a resource within a
/// project, the thing EOSC metrics are reported against.
pub(crate) struct Installation(pub(crate) installations::Model);

/// An EOSC installation: a provider's deployment of a resource within a
/// project, the thing EOSC metrics are reported against.
#[Object]
impl Installation {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Installation", self.0.id)
    }

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

    /// Its name, unique within its project and provider.
    async fn installation(&self) -> &str {
        &self.0.installation
    }

    /// The infrastructure it runs on.
    async fn infrastructure(&self) -> Option<&str> {
        self.0.infrastructure.as_deref()
    }

    /// Its id in the EOSC Accounting System interface, when it has one.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The project it serves.
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        Ok(load::<projects::Entity>(ctx, self.0.project_id)
            .await?
            .map(Project))
    }

    /// The provider operating it.
    async fn provider(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Provider>> {
        Ok(load::<providers::Entity>(ctx, self.0.provider_id)
            .await?
            .map(Provider))
    }

    /// The EOSC catalogue resource it deploys, when catalogued.
    async fn resource(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<EoscResource>> {
        let Some(id) = self.0.resource_id else {
            return Ok(None);
        };
        Ok(load::<eosc_resources::Entity>(ctx, id)
            .await?
            .map(EoscResource))
    }

    /// The metric definition that is its unit of access, when set.
    async fn unit_of_access(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<MetricDefinition>> {
        let Some(id) = self.0.unit_of_access_id else {
            return Ok(None);
        };
        Ok(load::<metric_definitions::Entity>(ctx, id)
            .await?
            .map(MetricDefinition))
    }

    /// The metrics reported against it.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    #[expect(clippy::too_many_arguments, reason = "a GraphQL field's arguments")]
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Metrics whose measured period starts in this period.")] period: Option<
            Period,
        >,
        #[graphql(desc = "Metrics of these definitions (global ids).")] definitions: Option<
            Vec<ID>,
        >,
        #[graphql(desc = "Conditions on the metrics' fields.")] filter: Option<MetricFilter>,
        #[graphql(desc = "Sort keys (default: earliest period start first); ties by id.")]
        order_by: Option<Vec<MetricOrder>>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Metric>> {
        let mut condition = Condition::all();
        if let Some(period) = &period {
            let (from, to) = period.instants()?;
            condition = condition
                .add(column("period_start").gte(from))
                .add(column("period_start").lt(to));
        }
        if let Some(ids) = &definitions {
            let filter = IdFilter::one_of(ids.clone());
            condition =
                condition.add(filter.condition("metric_definition_id", "MetricDefinition")?);
        }
        let args = ListArgs::new(filter, order_by, first, after, last, before);
        let spec = args.spec_with(
            "Installation.metrics",
            "Metric",
            lists::installation_metrics(scope(ctx)?),
            by("period_start", Kind::Time),
            condition,
            &format!("{period:?}/{definitions:?}"),
        )?;
        // The installation's project as context: the metrics' select names it.
        connection(ctx, spec, (self.0.id, self.0.project_id), Metric).await
    }

    /// Its usage over `period` (metrics counted on the day their period
    /// starts), one amount per unit: the unit types of its definitions.
    #[graphql(complexity = "crate::graphql::limits::total_cost(child_complexity)")]
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::Installation, self.0.id, period).await
    }
}

/// A list of installations under `relation` (by name unless `orderBy` says
/// otherwise).
pub(crate) fn installations_spec(
    relation: &str,
    base: BaseFn,
    args: &ListArgs<InstallationFilter, InstallationOrder>,
) -> async_graphql::Result<Arc<ListSpec>> {
    args.spec(
        relation,
        "Installation",
        base,
        by("installation", Kind::Text),
    )
}
