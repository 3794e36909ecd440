//! The `tally` binary: a thin shim over the library.

use std::process::ExitCode;

use clap::Parser as _;
use tally::cli::{self, Cli, Command};
use tally::{Config, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A `.env` file is optional; real environment variables take precedence.
    let _dotenv = dotenvy::dotenv();
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    if let Command::Schema = command {
        print!("{}", tally::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tally: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log_filter, config.log_format);
    match cli::run(command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("tally: {message}");
            ExitCode::FAILURE
        }
    }
}
