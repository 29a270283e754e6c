//! Three tiers (issue 21): a token scoped to a district bureau or a
//! station sees only its scope on every read path — stats, rankings, hot
//! words, search, item lists, CSV, alerts and the live stream — with the
//! items of other districts in the same store; a filter outside the scope
//! is a 403; city-wide endpoints refuse it; unscoped tokens see all.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use minyi::config::Role;
use minyi::query::Scope;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{TestApp, api_token, call, test_app_scoped};

/// 邯山区 (the bureau under test): three items, two of its stations.
/// 丛台区: two items whose words (西瓜) and ids (ct-) must never show.
/// One item with no place at all.
fn items() -> Value {
    json!([
        {"id": "hs-1", "channel": "hotline_12345", "text": "出警太慢了，等了一个小时", "rating": 3,
         "district": "邯山区", "unit": "火磨派出所"},
        {"id": "hs-2", "channel": "wechat", "text": "民警态度很好，谢谢", "district": "邯山区",
         "unit": "渚河派出所"},
        {"id": "hs-3", "channel": "scan_rate", "text": "办事效率高", "rating": 1, "district": "邯山区"},
        {"id": "ct-1", "channel": "hotline_12345", "text": "西瓜西瓜西瓜摊位占道，投诉没人管", "rating": 3,
         "district": "丛台区", "unit": "丛台派出所"},
        {"id": "ct-2", "channel": "wechat", "text": "西瓜摊位夜里吵闹", "district": "丛台区"},
        {"id": "nx-1", "channel": "online_message", "text": "路灯坏了好几天"}
    ])
}

fn app() -> TestApp {
    test_app_scoped(vec![
        api_token(Role::Analyst, "city", &[], &[]),
        api_token(Role::Analyst, "hanshan", &["邯山区"], &[]),
        api_token(Role::Viewer, "huomo", &[], &["火磨派出所"]),
        api_token(Role::Ingest, "feed", &[], &[]),
        api_token(Role::Admin, "admin", &[], &[]),
    ])
}

pub(crate) async fn get(app: &TestApp, token: &str, uri: &str) -> (StatusCode, String) {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (s, b) = call(app, req).await;
    (s, String::from_utf8_lossy(&b).into_owned())
}

