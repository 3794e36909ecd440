//! The HS256 signing key: `TALLY_JWT_SECRET`, or one Tally generates on first
//! start and keeps in `server_secrets`, shared by every instance.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait as _};

use crate::config::{MIN_JWT_SECRET_BYTES, Secret};
use crate::entity::server_secrets;
use crate::error::Error;

/// The row name of the generated JWT key.
const JWT_SECRET: &str = "jwt_hs256";

/// The configured secret, or the stored one (generated and stored first if
/// there is none). Concurrent first starts agree: the first insert wins and
/// everyone reads it back.
///
/// # Errors
/// A database error, or no randomness available.
pub async fn jwt_secret(
    db: &impl ConnectionTrait,
    configured: Option<&Secret>,
) -> Result<Secret, Error> {
    if let Some(secret) = configured {
        return Ok(secret.clone());
    }
    if let Some(row) = server_secrets::Entity::find_by_name(JWT_SECRET)
        .one(db)
        .await?
    {
        return Ok(Secret::new(row.value));
    }
    let mut bytes = [0_u8; MIN_JWT_SECRET_BYTES * 2];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(&format!("no randomness: {e}")))?;
    let generated = server_secrets::ActiveModel {
        name: Set(JWT_SECRET.to_owned()),
        value: Set(hex::encode(bytes)),
        ..Default::default()
    };
    server_secrets::Entity::insert(generated)
        .on_conflict(
            OnConflict::column(server_secrets::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    tracing::info!(
        "generated a JWT signing key and stored it in the database (TALLY_JWT_SECRET unset)"
    );
    let row = server_secrets::Entity::find_by_name(JWT_SECRET)
        .one(db)
        .await?
        .ok_or_else(|| Error::internal(&"the generated JWT key was not stored"))?;
    Ok(Secret::new(row.value))
}
