//! Metrics: create, read, update, delete under an installation, the
//! listings per installation, project, provider, group and user, and
//! `/metrics/search` (eosc.md §1.1, §1.2, §2).

use axum::Router;

use crate::app::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
}