pub(crate) async fn json_of(app: &TestApp, token: &str, uri: &str) -> Value {
    let (s, body) = get(app, token, uri).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

pub(crate) async fn post(app: &TestApp, uri: &str, body: Value) {
    let req = Request::post(uri)
        .header("authorization", "Bearer feed")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, b) = call(app, req).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

async fn load(app: &TestApp) {
    post(app, "/api/v1/feedback", items()).await;
    post(
        app,
        "/api/v1/workorders/events",
        json!([
            {"order_id": "WO-H", "feedback_id": "hs-1", "event": "created", "unit": "火磨派出所"},
            {"order_id": "WO-C", "feedback_id": "ct-1", "event": "created", "unit": "丛台派出所"},
            {"order_id": "WO-C", "event": "resolved", "unit": "丛台派出所"}
        ]),
    )
    .await;
}

/// Nothing of 丛台区 or of the item without a place: no name, word or id.
fn assert_only_hanshan(uri: &str, body: &str) {
    for leak in ["丛台", "西瓜", "ct-", "nx-1", "路灯"] {
        assert!(!body.contains(leak), "{uri} shows {leak:?}: {body}");
    }
}

const READS: &[&str] = &[
    "/api/v1/stats/summary",
    "/api/v1/stats/summary?orders_by=due",
    "/api/v1/stats/orders",
    "/api/v1/stats/timeseries?interval=1h",
    "/api/v1/stats/timeseries?interval=1h&group_by=district",
    "/api/v1/stats/timeseries?interval=1h&group_by=unit",
    "/api/v1/stats/top?dim=district",
    "/api/v1/stats/top?dim=unit",
    "/api/v1/stats/top?dim=keyword&limit=100",
    "/api/v1/stats/top?dim=topic",
    "/api/v1/stats/top?dim=channel",
    "/api/v1/stats/rank?dim=district",
    "/api/v1/stats/rank?dim=unit&metric=satisfaction_rate",
    "/api/v1/stats/rank?dim=channel&metric=completion_rate",
    "/api/v1/feedback?limit=100",
    "/api/v1/feedback?q=%E8%A5%BF%E7%93%9C",
    "/api/v1/feedback?format=csv",
    "/api/v1/feedback?format=csv&sentiment=negative",
    "/api/v1/alerts",
    "/api/v1/alerts?status=all",
];

#[tokio::test]
async fn a_bureau_token_sees_its_district_on_every_read_path() {
    let app = app();
    load(&app).await;
    // Alerts of three places, as the engine stores them.
    let now = chrono::Utc::now().timestamp();
    for (id, districts) in [
        ("a-hs", json!(["邯山区"])),
        ("a-ct", json!(["丛台区"])),
        ("a-city", json!([])),
    ] {
        let doc = json!({"id": id, "rule": "r", "key": id, "dim": null, "name": "丛台", "title": id,
            "severity": "warning", "detector": "ratio", "level": "alert", "status": "firing",
            "started_at": now, "updated_at": now, "resolved_at": null, "observed": 1.0,
            "expected": 0.0, "p_value": null, "new": false, "window_seconds": 60,
            "notified": true, "silenced": false, "acked_at": null, "acked_by": null,
            "districts": districts, "units": []});
        let doc = if id == "a-hs" {
            doc.to_string().replace("丛台", "邯山")
        } else {
            doc.to_string()
        };
        app.store
            .state_save("alert", id.into(), doc, now)
            .await
            .unwrap();
    }
    app.state.alerts.restore(now).await.unwrap();

    for uri in READS {
        let (s, body) = get(&app, "hanshan", uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {body}");
        assert_only_hanshan(uri, &body);
    }
    let summary = json_of(&app, "hanshan", "/api/v1/stats/summary").await;
    assert_eq!(
        (
            summary["received"].as_u64(),
            summary["orders_created"].as_u64()
        ),
        (Some(3), Some(1)),
        "{summary}"
    );
    let list = json_of(&app, "hanshan", "/api/v1/feedback").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let rank = json_of(&app, "hanshan", "/api/v1/stats/rank?dim=unit").await;
    let units: Vec<&str> = rank["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(units.len(), 2, "{rank}");
    let alerts = json_of(&app, "hanshan", "/api/v1/alerts").await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts["alerts"][0]["id"], "a-hs");
    // Its export is named after its district.
    let req = Request::get("/api/v1/feedback?format=csv")
        .header("authorization", "Bearer hanshan")
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let disposition = resp.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition
            .contains(&form_urlencoded::byte_serialize("邯山区".as_bytes()).collect::<String>()),
        "{disposition}"
    );

    // The city sees everything (so the checks above can fail).
    for (uri, marker) in [
        ("/api/v1/stats/top?dim=keyword&limit=100", "西瓜"),
        ("/api/v1/feedback?q=%E8%A5%BF%E7%93%9C", "ct-1"),
        ("/api/v1/feedback?format=csv", "ct-2"),
        (
            "/api/v1/stats/timeseries?interval=1h&group_by=district",
            "丛台区",
        ),
        ("/api/v1/stats/rank?dim=district", "丛台区"),
    ] {
        let (_, body) = get(&app, "city", uri).await;
        assert!(body.contains(marker), "{uri}: {body}");
    }
    let city = json_of(&app, "city", "/api/v1/stats/summary").await;
    assert_eq!(city["received"], 6);
    let alerts = json_of(&app, "city", "/api/v1/alerts").await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 3);
    // A bureau's wall on a city token lists that bureau's alerts.
    let alerts = json_of(
        &app,
        "city",
        "/api/v1/alerts?status=firing&district=%E9%82%AF%E5%B1%B1%E5%8C%BA",
    )
    .await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "{alerts}");

    // Another district's filter is a 403, never its data; a unit filter
    // combines with the scope (丛台派出所 in 邯山区: nothing).
    for uri in [
        "/api/v1/stats/summary?district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        "/api/v1/feedback?district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        "/api/v1/feedback?format=csv&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        "/api/v1/stats/rank?dim=unit&district=%E9%82%AF%E5%B1%B1%E5%8C%BA&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        "/api/v1/live?district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
        // A station of another district: a stream that could carry
        // nothing, which would still hold a scope's place on the tick.
        "/api/v1/live?unit=%E4%B8%9B%E5%8F%B0%E6%B4%BE%E5%87%BA%E6%89%80",
    ] {
        let (s, body) = get(&app, "hanshan", uri).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}: {body}");
        assert!(body.contains("outside this token's scope"), "{body}");
    }
    let v = json_of(
        &app,
        "hanshan",
        "/api/v1/stats/summary?unit=%E4%B8%9B%E5%8F%B0%E6%B4%BE%E5%87%BA%E6%89%80",
    )
    .await;
    assert_eq!(v["received"], 0);

    // There is no per-item read; the per-item erasure is an admin's, and
    // an admin token cannot be scoped: a bureau's token gets 403.
    let req = Request::delete("/api/v1/feedback/ct-1")
        .header("authorization", "Bearer hanshan")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::FORBIDDEN);

    // City-wide endpoints refuse a scoped token.
    for uri in ["/metrics", "/api/v1/silences"] {
        let (s, body) = get(&app, "hanshan", uri).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}: {body}");
        assert_eq!(get(&app, "city", uri).await.0, StatusCode::OK, "{uri}");
    }
    // Its meta names its scope.
    let meta = json_of(&app, "hanshan", "/api/v1/meta").await;
    assert_eq!(meta["scope"]["districts"], json!(["邯山区"]));
    assert_eq!(meta["unit_districts"]["火磨派出所"], "邯山区");

    // Every GET route the API lists, with what it needs, shows nothing of
    // 丛台区: a route added later without the scope fails here.
    let doc = json_of(&app, "city", "/api/v1/openapi.json").await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if ops.get("get").is_none() || path.contains('{') || path.ends_with("openapi.json") {
            continue;
        }
        let uri = if path.ends_with("/top") || path.ends_with("/rank") {
            format!("{path}?dim=district")
        } else {
            path.clone()
        };
        if path.ends_with("/live") || path.ends_with("/meta") {
            continue; // below, and the vocabulary (every district's name)
        }
        let (s, body) = get(&app, "hanshan", &uri).await;
        assert!(
            matches!(s, StatusCode::OK | StatusCode::FORBIDDEN),
            "{uri}: {s} {body}"
        );
        assert_only_hanshan(&uri, &body);
    }
}

