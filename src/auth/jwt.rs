//! JWT bearer tokens: Tally's own (HS256) and those of an external OIDC
//! provider (RS256/ES256).
//!
//! Every key is pinned to one algorithm: a token is verified only with a key of
//! the algorithm its header names, so an HS256 token "signed" with an RSA public
//! key, or a token with `alg: none`, never verifies. `exp` is required, `nbf` is
//! honoured, `iss` and `aud` are checked, with a leeway of [`LEEWAY_SECS`].

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{JwtConfig, Secret};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims Tally reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user id for Tally's tokens; the provider's subject otherwise.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience (a string or a list).
    pub aud: serde_json::Value,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The username, informative only (Tally's tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSubject {
    /// A Tally user, by id (a token Tally issued).
    Local(i64),
    /// An identity of the external OIDC provider.
    External {
        /// The provider's `iss`.
        issuer: String,
        /// The provider's `sub`.
        subject: String,
    },
}

/// Why a token was refused. The token itself is never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all, or a header Tally cannot read (including `alg: none`).
    #[error("malformed token")]
    Malformed,
    /// The header names an algorithm no configured key uses.
    #[error("token algorithm not accepted")]
    AlgorithmNotAccepted,
    /// No configured key matches the header's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid token signature")]
    BadSignature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the expected issuer.
    #[error("token issuer not accepted")]
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    #[error("token audience not accepted")]
    WrongAudience,
    /// A required claim (`exp`, `sub`, …) is missing or malformed.
    #[error("token claims invalid")]
    InvalidClaims,
}

/// Why the configured keys could not be loaded; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct KeyError {
    /// The configuration variable at fault.
    pub variable: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// One external verification key, pinned to its algorithm.
struct ExternalKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The keys that sign and verify tokens.
pub struct JwtKeys {
    local_encoding: EncodingKey,
    local_decoding: DecodingKey,
    issuer: String,
    audience: String,
    external: Vec<ExternalKey>,
    oidc_issuer: Option<String>,
    oidc_audience: Option<String>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("external_keys", &self.external.len())
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Builds the key set from the configuration and the HS256 `secret` (the
    /// configured one, or the one kept in the database).
    ///
    /// # Errors
    /// An external key file cannot be read or holds no usable key.
    pub fn load(config: &JwtConfig, secret: &Secret) -> Result<Self, KeyError> {
        let mut external = Vec::new();
        if let Some(path) = &config.jwks_file {
            external.extend(load_jwks(path)?);
        }
        for path in &config.public_key_files {
            external.push(load_pem(path)?);
        }
        Ok(Self {
            local_encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            local_decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            external,
            oidc_issuer: config.oidc_issuer.clone(),
            oidc_audience: config.oidc_audience.clone(),
        })
    }

    /// Issues a token for user `user_id` that expires in `ttl_secs`.
    ///
    /// # Errors
    /// Signing failed (it does not with an HMAC key).
    pub fn issue(&self, user_id: i64, username: &str, ttl_secs: u64) -> Result<String, TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: serde_json::Value::String(self.audience.clone()),
            exp: now.saturating_add(ttl_secs),
            nbf: Some(now),
            iat: Some(now),
            name: Some(username.to_owned()),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.local_encoding,
        )
        .map_err(|_| TokenError::Malformed)
    }

    /// Verifies `token` and says whom it names.
    ///
    /// # Errors
    /// The [`TokenError`] that says why the token is refused.
    pub fn verify(&self, token: &str) -> Result<TokenSubject, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg == Algorithm::HS256 {
            let claims = decode(
                token,
                &self.local_decoding,
                Algorithm::HS256,
                &self.issuer,
                &self.audience,
            )?;
            let id = claims
                .sub
                .parse::<i64>()
                .map_err(|_| TokenError::InvalidClaims)?;
            return Ok(TokenSubject::Local(id));
        }
        let (Some(issuer), Some(audience)) = (&self.oidc_issuer, &self.oidc_audience) else {
            return Err(TokenError::AlgorithmNotAccepted);
        };
        let candidates: Vec<&ExternalKey> = self
            .external
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| match (&header.kid, &k.kid) {
                (Some(wanted), Some(kid)) => wanted == kid,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(if self.external.iter().any(|k| k.algorithm == header.alg) {
                TokenError::UnknownKey
            } else {
                TokenError::AlgorithmNotAccepted
            });
        }
        let mut last = TokenError::BadSignature;
        for key in candidates {
            match decode(token, &key.key, key.algorithm, issuer, audience) {
                Ok(claims) if claims.sub.is_empty() => return Err(TokenError::InvalidClaims),
                Ok(claims) => {
                    return Ok(TokenSubject::External {
                        issuer: claims.iss,
                        subject: claims.sub,
                    });
                }
                // Another key with the same algorithm may still verify it.
                Err(TokenError::BadSignature) => last = TokenError::BadSignature,
                Err(other) => return Err(other),
            }
        }
        Err(last)
    }
}

