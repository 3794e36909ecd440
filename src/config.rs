//! Configuration: every `TALLY_*` environment variable, documented once.
//!
//! [`SETTINGS`] is the single list of variables with their defaults and meaning;
//! the README's table is checked against it by a test, and `tally --help` points
//! to it. [`Config::from_lookup`] parses them with context: an invalid value stops
//! Tally at start with a message that names the variable.

use std::net::SocketAddr;
use std::path::PathBuf;
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
                      in the working directory. PostgreSQL TLS follows libpq's `sslmode` \
                      (`prefer` by default, falling back to no TLS when the handshake \
                      fails; `disable`, `require`, `verify-ca`, `verify-full`) and \
                      `sslrootcert=<CA file>` URL parameters.",
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
        description: "Largest request body accepted, in bytes, with or without `Content-Length`; \
                      a larger one gets 413 in the route's own error format.",
    },
    Setting {
        name: "TALLY_REQUEST_TIMEOUT_SECS",
        default: Some("30"),
        description: "Time to receive and answer a request; a slower one gets 408 in the route's \
                      own error format. WebSocket subscriptions are not limited.",
    },
    Setting {
        name: "TALLY_SHUTDOWN_GRACE_SECS",
        default: Some("30"),
        description: "On SIGINT/SIGTERM, how long in-flight requests may still run (open \
                      WebSockets are closed at once with 1001 Going Away).",
    },
    Setting {
        name: "TALLY_RECOMPUTE_POLL_SECS",
        default: Some("5"),
        description: "How often an idle instance looks for queued usage recomputations \
                      (`docs/recompute.md`). `0`: this instance runs none.",
    },
    Setting {
        name: "TALLY_PLAYGROUND_ASSETS",
        default: Some(DEFAULT_PLAYGROUND_ASSETS),
        description: "The `node_modules` directory that `npm ci --prefix playground` fills with \
                      GraphiQL, served at `/playground` (`docs/playground.md`); relative to the \
                      working directory. Looked at on every request: without it the page loads \
                      GraphiQL from a CDN.",
    },
    Setting {
        name: "TALLY_GRAPHQL_MAX_DEPTH",
        default: Some("18"),
        description: "Deepest field nesting a GraphQL operation may have (`docs/graphql.md`, \
                      Limits).",
    },
    Setting {
        name: "TALLY_GRAPHQL_MAX_COMPLEXITY",
        default: Some("100000"),
        description: "Highest cost of a GraphQL operation: a field costs 1 plus its children, \
                      a list costs `first` (or `last`) times its children.",
    },
    Setting {
        name: "TALLY_GRAPHQL_MAX_ALIASES",
        default: Some("50"),
        description: "Most aliased fields one GraphQL document may hold.",
    },
    Setting {
        name: "TALLY_GRAPHQL_MAX_REPEATS",
        default: Some("50"),
        description: "Most times one selection set may select the same field (or alias), \
                      counting inline fragments and fragment spreads; GraphQL merges them.",
    },
    Setting {
        name: "TALLY_GRAPHQL_MAX_DIRECTIVES",
        default: Some("10"),
        description: "Most directives on one field, fragment or operation of a GraphQL \
                      document.",
    },
    Setting {
        name: "TALLY_GRAPHQL_MAX_BATCH",
        default: Some("10"),
        description: "Most operations one batched GraphQL request (a JSON array) may hold; \
                      a larger batch is refused as a whole.",
    },
    Setting {
        name: "TALLY_GRAPHQL_INTROSPECTION",
        default: Some("authenticated"),
        description: "Who may introspect the GraphQL schema: `authenticated` callers, \
                      `always` (anonymous callers too) or `never`.",
    },
    Setting {
        name: "TALLY_GRAPHQL_SUGGESTIONS",
        default: Some("authenticated"),
        description: "Who gets \"Did you mean …?\" in GraphQL validation errors: \
                      `authenticated` callers, `always` or `never`.",
    },
    Setting {
        name: "TALLY_JWT_SECRET",
        default: None,
        description: "HS256 key of the tokens Tally issues (`tally token`), at least 32 bytes. \
                      Unset: Tally generates one on first start and keeps it in the database, \
                      so tokens survive restarts and every instance shares it.",
    },
    Setting {
        name: "TALLY_JWT_ISSUER",
        default: Some("tally"),
        description: "`iss` of the tokens Tally issues, required in them.",
    },
    Setting {
        name: "TALLY_JWT_AUDIENCE",
        default: Some("tally"),
        description: "`aud` of the tokens Tally issues, required in them.",
    },
    Setting {
        name: "TALLY_JWT_JWKS_FILE",
        default: None,
        description: "A JWKS file with the RS256/ES256 public keys of an external OIDC \
                      provider; its tokens are then accepted. Needs TALLY_OIDC_ISSUER and \
                      TALLY_OIDC_AUDIENCE.",
    },
    Setting {
        name: "TALLY_JWT_PUBLIC_KEY_FILES",
        default: None,
        description: "Comma-separated PEM files of RSA (RS256) or P-256 (ES256) public keys \
                      of an external OIDC provider, instead of or besides a JWKS file.",
    },
    Setting {
        name: "TALLY_OIDC_ISSUER",
        default: None,
        description: "`iss` that external tokens must carry.",
    },
    Setting {
        name: "TALLY_OIDC_AUDIENCE",
        default: None,
        description: "`aud` that external tokens must carry.",
    },
    Setting {
        name: "TALLY_SESSION_CODE_TTL_SECS",
        default: Some("900"),
        description: "HEAppE session codes expire after this many seconds without use \
                      (sliding, as upstream's SessionExpirationInSeconds).",
    },
    Setting {
        name: "TALLY_TLS_CERT",
        default: None,
        description: "PEM certificate chain: with TALLY_TLS_KEY, Tally serves HTTPS itself.",
    },
    Setting {
        name: "TALLY_TLS_KEY",
        default: None,
        description: "PEM private key of TALLY_TLS_CERT.",
    },
    Setting {
        name: "TALLY_TLS_CLIENT_CA",
        default: None,
        description: "PEM CA bundle: clients may present a certificate signed by it (optional, \
                      as APEL's `SSLVerifyClient optional`); its subject DN identifies APEL \
                      publishers.",
    },
    Setting {
        name: "TALLY_TRUSTED_PROXIES",
        default: None,
        description: "Comma-separated IPs or CIDRs of TLS-terminating proxies whose \
                      TALLY_CLIENT_DN_HEADER is believed. From anyone else the header is ignored.",
    },
    Setting {
        name: "TALLY_CLIENT_DN_HEADER",
        default: Some("X-SSL-Client-S-DN"),
        description: "Header in which a trusted proxy passes the client certificate's subject DN.",
    },
];

