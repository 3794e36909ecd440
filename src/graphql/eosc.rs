//! EOSC objects: installations and their metrics, metric definitions with
//! their unit and metric types, providers and catalogue resources.
//!
//! An installation and its metrics are visible when their project is;
//! providers, definitions, unit and metric types and resources form the
//! catalogue, visible to every authenticated caller (the installations listed
//! under a provider are still scoped).

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait as _};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QuerySelect as _};
use sea_orm::{QueryTrait as _, sea_query::SelectStatement};

use super::context::ContextExt as _;
use super::filter::{Direction, IdFilter, ScalarFilter, column, combine};
use super::hpc::{by, scope};
use super::id::GlobalId;
use super::loader::{BaseFn, ById, Conn, ListSpec, connection, gql};
use super::object::Project;
use super::page::{Kind, PageArgs, SortKey};
use super::usage::{Level, Period, UsageAmount, total_usage};
use crate::auth::ProjectScope;
use crate::entity::{
    eosc_resources, installations, metric_definitions, metric_types, metrics, projects, providers,
    unit_types,
};
use crate::error::Error;

/// Loads the row `id` of `E` through the request's loader.
async fn load<E>(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Clone + Send + Sync + 'static,
{
    ctx.request()?.loaders.load_one(ById::<E>::new(id)).await
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
            condition = condition.add(
                IdFilter {
                    eq: None,
                    ne: None,
                    one_of: Some(ids.clone()),
                    is_set: None,
                }
                .condition("metric_definition_id", "MetricDefinition")?,
            );
        }
        if let Some(filter) = &filter {
            condition = condition.add(filter.condition()?);
        }
        let spec = ListSpec::new(
            "Installation.metrics",
            &format!("{period:?}/{definitions:?}/{filter:?}/{order_by:?}"),
            "Metric",
            installation_metrics_base(scope(ctx)?),
            condition,
            metric_sort(order_by.as_ref())?,
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (self.0.id, 0), Metric).await
    }

    /// Its usage over `period` (metrics counted on the day their period
    /// starts), one amount per unit: the unit types of its definitions.
    async fn total_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to total (whole UTC days, both included).")] period: Period,
    ) -> async_graphql::Result<Vec<UsageAmount>> {
        total_usage(ctx, Level::Installation, self.0.id, period).await
    }
}

/// Which metrics a list keeps; all given conditions must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct MetricFilter {
    /// The start of the measured period.
    period_start: Option<ScalarFilter<DateTime<Utc>>>,
    /// The end of the measured period.
    period_end: Option<ScalarFilter<DateTime<Utc>>>,
    /// The metric definition.
    definition: Option<IdFilter>,
    /// The EOSC user the value is for.
    user_id: Option<ScalarFilter<String>>,
    /// The EOSC group the value is for.
    group_id: Option<ScalarFilter<String>>,
    /// All of these hold.
    and: Option<Vec<MetricFilter>>,
    /// Any of these holds.
    or: Option<Vec<MetricFilter>>,
    /// This does not hold.
    not: Option<Box<MetricFilter>>,
}

