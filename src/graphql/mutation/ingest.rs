//! Ingestion: HPC jobs with their tasks, hourly bucket samples, EOSC metrics
//! and APEL cloud messages. Collectors only, with the REST batches' rules
//! (`docs/ingestion.md`): all or nothing, replays change nothing, and the
//! answer is the batch's report.

use std::collections::BTreeMap;

use async_graphql::{Context, InputObject, Object};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DatabaseTransaction;

use super::super::context::ContextExt as _;
use super::super::hpc::JobState;
use super::payload::{AddMetricsPayload, ApelLoad, IngestReport};
use super::{bad, collector, gql, ingest};
use crate::auth::ProjectScope;
use crate::domain::usage::JobState as DomainState;
use crate::error::Error;
use crate::service::batch::Report;
use crate::service::cloud_records::{self, CloudError};
use crate::service::eosc::{self, MetricInput as EoscMetric, NewMetric};
use crate::service::ingest::{self as batches, IdempotencyKey, Ingested, RequestHash, Route};
use crate::service::jobs::{self, JobBatch, StateInput};
use crate::service::storage::{self, Sample};

/// A batch of jobs of one cluster, each sent whole, as it stands.
#[derive(InputObject)]
pub(crate) struct JobBatchInput {
    /// The cluster's name.
    cluster: String,
    /// The jobs, each with all its tasks.
    jobs: Vec<JobInput>,
    /// Replace final jobs whose content differs instead of rejecting them.
    #[graphql(default)]
    correction: bool,
}

/// A job as a collector sends it; keyed by cluster, scheduler job id and
/// submit time.
#[derive(InputObject)]
pub(crate) struct JobInput {
    /// The scheduler's job id.
    scheduler_job_id: String,
    /// When it was submitted.
    submit_time: DateTime<Utc>,
    /// Its name.
    name: String,
    /// Its state.
    state: JobState,
    /// The accounting string of its project.
    project: String,
    /// Its sub-project's identifier (created if new).
    sub_project: Option<String>,
    /// The submitter's Tally username, if they have one.
    submitter: Option<String>,
    /// The scheduler's account string.
    account: Option<String>,
    /// When the job was created (default: the submit time).
    creation_time: Option<DateTime<Utc>>,
    /// When it started.
    start_time: Option<DateTime<Utc>>,
    /// When it ended.
    end_time: Option<DateTime<Utc>>,
    /// Its tasks.
    #[graphql(default)]
    tasks: Vec<TaskInput>,
}

/// A task of a job.
#[derive(InputObject)]
pub(crate) struct TaskInput {
    /// Its position in the job, from 0.
    ordinal: i32,
    /// Its name (default: the job's).
    name: Option<String>,
    /// Its state.
    state: JobState,
    /// The node type it ran on: its name or its queue on the job's cluster.
    node_type: String,
    /// The scheduler's id of the task.
    scheduler_job_id: Option<String>,
    /// When it started.
    start_time: Option<DateTime<Utc>>,
    /// When it ended.
    end_time: Option<DateTime<Utc>>,
    /// Allocated cores.
    allocated_cores: Option<i32>,
    /// Allocated nodes.
    allocated_nodes: Option<i32>,
    /// Allocated GPUs.
    allocated_gpus: Option<i32>,
    /// Allocated wall time, in seconds.
    allocated_seconds: Option<i64>,
    /// Scheduler parameters (`NumNodes`, `RunTime`, `cpu`, …): the variables
    /// of the formula that prices the task. Each name at most once.
    #[graphql(default)]
    parameters: Vec<ParameterInput>,
}

/// One scheduler parameter of a task.
#[derive(InputObject)]
pub(crate) struct ParameterInput {
    /// Its name, e.g. `NumNodes`.
    name: String,
    /// Its value as the scheduler reports it, e.g. `4` or `01:30:00`.
    value: String,
}

fn state(state: JobState) -> StateInput {
    StateInput::Value(i64::from(DomainState::from(state).value()))
}

