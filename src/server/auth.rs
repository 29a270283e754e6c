//! Who may do what. Four roles; a request names its token in
//! `Authorization: Bearer <token>` (or, for the browser's EventSource and
//! the wall screen's URL, which cannot set headers, `?access_token=`).
//! Tokens are configured as SHA-256 hashes, so the config file holds no
//! secret; a presented token is hashed and looked up.
//!
//! With no tokens configured the server is open — allowed only on a
//! loopback address (checked at start, see [`Auth::new`]).

use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

pub use crate::config::{ApiToken, Role};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("unknown token")]
    Unknown,
    #[error("this token's role may not do this")]
    Forbidden,
    #[error(
        "refusing to listen on {0} without API tokens: anyone on the network could read and write; \
         configure [[token]] entries (minyi hash-token) or listen on 127.0.0.1"
    )]
    OpenBeyondLoopback(SocketAddr),
}

#[derive(Debug, Clone)]
pub struct Auth {
    tokens: Vec<ApiToken>,
}

/// Who a request comes from, as the audit names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A configured token.
    Token { name: String, role: Role },
    /// Anyone, on a server without tokens.
    Open,
    /// No token, or one that is not configured.
    Nobody,
}

impl Caller {
    /// The token's name (`open`, `none` without one).
    pub fn name(&self) -> &str {
        match self {
            Caller::Token { name, .. } => name,
            Caller::Open => "open",
            Caller::Nobody => "none",
        }
    }

    /// The role's name (`open`, `none` without a token).
    pub fn role(&self) -> &'static str {
        match self {
            Caller::Token { role, .. } => role.as_str(),
            Caller::Open => "open",
            Caller::Nobody => "none",
        }
    }
}

impl Auth {
    pub fn new(tokens: &[ApiToken], listen: SocketAddr) -> Result<Auth, AuthError> {
        if tokens.is_empty() && !listen.ip().is_loopback() {
            return Err(AuthError::OpenBeyondLoopback(listen));
        }
        Ok(Auth {
            tokens: tokens.to_vec(),
        })
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The configured token a request presents.
    fn token(&self, parts: &Parts) -> Result<&ApiToken, AuthError> {
        let token = bearer(parts).ok_or(AuthError::Missing)?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens
            .iter()
            .find(|t| t.sha256 == hash)
            .ok_or(AuthError::Unknown)
    }

    /// Who a request comes from.
    pub fn caller(&self, parts: &Parts) -> Caller {
        if self.is_open() {
            return Caller::Open;
        }
        match self.token(parts) {
            Ok(t) => Caller::Token {
                name: t.name.clone(),
                role: t.role,
            },
            Err(_) => Caller::Nobody,
        }
    }

    /// Checks a request's token against what it needs.
    pub fn check(&self, parts: &Parts, need: Role) -> Result<(), AuthError> {
        if self.is_open() {
            return Ok(());
        }
        if self.token(parts)?.role.allows(need) {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// The request's token: `Authorization: Bearer …` (the scheme in any
/// case, RFC 7235) or `?access_token=`. An empty token is no token.
fn bearer(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION)
        && let Ok(v) = h.to_str()
        && let Some((scheme, t)) = v.trim_start().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        let t = t.trim();
        return (!t.is_empty()).then(|| t.to_owned());
    }
    let query = parts.uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The hex SHA-256 of a token, for the config file.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An extractor that admits a request only when its token allows `ROLE`
/// (one of the `VIEWER`… constants).
pub struct Need<const ROLE: u8>;

pub const VIEWER: u8 = 0;
pub const ANALYST: u8 = 1;
pub const INGEST: u8 = 2;
pub const ADMIN: u8 = 3;

const fn role_of(n: u8) -> Role {
    match n {
        VIEWER => Role::Viewer,
        ANALYST => Role::Analyst,
        INGEST => Role::Ingest,
        _ => Role::Admin,
    }
}

impl<const ROLE: u8, S> FromRequestParts<S> for Need<ROLE>
where
    S: Send + Sync + AsRef<Auth>,
{
    type Rejection = super::api::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        state.as_ref().check(parts, role_of(ROLE))?;
        Ok(Need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, auth: Option<&str>) -> Parts {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn hash(t: &str) -> [u8; 32] {
        Sha256::digest(t.as_bytes()).into()
    }

    fn token(role: Role, secret: &str) -> ApiToken {
        ApiToken {
            name: format!("holder of {secret}"),
            role,
            sha256: hash(secret),
        }
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_an_empty_token_is_none() {
        let auth = Auth::new(
            &[token(Role::Viewer, "s3cret")],
            "0.0.0.0:1".parse().unwrap(),
        )
        .unwrap();
        for header in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert_eq!(
                auth.check(&parts("/", Some(header)), Role::Viewer),
                Ok(()),
                "{header}"
            );
        }
        assert_eq!(
            auth.check(&parts("/", Some("Bearer ")), Role::Viewer),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.check(&parts("/?access_token=", None), Role::Viewer),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.check(&parts("/", Some("Basic s3cret")), Role::Viewer),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn roles_nest() {
        assert!(Role::Analyst.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Analyst));
        assert!(!Role::Ingest.allows(Role::Viewer));
        assert!(Role::Admin.allows(Role::Ingest));
    }

    #[test]
    fn open_only_on_loopback() {
        assert!(Auth::new(&[], "127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(Auth::new(&[], "[::1]:8080".parse().unwrap()).is_ok());
        assert!(matches!(
            Auth::new(&[], "0.0.0.0:8080".parse().unwrap()),
            Err(AuthError::OpenBeyondLoopback(_))
        ));
        assert!(Auth::new(&[token(Role::Admin, "x")], "0.0.0.0:8080".parse().unwrap()).is_ok());
    }

    #[test]
    fn tokens_are_checked_by_hash() {
        let auth = Auth::new(
            &[token(Role::Viewer, "wall-1"), token(Role::Ingest, "feed")],
            "0.0.0.0:1".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            auth.check(&parts("/", None), Role::Viewer),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.check(&parts("/", Some("Bearer nope")), Role::Viewer),
            Err(AuthError::Unknown)
        );
        assert_eq!(
            auth.check(&parts("/", Some("Bearer wall-1")), Role::Viewer),
            Ok(())
        );
        assert_eq!(
            auth.check(&parts("/", Some("Bearer wall-1")), Role::Analyst),
            Err(AuthError::Forbidden)
        );
        assert_eq!(
            auth.check(
                &parts("/api/v1/live?access_token=wall-1", None),
                Role::Viewer
            ),
            Ok(())
        );
        assert_eq!(
            auth.check(&parts("/", Some("Bearer feed")), Role::Ingest),
            Ok(())
        );
        assert_eq!(hash_token("feed"), hex::encode(hash("feed")));
        assert_eq!(
            auth.caller(&parts("/", Some("Bearer feed"))),
            Caller::Token {
                name: "holder of feed".into(),
                role: Role::Ingest
            }
        );
        assert_eq!(
            auth.caller(&parts("/", Some("Bearer nope"))),
            Caller::Nobody
        );
        assert_eq!(auth.caller(&parts("/", None)).name(), "none");
    }
}
