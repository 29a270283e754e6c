//! Personal data over its lifetime, through the API on a real SQLite store:
//! the access audit names every read, write and admin action with the
//! token's name and the items returned; erasure takes a person's text out
//! of the API and of the database files while the counts stay; retention
//! does the same by age and drops old audit entries.

use crate::common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use minyi::config::Role;
use minyi::store::{AuditEntry, AuditQuery, Store};
use serde_json::{Value, json};

use common::{TestApp, call, test_app};

const ADMIN: &str = "root-secret";
const ANALYST: &str = "analyst-secret";
const VIEWER: &str = "wall-secret";
const INGEST: &str = "feed-secret";

fn app() -> TestApp {
    test_app(&[
        (Role::Admin, ADMIN),
        (Role::Analyst, ANALYST),
        (Role::Viewer, VIEWER),
        (Role::Ingest, INGEST),
    ])
}

async fn send(
    app: &TestApp,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    call(app, req.body(body).unwrap()).await
}

async fn json_of(app: &TestApp, method: &str, uri: &str, token: &str) -> (StatusCode, Value) {
    let (s, b) = send(app, method, uri, token, None).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// The marker of the person whose data is erased: a word no other item
/// has, in the text and, through the tokens, in the search index.
const MARKER: &str = "zqxjvw";
const PHRASE: &str = "我家楼下梧桐树枝压断了电线";

/// Two items of one contact (phone 13912345678), with the marker; many
/// items of others, so the store's pages split and merge before erasure.
fn items() -> Value {
    let mut out = vec![
        json!({"id": "p1", "channel": "hotline_12345", "received_at": "2025-06-01T09:05:00+08:00",
               "text": format!("{PHRASE}，报警后民警一直没来 {MARKER}"), "district": "丛台区",
               "contact": "139 1234 5678", "case_ref": "WO-77", "rating": 3}),
        json!({"id": "p2", "channel": "sms_revisit", "received_at": "2025-06-01T12:00:00+08:00",
               "text": format!("3，还是没人管 {MARKER}"), "district": "丛台区",
               "contact": "+86 13912345678", "case_ref": "WO-77"}),
    ];
    for i in 0..1500 {
        let channel = ["wechat", "hotline_12345", "director_mailbox"][i % 3];
        let district = ["丛台区", "磁县", "武安市"][i % 3];
        out.push(json!({
            "id": format!("o{i}"),
            "channel": channel,
            "received_at": format!("2025-06-01T{:02}:{:02}:00+08:00", 8 + i % 12, i % 60),
            "text": format!("第{i}号来信：派出所民警态度很好，办事效率高，谢谢"),
            "district": district,
        }));
    }
    Value::Array(out)
}

async fn load(app: &TestApp) {
    let (s, b) = send(app, "POST", "/api/v1/feedback", INGEST, Some(items())).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1502, "{v}");
}