impl JobBatchInput {
    /// The batch the REST route would have parsed.
    fn into_batch(self) -> async_graphql::Result<JobBatch> {
        let mut jobs = Vec::with_capacity(self.jobs.len());
        for job in self.jobs {
            let mut tasks = Vec::with_capacity(job.tasks.len());
            for task in job.tasks {
                let mut parameters = BTreeMap::new();
                for p in task.parameters {
                    if parameters.insert(p.name.clone(), p.value).is_some() {
                        return Err(bad(format!(
                            "job {:?} task {}: parameter {:?} is given twice",
                            job.scheduler_job_id, task.ordinal, p.name
                        )));
                    }
                }
                tasks.push(jobs::TaskInput {
                    ordinal: task.ordinal,
                    name: task.name,
                    state: state(task.state),
                    node_type: task.node_type,
                    scheduler_job_id: task.scheduler_job_id,
                    start_time: task.start_time,
                    end_time: task.end_time,
                    allocated_cores: task.allocated_cores,
                    allocated_nodes: task.allocated_nodes,
                    allocated_gpus: task.allocated_gpus,
                    allocated_seconds: task.allocated_seconds,
                    parameters,
                });
            }
            jobs.push(jobs::JobInput {
                scheduler_job_id: job.scheduler_job_id,
                submit_time: job.submit_time,
                name: job.name,
                state: state(job.state),
                project: job.project,
                sub_project: job.sub_project,
                submitter: job.submitter,
                account: job.account,
                creation_time: job.creation_time,
                start_time: job.start_time,
                end_time: job.end_time,
                tasks,
            });
        }
        Ok(JobBatch {
            cluster: self.cluster,
            jobs,
            correction: self.correction,
        })
    }
}

/// A batch of hourly bucket samples.
#[derive(InputObject)]
pub(crate) struct StorageBatchInput {
    /// The samples; each is keyed by bucket and hour.
    samples: Vec<BucketSampleInput>,
    /// Replace stored samples whose content differs instead of rejecting them.
    #[graphql(default)]
    correction: bool,
}

/// One hourly sample of a bucket.
#[derive(InputObject)]
pub(crate) struct BucketSampleInput {
    /// The bucket's name.
    bucket: String,
    /// The bucket's owner as the storage system names it; needed when the
    /// bucket is new.
    owner: Option<String>,
    /// The bucket's storage class (default `STANDARD`) when the bucket is new.
    storage_class: Option<String>,
    /// The accounting string of the project the bucket belongs to.
    project: Option<String>,
    /// The start of the hour the sample covers (a whole UTC hour, not in the
    /// future).
    hour: DateTime<Utc>,
    /// Bytes stored × hours during that hour. Give this or `bytesStored`.
    byte_hours: Option<i64>,
    /// Bytes stored during the hour (one hour's worth of byte-hours).
    bytes_stored: Option<i64>,
    /// Net change of the object count (negative when more were removed).
    #[graphql(default)]
    object_delta: i64,
    /// Writes during the hour.
    #[graphql(default)]
    writes: i64,
    /// Deletes during the hour.
    #[graphql(default)]
    deletes: i64,
    /// Bytes written during the hour.
    #[graphql(default)]
    bytes_written: i64,
    /// Bytes deleted during the hour.
    #[graphql(default)]
    bytes_deleted: i64,
}

impl From<BucketSampleInput> for Sample {
    fn from(s: BucketSampleInput) -> Self {
        Self {
            bucket: s.bucket,
            owner: s.owner,
            storage_class: s.storage_class,
            project: s.project,
            hour: s.hour,
            byte_hours: s.byte_hours,
            bytes_stored: s.bytes_stored,
            object_delta: s.object_delta,
            writes: s.writes,
            deletes: s.deletes,
            bytes_written: s.bytes_written,
            bytes_deleted: s.bytes_deleted,
        }
    }
}

