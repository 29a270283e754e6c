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
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::audit::ItemCount;
use super::auth::{ADMIN, ANALYST, AuthError, INGEST, Need, NeedCity, VIEWER};
use crate::alerts::engine::{Alert, Silence};
use crate::dashboards::{FeedbackPage, IncidentsView, RankView, TimeseriesView, TopView};
use crate::ingest::Outcome;
use crate::ingest::{BodyError, Element, MAX_BODY_BYTES, parse_body};
use crate::query::{
    Answer, Filters, Orders, OutOfScope, Query, QueryError, Request as Kind, Scope, Summary,
};
use crate::store::StoreError;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every way a request can fail, and its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A filter naming a place outside the caller's scope.
    #[error(transparent)]
    OutOfScope(#[from] OutOfScope),
    #[error("shutting down")]
    ShuttingDown,
    #[error("too many walls of different scopes are open; try again later")]
    TooManyScopes,
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    /// A 404 that says what is missing.
    #[error("{0}")]
    Missing(String),
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
            ApiError::NotFound | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Body(BodyError::TooLarge | BodyError::TooManyItems(_)) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Body(BodyError::Timeout) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::Auth(AuthError::Forbidden | AuthError::CityOnly)
            | ApiError::OutOfScope(_) => StatusCode::FORBIDDEN,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::ShuttingDown
            | ApiError::TooManyScopes
            | ApiError::Store(StoreError::Closed) => StatusCode::SERVICE_UNAVAILABLE,
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

/// The access log (debug: method, route pattern, status, latency) and the
/// detail of each server error (error: one line each). The route is the
/// pattern (`/api/v1/alerts/{id}/ack`), never the query string, so no
/// search term or token reaches the log.
pub async fn log_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "(static)".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        tracing::error!(%method, route, status, "request failed: {detail}");
    }
    tracing::debug!(
        %method,
        route,
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    response
}

/// Every route, each registered with its OpenAPI entry (`routes!` takes
/// the path, method, parameters, bodies, responses and role from the
/// handler's `#[utoipa::path]`), so the document served at
/// `/api/v1/openapi.json` lists exactly what the router serves.
pub fn routes(state: Arc<AppState>) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(post_feedback, get_feedback))
        .routes(routes!(post_events))
        .routes(routes!(summary))
        .routes(routes!(orders))
        .routes(routes!(timeseries))
        .routes(routes!(top))
        .routes(routes!(rank))
        .routes(routes!(revisits))
        .routes(routes!(incidents))
        .routes(routes!(incident))
        .routes(routes!(supervision))
        .routes(routes!(live))
        .routes(routes!(meta))
        .routes(routes!(list_alerts))
        .routes(routes!(ack_alert))
        .routes(routes!(list_silences, add_silence))
        .routes(routes!(end_silence))
        .routes(routes!(erase_item))
        .routes(routes!(contact, erase_contact))
        .routes(routes!(audit))
        .routes(routes!(report))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .split_for_parts();
    let doc: Arc<str> = doc.to_json().expect("the document serializes").into();
    router
        .layer(axum::Extension(OpenApiJson(doc)))
        .layer(axum::middleware::from_fn(json_refusals))
        .with_state(state)
}

/// What a path under `/api/` that no route has answers (see
/// [`super::app`]): the API's 404, in its shape, not the web's page.
pub async fn no_such_route() -> ApiError {
    ApiError::Missing(NO_SUCH_ROUTE.into())
}

pub const NO_SUCH_ROUTE: &str = "no such API route";

/// The longest body of a refusal worth reading into its JSON message.
const MAX_REFUSAL_TEXT: usize = 4096;

/// Every refusal of an API route in the API's own shape, `{"error": …}`:
/// axum refuses some requests before a handler runs — a path segment that
/// is no UTF-8 (`/incidents/%ff`) as plain text, a method the route does
/// not take (405) with an empty body — and a client reads each error alike.
async fn json_refusals(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body = json!({ "error": message }).to_string();
    Response::from_parts(parts, Body::from(body))
}

/// The OpenAPI document, rendered once.
#[derive(Clone)]
struct OpenApiJson(Arc<str>);

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "minyi 民意",
        description = "Citizen feedback to the police: ingest, statistics, items, live push and alerts. Send the token as `Authorization: Bearer SECRET`; each operation names the role it needs (viewer < analyst; ingest; admin may do all). With no tokens configured the server is open and listens on loopback only."
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// The `bearer` security scheme the operations name, with the role as scope.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi.components.get_or_insert_with(Default::default).add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a token of minyi.toml's [[token]] (its role: viewer, analyst, ingest or admin)"))
                    .build(),
            ),
        );
    }
}

/// A JSON body of a small write (ack, silence), or a 400 in the client's
/// terms: serde names the Rust type it expected ("struct SilenceBody"),
/// which says nothing to a client.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        let message = match message.find("expected struct ") {
            Some(at) => {
                let rest = &message[at + "expected struct ".len()..];
                let end = rest
                    .find(|c: char| !c.is_alphanumeric())
                    .unwrap_or(rest.len());
                format!("{}expected a JSON object{}", &message[..at], &rest[end..])
            }
            None => message,
        };
        ApiError::Invalid(format!("body: {message}"))
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    description = "This document (OpenAPI 3; no token needed).",
    responses((status = 200, description = "the document", content_type = "application/json", body = Object)))]
