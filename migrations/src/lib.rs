//! Tally's database migrations.
//!
//! The same migrations run on PostgreSQL (production) and SQLite (the embedded
//! default). They are written with SeaQuery builders; the few `CHECK` expressions
//! are plain SQL that both backends accept. A migration is never edited after it
//! has landed on `main`: a change to the model is a new migration.
//!
//! The model is described, with an ER diagram, in `docs/architecture.md`. The
//! initial model is split by domain so that each file reads on its own:
//!
//! | migration | tables |
//! |---|---|
//! | `m20261125_000001_tenancy` | projects, sub-projects, user groups, users, roles, grants, session codes, audit log, server secrets |
//! | `m20261125_000002_hpc` | clusters, node types, aggregations, formulas, command templates, jobs, tasks, accounting runs |
//! | `m20261125_000003_cloud` | APEL sites, services, VOs, publishers, messages, cloud records, daily summaries |
//! | `m20261125_000004_eosc` | providers, unit/metric types, metric definitions, installations, metrics, clients |
//! | `m20261125_000005_storage` | buckets and their hourly, daily and monthly usage |
//! | `m20261125_000006_rollups` | HPC and EOSC rollups and the cross-source usage tables |
//! | `m20261125_000007_ingestion` | idempotency keys of the batch endpoints; the `collector` role |
//! | `m20261204_000001_page_indexes` | indexes for pages of jobs per project and per node type |
//! | `m20261205_000001_distributable` | keys Citus can distribute: `project_id` in the keys of sharded tables, sequences instead of identities |
//! | `m20261205_000002_heappe` | `hpc_job_usage` (HPC usage by the days its job started and ended: HEAppE's whole-jobs-inside reports from a rollup); `formulas.deleted_at` |
//! | `m20261205_000003_hpc_job_months` | `hpc_job_usage_monthly` (the same by the UTC months its job started and ended: a report over whole months reads a number of rows independent of the jobs) |
//! | `m20261205_000004_eosc_metric_indexes` | indexes for pages of EOSC metrics per installation, project, group and user, in id order |
//!
//! [`citus::distribute`] runs after them on a Citus coordinator (`docs/scaling.md`).

pub use sea_orm_migration::prelude::*;

pub mod citus;

mod m20261125_000001_tenancy;
mod m20261125_000002_hpc;
mod m20261125_000003_cloud;
mod m20261125_000004_eosc;
mod m20261125_000005_storage;
mod m20261125_000006_rollups;
mod m20261125_000007_ingestion;
mod m20261204_000001_page_indexes;
mod m20261205_000001_distributable;
mod m20261205_000002_heappe;
mod m20261205_000003_hpc_job_months;
mod m20261205_000004_eosc_metric_indexes;
mod util;

/// Every migration, in the order it is applied.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_tenancy::Migration),
            Box::new(m20261125_000002_hpc::Migration),
            Box::new(m20261125_000003_cloud::Migration),
            Box::new(m20261125_000004_eosc::Migration),
            Box::new(m20261125_000005_storage::Migration),
            Box::new(m20261125_000006_rollups::Migration),
            Box::new(m20261125_000007_ingestion::Migration),
            Box::new(m20261204_000001_page_indexes::Migration),
            Box::new(m20261205_000001_distributable::Migration),
            Box::new(m20261205_000002_heappe::Migration),
            Box::new(m20261205_000003_hpc_job_months::Migration),
            Box::new(m20261205_000004_eosc_metric_indexes::Migration),
        ]
    }
}
