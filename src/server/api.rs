//! The HTTP API: routes, handlers, and the one place error kinds become
//! status codes ([`ApiError`]). Handlers parse with the typed query model,
//! ask the store through [`AppState::query`], and render with
//! [`crate::dashboards::render`] — the same rendering the panels use.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{ANALYST, AuthError, INGEST, Need, VIEWER};
use super::ingest::{BodyError, MAX_BODY_BYTES, parse_body};
use crate::query::{Answer, Dim, Query, QueryError, Request as Kind};
use crate::store::StoreError;

/// Every way a request can fail, and its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The internal detail of a 5xx, for the logging middleware only.
#[derive(Clone)]
struct ErrorDetail(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Query(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Body(BodyError::TooLarge | BodyError::TooManyItems(_)) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::Auth(AuthError::Forbidden) => StatusCode::FORBIDDEN,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::ShuttingDown | ApiError::Store(StoreError::Closed) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Clients see the reason of their own mistakes, never internals.
        let message = if status.is_server_error() {
            status.canonical_reason().unwrap_or("error").to_lowercase()
        } else {
            self.to_string()
        };
        let mut response = (status, axum::Json(json!({ "error": message }))).into_response();
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(ErrorDetail(self.to_string()));
        }
        if matches!(
            self,
            ApiError::Auth(AuthError::Missing | AuthError::Unknown)
        ) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("ascii"));
        }
        response
    }
}

/// Logs server errors with their detail (one stderr line each).
async fn log_errors(request: Request, next: Next) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        eprintln!(
            "minyi serve: {what}: {} {detail}",
            response.status().as_u16()
        );
    }
    response
}

pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/feedback", post(post_feedback).get(get_feedback))
        .route("/api/v1/workorders/events", post(post_events))
        .route("/api/v1/stats/summary", get(summary))
        .route("/api/v1/stats/orders", get(orders))
        .route("/api/v1/stats/timeseries", get(timeseries))
        .route("/api/v1/stats/top", get(top))
        .route("/api/v1/live", get(live))
        .route("/api/v1/meta", get(meta))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}/ack", post(ack_alert))
        .route("/api/v1/silences", get(list_silences).post(add_silence))
        .route("/api/v1/silences/{id}", axum::routing::delete(end_silence))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn(log_errors))
        .with_state(state)
}

async fn read_body(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            state.metrics.requests_refused.fetch_add(1, Relaxed);
            ApiError::Body(BodyError::TooLarge)
        })
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("ndjson") || v.contains("jsonl") || v.contains("jsonlines"))
}

fn elements(
    state: &AppState,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Vec<super::ingest::Element>, ApiError> {
    parse_body(bytes, is_ndjson(headers)).map_err(|e| {
        state.metrics.requests_refused.fetch_add(1, Relaxed);
        ApiError::Body(e)
    })
}

async fn post_feedback(
    _: Need<INGEST>,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, body).await?;
    let elements = elements(&state, &headers, &bytes)?;
    let outcome = state.ingest.feedback(elements).await?;
    Ok(axum::Json(outcome).into_response())
}

async fn post_events(
    _: Need<INGEST>,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, body).await?;
    let elements = elements(&state, &headers, &bytes)?;
    let outcome = state.ingest.events(elements).await?;
    Ok(axum::Json(outcome).into_response())
}

fn parse(state: &AppState, kind: Kind, raw: Option<&str>) -> Result<Query, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    Ok(kind.parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &state.vocab,
        state.enricher.now().timestamp(),
    )?)
}

async fn answer(state: &AppState, kind: Kind, raw: Option<&str>) -> Result<Response, ApiError> {
    let query = parse(state, kind, raw)?;
    let answer = state.query(query.clone()).await?;
    Ok(axum::Json(state.render(&query, &answer)).into_response())
}

async fn summary(
    _: Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, Kind::Summary, q.as_deref()).await
}

async fn orders(
    _: Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, Kind::Orders, q.as_deref()).await
}

async fn timeseries(
    _: Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, Kind::Timeseries, q.as_deref()).await
}

async fn top(
    _: Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, Kind::Top, q.as_deref()).await
}