async fn openapi(axum::Extension(OpenApiJson(doc)): axum::Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    description = "Liveness (no token needed).",
    responses((status = 200, description = "alive", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// An error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema: the answer is built by `ApiError`
struct ErrorBody {
    /// What was wrong (for 4xx the reason; for 5xx only the status).
    error: String,
}

/// The filters of every stats and item endpoint, parsed by
/// [`crate::query::Request::parse`]. Values of one filter are alternatives.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // parameters' documentation: the parser reads the raw query
struct FilterParams {
    /// Channel codes (repeatable).
    channel: Option<Vec<String>>,
    /// Topic codes (repeatable).
    topic: Option<Vec<String>>,
    /// District names of the gazetteer (repeatable).
    district: Option<Vec<String>>,
    /// Unit names of the gazetteer (repeatable).
    unit: Option<Vec<String>>,
    /// positive, neutral, negative (repeatable).
    sentiment: Option<Vec<String>>,
    /// 1 满意, 2 基本满意, 3 不满意 (repeatable).
    rating: Option<Vec<u8>>,
    /// RFC 3339, inclusive, applied at minute precision.
    from: Option<String>,
    /// RFC 3339, exclusive, applied at minute precision.
    to: Option<String>,
    /// Search, as Ctrl-F over an item's masked text: words are cut at white
    /// space, at `,` `，` `、` `;` `；` and at quotation marks (`"被骗"` is
    /// 被骗), and every word must occur in the
    /// text (AND); `|` or `｜` between words makes them alternatives (OR):
    /// `诈骗|骗 民警` is (诈骗 OR 骗) AND 民警. A word matches as a
    /// substring (one Chinese character is a word; Latin letters in either
    /// case). Masked personal data never matches (`138` does not find
    /// `138****5678`), nor do expired or erased items. At most 8 words of at
    /// most 32 characters each (else 400).
    q: Option<String>,
    /// `true`: only items with text; `false`: only those without (a rating alone).
    has_text: Option<bool>,
    /// `true`: only repeat complaints (重复诉求: the contact raised one of the
    /// item's topics at least twice before within `repeat_window_days`);
    /// `false`: only the others.
    repeat: Option<bool>,
}

/// Which work orders the range selects (summary and orders).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct OrdersParams {
    /// `created` (default): orders created in the range; `due`: orders due
    /// in it (created one SLA, `sla_days`, earlier) — 办结率 of orders that
    /// should be finished.
    orders_by: Option<String>,
    /// The work orders as they stood at this time (RFC 3339; default and
    /// at most now): those created before it, resolved if resolved before
    /// it (by their last resolution: one reopened and resolved again since
    /// reads as open); 在办 and 超期 are those open then. To compare a
    /// period with an earlier one fairly, ask the earlier one as of the
    /// same time before now (e.g. a day-shifted window as of 24 h ago).
    /// Only the work-order fields (`orders_*`, 办结率, 超期): the items'
    /// counts and 不满意化解 are as they stand now.
    as_of: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct TimeseriesParams {
    /// 1m, 5m, 1h (default) or 1d.
    interval: Option<String>,
    /// channel, topic, district, unit or sentiment.
    group_by: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct TopParams {
    /// topic, district, unit, channel or keyword.
    dim: String,
    /// Rows at most.
    limit: Option<u32>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct RankParams {
    /// district, unit, topic or channel.
    dim: String,
    /// count (default; also `received`, 受理量), negative, negative_share
    /// (负面占比), satisfaction_rate (满意率), completion_rate (办结率) or
    /// dissatisfied_resolved_rate (不满意化解率).
    metric: Option<String>,
    /// Rows whose volume (items; rated items for 满意率; work orders for
    /// 办结率; 不满意 items for 不满意化解率) is below this are listed after
    /// the ranked rows, unranked. Default 0.
    min_rated: Option<u64>,
    /// The same guard by its older name (give one of the two).
    min_volume: Option<u64>,
    /// `previous`: compare with the same span just before `from`–`to`
    /// (each row's `previous`, `change`, `previous_rank`, `rank_change`).
    compare: Option<String>,
    /// `desc` (default: highest first) or `asc` (lowest first).
    order: Option<String>,
    /// `value` (default) or `change`: rows by their change against the
    /// compared range, the largest rise first (`order=asc`: the largest
    /// fall), rows without a change after those with one; `rank` stays
    /// the place by value. Needs a compared range.
    sort: Option<String>,
    /// The range to compare with (RFC 3339, e.g. the same window a day
    /// earlier); each row then has `previous` and `change`. Give both or neither.
    compare_from: Option<String>,
    compare_to: Option<String>,
    /// As on summary: `due` ranks 办结率 over the orders due in the range.
    orders_by: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListParams {
    /// Items per page.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `json` (default), `csv` (every match, streamed) or `xlsx` (every
    /// match as an Excel workbook).
    format: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct IncidentParams {
    /// Incidents at most (default 20, at most 100).
    limit: Option<u32>,
    /// `recent` (default: the latest activity first) or `count` (the
    /// largest first).
    sort: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SupervisionParams {
    /// `open` (default: every case not 化解), `overdue` (open and past its
    /// stage's deadline) or `all` (化解 ones too, at stage 已化解).
    status: Option<String>,
    /// Cases listed at most (default 500, at most 10,000); the counts cover all.
    limit: Option<u32>,
    /// `json` (default) or `csv` (the cases with Chinese headers; every
    /// case, up to 10,000, unless `limit` is given).
    format: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct IncidentItemParams {
    /// Items per page (default 50, at most 1000).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One incident and a page of its items.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct IncidentDetail {
    #[serde(flatten)]
    incident: crate::dashboards::IncidentView,
    items: Vec<crate::dashboards::FeedbackItemView>,
    /// Pass as `cursor` for the next page of items; null on the last.
    next_cursor: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AlertParams {
    /// `firing` (default) or `all` (the last 30 days).
    status: Option<String>,
    /// Only the alerts of one district (a bureau's wall), within the token's scope.
    district: Option<String>,
    /// Only the alerts of one unit.
    unit: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AlertList {
    alerts: Vec<Alert>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SilenceList {
    silences: Vec<Silence>,
}

async fn read_body(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            state.metrics.requests_refused.fetch_add(1, Relaxed);
            let inner = e.into_inner();
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*inner);
            while let Some(c) = cause {
                if c.is::<tower_http::timeout::TimeoutError>() {
                    return ApiError::Body(BodyError::Timeout);
                }
                cause = c.source();
            }
            ApiError::Body(BodyError::TooLarge)
        })
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("ndjson") || v.contains("jsonl") || v.contains("jsonlines"))
}

fn elements(state: &AppState, headers: &HeaderMap, bytes: &[u8]) -> Result<Vec<Element>, ApiError> {
    parse_body(bytes, is_ndjson(headers)).map_err(|e| {
        state.metrics.requests_refused.fetch_add(1, Relaxed);
        ApiError::Body(e)
    })
}

#[utoipa::path(post, path = "/api/v1/feedback", tag = "ingest", security(("bearer" = ["ingest"])),
    description = "Feedback items: a JSON object, a JSON array, or JSONL (`application/x-ndjson`); at most 10 MB and 10,000 items. Answers after the batch is on disk; each bad item is listed with its index and reason, the rest is stored. Re-posting an id changes nothing.",
    request_body(content = Object, description = "raw items (the data contract: id, channel, received_at, text, rating, district, unit, case_ref, contact)", content_type = "application/json"),
    responses((status = 200, body = Outcome), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 413, description = "over the size or item limit", body = ErrorBody), (status = 503, description = "shutting down", body = ErrorBody)))]
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

#[utoipa::path(post, path = "/api/v1/workorders/events", tag = "ingest", security(("bearer" = ["ingest"])),
    description = "Work-order events `{order_id, feedback_id, event: created|dispatched|responded|resolved|revisit_sent|revisited|reopened|closed, unit, at, rating?}`, in the same shapes and with the same answers as feedback.",
    request_body(content = Object, description = "work-order events", content_type = "application/json"),
    responses((status = 200, body = Outcome), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 413, description = "over the size or item limit", body = ErrorBody), (status = 503, description = "shutting down", body = ErrorBody)))]
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

async fn answer(
    state: &AppState,
    scope: &Scope,
    kind: Kind,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let query = parse(state, kind, raw)?;
    let answer = state.query(scope, query.clone()).await?;
    Ok(axum::Json(state.render(&query, &answer)).into_response())
}

#[utoipa::path(get, path = "/api/v1/stats/summary", tag = "stats", security(("bearer" = ["viewer"])), params(FilterParams, OrdersParams),
    description = "Counts and KPIs of the items and work orders matching the filters: 满意率, 办结率, 不满意化解率, 超期.",
    responses((status = 200, body = Summary), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn summary(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Summary, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/stats/revisits", tag = "stats", security(("bearer" = ["viewer"])), params(FilterParams),
    description = "The revisit funnel (回访): the work orders whose revisit SMS went out in the range (event `revisit_sent`; default the last 30 days), how many were answered (a later `revisited` with a rating) — 回复率 = replied ÷ sent — and how many still wait for an answer seven days after sending (`unanswered`, the oldest 200 listed), in all and by the order's unit and its item's channel. `unit` filters the order's unit, the other filters its item.",
    responses((status = 200, body = crate::query::Revisits), (status = 400, description = "a parameter is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn revisits(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Revisits, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/stats/orders", tag = "stats", security(("bearer" = ["viewer"])), params(FilterParams, OrdersParams),
    description = "The work-order part of the summary alone.",
    responses((status = 200, body = Orders), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn orders(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Orders, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/stats/timeseries", tag = "stats", security(("bearer" = ["viewer"])), params(FilterParams, TimeseriesParams),
    description = "Dense buckets on the centre's wall clock (default: the last 24 h, hourly).",
    responses((status = 200, body = TimeseriesView), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn timeseries(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Timeseries, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/stats/top", tag = "stats", security(("bearer" = ["viewer"])), params(FilterParams, TopParams),
    description = "A ranking with each row's negative count.",
    responses((status = 200, body = TopView), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn top(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Top, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/stats/rank", tag = "stats", security(("bearer" = ["viewer"])), params(FilterParams, RankParams),
    description = "Every value of a dimension ranked by a metric — a count (受理量), 负面占比, 满意率, 办结率 or 不满意化解率 — with its volume, its place (`rank`) and, with `compare=previous` or `compare_from`/`compare_to`, its change of value and of place (`rank_change`, positive: up) against that range (whose work orders are counted as they stood as long before now as it lies before the ranked range); values below `min_rated` follow unranked; the items without a value (no district or unit recognised) are their own row, `unknown`. Aggregates only: no items are returned.",
    responses((status = 200, body = RankView), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn rank(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Rank, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/feedback", tag = "items", security(("bearer" = ["analyst"])), params(FilterParams, ListParams),
    description = "Items (masked text, evidence), newest first; `format=csv` streams every match as UTF-8 CSV with a BOM, `format=xlsx` sends every match as an Excel workbook (the same columns, a frozen header row); both at most 1,000,000 rows.",
    responses((status = 200, body = FeedbackPage, description = "a page of items (JSON), or every match as CSV (`text/csv`) with `format=csv`, or as XLSX with `format=xlsx`"), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn get_feedback(
    Need(scope): Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    // The parser refuses a `format` other than json, csv and xlsx.
    let pairs: Vec<_> = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()).collect();
    let format = pairs
        .iter()
        .rfind(|(k, _)| k == "format")
        .map(|(_, v)| v.clone());
    // Narrowed here too (not only in `AppState::query`), so the export's
    // name says whose items it holds.
    let query = scope.restrict_query(parse(&state, Kind::Feedback, q.as_deref())?)?;
    if matches!(format.as_deref(), Some("csv" | "xlsx"))
        && let Some((k, _)) = pairs.iter().find(|(k, _)| k == "limit" || k == "cursor")
    {
        // Taken and ignored, a page's size read as the export's.
        return Err(ApiError::Invalid(format!(
            "parameter `{k}`: an export holds every match (at most {} rows); narrow it with filters or the range",
            super::export::MAX_ROWS
        )));
    }
    let Some(format @ ("csv" | "xlsx")) = format.as_deref() else {
        let answer = state.query(&scope, query.clone()).await?;
        let n = match &answer {
            Answer::Feedback { items, .. } => items.len() as u64,
            _ => 0,
        };
        let mut response = axum::Json(state.render(&query, &answer)).into_response();
        response.extensions_mut().insert(ItemCount::Known(n));
        return Ok(response);
    };
    let Query::Feedback { filters, .. } = query else {
        unreachable!("a feedback request parses to a feedback query")
    };
    Ok(if format == "xlsx" {
        super::export::xlsx(state, scope, filters).await
    } else {
        super::export::csv(state, scope, filters)
    })
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = ["viewer"])), params(FilterParams, IncidentParams),
    description = "Incidents (同一事件): near-duplicate items of one event grouped across channels within `incident_window_hours` — one broken traffic light reported twenty times, one scam script's wave. Each incident with at least two items matching the filters: its `title` (the masked text most of its items say, numbers and masked data aside; of equals, the earliest), `count` (its matching items), `first_at`, `last_at`, the `district` and `unit` most of them name, `topics`, `channels`, `negative`. The latest activity first, or the largest with `sort=count`.",
    responses((status = 200, body = IncidentsView), (status = 400, description = "a parameter is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "a filter outside the token's scope", body = ErrorBody)))]
async fn incidents(
    Need(scope): Need<VIEWER>,
    State(s): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    answer(&s, &scope, Kind::Incidents, q.as_deref()).await
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", security(("bearer" = ["analyst"])), params(("id" = String, Path, description = "the incident's id: `i-` and 16 hex digits"), IncidentItemParams),
    description = "One incident — as the list shows it, over all its items in the token's scope — and its items, newest first (masked, with evidence), a page at a time.",
    responses((status = 200, body = IncidentDetail), (status = 400, description = "not an incident id, or a parameter is invalid", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 404, description = "no incident of at least two items in the token's scope has this id", body = ErrorBody)))]
async fn incident(
    Need(scope): Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !crate::incident::is_incident_id(&id) {
        return Err(ApiError::Invalid(
            "id: not an incident id (i- and 16 hex digits)".into(),
        ));
    }
    let mut pairs = only_params(q.as_deref(), &["limit", "cursor"])?;
    pairs.push(("incident".into(), id.clone()));
    let now = state.enricher.now().timestamp();
    let parse = |kind: Kind, pairs: &[(String, String)]| {
        kind.parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &state.vocab,
            now,
        )
    };
    let summary = parse(Kind::Incidents, &[("incident".into(), id.clone())])?;
    let Answer::Incidents(mut found) = state.query(&scope, summary).await? else {
        unreachable!("an incidents query answers with incidents")
    };
    let Some(found) = found.pop() else {
        return Err(ApiError::Missing(
            "no incident of at least two items in this token's scope has this id".into(),
        ));
    };
    let list = parse(Kind::Feedback, &pairs)?;
    let answer = state.query(&scope, list.clone()).await?;
    let Answer::Feedback { items, next } = &answer else {
        unreachable!("a feedback query answers with items")
    };
    let page = FeedbackPage::of(items, *next, &state.vocab);
    let n = page.items.len() as u64;
    let mut response = axum::Json(IncidentDetail {
        incident: crate::dashboards::IncidentView::of(found, &state.vocab),
        items: page.items,
        next_cursor: page.next_cursor,
    })
    .into_response();
    response.extensions_mut().insert(ItemCount::Known(n));
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/supervision", tag = "items", security(("bearer" = ["analyst"])), params(FilterParams, SupervisionParams),
    description = "The supervision queue (督办台账): every dissatisfied item — rated 不满意, or a negative complaint a work order was opened for — matching the filters (received in `from`–`to`) is a case until it is 化解 (a later revisit of its order or case answered 满意 or 基本满意, as 不满意化解率 counts it). Each case's `stage` — 待派发 (no order dispatched; deadline `dispatch_hours` after receipt), 待联系 (dispatched, the unit has not contacted the citizen; `callback_hours` after dispatch), 整改中 (contacted, not resolved; `sla_days` after the order's creation), 待回访 (resolved, no answer since; no deadline), 未化解 (answered 不满意 again after the case opened — it stays 未化解 until 化解 — or resolved and answered 不满意 since; the SLA's deadline, without an order `dispatch_hours` after receipt), 已化解 (`status=all` only) — its `deadline`, `overdue`, `age_hours` and `escalate` (answered 不满意 again after the case opened). Overdue first, then the oldest; counts per stage and per unit. The text is the stored, masked text.",
    responses((status = 200, body = crate::query::supervision::Queue, description = "the queue (JSON), or its listed cases as CSV (`text/csv`) with `format=csv`"), (status = 400, description = "a parameter is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this, or a filter outside its scope", body = ErrorBody)))]
async fn supervision(
    Need(scope): Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    // The parser refuses a `format` other than json and csv.
    let csv = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "format" && v == "csv");
    let mut query = scope.restrict_query(parse(&state, Kind::Supervision, q.as_deref())?)?;
    // A CSV holds every case (up to the most a queue lists) unless a limit is given.
    let limited =
        form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()).any(|(k, _)| k == "limit");
    if let Query::Supervision { limit, .. } = &mut query
        && csv
        && !limited
    {
        *limit = crate::query::supervision::MAX_LIMIT;
    }
    let answer = state.query(&scope, query.clone()).await?;
    let (
        Query::Supervision {
            filters, status, ..
        },
        Answer::Supervision(queue),
    ) = (&query, &answer)
    else {
        unreachable!("a supervision query answers with a queue")
    };
    if csv {
        return Ok(super::export::queue_csv(&state, filters, *status, queue));
    }
    let mut response = axum::Json(state.render(&query, &answer)).into_response();
    response
        .extensions_mut()
        .insert(ItemCount::Known(queue.items.len() as u64));
    Ok(response)
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // parameters' documentation: the handler reads the raw query
struct LiveParams {
    /// One district: the stream of that bureau's wall (its items, alerts
    /// and panels). Within the token's scope, else 403.
    district: Option<String>,
    /// One unit: the stream of that station's wall.
    unit: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/live", tag = "live", security(("bearer" = ["viewer"])), params(LiveParams),
    description = "Server-Sent Events: `hello`, then `panels` (every dashboard panel, once per tick), `item` (each new item, masked), `alert` (each alert change), `skipped` (a slow screen skipped ahead). Browsers may pass the token as `?access_token=`. A scoped token (or `district`/`unit`) gets the items and alerts of its scope only and the panels computed for it.",
    responses((status = 200, description = "an event stream", content_type = "text/event-stream", body = String), (status = 400, description = "a parameter is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "`district` or `unit` outside the token's scope", body = ErrorBody), (status = 503, description = "too many walls of different scopes", body = ErrorBody)))]
async fn live(
    Need(scope): Need<VIEWER>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let scope = wall_scope(&state, &scope, q.as_deref(), &[])?;
    let feeds = state
        .live
        .subscribe_scoped(&scope)
        .ok_or(ApiError::TooManyScopes)?;
    Ok(super::sse::stream(feeds, state.shutdown.clone(), state.metrics.clone()).into_response())
}

/// The scope of a wall's stream: the token's, narrowed by `?district=` and
/// `?unit=` (one each at most, names of the gazetteer; a wall shows one
/// bureau or one station, which bounds the scopes the ticker computes).
/// `others` are the endpoint's own parameters, read elsewhere.
fn wall_scope(
    state: &AppState,
    scope: &Scope,
    raw: Option<&str>,
    others: &[&str],
) -> Result<Scope, ApiError> {
    let (mut districts, mut units) = (Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let (list, known) = match k.as_ref() {
            "district" => (&mut districts, &state.vocab.districts),
            "unit" => (&mut units, &state.vocab.units),
            "access_token" => continue,
            other if others.contains(&other) => continue,
            other => return Err(ApiError::Invalid(format!("unknown parameter `{other}`"))),
        };
        if !list.is_empty() {
            return Err(ApiError::Invalid(format!(
                "parameter `{k}`: given more than once"
            )));
        }
        if !known.iter().any(|x| *x == v) {
            return Err(ApiError::Invalid(format!(
                "parameter `{k}`: unknown value {v:?}"
            )));
        }
        list.push(v.into_owned());
    }
    let place = scope.narrow(&districts, &units)?;
    if let Err(e) = place.check_place(&state.vocab) {
        // Name what the request asked for, not the token's own places.
        let (param, value) = match (units.first(), districts.first()) {
            (Some(u), _) => ("unit", u.clone()),
            (None, Some(d)) => ("district", d.clone()),
            (None, None) => (e.param, e.value),
        };
        return Err(OutOfScope { param, value }.into());
    }
    Ok(place)
}

#[utoipa::path(get, path = "/api/v1/meta", tag = "meta", security(("bearer" = ["viewer"])),
    description = "Codes and names of channels, topics, districts, units and sentiments; the dashboards; the zone and the tick.",
    responses((status = 200, body = Object), (status = 401, description = "no or unknown token", body = ErrorBody)))]
/// What the browser needs to label and lay out: names of codes, the
/// dashboards, the zone.
async fn meta(Need(scope): Need<VIEWER>, State(state): State<Arc<AppState>>) -> axum::Json<Value> {
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
        "dashboards": state.panels.dashboards,
        "geo": state.geo,
        "model_version": state.enricher.model_version(),
        // The token's scope (both lists empty: the whole city).
        "scope": {"districts": scope.districts, "units": scope.units},
        // The organisation: each unit's district bureau (null: city level).
        "unit_districts": state
            .vocab
            .units
            .iter()
            .map(|u| (u.clone(), json!(state.vocab.district_of(u))))
            .collect::<serde_json::Map<String, Value>>(),
    }))
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = ["viewer"])), params(AlertParams),
    description = "Firing alerts, or with `status=all` every alert of the last 30 days (at most 1,000), newest first.",
    responses((status = 200, body = AlertList), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
/// `?status=firing` (default) or `all` (the last 30 days).
async fn list_alerts(
    Need(scope): Need<VIEWER>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    // A bureau's wall lists its own alerts.
    let scope = wall_scope(&state, &scope, q.as_deref(), &["status"])?;
    let status = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "firing".into());
    let alerts = match status.as_str() {
        "firing" => state.alerts.firing(&scope).await,
        "all" => {
            let now = state.enricher.now().timestamp();
            state.alerts.history(now, 30, 1000, &scope).await?
        }
        other => {
            return Err(ApiError::Invalid(format!(
                "parameter `status`: {other:?} is not firing or all"
            )));
        }
    };
    Ok(axum::Json(json!({ "alerts": alerts })).into_response())
}

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AckBody {
    /// Who acknowledges (a name for the record).
    by: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", security(("bearer" = ["analyst"])), params(("id" = String, Path, description = "the alert's id")),
    description = "Acknowledges a firing alert.",
    request_body(content = AckBody, description = "optional", content_type = "application/json"),
    responses((status = 200, body = Alert), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 404, description = "no firing alert has this id", body = ErrorBody)))]
async fn ack_alert(
    Need(scope): Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: AckBody = if body.is_empty() {
        AckBody::default()
    } else {
        json_body(&body)?
    };
    // Shown to every viewer and sent on the live feed: masked as an
    // item's text is.
    let by: String = body
        .by
        .unwrap_or_else(|| "analyst".into())
        .chars()
        .take(64)
        .collect();
    let by = crate::enrich::pii::mask(by).text;
    let now = state.enricher.now().timestamp();
    match state.alerts.ack(&id, &by, now, &scope).await {
        Some(a) => Ok(axum::Json(a).into_response()),
        None => Err(ApiError::NotFound),
    }
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts", security(("bearer" = ["viewer"])),
    description = "Silences in force. City-wide: 403 for a scoped token.",
    responses((status = 200, body = SilenceList), (status = 401, description = "no or unknown token", body = ErrorBody)))]
async fn list_silences(_: NeedCity<VIEWER>, State(state): State<Arc<AppState>>) -> Response {
    let now = state.enricher.now().timestamp();
    axum::Json(json!({ "silences": state.alerts.silences(now).await })).into_response()
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    rule: Option<String>,
    key: Option<String>,
    /// RFC 3339, or `for` a duration from now ("2h").
    until: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    /// Silences every alert (no `rule` nor `key`): said in so many words,
    /// so that a body that forgot its matchers mutes nothing.
    #[serde(default)]
    all: bool,
    #[serde(default)]
    comment: String,
}

/// The longest silence: a year and a day (a longer one is a typo, e.g.
/// `"for": "99999999999h"`, whose end no date format holds).
const MAX_SILENCE_SECONDS: i64 = 366 * 86_400;

#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts", security(("bearer" = ["analyst"])),
    description = "Silences alerts of a rule and/or a series value (`rule`, `key`; every alert only with `\"all\": true` and neither) until a time (`until`, RFC 3339) or for a duration (`for`, e.g. \"2h\"): they are recorded, shown, not sent. City-wide: 403 for a scoped token.",
    request_body(content = SilenceBody, content_type = "application/json"),
    responses((status = 201, body = Silence), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn add_silence(
    _: NeedCity<ANALYST>,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: SilenceBody = json_body(&body)?;
    let now = state.enricher.now().timestamp();
    let until = match (&b.until, &b.duration) {
        (Some(u), None) => chrono::DateTime::parse_from_rfc3339(u)
            .map_err(|_| ApiError::Invalid(format!("until: {u:?} is not RFC 3339")))?
            .timestamp(),
        (None, Some(d)) => {
            now.saturating_add(crate::config::parse_duration(d).ok_or_else(|| {
                ApiError::Invalid(format!("for: {d:?} is not a duration like \"2h\""))
            })?)
        }
        _ => return Err(ApiError::Invalid("give one of `until` and `for`".into())),
    };
    if until <= now {
        return Err(ApiError::Invalid(
            "the silence would end in the past".into(),
        ));
    }
    if until - now > MAX_SILENCE_SECONDS {
        return Err(ApiError::Invalid(
            "a silence ends within 366 days (until/for)".into(),
        ));
    }
    if b.rule.is_none() && b.key.is_none() && !b.all {
        return Err(ApiError::Invalid(
            "name a `rule` or a `key` to silence (or \"all\": true to silence every alert)".into(),
        ));
    }
    if b.all && (b.rule.is_some() || b.key.is_some()) {
        return Err(ApiError::Invalid(
            "\"all\": true silences every alert: give no `rule` nor `key` with it".into(),
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
        // Shown to every viewer: masked as an item's text is.
        comment: crate::enrich::pii::mask(b.comment.chars().take(500).collect::<String>()).text,
        created_at: now,
    };
    state.alerts.add_silence(silence.clone()).await?;
    Ok((StatusCode::CREATED, axum::Json(silence)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts", security(("bearer" = ["analyst"])), params(("id" = String, Path, description = "the silence's id")),
    description = "Ends a silence now.",
    responses((status = 204, description = "ended"), (status = 400, description = "a parameter or the body is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 404, description = "no silence has this id", body = ErrorBody)))]
async fn end_silence(
    _: NeedCity<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let now = state.enricher.now().timestamp();
    if state.alerts.end_silence(&id, now).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Erased {
    /// Items whose text, tokens, keywords, evidence, contact hash and case
    /// reference are gone (their counts stay in every aggregate).
    erased: u64,
}

/// Answers an erasure: 404 when nothing matched, else the count (which
/// the audit records as the items of the request).
async fn erasure(
    state: &AppState,
    target: crate::store::Erase,
    missing: &str,
) -> Result<Response, ApiError> {
    // The items it erases, whose samples alerts must forget.
    let ids: std::collections::HashSet<String> = match &target {
        crate::store::Erase::Item(id) => [id.clone()].into(),
        crate::store::Erase::Contact(hash) => {
            let mut ids = std::collections::HashSet::new();
            let mut cursor = None;
            loop {
                let filters = Filters {
                    contact: Some(hash.clone()),
                    ..Filters::default()
                };
                let query = Query::Feedback {
                    filters,
                    limit: crate::query::MAX_ITEMS_LIMIT,
                    cursor,
                };
                let Answer::Feedback { items, next } = state.query(&Scope::city(), query).await?
                else {
                    break;
                };
                ids.extend(items.into_iter().map(|i| i.id));
                match next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            ids
        }
    };
    // First, so the erasure's own clean-up of the files (freed pages
    // zeroed, the WAL truncated) takes the alerts' old copies too.
    state.alerts.forget_samples(&ids).await?;
    let n = state.store.erase(target).await?;
    if n == 0 {
        return Err(ApiError::Missing(missing.to_owned()));
    }
    state.metrics.items_erased.fetch_add(n, Relaxed);
    let mut response = axum::Json(Erased { erased: n }).into_response();
    response.extensions_mut().insert(ItemCount::Known(n));
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/feedback/{id}", tag = "privacy", security(("bearer" = ["admin"])), params(("id" = String, Path, description = "the item's id as its producer sent it (an id holding a phone or ID number is matched by its stored pseudonym)")),
    description = "Erases one item on a lawful request: its text, tokens (and search index entries), keywords (and hot-word counts), evidence, contact hash and case reference are gone from the store; its counts in the statistics and KPIs stay. Audited.",
    responses((status = 200, body = Erased), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 404, description = "no stored item has this id, or it was erased before", body = ErrorBody)))]
async fn erase_item(
    _: Need<ADMIN>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let id = state.enricher.safe_id(id);
    erasure(
        &state,
        crate::store::Erase::Item(id),
        "no stored item has this id (or it was erased before)",
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/contacts/{contact_hash}", tag = "privacy", security(("bearer" = ["admin"])), params(("contact_hash" = String, Path, description = "the contact's hash: 64 hex digits, as items' `detail.contact_hash` shows it (`minyi contact-hash PHONE` computes it with the server's key)")),
    description = "Erases every item of one contact on a lawful request, as `DELETE /api/v1/feedback/{id}` does for one. Audited.",
    responses((status = 200, body = Erased), (status = 400, description = "not a contact hash", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 404, description = "no stored item has this contact hash", body = ErrorBody)))]
async fn erase_contact(
    _: Need<ADMIN>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(hash): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    erasure(
        &state,
        crate::store::Erase::Contact(contact_hash(&hash)?),
        "no stored item has this contact hash (or its items were erased before)",
    )
    .await
}

/// A contact hash of a path, in lower case: 64 hex digits, else a 400.
fn contact_hash(hash: &str) -> Result<String, ApiError> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::Invalid(
            "contact_hash: not 64 hex digits (`minyi contact-hash PHONE` computes it from a phone number or e-mail)".into(),
        ));
    }
    Ok(hash.to_ascii_lowercase())
}

/// The query's pairs when it names only `allowed` parameters (and the
/// browser's `access_token`), else a 400 naming the first other one.
fn only_params(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| k != "access_token" && !allowed.contains(&k.as_str()))
    {
        return Err(ApiError::Invalid(format!(
            "parameter `{k}`: unknown parameter for this endpoint"
        )));
    }
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(e, _)| e == k) {
            return Err(ApiError::Invalid(format!(
                "parameter `{k}`: given more than once"
            )));
        }
    }
    Ok(pairs)
}

/// One contact's history: their items over time, each with its work
/// orders and whether it repeats an earlier complaint.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ContactHistory {
    contact_hash: String,
    /// Their items in the token's scope (at most 1,000, the newest).
    received: u64,
    /// Of those, the repeat complaints (重复诉求).
    repeat: u64,
    /// `repeat` ÷ `received` (重复诉求率 of this contact).
    repeat_rate: f64,
    first_at: String,
    last_at: String,
    /// More items than listed (the oldest left out).
    truncated: bool,
    /// Each with `repeat`: the contact raised one of its topics at least
    /// twice before within `repeat_window_days` (over all their items, those
    /// outside the token's scope too).
    items: Vec<crate::dashboards::FeedbackItemView>,
}

#[utoipa::path(get, path = "/api/v1/contacts/{contact_hash}", tag = "items", security(("bearer" = ["analyst"])), params(("contact_hash" = String, Path, description = "the contact's hash: 64 hex digits, as items' `detail.contact_hash` shows it (`minyi contact-hash PHONE` computes it with the server's key)")),
    description = "One person across channels, by the keyed hash of their contact (no phone number is stored or shown): their items in the token's scope, newest first (masked, with their work orders), each marked `repeat` when the contact raised one of its topics at least twice before within `repeat_window_days`; the count and share of repeats. At most the 1,000 newest items.",
    responses((status = 200, body = ContactHistory), (status = 400, description = "not a contact hash", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody), (status = 404, description = "no item of this contact in the token's scope", body = ErrorBody)))]
async fn contact(
    Need(scope): Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(hash): axum::extract::Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let hash = contact_hash(&hash)?;
    only_params(q.as_deref(), &[])?;
    let query = Query::Feedback {
        filters: crate::query::Filters {
            contact: Some(hash.clone()),
            ..Default::default()
        },
        limit: crate::query::MAX_ITEMS_LIMIT,
        cursor: None,
    };
    let Answer::Feedback { items, next } = state.query(&scope, query).await? else {
        unreachable!("a feedback query answers with items")
    };
    if items.is_empty() {
        return Err(ApiError::Missing(
            "no item of this contact in this token's scope".into(),
        ));
    }
    let received = items.len() as u64;
    let repeat = items.iter().filter(|i| i.repeat).count() as u64;
    let page = FeedbackPage::of(&items, None, &state.vocab);
    let mut response = axum::Json(ContactHistory {
        contact_hash: hash,
        received,
        repeat,
        repeat_rate: repeat as f64 / received as f64,
        first_at: items[items.len() - 1].received_at.clone(),
        last_at: items[0].received_at.clone(),
        truncated: next.is_some(),
        items: page.items,
    })
    .into_response();
    response.extensions_mut().insert(ItemCount::Known(received));
    Ok(response)
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ReportParams {
    /// A day, `YYYY-MM-DD` on the centre's clock: the report of the period
    /// holding it. Default: the newest period that has ended (yesterday,
    /// last week, last month).
    date: Option<String>,
    /// `json` (default), `md` (Markdown, as the robots get it) or `html`
    /// (printable on A4).
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/{period}", tag = "reports", security(("bearer" = ["analyst"])), params(("period" = String, Path, description = "daily, weekly (Monday to Sunday) or monthly"), ReportParams),
    description = "分析研判: the period's volumes and KPIs against the previous period, district and unit rankings (received, 负面占比, 满意率, 办结率, 不满意化解率), the top topics and incidents, emerging terms, the period's alerts, the supervision cases of its items past their deadline by unit, 回访回复率, and 3–8 typical items cited by id (masked text) — of the token's scope.",
    responses((status = 200, body = crate::report::Report), (status = 400, description = "an unknown period, a bad date or format, or a period that has not begun", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn report(
    Need(scope): Need<ANALYST>,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(period): axum::extract::Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    use crate::report::{Kind as ReportKind, Period};
    let kind = ReportKind::parse(&period).ok_or_else(|| {
        ApiError::Invalid(format!(
            "period: {period:?} is not daily, weekly or monthly"
        ))
    })?;
    let pairs = only_params(q.as_deref(), &["date", "format"])?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let now = state.enricher.now().timestamp();
    let span = match get("date") {
        None => Period::last_ended(kind, now, state.tz),
        Some(d) => {
            let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .filter(|day| (2000..=2100).contains(&chrono::Datelike::year(day)))
                .ok_or_else(|| {
                    ApiError::Invalid(format!(
                        "date: {d:?} is not a day like 2026-12-01 (years 2000–2100)"
                    ))
                })?;
            Period::of(kind, day, state.tz)
        }
    };
    if span.from > now {
        return Err(ApiError::Invalid("date: that period has not begun".into()));
    }
    let format = get("format").unwrap_or("json");
    if !matches!(format, "json" | "md" | "html") {
        return Err(ApiError::Invalid(format!(
            "format: {format:?} is not json, md or html"
        )));
    }
    let report = super::build_report(&state, &scope, span).await?;
    let cited = report.cited.len() as u64;
    let mut response = match format {
        "md" => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            crate::report::markdown(&report, crate::report::Detail::Full),
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::report::html(&report),
        )
            .into_response(),
        _ => axum::Json(report).into_response(),
    };
    // The cited items' texts are read: the audit counts them.
    response.extensions_mut().insert(ItemCount::Known(cited));
    Ok(response)
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AuditParams {
    /// RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// RFC 3339, exclusive; default now.
    to: Option<String>,
    /// Only this token's entries (its configured name, or `role:hash8`).
    token: Option<String>,
    /// Most entries (default 1,000, at most 10,000).
    limit: Option<u32>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct AuditView {
    /// Oldest first.
    entries: Vec<AuditEntryView>,
    /// More entries matched than `limit`.
    truncated: bool,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct AuditEntryView {
    /// RFC 3339 in the centre's zone.
    at: String,
    #[serde(flatten)]
    entry: crate::store::AuditEntry,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "privacy", security(("bearer" = ["admin"])), params(AuditParams),
    description = "The access audit: one entry per API request (reads, writes, admin actions), who made it, what it asked, the status and how many items it returned. Kept `audit_retention_days` (default 180).",
    responses((status = 200, body = AuditView), (status = 400, description = "a parameter is invalid (the reason names it)", body = ErrorBody), (status = 401, description = "no or unknown token", body = ErrorBody), (status = 403, description = "the token's role may not do this", body = ErrorBody)))]
async fn audit(
    _: Need<ADMIN>,
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let now = state.enricher.now().timestamp();
    let (mut from, mut to, mut token, mut limit) = (None, None, None, 1000usize);
    for (k, v) in form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "from" => from = Some(crate::query::parse_time(&k, &v)?),
            "to" => to = Some(crate::query::parse_time(&k, &v)?),
            "token" => token = Some(v.into_owned()),
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        ApiError::Invalid(format!("parameter `limit`: {v:?} is not 1 to 10000"))
                    })?;
            }
            "access_token" => {}
            other => return Err(ApiError::Invalid(format!("unknown parameter `{other}`"))),
        }
    }
    let to = to.unwrap_or(now + 1);
    let from = from.unwrap_or(to - 86_400);
    if from >= to {
        return Err(ApiError::Invalid(
            "parameter `from`: not before `to`".into(),
        ));
    }
    // What the requests before this one did is stored first.
    state.auditor.flush().await?;
    let mut entries = state
        .store
        .audit_read(crate::store::AuditQuery {
            from,
            to,
            token,
            limit: limit + 1,
        })
        .await?;
    let truncated = entries.len() > limit;
    entries.truncate(limit);
    let entries = entries
        .into_iter()
        .map(|entry| AuditEntryView {
            at: crate::query::rfc3339(entry.at, state.tz),
            entry,
        })
        .collect();
    Ok(axum::Json(AuditView { entries, truncated }).into_response())
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    description = "Ready: a round trip through the store (no token needed).",
    responses((status = 200, description = "ready", body = String), (status = 503, description = "shutting down or the store fails", body = String)))]
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    // A cheap round trip through the store: the last minute.
    let started = Instant::now();
    let now = state.enricher.now().timestamp();
    let probe = crate::query::Filters::default().with_range(Some(now - 60), Some(now));
    match state.query(&Scope::city(), Query::Summary(probe)).await {
        Ok(_) => format!("ready ({} ms)\n", started.elapsed().as_millis()).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health", security(("bearer" = ["viewer"])),
    description = "Prometheus text exposition. City-wide: 403 for a scoped token.",
    responses((status = 200, description = "metrics", content_type = "text/plain", body = String), (status = 401, description = "no or unknown token", body = ErrorBody)))]
async fn metrics(_: NeedCity<VIEWER>, State(state): State<Arc<AppState>>) -> Response {
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
    fn body_errors_name_no_rust_type() {
        let err = json_body::<SilenceBody>(b"\"2h\"")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("expected a JSON object") && !err.contains("SilenceBody"),
            "{err}"
        );
        let err = json_body::<SilenceBody>(b"{\"until\": 5}")
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("struct"), "{err}");
    }
}
