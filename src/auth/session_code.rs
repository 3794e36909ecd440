//! HEAppE session codes (heappe.md §5): a GUID a user obtains with their
//! password and then passes as `sessionCode`. The expiry is sliding: every
//! authenticated call renews it; a code unused for the configured time expires.
//! Authenticating again while a code is valid returns the same code.
//!
//! Codes are stored hashed (SHA-256), never in clear. The same code can still be
//! returned again because it is derived, with a key only the server holds, from
//! the user and the instant the session started: HMAC-SHA256(key, user:start).

use chrono::{DateTime, Duration, DurationRound as _, TimeDelta, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _,
    QueryFilter as _, QueryOrder as _,
};
use sha2::{Digest as _, Sha256};

use super::password;
use crate::config::Secret;
use crate::entity::{session_codes, users};
use crate::error::Error;

/// Why a session code or a password was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such session code (or its user is disabled).
    #[error("unknown session code")]
    Unknown,
    /// The code expired at `at`.
    #[error("session code expired")]
    Expired {
        /// The code as presented.
        code: String,
        /// When it expired.
        at: DateTime<Utc>,
    },
    /// Username and password do not match.
    #[error("authentication of user {username:?} was not successful")]
    BadCredentials {
        /// The username as presented.
        username: String,
    },
    /// Something unexpected (already logged).
    #[error(transparent)]
    Internal(#[from] Error),
}

impl From<sea_orm::DbErr> for SessionError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

/// Issues and resolves session codes.
pub struct SessionCodes {
    key: Secret,
    ttl: Duration,
}

impl std::fmt::Debug for SessionCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodes")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionCodes {
    /// Codes derived with `key` that expire after `ttl` without use.
    #[must_use]
    pub fn new(key: Secret, ttl: std::time::Duration) -> Self {
        let ttl = Duration::from_std(ttl).unwrap_or(Duration::seconds(900));
        Self { key, ttl }
    }

    /// The idle lifetime of a code.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The code of the session `user_id` started at `started`.
    fn derive(&self, user_id: i64, started: DateTime<Utc>) -> String {
        let mut mac = match <Hmac<Sha256>>::new_from_slice(self.key.expose().as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(b"heappe-session-code:");
        mac.update(format!("{user_id}:{}", started.timestamp_micros()).as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    /// Checks `username` and `password` and returns the user's session code: the
    /// current one while it is valid (renewed), a new one otherwise.
    ///
    /// # Errors
    /// [`SessionError::BadCredentials`] when they do not match a user.
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        username: &str,
        password: &str,
    ) -> Result<String, SessionError> {
        let user = users::Entity::find_by_username(username).one(db).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        // Verify even when there is no such user, so both take the same time.
        let matches = password::verify(password, hash.unwrap_or(password::dummy_hash()));
        let user = match user {
            Some(user) if matches && hash.is_some() && !user.disabled => user,
            _ => {
                return Err(SessionError::BadCredentials {
                    username: username.to_owned(),
                });
            }
        };
        let now = now();
        let current = session_codes::Entity::find()
            .filter(session_codes::Column::UserId.eq(user.id))
            .filter(session_codes::Column::LastAccessAt.gte(now - self.ttl))
            .order_by_desc(session_codes::Column::AuthenticatedAt)
            .one(db)
            .await?;
        if let Some(session) = current {
            touch(db, session.id, now).await?;
            return Ok(self.derive(user.id, session.authenticated_at));
        }
        let code = self.derive(user.id, now);
        session_codes::ActiveModel {
            user_id: Set(user.id),
            code_hash: Set(hash_code(&code)),
            authenticated_at: Set(now),
            last_access_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        Ok(code)
    }

    /// The user a valid `code` belongs to; renews the code.
    ///
    /// # Errors
    /// [`SessionError::Unknown`] or [`SessionError::Expired`].
    pub async fn resolve(
        &self,
        db: &impl ConnectionTrait,
        code: &str,
    ) -> Result<users::Model, SessionError> {
        let session = session_codes::Entity::find_by_code_hash(&hash_code(code.trim()))
            .one(db)
            .await?
            .ok_or(SessionError::Unknown)?;
        let now = now();
        let expires = session.last_access_at + self.ttl;
        if expires < now {
            return Err(SessionError::Expired {
                code: code.to_owned(),
                at: expires,
            });
        }
        let user = users::Entity::find_by_id(session.user_id)
            .one(db)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(SessionError::Unknown)?;
        touch(db, session.id, now).await?;
        Ok(user)
    }
}

/// Now, to the microsecond (what both backends store).
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// Renews a session: `last_access_at = now`.
async fn touch(db: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<(), SessionError> {
    session_codes::Entity::update_many()
        .col_expr(session_codes::Column::LastAccessAt, Expr::val(now))
        .filter(session_codes::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// SHA-256 of a code, hex: what is stored.
#[must_use]
pub fn hash_code(code: &str) -> String {
    hex::encode(Sha256::digest(code.to_ascii_lowercase().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_guids_derived_from_user_and_start() {
        let codes = SessionCodes::new(
            Secret::new("k".repeat(32)),
            std::time::Duration::from_secs(900),
        );
        let start = Utc::now();
        let code = codes.derive(7, start);
        assert_eq!(code.len(), 36);
        assert!(uuid::Uuid::parse_str(&code).is_ok());
        assert_eq!(
            code,
            codes.derive(7, start),
            "the same session gives the same code"
        );
        assert_ne!(code, codes.derive(8, start));
        let other_key = SessionCodes::new(
            Secret::new("x".repeat(32)),
            std::time::Duration::from_secs(900),
        );
        assert_ne!(
            code,
            other_key.derive(7, start),
            "the key is needed to derive a code"
        );
        assert_eq!(
            hash_code(&code),
            hash_code(&code.to_uppercase()),
            "GUIDs compare case-insensitively"
        );
    }
}
