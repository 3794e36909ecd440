//! The `tally` binary: a thin shim over the library.

use std::process::ExitCode;

use clap::Parser as _;
use tally::cli::{Cli, Command};
use tally::{Application, Config, app, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A `.env` file is optional; real environment variables take precedence.
    let _dotenv = dotenvy::dotenv();
    if let Some(Command::Schema) = cli.command {
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
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Schema => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("tally: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let application = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    application
        .run_until(app::shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

async fn migrate(config: &Config) -> Result<(), String> {
    app::open_database(config)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("migrations applied");
    Ok(())
}
