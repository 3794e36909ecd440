//! `publisher_dns`: the certificate DNs allowed or banned from publishing APEL
//! cloud records. A banned DN is refused even when it would otherwise be allowed;
//! a DN bound to a site may publish for that site only.

use sea_orm::entity::prelude::*;

/// A publisher DN and its access.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "publisher_dns")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The DN in slash form, e.g. `/C=XX/O=XX/CN=host` (unique, non-empty).
    pub dn: String,
    /// `allowed` or `banned`.
    pub access: String,
    /// The one site the DN may publish for; `None` for any site.
    pub site_id: Option<i64>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
}

/// Relations of a publisher DN.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The site (`site_id`, cascades on delete).
    #[sea_orm(
        belongs_to = "super::sites::Entity",
        from = "Column::SiteId",
        to = "super::sites::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Site,
}

impl Related<super::sites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Site.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The entry for DN `dn`, in slash form (unique).
    pub fn find_by_dn(dn: &str) -> Select<Entity> {
        Self::find().filter(Column::Dn.eq(dn))
    }
}
