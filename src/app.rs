//! Application assembly: shared state, the router with its layers, start and
//! graceful stop. `main`, the tests and every subcommand build the application
//! the same way, through [`Application::build`].

use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::Authenticator;
use crate::auth::jwt::{JwtKeys, KeyError};
use crate::auth::session_code::SessionCodes;
use crate::config::{Config, redact_url};
use crate::error::Error;
use crate::graphql::{self, TallySchema};
use crate::request_limits::{self, RequestLimits};
use crate::service::events::EventBus;
use crate::shutdown::Shutdown;

/// Everything a request handler may need, shared by all requests.
pub struct App {
    /// The configuration Tally was started with.
    pub config: Config,
    /// The database connection pool.
    pub db: DatabaseConnection,
    /// The GraphQL schema.
    pub schema: TallySchema,
    /// Checks credentials.
    pub auth: Authenticator,
    /// Delivers committed events to subscribers, across instances.
    pub events: EventBus,
    /// Tells open WebSocket connections that the server is stopping.
    pub shutdown: Shutdown,
}

/// Cheaply clonable handle on [`App`], the router's state.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// How long `/readyz` waits for the database before answering 503.
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// A built application: migrated database, bound listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}")]
    Database {
        /// The database URL, password redacted.
        url: String,
        /// What went wrong.
        source: sea_orm::DbErr,
    },
    /// The token keys could not be loaded.
    #[error("{0}")]
    Keys(#[from] KeyError),
    /// The TLS certificate or key could not be loaded.
    #[error("{0}")]
    Tls(String),
    /// Something unexpected while starting (already logged).
    #[error("{0}")]
    Internal(#[from] Error),
    /// The listening socket could not be bound.
    #[error("cannot listen on {bind} (TALLY_BIND): {source}")]
    Bind {
        /// The address asked for.
        bind: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl Application {
    /// Connects to the database, applies pending migrations and binds
    /// `config.bind` (port 0 picks a free port).
    ///
    /// # Errors
    /// The database cannot be opened or migrated, or the address cannot be bound.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let db = open_database(&config).await?;
        let auth = build_authenticator(&config, &db).await?;
        let events = EventBus::start(&db, &config.database_url).await?;
        let tls = match &config.tls {
            Some(tls) => Some(crate::tls::acceptor(tls).map_err(StartError::Tls)?),
            None => None,
        };
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                bind: config.bind,
                source,
            })?;
        let schema = graphql::build_schema_with(&config.graphql);
        let state = AppState(Arc::new(App {
            config,
            db,
            schema,
            auth,
            events,
            shutdown: Shutdown::new(),
        }));
        Ok(Self {
            listener,
            state,
            tls,
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// The socket's address cannot be read.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Calls `callback` after every SQL statement the application runs on its
    /// connection pool (requests and background workers alike), e.g. to count
    /// statements in tests or to export timings. Call it before
    /// [`Self::run_until`]; returns `false` (and installs nothing) once the
    /// state has been shared, e.g. through a clone of [`Self::state`].
    pub fn on_statement(
        &mut self,
        callback: impl Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    ) -> bool {
        match Arc::get_mut(&mut self.state.0) {
            Some(app) => {
                app.db.set_metric_callback(callback);
                true
            }
            None => false,
        }
    }

    /// The shared state (for tests that want the database handle).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish
    /// for at most `TALLY_SHUTDOWN_GRACE_SECS` before dropping them. Open
    /// WebSocket connections are closed with `1001 Going Away` as soon as the
    /// stop begins ([`crate::shutdown`]). The usage recomputation worker
    /// (`TALLY_RECOMPUTE_POLL_SECS`) runs alongside and stops with the server.
    ///
    /// # Errors
    /// The server's accept loop failed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.config.shutdown_grace;
        let addr = self.listener.local_addr()?;
        let worker = self.state.config.recompute_poll.map(|poll| {
            crate::service::recompute::Worker::start(
                self.state.db.clone(),
                self.state.events.clone(),
                crate::service::recompute::instance_id(),
                poll,
            )
        });
        let state = self.state.clone();
        let router = router(self.state);
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let announcer = state.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!(
                websockets = announcer.shutdown.open(),
                "shutdown requested; finishing in-flight requests, closing WebSockets"
            );
            announcer.shutdown.begin();
            let _receiver_gone = stopping_tx.send(());
        };
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let server = match self.tls {
            Some(acceptor) => {
                tracing::info!(%addr, "Tally is listening (HTTPS)");
                Box::pin(crate::tls::serve(self.listener, acceptor, router, signal))
                    as std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>
            }
            None => {
                tracing::info!(%addr, "Tally is listening");
                Box::pin(
                    axum::serve(
                        self.listener,
                        router.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(signal)
                    .into_future(),
                )
            }
        };
        // Upgraded connections are not the server's any more: wait for the
        // WebSockets to close too.
        let server = async move {
            server.await?;
            state.shutdown.finished().await;
            Ok(())
        };
        let result = tokio::select! {
            result = server => result,
            () = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "grace period over; dropping open connections");
                Ok(())
            }
        };
        if let Some(worker) = worker {
            worker.stop().await;
        }
        result
    }
}

