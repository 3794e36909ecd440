//! The migrations on both backends: they apply from empty, they are idempotent,
//! and every `CHECK`, `UNIQUE` and foreign key rejects what it should (each
//! rejection is paired with a valid row that is accepted, so a constraint that
//! rejects everything would fail too).

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use migration::{Migrator, MigratorTrait as _};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, SqlErr, Value};

use crate::helpers::TestDb;

/// Every table of the model, sorted.
const TABLES: &[&str] = &[
    "accounting_runs",
    "aggregation_formulas",
    "apel_messages",
    "audit_log",
    "bucket_usage_daily",
    "bucket_usage_hourly",
    "bucket_usage_monthly",
    "buckets",
    "cloud_records",
    "cloud_services",
    "cloud_summaries_daily",
    "cloud_vm_days",
    "cluster_projects",
    "clusters",
    "command_templates",
    "eosc_clients",
    "eosc_metric_daily",
    "eosc_resources",
    "formulas",
    "global_users",
    "grants",
    "hpc_job_usage",
    "hpc_job_usage_monthly",
    "hpc_usage_daily",
    "idempotency_keys",
    "installations",
    "jobs",
    "metric_definitions",
    "metric_types",
    "metrics",
    "node_type_aggregations",
    "node_types",
    "project_allocations",
    "project_providers",
    "projects",
    "providers",
    "publisher_dns",
    "roles",
    "seaql_migrations",
    "server_secrets",
    "session_codes",
    "sites",
    "sub_projects",
    "task_parameters",
    "tasks",
    "unit_types",
    "usage_daily",
    "usage_hourly",
    "user_groups",
    "users",
    "vo_groups",
    "vo_roles",
    "vos",
];

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn date(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

/// A column value.
fn v(value: impl Into<Value>) -> Value {
    value.into()
}

/// Inserts a row and returns its `id`.
async fn insert(
    db: &impl ConnectionTrait,
    table: &'static str,
    row: &[(&'static str, Value)],
) -> Result<i64, DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(row.iter().map(|(column, _)| *column))
        .values(row.iter().map(|(_, value)| Expr::val(value.clone())))
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .returning_col("id");
    let row = db
        .query_one(&insert)
        .await?
        .ok_or_else(|| DbErr::Custom("no row returned".into()))?;
    row.try_get::<i64>("", "id")
}

/// Inserts a row into a table without an `id` column.
async fn insert_plain(
    db: &impl ConnectionTrait,
    table: &'static str,
    row: &[(&'static str, Value)],
) -> Result<(), DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(row.iter().map(|(column, _)| *column))
        .values(row.iter().map(|(_, value)| Expr::val(value.clone())))
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    db.execute(&insert).await.map(|_| ())
}

/// The insert failed on the `CHECK` constraint `name` (both backends name it).
#[track_caller]
fn assert_check<T: std::fmt::Debug>(result: Result<T, DbErr>, name: &str) {
    let error = result.expect_err(&format!("{name} should reject the row"));
    assert!(
        error.to_string().contains(name),
        "expected {name}, got: {error}"
    );
}

/// The insert failed on a unique key (named `name` on PostgreSQL, which reports
/// the name; SQLite reports the columns).
#[track_caller]
fn assert_unique<T: std::fmt::Debug>(backend: DbBackend, result: Result<T, DbErr>, name: &str) {
    let error = result.expect_err(&format!("{name} should reject the row"));
    assert!(
        matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "expected a unique violation of {name}, got: {error}"
    );
    if backend == DbBackend::Postgres {
        assert!(
            error.to_string().contains(name),
            "expected {name}, got: {error}"
        );
    }
}

/// The insert failed on a foreign key.
#[track_caller]
fn assert_foreign_key<T: std::fmt::Debug>(result: Result<T, DbErr>) {
    let error = result.expect_err("the foreign key should reject the row");
    assert!(
        matches!(
            error.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "expected a foreign-key violation, got: {error}"
    );
}

async fn table_names(db: &TestDb) -> Vec<String> {
    let sql = match db.backend() {
        DbBackend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    db.conn
        .query_all_raw(sea_orm::Statement::from_string(db.backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

#[tokio::test]
async fn migrations_apply_from_empty_and_are_idempotent() {
    let db = TestDb::empty().await;
    assert!(
        table_names(&db).await.is_empty(),
        "a fresh database is empty"
    );
    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(table_names(&db).await, TABLES);
    // Applying again changes nothing.
    Migrator::up(&db.conn, None).await.unwrap();
    assert_eq!(table_names(&db).await, TABLES);
    assert!(
        Migrator::get_pending_migrations(&db.conn)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `hpc_job_usage_monthly` arrives after `hpc_job_usage` held data: the
/// migration fills it with the month sums of the daily rows, and on Citus
/// `tally migrate` shards it beside the tables sharded by earlier runs.
#[tokio::test]
async fn the_monthly_job_rollup_is_filled_and_sharded_after_the_fact() {
    let db = TestDb::empty().await;
    // Everything before that migration first.
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261205_000003_hpc_job_months")
        .unwrap();
    Migrator::up(&db.conn, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    migration::citus::distribute(&db.conn).await.unwrap();
    let h = hpc(&db.conn).await;
    let day = |d: &str| v(d.parse::<NaiveDate>().unwrap());
    // Two jobs in January (one ending in February), one in February.
    for (start, end, milli) in [
        ("2026-01-05", "2026-01-05", 1_500),
        ("2026-01-31", "2026-02-01", 2_000),
        ("2026-02-10", "2026-02-11", 250),
    ] {
        insert_plain(
            &db.conn,
            "hpc_job_usage",
            &[
                ("project_id", v(h.project)),
                ("cluster_id", v(h.cluster)),
                ("node_type_id", v(h.node_type)),
                ("start_day", day(start)),
                ("end_day", day(end)),
                ("unit", v("node_hour")),
                ("usage_milli", v(milli)),
                ("task_count", v(1)),
            ],
        )
        .await
        .unwrap();
    }
    tally::db::migrate(&db.conn).await.unwrap();

    let rows = db
        .conn
        .query_all(
            Query::select()
                .columns(["start_month", "end_month", "usage_milli", "task_count"])
                .from("hpc_job_usage_monthly")
                .order_by("start_month", sea_orm::Order::Asc)
                .order_by("end_month", sea_orm::Order::Asc),
        )
        .await
        .unwrap();
    let got: Vec<(NaiveDate, NaiveDate, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "start_month").unwrap(),
                r.try_get("", "end_month").unwrap(),
                r.try_get("", "usage_milli").unwrap(),
                r.try_get("", "task_count").unwrap(),
            )
        })
        .collect();
    let month = |d: &str| d.parse::<NaiveDate>().unwrap();
    assert_eq!(
        got,
        [
            (month("2026-01-01"), month("2026-01-01"), 1_500, 1),
            (month("2026-01-01"), month("2026-02-01"), 2_000, 1),
            (month("2026-02-01"), month("2026-02-01"), 250, 1),
        ]
    );
    if migration::citus::is_citus(&db.conn).await.unwrap() {
        let sharded = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_dist_partition \
                 WHERE logicalrelid = 'hpc_job_usage_monthly'::regclass AND partmethod = 'h'",
            ))
            .await
            .unwrap();
        assert!(sharded.is_some(), "hpc_job_usage_monthly is sharded");
    }
}

#[tokio::test]
async fn reference_data_is_seeded() {
    let db = TestDb::new().await;
    let count = |table: &'static str| {
        let conn = &db.conn;
        async move {
            let mut query = Query::select();
            query.expr_as(Expr::cust("COUNT(*)"), "n").from(table);
            conn.query_one(&query)
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap()
        }
    };
    assert_eq!(count("unit_types").await, 11, "EOSC's built-in unit types");
    assert_eq!(
        count("metric_types").await,
        4,
        "EOSC's built-in metric types"
    );
    assert_eq!(count("roles").await, 21);
}

#[tokio::test]
async fn tenancy_constraints() {
    let db = TestDb::new().await;
    let (conn, backend) = (&db.conn, db.backend());
    let project = |accounting: &'static str| {
        vec![("accounting_string", v(accounting)), ("name", v("Project"))]
    };
    let p1 = insert(conn, "projects", &project("OPEN-1")).await.unwrap();
    assert_unique(
        backend,
        insert(conn, "projects", &project("OPEN-1")).await,
        "uq_projects_accounting_string",
    );
    assert_check(
        insert(conn, "projects", &project("")).await,
        "ck_projects_accounting_string",
    );
    let mut dates = project("OPEN-2");
    dates.extend([("start_date", v(date(10))), ("end_date", v(date(9)))]);
    assert_check(insert(conn, "projects", &dates).await, "ck_projects_dates");
    let mut usage = project("OPEN-3");
    usage.push(("usage_type", v("gpu_hours")));
    assert_check(
        insert(conn, "projects", &usage).await,
        "ck_projects_usage_type",
    );

    let sub = [("project_id", v(p1)), ("identifier", v("sub-a"))];
    insert(conn, "sub_projects", &sub).await.unwrap();
    assert_unique(
        backend,
        insert(conn, "sub_projects", &sub).await,
        "uq_sub_projects_identifier",
    );

    let user = insert(conn, "users", &[("username", v("alice"))])
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "users", &[("username", v("alice"))]).await,
        "uq_users_username",
    );
    assert_check(
        insert(
            conn,
            "users",
            &[
                ("username", v("bob")),
                ("external_issuer", v("https://idp")),
            ],
        )
        .await,
        "ck_users_external",
    );

    let role = |name: &'static str| async move {
        let mut query = Query::select();
        query
            .column("id")
            .from("roles")
            .and_where(Expr::col("name").eq(name));
        conn.query_one(&query)
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "id")
            .unwrap()
    };
    let reporter = role("heappe_reporter").await;
    let grant = |kind: &'static str, scope: i64, role_id: i64| {
        vec![
            ("user_id", v(user)),
            ("role_id", v(role_id)),
            ("scope_kind", v(kind)),
            ("scope_id", v(scope)),
        ]
    };
    insert(conn, "grants", &grant("project", p1, reporter))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "grants", &grant("project", p1, reporter)).await,
        "uq_grants",
    );
    assert_check(
        insert(conn, "grants", &grant("system", 5, reporter)).await,
        "ck_grants_scope_id",
    );
    assert_check(
        insert(conn, "grants", &grant("project", 0, reporter)).await,
        "ck_grants_scope_id",
    );
    assert_check(
        insert(conn, "grants", &grant("galaxy", 1, reporter)).await,
        "ck_grants_scope_kind",
    );
    assert_foreign_key(insert(conn, "grants", &grant("project", p1, 9999)).await);

    let code = |hash: &'static str, authenticated: u32, accessed: u32| {
        vec![
            ("user_id", v(user)),
            ("code_hash", v(hash)),
            ("authenticated_at", v(at(1, authenticated))),
            ("last_access_at", v(at(1, accessed))),
        ]
    };
    insert(conn, "session_codes", &code("h1", 10, 11))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "session_codes", &code("h1", 10, 11)).await,
        "uq_session_codes_code_hash",
    );
    assert_check(
        insert(conn, "session_codes", &code("h2", 10, 9)).await,
        "ck_session_codes_access",
    );
}

