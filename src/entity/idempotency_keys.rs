//! `idempotency_keys`: the first answer to a REST batch sent with an
//! `Idempotency-Key` header, so that a retry gets the same answer and changes
//! nothing. Keyed by route, principal and key.

use sea_orm::entity::prelude::*;

/// A remembered answer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The route the batch was posted to.
    pub route: String,
    /// Who posted it (`user:<id>` or the external subject).
    pub principal: String,
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// SHA-256 of the request body, hex.
    pub request_hash: String,
    /// The HTTP status answered.
    pub status: i16,
    /// The body answered (JSON).
    pub response: String,
    /// When the batch was first posted.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The answer remembered for (`route`, `principal`, `key`).
    pub fn find_by_key(route: &str, principal: &str, key: &str) -> Select<Entity> {
        Self::find()
            .filter(Column::Route.eq(route))
            .filter(Column::Principal.eq(principal))
            .filter(Column::Key.eq(key))
    }
}