/// Opens the configured database and applies pending migrations.
///
/// # Errors
/// The database cannot be opened or migrated.
pub async fn open_database(config: &Config) -> Result<DatabaseConnection, StartError> {
    let database_error = |source| StartError::Database {
        url: redact_url(&config.database_url),
        source,
    };
    let db = crate::db::connect(&config.database_url, config.database_max_connections)
        .await
        .map_err(database_error)?;
    crate::db::migrate(&db).await.map_err(database_error)?;
    Ok(db)
}

/// The authenticator: token keys (the HS256 key configured, or kept in the
/// database) and session codes.
///
/// # Errors
/// The key cannot be read or created, or an external key file is unusable.
pub async fn build_authenticator(
    config: &Config,
    db: &DatabaseConnection,
) -> Result<Authenticator, StartError> {
    let secret = crate::auth::secret::jwt_secret(db, config.jwt.secret.as_ref()).await?;
    let keys = JwtKeys::load(&config.jwt, &secret)?;
    let sessions = SessionCodes::new(secret, config.session_code_ttl);
    Ok(Authenticator::new(config, keys, sessions))
}

/// The routes and the layers around them.
fn router(state: AppState) -> Router {
    let limits = RequestLimits {
        body_bytes: state.config.body_limit_bytes,
        time: state.config.request_timeout,
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/graphql", any(graphql::handler))
        .route("/graphql/ws", get(graphql::ws_handler))
        .route("/api/v1/whoami", get(crate::rest::tally::whoami))
        .route("/api/v1/usage", get(crate::rest::tally::usage))
        .route(
            "/api/v1/storage/usage",
            post(crate::rest::ingest::storage_usage),
        )
        .route("/api/v1/hpc/jobs", post(crate::rest::ingest::hpc_jobs))
        .merge(crate::rest::heappe::routes())
        .merge(crate::rest::apel::routes())
        .merge(crate::rest::eosc::routes())
        .merge(crate::playground::routes())
        .fallback(not_found)
        .with_state(state)
        // TALLY_BODY_LIMIT_BYTES is the one body limit: without this, axum's
        // body extractors would add their own 2 MiB one.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            limits,
            request_limits::enforce,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // One line per answered request, with its status and latency.
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The span of one request. Only the path is recorded: query strings may carry
/// credentials (HEAppE's `sessionCode`), and headers are never recorded.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// `GET /healthz`: the process is alive. Never touches the database.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers. 503 when it does not, within
/// [`READINESS_TIMEOUT`].
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(READINESS_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            unavailable()
        }
        Err(_elapsed) => {
            tracing::warn!("readiness check: database did not answer in time");
            unavailable()
        }
    }
}

fn unavailable() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
    )
}

/// Any other path.
async fn not_found() -> Error {
    Error::NotFound("no such route".to_owned())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