/// The rows an HPC test needs: two projects, a sub-project of the second, a
/// cluster with a node type, and a job of the first project.
struct Hpc {
    project: i64,
    other_project: i64,
    other_sub_project: i64,
    cluster: i64,
    node_type: i64,
    job: i64,
}

async fn hpc(conn: &impl ConnectionTrait) -> Hpc {
    let project = insert(
        conn,
        "projects",
        &[("accounting_string", v("P1")), ("name", v("P1"))],
    )
    .await
    .unwrap();
    let other_project = insert(
        conn,
        "projects",
        &[("accounting_string", v("P2")), ("name", v("P2"))],
    )
    .await
    .unwrap();
    let other_sub_project = insert(
        conn,
        "sub_projects",
        &[("project_id", v(other_project)), ("identifier", v("s"))],
    )
    .await
    .unwrap();
    let cluster = insert(conn, "clusters", &[("name", v("karolina"))])
        .await
        .unwrap();
    let node_type = insert(
        conn,
        "node_types",
        &[
            ("cluster_id", v(cluster)),
            ("name", v("cpu")),
            ("queue", v("qcpu")),
            ("cores_per_node", v(128)),
        ],
    )
    .await
    .unwrap();
    let job = insert(conn, "jobs", &job_row(cluster, project, "100", 1))
        .await
        .unwrap();
    Hpc {
        project,
        other_project,
        other_sub_project,
        cluster,
        node_type,
        job,
    }
}

