//! Who may do what. Four roles; a request names its token in
//! `Authorization: Bearer <token>` (or, for the browser's EventSource and
//! the wall screen's URL, which cannot set headers, `?access_token=`).
//! Tokens are configured as SHA-256 hashes, so the config file holds no
//! secret; a presented token is hashed and looked up.
//!
//! With no tokens configured the server is open — allowed only on a
//! loopback address (checked at start, see [`Auth::new`]).
//!
//! A token may be scoped to districts and/or units (`[[token]] districts`,
//! `units`): [`Need`] hands its [`Scope`] to the handler, and
//! [`super::AppState::query`] — the only way a handler reaches the store's
//! answers — takes it, so every answer is of the scope's items.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

pub use crate::config::{ApiToken, Role};
use crate::query::{Scope, Vocabulary};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("unknown token")]
    Unknown,
    #[error("this token's role may not do this")]
    Forbidden,
    #[error("this endpoint is city-wide: a token scoped to districts or units may not use it")]
    CityOnly,
    /// A token's scope names a place the gazetteer does not know (a config error).
    #[error("token[{index}].{key}: {message}")]
    BadScope {
        index: usize,
        key: &'static str,
        message: String,
    },
    #[error(
        "refusing to listen on {0} without API tokens: anyone on the network could read and write; \
         configure [[token]] entries (minyi hash-token) or listen on 127.0.0.1"
    )]
    OpenBeyondLoopback(SocketAddr),
}