#[tokio::test]
async fn a_station_token_sees_its_unit() {
    let app = app();
    load(&app).await;
    let v = json_of(&app, "huomo", "/api/v1/stats/summary").await;
    assert_eq!(
        (v["received"].as_u64(), v["orders_created"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let v = json_of(&app, "huomo", "/api/v1/stats/top?dim=unit").await;
    assert_eq!(v["rows"].as_array().unwrap().len(), 1, "{v}");
    // Another station of its own district is outside its scope.
    let (s, _) = get(
        &app,
        "huomo",
        "/api/v1/stats/summary?unit=%E6%B8%9A%E6%B2%B3%E6%B4%BE%E5%87%BA%E6%89%80",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A viewer: no item lists, as before.
    assert_eq!(
        get(&app, "huomo", "/api/v1/feedback").await.0,
        StatusCode::FORBIDDEN
    );
}

/// Reads SSE frames until `done` holds for what arrived (10 s at most).
async fn read_until(body: &mut Body, seen: &mut String, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(seen) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("events within 10 s; got {seen}"))
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test]
async fn the_live_stream_of_a_bureau_carries_its_items_panels_and_alerts() {
    let app = app();
    let open = |uri: &str| {
        app.router.clone().oneshot(
            Request::get(uri)
                .header("authorization", "Bearer hanshan")
                .body(Body::empty())
                .unwrap(),
        )
    };
    let resp = open("/api/v1/live").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut bureau = resp.into_body();
    // The same bureau's station wall, through the bureau's token.
    let resp = open("/api/v1/live?unit=%E7%81%AB%E7%A3%A8%E6%B4%BE%E5%87%BA%E6%89%80")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut station = resp.into_body();
    assert_eq!(app.state.live.scopes_in_use().len(), 2);

    load(&app).await;
    let place = |d: &[&str]| Scope {
        districts: d.iter().map(|x| (*x).to_owned()).collect(),
        units: Vec::new(),
    };
    app.state
        .live
        .publish_alert(place(&["丛台区"]), r#"{"id":"a-ct"}"#.into());
    app.state
        .live
        .publish_alert(place(&[]), r#"{"id":"a-city"}"#.into());
    app.state
        .live
        .publish_alert(place(&["邯山区"]), r#"{"id":"a-hs"}"#.into());
    app.state.tick().await;

    let mut seen = String::new();
    read_until(&mut bureau, &mut seen, |s| {
        s.contains("event: panels") && s.matches("event: item").count() >= 3 && s.contains("a-hs")
    })
    .await;
    assert_only_hanshan("live", &seen);
    assert!(!seen.contains("a-city"), "{seen}");
    assert_eq!(seen.matches("event: item").count(), 3, "{seen}");
    let panels = seen
        .split("event: panels\ndata: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap();
    let panels: Value = serde_json::from_str(panels).unwrap();
    assert_eq!(panels["scope"]["districts"], json!(["邯山区"]), "{panels}");
    assert_eq!(
        panels["dashboards"]["wall"]["kpi"]["current"]["received"], 3,
        "the wall's KPIs are the bureau's"
    );

    let mut seen = String::new();
    read_until(&mut station, &mut seen, |s| {
        s.contains("event: panels") && s.contains("hs-1")
    })
    .await;
    assert!(!seen.contains("hs-2") && !seen.contains("a-hs"), "{seen}");
    drop((bureau, station));
    assert!(app.state.live.scopes_in_use().is_empty());
}

/// League tables (排名通报): 满意率, 不满意化解率 and 受理量 by district, a
/// guard on rated items (`min_rated`), and each row's place against the
/// previous day (`compare=previous`).
#[tokio::test]
async fn league_tables_rank_with_places_and_their_change() {
    let app = app();
    let item = |id: &str, d: &str, day: u32, hour: u32, rating: u8, case: Option<&str>| {
        let mut v = json!({"id": id, "channel": "sms_revisit", "district": d, "rating": rating,
            "received_at": format!("2025-06-0{day}T{hour:02}:00:00+08:00"), "text": "回访"});
        if let Some(c) = case {
            v["case_ref"] = json!(c);
        }
        v
    };
    let (a, b) = ("邯山区", "丛台区");
    post(
        &app,
        "/api/v1/feedback",
        json!([
            item("a11", a, 1, 9, 1, None),
            item("a12", a, 1, 10, 1, None),
            item("a13", a, 1, 11, 1, None),
            item("b11", b, 1, 9, 1, None),
            item("b12", b, 1, 10, 3, None),
            item("a21", a, 2, 9, 1, None),
            item("a22", a, 2, 10, 3, Some("CA")),
            item("a23", a, 2, 11, 3, None),
            item("a24", a, 2, 15, 1, Some("CA")),
            item("b21", b, 2, 9, 1, None),
            item("b22", b, 2, 10, 1, None),
        ]),
    )
    .await;
    let day2 = "from=2025-06-02T00:00:00%2B08:00&to=2025-06-03T00:00:00%2B08:00&compare=previous&dim=district";
    let rows = |v: &Value| -> Vec<(String, Value, Value, Value, bool)> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_owned(),
                    r["value"].clone(),
                    r["rank"].clone(),
                    r["rank_change"].clone(),
                    r["ranked"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let v = json_of(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&metric=satisfaction_rate&min_rated=2"),
    )
    .await;
    assert_eq!(
        rows(&v),
        [
            (b.to_owned(), json!(1.0), json!(1), json!(1), true),
            (a.to_owned(), json!(0.5), json!(2), json!(-1), true),
        ],
        "{v}"
    );
    assert_eq!(v["rows"][0]["previous_rank"], 2);
    // The guard: 丛台区 stands on 2 rated items, fewer than 3.
    let v = json_of(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&metric=satisfaction_rate&min_rated=3"),
    )
    .await;
    let r = rows(&v);
    assert_eq!((r[0].0.as_str(), r[0].4, r[1].4), (a, true, false), "{v}");
    assert!(r[1].2.is_null(), "an unranked row has no place");
    // min_volume is the same guard; both at once is a 400.
    let v = json_of(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&metric=satisfaction_rate&min_volume=3"),
    )
    .await;
    assert!(!rows(&v)[1].4, "{v}");
    let (s, _) = get(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&min_volume=3&min_rated=3"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // 不满意化解率: 邯山区 resolved one of its two 不满意 through a later rating on the case.
    let v = json_of(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&metric=dissatisfied_resolved_rate"),
    )
    .await;
    let r = rows(&v);
    assert_eq!((r[0].0.as_str(), &r[0].1), (a, &json!(0.5)), "{v}");
    assert_eq!(v["rows"][0]["dissatisfied"], 2);
    assert!(!r[1].4, "丛台区 had nothing to resolve: unranked");
    // Another metric does not count them: null, not a false 0.
    let v = json_of(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&metric=satisfaction_rate"),
    )
    .await;
    assert_eq!(v["rows"][0]["dissatisfied"], json!(null), "{v}");
    // 受理量 by its league name.
    let v = json_of(
        &app,
        "city",
        &format!("/api/v1/stats/rank?{day2}&metric=received"),
    )
    .await;
    assert_eq!(
        (rows(&v)[0].0.as_str(), &rows(&v)[0].1),
        (a, &json!(4.0)),
        "{v}"
    );
    // A bureau's league table holds its own district only.
    let v = json_of(
        &app,
        "hanshan",
        &format!("/api/v1/stats/rank?{day2}&metric=satisfaction_rate"),
    )
    .await;
    assert_eq!(rows(&v).len(), 1, "{v}");
    let (s, _) = get(
        &app,
        "city",
        "/api/v1/stats/rank?dim=district&compare=previous",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "previous needs a range");
}

/// Walls per tier: the panels are computed once per tick per scope in use,
/// whatever the number of screens of each scope.
#[tokio::test]
async fn panels_are_computed_once_per_tick_per_scope_in_use() {
    use std::sync::atomic::Ordering::Relaxed;
    let app = app();
    load(&app).await;
    let queries = || app.state.metrics.queries.load(Relaxed);
    // The first tick also computes the panels recomputed every so often.
    let city_screen = app.state.live.subscribe();
    app.state.tick().await;
    let before = queries();
    app.state.tick().await;
    let city = queries() - before;
    let scope = |d: &str| Scope {
        districts: vec![d.to_owned()],
        units: Vec::new(),
    };
    let screens: Vec<_> = ["邯山区", "丛台区", "磁县"]
        .iter()
        .flat_map(|d| (0..40).map(|_| app.state.live.subscribe_scoped(&scope(d)).unwrap()))
        .collect();
    assert_eq!(app.state.live.scopes_in_use().len(), 3);
    app.state.tick().await; // the scopes' first tick (their slow panels too)
    let before = queries();
    app.state.tick().await;
    assert_eq!(queries() - before, 4 * city, "the city and three scopes");
    let hanshan = screens[0].panels.borrow().clone().unwrap();
    let v: Value = serde_json::from_str(&hanshan).unwrap();
    assert_eq!(v["dashboards"]["wall"]["kpi"]["current"]["received"], 3);
    drop(screens);
    let before = queries();
    app.state.tick().await;
    assert_eq!(
        queries() - before,
        city,
        "scopes nobody watches are dropped"
    );
    drop(city_screen);
    let before = queries();
    app.state.tick().await;
    assert_eq!(
        queries(),
        before,
        "nor is the city's wall computed unwatched"
    );
}
