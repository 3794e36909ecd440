//! Dashboard page latency: `cargo bench --bench dashboard`.
//!
//! A client of a running Tally server (`TALLY_BENCH_URL`, e.g.
//! `http://127.0.0.1:8080`, with an administrator's token in
//! `TALLY_BENCH_TOKEN`) serving the database to measure (e.g. `tally demo
//! --scale 1700` on PostgreSQL, `VACUUM ANALYZE`d). It asks the five-level
//! page a dashboard opens with and times each answer. Because it talks HTTP to
//! whatever server runs there, the same client measures two builds of Tally
//! (before and after a change) on the same database, one after the other.
//!
//! Scenarios, for the project `TALLY_BENCH_PROJECT` (an accounting string;
//! default: the first project by accounting string):
//! - a baseline in the same run: `{ apiVersion }`, which reads nothing, so that
//!   the ratio of a scenario to it discounts the HTTP and GraphQL overhead and
//!   the machine's load of the moment;
//! - the five-level page: project → clusters → node types → `jobs(first: 20)`
//!   newest submitted first → tasks;
//! - the same with `jobs(first: 1)`: a page must cost its size, so this is
//!   barely cheaper.
//!
//! Each scenario is asked `TALLY_BENCH_WARMUP` (default 3) times unmeasured,
//! then `TALLY_BENCH_REPEATS` (default 20) times, one at a time; reported: the
//! median and the 90th percentile in milliseconds, and the median's ratio to
//! the baseline's median. Every answer must be a 200 without GraphQL errors,
//! or the bench fails. `docs/benchmarks.md` has figures and how they were
//! taken.

use std::error::Error;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn count(name: &str, default: usize) -> Result<usize> {
    Ok(env_or(name, &default.to_string()).parse()?)
}

async fn ask(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
) -> Result<(Duration, serde_json::Value)> {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    let elapsed = started.elapsed();
    if !status.is_success() || body.get("errors").is_some() {
        return Err(format!("{status}: {body}").into());
    }
    Ok((elapsed, body))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The five-level page of `project` with `jobs` jobs per node type.
fn dashboard(project: &str, jobs: usize) -> String {
    format!(
        r#"{{ project(by: {{accountingString: "{project}"}}) {{ accountingString
  clusters(first: 5) {{ edges {{ node {{ name
    nodeTypes(first: 10) {{ edges {{ node {{ name
      jobs(first: {jobs}) {{ edges {{ node {{ name state submitTime
        tasks(first: 5) {{ edges {{ node {{ ordinal state usageStatus }} }} }}
      }} }} }}
    }} }} }}
  }} }} }}
}} }}"#
    )
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let Ok(base) = std::env::var("TALLY_BENCH_URL") else {
        println!(
            "dashboard bench: set TALLY_BENCH_URL and TALLY_BENCH_TOKEN (docs/benchmarks.md); skipped"
        );
        return Ok(());
    };
    let token = std::env::var("TALLY_BENCH_TOKEN")
        .map_err(|_| "TALLY_BENCH_TOKEN: an administrator's token is needed")?;
    let warmup = count("TALLY_BENCH_WARMUP", 3)?;
    let repeats = count("TALLY_BENCH_REPEATS", 20)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let project = match std::env::var("TALLY_BENCH_PROJECT") {
            Ok(project) => project,
            Err(_) => {
                let (_, body) = ask(
                    &client,
                    &base,
                    &token,
                    "{ projects(first: 1, orderBy: [{field: ACCOUNTING_STRING}]) \
                     { edges { node { accountingString } } } }",
                )
                .await?;
                body["data"]["projects"]["edges"][0]["node"]["accountingString"]
                    .as_str()
                    .ok_or("no project to ask for")?
                    .to_owned()
            }
        };
        let scenarios = [
            ("baseline { apiVersion }", "{ apiVersion }".to_owned()),
            (
                "five levels, jobs(first: 20) per node type",
                dashboard(&project, 20),
            ),
            (
                "five levels, jobs(first: 1) per node type",
                dashboard(&project, 1),
            ),
        ];
        let mut baseline = f64::NAN;
        println!("dashboard bench against {base}, project {project}, {repeats} repeats");
        println!(
            "{:<48} {:>10} {:>10} {:>12}",
            "scenario", "median ms", "p90 ms", "× baseline"
        );
        for (name, query) in &scenarios {
            for _ in 0..warmup {
                ask(&client, &base, &token, query).await?;
            }
            let mut times = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                let (elapsed, _) = ask(&client, &base, &token, query).await?;
                times.push(elapsed.as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let median = percentile(&times, 0.5);
            if baseline.is_nan() {
                baseline = median;
            }
            println!(
                "{name:<48} {median:>10.2} {:>10.2} {:>12.1}",
                percentile(&times, 0.9),
                median / baseline
            );
        }
        Ok(())
    })
}