impl MetricFilter {
    fn condition(&self) -> async_graphql::Result<Condition> {
        let mut own = Condition::all();
        if let Some(f) = &self.period_start {
            own = own.add(f.condition("period_start")?);
        }
        if let Some(f) = &self.period_end {
            own = own.add(f.condition("period_end")?);
        }
        if let Some(f) = &self.definition {
            own = own.add(f.condition("metric_definition_id", "MetricDefinition")?);
        }
        if let Some(f) = &self.user_id {
            own = own.add(f.condition("user_id")?);
        }
        if let Some(f) = &self.group_id {
            own = own.add(f.condition("group_id")?);
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

/// What metrics can be sorted by.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricOrderField {
    /// The start of the measured period.
    PeriodStart,
    /// The end of the measured period.
    PeriodEnd,
    /// When the metric was recorded.
    CreatedAt,
}

/// One sort key of a metric list; ties are broken by id.
#[derive(InputObject, Clone, Copy, Debug)]
pub(crate) struct MetricOrder {
    /// The field.
    field: MetricOrderField,
    /// The direction (ascending unless given).
    #[graphql(default)]
    direction: Direction,
}

fn metric_sort(order: Option<&Vec<MetricOrder>>) -> async_graphql::Result<Vec<SortKey>> {
    let order = order.cloned().unwrap_or_else(|| {
        vec![MetricOrder {
            field: MetricOrderField::PeriodStart,
            direction: Direction::Asc,
        }]
    });
    if order.len() > 3 {
        return Err(gql(Error::BadRequest(
            "orderBy takes at most 3 fields".to_owned(),
        )));
    }
    Ok(order
        .iter()
        .map(|o| SortKey {
            column: match o.field {
                MetricOrderField::PeriodStart => "period_start",
                MetricOrderField::PeriodEnd => "period_end",
                MetricOrderField::CreatedAt => "created_at",
            },
            kind: Kind::Time,
            descending: o.direction == Direction::Desc,
        })
        .collect())
}

/// Metrics of the parent installations (scope applied on their project).
fn installation_metrics_base(scope: ProjectScope) -> BaseFn {
    Arc::new(move |parents: &[i64], _: &[i64]| {
        scope
            .apply(
                metrics::Entity::find()
                    .filter(metrics::Column::InstallationId.is_in(parents.iter().copied()))
                    .column_as(metrics::Column::InstallationId, "parent_key")
                    .column_as(Expr::val(0_i64), "parent_ctx"),
                metrics::Column::ProjectId,
            )
            .into_query()
    })
}

/// Installations whose `parent` column is one of the parents (scope applied
/// on their project).
fn installations_base(scope: ProjectScope, parent: installations::Column) -> BaseFn {
    Arc::new(move |parents: &[i64], _: &[i64]| -> SelectStatement {
        scope
            .apply(
                installations::Entity::find()
                    .filter(parent.is_in(parents.iter().copied()))
                    .column_as(parent, "parent_key")
                    .column_as(Expr::val(0_i64), "parent_ctx"),
                installations::Column::ProjectId,
            )
            .into_query()
    })
}

/// The installations of the parent projects.
pub(crate) fn project_installations_base(scope: ProjectScope) -> BaseFn {
    installations_base(scope, installations::Column::ProjectId)
}

/// A list of installations under `relation` (by name, then id).
pub(crate) fn installations_spec(
    relation: &str,
    base: BaseFn,
    page: &PageArgs,
) -> async_graphql::Result<Arc<ListSpec>> {
    ListSpec::new(
        relation,
        "",
        "Installation",
        base,
        Condition::all(),
        by("installation", Kind::Text),
        page,
    )
}

/// One EOSC metric: a value of a definition measured by an installation over
/// a period, optionally for one EOSC user or group.
pub(crate) struct Metric(pub(crate) metrics::Model);

/// One EOSC metric: a value of a definition measured by an installation over
/// a period, optionally for one EOSC user or group.
#[Object]
impl Metric {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Metric", self.0.id)
    }

    /// What the value measures.
    async fn definition(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<MetricDefinition>> {
        Ok(
            load::<metric_definitions::Entity>(ctx, self.0.metric_definition_id)
                .await?
                .map(MetricDefinition),
        )
    }

    /// The installation that reported it.
    async fn installation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Installation>> {
        Ok(load::<installations::Entity>(ctx, self.0.installation_id)
            .await?
            .map(Installation))
    }

    /// The start of the measured period.
    async fn period_start(&self) -> DateTime<Utc> {
        self.0.period_start
    }

    /// The end of the measured period.
    async fn period_end(&self) -> DateTime<Utc> {
        self.0.period_end
    }

    /// The value, in the definition's unit type.
    async fn value(&self) -> f64 {
        self.0.value
    }

    /// The EOSC user the value is for (an upstream id, not a Tally user).
    async fn user_id(&self) -> Option<&str> {
        self.0.user_id.as_deref()
    }

    /// The EOSC group the value is for (an upstream id, not a Tally group).
    async fn group_id(&self) -> Option<&str> {
        self.0.group_id.as_deref()
    }

    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// What an EOSC metric measures: a name with a unit type and a metric type.
pub(crate) struct MetricDefinition(pub(crate) metric_definitions::Model);

/// What an EOSC metric measures: a name with a unit type and a metric type.
#[Object]
impl MetricDefinition {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("MetricDefinition", self.0.id)
    }

    /// Its name, unique (ignoring case) within its unit type.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it measures.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The unit its values are in.
    async fn unit_type(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UnitType>> {
        Ok(load::<unit_types::Entity>(ctx, self.0.unit_type_id)
            .await?
            .map(UnitType))
    }

    /// How its values combine over an interval.
    async fn metric_type(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MetricType>> {
        Ok(load::<metric_types::Entity>(ctx, self.0.metric_type_id)
            .await?
            .map(MetricType))
    }

    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An EOSC unit type: the unit a metric definition measures in.
pub(crate) struct UnitType(pub(crate) unit_types::Model);

/// An EOSC unit type: the unit a metric definition measures in.
#[Object]
impl UnitType {
    /// Its name, e.g. `TB/year` (the unit usage totals are labelled with).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it means.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Whether it is one of the built-ins, which cannot be deleted.
    async fn built_in(&self) -> bool {
        self.0.built_in
    }
}

/// An EOSC metric type: how a metric's values combine over an interval.
pub(crate) struct MetricType(pub(crate) metric_types::Model);

/// An EOSC metric type: how a metric's values combine over an interval.
#[Object]
impl MetricType {
    /// Its name: `aggregated`, `count`, `summarised`, `averaged` or a custom one.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What it means.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Whether it is one of the built-ins, which cannot be deleted.
    async fn built_in(&self) -> bool {
        self.0.built_in
    }
}

/// An EOSC catalogue resource (a service or data source) installations deploy.
pub(crate) struct EoscResource(pub(crate) eosc_resources::Model);

/// An EOSC catalogue resource (a service or data source) installations deploy.
#[Object]
impl EoscResource {
    /// Its id in the EOSC catalogue.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
}

/// An EOSC provider: an organisation operating installations.
pub(crate) struct Provider(pub(crate) providers::Model);

/// An EOSC provider: an organisation operating installations.
#[Object]
impl Provider {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Provider", self.0.id)
    }

    /// The id EOSC shows, e.g. `grnet`.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Its abbreviation.
    async fn abbreviation(&self) -> Option<&str> {
        self.0.abbreviation.as_deref()
    }

    /// Its website.
    async fn website(&self) -> Option<&str> {
        self.0.website.as_deref()
    }

    /// URL of its logo.
    async fn logo(&self) -> Option<&str> {
        self.0.logo.as_deref()
    }

    /// Whether it was pulled from the EOSC portal.
    async fn from_portal(&self) -> bool {
        self.0.from_portal
    }

    /// Its installations, by name (only the projects the caller may see).
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(first, last, child_complexity)?"
    )]
    async fn installations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100) from the start.")] first: Option<i32>,
        #[graphql(desc = "Only items after this cursor.")] after: Option<String>,
        #[graphql(desc = "At most this many (1 to 100) from the end.")] last: Option<i32>,
        #[graphql(desc = "Only items before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<Installation>> {
        let spec = installations_spec(
            "Provider.installations",
            installations_base(scope(ctx)?, installations::Column::ProviderId),
            &PageArgs {
                first,
                after,
                last,
                before,
            },
        )?;
        connection(ctx, spec, (self.0.id, 0), Installation).await
    }
}