async fn get_feedback(
    _: Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let wants_csv = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "format" && v == "csv");
    if !wants_csv {
        return answer(&state, Kind::Feedback, q.as_deref()).await;
    }
    let Query::Feedback { filters, .. } = parse(&state, Kind::Feedback, q.as_deref())? else {
        unreachable!("a feedback request parses to a feedback query")
    };
    Ok(csv_export(state, filters))
}

/// Rows of one page of a CSV export; the export walks all pages.
const CSV_PAGE: usize = 1000;
/// Most rows one export streams.
const CSV_MAX_ROWS: usize = 1_000_000;

/// Streams every matching item as CSV (UTF-8 with a BOM, so Excel reads the
/// Chinese right), a page at a time; memory stays bounded by one page.
fn csv_export(state: Arc<AppState>, filters: crate::query::Filters) -> Response {
    let header = "\u{feff}id,received_at,channel,district,unit,topics,sentiment,score,rating,keywords,text\r\n";
    struct Walk {
        state: Arc<AppState>,
        filters: crate::query::Filters,
        cursor: Option<crate::query::Cursor>,
        rows: usize,
        done: bool,
    }
    let walk = Walk {
        state,
        filters,
        cursor: None,
        rows: 0,
        done: false,
    };
    let pages = stream::unfold(walk, |mut w| async move {
        if w.done || w.rows >= CSV_MAX_ROWS {
            return None;
        }
        let query = Query::Feedback {
            filters: w.filters.clone(),
            limit: CSV_PAGE,
            cursor: w.cursor,
        };
        let chunk = match w.state.query(query).await {
            Ok(Answer::Feedback { items, next }) => {
                let mut out = String::new();
                for i in &items {
                    let topics: Vec<String> = i
                        .topics
                        .iter()
                        .map(|t| w.state.vocab.name(Dim::Topic, t))
                        .collect();
                    let cells = [
                        i.id.clone(),
                        i.received_at.clone(),
                        w.state.vocab.name(Dim::Channel, &i.channel),
                        i.district.clone().unwrap_or_default(),
                        i.unit.clone().unwrap_or_default(),
                        topics.join("、"),
                        w.state.vocab.name(Dim::Sentiment, &i.sentiment),
                        format!("{:.2}", i.score),
                        i.rating.map(|r| r.to_string()).unwrap_or_default(),
                        i.keywords.join(" "),
                        i.text.clone(),
                    ];
                    let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                    out.push_str(&line.join(","));
                    out.push_str("\r\n");
                }
                w.rows += items.len();
                w.cursor = next;
                w.done = next.is_none();
                Ok::<_, std::io::Error>(Bytes::from(out))
            }
            Ok(_) => {
                w.done = true;
                Ok(Bytes::new())
            }
            Err(e) => {
                eprintln!("minyi serve: CSV export stopped: {e}");
                w.done = true;
                Err(std::io::Error::other("export failed"))
            }
        };
        Some((chunk, w))
    });
    let body = Body::from_stream(
        stream::once(async move { Ok::<_, std::io::Error>(Bytes::from_static(header.as_bytes())) })
            .chain(pages),
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"minyi-feedback.csv\"",
        )
        .body(body)
        .expect("static headers are valid")
}

use futures_util::StreamExt as _;

