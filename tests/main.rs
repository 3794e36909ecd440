//! Tally's one integration test binary.
//!
//! Every test gets a fresh database: a SQLite file by default, or a database of
//! its own on the PostgreSQL server named by `TALLY_TEST_DATABASE_URL` (created
//! for the test and dropped afterwards). HTTP tests start the application on a
//! random port and talk to it over HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    reason = "test code: a failed unwrap is a failed test"
)]

mod helpers;

mod hpc;

mod apel;
mod auth;
mod config;
mod demo;
mod dn;
mod entities;
mod eosc;
mod eosc_rest_catalogue;
mod eosc_rest_metrics;
mod eosc_rest_projects;
mod graphql;
mod graphql_access;
mod graphql_lists;
mod graphql_node;
mod heappe;
mod heappe_management;
mod http;
mod idempotency;
mod import;
mod limits;
mod migrations;
mod mutations;
mod playground;
mod recompute;
mod report;
mod request_limits;
mod schema;
mod storage;
mod subscriptions;
mod wire;
