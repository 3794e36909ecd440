//! HEAppE's Job Reporting routes (`/heappe/JobReporting/…`, heappe.md §1).

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Serialize;

use super::{HeappeQuery, Problem, caller, require};
use crate::app::AppState;
use crate::auth::HeappeRole;
use crate::service::hpc;

/// The Job Reporting routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/heappe/JobReporting/JobsStateAgregationReport",
        get(jobs_state_aggregation_report),
    )
}

/// HEAppE's JobState names, by value.
fn job_state_name(state: i16) -> &'static str {
    match state {
        1 => "Configuring",
        2 => "Submitted",
        4 => "Queued",
        8 => "Running",
        16 => "Finished",
        32 => "Failed",
        64 => "Canceled",
        128 => "WaitingForServiceAccount",
        256 => "Deleted",
        _ => "Unknown",
    }
}

/// One row of `JobsStateAgregationReport`: upstream's
/// `JobStateAggregationReportExt`, whose fields come in this order
/// (heappe.md; pinned by the `wire::heappe_jobs_state_aggregation_report`
/// snapshot).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobStateAggregationReportExt {
    /// HEAppE's JobState value.
    job_state_id: i16,
    /// Its name (`Finished`, …).
    job_state_name: &'static str,
    /// How many jobs are in that state.
    count: i64,
}

/// `GET /heappe/JobReporting/JobsStateAgregationReport` (upstream's spelling):
/// the number of jobs per state over every job of the caller's GroupReporter
/// projects.
async fn jobs_state_aggregation_report(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Vec<JobStateAggregationReportExt>>, Problem> {
    let query = HeappeQuery(query);
    let principal = caller(&state, &query, &headers).await?;
    require(&principal, HeappeRole::GroupReporter)?;
    let scope = principal.heappe_projects(HeappeRole::GroupReporter);
    let counts = hpc::job_state_counts(&state.db, &scope).await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|c| JobStateAggregationReportExt {
                job_state_id: c.state,
                job_state_name: job_state_name(c.state),
                count: c.count,
            })
            .collect(),
    ))
}
