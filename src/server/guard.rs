//! What a browser on another site must not do to a server it can reach
//! (every server is reachable by the wrong page: an open one on loopback
//! too). Checked before any handler, for every request:
//!
//! - **Host**: an IP literal, `localhost`, or a name of `allowed_hosts`;
//!   any other name is a DNS-rebinding page that resolved its own name to
//!   this server — 421. (No `Host` at all is not a browser: allowed.)
//! - **Writes** (every method but GET, HEAD, OPTIONS): an `Origin` header,
//!   when present, must be this server's own origin (its scheme-less
//!   authority equals `Host`) or one of `allowed_origins` — else 403; a body
//!   must be sent as `application/json` or `application/x-ndjson` (JSONL)
//!   — else 415, so a cross-site form or `text/plain` POST (which browsers
//!   send without asking first) never reaches a handler; a body announced
//!   larger than the ingest limit is 413 before it is read.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// The checks' settings, from the config.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Host names (without port) besides IP literals and localhost.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://wall.example`) allowed to write besides the
    /// server's own.
    pub allowed_origins: Vec<String>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// The host part of a `Host` value (`[::1]:8080` → `::1`, `a.b:80` → `a.b`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

impl Guard {
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).trim_end_matches('.');
        name.parse::<IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Why a request is refused, if it is.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if let Some(h) = host
            && !self.host_allowed(h)
        {
            return Some(refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "Host is not a name of this server (add it to allowed_hosts)",
            ));
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            let own = origin
                .split_once("://")
                .is_some_and(|(_, authority)| Some(authority) == host);
            if !own && !self.allowed_origins.iter().any(|o| o == origin) {
                return Some(refuse(
                    StatusCode::FORBIDDEN,
                    "cross-site write refused: Origin is not this server (add it to allowed_origins)",
                ));
            }
        }
        // HTTP/1.1: a body has a length or a transfer encoding.
        let has_body = headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
            || headers.contains_key(header::TRANSFER_ENCODING);
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|t| {
                matches!(
                    t.as_str(),
                    "application/json"
                        | "application/x-ndjson"
                        | "application/jsonl"
                        | "application/jsonlines"
                        | "application/x-jsonlines"
                )
            });
        // Announced too large: refused before a byte of it is read (and
        // before `Expect: 100-continue` is answered with 100).
        if headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > crate::ingest::MAX_BODY_BYTES as u64)
        {
            return Some(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &crate::ingest::BodyError::TooLarge.to_string(),
            ));
        }
        if has_body && !json {
            return Some(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as application/json or application/x-ndjson",
            ));
        }
        None
    }
}

/// The middleware: refuses what [`Guard::check`] refuses.
pub async fn middleware(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refused) = state.guard.check(request.method(), request.headers()) {
        return refused;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn status(g: &Guard, m: Method, pairs: &[(&str, &str)]) -> Option<StatusCode> {
        g.check(&m, &headers(pairs)).map(|r| r.status())
    }

    #[test]
    fn hosts_are_ip_literals_localhost_or_configured_names() {
        let g = Guard {
            allowed_hosts: vec!["minyi.police.local".into()],
            ..Guard::default()
        };
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "10.1.2.3",
            "MINYI.police.local:443",
        ] {
            assert_eq!(status(&g, Method::GET, &[("host", ok)]), None, "{ok}");
        }
        assert_eq!(
            status(&g, Method::GET, &[("host", "evil.example:8080")]),
            Some(StatusCode::MISDIRECTED_REQUEST)
        );
        assert_eq!(status(&g, Method::GET, &[]), None, "no Host: not a browser");
    }

    #[test]
    fn writes_need_their_own_origin_and_a_json_body() {
        let g = Guard {
            allowed_origins: vec!["https://wall.example".into()],
            ..Guard::default()
        };
        let host = ("host", "127.0.0.1:8080");
        let json = ("content-type", "application/json");
        let len = ("content-length", "2");
        assert_eq!(status(&g, Method::POST, &[host, json]), None);
        assert_eq!(
            status(
                &g,
                Method::POST,
                &[host, json, ("origin", "http://127.0.0.1:8080")]
            ),
            None
        );
        assert_eq!(
            status(
                &g,
                Method::POST,
                &[host, json, ("origin", "https://wall.example")]
            ),
            None
        );
        for origin in ["https://evil.example", "null", "http://127.0.0.1:9999"] {
            assert_eq!(
                status(&g, Method::POST, &[host, json, ("origin", origin)]),
                Some(StatusCode::FORBIDDEN),
                "{origin}"
            );
        }
        assert_eq!(
            status(
                &g,
                Method::DELETE,
                &[host, ("origin", "https://evil.example")]
            ),
            Some(StatusCode::FORBIDDEN)
        );
        for t in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert_eq!(
                status(&g, Method::POST, &[host, len, ("content-type", t)]),
                Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                "{t}"
            );
        }
        assert_eq!(
            status(&g, Method::POST, &[host, len]),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            "a body without a type"
        );
        assert_eq!(
            status(
                &g,
                Method::POST,
                &[
                    host,
                    len,
                    ("content-type", "application/x-ndjson; charset=utf-8")
                ]
            ),
            None
        );
        assert_eq!(
            status(
                &g,
                Method::POST,
                &[host, json, ("content-length", "52428800")]
            ),
            Some(StatusCode::PAYLOAD_TOO_LARGE)
        );
        // An acknowledgement without a body needs no type.
        assert_eq!(
            status(&g, Method::POST, &[host, ("content-length", "0")]),
            None
        );
        // Reads are not writes.
        assert_eq!(
            status(&g, Method::GET, &[host, ("origin", "https://evil.example")]),
            None
        );
    }
}
