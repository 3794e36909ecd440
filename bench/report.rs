//! Report latency: `cargo bench --bench report`.
//!
//! A client of a running Tally server (`TALLY_BENCH_URL`, e.g.
//! `http://127.0.0.1:8080`, with an administrator's token in
//! `TALLY_BENCH_TOKEN`): it asks the reports dashboards ask and times each
//! answer. Because it talks HTTP to whatever server runs there, the same client
//! measures two builds of Tally (before and after a change) on the same
//! database, one after the other.
//!
//! Scenarios (`TALLY_BENCH_FROM`, default `2025-11-01`, starts the year):
//! - `usageTotals` of a year grouped by project and source (the rollups' cost);
//! - `usageSeries` of the same year by month, grouped by project and source;
//! - `/api/v1/usage` of the same year;
//! - HEAppE's `AggregatedUserGroupResourceUsageReport` of the same year (whole
//!   jobs inside it, from the `hpc_job_usage` rollup: its cost should not grow
//!   with the number of jobs);
//! - HEAppE's `UserGroupResourceUsageReport` of group `TALLY_BENCH_GROUP`
//!   (default 1) over the same year: every job and task of the group's
//!   project in the year, listed (a drill-down, whose cost follows the jobs
//!   listed);
//! - a baseline in the same run: `{ apiVersion }`, which reads no usage, so
//!   that the ratio of a scenario to it discounts the HTTP and GraphQL
//!   overhead and the machine's load of the moment.
//!
//! Each scenario is asked `TALLY_BENCH_WARMUP` (default 3) times unmeasured,
//! then `TALLY_BENCH_REPEATS` (default 30) times, one at a time (only the
//! scenarios whose name contains `TALLY_BENCH_ONLY`, when set, besides the
//! baseline); reported: the
//! median and the 90th percentile in milliseconds, and the median's ratio to
//! the baseline's median. Every answer must be a 200 without GraphQL errors,
//! or the bench fails. `docs/benchmarks.md` has figures and how they were
//! taken.

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn count(name: &str, default: usize) -> Result<usize> {
    Ok(env_or(name, &default.to_string()).parse()?)
}

/// One request of a scenario.
enum Ask {
    Graphql(String),
    Get(String),
}

async fn ask(client: &reqwest::Client, base: &str, token: &str, what: &Ask) -> Result<Duration> {
    let started = Instant::now();
    let response = match what {
        Ask::Graphql(query) => {
            client
                .post(format!("{base}/graphql"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "query": query }))
                .send()
                .await?
        }
        Ask::Get(path) => {
            client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await?
        }
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    let elapsed = started.elapsed();
    if !status.is_success() || body.get("errors").is_some() {
        return Err(format!("{status}: {body}").into());
    }
    Ok(elapsed)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let Ok(base) = std::env::var("TALLY_BENCH_URL") else {
        println!(
            "report bench: set TALLY_BENCH_URL and TALLY_BENCH_TOKEN (docs/benchmarks.md); skipped"
        );
        return Ok(());
    };
    let token = std::env::var("TALLY_BENCH_TOKEN")
        .map_err(|_| "TALLY_BENCH_TOKEN: an administrator's token is needed")?;
    let from: NaiveDate = env_or("TALLY_BENCH_FROM", "2025-11-01").parse()?;
    let to = from
        .checked_add_months(chrono::Months::new(12))
        .ok_or("TALLY_BENCH_FROM is out of range")?;
    let last = to.pred_opt().ok_or("TALLY_BENCH_FROM is out of range")?;
    let warmup = count("TALLY_BENCH_WARMUP", 3)?;
    let repeats = count("TALLY_BENCH_REPEATS", 30)?;
    let only = std::env::var("TALLY_BENCH_ONLY").ok();
    let group = count("TALLY_BENCH_GROUP", 1)?;
    let filter = format!(r#"{{from: "{from}T00:00:00Z", to: "{to}T00:00:00Z"}}"#);
    let period = format!("startTime={from}T00:00:00Z&endTime={to}T00:00:00Z");
    let scenarios = [
        (
            "baseline { apiVersion }",
            Ask::Graphql("{ apiVersion }".to_owned()),
        ),
        (
            "usageTotals, a year by project and source",
            Ask::Graphql(format!(
                "{{ usageTotals(filter: {filter}, groupBy: [PROJECT, SOURCE]) \
                 {{ group {{ source unit }} amount {{ exact records }} }} }}"
            )),
        ),
        (
            "usageSeries, a year by month, project and source",
            Ask::Graphql(format!(
                "{{ usageSeries(filter: {filter}, bucket: MONTH, groupBy: [PROJECT, SOURCE]) \
                 {{ group {{ source unit }} points {{ exact }} }} }}"
            )),
        ),
        (
            "GET /api/v1/usage, a year",
            Ask::Get(format!("/api/v1/usage?from={from}&to={last}")),
        ),
        (
            "HEAppE Aggregated…UsageReport, a year",
            Ask::Get(format!(
                "/heappe/JobReporting/AggregatedUserGroupResourceUsageReport?{period}"
            )),
        ),
        (
            "HEAppE UserGroupResourceUsageReport, a year",
            Ask::Get(format!(
                "/heappe/JobReporting/UserGroupResourceUsageReport?groupId={group}&{period}"
            )),
        ),
    ];
    let scenarios: Vec<_> = scenarios
        .into_iter()
        .enumerate()
        .filter(|(index, (name, _))| {
            *index == 0 || only.as_deref().is_none_or(|only| name.contains(only))
        })
        .map(|(_, scenario)| scenario)
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut baseline = f64::NAN;
        println!("report bench against {base}, {from} to {to}, {repeats} repeats");
        println!(
            "{:<52} {:>10} {:>10} {:>12}",
            "scenario", "median ms", "p90 ms", "× baseline"
        );
        for (name, what) in &scenarios {
            for _ in 0..warmup {
                ask(&client, &base, &token, what).await?;
            }
            let mut times = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                times.push(ask(&client, &base, &token, what).await?.as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let median = percentile(&times, 0.5);
            if baseline.is_nan() {
                baseline = median;
            }
            println!(
                "{name:<52} {median:>10.2} {:>10.2} {:>12.1}",
                percentile(&times, 0.9),
                median / baseline
            );
        }
        Ok(())
    })
}
