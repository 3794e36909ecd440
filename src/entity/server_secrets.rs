//! `server_secrets`: secrets Tally generates for itself when none is configured
//! (e.g. the JWT signing key of the embedded default), stored once and shared by
//! every instance. `Model`'s `Debug` redacts the secret value.

use std::fmt;

use sea_orm::entity::prelude::*;

/// A named server secret.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "server_secrets")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the secret is for, e.g. `jwt_signing_key` (unique).
    pub name: String,
    /// The secret itself; never logged.
    pub value: String,
    /// When the secret was generated.
    pub created_at: DateTimeUtc,
}

/// Debug output without the secret value, so a logged model leaks nothing.
impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Server secrets reference nothing.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The secret named `name` (unique).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }
}