/// The log filter when `TALLY_LOG` is unset: Tally's own events at `info`, the
/// database driver's notices only from `warn`.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

/// Where the playground's GraphiQL files are when `TALLY_PLAYGROUND_ASSETS` is
/// unset: the `node_modules` that `npm ci --prefix playground` creates.
pub const DEFAULT_PLAYGROUND_ASSETS: &str = "playground/node_modules";

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
    /// Poll interval of the usage recomputation worker; `None`: no worker.
    pub recompute_poll: Option<Duration>,
    /// The `node_modules` directory the playground's GraphiQL files are served from.
    pub playground_assets: PathBuf,
    /// Limits and exposure of the GraphQL API.
    pub graphql: GraphqlConfig,
    /// Token settings.
    pub jwt: JwtConfig,
    /// Idle lifetime of a HEAppE session code.
    pub session_code_ttl: Duration,
    /// Native TLS, when configured.
    pub tls: Option<TlsConfig>,
    /// Proxies whose client-DN header is trusted.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header a trusted proxy passes the client DN in.
    pub client_dn_header: String,
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that uses it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The least length of `TALLY_JWT_SECRET`, in bytes (HS256 keys shorter than the
/// hash are weak; RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// How tokens are issued and verified.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The HS256 key of Tally's own tokens; `None`: generated and kept in the database.
    pub secret: Option<Secret>,
    /// `iss` of Tally's own tokens.
    pub issuer: String,
    /// `aud` of Tally's own tokens.
    pub audience: String,
    /// A JWKS file of an external OIDC provider.
    pub jwks_file: Option<PathBuf>,
    /// PEM public keys of an external OIDC provider.
    pub public_key_files: Vec<PathBuf>,
    /// `iss` of external tokens (set when external keys are).
    pub oidc_issuer: Option<String>,
    /// `aud` of external tokens (set when external keys are).
    pub oidc_audience: Option<String>,
}

/// Who is shown something: introspection, or suggestions in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Callers that presented valid credentials.
    Authenticated,
    /// Everyone, anonymous callers too.
    Always,
    /// No one.
    Never,
}

