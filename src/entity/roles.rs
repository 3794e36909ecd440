//! `roles`: the roles a grant may carry, seeded by the migration, each from a
//! family (`tally`, `heappe`, `eosc`, `apel`, `storage`) mirroring the upstream
//! system whose permission model it reproduces.

use sea_orm::entity::prelude::*;

/// A role that grants can carry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The role's name, e.g. `heappe_submitter` (unique).
    pub name: String,
    /// The upstream family: `tally`, `heappe`, `eosc`, `apel` or `storage`.
    pub family: String,
    /// Order within the family: HEAppE's role id (1 = Administrator), 0 elsewhere.
    pub rank: i16,
    /// What the role allows.
    pub description: String,
}

/// Relations of a role.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The grants carrying the role.
    #[sea_orm(has_many = "super::grants::Entity")]
    Grants,
}

impl Related<super::grants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Grants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The role named `name` (unique).
    pub fn find_by_name(name: &str) -> Select<Entity> {
        Self::find().filter(Column::Name.eq(name))
    }
}
