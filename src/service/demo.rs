//! Demo and benchmark data: `tally demo [--scale N]` and `tally serve --demo`.
//!
//! Everything is loaded through the services a real deployment uses (users and
//! grants, formulas, HPC job batches, APEL messages, EOSC metrics, storage
//! samples), so the rollups and the cross-source usage are the ones real data
//! would produce. Only dimension rows that have no service yet (projects,
//! clusters, node types, providers, …) are written as entities.
//!
//! Subscribers hear of the demo's usage as of any ingestion: each batch
//! publishes one event per project, source, resource, unit and day it changed
//! (hundreds per batch at most, not one per record), on the bus it is given.
//!
//! The data is deterministic (a seeded generator) and fixed in time: it ends
//! at [`end`] (2026-11-01 00:00 UTC) with 3 months of jobs, 60 days of storage,
//! 60 days of EOSC metrics and the last 10 days of cloud VMs before it. Fixed
//! dates let the playground's example operations name their periods and let
//! their answers be pinned by snapshots: the demo shows the same numbers on
//! every day it is loaded.
//!
//! `scale` N makes benchmark data: N times the jobs (about 600 × N tasks)
//! and N times the cloud VMs (about 9 snapshots each), but only ⌈N / 10⌉
//! times the buckets and EOSC users. A bucket brings 1 440 hourly samples
//! and an EOSC user 120 metrics, so scaling them by N would make the storage
//! part twelve times the HPC part: a million tasks would come with seven
//! million storage samples. Each batch is one transaction of at most
//! [`JOBS_PER_BATCH`] jobs (or a few thousand records). `docs/benchmarks.md`
//! has the volumes and load times.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, DurationRound as _, NaiveTime, TimeZone as _, Utc};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ConnectionTrait as _, DatabaseConnection, DbBackend,
    EntityTrait as _, PaginatorTrait as _, TransactionTrait as _,
};
use serde_json::json;

use super::batch::Report;
use super::eosc::{self, MetricInput, NewMetric};
use super::events::{Decision, EventBus};
use super::formulas::{self, NewFormula};
use super::jobs::{self, JobBatch, JobInput, StateInput, TaskInput};
use super::{cloud_records, storage, users};
use crate::auth::{ProjectScope, Scope};
use crate::entity::{
    cluster_projects, clusters, installations, metric_definitions, metric_types,
    node_type_aggregations, node_types, project_providers, projects, providers, sub_projects,
    unit_types, user_groups, vos,
};
use crate::error::Error;

/// Jobs per HPC ingestion batch (one transaction each). Larger batches mean
/// fewer, longer statements and more rollup deltas merged before they are
/// written (`docs/benchmarks.md`).
pub const JOBS_PER_BATCH: usize = 5000;
/// Storage samples per batch.
const SAMPLES_PER_BATCH: usize = 20_000;
/// APEL records per message.
const RECORDS_PER_MESSAGE: usize = 1000;
/// EOSC metrics per batch.
const METRICS_PER_BATCH: usize = 2000;

/// Jobs at scale 1 (about 2.5 tasks each).
const JOBS: usize = 240;
/// Cloud VMs at scale 1.
const VMS: usize = 12;
/// Buckets at scales 1 to 10 (more by a tenth of the scale).
const BUCKETS: usize = 3;
/// Days of jobs.
const JOB_DAYS: i64 = 90;
/// The day (from the start of the job period) the first formula is replaced.
const FORMULA_CHANGE_DAY: i64 = 45;
/// Days of hourly storage samples.
const STORAGE_DAYS: i64 = 60;
/// Days of EOSC metrics.
const EOSC_DAYS: i64 = 60;
/// Days over which cloud VMs run.
const CLOUD_DAYS: i64 = 10;

/// The DN the demo's APEL messages are recorded as published by.
pub const PUBLISHER_DN: &str = "/C=XX/O=Tally Demo/CN=cloud.demo.example";
/// The demo cloud site.
pub const SITE: &str = "DEMO-CLOUD";

