//! `eosc_clients`: the clients registered with the EOSC Accounting System API,
//! identified by their token's subject, optionally backed by a Tally user.

use sea_orm::entity::prelude::*;

/// A registered EOSC API client.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "eosc_clients")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The token's `voperson_id`, `sub` or `client_id` (unique, non-empty).
    pub subject: String,
    /// The client's display name.
    pub name: Option<String>,
    /// The client's e-mail address.
    pub email: Option<String>,
    /// The Tally user behind the client, if linked.
    pub user_id: Option<i64>,
    /// When the client registered.
    pub registered_on: DateTimeUtc,
}

/// Relations of a client.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The Tally user (`user_id`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
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
    /// The client whose token subject is `subject` (unique).
    pub fn find_by_subject(subject: &str) -> Select<Entity> {
        Self::find().filter(Column::Subject.eq(subject))
    }
}