/// Verifies with one key, pinned to `algorithm`.
fn decode(
    token: &str,
    key: &DecodingKey,
    algorithm: Algorithm,
    issuer: &str,
    audience: &str,
) -> Result<Claims, TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidAlgorithm => TokenError::AlgorithmNotAccepted,
            ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => TokenError::InvalidClaims,
            _ => TokenError::Malformed,
        })
}

fn read(path: &Path, variable: &'static str) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError {
        variable,
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

/// The RS256/ES256 keys of a JWKS file; other kinds of key are skipped.
fn load_jwks(path: &Path) -> Result<Vec<ExternalKey>, KeyError> {
    let variable = "TALLY_JWT_JWKS_FILE";
    let set: JwkSet = serde_json::from_slice(&read(path, variable)?).map_err(|e| KeyError {
        variable,
        reason: format!("{} is not a JWKS document: {e}", path.display()),
    })?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        // A key that declares another algorithm is not used for this one.
        if let Some(declared) = jwk.common.key_algorithm {
            let same = matches!(
                (declared, algorithm),
                (KeyAlgorithm::RS256, Algorithm::RS256) | (KeyAlgorithm::ES256, Algorithm::ES256)
            );
            if !same {
                continue;
            }
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError {
            variable,
            reason: format!("key {:?}: {e}", jwk.common.key_id),
        })?;
        keys.push(ExternalKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err(KeyError {
            variable,
            reason: format!("{} holds no RS256 or ES256 key", path.display()),
        });
    }
    Ok(keys)
}

/// One PEM public key: RSA → RS256, EC (P-256) → ES256.
fn load_pem(path: &Path) -> Result<ExternalKey, KeyError> {
    let variable = "TALLY_JWT_PUBLIC_KEY_FILES";
    let pem = read(path, variable)?;
    let (algorithm, key) = match DecodingKey::from_rsa_pem(&pem) {
        Ok(key) => (Algorithm::RS256, key),
        Err(_) => match DecodingKey::from_ec_pem(&pem) {
            Ok(key) => (Algorithm::ES256, key),
            Err(e) => {
                return Err(KeyError {
                    variable,
                    reason: format!(
                        "{} is not an RSA or EC public key in PEM: {e}",
                        path.display()
                    ),
                });
            }
        },
    };
    Ok(ExternalKey {
        kid: None,
        algorithm,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        let config = JwtConfig {
            secret: None,
            issuer: "tally".to_owned(),
            audience: "tally".to_owned(),
            jwks_file: None,
            public_key_files: Vec::new(),
            oidc_issuer: None,
            oidc_audience: None,
        };
        JwtKeys::load(&config, &Secret::new("s".repeat(32))).unwrap()
    }

    /// The crypto backend is enabled: a token signs and verifies.
    #[test]
    fn issued_tokens_verify() {
        let keys = keys();
        let token = keys.issue(42, "alice", 60).unwrap();
        assert_eq!(keys.verify(&token), Ok(TokenSubject::Local(42)));
        // Another signature: flip the first character of the signature part.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{signed}.{first}{}", &signature[1..]);
        assert_eq!(keys.verify(&tampered), Err(TokenError::BadSignature));
    }

    #[test]
    fn external_algorithms_need_external_keys() {
        let keys = keys();
        // An RS256 header when no external key is configured.
        let header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9";
        assert_eq!(
            keys.verify(&format!("{header}.e30.sig")),
            Err(TokenError::AlgorithmNotAccepted)
        );
        assert_eq!(keys.verify("garbage"), Err(TokenError::Malformed));
    }
}
