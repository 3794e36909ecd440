//! EOSC metrics and what they measure: definitions, unit types and metric
//! types.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::installation::Installation;
use super::load;
use crate::entity::{installations, metric_definitions, metric_types, metrics, unit_types};
use crate::graphql::filter::{IdFilter, Instant, ScalarFilter};
use crate::graphql::id::GlobalId;
use crate::graphql::list::list_inputs;
use crate::graphql::page::{Kind, SortKey};

list_inputs! {
    /// Which metrics a list keeps; all given conditions must hold.
    filter MetricFilter {
        /// The start of the measured period.
        period_start: ScalarFilter<Instant> => "period_start",
        /// The end of the measured period.
        period_end: ScalarFilter<Instant> => "period_end",
        /// The metric definition.
        definition: IdFilter => ("metric_definition_id", "MetricDefinition"),
        /// The value, in the definition's unit type.
        value: ScalarFilter<f64> => "value",
        /// The EOSC user the value is for.
        user_id: ScalarFilter<String> => "user_id",
        /// The EOSC group the value is for.
        group_id: ScalarFilter<String> => "group_id",
    }
    /// What metrics can be sorted by.
    order MetricOrderField {
        /// The start of the measured period.
        PeriodStart => SortKey::asc("period_start", Kind::Time),
        /// The end of the measured period.
        PeriodEnd => SortKey::asc("period_end", Kind::Time),
        /// When the metric was recorded.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a metric list; ties are broken by id.
    key MetricOrder
}

list_inputs! {
    /// Which metric definitions a list keeps; all given conditions must hold.
    filter MetricDefinitionFilter {
        /// Its name.
        name: ScalarFilter<String> => "name",
        /// What it measures.
        description: ScalarFilter<String> => "description",
    }
    /// What metric definitions can be sorted by.
    order MetricDefinitionOrderField {
        /// Its name.
        Name => SortKey::asc("name", Kind::Text),
        /// When it was registered.
        CreatedAt => SortKey::asc("created_at", Kind::Time),
    }
    /// One sort key of a metric definition list; ties are broken by id.
    key MetricDefinitionOrder
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

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
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

    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
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
    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

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
    /// The number this object has in the database, which the compatibility
    /// routes (HEAppE, EOSC) use for it: links a dashboard to them without
    /// decoding the global id.
    async fn database_id(&self) -> i64 {
        self.0.id
    }

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
