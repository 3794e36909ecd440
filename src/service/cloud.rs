//! Cloud accounting (APEL): publishers.

use sea_orm::ConnectionTrait;

use crate::domain::dn::Dn;
use crate::entity::publisher_dns;
use crate::error::Error;

/// What Tally knows of a publisher's DN (APEL's `_signer_is_valid`, with the
/// lists kept in the database instead of environment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublisherAccess {
    /// Listed as allowed; `site_id`, when set, is the one site it may publish for.
    Allowed {
        /// The site the publisher is bound to, if any.
        site_id: Option<i64>,
    },
    /// Listed as banned: refused, whatever else holds.
    Banned,
    /// Not listed: refused.
    Unknown,
}

impl PublisherAccess {
    /// `allowed`, `banned` or `unknown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed { .. } => "allowed",
            Self::Banned => "banned",
            Self::Unknown => "unknown",
        }
    }
}

/// Whether `dn` may publish cloud records. DNs are compared in slash form, so
/// a DN given in RFC 4514 form matches its slash-form entry.
///
/// # Errors
/// A database error.
pub async fn publisher_access(
    db: &impl ConnectionTrait,
    dn: &Dn,
) -> Result<PublisherAccess, Error> {
    let entry = publisher_dns::Entity::find_by_dn(&dn.to_slash())
        .one(db)
        .await?;
    Ok(match entry {
        Some(entry) if entry.access == "banned" => PublisherAccess::Banned,
        Some(entry) => PublisherAccess::Allowed {
            site_id: entry.site_id,
        },
        None => PublisherAccess::Unknown,
    })
}

/// Lists `dn` as `allowed` (optionally bound to `site_id`) or `banned`,
/// replacing what was listed before.
///
/// # Errors
/// `access` is neither, or a database error.
pub async fn set_publisher(
    db: &impl ConnectionTrait,
    dn: &Dn,
    access: &str,
    site_id: Option<i64>,
) -> Result<(), Error> {
    use sea_orm::ActiveValue::Set;
    use sea_orm::EntityTrait as _;
    use sea_orm::sea_query::OnConflict;
    if access != "allowed" && access != "banned" {
        return Err(Error::BadRequest(format!(
            "access must be allowed or banned, not {access:?}"
        )));
    }
    let row = publisher_dns::ActiveModel {
        dn: Set(dn.to_slash()),
        access: Set(access.to_owned()),
        site_id: Set(site_id),
        ..Default::default()
    };
    publisher_dns::Entity::insert(row)
        .on_conflict(
            OnConflict::column(publisher_dns::Column::Dn)
                .update_columns([publisher_dns::Column::Access, publisher_dns::Column::SiteId])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
