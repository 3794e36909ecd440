//! Test harness: a fresh database per test, and the application on a random port.

pub mod pki;
pub mod raw;
pub mod statements;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend};
use tally::{Application, Config};

/// The variable that selects PostgreSQL for the tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`. Unset: SQLite.
pub const TEST_DATABASE_URL: &str = "TALLY_TEST_DATABASE_URL";

/// A database that exists for one test only.
pub struct TestDb {
    /// Its connection URL.
    pub url: String,
    /// An open, migrated connection pool.
    pub conn: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Another `TestDb` owns the database.
    Nothing,
    SqliteFile(PathBuf),
    PostgresDatabase {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// Creates a fresh, migrated database on the backend the environment selects.
    pub async fn new() -> Self {
        let db = Self::empty().await;
        tally::db::migrate(&db.conn)
            .await
            .expect("migrations apply");
        db
    }

    /// Creates a fresh database without applying migrations.
    pub async fn empty() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let name = format!("tally_test_{unique}");
                let admin = tally::db::connect(&admin_url, 1)
                    .await
                    .expect("admin connection");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let workers = citus_workers(&admin).await;
                admin.close().await.ok();
                let url = replace_database(&admin_url, &name);
                if let Some(workers) = workers {
                    citus_database(&url, &workers).await;
                }
                let conn = tally::db::connect(&url, 5)
                    .await
                    .expect("connect test database");
                Self {
                    url,
                    conn,
                    cleanup: Cleanup::PostgresDatabase { admin_url, name },
                }
            }
            None => {
                let path = std::env::temp_dir().join(format!("tally-test-{unique}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let conn = tally::db::connect(&url, 5).await.expect("open sqlite file");
                Self {
                    url,
                    conn,
                    cleanup: Cleanup::SqliteFile(path),
                }
            }
        }
    }

    /// A second handle on the same database (for a second application
    /// instance); the database is removed when the original is dropped.
    pub async fn share(&self) -> Self {
        Self {
            url: self.url.clone(),
            conn: tally::db::connect(&self.url, 5)
                .await
                .expect("connect again"),
            cleanup: Cleanup::Nothing,
        }
    }

    /// An event bus that publishes on this database and listens to nothing,
    /// as a command-line process has.
    pub fn bus(&self) -> tally::service::events::EventBus {
        tally::service::events::EventBus::publisher(&self.conn)
    }

    /// The backend under test.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// A configuration pointing at this database, on a random local port, with
    /// a short shutdown grace so stop tests run quickly.
    pub fn config(&self) -> Config {
        self.config_with(&[])
    }

    /// [`Self::config`] with more `TALLY_*` variables set.
    pub fn config_with(&self, extra: &[(&str, &str)]) -> Config {
        let url = self.url.clone();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut config = Config::from_lookup(|name| match name {
            "TALLY_DATABASE_URL" => Some(url.clone()),
            "TALLY_BIND" => Some("127.0.0.1:0".to_owned()),
            _ => extra
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        })
        .expect("test configuration");
        // Generous: debug builds on a loaded CI machine are slow (the timeout
        // test sets its own).
        config.request_timeout = Duration::from_secs(30);
        config.shutdown_grace = Duration::from_secs(5);
        config
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: drop the database from a
                // thread with a runtime of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async {
                        let admin = tally::db::connect(&admin_url, 1).await?;
                        drop_database(&admin, &name).await?;
                        admin.close().await
                    })
                });
                if let Ok(Err(error)) = dropped.join() {
                    eprintln!("could not drop test database: {error}");
                }
            }
        }
    }
}

/// Drops database `name`, closing its sessions.
///
/// On Citus the drop is propagated to the workers, where the sessions the
/// coordinator's (now terminated) backends had opened end a moment later:
/// "being accessed by other users" is retried for a few seconds.
pub async fn drop_database(admin: &DatabaseConnection, name: &str) -> Result<(), sea_orm::DbErr> {
    let mut attempts = 0;
    loop {
        match admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
        {
            Err(error)
                if attempts < 40 && error.to_string().contains("being accessed by other users") =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other.map(drop),
        }
    }
}

