//! The access audit's HTTP half: one [`AuditEntry`] per API request —
//! who (the token's name and role), what (method, path, query parameters
//! with the token removed and personal data masked), the status, and how
//! many items the response carried — queued on the [`Auditor`] when the
//! response is sent (for a streamed CSV export, when its last row is).
//!
//! [`Auditor`]: crate::privacy::Auditor

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt as _;

use super::AppState;
use crate::enrich::pii;
use crate::store::AuditEntry;

/// How many items a response carries, set by its handler in the
/// response's extensions. Every handler that returns items (their texts)
/// sets it, so the audit says how many each caller read.
#[derive(Clone)]
pub enum ItemCount {
    Known(u64),
    /// Counted while the body streams; the entry is recorded at its end.
    Streaming(Arc<AtomicU64>),
}

/// Longest path and query kept (a hostile client may send megabytes).
const MAX_KEPT: usize = 512;

/// Whether a request is audited: the API, not the probes, the metrics
/// (a scraper every 15 s would bury the accesses that matter), the
/// OpenAPI document or the web assets.
fn audited(path: &str) -> bool {
    path.starts_with("/api/") && path != "/api/v1/openapi.json"
}

pub async fn middleware(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if !audited(&path) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let caller = state.auth.caller(&parts);
    let mut entry = AuditEntry {
        at: state.enricher.now().timestamp(),
        token: caller.name().to_owned(),
        role: caller.role().to_owned(),
        method: parts.method.to_string(),
        path: kept(&clean_path(&path)),
        query: kept(&clean_query(parts.uri.query().unwrap_or(""))),
        status: 0,
        items: None,
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    entry.status = response.status().as_u16();
    match response.extensions().get::<ItemCount>().cloned() {
        None => {
            state.auditor.record(entry);
            response
        }
        Some(ItemCount::Known(n)) => {
            entry.items = Some(n);
            state.auditor.record(entry);
            response
        }
        Some(ItemCount::Streaming(count)) => {
            // Recorded when the body ends or the client hangs up.
            let (parts, body) = response.into_parts();
            let guard = RecordOnDrop {
                entry: Some(entry),
                count,
                state,
            };
            let stream = body.into_data_stream().map(move |chunk| {
                let _ = &guard;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

struct RecordOnDrop {
    entry: Option<AuditEntry>,
    count: Arc<AtomicU64>,
    state: Arc<AppState>,
}

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.items = Some(self.count.load(Relaxed));
            self.state.auditor.record(entry);
        }
    }
}

/// The path as the audit keeps it: each segment decoded (`%E5%86%80D12345`
/// is 冀D12345, `%40` an e-mail's @) and its personal data masked (an item
/// id may be a phone number), a contact hash whole (the record of its
/// erasure must name it).
fn clean_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.len() == 64 && seg.bytes().all(|b| b.is_ascii_hexdigit()) {
                seg.to_owned()
            } else {
                let seg = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
                pii::mask(seg.as_ref()).text
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The query string as the audit keeps it: `access_token` removed, the
/// value of any other parameter named like a secret (`ACCESS_TOKEN`,
/// `accessToken`, `api-token`, `password`: a client's slip, refused, but
/// audited) hidden, every value masked (a search for a phone number keeps
/// no phone number).
fn clean_query(query: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "access_token" {
            continue;
        }
        let name = k.to_lowercase();
        let value = if ["token", "secret", "passw", "auth"]
            .iter()
            .any(|w| name.contains(w))
        {
            "****".to_owned()
        } else {
            pii::mask(v.as_ref()).text
        };
        out.append_pair(&pii::mask(k.as_ref()).text, &value);
    }
    out.finish()
}

fn kept(s: &str) -> String {
    match s.char_indices().nth(MAX_KEPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_loses_the_token_and_personal_data() {
        let q = clean_query(
            "q=%E6%B0%91%E8%AD%A6+13812345678&access_token=s3cret&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        );
        assert!(!q.contains("s3cret") && !q.contains("access_token"), "{q}");
        assert!(!q.contains("12345678"), "{q}");
        // A token under a misspelt name, and a phone split by no-break
        // spaces (found by a hostile client).
        for query in [
            "limit=1&ACCESS_TOKEN=secret-analyst-0123456789",
            "accessToken=secret-analyst-0123456789",
            "api-token=secret-analyst-0123456789",
            "q=139%C2%A01234%C2%A05678",
        ] {
            let q = clean_query(query);
            assert!(
                !q.contains("secret-analyst") && !q.contains("1234"),
                "{query}: {q}"
            );
        }
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        assert_eq!(decoded[0].0, "q");
        assert!(decoded[0].1.starts_with("民警 138"), "{decoded:?}");
        assert_eq!(decoded[1], ("district".into(), "丛台区".into()));
    }

    #[test]
    fn paths_keep_contact_hashes_and_lose_phone_numbers() {
        let hash = "4098e0103304890df7ee05b14ff2fb20d517ae0223a1214af17f5a86eb110363";
        assert_eq!(
            clean_path(&format!("/api/v1/contacts/{hash}")),
            format!("/api/v1/contacts/{hash}")
        );
        assert_eq!(
            clean_path("/api/v1/feedback/13912345678"),
            "/api/v1/feedback/139****5678"
        );
        // Percent-encoded, as a client sends a plate, an e-mail or a name.
        assert_eq!(
            clean_path("/api/v1/feedback/%E5%86%80D12345"),
            "/api/v1/feedback/冀D***45"
        );
        assert_eq!(
            clean_path("/api/v1/feedback/zhang.san%40qq.com"),
            "/api/v1/feedback/z***@qq.com"
        );
        assert_eq!(
            clean_path("/api/v1/feedback/%E6%88%91%E5%8F%AB%E7%8E%8B%E5%B0%8F%E6%98%8E"),
            "/api/v1/feedback/我叫王**"
        );
    }

    #[test]
    fn long_paths_are_cut() {
        let long = "x".repeat(5000);
        assert_eq!(kept(&long).chars().count(), MAX_KEPT + 1);
        assert_eq!(kept("/api/v1/feedback"), "/api/v1/feedback");
    }

    #[test]
    fn probes_and_assets_are_not_audited() {
        for p in [
            "/api/v1/feedback",
            "/api/v1/audit",
            "/api/v1/live",
            "/api/v1/contacts/ab",
        ] {
            assert!(audited(p), "{p}");
        }
        for p in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/v1/openapi.json",
            "/",
            "/explore",
            "/js/wall.js",
        ] {
            assert!(!audited(p), "{p}");
        }
    }
}
