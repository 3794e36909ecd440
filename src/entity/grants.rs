//! `grants`: who holds which role on what. A grant gives a user a role over a
//! scope: the whole system, a project, a user group, a provider within a project
//! (EOSC), an installation (EOSC), an APEL site or an HCP bucket.

use sea_orm::entity::prelude::*;

/// A role held by a user over a scope.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user holding the grant.
    pub user_id: i64,
    /// The role granted.
    pub role_id: i64,
    /// What the grant applies to: `system`, `project`, `user_group`,
    /// `project_provider`, `installation`, `site` or `bucket`.
    pub scope_kind: String,
    /// The id of the row of the table `scope_kind` names; 0 for `system`.
    pub scope_id: i64,
    /// The user who made the grant; `None` for seeded grants or a deleted granter.
    pub granted_by: Option<i64>,
    /// When the grant was made.
    pub created_at: DateTimeUtc,
}

/// Relations of a grant.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user holding the grant (`user_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    User,
    /// The role granted (`role_id`, restricts deletion of the role).
    #[sea_orm(
        belongs_to = "super::roles::Entity",
        from = "Column::RoleId",
        to = "super::roles::Column::Id",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Role,
    /// The user who made the grant (`granted_by`, set to NULL on delete).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::GrantedBy",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    GrantedBy,
}

/// A grant's user is its holder (`user_id`), not its granter.
impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::roles::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Role.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The grants held by user `user_id`.
    pub fn find_for_user(user_id: i64) -> Select<Entity> {
        Self::find().filter(Column::UserId.eq(user_id))
    }
}
