//! Configuration: every `TALLY_*` environment variable, documented once.
//!
//! [`SETTINGS`] is the single list of variables with their defaults and meaning;
//! the README's table is checked against it by a test, and `tally --help` points
//! to it. [`Config::from_lookup`] parses them with context: an invalid value stops
//! Tally at start with a message that names the variable.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

/// One configuration variable: its name, its default and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable, e.g. `TALLY_BIND`.
    pub name: &'static str,
    /// The value used when the variable is unset (`None`: unset means "off" or
    /// "absent", as described).
    pub default: Option<&'static str>,
    /// What the variable does, for people.
    pub description: &'static str,
}

/// Every variable Tally reads, in the order of the README table.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "TALLY_DATABASE_URL",
        default: None,
        description: "Database to use: `postgres://user@host/db` for PostgreSQL, or \
                      `sqlite://path?mode=rwc`. Unset: the embedded SQLite file `tally.db` \
                      in the working directory.",
    },
    Setting {
        name: "TALLY_DATABASE_MAX_CONNECTIONS",
        default: Some("10"),
        description: "Size of the database connection pool.",
    },
    Setting {
        name: "TALLY_BIND",
        default: Some("127.0.0.1:8080"),
        description: "Address and port the HTTP server listens on.",
    },
    Setting {
        name: "TALLY_LOG",
        default: Some(DEFAULT_LOG_FILTER),
        description: "Log filter in `tracing` syntax, e.g. `info,tally=debug`.",
    },
    Setting {
        name: "TALLY_LOG_FORMAT",
        default: Some("text"),
        description: "`text` for human-readable lines, `json` for one JSON object per line.",
    },
    Setting {
        name: "TALLY_BODY_LIMIT_BYTES",
        default: Some("2097152"),
        description: "Largest request body accepted, in bytes; larger bodies get 413.",
    },
    Setting {
        name: "TALLY_REQUEST_TIMEOUT_SECS",
        default: Some("30"),
        description: "Time a request may take before it is answered with 408.",
    },
    Setting {
        name: "TALLY_SHUTDOWN_GRACE_SECS",
        default: Some("30"),
        description: "On SIGINT/SIGTERM, how long in-flight requests may still run.",
    },
];

/// The log filter when `TALLY_LOG` is unset: Tally's own events at `info`, the
/// database driver's notices only from `warn`.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

/// The database Tally uses when `TALLY_DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tally.db?mode=rwc";

/// A configuration value that could not be used.
#[derive(Debug, Error)]
#[error("invalid {name}={value:?}: {reason}")]
pub struct ConfigError {
    /// The variable at fault.
    pub name: &'static str,
    /// What it was set to.
    pub value: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Tally's parsed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connection URL of the database (`postgres://…` or `sqlite://…`).
    pub database_url: String,
    /// Maximum number of pooled database connections.
    pub database_max_connections: u32,
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// The `tracing` filter directive.
    pub log_filter: String,
    /// Text or JSON log lines.
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Time limit of one request.
    pub request_timeout: Duration,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first variable whose value cannot be used.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in
    /// tests). Empty values count as unset.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first variable whose value cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Option<String> {
            lookup(name).filter(|value| !value.trim().is_empty())
        };
        let database_url = match get("TALLY_DATABASE_URL") {
            None => DEFAULT_DATABASE_URL.to_owned(),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => url,
            Some(url) if url.starts_with("sqlite:") => url,
            Some(url) => {
                return Err(ConfigError {
                    name: "TALLY_DATABASE_URL",
                    value: redact_url(&url),
                    reason: "expected a postgres://… or sqlite://… URL".to_owned(),
                });
            }
        };
        let log_format = match get("TALLY_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    name: "TALLY_LOG_FORMAT",
                    value: other.to_owned(),
                    reason: "expected `text` or `json`".to_owned(),
                });
            }
        };
        Ok(Self {
            database_url,
            database_max_connections: parse(&get, "TALLY_DATABASE_MAX_CONNECTIONS", |n: &u32| {
                *n > 0
            })?,
            bind: parse(&get, "TALLY_BIND", |_: &SocketAddr| true)?,
            log_filter: log_filter(get("TALLY_LOG"))?,
            log_format,
            body_limit_bytes: parse(&get, "TALLY_BODY_LIMIT_BYTES", |n: &usize| *n > 0)?,
            request_timeout: Duration::from_secs(parse(
                &get,
                "TALLY_REQUEST_TIMEOUT_SECS",
                |n: &u64| *n > 0,
            )?),
            shutdown_grace: Duration::from_secs(parse(
                &get,
                "TALLY_SHUTDOWN_GRACE_SECS",
                |_: &u64| true,
            )?),
        })
    }

    /// Whether the configured database is PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

/// Checks the `TALLY_LOG` directive, so that a typo fails at start.
fn log_filter(value: Option<String>) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
    match tracing_subscriber::EnvFilter::try_new(&value) {
        Ok(_) => Ok(value),
        Err(error) => Err(ConfigError {
            name: "TALLY_LOG",
            value,
            reason: error.to_string(),
        }),
    }
}

/// The documented default of `name`.
fn default_of(name: &'static str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.default)
}

/// Parses `name` (or its documented default) and checks it with `valid`.
fn parse<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    valid: impl Fn(&T) -> bool,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let value = get(name)
        .or_else(|| default_of(name).map(str::to_owned))
        .unwrap_or_default();
    let invalid = |reason: String| ConfigError {
        name,
        value: value.clone(),
        reason,
    };
    let parsed = value
        .trim()
        .parse::<T>()
        .map_err(|e| invalid(e.to_string()))?;
    if valid(&parsed) {
        Ok(parsed)
    } else {
        Err(invalid("out of range".to_owned()))
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_use_embedded_sqlite() {
        let config = config(&[]).unwrap();
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.is_postgres());
    }

    #[test]
    fn postgres_url_is_accepted() {
        let config = config(&[("TALLY_DATABASE_URL", "postgres://127.0.0.1/test")]).unwrap();
        assert!(config.is_postgres());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("TALLY_BIND", "localhost"),
            ("TALLY_LOG_FORMAT", "xml"),
            ("TALLY_DATABASE_URL", "mysql://root@localhost/x"),
            ("TALLY_BODY_LIMIT_BYTES", "-1"),
            ("TALLY_REQUEST_TIMEOUT_SECS", "0"),
            ("TALLY_DATABASE_MAX_CONNECTIONS", "many"),
            ("TALLY_LOG", "info,[=bad"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name);
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://tally:s3cret@db/tally"),
            "postgres://tally:***@db/tally"
        );
        assert_eq!(redact_url("sqlite://tally.db"), "sqlite://tally.db");
        let error = config(&[("TALLY_DATABASE_URL", "mysql://u:s3cret@h/d")]).unwrap_err();
        assert!(!error.to_string().contains("s3cret"));
    }

    #[test]
    fn every_setting_is_documented_once() {
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
        assert!(
            SETTINGS
                .iter()
                .all(|s| s.name.starts_with("TALLY_") && !s.description.is_empty())
        );
    }
}