/// On a Citus coordinator, its workers (host, port) as the administrative
/// database lists them; `None` on plain PostgreSQL.
async fn citus_workers(admin: &DatabaseConnection) -> Option<Vec<(String, i32)>> {
    use sea_orm::Statement;
    if !migration::citus::is_citus(admin)
        .await
        .expect("read pg_extension")
    {
        return None;
    }
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT nodename, nodeport FROM pg_dist_node \
             WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeport",
        ))
        .await
        .expect("read pg_dist_node");
    Some(
        rows.iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "nodename").expect("nodename"),
                    r.try_get::<i32>("", "nodeport").expect("nodeport"),
                )
            })
            .collect(),
    )
}

/// Makes the fresh database `url` a Citus database with the coordinator's
/// workers: Citus keeps its extension and node list per database, and
/// `CREATE DATABASE` only creates the (empty) database on the workers.
async fn citus_database(url: &str, workers: &[(String, i32)]) {
    let (host, port) = host_port(url);
    for (worker, worker_port) in workers {
        let worker_url = replace_host_port(url, worker, *worker_port);
        let conn = tally::db::connect(&worker_url, 1)
            .await
            .expect("connect to the test database on a Citus worker");
        conn.execute_unprepared("CREATE EXTENSION IF NOT EXISTS citus")
            .await
            .expect("citus on a worker");
        conn.close().await.ok();
    }
    let conn = tally::db::connect(url, 1)
        .await
        .expect("connect to the test database on the coordinator");
    let database = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("a database name");
    let mut sql = vec![
        "CREATE EXTENSION IF NOT EXISTS citus".to_owned(),
        // 4 shards per table instead of 32: a test database holds a few
        // rows, and creating 8 × 32 shards dominated every test's setup.
        format!("ALTER DATABASE {database} SET citus.shard_count = 4"),
        format!("SELECT citus_set_coordinator_host('{host}', {port})"),
    ];
    for (worker, worker_port) in workers {
        sql.push(format!("SELECT citus_add_node('{worker}', {worker_port})"));
    }
    for statement in sql {
        conn.execute_unprepared(&statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    conn.close().await.ok();
}

/// The host and port of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> (String, u16) {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    match host_port.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().expect("a numeric port")),
        None => (host_port.to_owned(), 5432),
    }
}

/// `url` pointing at `host:port` instead.
fn replace_host_port(url: &str, host: &str, port: i32) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(user, _)| format!("{user}@"));
    format!(
        "{}{user}{host}:{port}{}",
        &url[..scheme_end],
        &rest[authority_len..]
    )
}

/// `url` with its database name replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// The application, serving on a random port for one test.
pub struct TestApp {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:port`, or `https://localhost:port` when Tally serves
    /// TLS itself (then replace `client` with one that trusts the test CA:
    /// [`pki::Pki::client`]).
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub state: tally::AppState,
    /// The SQL statements the application ran (its own pool, not `db.conn`).
    pub statements: statements::StatementCounter,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts Tally on a fresh database.
    pub async fn spawn() -> Self {
        let db = TestDb::empty().await;
        let config = db.config();
        Self::spawn_with(db, config).await
    }

