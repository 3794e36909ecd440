//! Who is calling: the credentials a request carries, checked.
//!
//! - `Authorization: Bearer <JWT>`: Tally's own tokens or an external OIDC
//!   provider's ([`super::jwt`]).
//! - A HEAppE session code ([`super::session_code`]), on HEAppE's routes.
//! - An X.509 client DN: from the TLS handshake when Tally terminates TLS with
//!   client certificates, or from `TALLY_CLIENT_DN_HEADER` when the request comes
//!   from one of `TALLY_TRUSTED_PROXIES` (from anyone else the header is
//!   ignored).
//!
//! Credentials are never logged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};

use super::jwt::{JwtKeys, TokenError, TokenSubject};
use super::policy::Principal;
use super::principal;
use super::session_code::{SessionCodes, SessionError};
use crate::config::Config;
use crate::domain::dn::Dn;
use crate::entity::users;
use crate::error::Error;

/// The subject DN of a verified TLS client certificate, set by the TLS listener
/// on every request of the connection.
#[derive(Debug, Clone)]
pub struct ClientCertDn(pub Option<Dn>);

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were presented.
    Anonymous,
    /// Valid credentials of this principal.
    Authenticated(Principal),
}

impl Caller {
    /// The principal, or [`Error::Unauthenticated`].
    ///
    /// # Errors
    /// The caller is anonymous.
    pub fn principal(&self) -> Result<&Principal, Error> {
        match self {
            Self::Authenticated(principal) => Ok(principal),
            Self::Anonymous => Err(Error::Unauthenticated),
        }
    }
}

/// Why credentials were refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("malformed Authorization header")]
    MalformedHeader,
    /// The token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The token names a user that does not exist or is disabled.
    #[error("unknown or disabled user")]
    UnknownUser,
    /// A session code was refused.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Something unexpected (already logged).
    #[error(transparent)]
    Internal(#[from] Error),
}

/// Refused credentials in Tally's own terms, for every adapter (REST routes
/// and GraphQL alike): 401 [`Error::Unauthenticated`], with the reason logged
/// but not shown; the unexpected stays [`Error::Internal`].
impl From<AuthFailure> for Error {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Internal(error) => error,
            other => {
                tracing::info!(reason = %other, "credentials refused");
                Error::Unauthenticated
            }
        }
    }
}

impl From<sea_orm::DbErr> for AuthFailure {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Internal(error.into())
    }
}

/// The bearer token in `headers`, without checking it; `None` when there is no
/// `Authorization` header.
///
/// # Errors
/// The header is not `Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthFailure> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .map(Some)
        .ok_or(AuthFailure::MalformedHeader)
}

/// Checks credentials. One per application, shared by all requests.
#[derive(Debug)]
pub struct Authenticator {
    /// The token keys.
    pub keys: JwtKeys,
    /// HEAppE session codes.
    pub sessions: SessionCodes,
    trusted_proxies: Vec<ipnet::IpNet>,
    dn_header: String,
}

impl Authenticator {
    /// An authenticator over `keys` and `sessions`, with the proxy settings of
    /// `config`.
    #[must_use]
    pub fn new(config: &Config, keys: JwtKeys, sessions: SessionCodes) -> Self {
        Self {
            keys,
            sessions,
            trusted_proxies: config.trusted_proxies.clone(),
            dn_header: config.client_dn_header.clone(),
        }
    }

    /// The caller a bearer token (if any) in `headers` names. No header:
    /// [`Caller::Anonymous`].
    ///
    /// # Errors
    /// The header is malformed or the token is refused.
    pub async fn bearer(
        &self,
        db: &impl ConnectionTrait,
        headers: &HeaderMap,
    ) -> Result<Caller, AuthFailure> {
        match bearer_token(headers)? {
            None => Ok(Caller::Anonymous),
            Some(token) => self.token(db, token).await.map(Caller::Authenticated),
        }
    }

    /// The principal a bearer `token` names.
    ///
    /// # Errors
    /// The token is refused, or names no usable user.
    pub async fn token(
        &self,
        db: &impl ConnectionTrait,
        token: &str,
    ) -> Result<Principal, AuthFailure> {
        match self.keys.verify(token)? {
            TokenSubject::Local(id) => {
                let user = users::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .filter(|u| !u.disabled)
                    .ok_or(AuthFailure::UnknownUser)?;
                Ok(principal::load(db, &user).await?)
            }
            TokenSubject::External { issuer, subject } => {
                let user = users::Entity::find()
                    .filter(users::Column::ExternalIssuer.eq(issuer.as_str()))
                    .filter(users::Column::ExternalSubject.eq(subject.as_str()))
                    .one(db)
                    .await?;
                match user {
                    Some(user) if user.disabled => Err(AuthFailure::UnknownUser),
                    Some(user) => Ok(principal::load(db, &user).await?),
                    // Authenticated, but Tally knows nothing of them: no grants.
                    None => Ok(Principal {
                        user_id: None,
                        name: subject,
                        grants: Vec::new(),
                    }),
                }
            }
        }
    }

    /// The principal a HEAppE session code names; renews the code.
    ///
    /// # Errors
    /// The code is unknown or expired.
    pub async fn session_code(
        &self,
        db: &impl ConnectionTrait,
        code: &str,
    ) -> Result<Principal, AuthFailure> {
        let user = self.sessions.resolve(db, code).await?;
        Ok(principal::load(db, &user).await?)
    }

    /// The client's DN: from its TLS certificate, or from the DN header when the
    /// request comes from a trusted proxy. `None` when neither applies.
    #[must_use]
    pub fn client_dn(&self, parts: &Parts) -> Option<Dn> {
        if let Some(ClientCertDn(Some(dn))) = parts.extensions.get::<ClientCertDn>() {
            return Some(dn.clone());
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())?;
        if !self.is_trusted_proxy(peer) {
            if parts.headers.contains_key(self.dn_header.as_str()) {
                tracing::warn!(%peer, header = %self.dn_header, "client DN header from an untrusted address ignored");
            }
            return None;
        }
        let value = parts.headers.get(self.dn_header.as_str())?.to_str().ok()?;
        match Dn::parse(value) {
            Ok(dn) => Some(dn),
            Err(error) => {
                tracing::warn!(%error, "unreadable client DN header from a trusted proxy");
                None
            }
        }
    }

    fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}
