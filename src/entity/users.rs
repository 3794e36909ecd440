//! `users`: the identities that log in to Tally, by password (argon2id) or as
//! an external OIDC identity (`iss` + `sub`). Users hold grants, submit HPC jobs,
//! own HCP buckets, trigger accounting runs and may back EOSC clients.

use sea_orm::entity::prelude::*;

/// A Tally user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login name, the user's natural key (unique, non-empty).
    pub username: String,
    /// Contact e-mail address.
    pub email: Option<String>,
    /// argon2id PHC string; `None` for identities that only log in by token.
    pub password_hash: Option<String>,
    /// The `iss` of the user's external OIDC identity (set together with
    /// `external_subject`).
    pub external_issuer: Option<String>,
    /// The `sub` of the user's external OIDC identity (set together with
    /// `external_issuer`; the pair is unique).
    pub external_subject: Option<String>,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row was last updated.
    pub updated_at: DateTimeUtc,
}

/// Tables that reference a user directly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The grants held by the user (`grants.user_id`).
    #[sea_orm(has_many = "super::grants::Entity")]
    Grants,
    /// The user's HEAppE session codes.
    #[sea_orm(has_many = "super::session_codes::Entity")]
    SessionCodes,
    /// The HPC jobs the user submitted.
    #[sea_orm(has_many = "super::jobs::Entity")]
    Jobs,
    /// The accounting runs the user triggered.
    #[sea_orm(has_many = "super::accounting_runs::Entity")]
    AccountingRuns,
    /// The formulas the user created.
    #[sea_orm(has_many = "super::formulas::Entity")]
    Formulas,
    /// The EOSC clients backed by the user.
    #[sea_orm(has_many = "super::eosc_clients::Entity")]
    EoscClients,
    /// The HCP buckets the user owns.
    #[sea_orm(has_many = "super::buckets::Entity")]
    Buckets,
}

impl Related<super::grants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Grants.def()
    }
}

impl Related<super::session_codes::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SessionCodes.def()
    }
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl Related<super::accounting_runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AccountingRuns.def()
    }
}

impl Related<super::formulas::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Formulas.def()
    }
}

impl Related<super::eosc_clients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EoscClients.def()
    }
}

impl Related<super::buckets::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Buckets.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// The user whose login name is `username` (unique).
    pub fn find_by_username(username: &str) -> Select<Entity> {
        Self::find().filter(Column::Username.eq(username))
    }

    /// The user with external OIDC identity `issuer` + `subject` (unique).
    pub fn find_by_external(issuer: &str, subject: &str) -> Select<Entity> {
        Self::find()
            .filter(Column::ExternalIssuer.eq(issuer))
            .filter(Column::ExternalSubject.eq(subject))
    }
}