/// Metrics of one EOSC installation.
#[derive(InputObject)]
pub(crate) struct AddMetricsInput {
    /// The installation's EOSC id (24 hex digits).
    installation: String,
    /// The metrics.
    metrics: Vec<MetricInput>,
}

/// One EOSC metric: a value of a metric definition over a period.
#[derive(InputObject)]
pub(crate) struct MetricInput {
    /// The metric definition's EOSC id (24 hex digits).
    metric_definition: String,
    /// Start of the measured period (not in the future).
    period_start: DateTime<Utc>,
    /// End of the measured period (after its start, not in the future).
    period_end: DateTime<Utc>,
    /// The value, in the definition's unit.
    value: f64,
    /// The EOSC user the value is for.
    user_id: Option<String>,
    /// The EOSC group the value is for.
    group_id: Option<String>,
    /// Makes a retried post not count twice: unique per installation, 1 to
    /// 255 characters. The same key with the same content answers the stored
    /// metric; with other content it is a conflict.
    idempotency_key: Option<String>,
}

/// Runs a batch through the write path the REST batches share
/// ([`batches::ingest`]): one transaction, and the idempotency key if given.
/// `input` is the parsed batch, whose canonical JSON is the request's hash.
async fn run_batch<B: serde::Serialize>(
    ctx: &Context<'_>,
    route: Route,
    idempotency_key: Option<String>,
    input: &B,
    process: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Report, Error>,
) -> async_graphql::Result<IngestReport> {
    let principal = collector(ctx)?;
    let key = idempotency_key
        .map(|key| {
            IdempotencyKey::parse(&key).ok_or_else(|| {
                bad(format!(
                    "idempotencyKey must be 1 to {} visible characters",
                    batches::MAX_KEY_LEN
                ))
            })
        })
        .transpose()?;
    let hash = RequestHash::of_batch(input).map_err(gql)?;
    let request = ctx.request()?;
    let ingested = batches::ingest(
        &request.db,
        &request.state.events,
        principal,
        route,
        key.as_ref(),
        &hash,
        process,
    )
    .await
    .map_err(gql)?;
    match ingested {
        Ingested::Stored(report) | Ingested::Refused(report) => Ok(report.into()),
        Ingested::Replayed(replay) => Ok(IngestReport::replay_of(replay.report().map_err(gql)?)),
        Ingested::KeyReused => Err(gql(Error::Unprocessable(
            "this idempotencyKey was used with another input".to_owned(),
        ))),
    }
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Usage ingestion.
#[derive(Default)]
pub(crate) struct IngestMutation;

/// Usage ingestion.
#[Object]
impl IngestMutation {
    /// Ingests jobs of one cluster with their tasks, as
    /// `POST /api/v1/hpc/jobs` does: each task is priced with the formula
    /// valid at its start, and the rollups move in the same transaction.
    /// Collectors only (on the system scope, or on the jobs' projects). A
    /// batch with any rejection stores nothing; a replay counts as
    /// `unchanged`. With an `idempotencyKey`, a repeated request (same key,
    /// same caller, same batch) answers the first committed report again
    /// with `replayed: true` and changes nothing; the same key with another
    /// batch is `BAD_USER_INPUT`.
    async fn ingest_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cluster and its jobs.")] input: JobBatchInput,
        #[graphql(
            desc = "Makes a retried request not run twice: 1 to 255 visible characters, \
                    unique per caller for this mutation (keys of `POST /api/v1/hpc/jobs` \
                    are another namespace)."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<IngestReport> {
        let scope = collector(ctx)?.collector_projects();
        let batch = input.into_batch()?;
        run_batch(
            ctx,
            Route::GraphqlJobs,
            idempotency_key,
            &batch,
            async |txn| jobs::ingest(txn, &scope, &batch).await,
        )
        .await
    }

    /// Ingests hourly bucket samples, as `POST /api/v1/storage/usage` does.
    /// Collectors only. A batch with any rejection stores nothing; a replay
    /// counts as `unchanged`. `idempotencyKey` works as in `ingestJobs`.
    async fn ingest_storage_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The samples.")] input: StorageBatchInput,
        #[graphql(
            desc = "Makes a retried request not run twice: 1 to 255 visible characters, \
                    unique per caller for this mutation (keys of \
                    `POST /api/v1/storage/usage` are another namespace)."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<IngestReport> {
        let scope = collector(ctx)?.collector_projects();
        let batch = storage::Batch {
            samples: input.samples.into_iter().map(Sample::from).collect(),
            correction: input.correction,
        };
        run_batch(
            ctx,
            Route::GraphqlStorage,
            idempotency_key,
            &batch,
            async |txn| storage::ingest(txn, &scope, &batch.samples, batch.correction).await,
        )
        .await
    }

    /// Adds EOSC metrics to an installation (upstream's rules: periods in the
    /// past and ordered, known definitions). Collectors only, for
    /// installations of their projects. A batch with any rejection stores
    /// nothing.
    async fn add_metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The installation and its metrics.")] input: AddMetricsInput,
    ) -> async_graphql::Result<AddMetricsPayload> {
        let principal = collector(ctx)?;
        let scope = principal.collector_projects();
        let creator = principal.name.clone();
        let installation = eosc::parse_external_id(&input.installation).ok_or_else(|| {
            bad(format!(
                "installation: {:?} is not an EOSC id (24 hex digits)",
                input.installation
            ))
        })?;
        let raw: Vec<(EoscMetric, Option<String>)> = input
            .metrics
            .into_iter()
            .map(|m| {
                (
                    EoscMetric {
                        metric_definition_id: m.metric_definition,
                        time_period_start: Some(instant(m.period_start)),
                        time_period_end: Some(instant(m.period_end)),
                        value: Some(serde_json::Value::from(m.value)),
                        user_id: m.user_id,
                        group_id: m.group_id,
                    },
                    m.idempotency_key,
                )
            })
            .collect();
        let added = ingest(
            ctx,
            async |txn| {
                let batch: Vec<NewMetric<'_>> = raw
                    .iter()
                    .map(|(input, key)| NewMetric {
                        input,
                        idempotency_key: key.as_deref(),
                    })
                    .collect();
                eosc::add_metrics(txn, &scope, installation, Some(&creator), &batch).await
            },
            |added| added.report.accepted(),
        )
        .await?;
        Ok(AddMetricsPayload {
            report: added.report.into(),
            metrics: added.metrics.into_iter().map(Into::into).collect(),
        })
    }

    /// Loads one APEL cloud message (the text APEL clients post to
    /// `/api/v1/cloud/record`), as that route does: snapshots are stored
    /// under APEL's key (a snapshot with the same key replaces the stored
    /// one) and the daily summaries are kept. Collectors on the system scope
    /// only, since a message's VOs may map to any project. A message APEL
    /// would refuse is `BAD_USER_INPUT` with the reason, and nothing of it is
    /// stored.
    async fn load_apel_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message, APEL's `APEL-cloud-message` text format.")] message: String,
    ) -> async_graphql::Result<ApelLoad> {
        let principal = collector(ctx)?;
        if principal.collector_projects() != ProjectScope::All {
            return Err(super::gql(Error::Forbidden(
                "loading APEL messages needs the collector role on the system scope".to_owned(),
            )));
        }
        let publisher = format!("tally-user:{}", principal.name);
        let loaded = ingest(
            ctx,
            async |txn| {
                cloud_records::load_message(txn, &message, &publisher, None, None)
                    .await
                    .map_err(|error| match error {
                        CloudError::Invalid(e) => {
                            Error::BadRequest(format!("the APEL message was refused: {e}"))
                        }
                        CloudError::WrongSite(site) => Error::Forbidden(format!(
                            "this caller may not publish for site {site:?}"
                        )),
                        CloudError::Internal(e) => e,
                    })
            },
            |_| true,
        )
        .await?;
        Ok(loaded.into())
    }
}
