//! Use cases, called by GraphQL resolvers, REST adapters and the CLI alike.
//! Services take a connection (or a transaction) and, where they read tenant
//! data, the caller's [`ProjectScope`](crate::auth::ProjectScope), which they
//! apply inside their queries.

pub mod batch;
mod bulk;
pub mod catalogue;
pub mod cloud;
pub mod cloud_records;
mod cloud_summaries;
pub mod demo;
pub mod eosc;
pub mod eosc_catalogue;
pub mod eosc_metrics;
pub mod eosc_projects;
pub mod events;
pub mod formulas;
pub mod hpc;
pub mod import;
pub mod ingest;
pub mod jobs;
pub(crate) mod page;
pub mod projects;
pub(crate) mod read;
pub mod recompute;
pub mod report;
pub mod rollup;
pub mod storage;
pub mod usage;
pub mod users;
