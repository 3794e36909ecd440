//! `session_codes`: HEAppE session codes issued at login. Only the SHA-256 of a
//! code is stored; a request presenting a code is resolved by its hash.

use sea_orm::entity::prelude::*;

/// A live HEAppE session of a user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_codes")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user the session belongs to.
    pub user_id: i64,
    /// SHA-256 of the session code, hex (unique); the code itself is never stored.
    pub code_hash: String,
    /// When the user authenticated.
    pub authenticated_at: DateTimeUtc,
    /// When the code was last used (never before `authenticated_at`).
    pub last_access_at: DateTimeUtc,
}

/// Relations of a session code.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The session's user (`user_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The session whose code hashes to `code_hash` (hex SHA-256, unique).
    pub fn find_by_code_hash(code_hash: &str) -> Select<Entity> {
        Self::find().filter(Column::CodeHash.eq(code_hash))
    }
}