impl Exposure {
    /// Whether a caller that is (or is not) authenticated is shown it.
    #[must_use]
    pub fn allows(self, authenticated: bool) -> bool {
        match self {
            Self::Authenticated => authenticated,
            Self::Always => true,
            Self::Never => false,
        }
    }
}

impl std::str::FromStr for Exposure {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "authenticated" => Ok(Self::Authenticated),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => Err("expected `authenticated`, `always` or `never`".to_owned()),
        }
    }
}

/// Limits and exposure of the GraphQL API (`docs/graphql.md`).
#[derive(Debug, Clone)]
pub struct GraphqlConfig {
    /// Deepest field nesting of an operation.
    pub max_depth: usize,
    /// Highest cost of an operation.
    pub max_complexity: usize,
    /// Most aliased fields in one document.
    pub max_aliases: usize,
    /// Most selections of one response key in one selection set.
    pub max_repeats: usize,
    /// Most directives in one place.
    pub max_directives: usize,
    /// Most operations in one batch.
    pub max_batch: usize,
    /// Who may introspect the schema.
    pub introspection: Exposure,
    /// Who gets field suggestions in validation errors.
    pub suggestions: Exposure,
}

impl Default for GraphqlConfig {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            max_depth: 18,
            max_complexity: 100_000,
            max_aliases: 50,
            max_repeats: 50,
            max_directives: 10,
            max_batch: 10,
            introspection: Exposure::Authenticated,
            suggestions: Exposure::Authenticated,
        }
    }
}

/// Files of the native TLS listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA bundle for optional client certificates.
    pub client_ca: Option<PathBuf>,
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
            recompute_poll: Some(parse(&get, "TALLY_RECOMPUTE_POLL_SECS", |_: &u64| true)?)
                .filter(|secs| *secs > 0)
                .map(Duration::from_secs),
            playground_assets: get("TALLY_PLAYGROUND_ASSETS")
                .unwrap_or_else(|| DEFAULT_PLAYGROUND_ASSETS.to_owned())
                .into(),
            graphql: GraphqlConfig {
                max_depth: parse(&get, "TALLY_GRAPHQL_MAX_DEPTH", |n: &usize| *n > 0)?,
                max_complexity: parse(&get, "TALLY_GRAPHQL_MAX_COMPLEXITY", |n: &usize| *n > 0)?,
                max_aliases: parse(&get, "TALLY_GRAPHQL_MAX_ALIASES", |_: &usize| true)?,
                max_repeats: parse(&get, "TALLY_GRAPHQL_MAX_REPEATS", |n: &usize| *n > 0)?,
                max_directives: parse(&get, "TALLY_GRAPHQL_MAX_DIRECTIVES", |n: &usize| *n > 0)?,
                max_batch: parse(&get, "TALLY_GRAPHQL_MAX_BATCH", |n: &usize| *n > 0)?,
                introspection: parse(&get, "TALLY_GRAPHQL_INTROSPECTION", |_: &Exposure| true)?,
                suggestions: parse(&get, "TALLY_GRAPHQL_SUGGESTIONS", |_: &Exposure| true)?,
            },
            jwt: jwt_config(&get)?,
            session_code_ttl: Duration::from_secs(parse(
                &get,
                "TALLY_SESSION_CODE_TTL_SECS",
                |n: &u64| *n > 0,
            )?),
            tls: tls_config(&get)?,
            trusted_proxies: trusted_proxies(get("TALLY_TRUSTED_PROXIES"))?,
            client_dn_header: parse(&get, "TALLY_CLIENT_DN_HEADER", |name: &String| {
                axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            })?,
        })
    }

    /// Whether the configured database is PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

