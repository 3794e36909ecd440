//! What mutations answer besides the query objects they create: batch
//! reports, grants, APEL loads, EOSC metrics, aggregations and recomputation
//! runs.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::super::context::ContextExt as _;
use super::super::hpc::scope;
use super::super::id::GlobalId;
use super::super::loader::ById;
use super::super::object::Project;
use super::super::subscription::RUN_KIND;
use crate::entity::{accounting_runs, metrics, node_type_aggregations, projects};
use crate::service::batch::{self, Report};
use crate::service::cloud_records::Loaded;
use crate::service::eosc;

/// Why a record of a batch was refused, broadly.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RejectionKind {
    /// The record itself is invalid (or names something that does not exist).
    Invalid,
    /// It contradicts what is stored (a final record with other content,
    /// without `correction`).
    Conflict,
    /// The caller may not post it (a project outside their collector grants).
    Forbidden,
}

impl From<batch::RejectionKind> for RejectionKind {
    fn from(kind: batch::RejectionKind) -> Self {
        match kind {
            batch::RejectionKind::Invalid => Self::Invalid,
            batch::RejectionKind::Conflict => Self::Conflict,
            batch::RejectionKind::Forbidden => Self::Forbidden,
        }
    }
}

/// One refused record of a batch.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct Rejection {
    /// Its position in the batch, from 0.
    index: i32,
    /// Why, broadly.
    kind: RejectionKind,
    /// Its natural key, as text (e.g. `karolina/123@2026-03-01T00:00:00+00:00`).
    key: String,
    /// Why it was refused.
    reason: String,
}

/// The answer to an ingestion batch, as Tally's REST batches answer it. A
/// batch is all or nothing: when `rejected` is not empty, nothing of it was
/// stored and the counts are those found before it was refused.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct IngestReport {
    /// Whether the batch was stored (no record was rejected).
    accepted: bool,
    /// Records that did not exist.
    inserted: i32,
    /// Records that existed with other content and were updated or corrected.
    updated: i32,
    /// Records stored already with the same content (replays change nothing).
    unchanged: i32,
    /// Every refused record, with its reason.
    rejected: Vec<Rejection>,
    /// Whether this is the remembered answer to an earlier request with the
    /// same `idempotencyKey` (then this request changed nothing). Always
    /// false for `addMetrics`, whose keys are per metric.
    replayed: bool,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<Report> for IngestReport {
    fn from(report: Report) -> Self {
        Self {
            accepted: report.accepted(),
            inserted: count(report.inserted),
            updated: count(report.updated),
            unchanged: count(report.unchanged),
            rejected: report
                .rejected
                .into_iter()
                .map(|r| Rejection {
                    index: count(r.index),
                    kind: r.kind.into(),
                    key: r.key,
                    reason: r.reason,
                })
                .collect(),
            replayed: false,
        }
    }
}

impl IngestReport {
    /// The remembered answer to an earlier request with the same key.
    pub(crate) fn replay_of(report: Report) -> Self {
        Self {
            replayed: true,
            ..report.into()
        }
    }
}

/// One EOSC metric as stored, named by its EOSC ids as collectors know them
/// (the graph's `Metric` is the same row with global ids).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "AddedMetric")]
pub(crate) struct Metric {
    /// Its EOSC id (24 hex digits).
    id: String,
    /// The installation's EOSC id.
    installation: String,
    /// The metric definition's EOSC id.
    metric_definition: String,
    /// Start of the measured period.
    period_start: DateTime<Utc>,
    /// End of the measured period.
    period_end: DateTime<Utc>,
    /// The value, in the definition's unit.
    value: f64,
    /// The EOSC user the value is for.
    user_id: Option<String>,
    /// The EOSC group the value is for.
    group_id: Option<String>,
}

impl From<metrics::Model> for Metric {
    fn from(row: metrics::Model) -> Self {
        Self {
            id: eosc::external_id(row.id),
            installation: eosc::external_id(row.installation_id),
            metric_definition: eosc::external_id(row.metric_definition_id),
            period_start: row.period_start,
            period_end: row.period_end,
            value: row.value,
            user_id: row.user_id,
            group_id: row.group_id,
        }
    }
}