fn job_row(
    cluster: i64,
    project: i64,
    scheduler_id: &'static str,
    day: u32,
) -> Vec<(&'static str, Value)> {
    vec![
        ("cluster_id", v(cluster)),
        ("scheduler_job_id", v(scheduler_id)),
        ("submit_time", v(at(day, 8))),
        ("name", v("job")),
        ("state", v(16_i16)),
        ("project_id", v(project)),
        ("creation_time", v(at(day, 8))),
        ("start_time", v(at(day, 9))),
        ("end_time", v(at(day, 10))),
    ]
}

fn task_row(h: &Hpc, ordinal: i32) -> Vec<(&'static str, Value)> {
    vec![
        ("job_id", v(h.job)),
        ("project_id", v(h.project)),
        ("ordinal", v(ordinal)),
        ("name", v("task")),
        ("state", v(16_i16)),
        ("node_type_id", v(h.node_type)),
        ("start_time", v(at(1, 9))),
        ("end_time", v(at(1, 10))),
    ]
}

fn with(
    mut row: Vec<(&'static str, Value)>,
    changes: &[(&'static str, Value)],
) -> Vec<(&'static str, Value)> {
    for (column, value) in changes {
        match row.iter_mut().find(|(c, _)| c == column) {
            Some(entry) => entry.1 = value.clone(),
            None => row.push((column, value.clone())),
        }
    }
    row
}

#[tokio::test]
async fn hpc_constraints() {
    let db = TestDb::new().await;
    let (conn, backend) = (&db.conn, db.backend());
    let h = hpc(conn).await;

    let node_type = |name: &'static str, cores: i32| {
        vec![
            ("cluster_id", v(h.cluster)),
            ("name", v(name)),
            ("queue", v("q")),
            ("cores_per_node", v(cores)),
        ]
    };
    assert_unique(
        backend,
        insert(conn, "node_types", &node_type("cpu", 1)).await,
        "uq_node_types_name",
    );
    assert_check(
        insert(conn, "node_types", &node_type("gpu", 0)).await,
        "ck_node_types_cores_per_node",
    );

    let formula = |to: DateTime<Utc>| {
        vec![
            ("expression", v("NumNodes * RunTime")),
            ("unit", v("node_hour")),
            ("validity_from", v(at(2, 0))),
            ("validity_to", v(to)),
        ]
    };
    insert(conn, "formulas", &formula(at(2, 0))).await.unwrap();
    assert_check(
        insert(conn, "formulas", &formula(at(1, 0))).await,
        "ck_formulas_validity",
    );

    // Jobs: the natural key, times, states, and a sub-project of another project.
    let job = job_row(h.cluster, h.project, "100", 1);
    assert_unique(backend, insert(conn, "jobs", &job).await, "uq_jobs_natural");
    // Slurm reuses ids: the same id submitted at another time is another job.
    insert(conn, "jobs", &job_row(h.cluster, h.project, "100", 2))
        .await
        .unwrap();
    let job = job_row(h.cluster, h.project, "101", 1);
    assert_check(
        insert(
            conn,
            "jobs",
            &with(job.clone(), &[("end_time", v(at(1, 8)))]),
        )
        .await,
        "ck_jobs_times",
    );
    assert_check(
        insert(conn, "jobs", &with(job.clone(), &[("state", v(3_i16))])).await,
        "ck_jobs_state",
    );
    assert_foreign_key(
        insert(
            conn,
            "jobs",
            &with(job.clone(), &[("sub_project_id", v(h.other_sub_project))]),
        )
        .await,
    );
    insert(
        conn,
        "jobs",
        &with(
            job,
            &[
                ("project_id", v(h.other_project)),
                ("sub_project_id", v(h.other_sub_project)),
            ],
        ),
    )
    .await
    .unwrap();

    // Tasks.
    let task = insert(conn, "tasks", &task_row(&h, 0)).await.unwrap();
    assert_unique(
        backend,
        insert(conn, "tasks", &task_row(&h, 0)).await,
        "uq_tasks_ordinal",
    );
    assert_check(
        insert(
            conn,
            "tasks",
            &with(task_row(&h, 1), &[("end_time", v(at(1, 8)))]),
        )
        .await,
        "ck_tasks_times",
    );
    assert_check(
        insert(
            conn,
            "tasks",
            &with(task_row(&h, 1), &[("allocated_seconds", v(-1_i64))]),
        )
        .await,
        "ck_tasks_allocations",
    );
    assert_check(
        insert(
            conn,
            "tasks",
            &with(task_row(&h, 1), &[("usage_milli", v(-5_i64))]),
        )
        .await,
        "ck_tasks_usage",
    );
    assert_check(
        insert(
            conn,
            "tasks",
            &with(task_row(&h, 1), &[("usage_status", v("computed"))]),
        )
        .await,
        "ck_tasks_usage_computed",
    );
    assert_check(
        insert(
            conn,
            "tasks",
            &with(task_row(&h, 1), &[("usage_status", v("guessed"))]),
        )
        .await,
        "ck_tasks_usage_status",
    );
    // A task must belong to its job's project.
    assert_foreign_key(
        insert(
            conn,
            "tasks",
            &with(task_row(&h, 1), &[("project_id", v(h.other_project))]),
        )
        .await,
    );

    let parameter = [
        ("task_id", v(task)),
        ("project_id", v(h.project)),
        ("name", v("NumNodes")),
        ("value", v("2")),
    ];
    insert_plain(conn, "task_parameters", &parameter)
        .await
        .unwrap();
    assert!(
        insert_plain(conn, "task_parameters", &parameter)
            .await
            .is_err(),
        "(task, name) is the key"
    );

    let run = |start: u32, end: u32, done: i64| {
        vec![
            ("project_id", v(h.project)),
            ("period_start", v(at(start, 0))),
            ("period_end", v(at(end, 0))),
            ("tasks_total", v(10_i64)),
            ("tasks_done", v(done)),
        ]
    };
    insert(conn, "accounting_runs", &run(1, 2, 0))
        .await
        .unwrap();
    assert_check(
        insert(conn, "accounting_runs", &run(2, 2, 0)).await,
        "ck_accounting_runs_period",
    );
    assert_check(
        insert(conn, "accounting_runs", &run(1, 2, 11)).await,
        "ck_accounting_runs_progress",
    );

    let usage = |day: u32, usage: i64| {
        vec![
            ("project_id", v(h.project)),
            ("cluster_id", v(h.cluster)),
            ("node_type_id", v(h.node_type)),
            ("day", v(date(day))),
            ("unit", v("node_hour")),
            ("usage_milli", v(usage)),
        ]
    };
    insert(conn, "hpc_usage_daily", &usage(1, 1500))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "hpc_usage_daily", &usage(1, 1)).await,
        "uq_hpc_usage_daily",
    );
    assert_check(
        insert(conn, "hpc_usage_daily", &usage(2, -1)).await,
        "ck_hpc_usage_daily_amounts",
    );
}

