//! Ingestion throughput: `cargo bench --bench ingest`.
//!
//! Each run loads the demo data set at `TALLY_BENCH_SCALE` (default 10) into a
//! fresh database through the ingestion services (`service::demo::load`, the
//! path `tally demo --scale N` takes): HPC jobs with their tasks, APEL
//! messages, EOSC metrics and hourly storage samples, each with its rollups.
//! In the same run, on the same database, it times a **baseline**: a plain
//! multi-row `INSERT` of as many rows into a table of four columns, and, for
//! reference, single-row `INSERT`s of a smaller number of rows.
//!
//! Reported, over `TALLY_BENCH_RUNS` runs (default 5): the median time and
//! rate of each part, and the median of the per-run ratio of a part's time
//! per fact to the baseline's time per row. The ratio is what to compare
//! between machines and commits: the machine's noise (other builds, disk,
//! a shared database server) moves both sides of it.
//!
//! Backends: SQLite (a temporary file) always; PostgreSQL as well when
//! `TALLY_BENCH_DATABASE_URL` (or else `TALLY_TEST_DATABASE_URL`) names a
//! server, where every run creates and drops a database of its own.
//! `docs/benchmarks.md` has the figures and how they were taken.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::{ColumnDef, Expr, Query, Table};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, TransactionTrait as _};
use tally::service::demo;
use tally::service::events::EventBus;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Rows per baseline statement, as the services chunk theirs.
const BASELINE_CHUNK: usize = 2000;
/// Single-row inserts timed for reference (per run).
const ROW_BY_ROW: usize = 5000;

/// A fresh database and how to get rid of it.
struct BenchDb {
    conn: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl BenchDb {
    async fn create(postgres: Option<&str>) -> Result<Self> {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let db = match postgres {
            Some(admin_url) => {
                let name = format!("tally_bench_{unique}");
                let admin = tally::db::connect(admin_url, 1).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                admin.close().await?;
                let conn = tally::db::connect(&replace_database(admin_url, &name), 5).await?;
                Self {
                    conn,
                    cleanup: Cleanup::PostgresDatabase {
                        admin_url: admin_url.to_owned(),
                        name,
                    },
                }
            }
            None => {
                let path = std::env::temp_dir().join(format!("tally-bench-{unique}.db"));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Self {
                    conn: tally::db::connect(&url, 5).await?,
                    cleanup: Cleanup::SqliteFile(path),
                }
            }
        };
        tally::db::migrate(&db.conn).await?;
        Ok(db)
    }

    async fn drop_it(self) -> Result<()> {
        self.conn.close().await?;
        match self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let admin = tally::db::connect(&admin_url, 1).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                admin.close().await?;
            }
        }
        Ok(())
    }
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

/// Creates the baseline's table: an id and four plain columns.
async fn create_baseline_table(db: &DatabaseConnection) -> Result<()> {
    let mut table = Table::create();
    table
        .table("bench_baseline")
        .col(
            ColumnDef::new("id")
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new("a").big_integer().not_null())
        .col(ColumnDef::new("b").big_integer().not_null())
        .col(ColumnDef::new("c").text().not_null())
        .col(ColumnDef::new("d").timestamp_with_time_zone().not_null());
    db.execute(&table).await?;
    Ok(())
}

/// Inserts `rows` rows into the baseline table in one transaction, a
/// statement per `per_statement` rows; returns the time taken.
async fn baseline(db: &DatabaseConnection, rows: usize, per_statement: usize) -> Result<Duration> {
    let now = Utc::now();
    let started = Instant::now();
    let txn = db.begin().await?;
    let mut done = 0;
    while done < rows {
        let count = per_statement.min(rows - done);
        let mut insert = Query::insert();
        insert
            .into_table("bench_baseline")
            .columns(["a", "b", "c", "d"]);
        for i in done..done + count {
            let i = i64::try_from(i)?;
            insert.values([
                Expr::val(i),
                Expr::val(i * 7),
                Expr::val(format!("row-{i}")),
                Expr::val(now),
            ])?;
        }
        txn.execute(&insert).await?;
        done += count;
    }
    txn.commit().await?;
    Ok(started.elapsed())
}

/// One run's measurements: seconds per part, and facts per part.
#[derive(Default)]
struct Run {
    seconds: BTreeMap<&'static str, f64>,
    facts: BTreeMap<&'static str, usize>,
    /// Seconds per row of the multi-row baseline.
    baseline_row: f64,
    /// Seconds per row of single-row inserts.
    single_row: f64,
}

