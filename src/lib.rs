//! Tally: one accounting service for research computing.
//!
//! Where a reader starts:
//!
//! - **Operators**: [`config`] lists every `TALLY_*` variable; [`cli`] the
//!   subcommands; [`app`] how the server starts, what `/healthz` and `/readyz`
//!   mean, and how it stops.
//! - **Dashboard developers**: [`graphql`] is the API; `schema.graphql` at the
//!   repository root is its SDL; [`playground`] serves GraphiQL at `/playground`.
//! - **Contributors**: data flows one way (DESIGN §4): HTTP (`graphql`, later
//!   `rest`) → `service` → [`entity`] → database, with pure rules in `domain`.
//!   [`error`] holds the one error type and its policy; [`db`] connects and
//!   migrates; the migrations live in the `migration` crate (`migrations/`).
//!   [`request_limits`] applies the body size and time limits in front of
//!   every route; [`tls`] serves HTTPS; [`shutdown`] closes WebSockets when
//!   the server stops. `docs/architecture.md` draws the layers and the data
//!   model.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod playground;
pub mod request_limits;
pub mod rest;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use app::{AppState, Application};
pub use config::Config;
pub use error::Error;