#[tokio::test]
async fn cloud_constraints() {
    let db = TestDb::new().await;
    let (conn, backend) = (&db.conn, db.backend());
    let name = |table: &'static str, name: &'static str| async move {
        insert(conn, table, &[("name", v(name))]).await.unwrap()
    };
    let site = name("sites", "CESGA").await;
    let service = name("cloud_services", "None").await;
    let user = name("global_users", "/C=XX/CN=user").await;
    let vo = name("vos", "ops").await;
    let group = name("vo_groups", "/ops").await;
    let role = name("vo_roles", "Role=NULL").await;
    assert_unique(
        backend,
        insert(conn, "sites", &[("name", v("CESGA"))]).await,
        "uq_sites_name",
    );

    let record = |wall: i64, end: DateTime<Utc>| {
        vec![
            ("vm_uuid", v("TestVM1")),
            ("site_id", v(site)),
            ("cloud_service_id", v(service)),
            ("global_user_id", v(user)),
            ("vo_id", v(vo)),
            ("vo_group_id", v(group)),
            ("vo_role_id", v(role)),
            ("status", v("started")),
            ("start_time", v(at(1, 0))),
            ("end_time", v(end)),
            ("wall_duration", v(wall)),
            ("image_id", v("None")),
            ("cloud_type", v("OpenStack")),
            ("benchmark_type", v("None")),
            ("measurement_time", v(at(1, 1))),
            ("measurement_day", v(date(1))),
        ]
    };
    insert(conn, "cloud_records", &record(3600, at(1, 1)))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "cloud_records", &record(3600, at(1, 1))).await,
        "uq_cloud_records_natural",
    );
    // Another snapshot of the same VM (a longer wall duration) is another row.
    insert(conn, "cloud_records", &record(7200, at(1, 2)))
        .await
        .unwrap();
    assert_check(
        insert(conn, "cloud_records", &record(-1, at(1, 1))).await,
        "ck_cloud_records_durations",
    );
    assert_check(
        insert(
            conn,
            "cloud_records",
            &record(10, at(1, 0) - chrono::Duration::hours(1)),
        )
        .await,
        "ck_cloud_records_times",
    );

    let dn = |dn: &'static str, access: &'static str| vec![("dn", v(dn)), ("access", v(access))];
    insert(conn, "publisher_dns", &dn("/C=XX/O=XX/CN=host", "allowed"))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "publisher_dns", &dn("/C=XX/O=XX/CN=host", "banned")).await,
        "uq_publisher_dns_dn",
    );
    assert_check(
        insert(conn, "publisher_dns", &dn("/CN=other", "maybe")).await,
        "ck_publisher_dns_access",
    );
}