    /// Starts Tally on `db` with `config`. Logs go to stderr when `TEST_LOG` is
    /// set (e.g. `TEST_LOG=debug`); tests are silent otherwise.
    pub async fn spawn_with(db: TestDb, config: Config) -> Self {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            tally::telemetry::init(&filter, tally::config::LogFormat::Text);
        }
        let mut application = Application::build(config)
            .await
            .expect("application starts");
        let statements = statements::StatementCounter::install(&mut application);
        let addr = application.local_addr().expect("bound address");
        let base = match application.state().config.tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let state = application.state().clone();
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async {
            let _ = signal.await;
        }));
        Self {
            addr,
            base,
            client: reqwest::Client::new(),
            db,
            state,
            statements,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Posts a GraphQL query with an optional bearer token; returns the status
    /// and the JSON answer.
    pub async fn graphql_as(&self, token: Option<&str>, query: &str) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&serde_json::json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// `GET path` with an optional bearer token; returns the status and the body.
    pub async fn get_as(&self, token: Option<&str>, path: &str) -> (u16, String) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    /// A token Tally issued for user `id`, valid for an hour.
    pub fn token_for(&self, id: i64) -> String {
        self.state.auth.keys.issue(id, "user", 3600).expect("token")
    }

    /// Posts a GraphQL query and returns the JSON answer.
    pub async fn graphql(&self, query: &str) -> serde_json::Value {
        self.client
            .post(self.url("/graphql"))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON answer")
    }

    /// Sends the shutdown signal; returns a future that resolves when the server
    /// has stopped.
    pub fn stop(&mut self) -> impl Future<Output = std::io::Result<()>> + use<> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = self.server.take();
        async move {
            match server {
                Some(server) => server.await.expect("server task"),
                None => Ok(()),
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

#[test]
fn worker_urls_keep_user_database_and_options() {
    assert_eq!(
        replace_host_port(
            "postgres://postgres@127.0.0.1:9700/t1?sslmode=disable",
            "10.0.0.2",
            9701
        ),
        "postgres://postgres@10.0.0.2:9701/t1?sslmode=disable"
    );
    assert_eq!(
        host_port("postgres://postgres@127.0.0.1:9700/t1"),
        ("127.0.0.1".to_owned(), 9700)
    );
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(
        replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        replace_database("postgres://h/db?sslmode=disable", "x"),
        "postgres://h/x?sslmode=disable"
    );
    assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
}

/// Rows most access tests need.
pub mod world {
    use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, DatabaseConnection};
    use tally::auth::Scope;
    use tally::entity::{
        clusters, jobs, node_type_aggregations, node_types, projects, user_groups,
    };
    use tally::service::{formulas, users};

    /// A strong password for test users.
    pub const PASSWORD: &str = "correct horse battery staple";

    pub async fn project(db: &DatabaseConnection, accounting: &str) -> projects::Model {
        projects::ActiveModel {
            accounting_string: Set(accounting.to_owned()),
            name: Set(format!("Project {accounting}")),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap()
    }

    pub async fn group(
        db: &DatabaseConnection,
        project: &projects::Model,
        name: &str,
    ) -> user_groups::Model {
        user_groups::ActiveModel {
            project_id: Set(Some(project.id)),
            name: Set(name.to_owned()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap()
    }

    /// A user holding `role` on `scope` (no grant when `role` is empty).
    pub async fn user(db: &DatabaseConnection, name: &str, role: &str, scope: Scope) -> i64 {
        let user = users::add(db, name, None, PASSWORD, false).await.unwrap();
        if !role.is_empty() {
            users::grant(db, name, role, scope).await.unwrap();
        }
        user.id
    }

    pub async fn cluster(db: &DatabaseConnection, name: &str) -> clusters::Model {
        clusters::ActiveModel {
            name: Set(name.to_owned()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap()
    }

    /// Cluster `karolina` with node type `cpu` (queue `qcpu`, 128 cores a
    /// node) in an aggregation `cpu` valid from `from`, its usage priced by
    /// `expression` in node-hours from `from` on: (aggregation id, formula id).
    pub async fn priced_cpu_cluster(
        db: &DatabaseConnection,
        expression: &str,
        from: chrono::DateTime<chrono::Utc>,
    ) -> (i64, i64) {
        let cluster = cluster(db, "karolina").await;
        let aggregation = node_type_aggregations::ActiveModel {
            name: Set("cpu".into()),
            validity_from: Set(from),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        node_types::ActiveModel {
            cluster_id: Set(cluster.id),
            aggregation_id: Set(Some(aggregation.id)),
            name: Set("cpu".into()),
            queue: Set("qcpu".into()),
            cores_per_node: Set(128),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        let formula = formulas::NewFormula {
            expression: expression.to_owned(),
            unit: "node_hour".to_owned(),
            validity_from: from,
            validity_to: None,
            supersedes: None,
        };
        let formula = formulas::create(db, aggregation.id, formula, None)
            .await
            .unwrap();
        (aggregation.id, formula.id)
    }

    /// A job of `project` on `cluster` in `state`.
    pub async fn job(
        db: &DatabaseConnection,
        cluster: &clusters::Model,
        project: &projects::Model,
        id: &str,
        state: i16,
    ) {
        let at = chrono::Utc::now();
        jobs::ActiveModel {
            cluster_id: Set(cluster.id),
            scheduler_job_id: Set(id.to_owned()),
            submit_time: Set(at),
            name: Set(format!("job {id}")),
            state: Set(state),
            project_id: Set(project.id),
            creation_time: Set(at),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
}
