//! The HTTP API through `oneshot` on a real SQLite store in a temp folder:
//! ingest (good, bad, mixed, oversize, idempotent), every query, CSV,
//! work-order KPIs, auth, and the live stream.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use minyi::config::Role;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{TestApp, call, test_app};

async fn get(app: &TestApp, uri: &str) -> (StatusCode, Value) {
    let (s, b) = call(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn post(
    app: &TestApp,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap();
    let (s, b) = call(app, req).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// A day of feedback (2025-06-01, +08:00) across channels and districts.
fn sample_items() -> Value {
    json!([
        {"id": "a1", "channel": "hotline_12345", "received_at": "2025-06-01T09:05:00+08:00",
         "text": "报警后等了四十分钟才有人来，出警太慢了，电话13812345678", "district": "丛台区"},
        {"id": "a2", "channel": "director_mailbox", "received_at": "2025-06-01T09:20:00+08:00",
         "text": "户籍业务不打烊，天台山派出所民警服务好，办事效率高！"},
        {"id": "a3", "channel": "sms_revisit", "received_at": "2025-06-01T10:10:00+08:00",
         "text": "3，出警太慢", "case_ref": "WO-1", "district": "丛台区"},
        {"id": "a4", "channel": "sms_revisit", "received_at": "2025-06-02T10:10:00+08:00",
         "text": "1", "case_ref": "WO-1", "district": "丛台区"},
        {"id": "a5", "channel": "scan_rate", "received_at": "2025-06-01T11:00:00+08:00",
         "rating": 2, "text": "", "district": "磁县"},
        {"id": "a6", "channel": "wechat", "received_at": "2025-06-01T11:30:00+08:00",
         "text": "峰峰太中路与煤城大街红绿灯被树枝挡住了，存在安全隐患"}
    ])
}

/// Posts items; how many were accepted.
async fn post_items(app: &TestApp, items: &serde_json::Value) -> u64 {
    let (s, v) = post(
        app,
        "/api/v1/feedback",
        "application/json",
        items.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["accepted"].as_u64().unwrap()
}

/// Posts work-order events; how many were accepted.
async fn post_events(app: &TestApp, events: &serde_json::Value) -> u64 {
    let (s, v) = post(
        app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["accepted"].as_u64().unwrap()
}

async fn load(app: &TestApp) {
    let (s, v) = post(
        app,
        "/api/v1/feedback",
        "application/json",
        sample_items().to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 6, "{v}");
}

#[tokio::test]
async fn mixed_batches_keep_the_good_items_and_name_the_bad() {
    let app = test_app(&[]);
    let body = json!([
        {"id": "g1", "channel": "wechat", "text": "谢谢民警"},
        {"id": "b1", "channel": "fax", "text": "x"},
        {"id": "g2", "channel": "hotline_12345", "text": "出警太慢"},
        {"id": "b2", "channel": "wechat", "text": "x", "received_at": "昨天"},
        "not an object"
    ]);
    let (s, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        body.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accepted"], 2);
    let rejected = v["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["index"], 1);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown channel")
    );
    assert_eq!(rejected[1]["index"], 3);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("received_at")
    );
    assert_eq!(rejected[2]["index"], 4);

    // JSONL: a malformed line is one rejected item, not a refused body.
    let jsonl = "{\"id\":\"g3\",\"channel\":\"wechat\",\"text\":\"好\"}\n{\"id\":\n{\"id\":\"g4\",\"channel\":\"wechat\",\"text\":\"差\"}\n";
    let (s, v) = post(&app, "/api/v1/feedback", "application/x-ndjson", jsonl).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"][0]["index"], 1);
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );

    let (_, v) = get(&app, "/api/v1/stats/summary").await;
    assert_eq!(v["received"], 4);
}

#[tokio::test]
async fn refused_bodies_get_400_and_413() {
    let app = test_app(&[]);
    let (s, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        "{\"channel\": ",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().unwrap().starts_with("malformed JSON"),
        "{v}"
    );
    let (s, _) = post(&app, "/api/v1/feedback", "application/json", "42").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let big = format!(
        "[{{\"channel\":\"wechat\",\"text\":\"{}\"}}]",
        "长".repeat(4_000_000)
    );
    let (s, v) = post(&app, "/api/v1/feedback", "application/json", big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");

    let many: Vec<Value> = (0..10_001)
        .map(|i| json!({"id": format!("m{i}"), "channel": "wechat", "text": "好"}))
        .collect();
    let (s, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        Value::from(many).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("10000"), "{v}");

    let (_, v) = get(&app, "/api/v1/stats/summary").await;
    assert_eq!(v["received"], 0, "nothing of a refused body is stored");
}

#[tokio::test]
async fn reposting_the_same_ids_changes_nothing() {
    let app = test_app(&[]);
    load(&app).await;
    let (_, before) = get(&app, "/api/v1/stats/top?dim=topic").await;
    let (s, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        sample_items().to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(6), Some(6))
    );
    let (_, summary) = get(&app, "/api/v1/stats/summary").await;
    assert_eq!(summary["received"], 6);
    let (_, after) = get(&app, "/api/v1/stats/top?dim=topic").await;
    assert_eq!(before, after, "rollups are not counted twice");
}

#[tokio::test]
async fn identical_items_without_id_or_time_in_one_batch_are_distinct() {
    let app = test_app(&[]);
    let reply = json!({"channel": "sms_revisit", "text": "1"});
    let body = json!([reply, reply, reply, {"channel": "sms_revisit", "text": "1",
        "received_at": "2025-06-01T09:05:00+08:00"}]);
    let (s, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        body.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(4), Some(0)),
        "{v}"
    );
    // An item with its own time is still the same item when sent again.
    let again = json!([{"channel": "sms_revisit", "text": "1",
        "received_at": "2025-06-01T09:05:00+08:00"}]);
    let (_, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        again.to_string(),
    )
    .await;
    assert_eq!(v["duplicates"], 1, "{v}");
}

#[tokio::test]
async fn summary_kpis_follow_the_definitions() {
    let app = test_app(&[]);
    load(&app).await;
    let events = json!([
        {"order_id": "WO-1", "feedback_id": "a1", "event": "created", "unit": "丛台派出所", "at": "2025-06-01T09:06:00+08:00"},
        {"order_id": "WO-1", "feedback_id": "a1", "event": "resolved", "at": "2025-06-01T10:00:00+08:00"},
        {"order_id": "WO-2", "feedback_id": "a6", "event": "created", "unit": "交巡警峰峰大队", "at": "2025-06-01T11:31:00+08:00"},
        {"order_id": "WO-3", "event": "created", "at": "2025-06-01T12:00:00+08:00"},
        {"order_id": "WO-3", "event": "resolved", "at": "2025-06-01T13:00:00+08:00"},
        {"order_id": "WO-3", "event": "reopened", "at": "2025-06-01T14:00:00+08:00"},
        {"order_id": "WO-4", "event": "explode"}
    ]);
    let (s, v) = post(
        &app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["accepted"], 6);
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("explode")
    );
    // Re-posting events is idempotent too.
    let (_, v) = post(
        &app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(v["duplicates"], 6);

    let day = "from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00";
    let (s, v) = get(&app, &format!("/api/v1/stats/summary?{day}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["received"], 5);
    assert_eq!(v["rated"], 2); // a3 (3) and a5 (2)
    assert_eq!(v["satisfaction_rate"], 0.5);
    assert_eq!(v["orders_created"], 3);
    assert_eq!(v["orders_resolved"], 1); // WO-3 was reopened
    assert_eq!(v["completion_rate"].as_f64().unwrap(), 1.0 / 3.0);
    // a3 (不满意 on WO-1) was followed by a4 rated 1 on the same case.
    assert_eq!(v["dissatisfied"], 1);
    assert_eq!(v["dissatisfied_resolved_rate"], 1.0);
    // Orders of 2025 are long past the 5-day SLA.
    assert_eq!(v["overdue"], 2);
    assert_eq!(
        v["negative"].as_u64().unwrap()
            + v["positive"].as_u64().unwrap()
            + v["neutral"].as_u64().unwrap(),
        5
    );

    // Filters reach the orders through their items, and by unit.
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/summary?{day}&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA"),
    )
    .await;
    assert_eq!(
        (v["received"].as_u64(), v["orders_created"].as_u64()),
        (Some(2), Some(1))
    );
    let (_, v) = get(&app, &format!("/api/v1/stats/summary?{day}&unit=%E4%BA%A4%E5%B7%A1%E8%AD%A6%E5%B3%B0%E5%B3%B0%E5%A4%A7%E9%98%9F")).await;
    assert_eq!(v["orders_created"], 1);

    // The work-order part alone: the same figures, no item counts.
    let (s, v) = get(&app, &format!("/api/v1/stats/orders?{day}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"orders_created": 3, "orders_resolved": 1, "orders_open": 2,
               "completion_rate": 1.0 / 3.0, "overdue": 2})
    );
    let (s, _) = get(&app, "/api/v1/stats/orders?interval=1h").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Work orders as they stood at a time (`as_of`), what the wall's 在办工单
/// compares with a day before: created before it, resolved before it.
#[tokio::test]
async fn orders_as_they_stood_at_a_time() {
    orders_as_of(test_app(&[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_as_they_stood_at_a_time_on_clickhouse() {
    let server = common::ClickHouse::start();
    let db = server.database("orders_as_of");
    orders_as_of(crate::clickhouse_store::app(&server, &db, Vec::new()).await).await;
}

/// 不满意化解 as it stood at a time (`as_of`), what a compared period's
/// 不满意化解率 reads: a dissatisfied item counts as resolved from the
/// first satisfied answer — a later item on its case (also one that
/// arrived before it), its order's revisit — not before. Without it, today
/// against yesterday read 0.0 % against 78.0 %: yesterday's items had had
/// a day to be resolved.
#[tokio::test]
async fn resolutions_as_they_stood_at_a_time() {
    resolutions_as_of(test_app(&[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resolutions_as_they_stood_at_a_time_on_clickhouse() {
    let server = common::ClickHouse::start_logging_queries();
    let db = server.database("resolutions_as_of");
    resolutions_as_of(crate::clickhouse_store::app(&server, &db, Vec::new()).await).await;
    server.replay_on_current_release(&db);
}

async fn resolutions_as_of(app: TestApp) {
    let at = |hm: &str| format!("2025-07-01T{hm}:00+08:00");
    let item = |id: &str, hm: &str, rating: u8, case: Option<&str>| {
        let mut v = json!({"id": id, "channel": "sms_revisit", "received_at": at(hm),
            "rating": rating, "text": "", "district": "丛台区"});
        if let Some(case) = case {
            v["case_ref"] = json!(case);
        }
        v
    };
    // d4's satisfied follow-up (13:00) arrives before d4 itself.
    for batch in [
        json!([item("s4", "13:00", 1, Some("C-4"))]),
        json!([
            item("d1", "09:00", 3, Some("C-1")),
            item("d2", "09:10", 3, None),
            item("d3", "09:20", 3, None),
            item("d4", "09:30", 3, Some("C-4")),
            item("s1", "12:00", 2, Some("C-1")),
        ]),
    ] {
        post_items(&app, &batch).await;
    }
    // d2's order: revisited unsatisfied at 10:00, satisfied at 14:00.
    let events = json!([
        {"order_id": "WO-2", "feedback_id": "d2", "event": "created", "at": at("09:15")},
        {"order_id": "WO-2", "event": "revisited", "rating": 3, "at": at("10:00")},
        {"order_id": "WO-2", "event": "revisited", "rating": 1, "at": at("14:00")}
    ]);
    assert_eq!(post_events(&app, &events).await, 3);
    let day = "from=2025-07-01T00:00:00%2B08:00&to=2025-07-01T12:00:00%2B08:00&rating=3";
    let resolved = |as_of: Option<&str>| {
        let app = &app;
        let uri = match as_of {
            Some(t) => format!("/api/v1/stats/summary?{day}&as_of=2025-07-01T{t}:00%2B08:00"),
            None => format!("/api/v1/stats/summary?{day}"),
        };
        async move {
            let (s, v) = get(app, &uri).await;
            assert_eq!(s, StatusCode::OK, "{uri}: {v}");
            (
                v["dissatisfied"].as_u64().unwrap(),
                v["dissatisfied_resolved"].as_u64().unwrap(),
            )
        }
    };
    assert_eq!(resolved(None).await, (4, 3));
    assert_eq!(
        resolved(Some("11:00")).await,
        (4, 0),
        "before any satisfied answer"
    );
    // At 12:00 exactly s1 is not yet counted (as_of is exclusive, as for orders).
    assert_eq!(resolved(Some("12:00")).await, (4, 0));
    assert_eq!(resolved(Some("12:30")).await, (4, 1), "d1, by s1 at 12:00");
    assert_eq!(
        resolved(Some("13:30")).await,
        (4, 2),
        "and d4, by s4 at 13:00"
    );
    assert_eq!(
        resolved(Some("14:30")).await,
        (4, 3),
        "and d2, by its revisit at 14:00"
    );

    // A league table by 不满意化解率 against the hour before: that hour's
    // item was resolved only since (30 minutes ago), so as that hour stood
    // an hour ago, it was not.
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    let t = |s: i64| {
        chrono::DateTime::from_timestamp(now + s, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let batch = json!([
        {"id": "e1", "channel": "sms_revisit", "received_at": t(-5400), "rating": 3, "text": "",
         "district": "邯山区", "case_ref": "C-9"},
        {"id": "e2", "channel": "sms_revisit", "received_at": t(-1800), "rating": 1, "text": "",
         "district": "邯山区", "case_ref": "C-9"},
        {"id": "e3", "channel": "sms_revisit", "received_at": t(-600), "rating": 3, "text": "",
         "district": "邯山区"}
    ]);
    post_items(&app, &batch).await;
    let uri = format!(
        "/api/v1/stats/rank?dim=district&metric=dissatisfied_resolved_rate&from={}&to={}&compare=previous",
        t(-3600),
        t(0)
    );
    let (s, v) = get(&app, &uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "邯山区")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (row["value"].as_f64(), row["previous"].as_f64()),
        (Some(0.0), Some(0.0)),
        "{row}"
    );
}

/// Windows a client's times make reach back before 1970 (a default day
/// before `to`, an SLA, a compared span, a cursor near 0): answered on
/// both stores (ClickHouse answered 500).
#[tokio::test]
async fn windows_reaching_before_1970() {
    early_windows(test_app(&[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn windows_reaching_before_1970_on_clickhouse() {
    let server = common::ClickHouse::start();
    let db = server.database("early_windows");
    early_windows(crate::clickhouse_store::app(&server, &db, Vec::new()).await).await;
}

async fn early_windows(app: TestApp) {
    load(&app).await;
    for uri in [
        "/api/v1/feedback?limit=1&cursor=0.0",
        "/api/v1/feedback?to=1970-01-01T00:00:30Z",
        "/api/v1/stats/timeseries?to=1970-01-01T00:00:30Z",
        "/api/v1/stats/revisits?to=1970-01-05T00:00:00Z",
        "/api/v1/stats/summary?orders_by=due&from=1970-01-01T00:00:00Z&to=1970-01-10T00:00:00Z",
        "/api/v1/stats/orders?orders_by=due&to=1970-01-03T00:00:00Z",
        "/api/v1/stats/rank?dim=unit&metric=completion_rate&orders_by=due&to=1970-01-03T00:00:00Z",
        "/api/v1/stats/rank?dim=channel&compare=previous&from=1970-01-01T00:00:00Z&to=2026-12-03T00:00:00Z",
    ] {
        let (s, v) = get(&app, uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
    }
    let (_, v) = get(&app, "/api/v1/feedback?limit=1&cursor=0.0").await;
    assert_eq!(v["items"], json!([]), "{v}");
}

async fn orders_as_of(app: TestApp) {
    load(&app).await;
    // WO-4 is open from 09:30 (reopened) until its second resolution at 15:00.
    let events = json!([
        {"order_id": "WO-1", "feedback_id": "a1", "event": "created", "at": "2025-06-01T09:06:00+08:00"},
        {"order_id": "WO-1", "event": "resolved", "at": "2025-06-01T10:00:00+08:00"},
        {"order_id": "WO-2", "feedback_id": "a6", "event": "created", "at": "2025-06-01T11:31:00+08:00"},
        {"order_id": "WO-3", "event": "created", "at": "2025-06-01T12:00:00+08:00"},
        {"order_id": "WO-3", "event": "resolved", "at": "2025-06-01T13:00:00+08:00"},
        {"order_id": "WO-3", "event": "reopened", "at": "2025-06-01T14:00:00+08:00"},
        {"order_id": "WO-4", "event": "created", "at": "2025-06-01T08:00:00+08:00"},
        {"order_id": "WO-4", "event": "resolved", "at": "2025-06-01T09:00:00+08:00"},
        {"order_id": "WO-4", "event": "reopened", "at": "2025-06-01T09:30:00+08:00"},
        {"order_id": "WO-4", "event": "resolved", "at": "2025-06-01T15:00:00+08:00"}
    ]);
    assert_eq!(post_events(&app, &events).await, 10);
    let orders = |query: String| {
        let app = &app;
        async move {
            let (s, v) = get(app, &format!("/api/v1/stats/orders?{query}")).await;
            assert_eq!(s, StatusCode::OK, "{query}: {v}");
            [
                "orders_created",
                "orders_resolved",
                "orders_open",
                "overdue",
            ]
            .map(|k| v[k].as_u64().unwrap())
        }
    };
    let day = "from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00";
    let at = |t: &str| format!("{day}&as_of=2025-06-{t}%2B08:00");
    // Now: WO-1 and WO-4 resolved, WO-2 and WO-3 open and long overdue.
    assert_eq!(orders(day.to_owned()).await, [4, 2, 2, 2]);
    // 09:15: WO-1 open. WO-4 was in fact resolved then (09:00, reopened at
    // 09:30), but an order counts by its last resolution, so it reads as open.
    assert_eq!(orders(at("01T09:15:00")).await, [2, 0, 2, 0]);
    // At 10:00 exactly WO-1's resolution is not yet counted; a minute later it is.
    assert_eq!(orders(at("01T10:00:00")).await, [2, 0, 2, 0]);
    assert_eq!(orders(at("01T10:01:00")).await, [2, 1, 1, 0]);
    // 13:30: WO-3 was resolved then but has been reopened since, so it
    // reads as open; WO-4 was open (reopened at 09:30).
    assert_eq!(orders(at("01T13:30:00")).await, [4, 1, 3, 0]);
    // 16:00: WO-4 resolved again.
    assert_eq!(orders(at("01T16:00:00")).await, [4, 2, 2, 0]);
    // Six days on, the open ones are past the 5-day SLA.
    assert_eq!(orders(at("07T00:00:00")).await, [4, 2, 2, 2]);
    // A time after now is now; one before any order, nothing.
    let later = format!("{day}&as_of=9999-01-01T00:00:00Z");
    assert_eq!(orders(later).await, [4, 2, 2, 2]);
    let long_ago = format!("{day}&as_of=1970-01-01T00:00:00Z");
    assert_eq!(orders(long_ago).await, [0, 0, 0, 0]);
    // Item filters and the summary read the same way.
    let (_, v) = get(
        &app,
        &format!(
            "/api/v1/stats/summary?{}&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
            at("01T10:01:00")
        ),
    )
    .await;
    assert_eq!(
        (
            v["received"].as_u64(),
            v["orders_created"].as_u64(),
            v["orders_resolved"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{v}"
    );
    for (uri, param) in [
        (
            format!("/api/v1/stats/orders?{day}&as_of=yesterday"),
            "as_of",
        ),
        // Before 1970: no store holds such a time (ClickHouse answered 500).
        (
            format!("/api/v1/stats/orders?{day}&as_of=1900-01-01T00:00:00Z"),
            "as_of",
        ),
        (
            "/api/v1/stats/summary?from=1900-01-01T00:00:00Z".to_owned(),
            "from",
        ),
        ("/api/v1/feedback?to=1969-12-31T23:59:59Z".to_owned(), "to"),
        (
            format!("/api/v1/stats/top?{day}&dim=topic&as_of=2025-06-01T10:00:00Z"),
            "as_of",
        ),
    ] {
        let (s, v) = get(&app, &uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert!(
            v["error"].as_str().unwrap_or_default().contains(param),
            "{v}"
        );
    }
}

/// 办结率 over a window asks about the orders due in it (`orders_by=due`:
/// created one SLA, 5 days, before); items without text (a rating alone)
/// can be counted apart (`has_text`), so topic rankings leave them out.
#[tokio::test]
async fn orders_due_in_a_window_and_items_without_text() {
    let app = test_app(&[]);
    load(&app).await;
    let events = json!([
        {"order_id": "WO-1", "feedback_id": "a1", "event": "created", "at": "2025-06-01T09:06:00+08:00"},
        {"order_id": "WO-1", "event": "resolved", "at": "2025-06-03T10:00:00+08:00"},
        {"order_id": "WO-2", "feedback_id": "a6", "event": "created", "at": "2025-06-01T11:31:00+08:00"},
        {"order_id": "WO-3", "feedback_id": "a2", "event": "created", "at": "2025-06-01T12:00:00+08:00"},
        {"order_id": "WO-3", "event": "resolved", "at": "2025-06-01T13:00:00+08:00"}
    ]);
    let (s, _) = post(
        &app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Five days later: no order was created that day, all three were due.
    let due_day = "from=2025-06-06T00:00:00%2B08:00&to=2025-06-07T00:00:00%2B08:00";
    let (_, v) = get(&app, &format!("/api/v1/stats/orders?{due_day}")).await;
    assert_eq!(v["orders_created"], 0, "{v}");
    let (s, v) = get(
        &app,
        &format!("/api/v1/stats/orders?{due_day}&orders_by=due"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"orders_created": 3, "orders_resolved": 2, "orders_open": 1,
               "completion_rate": 2.0 / 3.0, "overdue": 1})
    );
    // The window is [from, to) on the due time: WO-1 due at 09:06 is in,
    // WO-3 due at 12:00 is not.
    let edge = "from=2025-06-06T09:06:00%2B08:00&to=2025-06-06T12:00:00%2B08:00";
    let (_, v) = get(&app, &format!("/api/v1/stats/orders?{edge}&orders_by=due")).await;
    assert_eq!(
        (v["orders_created"].as_u64(), v["orders_resolved"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    // The summary's items stay those received in the window; its orders are due in it.
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/summary?{due_day}&orders_by=due"),
    )
    .await;
    assert_eq!(
        (v["received"].as_u64(), v["orders_created"].as_u64()),
        (Some(0), Some(3)),
        "{v}"
    );
    // Item filters still reach the orders through their items.
    let (_, v) = get(
        &app,
        &format!(
            "/api/v1/stats/orders?{due_day}&orders_by=due&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA"
        ),
    )
    .await;
    assert_eq!(v["orders_created"], 1, "{v}");
    let (s, v) = get(
        &app,
        &format!("/api/v1/stats/top?{due_day}&dim=topic&orders_by=due"),
    )
    .await;
    assert_eq!(
        (
            s,
            v["error"].as_str().is_some_and(|e| e.contains("orders_by"))
        ),
        (StatusCode::BAD_REQUEST, true)
    );

    // a5 is a rating alone (scan_rate, 基本满意, no text).
    let day = "from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00";
    let received = |v: &Value| v["received"].as_u64().unwrap();
    let (_, all) = get(&app, &format!("/api/v1/stats/summary?{day}")).await;
    let (_, with) = get(&app, &format!("/api/v1/stats/summary?{day}&has_text=true")).await;
    let (_, without) = get(&app, &format!("/api/v1/stats/summary?{day}&has_text=false")).await;
    assert_eq!(
        (received(&all), received(&with), received(&without)),
        (5, 4, 1)
    );
    assert_eq!(without["rated"], 1);
    let topic_count = |v: &Value, key: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    let (_, top) = get(&app, &format!("/api/v1/stats/top?{day}&dim=topic")).await;
    let (_, top_with) = get(
        &app,
        &format!("/api/v1/stats/top?{day}&dim=topic&has_text=true"),
    )
    .await;
    assert_eq!(
        topic_count(&top, "other") - topic_count(&top_with, "other"),
        1,
        "{top} {top_with}"
    );
    let (s, _) = get(&app, &format!("/api/v1/stats/summary?{day}&has_text=maybe")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn timeseries_top_and_search() {
    let app = test_app(&[]);
    load(&app).await;
    let day = "from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00";
    let (s, v) = get(
        &app,
        &format!("/api/v1/stats/timeseries?{day}&interval=1h&group_by=sentiment"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(v["buckets"][9], "2025-06-01T09:00:00+08:00");
    let total: u64 = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
        })
        .sum();
    assert_eq!(total, 5);
    let neg = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "negative")
        .unwrap();
    assert_eq!(neg["name"], "负面");
    assert_eq!(neg["data"][9], 1);

    // One day bucket on the local calendar.
    let (_, v) = get(&app, &format!("/api/v1/stats/timeseries?{day}&interval=1d")).await;
    assert_eq!(v["series"][0]["data"], json!([5]));

    // Topic grouping counts an item under each of its topics.
    let (_, v) = get(&app, &format!("/api/v1/stats/top?{day}&dim=topic&limit=20")).await;
    let response = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "response")
        .unwrap();
    assert_eq!(response["name"], "接处警");
    assert_eq!(response["count"], 2);

    let (_, v) = get(&app, &format!("/api/v1/stats/top?{day}&dim=district")).await;
    assert_eq!(v["rows"][0]["key"], "丛台区");
    assert_eq!(v["rows"][0]["count"], 2);

    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/top?{day}&dim=keyword&limit=50"),
    )
    .await;
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "出警"),
        "{v}"
    );
    // The keyword ranking by topic reads the items and agrees.
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/top?{day}&dim=keyword&topic=response"),
    )
    .await;
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "出警"),
        "{v}"
    );

    // Search by keyword, filters from the items path and the rollup path agree.
    let (_, v) = get(&app, "/api/v1/feedback?q=%E5%87%BA%E8%AD%A6").await;
    let ids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a3", "a1"], "newest first");
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/summary?{day}&q=%E5%87%BA%E8%AD%A6"),
    )
    .await;
    assert_eq!(v["received"], 2);
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/summary?{day}&topic=response&topic=traffic"),
    )
    .await;
    assert_eq!(v["received"], 3, "an item with both topics counts once");
}

#[tokio::test]
async fn bad_queries_are_400_with_the_parameter() {
    let app = test_app(&[]);
    for (uri, param) in [
        ("/api/v1/stats/summary?channel=fax", "channel"),
        (
            "/api/v1/stats/summary?district=%E5%8C%97%E4%BA%AC",
            "district",
        ),
        ("/api/v1/stats/summary?sentiment=angry", "sentiment"),
        ("/api/v1/stats/summary?from=yesterday", "from"),
        ("/api/v1/stats/timeseries?interval=2h", "interval"),
        ("/api/v1/stats/timeseries?group_by=keyword", "group_by"),
        ("/api/v1/stats/top?dim=weather", "dim"),
        ("/api/v1/stats/top?dim=topic&limit=1000000", "limit"),
        ("/api/v1/feedback?cursor=abc", "cursor"),
        // Cursors the API never writes: past year 9999 (whose next second
        // overflowed), negative, signed.
        ("/api/v1/feedback?cursor=9223372036854775807.1", "cursor"),
        ("/api/v1/feedback?cursor=-1.5", "cursor"),
        ("/api/v1/feedback?cursor=1796097597.-1", "cursor"),
        ("/api/v1/feedback?cursor=%2B1796097597.163846", "cursor"),
        ("/api/v1/stats/summary?sql=DROP%20TABLE%20items", "sql"),
    ] {
        let (s, v) = get(&app, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            v["error"].as_str().unwrap().contains(&format!("`{param}`")),
            "{uri}: {v}"
        );
    }
}

/// What axum refuses before a handler runs — a path segment that is no
/// UTF-8, a method a route does not take, a path no route has — reaches
/// the client in the API's JSON shape with a reason, like every other
/// refusal (they came as plain text or an empty body).
#[tokio::test]
async fn refusals_before_a_handler_are_json_too() {
    let app = test_app(&[]);
    for (method, uri, status, says) in [
        (
            "GET",
            "/api/v1/incidents/%ff",
            StatusCode::BAD_REQUEST,
            "UTF-8",
        ),
        (
            "GET",
            "/api/v1/contacts/%ff",
            StatusCode::BAD_REQUEST,
            "UTF-8",
        ),
        (
            "DELETE",
            "/api/v1/feedback/%ff",
            StatusCode::BAD_REQUEST,
            "UTF-8",
        ),
        (
            "PUT",
            "/api/v1/stats/summary",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        (
            "GET",
            "/api/v1/statistics",
            StatusCode::NOT_FOUND,
            minyi::server::api::NO_SUCH_ROUTE,
        ),
        (
            "POST",
            "/api/v2/feedback",
            StatusCode::NOT_FOUND,
            minyi::server::api::NO_SUCH_ROUTE,
        ),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let (s, body) = call(&app, req).await;
        assert_eq!(s, status, "{method} {uri}");
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{method} {uri}: not JSON: {body:?}"));
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(says)),
            "{method} {uri}: {v}"
        );
    }
    // The web's own paths keep theirs.
    let (s, _) = call(&app, Request::get("/nothing").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn item_lists_page_and_export_csv() {
    let app = test_app(&[]);
    load(&app).await;
    let (_, v) = get(&app, "/api/v1/feedback?limit=4").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 4);
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, v2) = get(&app, &format!("/api/v1/feedback?limit=4&cursor={cursor}")).await;
    assert_eq!(v2["items"].as_array().unwrap().len(), 2);
    assert!(v2["next_cursor"].is_null());
    // No personal data in API output.
    let all = format!("{v}{v2}");
    assert!(!all.contains("13812345678"));
    assert!(all.contains("138****5678"));

    let (s, body) = call(
        &app,
        Request::get("/api/v1/feedback?format=csv&sentiment=negative")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with('\u{feff}'), "BOM for Excel");
    let rows: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert!(rows[0].contains("受理时间"));
    assert!(rows.len() >= 3, "{text}");
    assert!(rows[1..].iter().all(|r| r.contains("负面")), "{text}");
    assert!(!text.contains("13812345678"));
}

/// The UTF-8 file name (`filename*`) a download's `Content-Disposition` gives.
fn download_name(resp: &axum::http::Response<Body>) -> String {
    let disposition = resp.headers()["content-disposition"].to_str().unwrap();
    let raw = disposition.split("filename*=UTF-8''").nth(1).unwrap();
    form_urlencoded::parse(format!("n={raw}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

/// The export says what it holds: its file name comes from the filters,
/// its header and ratings are in Chinese, each row names its work orders.
#[tokio::test]
async fn the_export_is_named_by_its_filters() {
    let app = test_app(&[]);
    load(&app).await;
    let events = json!([
        {"order_id": "WO-7", "feedback_id": "a1", "event": "created", "unit": "丛台派出所", "at": "2025-06-01T09:06:00+08:00"},
        {"order_id": "WO-7", "feedback_id": "a1", "event": "resolved", "at": "2025-06-01T10:00:00+08:00"},
        {"order_id": "WO-8", "feedback_id": "a3", "event": "created", "at": "2025-06-01T10:20:00+08:00"}
    ]);
    let (s, _) = post(
        &app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let uri = "/api/v1/feedback?format=csv&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA&sentiment=negative\
               &from=2025-06-01T00:00:00%2B08:00&to=2025-06-03T00:00:00%2B08:00";
    let resp = app
        .router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        download_name(&resp),
        "民意-丛台区-负面-20250601-20250602.csv"
    );
    // One day, one date; without filters or range, 全部.
    let name_of = |uri: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .router
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            download_name(&resp)
        }
    };
    assert_eq!(
        name_of("/api/v1/feedback?format=csv&rating=3&from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00").await,
        "民意-不满意-20250601.csv"
    );
    assert_eq!(
        name_of("/api/v1/feedback?format=csv").await,
        "民意-全部.csv"
    );
    // A searched phone number is masked in the name, as in the audit.
    assert_eq!(
        name_of("/api/v1/feedback?format=csv&q=13812345678").await,
        "民意-搜138＊＊＊＊5678-全部.csv"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let rows: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(
        rows[0].trim_start_matches('\u{feff}'),
        "编号,受理时间,渠道,地区,单位,类别,情感,情感分值,评价,关键词,内容,内容状态,关联案件,工单号,工单状态,事件编号"
    );
    let a1 = rows
        .iter()
        .find(|r| r.starts_with("a1,"))
        .expect("a1 exported");
    assert!(a1.contains(",WO-7,已办结,"), "{a1}");
    let a3 = rows
        .iter()
        .find(|r| r.starts_with("a3,"))
        .expect("a3 exported");
    assert!(
        a3.contains(",不满意,") && a3.contains(",WO-8,在办,"),
        "{a3}"
    );
    // The JSON list carries the same work orders.
    let (_, v) = get(&app, "/api/v1/feedback?limit=10").await;
    let a1 = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "a1")
        .unwrap();
    assert_eq!(
        a1["work_orders"],
        json!([{"order_id": "WO-7", "resolved": true}])
    );
}

/// The rank: every district by a count or a rate, with its volume, the
/// guard on small volumes, the change against another range, and the
/// items without a district as their own row.
#[tokio::test]
async fn rank_by_counts_and_rates_with_the_unknown_row() {
    let app = test_app(&[]);
    load(&app).await;
    let events = json!([
        {"order_id": "WO-1", "feedback_id": "a1", "event": "created", "unit": "丛台派出所", "at": "2025-06-01T09:06:00+08:00"},
        {"order_id": "WO-1", "feedback_id": "a1", "event": "resolved", "at": "2025-06-01T10:00:00+08:00"},
        {"order_id": "WO-2", "feedback_id": "a6", "event": "created", "unit": "交巡警峰峰大队", "at": "2025-06-01T11:31:00+08:00"},
        {"order_id": "WO-3", "event": "created", "at": "2025-06-01T12:00:00+08:00"}
    ]);
    let (s, _) = post(
        &app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // One item that names no place.
    let placeless = json!({"id": "a7", "channel": "wechat", "received_at": "2025-06-01T12:00:00+08:00",
                           "text": "电话一直打不通，没人接"});
    let (s, _) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        placeless.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let day = "from=2025-06-01T00:00:00%2B08:00&to=2025-06-02T00:00:00%2B08:00";
    let next_day =
        "compare_from=2025-06-02T00:00:00%2B08:00&compare_to=2025-06-03T00:00:00%2B08:00";

    // By count: every district with items, each row what the summary of
    // that district says; the unknown row holds the rest of the day's 6.
    let (s, v) = get(&app, &format!("/api/v1/stats/rank?dim=district&{day}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["key"], "丛台区");
    assert_eq!(
        (rows[0]["value"].as_f64(), rows[0]["volume"].as_u64()),
        (Some(2.0), Some(2))
    );
    let mut total = v["unknown"]["count"].as_u64().unwrap_or(0);
    for row in rows {
        let key = row["key"].as_str().unwrap();
        let district: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
        let (_, sum) = get(
            &app,
            &format!("/api/v1/stats/summary?{day}&district={district}"),
        )
        .await;
        assert_eq!(row["count"], sum["received"], "{key}");
        assert_eq!(row["orders_created"], sum["orders_created"], "{key}");
        assert!(row["ranked"].as_bool().unwrap());
        total += row["count"].as_u64().unwrap();
    }
    assert_eq!(total, 6, "{v}");
    assert_eq!(
        (
            v["unknown"]["name"].as_str(),
            v["unknown"]["count"].as_u64()
        ),
        (Some("未识别"), Some(1)),
        "{v}"
    );
    assert_eq!(v["unknown"]["ranked"], false);

    // 满意率, lowest first: 丛台区 (a3 不满意) before 磁县 (a5 基本满意);
    // against the next day (a4 满意 in 丛台区) it fell by 100 points.
    let (_, v) = get(
        &app,
        &format!(
            "/api/v1/stats/rank?dim=district&metric=satisfaction_rate&order=asc&{day}&{next_day}"
        ),
    )
    .await;
    let ranked: Vec<(&str, f64, u64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ranked"] == true)
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["value"].as_f64().unwrap(),
                r["volume"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranked, [("丛台区", 0.0, 1), ("磁县", 1.0, 1)], "{v}");
    assert_eq!(v["rows"][0]["previous"], 1.0);
    assert_eq!(v["rows"][0]["change"], -1.0);
    assert_eq!(v["compare"][0], "2025-06-02T00:00:00+08:00");
    assert_eq!((&v["order"], &v["sort"]), (&json!("asc"), &json!("value")));
    // By change, the largest fall first: the answer says so.
    let (_, by_change) = get(
        &app,
        &format!(
            "/api/v1/stats/rank?dim=district&metric=satisfaction_rate&order=asc&sort=change&{day}&{next_day}"
        ),
    )
    .await;
    assert_eq!(by_change["sort"], "change", "{by_change}");
    assert_eq!(by_change["rows"][0]["key"], "丛台区", "{by_change}");
    // Districts without a rating stand on nothing: listed after, unranked.
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ranked"] == (r["rated"].as_u64() > Some(0)))
    );
    // The guard: one rated item is not enough for a rate of 2.
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/rank?dim=district&metric=satisfaction_rate&min_volume=2&{day}"),
    )
    .await;
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ranked"] == false),
        "{v}"
    );

    // 办结率 by the orders' units; an order dispatched to no unit is unknown.
    let (_, v) = get(
        &app,
        &format!("/api/v1/stats/rank?dim=unit&metric=completion_rate&{day}"),
    )
    .await;
    let unit = |k: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(unit("丛台派出所")["value"], 1.0);
    assert_eq!(unit("交巡警峰峰大队")["value"], 0.0);
    assert_eq!(v["unknown"]["orders_created"], 1, "{v}");
    // Negative share and the topic dimension answer too.
    let (s, v) = get(
        &app,
        &format!("/api/v1/stats/rank?dim=topic&metric=negative_share&{day}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["rows"].as_array().unwrap().iter().all(|r| {
        r["value"].as_f64().unwrap()
            == r["negative"].as_f64().unwrap() / r["count"].as_f64().unwrap()
    }));

    for bad in [
        "dim=keyword",
        "dim=sentiment",
        "dim=district&metric=speed",
        "dim=district&compare_from=2025-06-02T00:00:00Z",
        "dim=district&min_volume=-1",
        "dim=district&limit=5",
    ] {
        let (s, v) = get(&app, &format!("/api/v1/stats/rank?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

#[tokio::test]
async fn tokens_and_roles() {
    let app = test_app(&[
        (Role::Viewer, "wall-secret"),
        (Role::Analyst, "analyst-secret"),
        (Role::Ingest, "feed-secret"),
    ]);
    let with = |uri: &str, token: Option<&str>| {
        let mut b = Request::get(uri);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::empty()).unwrap()
    };
    let summary = "/api/v1/stats/summary";
    assert_eq!(
        call(&app, with(summary, None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, with(summary, Some("guess"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, with(summary, Some("wall-secret"))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, with(summary, Some("analyst-secret"))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, with(summary, Some("feed-secret"))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, with("/api/v1/feedback", Some("wall-secret")))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, with("/api/v1/feedback", Some("analyst-secret")))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &app,
            with("/api/v1/stats/summary?access_token=wall-secret", None)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(call(&app, with("/healthz", None)).await.0, StatusCode::OK);

    let ingest = |token: &str| {
        Request::post("/api/v1/feedback")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(r#"{"channel":"wechat","text":"好"}"#))
            .unwrap()
    };
    assert_eq!(
        call(&app, ingest("wall-secret")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(&app, ingest("feed-secret")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn health_metrics_and_meta() {
    let app = test_app(&[]);
    load(&app).await;
    let (s, _) = call(&app, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let (_, body) = call(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("minyi_items_stored_total 6\n"), "{text}");
    assert!(text.contains("minyi_store_write_seconds_count 1\n"));
    let (_, v) = get(&app, "/api/v1/meta").await;
    assert_eq!(v["channels"].as_array().unwrap().len(), 16);
    assert_eq!(v["districts"].as_array().unwrap().len(), 18);
    assert_eq!(v["dashboards"][0]["name"], "wall");
}

#[tokio::test]
async fn panels_are_computed_once_per_tick_for_any_number_of_screens() {
    use std::sync::atomic::Ordering::Relaxed;
    let app = test_app(&[]);
    load(&app).await;
    let queries = || app.state.metrics.queries.load(Relaxed);

    // Nobody watching, a tick asks the store nothing.
    let before = queries();
    app.state.tick().await;
    assert_eq!(queries(), before);

    // A first tick computes the panels that are recomputed only every so
    // often (`every`) too; the ticks after it within that time do not.
    let first = app.state.live.subscribe();
    app.state.tick().await;
    assert!(first.panels.borrow().is_some());
    let before = queries();
    app.state.tick().await;
    let per_tick_alone = queries() - before;
    assert!(per_tick_alone > 0);

    let _screens: Vec<_> = (0..49)
        .map(|_| {
            minyi::server::sse::stream(
                app.state.live.subscribe(),
                app.state.shutdown.clone(),
                app.state.metrics.clone(),
            )
        })
        .collect();
    let before = queries();
    app.state.tick().await;
    assert_eq!(queries() - before, per_tick_alone);

    // The last screen gone, the ticks stop asking, and the figures of the
    // last one watched are not what a screen connecting later is shown.
    drop(first);
    drop(_screens);
    let before = queries();
    app.state.tick().await;
    assert_eq!(queries(), before);
    assert!(app.state.live.subscribe().panels.borrow().is_none());
}

#[tokio::test]
async fn the_live_stream_carries_new_items_and_panels() {
    let app = test_app(&[]);
    let resp = app
        .router
        .clone()
        .oneshot(Request::get("/api/v1/live").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    load(&app).await;
    app.state.tick().await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(seen.contains("event: panels") && seen.matches("event: item").count() == 6) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("events within 10 s")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(!seen.contains("13812345678"), "ticker text is masked");
    assert!(seen.contains("\"kpi\""), "panels of the wall");
}

#[tokio::test]
async fn alerts_silences_and_acks_through_the_api() {
    let app = test_app(&[]);
    let (s, v) = get(&app, "/api/v1/alerts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["alerts"], json!([]));
    let (s, _) = get(&app, "/api/v1/alerts?status=all").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = get(&app, "/api/v1/alerts?status=maybe").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, v) = post(
        &app,
        "/api/v1/silences",
        "application/json",
        json!({"rule": "district_surge", "key": "磁县", "for": "2h",
               "comment": "演练，联系人13812345678"})
        .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (_, v) = get(&app, "/api/v1/silences").await;
    assert_eq!(v["silences"][0]["key"], "磁县");
    // Viewers read the comment: masked.
    assert_eq!(
        v["silences"][0]["comment"], "演练，联系人138****5678",
        "{v}"
    );
    for bad in [
        json!({"rule": "no_such_rule", "for": "1h"}),
        json!({"for": "99999999999h"}),
        json!({"for": "367d"}),
        json!({"for": "9999999999999999d"}),
        json!({"for": "soon"}),
        json!({"until": "2001-01-01T00:00:00Z"}),
        json!({}),
        // A silence that names nothing would mute every alert: only when
        // said so.
        json!({"for": "2h", "comment": "维护"}),
        json!({"for": "2h", "all": true, "rule": "district_surge"}),
    ] {
        let (s, v) = post(
            &app,
            "/api/v1/silences",
            "application/json",
            bad.to_string(),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let del = |id: &str| {
        Request::delete(format!("/api/v1/silences/{id}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(call(&app, del(&id)).await.0, StatusCode::NO_CONTENT);
    let (_, v) = get(&app, "/api/v1/silences").await;
    assert_eq!(v["silences"], json!([]));
    let (s, v) = post(
        &app,
        "/api/v1/silences",
        "application/json",
        json!({"for": "1h", "all": true, "comment": "系统维护"}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["rule"].clone(), v["key"].clone()),
        (json!(null), json!(null))
    );
    assert_eq!(
        call(&app, del(v["id"].as_str().unwrap())).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(call(&app, del("nope")).await.0, StatusCode::NOT_FOUND);
    let (s, _) = post(&app, "/api/v1/alerts/nope/ack", "application/json", "{}").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Who acknowledged is shown to every viewer: masked.
    let now = chrono::Utc::now().timestamp();
    let doc = json!({"id": "a-1", "rule": "r", "key": "k", "dim": null, "name": "丛台",
        "title": "t", "severity": "warning", "detector": "ratio", "level": "alert",
        "status": "firing", "started_at": now, "updated_at": now, "resolved_at": null,
        "observed": 1.0, "expected": 0.0, "p_value": null, "new": false, "window_seconds": 60,
        "notified": true, "silenced": false, "acked_at": null, "acked_by": null,
        "districts": [], "units": []});
    app.store
        .state_save("alert", "a-1".into(), doc.to_string(), now)
        .await
        .unwrap();
    app.state.alerts.restore(now).await.unwrap();
    let (s, v) = post(
        &app,
        "/api/v1/alerts/a-1/ack",
        "application/json",
        json!({"by": "值班员13812345678"}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["acked_by"], "值班员138****5678", "{v}");
    // The silence was stored: a restart would know it.
    let stored = app.store.state_load("silence", 0).await.unwrap();
    assert!(stored.iter().any(|d| d.contains(&id)));
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_role() {
    let app = test_app(&[(Role::Admin, "adm")]);
    // No token needed for the document itself.
    let (status, doc) = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");

    // Routes are registered only through `routes!`, which takes each
    // route's entry from its handler: a plain `.route(` would serve a path
    // the document does not list.
    let source = include_str!("../../src/server/api.rs");
    assert!(
        !source.contains(".route(") && !source.contains(".route_service("),
        "src/server/api.rs registers a route without its OpenAPI entry"
    );

    // Every documented operation is served (no router 404/405), and every
    // one but the health checks and the document names the role it needs.
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let uri = path.replace("{id}", "no-such-id");
            let resp = app
                .router
                .clone()
                .oneshot(
                    Request::builder()
                        .method(method.to_uppercase().as_str())
                        .uri(&uri)
                        .header("authorization", "Bearer adm")
                        .header("content-type", "application/json")
                        .body(Body::from("{}"))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = resp.status();
            let json = resp
                .headers()
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().contains("json"));
            // A 404 of a handler (no such item) is JSON with its reason;
            // the router's is the web's text or, under /api/, this. (Only
            // a 404 is read: the live stream's body never ends.)
            let unrouted = status == StatusCode::NOT_FOUND && {
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8_lossy(&body).contains(minyi::server::api::NO_SUCH_ROUTE)
            };
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && (status != StatusCode::NOT_FOUND || (json && !unrouted)),
                "{method} {uri}: {status} — documented but not served",
            );
            let open = ["/healthz", "/readyz", "/api/v1/openapi.json"].contains(&path.as_str());
            let roles = &op["security"][0]["bearer"];
            assert!(
                open || roles.as_array().is_some_and(|r| r.len() == 1),
                "{method} {path} names no role: {op}"
            );
        }
    }
    assert_eq!(operations, 28, "{:?}", paths.keys().collect::<Vec<_>>());
    let role = |path: &str, method: &str| {
        doc["paths"][path][method]["security"][0]["bearer"][0]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(role("/api/v1/feedback", "get"), "analyst");
    assert_eq!(role("/api/v1/feedback", "post"), "ingest");
    assert_eq!(role("/api/v1/stats/summary", "get"), "viewer");
    assert_eq!(role("/api/v1/audit", "get"), "admin");
    assert_eq!(role("/api/v1/incidents", "get"), "viewer");
    assert_eq!(role("/api/v1/incidents/{id}", "get"), "analyst");
    assert_eq!(role("/api/v1/supervision", "get"), "analyst");
    assert_eq!(role("/api/v1/contacts/{contact_hash}", "get"), "analyst");
    assert_eq!(role("/api/v1/feedback/{id}", "delete"), "admin");
    assert_eq!(role("/api/v1/contacts/{contact_hash}", "delete"), "admin");
    // Parameters and bodies come from the handlers' types.
    let summary_params = doc["paths"]["/api/v1/stats/summary"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(summary_params.iter().any(|p| p["name"] == "district"));
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["Summary"]["properties"]["satisfaction_rate"].is_object(),
        "{schemas}"
    );
    assert!(schemas["Outcome"]["properties"]["rejected"].is_object());
    assert!(schemas["Alert"]["properties"]["severity"].is_object());
}

#[tokio::test]
async fn the_wall_and_the_explorer_are_built_in() {
    // The test app's dashboards folder is an empty temp folder: the pages
    // and the chart library come from the binary.
    let app = test_app(&[]);
    for (uri, kind) in [
        ("/", "text/html"),
        ("/wall/district", "text/html"),
        ("/explore", "text/html"),
        ("/js/wall.js", "text/javascript"),
        (
            "/node_modules/echarts/dist/echarts.min.js",
            "text/javascript",
        ),
    ] {
        let resp = app
            .router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{uri}: {ct}");
    }
    let (status, _) = call(
        &app,
        Request::get("/js/nope.js").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A wall not configured (a typo in a bureau's screen address) is a 404
    // naming the walls there are, not the city's wall under its name.
    let resp = app
        .router
        .clone()
        .oneshot(Request::get("/wall/distrct").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        body.contains("distrct") && body.contains("/wall/district"),
        "{body}"
    );
    // `/wall` is the main wall, at `/`.
    let resp = app
        .router
        .clone()
        .oneshot(Request::get("/wall").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(resp.headers()["location"], "/");
}

#[tokio::test]
async fn careless_input_is_rejected_item_by_item() {
    let app = test_app(&[]);
    // One line of invalid UTF-8 in a JSONL body: that line only.
    let mut body = br#"{"channel":"wechat","text":"first"}"#.to_vec();
    body.extend_from_slice(b"\n{\"channel\":\"wechat\",\"text\":\"\xff\"}\n");
    body.extend_from_slice(br#"{"channel":"wechat","text":"third"}"#);
    let (s, v) = post(&app, "/api/v1/feedback", "application/x-ndjson", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"][0]["index"], 1);
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("UTF-8")
    );
    // A BOM first; a time far in the future; a NUL in an id; NULs in text.
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(
        json!([
            {"channel": "wechat", "text": "bom"},
            {"channel": "wechat", "text": "future", "received_at": "9999-12-31T00:00:00Z"},
            {"channel": "wechat", "text": "nul id", "id": "a\u{0}b"},
            {"channel": "wechat", "text": "出警\u{0}太慢", "id": "nul-text"},
        ])
        .to_string()
        .as_bytes(),
    );
    let (s, v) = post(&app, "/api/v1/feedback", "application/json", bom).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    let reasons: Vec<&str> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("received_at") && reasons[0].contains("ahead"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("control character"), "{reasons:?}");
    let (_, page) = get(&app, "/api/v1/feedback?limit=10").await;
    let texts: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"出警太慢"), "{texts:?}");
    // Formats other than json and csv are a 400, not JSON under another name.
    let (s, v) = get(&app, "/api/v1/feedback?format=xml").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("format"));
    // A silence of the wrong shape: the reason names no Rust type.
    let (s, v) = post(&app, "/api/v1/silences", "application/json", "\"2h\"").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!v["error"].as_str().unwrap().contains("SilenceBody"), "{v}");
}

#[tokio::test]
async fn personal_data_in_side_fields_reaches_no_output_and_no_file() {
    let app = test_app(&[]);
    let phone = "13812345678";
    let mut items = vec![json!({
        "channel": "hotline_12345", "text": "出警太慢", "id": phone,
        "district": phone, "unit": phone, "case_ref": phone, "contact": phone
    })];
    // A careless or hostile producer inventing districts: none becomes a
    // dimension value.
    for i in 0..300 {
        items.push(
            json!({"channel": "wechat", "text": "路灯坏了", "district": format!("编造区{i}")}),
        );
    }
    let (s, v) = post(
        &app,
        "/api/v1/feedback",
        "application/json",
        json!(items).to_string(),
    )
    .await;
    assert_eq!(
        (s, v["accepted"].as_u64()),
        (StatusCode::OK, Some(301)),
        "{v}"
    );
    let (s, _) = post(
        &app,
        "/api/v1/workorders/events",
        "application/json",
        json!({"order_id": phone, "feedback_id": phone, "event": "created", "unit": phone})
            .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A wall watching, so the tick computes its panels.
    let screen = app.state.live.subscribe();
    app.state.tick().await;

    let mut outputs = Vec::new();
    for uri in [
        "/api/v1/feedback?limit=1000",
        "/api/v1/feedback?format=csv",
        "/api/v1/stats/top?dim=district&limit=100",
        "/api/v1/stats/top?dim=unit&limit=100",
        "/api/v1/stats/timeseries?interval=1h&group_by=district",
        "/api/v1/stats/timeseries?interval=1h&group_by=unit",
        "/api/v1/stats/summary",
    ] {
        let (s, body) = call(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        outputs.push((uri, String::from_utf8(body).unwrap()));
    }
    let panels = screen.panels.borrow().clone().unwrap();
    outputs.push(("panels", panels.to_string()));
    for (what, out) in &outputs {
        assert!(
            !out.contains("12345678"),
            "{what} shows the number: {out:.300}"
        );
        // Item details keep what was sent (masked), for the analyst; no
        // aggregate or column shows it as a district.
        if !["/api/v1/feedback?limit=1000", "panels"].contains(what) {
            assert!(!out.contains("编造区"), "{what} shows an invented district");
        }
    }
    let (_, top) = get(&app, "/api/v1/stats/top?dim=district&limit=100").await;
    assert!(top["rows"].as_array().unwrap().len() <= 19, "{top}");
    // What was sent stays beside the item, masked, where it reads as a
    // place's name.
    let (_, page) = get(&app, "/api/v1/feedback?limit=1000").await;
    let first = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["text"] == "出警太慢")
        .unwrap();
    assert!(first["id"].as_str().unwrap().starts_with("p-"), "{first}");
    // (a number is no place's name: nothing of it is kept)
    assert_eq!(
        first["detail"]["unknown_places"][0],
        "district: （不像地名，未保留）"
    );

    // Nor in the store's files (database and WAL).
    app.store.close().await.unwrap();
    for entry in std::fs::read_dir(&app._dir.0).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(phone.len()).any(|w| w == phone.as_bytes()),
            "{} holds the number",
            path.display()
        );
    }
}

/// Items for the search tests (2025-06-03, +08:00): fraud told two ways,
/// response and attitude apart and together, masked personal data.
fn search_items() -> Value {
    let item = |id: &str, channel: &str, minute: u32, text: &str| {
        json!({"id": id, "channel": channel, "text": text,
               "received_at": format!("2025-06-03T10:{minute:02}:00+08:00")})
    };
    json!([
        item("s1", "hotline_12345", 1, "被骗了两万块，对方冒充客服，派出所说在查"),
        item("s2", "wechat", 2, "接到电信诈骗电话，民警及时劝阻，谢谢"),
        item("s3", "director_mailbox", 3, "出警太慢，态度也不好，电话13812345678"),
        item("s4", "online_message", 4, "民警态度很好，服务热情"),
        item("s5", "online_message", 5, "我叫王小明，车牌冀DA1234被刮了，邮箱Zhang.San@QQ.com"),
        item("s6", "wechat", 6, "出入境APP打不开"),
        item("s7", "hotline_12345", 7, "出警很快，但是态度一般"),
        {"id": "s8", "channel": "scan_rate", "rating": 2, "text": "",
         "received_at": "2025-06-03T10:08:00+08:00"},
    ])
}

/// The ids an item list answers for `q` on 2025-06-03, sorted, after
/// checking that the summary, a daily series, a ranking and the CSV export
/// count exactly as many.
async fn found(app: &TestApp, q: &str) -> Vec<String> {
    let day = "from=2025-06-03T00:00:00%2B08:00&to=2025-06-04T00:00:00%2B08:00";
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let (s, v) = get(app, &format!("/api/v1/feedback?{day}&q={q}&limit=100")).await;
    assert_eq!(s, StatusCode::OK, "{q}: {v}");
    let mut ids: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let n = ids.len() as u64;
    let (_, summary) = get(app, &format!("/api/v1/stats/summary?{day}&q={q}")).await;
    assert_eq!(summary["received"], n, "summary of {q}");
    let (_, series) = get(
        app,
        &format!("/api/v1/stats/timeseries?{day}&q={q}&interval=1d"),
    )
    .await;
    let daily = series["series"]
        .as_array()
        .unwrap()
        .first()
        .map_or(0, |s| s["data"][0].as_u64().unwrap());
    assert_eq!(daily, n, "timeseries of {q}: {series}");
    let (_, top) = get(app, &format!("/api/v1/stats/top?{day}&q={q}&dim=channel")).await;
    let ranked: u64 = top["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(ranked, n, "channel ranking of {q}: {top}");
    let (s, csv) = call(
        app,
        Request::get(format!("/api/v1/feedback?{day}&q={q}&format=csv"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(
        csv.trim_end().split("\r\n").count() as u64,
        n + 1,
        "CSV of {q}"
    );
    ids
}

/// Search as Ctrl-F: substrings of the masked text (one character too),
/// words all required, `|` for alternatives, list marks as spaces, Latin
/// in any case; masked personal data and erased items never match; every
/// endpoint counts alike. Run on SQLite here and on ClickHouse in
/// `clickhouse_store.rs`.
pub(crate) async fn search_finds_what_ctrl_f_finds(app: &TestApp) {
    let (s, v) = post(
        app,
        "/api/v1/feedback",
        "application/json",
        search_items().to_string(),
    )
    .await;
    assert_eq!((s, &v["accepted"]), (StatusCode::OK, &json!(8)), "{v}");
    for (q, want) in [
        ("骗", &["s1", "s2"][..]),
        ("诈骗", &["s2"]),
        ("电信诈骗", &["s2"]),
        ("被骗了两万", &["s1"]),
        ("出警 态度", &["s3", "s7"]),
        ("出警、态度", &["s3", "s7"]),
        ("出警，态度", &["s3", "s7"]),
        ("出警态度", &[]),
        ("诈骗|骗 民警", &["s2"]),
        ("诈骗 ｜ 派出所", &["s1", "s2"]),
        ("民警", &["s2", "s4"]),
        ("态度很好 民警", &["s4"]),
        ("app", &["s6"]),
        ("App", &["s6"]),
        ("电话", &["s2", "s3"]),
        ("车牌 邮箱", &["s5"]),
        ("|", &["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"]),
        // What masking left visible of a phone, a plate, an e-mail, a name.
        ("138", &[]),
        ("5678", &[]),
        ("13812345678", &[]),
        ("冀d", &[]),
        ("34", &[]),
        ("qq.com", &[]),
        ("zhang", &[]),
        ("王", &[]),
    ] {
        assert_eq!(found(app, q).await, want, "q={q}");
    }

    for (q, why) in [
        ("一 二 三 四 五 六 七 八 九", "more than 8 words"),
        ("一|二|三|四|五|六|七|八|九", "more than 8 words"),
        (
            "民警 一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三",
            "word 2 is longer than 32 characters",
        ),
        // The mark of masked data (`***号*单元***室` keeps a star).
        (
            "*",
            "`*` marks masked personal data, which no search matches",
        ),
    ] {
        let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let (s, v) = get(app, &format!("/api/v1/feedback?q={q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(v["error"], format!("parameter `q`: {why}"), "{q}");
    }

    // An erased item is found no more, by any of its words.
    let (s, v) = call(
        app,
        Request::delete("/api/v1/feedback/s2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&v));
    assert_eq!(found(app, "诈骗").await, Vec::<String>::new());
    assert_eq!(found(app, "骗").await, ["s1"]);
    assert_eq!(found(app, "民警").await, ["s4"]);
}

#[tokio::test]
async fn search_finds_what_ctrl_f_finds_on_sqlite() {
    search_finds_what_ctrl_f_finds(&test_app(&[])).await;
}

/// The second `load_many`'s item `i` is received at: five items to a
/// second, 30 s apart, from 2025-06-01T00:00+08:00.
fn bulk_second(i: usize) -> i64 {
    1_748_707_200 + (i / 5) as i64 * 30
}

/// 2,500 items over a day (2025-06-01, +08:00), five to a second, so that
/// pages end inside runs of one time; every tenth with a phone number.
pub(crate) async fn load_many(app: &TestApp) -> usize {
    let districts = ["丛台区", "邯山区", "复兴区", "峰峰矿区"];
    let n = 2500;
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let t = bulk_second(i);
            let at = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
                .to_rfc3339();
            let phone = if i % 10 == 0 {
                "，电话13912345678"
            } else {
                ""
            };
            json!({"id": format!("bulk-{i:05}"), "channel": "hotline_12345", "received_at": at,
                   "district": districts[i % 4],
                   "text": format!("第{i}号反映：路口红绿灯不亮，出警太慢{phone}")})
        })
        .collect();
    for chunk in items.chunks(500) {
        let (s, v) = post(
            app,
            "/api/v1/feedback",
            "application/json",
            Value::Array(chunk.to_vec()).to_string(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    n
}

/// [`load_many`], and work orders (one resolved, one open, two for one
/// item), incidents and repeat marks for some of its items: what exports
/// attach to an item.
pub(crate) async fn load_many_attached(app: &TestApp) -> usize {
    let n = load_many(app).await;
    let event = |order: &str, item: &str, event: &str, at: &str| {
        json!({"order_id": order, "feedback_id": item, "event": event, "unit": "丛台派出所",
               "at": format!("2025-06-01T{at}:00+08:00")})
    };
    let events = json!([
        event("WO-A", "bulk-00003", "created", "08:00"),
        event("WO-A", "bulk-00003", "resolved", "09:00"),
        event("WO-B", "bulk-00007", "created", "08:10"),
        event("WO-D", "bulk-00011", "created", "08:20"),
        event("WO-C", "bulk-00011", "created", "08:30"),
    ]);
    let (s, v) = post(
        app,
        "/api/v1/workorders/events",
        "application/json",
        events.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at = |i: usize| bulk_second(i) * 1000;
    let change = |i: usize, incident: &str| minyi::incident::Change {
        item_id: format!("bulk-{i:05}"),
        at: at(i),
        incident_id: Some(incident.to_owned()),
    };
    app.store
        .set_incidents(vec![
            change(1, "i-00000000000000a1"),
            change(2, "i-00000000000000a1"),
            change(2400, "i-00000000000000b2"),
            change(2401, "i-00000000000000b2"),
        ])
        .await
        .unwrap();
    app.store
        .set_repeats(vec![minyi::repeat::Mark {
            item_id: "bulk-00005".into(),
            at: at(5),
            repeat: true,
        }])
        .await
        .unwrap();
    n
}

/// Every export holds every match once, in the list's order, whatever the
/// range's shape: without `to` the same bytes as with it, the XLSX the same
/// rows as the CSV, and paging by cursor the same items again.
pub(crate) async fn exports_hold_every_match_once(app: &TestApp, n: usize) {
    let from = "from=2025-06-01T00:00:00%2B08:00";
    let export = |uri: String| async move {
        let (s, body) = call(app, Request::get(&uri).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        body
    };
    let open = export(format!("/api/v1/feedback?format=csv&{from}")).await;
    let closed = export(format!(
        "/api/v1/feedback?format=csv&{from}&to=2025-06-03T00:00:00%2B08:00"
    ))
    .await;
    assert!(open == closed, "an export without `to` is the one with it");
    let text = String::from_utf8(open).unwrap();
    let csv_ids: Vec<&str> = text
        .trim_end()
        .split("\r\n")
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(csv_ids.len(), n);
    let unique: std::collections::HashSet<_> = csv_ids.iter().collect();
    assert_eq!(unique.len(), n, "no item twice");
    assert!(!text.contains("13912345678") && text.contains("139****5678"));

    // The pages of the list, 97 at a time, are the same items in order.
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, v) = get(app, &format!("/api/v1/feedback?{from}&limit=97{cursor}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for i in v["items"].as_array().unwrap() {
            listed.push(i["id"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(listed, csv_ids, "paging walks the export's order");

    // The workbook: the same header and rows, masked, text cells.
    let (s, headers, body) = {
        let req = Request::get(format!("/api/v1/feedback?format=xlsx&{from}"))
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, body)
    };
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.contains(".xlsx"), "{disposition}");
    use calamine::Reader as _;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(body)).unwrap();
    let sheet = book.worksheet_range("民意").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let header = text
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .next()
        .unwrap();
    assert_eq!(rows[0].join(","), header);
    let xlsx_ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(xlsx_ids, csv_ids);
    let cells: String = rows.iter().flatten().cloned().collect();
    assert!(!cells.contains("13912345678") && cells.contains("139****5678"));
}

#[tokio::test]
async fn exports_at_any_size_hold_every_match_once_on_sqlite() {
    let app = test_app(&[]);
    let n = load_many(&app).await;
    exports_hold_every_match_once(&app, n).await;
}

#[tokio::test]
async fn xlsx_is_a_format_and_nothing_else_is() {
    let app = test_app(&[]);
    load(&app).await;
    let (s, v) = get(&app, "/api/v1/feedback?format=pdf").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("format"), "{v}");
    // A page's size or cursor given to an export was taken and ignored:
    // `limit=5` streamed every row (found by a hostile client).
    for format in ["csv", "xlsx"] {
        for extra in ["limit=5", "cursor=abc"] {
            let (s, v) = get(&app, &format!("/api/v1/feedback?format={format}&{extra}")).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{format} {extra}: {v}");
            let name = extra.split('=').next().unwrap();
            assert!(v["error"].as_str().unwrap().contains(name), "{v}");
        }
    }
    let (s, _) = get(&app, "/api/v1/feedback?limit=5").await;
    assert_eq!(s, StatusCode::OK);
}