fn jwt_config(get: &impl Fn(&'static str) -> Option<String>) -> Result<JwtConfig, ConfigError> {
    let secret = get("TALLY_JWT_SECRET");
    if let Some(secret) = &secret
        && secret.len() < MIN_JWT_SECRET_BYTES
    {
        return Err(ConfigError {
            name: "TALLY_JWT_SECRET",
            value: "***".to_owned(),
            reason: format!(
                "{} bytes; an HS256 key needs at least {MIN_JWT_SECRET_BYTES}",
                secret.len()
            ),
        });
    }
    let jwks_file = get("TALLY_JWT_JWKS_FILE").map(PathBuf::from);
    let public_key_files: Vec<PathBuf> = get("TALLY_JWT_PUBLIC_KEY_FILES")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let oidc_issuer = get("TALLY_OIDC_ISSUER");
    let oidc_audience = get("TALLY_OIDC_AUDIENCE");
    if jwks_file.is_some() || !public_key_files.is_empty() {
        for (name, value) in [
            ("TALLY_OIDC_ISSUER", &oidc_issuer),
            ("TALLY_OIDC_AUDIENCE", &oidc_audience),
        ] {
            if value.is_none() {
                return Err(ConfigError {
                    name,
                    value: String::new(),
                    reason: "required when external keys (TALLY_JWT_JWKS_FILE or \
                             TALLY_JWT_PUBLIC_KEY_FILES) are configured"
                        .to_owned(),
                });
            }
        }
    }
    Ok(JwtConfig {
        secret: secret.map(Secret::new),
        issuer: get("TALLY_JWT_ISSUER").unwrap_or_else(|| "tally".to_owned()),
        audience: get("TALLY_JWT_AUDIENCE").unwrap_or_else(|| "tally".to_owned()),
        jwks_file,
        public_key_files,
        oidc_issuer,
        oidc_audience,
    })
}

fn tls_config(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Option<TlsConfig>, ConfigError> {
    let cert = get("TALLY_TLS_CERT");
    let key = get("TALLY_TLS_KEY");
    let client_ca = get("TALLY_TLS_CLIENT_CA");
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsConfig {
            cert: cert.into(),
            key: key.into(),
            client_ca: client_ca.map(PathBuf::from),
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        (cert, _) => Err(ConfigError {
            name: if cert.is_none() {
                "TALLY_TLS_CERT"
            } else {
                "TALLY_TLS_KEY"
            },
            value: String::new(),
            reason: "TALLY_TLS_CERT and TALLY_TLS_KEY go together (and TALLY_TLS_CLIENT_CA \
                     needs both)"
                .to_owned(),
        }),
    }
}

fn trusted_proxies(value: Option<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError {
                    name: "TALLY_TRUSTED_PROXIES",
                    value: value.clone(),
                    reason: format!("{item:?} is not an IP address or CIDR"),
                })
        })
        .collect()
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
            ("TALLY_JWT_SECRET", "too-short"),
            ("TALLY_JWT_JWKS_FILE", "/etc/tally/jwks.json"),
            ("TALLY_TLS_CERT", "/etc/tally/cert.pem"),
            ("TALLY_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"),
            ("TALLY_SESSION_CODE_TTL_SECS", "0"),
            ("TALLY_CLIENT_DN_HEADER", "bad header"),
            ("TALLY_GRAPHQL_MAX_DEPTH", "0"),
            ("TALLY_GRAPHQL_MAX_BATCH", "none"),
            ("TALLY_GRAPHQL_INTROSPECTION", "sometimes"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            let expected = match name {
                "TALLY_JWT_JWKS_FILE" => "TALLY_OIDC_ISSUER",
                "TALLY_TLS_CERT" => "TALLY_TLS_KEY",
                other => other,
            };
            assert_eq!(error.name, expected, "{error}");
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn secrets_never_show() {
        let secret = "0123456789abcdef0123456789abcdef-secret";
        let config = config(&[("TALLY_JWT_SECRET", secret)]).unwrap();
        assert!(!format!("{config:?}").contains(secret));
        assert_eq!(config.jwt.secret.unwrap().expose(), secret);
        let error = config_error_for_short_secret();
        assert!(!error.contains("short-secret"));
    }

    fn config_error_for_short_secret() -> String {
        config(&[("TALLY_JWT_SECRET", "short-secret")])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn proxies_accept_addresses_and_networks() {
        let config = config(&[("TALLY_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")]).unwrap();
        let proxies: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
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
    fn graphql_defaults_match_the_documented_ones() {
        let parsed = config(&[]).unwrap().graphql;
        let documented = GraphqlConfig::default();
        assert_eq!(
            (
                parsed.max_depth,
                parsed.max_complexity,
                parsed.max_aliases,
                parsed.max_repeats,
                parsed.max_directives,
                parsed.max_batch
            ),
            (
                documented.max_depth,
                documented.max_complexity,
                documented.max_aliases,
                documented.max_repeats,
                documented.max_directives,
                documented.max_batch
            )
        );
        assert_eq!(parsed.introspection, Exposure::Authenticated);
        assert_eq!(parsed.suggestions, Exposure::Authenticated);
        let open = config(&[("TALLY_GRAPHQL_INTROSPECTION", "always")]).unwrap();
        assert!(open.graphql.introspection.allows(false));
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