/// The answer to `addMetrics`.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct AddMetricsPayload {
    /// The counts and rejections (`updated` is always 0: metrics are never
    /// changed).
    pub(crate) report: IngestReport,
    /// When accepted, the stored metric of every input, in input order (the
    /// earlier metric for a replayed idempotency key); empty otherwise.
    pub(crate) metrics: Vec<Metric>,
}

/// What an APEL cloud message changed.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct ApelLoad {
    /// The stored message's id.
    message_id: i64,
    /// Records in the message.
    records: i32,
    /// Snapshots that were new.
    inserted: i32,
    /// Snapshots that replaced one with the same key and other content
    /// (APEL's `REPLACE`).
    updated: i32,
    /// Snapshots already stored as they are.
    unchanged: i32,
}

impl From<Loaded> for ApelLoad {
    fn from(loaded: Loaded) -> Self {
        Self {
            message_id: loaded.message_id,
            records: count(loaded.records),
            inserted: count(loaded.inserted),
            updated: count(loaded.updated),
            unchanged: count(loaded.unchanged),
        }
    }
}

/// A role granted to a user on a scope.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct GrantPayload {
    /// The user's username.
    pub(crate) user: String,
    /// The role's name, e.g. `heappe_reporter`.
    pub(crate) role: String,
    /// What the role applies to: `system`, `project`, `user_group`,
    /// `project_provider`, `installation`, `site` or `bucket`.
    pub(crate) scope_kind: String,
    /// The id of the scope's row (0 for `system`).
    pub(crate) scope_id: i64,
}

/// A node-type aggregation: node types accounted alike, priced by the formula
/// versions attached to it (HEAppE's ClusterNodeTypeAggregation).
pub(crate) struct Aggregation(pub(crate) node_type_aggregations::Model);

/// A node-type aggregation: node types accounted alike, priced by the formula
/// versions attached to it (HEAppE's ClusterNodeTypeAggregation).
#[Object]
impl Aggregation {
    /// Opaque global id.
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode("Aggregation", self.0.id)
    }

    /// Its unique name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// HEAppE's allocation type, a free-text label.
    async fn allocation_type(&self) -> Option<&str> {
        self.0.allocation_type.as_deref()
    }

    /// Start of validity.
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.validity_from
    }

    /// End of validity, or null when open.
    async fn valid_to(&self) -> Option<DateTime<Utc>> {
        self.0.validity_to
    }
}

/// A recomputation of a project's HPC task usage over a period, worked on in
/// the background by any Tally instance (`docs/recompute.md`).
pub(crate) struct RecomputationRun(pub(crate) accounting_runs::Model);

/// A recomputation of a project's HPC task usage over a period, worked on in
/// the background by any Tally instance (`docs/recompute.md`).
#[Object]
impl RecomputationRun {
    /// Opaque global id (as `recomputationProgress(run:)` takes it).
    pub(crate) async fn id(&self) -> ID {
        GlobalId::encode(RUN_KIND, self.0.id)
    }

    /// The project whose tasks are priced again (null if the caller may not
    /// see it).
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        let scope = scope(ctx)?;
        let row = ctx
            .request()?
            .loaders
            .load_one(ById::<projects::Entity>::new(self.0.project_id))
            .await?;
        Ok(row.filter(|r| scope.contains(r.id)).map(Project))
    }

    /// Tasks that started at or after this instant are selected…
    async fn period_start(&self) -> DateTime<Utc> {
        self.0.period_start
    }

    /// …and ended at or before this one.
    async fn period_end(&self) -> DateTime<Utc> {
        self.0.period_end
    }

    /// `queued`, `running`, `finished` or `failed`.
    async fn state(&self) -> &str {
        &self.0.state
    }

    /// Tasks recomputed so far.
    async fn tasks_done(&self) -> i64 {
        self.0.tasks_done
    }

    /// Tasks the run covers (counted when an instance claims it).
    async fn tasks_total(&self) -> i64 {
        self.0.tasks_total
    }

    /// When it was asked for.
    async fn triggered_at(&self) -> DateTime<Utc> {
        self.0.triggered_at
    }

    /// When an instance started it.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    /// When it finished or failed.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}