/// What was loaded, and how long each source took.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The scale factor.
    pub scale: u32,
    /// Projects created.
    pub projects: usize,
    /// Sub-projects created.
    pub sub_projects: usize,
    /// User groups created.
    pub groups: usize,
    /// Users created.
    pub users: usize,
    /// Clusters created.
    pub clusters: usize,
    /// Node types created.
    pub node_types: usize,
    /// Formula versions created.
    pub formulas: usize,
    /// HPC jobs ingested.
    pub jobs: usize,
    /// HPC tasks ingested.
    pub tasks: usize,
    /// Cloud VMs.
    pub vms: usize,
    /// APEL cloud records (snapshots) loaded.
    pub cloud_records: usize,
    /// EOSC metrics added.
    pub metrics: usize,
    /// Buckets.
    pub buckets: usize,
    /// Hourly storage samples ingested.
    pub storage_samples: usize,
    /// The first day holding data.
    pub from: chrono::NaiveDate,
    /// The last day holding data.
    pub to: chrono::NaiveDate,
    /// Time spent per part: dimensions, hpc, cloud, eosc, storage.
    pub timings: Vec<(&'static str, StdDuration)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo data loaded (scale {}), {} to {}:",
            self.scale, self.from, self.to
        )?;
        writeln!(
            f,
            "  tenancy: {} projects, {} sub-projects, {} groups, {} users",
            self.projects, self.sub_projects, self.groups, self.users
        )?;
        writeln!(
            f,
            "  hpc:     {} clusters, {} node types, {} formula versions, {} jobs, {} tasks",
            self.clusters, self.node_types, self.formulas, self.jobs, self.tasks
        )?;
        writeln!(
            f,
            "  cloud:   site {SITE}, {} VMs, {} snapshots",
            self.vms, self.cloud_records
        )?;
        writeln!(
            f,
            "  eosc:    1 provider, 1 installation, {} metrics",
            self.metrics
        )?;
        writeln!(
            f,
            "  storage: {} buckets, {} hourly samples",
            self.buckets, self.storage_samples
        )?;
        let timings: Vec<String> = self
            .timings
            .iter()
            .map(|(part, took)| format!("{part} {:.1}s", took.as_secs_f64()))
            .collect();
        writeln!(f, "  took:    {}", timings.join(", "))
    }
}

/// A small deterministic generator (SplitMix64): the demo is the same on
/// every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// In `[low, high)`; `low` when the range is empty.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let span = high.abs_diff(low);
        low.saturating_add_unsigned(self.next() % span)
    }

    /// An index in `[0, n)` (0 when `n` is 0).
    fn index(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    /// Seconds, log-uniform between `low` and `high`.
    fn log_uniform(&mut self, low: f64, high: f64) -> i64 {
        (low.ln() + self.unit() * (high.ln() - low.ln())).exp() as i64
    }
}

/// A project of the demo with its people.
struct DemoProject {
    accounting: &'static str,
    name: &'static str,
    description: &'static str,
    sub_projects: &'static [&'static str],
    group: &'static str,
    members: &'static [&'static str],
}

const PROJECTS: &[DemoProject] = &[
    DemoProject {
        accounting: "DEMO-ASTRO-01",
        name: "Galaxy formation simulations",
        description: "N-body and hydrodynamics runs of galaxy formation.",
        sub_projects: &["astro-nbody", "astro-hydro", "astro-postproc"],
        group: "astro-team",
        members: &["alice", "bob", "carol"],
    },
    DemoProject {
        accounting: "DEMO-BIO-02",
        name: "Protein folding and genomics",
        description: "Molecular dynamics and sequencing pipelines.",
        sub_projects: &["bio-md", "bio-sequencing"],
        group: "bio-team",
        members: &["dave", "erin", "frank"],
    },
];

/// A node type of the demo and its formula.
struct DemoNodeType {
    cluster: usize,
    name: &'static str,
    queue: &'static str,
    cores: i32,
    gpus: i32,
    nodes: i32,
    max_walltime_hours: i64,
    formula: &'static str,
    unit: &'static str,
}

const CLUSTERS: &[(&str, &str)] = &[
    ("demo-karolina", "Demo CPU/GPU cluster (Slurm)"),
    ("demo-barbora", "Demo CPU/fat-node cluster (Slurm)"),
];

const NODE_TYPES: &[DemoNodeType] = &[
    DemoNodeType {
        cluster: 0,
        name: "karolina-cpu",
        queue: "qcpu",
        cores: 128,
        gpus: 0,
        nodes: 720,
        max_walltime_hours: 48,
        formula: "NumNodes * RunTime",
        unit: "node_hour",
    },
    DemoNodeType {
        cluster: 0,
        name: "karolina-gpu",
        queue: "qgpu",
        cores: 128,
        gpus: 8,
        nodes: 72,
        max_walltime_hours: 48,
        formula: "gres_gpu * RunTime",
        unit: "gpu_hour",
    },
    DemoNodeType {
        cluster: 1,
        name: "barbora-cpu",
        queue: "qcpu",
        cores: 36,
        gpus: 0,
        nodes: 192,
        max_walltime_hours: 48,
        formula: "cpu * RunTime",
        unit: "core_hour",
    },
    DemoNodeType {
        cluster: 1,
        name: "barbora-fat",
        queue: "qfat",
        cores: 128,
        gpus: 0,
        nodes: 1,
        max_walltime_hours: 24,
        formula: "NumNodes * RunTime",
        unit: "node_hour",
    },
];

/// The formula that replaces the first node type's from day
/// [`FORMULA_CHANGE_DAY`]: node-hours at a reduced rate.
const REPLACEMENT_FORMULA: &str = "NumNodes * RunTime * 0.8";

