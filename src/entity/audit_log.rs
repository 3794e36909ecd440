//! `audit_log`: an append-only record of who did what to which target, for every
//! state-changing request (grants, formulas, corrections, recomputations…).

use sea_orm::entity::prelude::*;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When the action happened.
    pub at: DateTimeUtc,
    /// Who acted (a username, client subject or system component), as text.
    pub principal: String,
    /// What was done, e.g. `grant.create`.
    pub action: String,
    /// What it was done to, e.g. `project:42`.
    pub target: String,
    /// The id of the request that did it, for correlation with logs.
    pub request_id: Option<String>,
    /// Free-form detail (typically JSON).
    pub detail: Option<String>,
}

/// The audit log references nothing: it outlives what it describes.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