async fn run(postgres: Option<&str>, scale: u32) -> Result<Run> {
    let db = BenchDb::create(postgres).await?;
    // As `tally demo` does: publishing, with nobody listening.
    let bus = EventBus::publisher(&db.conn);
    let summary = demo::load(&db.conn, &bus, scale).await?;
    let mut run = Run::default();
    for (part, took) in &summary.timings {
        run.seconds.insert(part, took.as_secs_f64());
    }
    run.facts.insert("hpc", summary.tasks);
    run.facts.insert("cloud", summary.cloud_records);
    run.facts.insert("eosc", summary.metrics);
    run.facts.insert("storage", summary.storage_samples);

    create_baseline_table(&db.conn).await?;
    let rows = summary.tasks.max(1000);
    let took = baseline(&db.conn, rows, BASELINE_CHUNK).await?;
    run.baseline_row = took.as_secs_f64() / rows as f64;
    let took = baseline(&db.conn, ROW_BY_ROW, 1).await?;
    run.single_row = took.as_secs_f64() / ROW_BY_ROW as f64;
    db.drop_it().await?;
    Ok(run)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}

fn report(backend: &str, scale: u32, runs: &[Run]) {
    println!(
        "\n{backend}: demo --scale {scale}, median of {} runs",
        runs.len()
    );
    println!(
        "  {:<10} {:>10} {:>10} {:>12} {:>16}",
        "part", "facts", "seconds", "facts/s", "× baseline row"
    );
    let baseline_row = median(runs.iter().map(|r| r.baseline_row).collect());
    for part in ["dimensions", "hpc", "cloud", "eosc", "storage"] {
        let seconds = median(
            runs.iter()
                .filter_map(|r| r.seconds.get(part).copied())
                .collect(),
        );
        let facts = runs
            .first()
            .and_then(|r| r.facts.get(part).copied())
            .unwrap_or(0);
        if facts == 0 {
            println!("  {part:<10} {:>10} {seconds:>10.2}", "-");
            continue;
        }
        let rate = median(
            runs.iter()
                .filter_map(|r| Some(facts as f64 / r.seconds.get(part)?))
                .collect(),
        );
        // Per run: time per fact over the baseline's time per row.
        let ratio = median(
            runs.iter()
                .filter_map(|r| Some(r.seconds.get(part)? / facts as f64 / r.baseline_row))
                .collect(),
        );
        println!("  {part:<10} {facts:>10} {seconds:>10.2} {rate:>12.0} {ratio:>16.1}");
    }
    let single_row = median(runs.iter().map(|r| r.single_row).collect());
    println!(
        "  baseline: {:.1} µs per row in {BASELINE_CHUNK}-row INSERTs ({:.0} rows/s); \
         single-row INSERTs: {:.1} µs per row ({:.1}× the baseline)",
        baseline_row * 1e6,
        1.0 / baseline_row,
        single_row * 1e6,
        median(runs.iter().map(|r| r.single_row / r.baseline_row).collect()),
    );
}

fn env_number(name: &str, default: u32) -> Result<u32> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value
            .parse()
            .map_err(|e| format!("{name}={value:?}: {e}"))?),
        _ => Ok(default),
    }
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let scale = env_number("TALLY_BENCH_SCALE", 10)?.max(1);
    let runs = env_number("TALLY_BENCH_RUNS", 5)?.max(1);
    let postgres = ["TALLY_BENCH_DATABASE_URL", "TALLY_TEST_DATABASE_URL"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|u| !u.is_empty()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut backends: Vec<(&str, Option<&str>)> = vec![("SQLite", None)];
    if let Some(url) = postgres.as_deref() {
        backends.push(("PostgreSQL", Some(url)));
    } else {
        println!("(PostgreSQL skipped: set TALLY_BENCH_DATABASE_URL to include it)");
    }
    for (backend, url) in backends {
        let mut done = Vec::new();
        for number in 1..=runs {
            eprint!("{backend} run {number}/{runs}… ");
            let started = Instant::now();
            done.push(runtime.block_on(run(url, scale))?);
            eprintln!("{:.1}s", started.elapsed().as_secs_f64());
        }
        report(backend, scale, &done);
    }
    Ok(())
}