/// Whether the database holds no project (the demo loads only then).
///
/// # Errors
/// A database error.
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, Error> {
    Ok(projects::Entity::find().count(db).await? == 0)
}

/// The instant the demo data ends: 2026-11-01 00:00 UTC.
pub const END_EPOCH_SECONDS: i64 = 1_793_491_200;

/// The instant the demo data ends.
#[must_use]
pub fn end() -> DateTime<Utc> {
    DateTime::from_timestamp(END_EPOCH_SECONDS, 0).unwrap_or_default()
}

/// Loads the demo data set, `scale` times its size, into an empty database,
/// publishing each batch's usage on `bus` as any ingestion does: one event
/// per project, source, resource, unit and day that the batch changed.
///
/// # Errors
/// [`Error::Conflict`] when the database already holds projects; any batch a
/// service rejects (a bug in the demo) as [`Error::Unprocessable`] with the
/// service's report; database errors.
pub async fn load(db: &DatabaseConnection, bus: &EventBus, scale: u32) -> Result<Summary, Error> {
    if !is_empty(db).await? {
        return Err(Error::Conflict(
            "the database already holds projects; the demo loads only into an empty database"
                .to_owned(),
        ));
    }
    let scale = scale.max(1);
    let n = usize::try_from(scale).unwrap_or(1);
    let now = end();
    let this_hour = now
        .duration_trunc(Duration::hours(1))
        .map_err(|e| Error::internal(&e))?;
    let today = Utc.from_utc_datetime(&now.date_naive().and_time(NaiveTime::MIN));
    let period_start = today - Duration::days(JOB_DAYS);
    let mut summary = Summary {
        scale,
        from: period_start.date_naive(),
        to: now.date_naive(),
        ..Summary::default()
    };
    let mut rng = Rng(0x7A11_7D3E_0000_0001);

    let started = Instant::now();
    let world = dimensions(db, period_start, &mut summary).await?;
    summary.timings.push(("dimensions", started.elapsed()));

    let started = Instant::now();
    load_jobs(db, bus, period_start, now, n, &mut rng, &mut summary).await?;
    summary.timings.push(("hpc", started.elapsed()));

    let started = Instant::now();
    load_cloud(db, bus, now, n, &mut rng, &mut summary).await?;
    summary.timings.push(("cloud", started.elapsed()));

    let started = Instant::now();
    load_eosc(db, bus, &world, today, n, &mut rng, &mut summary).await?;
    summary.timings.push(("eosc", started.elapsed()));

    let started = Instant::now();
    load_storage(db, bus, this_hour, n, &mut rng, &mut summary).await?;
    summary.timings.push(("storage", started.elapsed()));
    Ok(summary)
}