#[derive(Debug, Clone)]
pub struct Auth {
    /// Each token with its checked scope.
    tokens: Vec<(ApiToken, Arc<Scope>)>,
    /// The scope of an open server's callers: the city.
    city: Arc<Scope>,
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
    /// Checks the tokens' scopes against the gazetteer of `vocab`.
    pub fn new(
        tokens: &[ApiToken],
        listen: SocketAddr,
        vocab: &Vocabulary,
    ) -> Result<Auth, AuthError> {
        if tokens.is_empty() && !listen.ip().is_loopback() {
            return Err(AuthError::OpenBeyondLoopback(listen));
        }
        let tokens = tokens
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let scope =
                    Scope::new(&t.districts, &t.units, vocab).map_err(|(key, message)| {
                        AuthError::BadScope {
                            index,
                            key,
                            message,
                        }
                    })?;
                Ok((t.clone(), Arc::new(scope)))
            })
            .collect::<Result<_, AuthError>>()?;
        Ok(Auth {
            tokens,
            city: Arc::new(Scope::city()),
        })
    }

    /// The distinct scopes of the configured tokens (the city aside).
    pub fn scopes(&self) -> Vec<Scope> {
        let mut v: Vec<Scope> = self
            .tokens
            .iter()
            .filter(|(_, s)| !s.is_city())
            .map(|(_, s)| (**s).clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The configured token a request presents.
    fn token(&self, parts: &Parts) -> Result<&(ApiToken, Arc<Scope>), AuthError> {
        let token = bearer(parts).ok_or(AuthError::Missing)?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens
            .iter()
            .find(|(t, _)| t.sha256 == hash)
            .ok_or(AuthError::Unknown)
    }

    /// Who a request comes from.
    pub fn caller(&self, parts: &Parts) -> Caller {
        if self.is_open() {
            return Caller::Open;
        }
        match self.token(parts) {
            Ok((t, _)) => Caller::Token {
                name: t.name.clone(),
                role: t.role,
            },
            Err(_) => Caller::Nobody,
        }
    }

    /// Checks a request's token against what it needs; the token's scope.
    pub fn check(&self, parts: &Parts, need: Role) -> Result<Arc<Scope>, AuthError> {
        if self.is_open() {
            return Ok(self.city.clone());
        }
        let (token, scope) = self.token(parts)?;
        if token.role.allows(need) {
            Ok(scope.clone())
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
/// (one of the `VIEWER`… constants), and hands over the token's scope
/// (the city for unscoped tokens and an open server).
pub struct Need<const ROLE: u8>(pub Arc<Scope>);

/// An extractor for the city-wide endpoints (server metrics, silences):
/// like [`Need`], and a 403 for a scoped token.
pub struct NeedCity<const ROLE: u8>;

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
        Ok(Need(state.as_ref().check(parts, role_of(ROLE))?))
    }
}

impl<const ROLE: u8, S> FromRequestParts<S> for NeedCity<ROLE>
where
    S: Send + Sync + AsRef<Auth>,
{
    type Rejection = super::api::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if state.as_ref().check(parts, role_of(ROLE))?.is_city() {
            Ok(NeedCity)
        } else {
            Err(AuthError::CityOnly.into())
        }
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
            districts: Vec::new(),
            units: Vec::new(),
        }
    }

    fn vocab() -> Vocabulary {
        Vocabulary::from_enricher(&std::sync::Arc::new(
            crate::enrich::Enricher::builtin(b"k").unwrap(),
        ))
    }

    fn ok() -> Result<(), AuthError> {
        Ok(())
    }

    /// `Auth::check` without the scope.
    fn check(auth: &Auth, parts: &Parts, need: Role) -> Result<(), AuthError> {
        auth.check(parts, need).map(|_| ())
    }

    #[test]
    fn scopes_are_checked_and_handed_over() {
        let mut bureau = token(Role::Viewer, "hanshan");
        bureau.districts = vec!["邯山区".into()];
        let auth = Auth::new(&[bureau.clone()], "0.0.0.0:1".parse().unwrap(), &vocab()).unwrap();
        let scope = auth
            .check(&parts("/", Some("Bearer hanshan")), Role::Viewer)
            .unwrap();
        assert_eq!(scope.districts, ["邯山区"]);
        assert_eq!(auth.scopes().len(), 1);
        bureau.units = vec!["天台山派出所".into()];
        let e = Auth::new(&[bureau], "0.0.0.0:1".parse().unwrap(), &vocab()).unwrap_err();
        assert!(
            e.to_string().starts_with("token[0].units:") && e.to_string().contains("肥乡区"),
            "{e}"
        );
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_an_empty_token_is_none() {
        let auth = Auth::new(
            &[token(Role::Viewer, "s3cret")],
            "0.0.0.0:1".parse().unwrap(),
            &vocab(),
        )
        .unwrap();
        for header in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert_eq!(
                check(&auth, &parts("/", Some(header)), Role::Viewer),
                ok(),
                "{header}"
            );
        }
        assert_eq!(
            check(&auth, &parts("/", Some("Bearer ")), Role::Viewer),
            Err(AuthError::Missing)
        );
        assert_eq!(
            check(&auth, &parts("/?access_token=", None), Role::Viewer),
            Err(AuthError::Missing)
        );
        assert_eq!(
            check(&auth, &parts("/", Some("Basic s3cret")), Role::Viewer),
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
        assert!(Auth::new(&[], "127.0.0.1:8080".parse().unwrap(), &vocab()).is_ok());
        assert!(Auth::new(&[], "[::1]:8080".parse().unwrap(), &vocab()).is_ok());
        assert!(matches!(
            Auth::new(&[], "0.0.0.0:8080".parse().unwrap(), &vocab()),
            Err(AuthError::OpenBeyondLoopback(_))
        ));
        assert!(
            Auth::new(
                &[token(Role::Admin, "x")],
                "0.0.0.0:8080".parse().unwrap(),
                &vocab()
            )
            .is_ok()
        );
    }

    #[test]
    fn tokens_are_checked_by_hash() {
        let auth = Auth::new(
            &[token(Role::Viewer, "wall-1"), token(Role::Ingest, "feed")],
            "0.0.0.0:1".parse().unwrap(),
            &vocab(),
        )
        .unwrap();
        assert_eq!(
            check(&auth, &parts("/", None), Role::Viewer),
            Err(AuthError::Missing)
        );
        assert_eq!(
            check(&auth, &parts("/", Some("Bearer nope")), Role::Viewer),
            Err(AuthError::Unknown)
        );
        assert_eq!(
            check(&auth, &parts("/", Some("Bearer wall-1")), Role::Viewer),
            ok()
        );
        assert_eq!(
            check(&auth, &parts("/", Some("Bearer wall-1")), Role::Analyst),
            Err(AuthError::Forbidden)
        );
        assert_eq!(
            check(
                &auth,
                &parts("/api/v1/live?access_token=wall-1", None),
                Role::Viewer
            ),
            ok()
        );
        assert_eq!(
            check(&auth, &parts("/", Some("Bearer feed")), Role::Ingest),
            ok()
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