#[tokio::test]
async fn eosc_constraints() {
    let db = TestDb::new().await;
    let (conn, backend) = (&db.conn, db.backend());
    let project = insert(
        conn,
        "projects",
        &[("accounting_string", v("725025")), ("name", v("EOSC"))],
    )
    .await
    .unwrap();
    let provider =
        |id: &'static str, name: &'static str| vec![("external_id", v(id)), ("name", v(name))];
    let grnet = insert(conn, "providers", &provider("grnet", "GRNET"))
        .await
        .unwrap();
    let other = insert(conn, "providers", &provider("sites", "SITES"))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "providers", &provider("grnet", "Other")).await,
        "uq_providers_external_id",
    );
    assert_check(
        insert(conn, "providers", &provider("a.b", "Dotted")).await,
        "ck_providers_external_id",
    );

    // Names of unit types are unique regardless of case ("TB" is built in).
    assert_unique(
        backend,
        insert(
            conn,
            "unit_types",
            &[("name", v("tb")), ("description", v("again"))],
        )
        .await,
        "uq_unit_types_name",
    );
    let definition = |name: &'static str| {
        vec![
            ("name", v(name)),
            ("unit_type_id", v(1_i64)),
            ("metric_type_id", v(1_i64)),
        ]
    };
    insert(conn, "metric_definitions", &definition("Storage"))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "metric_definitions", &definition("STORAGE")).await,
        "uq_metric_definitions_name",
    );
    let definition = insert(conn, "metric_definitions", &definition("CPU"))
        .await
        .unwrap();

    insert(
        conn,
        "project_providers",
        &[("project_id", v(project)), ("provider_id", v(grnet))],
    )
    .await
    .unwrap();
    let installation = |provider: i64, name: &'static str| {
        vec![
            ("project_id", v(project)),
            ("provider_id", v(provider)),
            ("installation", v(name)),
        ]
    };
    let inst = insert(conn, "installations", &installation(grnet, "GRNET-KNS"))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "installations", &installation(grnet, "GRNET-KNS")).await,
        "uq_installations_natural",
    );
    // The provider must be associated with the project first.
    assert_foreign_key(insert(conn, "installations", &installation(other, "X")).await);

    let metric = |start: u32, end: u32| {
        vec![
            ("installation_id", v(inst)),
            ("project_id", v(project)),
            ("metric_definition_id", v(definition)),
            ("period_start", v(at(start, 0))),
            ("period_end", v(at(end, 0))),
            ("value", v(12.5_f64)),
        ]
    };
    insert(conn, "metrics", &metric(1, 2)).await.unwrap();
    assert_check(
        insert(conn, "metrics", &metric(2, 1)).await,
        "ck_metrics_period",
    );
    assert_check(
        insert(conn, "metrics", &metric(2, 2)).await,
        "ck_metrics_period",
    );
    let keyed = with(metric(1, 2), &[("idempotency_key", v("retry-1"))]);
    insert(conn, "metrics", &keyed).await.unwrap();
    assert_unique(
        backend,
        insert(conn, "metrics", &keyed).await,
        "uq_metrics_idempotency_key",
    );
}