/// The audit's entries of one token, as the admin reads them.
async fn audit_of(app: &TestApp, token_name: &str) -> Vec<Value> {
    let uri = format!(
        "/api/v1/audit?from=2000-01-01T00:00:00Z&token={}",
        form_urlencoded::byte_serialize(token_name.as_bytes()).collect::<String>()
    );
    let (s, v) = json_of(app, "GET", &uri, ADMIN).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_audit_names_every_access_with_its_token_and_items() {
    let app = app();
    load(&app).await;
    let analyst = "holder of analyst-secret";

    let (s, page) = json_of(
        &app,
        "GET",
        "/api/v1/feedback?limit=7&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        ANALYST,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
    // A search for a phone number, with the token in the URL as a browser sends it.
    let (s, _) = json_of(
        &app,
        "GET",
        &format!("/api/v1/feedback?q=13912345678&access_token={ANALYST}"),
        "nobody",
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a wrong header wins over the parameter"
    );
    let (s, csv) = send(
        &app,
        "GET",
        "/api/v1/feedback?format=csv&district=%E7%A3%81%E5%8E%BF",
        ANALYST,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let csv_rows = String::from_utf8(csv).unwrap().lines().count() - 1;
    assert_eq!(csv_rows, 500);
    let (s, _) = json_of(&app, "GET", "/api/v1/stats/summary", VIEWER).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = json_of(&app, "GET", "/api/v1/stats/rank?dim=district", VIEWER).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = json_of(&app, "GET", "/api/v1/feedback", VIEWER).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = json_of(&app, "GET", "/api/v1/feedback", "stolen-guess").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A wall's live stream (it never ends: the response is dropped at once),
    // with the token in the URL as EventSource sends it.
    let live = {
        use tower::ServiceExt;
        app.router
            .clone()
            .oneshot(
                Request::get(format!("/api/v1/live?access_token={VIEWER}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    };
    assert_eq!(live.status(), StatusCode::OK);
    drop(live);

    let entries = audit_of(&app, analyst).await;
    let shape: Vec<(&str, &str, u64, Option<u64>)> = entries
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap(),
                e["path"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
                e["items"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("GET", "/api/v1/feedback", 200, Some(7)),
            ("GET", "/api/v1/feedback", 200, Some(500)),
        ],
        "{entries:#?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["role"] == "analyst" && e["token"] == analyst)
    );
    assert!(entries[0]["query"].as_str().unwrap().contains("limit=7"));
    assert!(entries[0]["at"].as_str().unwrap().ends_with("+08:00"));

    let viewer = audit_of(&app, "holder of wall-secret").await;
    let statuses: Vec<(&str, u64)> = viewer
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("/api/v1/stats/summary", 200),
            ("/api/v1/stats/rank", 200),
            ("/api/v1/feedback", 403),
            ("/api/v1/live", 200)
        ]
    );
    assert!(
        viewer[0]["items"].is_null() && viewer[1]["items"].is_null(),
        "aggregates carry no items"
    );
    assert_eq!(viewer[3]["query"], "", "the token is not kept");

    // Requests without a valid token are audited as `none`, the search
    // term masked and the token gone.
    let strangers = audit_of(&app, "none").await;
    assert_eq!(strangers.len(), 2, "{strangers:#?}");
    let query = strangers[0]["query"].as_str().unwrap();
    assert!(
        !query.contains(ANALYST) && !query.contains("access_token"),
        "{query}"
    );
    assert!(!query.contains("12345678"), "{query}");
    assert!(query.starts_with("q=139"), "{query}");

    // The writes and the audit reads are audited too; no entry holds a text.
    let ingest = audit_of(&app, "holder of feed-secret").await;
    assert_eq!(ingest.len(), 1);
    assert_eq!(
        (ingest[0]["method"].as_str(), ingest[0]["status"].as_u64()),
        (Some("POST"), Some(200))
    );
    let admin = audit_of(&app, "holder of root-secret").await;
    assert!(
        admin.len() >= 4 && admin.iter().all(|e| e["path"] == "/api/v1/audit"),
        "{admin:#?}"
    );
    let (_, all) = json_of(
        &app,
        "GET",
        "/api/v1/audit?from=2000-01-01T00:00:00Z",
        ADMIN,
    )
    .await;
    let all = all.to_string();
    assert!(
        !all.contains("梧桐") && !all.contains("派出所民警"),
        "item texts in the audit"
    );

    // Only an admin reads it; its parameters are checked.
    let (s, _) = json_of(&app, "GET", "/api/v1/audit", ANALYST).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for bad in [
        "from=yesterday",
        "limit=0",
        "limit=100000",
        "who=me",
        "from=2025-06-02T00:00:00Z&to=2025-06-01T00:00:00Z",
    ] {
        let (s, v) = json_of(&app, "GET", &format!("/api/v1/audit?{bad}"), ADMIN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (_, v) = json_of(
        &app,
        "GET",
        "/api/v1/audit?from=2000-01-01T00:00:00Z&limit=2",
        ADMIN,
    )
    .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert_eq!(v["truncated"], true);
}

/// Every byte of the store's files.
fn store_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("minyi.db")
        {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn erasure_takes_a_persons_text_out_of_the_api_and_the_files() {
    let app = app();
    load(&app).await;
    let data = app._dir.0.clone();

    let (_, before) = json_of(
        &app,
        "GET",
        "/api/v1/stats/summary?from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00",
        VIEWER,
    )
    .await;
    let (_, found) = json_of(
        &app,
        "GET",
        &format!("/api/v1/feedback?q={MARKER}"),
        ANALYST,
    )
    .await;
    let found = found["items"].as_array().unwrap().clone();
    assert_eq!(found.len(), 2);
    let hash = found[0]["detail"]["contact_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        found[1]["detail"]["contact_hash"],
        hash.as_str(),
        "one person, two spellings"
    );
    // Two alerts whose samples are the person's items: one firing, one
    // resolved (kept as history only).
    let now = chrono::Utc::now().timestamp();
    let samples: Vec<Value> = found
        .iter()
        .map(|i| {
            json!({"id": i["id"], "received_at": i["received_at"], "channel": i["channel"],
                        "text": i["text"]})
        })
        .collect();
    for (id, status) in [("a-firing", "firing"), ("a-past", "resolved")] {
        let doc = json!({"id": id, "rule": "r", "key": id, "dim": null, "name": "丛台区",
            "title": "丛台区诉求上升", "severity": "warning", "detector": "ratio", "level": "alert",
            "status": status, "started_at": now, "updated_at": now,
            "resolved_at": if status == "resolved" { json!(now) } else { json!(null) },
            "observed": 9.0, "expected": 1.0, "p_value": null, "new": false,
            "window_seconds": 3600, "notified": true, "silenced": false, "acked_at": null,
            "acked_by": null, "districts": ["丛台区"], "units": [],
            "context": {"districts": [], "units": [], "keywords": [], "incidents": [],
                        "samples": samples, "link": "/explore"}});
        app.store
            .state_save("alert", id.into(), doc.to_string(), now)
            .await
            .unwrap();
    }
    app.state.alerts.restore(now).await.unwrap();
    let (_, alerts) = json_of(&app, "GET", "/api/v1/alerts?status=all", VIEWER).await;
    assert!(alerts.to_string().contains(PHRASE), "{alerts}");

    // The check below can fail: before erasure the text is in the files.
    assert!(contains(&store_bytes(&data), PHRASE) && contains(&store_bytes(&data), MARKER));

    // Only an admin erases; a malformed hash is refused.
    let (s, _) = json_of(&app, "DELETE", &format!("/api/v1/contacts/{hash}"), ANALYST).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = json_of(&app, "DELETE", "/api/v1/contacts/13912345678", ADMIN).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = json_of(&app, "DELETE", &format!("/api/v1/contacts/{hash}"), ADMIN).await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"erased": 2})));
    let (s, v) = json_of(&app, "DELETE", &format!("/api/v1/contacts/{hash}"), ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "erased before: {v}");

    // Gone from the API: no search finds it, the list shows the rows as erased.
    let (_, after) = json_of(
        &app,
        "GET",
        "/api/v1/stats/summary?from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00",
        VIEWER,
    )
    .await;
    assert_eq!(before, after, "the counts and KPIs stay");
    let (_, search) = json_of(
        &app,
        "GET",
        &format!("/api/v1/feedback?q={MARKER}"),
        ANALYST,
    )
    .await;
    assert_eq!(search["items"], json!([]));
    let (_, list) = json_of(
        &app,
        "GET",
        "/api/v1/feedback?limit=1000&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA&rating=3",
        ANALYST,
    )
    .await;
    let erased: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["redacted"] == "erased")
        .collect();
    assert_eq!(erased.len(), 2, "{list}");
    for i in &erased {
        assert_eq!(i["text"], "");
        assert_eq!(i["keywords"], json!([]));
        assert!(i["case_ref"].is_null());
        assert_eq!(i["detail"], json!({"redacted": "erased"}));
    }
    let (_, csv) = send(&app, "GET", "/api/v1/feedback?format=csv", ANALYST, None).await;
    assert!(!contains(&csv, PHRASE) && !contains(&csv, MARKER));
    // Nor does an alert's context keep them, firing or past.
    let (_, alerts) = json_of(&app, "GET", "/api/v1/alerts?status=all", VIEWER).await;
    let listed = alerts["alerts"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{alerts}");
    assert!(!alerts.to_string().contains(PHRASE), "{alerts}");
    let (_, words) = json_of(
        &app,
        "GET",
        "/api/v1/stats/top?dim=keyword&limit=50&from=2025-06-01T00:00:00%2B08:00",
        VIEWER,
    )
    .await;
    assert!(!words.to_string().contains("梧桐"), "{words}");

    // Gone from the files: the database (free pages included) and the WAL.
    let bytes = store_bytes(&data);
    assert!(
        !contains(&bytes, PHRASE),
        "the erased text is still in the SQLite files"
    );
    assert!(
        !contains(&bytes, MARKER),
        "the erased token is still in the SQLite files"
    );
    assert!(
        !contains(&bytes, &hash),
        "the contact hash is still in the SQLite files"
    );
    assert!(contains(&bytes, "第1499号来信"), "other items are kept");

    // Erasing one item by id; the erasures are audited with their counts.
    let (s, v) = json_of(&app, "DELETE", "/api/v1/feedback/o7", ADMIN).await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"erased": 1})));
    let (s, _) = json_of(&app, "DELETE", "/api/v1/feedback/no-such-id", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let deletes: Vec<(String, u64, Option<u64>)> = audit_of(&app, "holder of root-secret")
        .await
        .iter()
        .filter(|e| e["method"] == "DELETE")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
                e["items"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        deletes,
        [
            ("/api/v1/contacts/139****5678".to_owned(), 400, None),
            (format!("/api/v1/contacts/{hash}"), 200, Some(2)),
            (format!("/api/v1/contacts/{hash}"), 404, None),
            ("/api/v1/feedback/o7".to_owned(), 200, Some(1)),
            ("/api/v1/feedback/no-such-id".to_owned(), 404, None),
        ]
    );
}

#[tokio::test]
async fn retention_keeps_the_counts_of_old_items_and_drops_old_audit_entries() {
    let app = app();
    load(&app).await;
    let store: Arc<dyn Store> = app.store.clone();
    // The statistics of the whole stored period, as a wall and the explorer ask them.
    let figures = || async {
        let range = "from=2025-05-01T00:00:00%2B08:00&to=2025-06-03T00:00:00%2B08:00";
        let mut out = Vec::new();
        for path in [
            "summary?",
            "top?dim=keyword&",
            "top?dim=district&",
            "timeseries?interval=1h&group_by=district&",
        ] {
            out.push(
                json_of(&app, "GET", &format!("/api/v1/stats/{path}{range}"), VIEWER)
                    .await
                    .1,
            );
        }
        out
    };
    let before = figures().await;
    store
        .audit_append(vec![AuditEntry {
            at: 1_600_000_000,
            token: "old".into(),
            role: "analyst".into(),
            method: "GET".into(),
            path: "/api/v1/feedback".into(),
            query: String::new(),
            status: 200,
            items: Some(3),
        }])
        .await
        .unwrap();

    // Items of 2025-06-01 before 10:00 are older than the limit.
    let limit = chrono::DateTime::parse_from_rfc3339("2025-06-01T10:00:00+08:00")
        .unwrap()
        .timestamp();
    let metrics = app.state.metrics.clone();
    let stopped = tokio_util::sync::CancellationToken::new();
    stopped.cancel();
    // One pass (the loop stops at once: shutdown is cancelled), run as the
    // server runs it, on a clock 30 days after the limit.
    minyi::privacy::run_retention(
        store.clone(),
        metrics.clone(),
        30,
        180,
        move || limit + 30 * 86_400,
        stopped,
    )
    .await;
    let expired = metrics
        .items_expired
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(expired, 1 + 250, "p1 and the others of 08:00–09:59");

    assert_eq!(
        before,
        figures().await,
        "counts, hot words and series of the expired period stay"
    );

    let (_, old) = json_of(
        &app,
        "GET",
        "/api/v1/feedback?limit=1000&to=2025-06-01T10:00:00%2B08:00",
        ANALYST,
    )
    .await;
    let old = old["items"].as_array().unwrap();
    assert_eq!(old.len(), 251);
    assert!(old.iter().all(|i| i["redacted"] == "expired"
        && i["text"] == ""
        && i["detail"] == json!({"redacted": "expired"})));
    let (_, kept) = json_of(
        &app,
        "GET",
        "/api/v1/feedback?limit=1000&from=2025-06-01T10:00:00%2B08:00",
        ANALYST,
    )
    .await;
    let kept = kept["items"].as_array().unwrap();
    assert_eq!(kept.len(), 1000, "a full page of the 1,251 kept");
    assert!(
        kept.iter()
            .all(|i| i["redacted"].is_null() && i["text"] != "")
    );
    let (_, search) = json_of(
        &app,
        "GET",
        &format!("/api/v1/feedback?q={MARKER}"),
        ANALYST,
    )
    .await;
    let ids: Vec<&str> = search["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p2"], "the expired item's tokens left the index");

    let left = store
        .audit_read(AuditQuery {
            from: 0,
            to: i64::MAX,
            token: Some("old".into()),
            limit: 10,
        })
        .await
        .unwrap();
    assert!(left.is_empty(), "an entry older than 180 days is dropped");
    // A second pass finds nothing more to do.
    let again = store.expire(Some(limit), 0).await.unwrap();
    assert_eq!(again.items, 0);
}