/// One CSV cell: quoted when needed; a leading `= + - @` is defused so a
/// spreadsheet never runs a citizen's text as a formula.
fn csv_cell(s: &str) -> String {
    let defused = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

async fn live(_: Need<VIEWER>, State(state): State<Arc<AppState>>) -> Response {
    state
        .live
        .subscribe(state.shutdown.clone(), state.metrics.clone())
        .into_response()
}

/// What the browser needs to label and lay out: names of codes, the
/// dashboards, the zone.
async fn meta(_: Need<VIEWER>, State(state): State<Arc<AppState>>) -> axum::Json<Value> {
    let pairs = |v: &[(String, String)]| -> Vec<Value> {
        v.iter()
            .map(|(c, n)| json!({"code": c, "name": n}))
            .collect()
    };
    axum::Json(json!({
        "channels": pairs(&state.vocab.channels),
        "topics": pairs(&state.vocab.topics),
        "districts": state.vocab.districts,
        "units": state.vocab.units,
        "sentiments": [
            {"code": "positive", "name": "正面"},
            {"code": "neutral", "name": "中性"},
            {"code": "negative", "name": "负面"}
        ],
        "timezone": state.tz.to_string(),
        "tick_seconds": state.tick.as_secs_f64(),
        "dashboards": state.dashboards,
        "geo": state.geo,
        "model_version": state.enricher.model_version(),
    }))
}

/// `?status=firing` (default) or `all` (the last 30 days).
async fn list_alerts(
    _: Need<VIEWER>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let status = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "firing".into());
    let alerts = match status.as_str() {
        "firing" => state.alerts.firing().await,
        "all" => {
            let since = state.enricher.now().timestamp() - 30 * 86_400;
            let mut all: Vec<crate::alerts::engine::Alert> = state
                .store
                .state_load("alert", since)
                .await?
                .iter()
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect();
            all.sort_by_key(|a| std::cmp::Reverse(a.started_at));
            all.truncate(1000);
            all
        }
        other => {
            return Err(ApiError::Invalid(format!(
                "parameter `status`: {other:?} is not firing or all"
            )));
        }
    };
    Ok(axum::Json(json!({ "alerts": alerts })).into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AckBody {
    /// Who acknowledges (a name for the record).
    by: Option<String>,
}

async fn ack_alert(
    _: Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: AckBody = if body.is_empty() {
        AckBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(format!("body: {e}")))?
    };
    let by: String = body
        .by
        .unwrap_or_else(|| "analyst".into())
        .chars()
        .take(64)
        .collect();
    let now = state.enricher.now().timestamp();
    match state.alerts.ack(&state, &id, &by, now).await {
        Some(a) => Ok(axum::Json(a).into_response()),
        None => Err(ApiError::NotFound),
    }
}

async fn list_silences(_: Need<VIEWER>, State(state): State<Arc<AppState>>) -> Response {
    let now = state.enricher.now().timestamp();
    axum::Json(json!({ "silences": state.alerts.silences(now).await })).into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    rule: Option<String>,
    key: Option<String>,
    /// RFC 3339, or `for` a duration from now ("2h").
    until: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    #[serde(default)]
    comment: String,
}

async fn add_silence(
    _: Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: SilenceBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(format!("body: {e}")))?;
    let now = state.enricher.now().timestamp();
    let until = match (&b.until, &b.duration) {
        (Some(u), None) => chrono::DateTime::parse_from_rfc3339(u)
            .map_err(|_| ApiError::Invalid(format!("until: {u:?} is not RFC 3339")))?
            .timestamp(),
        (None, Some(d)) => {
            now + crate::alerts::rules::parse_duration(d).ok_or_else(|| {
                ApiError::Invalid(format!("for: {d:?} is not a duration like \"2h\""))
            })?
        }
        _ => return Err(ApiError::Invalid("give one of `until` and `for`".into())),
    };
    if until <= now {
        return Err(ApiError::Invalid(
            "the silence would end in the past".into(),
        ));
    }
    if let Some(r) = &b.rule
        && !state.alerts.rules.iter().any(|x| x.name == *r)
    {
        return Err(ApiError::Invalid(format!("rule: no rule named {r:?}")));
    }
    let silence = crate::alerts::engine::Silence {
        id: format!("s-{now}-{}", fastrand::u32(..)),
        rule: b.rule,
        key: b.key,
        until,
        comment: b.comment.chars().take(500).collect(),
        created_at: now,
    };
    state.alerts.add_silence(&state, silence.clone()).await?;
    Ok((StatusCode::CREATED, axum::Json(silence)).into_response())
}

async fn end_silence(
    _: Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let now = state.enricher.now().timestamp();
    if state.alerts.end_silence(&state, &id, now).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    // A cheap round trip through the store: the last minute.
    let started = Instant::now();
    let now = state.enricher.now().timestamp();
    let probe = crate::query::Filters::default().with_range(Some(now - 60), Some(now));
    match state.query(Query::Summary(probe)).await {
        Ok(_) => format!("ready ({} ms)\n", started.elapsed().as_millis()).into_response(),
        Err(e) => ApiError::Store(e).into_response(),
    }
}

async fn metrics(_: Need<VIEWER>, State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("出警慢"), "出警慢");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("说\"好\""), "\"说\"\"好\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("-0.5"), "-0.5");
    }
}