/// The ids the fact generators need.
struct World {
    installation_id: i64,
    definitions: Vec<(i64, &'static str)>,
}

/// A random password: 24 URL-safe characters.
///
/// # Errors
/// The system's random source fails.
pub fn random_password() -> Result<String, Error> {
    use base64::Engine as _;
    let mut bytes = [0_u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(&e))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Projects, people, clusters, formulas, the cloud VOs and the EOSC provider,
/// in one transaction.
async fn dimensions(
    db: &DatabaseConnection,
    period_start: DateTime<Utc>,
    summary: &mut Summary,
) -> Result<World, Error> {
    let txn = db.begin().await?;
    let mut project_ids = Vec::new();
    for (index, demo) in PROJECTS.iter().enumerate() {
        let project = projects::ActiveModel {
            accounting_string: Set(demo.accounting.to_owned()),
            name: Set(demo.name.to_owned()),
            description: Set(Some(demo.description.to_owned())),
            start_date: Set(Some((period_start - Duration::days(365)).date_naive())),
            end_date: Set(Some((period_start + Duration::days(3 * 365)).date_naive())),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        project_ids.push(project.id);
        summary.projects += 1;
        for identifier in demo.sub_projects {
            sub_projects::ActiveModel {
                project_id: Set(project.id),
                identifier: Set((*identifier).to_owned()),
                description: Set(Some(format!("{identifier} of {}", demo.accounting))),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            summary.sub_projects += 1;
        }
        let group = user_groups::ActiveModel {
            project_id: Set(Some(project.id)),
            name: Set(demo.group.to_owned()),
            description: Set(Some(format!("Members of {}", demo.name))),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        summary.groups += 1;
        for (position, member) in demo.members.iter().enumerate() {
            // Nobody knows these passwords: the demo users are submitters and
            // owners in the data; log in as `demo-admin` (or set one with
            // `tally user passwd`).
            users::add(
                &txn,
                member,
                Some(&format!("{member}@demo.example")),
                &random_password()?,
                false,
            )
            .await?;
            summary.users += 1;
            let role = if position == 0 {
                "heappe_group_reporter"
            } else {
                "heappe_submitter"
            };
            users::grant(&txn, member, role, Scope::UserGroup(group.id)).await?;
            if position == 0 {
                users::grant(
                    &txn,
                    member,
                    "eosc_project_admin",
                    Scope::Project(project.id),
                )
                .await?;
            }
        }
        // The cloud VO whose usage counts for this project.
        vos::ActiveModel {
            name: Set(if index == 0 { "ops" } else { "biomed" }.to_owned()),
            project_id: Set(Some(project.id)),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    users::add(&txn, "demo-collector", None, &random_password()?, false).await?;
    users::grant(&txn, "demo-collector", "collector", Scope::System).await?;
    summary.users += 1;

    let mut cluster_ids = Vec::new();
    for (name, description) in CLUSTERS {
        let cluster = clusters::ActiveModel {
            name: Set((*name).to_owned()),
            description: Set(Some((*description).to_owned())),
            scheduler: Set(Some("slurm".to_owned())),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        for project_id in &project_ids {
            cluster_projects::ActiveModel {
                cluster_id: Set(cluster.id),
                project_id: Set(*project_id),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        cluster_ids.push(cluster.id);
        summary.clusters += 1;
    }
    let aggregation_from = period_start - Duration::days(365);
    let change = period_start + Duration::days(FORMULA_CHANGE_DAY);
    for (index, node_type) in NODE_TYPES.iter().enumerate() {
        let aggregation = node_type_aggregations::ActiveModel {
            name: Set(node_type.name.to_owned()),
            description: Set(Some(format!("Accounting of {}", node_type.name))),
            allocation_type: Set(Some(node_type.unit.to_owned())),
            validity_from: Set(aggregation_from),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let cluster_id = cluster_ids
            .get(node_type.cluster)
            .copied()
            .ok_or_else(|| Error::internal(&"demo node type without a cluster"))?;
        node_types::ActiveModel {
            cluster_id: Set(cluster_id),
            aggregation_id: Set(Some(aggregation.id)),
            name: Set(node_type.name.to_owned()),
            description: Set(Some(format!(
                "{} cores{} per node",
                node_type.cores,
                if node_type.gpus > 0 {
                    format!(", {} GPUs", node_type.gpus)
                } else {
                    String::new()
                }
            ))),
            queue: Set(node_type.queue.to_owned()),
            cores_per_node: Set(node_type.cores),
            node_count: Set(Some(node_type.nodes)),
            max_walltime_seconds: Set(Some(node_type.max_walltime_hours * 3600)),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        summary.node_types += 1;
        let replaced = index == 0;
        let first = formulas::create(
            &txn,
            aggregation.id,
            NewFormula {
                expression: node_type.formula.to_owned(),
                unit: node_type.unit.to_owned(),
                validity_from: aggregation_from,
                // Both bounds are inclusive; at the instant both are valid,
                // the newer version wins.
                validity_to: replaced.then_some(change),
                supersedes: None,
            },
            None,
        )
        .await?;
        summary.formulas += 1;
        if replaced {
            formulas::create(
                &txn,
                aggregation.id,
                NewFormula {
                    expression: REPLACEMENT_FORMULA.to_owned(),
                    unit: node_type.unit.to_owned(),
                    validity_from: change,
                    validity_to: None,
                    supersedes: Some(first.id),
                },
                None,
            )
            .await?;
            summary.formulas += 1;
        }
    }

    // EOSC: a provider serving the second project, one installation, two
    // metric definitions.
    let eosc_project = project_ids
        .last()
        .copied()
        .ok_or_else(|| Error::internal(&"demo without projects"))?;
    // Its EOSC identity: `/accounting-system/projects/DEMO-BIO-02`.
    let demo = &PROJECTS[PROJECTS.len() - 1];
    projects::ActiveModel {
        id: Set(eosc_project),
        eosc_id: Set(Some(demo.accounting.to_owned())),
        acronym: Set(Some("DEMO-BIO".to_owned())),
        title: Set(Some(demo.name.to_owned())),
        call_identifier: Set(Some("DEMO-CALL-2026".to_owned())),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    let provider = providers::ActiveModel {
        external_id: Set("demo-provider".to_owned()),
        name: Set("Demo Research Infrastructure".to_owned()),
        abbreviation: Set(Some("DRI".to_owned())),
        website: Set(Some("https://demo.example".to_owned())),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    project_providers::ActiveModel {
        project_id: Set(eosc_project),
        provider_id: Set(provider.id),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let installation = installations::ActiveModel {
        project_id: Set(eosc_project),
        provider_id: Set(provider.id),
        installation: Set("DEMO-DATA-PORTAL".to_owned()),
        infrastructure: Set(Some("demo".to_owned())),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let aggregated = metric_types::Entity::find_by_name("aggregated")
        .one(&txn)
        .await?
        .ok_or_else(|| Error::internal(&"metric type `aggregated` is missing"))?;
    let mut definitions = Vec::new();
    for (name, unit) in [("storage", "TB"), ("requests", "#")] {
        let unit = unit_types::Entity::find_by_name(unit)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::internal(&format!("unit type {unit:?} is missing")))?;
        let definition = metric_definitions::ActiveModel {
            name: Set(name.to_owned()),
            description: Set(Some(format!("Demo metric: {name}"))),
            unit_type_id: Set(unit.id),
            metric_type_id: Set(aggregated.id),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        definitions.push((definition.id, name));
    }
    txn.commit().await?;
    Ok(World {
        installation_id: installation.id,
        definitions,
    })
}

/// The tables each part fills.
const HPC_TABLES: &[&str] = &[
    "jobs",
    "tasks",
    "task_parameters",
    "hpc_usage_daily",
    "usage_daily",
    "usage_hourly",
];
const CLOUD_TABLES: &[&str] = &[
    "cloud_records",
    "cloud_vm_days",
    "cloud_summaries_daily",
    "usage_daily",
    "usage_hourly",
];
const EOSC_TABLES: &[&str] = &["metrics", "eosc_metric_daily"];
const STORAGE_TABLES: &[&str] = &[
    "buckets",
    "bucket_usage_hourly",
    "bucket_usage_daily",
    "bucket_usage_monthly",
    "usage_daily",
    "usage_hourly",
];

/// Keeps PostgreSQL's planner statistics current while a part fills its
/// tables: `ANALYZE` after the 1st, 2nd, 4th, 8th, … batch.
///
/// A bulk load into empty tables outruns autovacuum (or runs where it is
/// off), and a statement prepared while a table was empty keeps a plan made
/// for an empty table — a sequential scan — until its statistics change: the
/// lookup of stored jobs then reads the whole table on every batch, and a
/// million tasks take hours. (SQLite's planner does not cache plans that
/// way.)
struct Statistics {
    tables: &'static [&'static str],
    batches: usize,
}

impl Statistics {
    fn new(tables: &'static [&'static str]) -> Self {
        Self { tables, batches: 0 }
    }

    async fn after_batch(&mut self, db: &DatabaseConnection) -> Result<(), Error> {
        self.batches += 1;
        if self.batches.is_power_of_two() && db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!("ANALYZE {}", self.tables.join(", ")))
                .await?;
        }
        Ok(())
    }
}

/// How many times the scale-1 volume of the sources that grow with a tenth
/// of the scale (buckets, EOSC users): ⌈`n` / 10⌉.
fn tenth(n: usize) -> usize {
    n.div_ceil(10).max(1)
}

/// Fails loudly when a service rejected demo data.
fn accepted(what: &str, report: &Report) -> Result<(), Error> {
    if report.accepted() {
        Ok(())
    } else {
        let shown: Vec<String> = report
            .rejected
            .iter()
            .take(5)
            .map(|r| format!("#{} {} ({:?}): {}", r.index, r.key, r.kind, r.reason))
            .collect();
        Err(Error::Unprocessable(format!(
            "demo {what} rejected ({} records): {}",
            report.rejected.len(),
            shown.join("; ")
        )))
    }
}

/// `RunTime` as Slurm prints it: `[D-]HH:MM:SS`.
fn slurm_duration(seconds: i64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

/// A job's size and fate, before it is cut into tasks.
struct JobShape {
    node_type: &'static DemoNodeType,
    nodes: i32,
    tasks: usize,
    state: &'static str,
    submit: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
    runtime: i64,
}

fn job_shape(
    rng: &mut Rng,
    cluster: usize,
    period_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> JobShape {
    let candidates: Vec<&'static DemoNodeType> =
        NODE_TYPES.iter().filter(|t| t.cluster == cluster).collect();
    // Mostly the CPU queue; the special queue a fifth of the time.
    let node_type = if rng.unit() < 0.8 {
        candidates.first()
    } else {
        candidates.last()
    }
    .copied()
    .unwrap_or(&NODE_TYPES[0]);
    let nodes = match rng.unit() {
        x if x < 0.55 => 1,
        x if x < 0.8 => 2,
        x if x < 0.92 => 4,
        x if x < 0.98 => 8,
        _ => 16,
    }
    .min(node_type.nodes);
    let tasks = 1 + rng.index(4);
    let max = node_type.max_walltime_hours * 3600;
    let runtime = rng.log_uniform(300.0, max as f64).clamp(60, max);
    let fate = rng.unit();
    let period = (now - period_start).num_seconds() - 2 * 86_400;
    if fate < 0.04 {
        // Running now: started within the last day and a half.
        let start = now - Duration::seconds(rng.range(600, 36 * 3600));
        return JobShape {
            node_type,
            nodes,
            tasks,
            state: "Running",
            submit: start - Duration::seconds(rng.range(30, 4 * 3600)),
            start: Some(start),
            // So far: what the scheduler reports as RunTime.
            runtime: (now - start).num_seconds(),
        };
    }
    let submit = period_start + Duration::seconds(rng.range(0, period));
    let start = submit + Duration::seconds(rng.log_uniform(10.0, 8.0 * 3600.0));
    let (state, start, runtime) = match fate {
        x if x < 0.86 => ("Finished", Some(start), runtime),
        x if x < 0.94 => ("Failed", Some(start), (runtime / 7).max(30)),
        x if x < 0.97 => ("Canceled", Some(start), (runtime / 3).max(30)),
        _ => ("Canceled", None, 0),
    };
    JobShape {
        node_type,
        nodes,
        tasks,
        state,
        submit,
        start,
        runtime,
    }
}

/// The job `number` of `cluster`, with its tasks.
fn job_input(rng: &mut Rng, number: usize, shape: &JobShape) -> JobInput {
    let project = &PROJECTS[rng.index(PROJECTS.len())];
    let submitter = project.members[rng.index(project.members.len())];
    let sub_project = project.sub_projects[rng.index(project.sub_projects.len())];
    let node_type = shape.node_type;
    let part = (shape.runtime / i64::try_from(shape.tasks).unwrap_or(1)).max(1);
    let mut tasks = Vec::with_capacity(shape.tasks);
    let mut end = None;
    for ordinal in 0..shape.tasks {
        let offset = part * i64::try_from(ordinal).unwrap_or(0);
        let last = ordinal + 1 == shape.tasks;
        let (state, start, task_end) = match (shape.state, shape.start) {
            (_, None) => ("Canceled", None, None),
            ("Running", Some(start)) => {
                // The first task runs; the others wait their turn.
                if ordinal == 0 {
                    ("Running", Some(start), None)
                } else {
                    ("Queued", None, None)
                }
            }
            (state, Some(start)) => {
                let task_start = start + Duration::seconds(offset);
                let task_end = task_start + Duration::seconds(part);
                // Only the last task of a failed or canceled job shares its
                // fate; the ones before it finished.
                let task_state = if last { state } else { "Finished" };
                (task_state, Some(task_start), Some(task_end))
            }
        };
        if task_end.is_some() {
            end = task_end;
        }
        let cores = shape.nodes * node_type.cores;
        let mut parameters = BTreeMap::new();
        parameters.insert("NumNodes".to_owned(), shape.nodes.to_string());
        parameters.insert("NumCPUs".to_owned(), cores.to_string());
        parameters.insert("cpu".to_owned(), cores.to_string());
        parameters.insert(
            "TimeLimit".to_owned(),
            slurm_duration(node_type.max_walltime_hours * 3600),
        );
        let run_seconds = match (start, task_end) {
            (Some(start), Some(end)) => Some((end - start).num_seconds()),
            // A running task: its time so far.
            (Some(_), None) => Some(shape.runtime),
            _ => None,
        };
        if let Some(seconds) = run_seconds {
            parameters.insert("RunTime".to_owned(), slurm_duration(seconds));
        }
        if node_type.gpus > 0 {
            parameters.insert(
                "gres_gpu".to_owned(),
                (shape.nodes * node_type.gpus).to_string(),
            );
        }
        tasks.push(TaskInput {
            ordinal: i32::try_from(ordinal).unwrap_or(0),
            name: Some(format!("{sub_project}-step{ordinal}")),
            state: StateInput::Name(state.to_owned()),
            node_type: node_type.name.to_owned(),
            scheduler_job_id: Some(format!("{number}.{ordinal}")),
            start_time: start,
            end_time: task_end,
            allocated_cores: Some(cores),
            allocated_nodes: Some(shape.nodes),
            allocated_gpus: (node_type.gpus > 0).then_some(shape.nodes * node_type.gpus),
            allocated_seconds: Some(node_type.max_walltime_hours * 3600),
            parameters,
        });
    }
    let job_end = if shape.state == "Running" { None } else { end };
    JobInput {
        scheduler_job_id: number.to_string(),
        submit_time: shape.submit,
        name: format!("{sub_project}-{number}"),
        state: StateInput::Name(shape.state.to_owned()),
        project: project.accounting.to_owned(),
        sub_project: Some(sub_project.to_owned()),
        submitter: Some(submitter.to_owned()),
        account: Some(project.accounting.to_lowercase()),
        creation_time: Some(shape.submit),
        start_time: shape.start,
        end_time: job_end,
        tasks,
    }
}

async fn load_jobs(
    db: &DatabaseConnection,
    bus: &EventBus,
    period_start: DateTime<Utc>,
    now: DateTime<Utc>,
    n: usize,
    rng: &mut Rng,
    summary: &mut Summary,
) -> Result<(), Error> {
    let mut hpc_statistics = Statistics::new(HPC_TABLES);
    for (cluster, (name, _)) in CLUSTERS.iter().enumerate() {
        let total = JOBS * n / CLUSTERS.len();
        let mut number = 0;
        while number < total {
            let mut batch = JobBatch {
                cluster: (*name).to_owned(),
                jobs: Vec::with_capacity(JOBS_PER_BATCH),
                correction: false,
            };
            while number < total && batch.jobs.len() < JOBS_PER_BATCH {
                let shape = job_shape(rng, cluster, period_start, now);
                // Scheduler ids grow from a plausible base.
                batch.jobs.push(job_input(rng, 4_100_000 + number, &shape));
                number += 1;
            }
            let tasks: usize = batch.jobs.iter().map(|j| j.tasks.len()).sum();
            bus.write(db.begin().await?, async |txn| {
                let report = jobs::ingest(txn, &ProjectScope::All, &batch).await?;
                accepted("HPC jobs", &report).map(Decision::Commit)
            })
            .await?;
            hpc_statistics.after_batch(db).await?;
            summary.jobs += batch.jobs.len();
            summary.tasks += tasks;
        }
    }
    Ok(())
}

/// APEL snapshots of VMs over the last [`CLOUD_DAYS`] days: every VM reports
/// twice a day, cumulatively, until it stops (or up to now).
async fn load_cloud(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    n: usize,
    rng: &mut Rng,
    summary: &mut Summary,
) -> Result<(), Error> {
    let mut cloud_statistics = Statistics::new(CLOUD_TABLES);
    const IMAGES: &[&str] = &["ubuntu-24.04", "rocky-9", "jupyter-gpu"];
    let horizon = now - Duration::hours(1);
    let first = now - Duration::days(CLOUD_DAYS);
    let mut records: Vec<(DateTime<Utc>, String)> = Vec::new();
    for vm in 0..VMS * n {
        let vo = if rng.unit() < 0.6 { "ops" } else { "biomed" };
        let start = first + Duration::seconds(rng.range(0, (CLOUD_DAYS - 2) * 86_400));
        let lifetime = Duration::seconds(rng.range(86_400, CLOUD_DAYS * 86_400));
        let stop = start + lifetime;
        let cpus = [1, 2, 4, 8][rng.index(4)];
        let memory = cpus * 4096;
        let utilisation = 0.2 + 0.75 * rng.unit();
        let image = IMAGES[rng.index(IMAGES.len())];
        let user = format!("/C=XX/O=Tally Demo/CN=cloud-user-{}", vm % 7);
        let mut at = start + Duration::hours(12);
        loop {
            let completed = at >= stop;
            let at_time = if completed { stop } else { at };
            if at_time > horizon {
                break;
            }
            let wall = (at_time - start).num_seconds();
            let cpu = (wall as f64 * f64::from(cpus) * utilisation) as i64;
            let (status, end) = if completed {
                ("completed", format!("EndTime: {}\n", at_time.timestamp()))
            } else {
                ("started", String::new())
            };
            records.push((
                at_time,
                format!(
                    "VMUUID: demo-vm-{vm:06}\nSiteName: {SITE}\nCloudComputeService: demo-openstack\n\
                     MachineName: demo-vm-{vm}\nLocalUserId: u{}\nGlobalUserName: {user}\n\
                     FQAN: /{vo}/Role=NULL/Capability=NULL\nStatus: {status}\n\
                     StartTime: {}\n{end}SuspendDuration: 0\nWallDuration: {wall}\n\
                     CpuDuration: {cpu}\nCpuCount: {cpus}\nMemory: {memory}\nDisk: 40\n\
                     ImageId: {image}\nCloudType: OpenStack\n",
                    vm % 7,
                    start.timestamp()
                ),
            ));
            if completed {
                break;
            }
            at += Duration::hours(12);
        }
        summary.vms += 1;
    }
    // Published as a site publishes: in time order, a message at a time.
    records.sort_by_key(|(at, _)| *at);
    for chunk in records.chunks(RECORDS_PER_MESSAGE) {
        let body = format!(
            "APEL-cloud-message: v0.4\n{}",
            chunk
                .iter()
                .map(|(_, r)| format!("{r}%%\n"))
                .collect::<String>()
        );
        bus.write(db.begin().await?, async |txn| {
            cloud_records::load_message(txn, &body, PUBLISHER_DN, None, Some("demo"))
                .await
                .map(Decision::Commit)
                .map_err(|e| Error::Unprocessable(format!("demo APEL message rejected: {e}")))
        })
        .await?;
        cloud_statistics.after_batch(db).await?;
        summary.cloud_records += chunk.len();
    }
    Ok(())
}

/// Daily EOSC metrics of the installation for the last [`EOSC_DAYS`] days:
/// one per definition, day and EOSC user.
async fn load_eosc(
    db: &DatabaseConnection,
    bus: &EventBus,
    world: &World,
    today: DateTime<Utc>,
    n: usize,
    rng: &mut Rng,
    summary: &mut Summary,
) -> Result<(), Error> {
    let mut eosc_statistics = Statistics::new(EOSC_TABLES);
    let mut inputs = Vec::new();
    for user in 0..tenth(n) {
        for (definition_id, name) in &world.definitions {
            let mut stored_tb = 2.0 + 10.0 * rng.unit();
            for day in (1..=EOSC_DAYS).rev() {
                let start = today - Duration::days(day);
                let end = start + Duration::days(1);
                let value = if *name == "storage" {
                    stored_tb += 0.05 * rng.unit();
                    (stored_tb * 1000.0).round() / 1000.0
                } else {
                    rng.range(50, 5000) as f64
                };
                inputs.push(MetricInput {
                    metric_definition_id: eosc::external_id(*definition_id),
                    time_period_start: Some(start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    time_period_end: Some(end.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    value: Some(json!(value)),
                    user_id: Some(format!("demo-user-{user}@eosc.example")),
                    group_id: Some("demo-group".to_owned()),
                });
            }
        }
    }
    for chunk in inputs.chunks(METRICS_PER_BATCH) {
        let batch: Vec<NewMetric<'_>> = chunk
            .iter()
            .map(|input| NewMetric {
                input,
                idempotency_key: None,
            })
            .collect();
        bus.write(db.begin().await?, async |txn| {
            let added = eosc::add_metrics(
                txn,
                &ProjectScope::All,
                world.installation_id,
                Some("demo"),
                &batch,
            )
            .await?;
            accepted("EOSC metrics", &added.report).map(Decision::Commit)
        })
        .await?;
        eosc_statistics.after_batch(db).await?;
        summary.metrics += chunk.len();
    }
    Ok(())
}

/// Hourly samples of the buckets for the last [`STORAGE_DAYS`] days, ending
/// with the last whole hour.
async fn load_storage(
    db: &DatabaseConnection,
    bus: &EventBus,
    this_hour: DateTime<Utc>,
    n: usize,
    rng: &mut Rng,
    summary: &mut Summary,
) -> Result<(), Error> {
    let mut storage_statistics = Statistics::new(STORAGE_TABLES);
    const KINDS: &[(&str, &str, i64)] = &[
        ("raw-data", "STANDARD", 40_000_000_000_000),
        ("results", "STANDARD", 2_000_000_000_000),
        ("archive", "COLD", 120_000_000_000_000),
    ];
    let hours = STORAGE_DAYS * 24;
    let first = this_hour - Duration::hours(hours);
    let mut samples = Vec::new();
    let count = BUCKETS * tenth(n);
    for index in 0..count {
        let (kind, class, base) = KINDS[index % KINDS.len()];
        let project = &PROJECTS[index % PROJECTS.len()];
        let owner = project.members[index % project.members.len()];
        let bucket = if count == BUCKETS {
            format!("demo-{kind}")
        } else {
            format!("demo-{kind}-{index:05}")
        };
        let mut stored = base / 2 + rng.range(0, base / 2);
        for hour in 0..hours {
            let writes = rng.range(0, 400);
            let deletes = rng.range(0, writes / 3 + 1);
            let object_size = rng.range(1_000_000, 500_000_000);
            let bytes_written = writes * object_size;
            let bytes_deleted = (deletes * object_size).min(stored);
            stored += bytes_written - bytes_deleted;
            samples.push(storage::Sample {
                bucket: bucket.clone(),
                owner: Some(owner.to_owned()),
                storage_class: Some(class.to_owned()),
                project: Some(project.accounting.to_owned()),
                hour: first + Duration::hours(hour),
                byte_hours: None,
                bytes_stored: Some(stored),
                object_delta: writes - deletes,
                writes,
                deletes,
                bytes_written,
                bytes_deleted,
            });
        }
        summary.buckets += 1;
    }
    for chunk in samples.chunks(SAMPLES_PER_BATCH) {
        bus.write(db.begin().await?, async |txn| {
            let report = storage::ingest(txn, &ProjectScope::All, chunk, false).await?;
            accepted("storage samples", &report).map(Decision::Commit)
        })
        .await?;
        storage_statistics.after_batch(db).await?;
        summary.storage_samples += chunk.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..1000 {
            assert_eq!(a.next(), b.next());
            let x = a.range(-5, 5);
            assert!((-5..5).contains(&x));
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            let s = a.log_uniform(300.0, 3600.0);
            assert!((299..=3600).contains(&s));
            b.range(-5, 5);
            b.unit();
            b.log_uniform(300.0, 3600.0);
        }
    }

    #[test]
    fn durations_print_as_slurm_does() {
        assert_eq!(slurm_duration(59), "00:00:59");
        assert_eq!(slurm_duration(5400), "01:30:00");
        assert_eq!(slurm_duration(86_400 + 3661), "1-01:01:01");
    }
}