#[tokio::test]
async fn storage_and_usage_constraints() {
    let db = TestDb::new().await;
    let (conn, backend) = (&db.conn, db.backend());
    let project = insert(
        conn,
        "projects",
        &[("accounting_string", v("S1")), ("name", v("S1"))],
    )
    .await
    .unwrap();
    let bucket = insert(
        conn,
        "buckets",
        &[
            ("name", v("bucket1")),
            ("owner_name", v("Jimmy@example.org")),
            ("project_id", v(project)),
        ],
    )
    .await
    .unwrap();
    assert_unique(
        backend,
        insert(
            conn,
            "buckets",
            &[("name", v("bucket1")), ("owner_name", v("x"))],
        )
        .await,
        "uq_buckets_name",
    );
    let hourly = |byte_hours: i64, object_delta: i64| {
        vec![
            ("bucket_id", v(bucket)),
            ("hour", v(at(2, 5))),
            ("byte_hours", v(byte_hours)),
            ("object_delta", v(object_delta)),
        ]
    };
    // The object count may shrink within an hour (HCP's negative Total Objects).
    insert_plain(conn, "bucket_usage_hourly", &hourly(1000, -3))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert_plain(conn, "bucket_usage_hourly", &hourly(1, 0)).await,
        "bucket_usage_hourly_pkey",
    );
    let mut negative = hourly(-1, 0);
    negative[1].1 = v(at(2, 6));
    assert_check(
        insert_plain(conn, "bucket_usage_hourly", &negative).await,
        "ck_bucket_usage_hourly_amounts",
    );

    let usage = |source: &'static str, kind: &'static str, scale: i16| {
        vec![
            ("project_id", v(project)),
            ("source", v(source)),
            ("resource_kind", v(kind)),
            ("resource_id", v(bucket)),
            ("unit", v("byte_hour")),
            ("scale", v(scale)),
            ("day", v(date(2))),
            ("quantity", v(1000_i64)),
        ]
    };
    insert(conn, "usage_daily", &usage("storage", "bucket", 0))
        .await
        .unwrap();
    assert_unique(
        backend,
        insert(conn, "usage_daily", &usage("storage", "bucket", 0)).await,
        "uq_usage_daily",
    );
    assert_check(
        insert(conn, "usage_daily", &usage("gpu", "bucket", 0)).await,
        "ck_usage_daily_source",
    );
    assert_check(
        insert(conn, "usage_daily", &usage("storage", "planet", 0)).await,
        "ck_usage_daily_resource_kind",
    );
    assert_check(
        insert(conn, "usage_daily", &usage("storage", "node_type", 12)).await,
        "ck_usage_daily_scale",
    );
}
