//! The `tally` command line.

use clap::{Parser, Subcommand};

/// Tally: the accounting of research computing.
///
/// Records HPC jobs, cloud VM usage, EOSC service metrics and object-storage
/// usage in one model, and serves them through GraphQL and through REST routes
/// compatible with HEAppE, the EOSC Accounting System, APEL and HCP.
///
/// Configuration comes from `TALLY_*` environment variables (and a `.env` file
/// in the working directory, if present); see the README for the full table.
/// With `TALLY_DATABASE_URL` unset, Tally uses the SQLite file `tally.db` in the
/// working directory.
#[derive(Debug, Parser)]
#[command(name = "tally", version)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP on TALLY_BIND (the default).
    ///
    /// Serves `/graphql`, `/healthz` (the process is alive) and `/readyz` (the
    /// database answers, else 503). Stops on SIGINT/SIGTERM after in-flight
    /// requests finish (at most TALLY_SHUTDOWN_GRACE_SECS).
    Serve,
    /// Apply pending migrations to TALLY_DATABASE_URL and exit.
    Migrate,
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
}
