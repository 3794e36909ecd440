//! HPC jobs and tasks: reports over them.

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ConnectionTrait, EntityTrait as _, FromQueryResult, QueryOrder as _, QuerySelect as _,
};

use crate::auth::ProjectScope;
use crate::entity::jobs;
use crate::error::Error;

/// How many jobs are in one state.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct StateCount {
    /// HEAppE's JobState value.
    pub state: i16,
    /// How many jobs are in it.
    pub count: i64,
}

/// The number of jobs per state over every job of the projects in `scope`
/// (HEAppE's JobsStateAgregationReport: no time filter), by state.
///
/// # Errors
/// A database error.
pub async fn job_state_counts(
    db: &impl ConnectionTrait,
    scope: &ProjectScope,
) -> Result<Vec<StateCount>, Error> {
    Ok(scope
        .apply(jobs::Entity::find(), jobs::Column::ProjectId)
        .select_only()
        .column(jobs::Column::State)
        .column_as(Expr::col(jobs::Column::Id).count(), "count")
        .group_by(jobs::Column::State)
        .order_by_asc(jobs::Column::State)
        .into_model::<StateCount>()
        .all(db)
        .await?)
}
