//! The catalogue of metric definitions, unit types and metric types
//! (`/metric-definitions`, `/unit-types`, `/metric-types`, eosc.md §1.1).

use axum::Router;

use crate::app::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
