//! 分析研判 (issue 22, part 3): a known day whose figures are computed by
//! hand here and compared with the report's; the report of a bureau's
//! analyst is its district's; the Markdown and HTML renderings; the
//! parameters a careless client gets wrong. The HTML printed to PDF in
//! Chromium and the scheduled push are in `report_printed_and_pushed`.

use crate::common::{self, api_token};
use crate::scopes::{get, json_of, post};
use axum::http::StatusCode;
use minyi::config::Role;
use serde_json::{Value, json};

/// Yesterday on the centre's clock (the default daily report's day), as
/// `YYYY-MM-DD`, and a time on it ("HH:MM").
fn yesterday() -> chrono::NaiveDate {
    let tz = minyi::config::default_timezone();
    (chrono::Utc::now().with_timezone(&tz) - chrono::Duration::days(1)).date_naive()
}

fn at(day: chrono::NaiveDate, hm: &str) -> String {
    format!("{}T{hm}:00+08:00", day.format("%Y-%m-%d"))
}

/// The known day: eight items (four in 丛台区, three in 邯山区, one
/// nowhere), two the day before, two work orders (and one the day before).
pub(crate) fn known_day() -> (Vec<Value>, Vec<Value>) {
    let d = yesterday();
    let before = d - chrono::Duration::days(1);
    let items = vec![
        json!({"id": "c1", "channel": "hotline_12345", "district": "丛台区", "received_at": at(d, "09:00"),
               "text": "路口红绿灯坏了，交警没人管"}),
        json!({"id": "c2", "channel": "wechat", "district": "丛台区", "received_at": at(d, "09:10"),
               "text": "民警态度很好，很满意，点赞", "rating": 1}),
        json!({"id": "c3", "channel": "scan_rate", "district": "丛台区", "received_at": at(d, "09:20"),
               "text": "派出所办事效率高", "rating": 2}),
        json!({"id": "c4", "channel": "hotline_12345", "district": "丛台区", "received_at": at(d, "09:30"),
               "text": "出警太慢了，等了一个小时", "rating": 3}),
        json!({"id": "h1", "channel": "hotline_12345", "district": "邯山区", "received_at": at(d, "10:00"),
               "text": "报警后没人处理，很不满意", "rating": 3, "case_ref": "C-1"}),
        json!({"id": "h2", "channel": "wechat", "district": "邯山区", "received_at": at(d, "10:10"),
               "text": "户口迁移办理很顺利", "rating": 1}),
        json!({"id": "h3", "channel": "sms_revisit", "district": "邯山区", "received_at": at(d, "16:00"),
               "text": "满意", "rating": 1, "case_ref": "C-1"}),
        json!({"id": "n1", "channel": "online_message", "received_at": at(d, "11:00"),
               "text": "咨询身份证办理流程"}),
        json!({"id": "p1", "channel": "hotline_12345", "district": "丛台区", "received_at": at(before, "09:00"),
               "text": "咨询户口迁移需要哪些材料"}),
        json!({"id": "p2", "channel": "hotline_12345", "district": "丛台区", "received_at": at(before, "10:00"),
               "text": "小区门口晚上有人大声喧哗"}),
    ];
    let events = vec![
        json!({"order_id": "o1", "feedback_id": "c4", "event": "created", "unit": "丛台区分局", "at": at(d, "09:40")}),
        json!({"order_id": "o1", "event": "resolved", "at": at(d, "15:00")}),
        json!({"order_id": "o2", "feedback_id": "h1", "event": "created", "unit": "邯山区分局", "at": at(d, "10:05")}),
        // The day before: an order resolved only a minute ago, open as long
        // before now as that day lies before the known day.
        json!({"order_id": "o0", "feedback_id": "p2", "event": "created", "unit": "丛台区分局", "at": at(before, "10:10")}),
        json!({"order_id": "o0", "event": "resolved",
               "at": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339()}),
    ];
    (items, events)
}

fn tokens() -> Vec<minyi::config::ApiToken> {
    vec![
        api_token(Role::Analyst, "city", &[], &[]),
        api_token(Role::Analyst, "hanshan", &["邯山区"], &[]),
        api_token(Role::Viewer, "viewer", &[], &[]),
        api_token(Role::Ingest, "feed", &[], &[]),
    ]
}

fn app() -> common::TestApp {
    common::test_app_scoped(tokens())
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[tokio::test]
async fn a_known_day_reads_as_computed_by_hand() {
    known_day_report(app()).await;
}

/// The same report from ClickHouse (both stores answer the query model
/// alike), and its queries on a current release.
#[tokio::test(flavor = "multi_thread")]
async fn a_known_day_reads_as_computed_by_hand_on_clickhouse() {
    let server = common::ClickHouse::start_logging_queries();
    let db = server.database("reports");
    known_day_report(crate::clickhouse_store::app(&server, &db, tokens()).await).await;
    server.replay_on_current_release(&db);
}

async fn known_day_report(app: common::TestApp) {
    let (items, events) = known_day();
    post(&app, "/api/v1/feedback", json!(items)).await;
    post(&app, "/api/v1/workorders/events", json!(events)).await;
    let d = yesterday();
    let day = d.format("%Y-%m-%d").to_string();

    // The default daily report is yesterday's.
    let r = json_of(&app, "city", "/api/v1/reports/daily").await;
    assert_eq!(r["period"]["from"], at(d, "00:00"), "{r:#}");
    assert_eq!(r["kind"], "daily");
    assert_eq!(r["place"], "全市");
    assert_eq!(r, {
        let mut again = json_of(&app, "city", &format!("/api/v1/reports/daily?date={day}")).await;
        again["generated_at"] = r["generated_at"].clone();
        again
    });

    // By hand: 8 items; rated c2 c3 c4 h1 h2 h3, satisfied c2 c3 h2 h3;
    // 不满意 c4 h1, of which h1 resolved by the later 满意 on its case;
    // orders o1 (resolved) and o2 (open); the day before, 2 items.
    let s = &r["summary"];
    assert_eq!(s["received"], 8);
    assert_eq!(
        (s["rated"].as_u64(), s["satisfied"].as_u64()),
        (Some(6), Some(4))
    );
    assert!(close(&s["satisfaction_rate"], 4.0 / 6.0), "{s}");
    assert_eq!(
        (
            s["dissatisfied"].as_u64(),
            s["dissatisfied_resolved"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert!(close(&s["dissatisfied_resolved_rate"], 0.5));
    assert_eq!(
        (s["orders_created"].as_u64(), s["orders_resolved"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(close(&s["completion_rate"], 0.5));
    assert_eq!(r["previous_summary"]["received"], 2);
    // 办结率 of the day before as it stood a day ago: o0 was open then.
    let p = &r["previous_summary"];
    assert_eq!(
        (p["orders_created"].as_u64(), p["orders_resolved"].as_u64()),
        (Some(1), Some(0)),
        "{p}"
    );

    // Rankings by volume: 丛台区 4 (2 the day before), 邯山区 3; one item
    // in no district.
    let districts = r["rankings"]["districts"].as_array().unwrap();
    assert_eq!(districts.len(), 2, "{districts:#?}");
    let (ct, hs) = (&districts[0], &districts[1]);
    assert_eq!(
        (
            ct["name"].as_str(),
            ct["received"].as_u64(),
            ct["previous_received"].as_u64()
        ),
        (Some("丛台区"), Some(4), Some(2))
    );
    assert!(close(&ct["satisfaction_rate"], 2.0 / 3.0));
    assert!(close(&ct["completion_rate"], 1.0));
    assert!(close(&ct["dissatisfied_resolved_rate"], 0.0));
    assert_eq!(
        (hs["name"].as_str(), hs["received"].as_u64()),
        (Some("邯山区"), Some(3))
    );
    assert!(close(&hs["satisfaction_rate"], 2.0 / 3.0));
    assert!(close(&hs["completion_rate"], 0.0));
    assert!(close(&hs["dissatisfied_resolved_rate"], 1.0));
    assert_eq!(r["rankings"]["without_district"], 1);

    // Typical items: the two 不满意 (newest first) and the two that
    // commend the police (a smooth 户口迁移 is praise too, docs/TOPICS.md).
    let cited: Vec<(&str, &str)> = r["cited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["why"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cited,
        [
            ("h1", "不满意评价"),
            ("c4", "不满意评价"),
            ("h2", "表扬"),
            ("c2", "表扬")
        ]
    );
    assert!(r["alerts"].as_array().unwrap().is_empty());
    assert!(
        r["overdue"].as_array().unwrap().is_empty(),
        "o2 is within its 5 days"
    );
    let topics = r["topics"].as_array().unwrap();
    assert!(topics.iter().any(|t| t["key"] == "praise"), "{topics:#?}");

    // A bureau's analyst gets its district's report.
    let theirs = json_of(&app, "hanshan", "/api/v1/reports/daily").await;
    assert_eq!(theirs["place"], "邯山区");
    assert_eq!(theirs["summary"]["received"], 3);
    assert_eq!(theirs["rankings"]["districts"].as_array().unwrap().len(), 1);
    assert!(
        theirs["cited"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["district"] == "邯山区")
    );

    // The renderings say the same.
    let (status, md) = get(&app, "city", "/api/v1/reports/daily?format=md").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        md.starts_with(&format!("# 民意日报 · {day}（全市）")),
        "{md}"
    );
    assert!(md.contains("- 受理量：8，较上期 +6（上期 2）"), "{md}");
    assert!(md.contains("- 满意率：66.7%"), "{md}");
    assert!(md.contains("1. 丛台区 受理 4（上期 2）"), "{md}");
    assert!(md.contains("- [h1] 不满意评价"), "{md}");
    let (status, html) = get(&app, "city", "/api/v1/reports/daily?format=html").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<svg") && html.contains("@page { size: A4"),
        "{html}"
    );
    assert!(html.contains("报警后没人处理，很不满意"));

    // Weekly and monthly hold the day too.
    for period in ["weekly", "monthly"] {
        let r = json_of(
            &app,
            "city",
            &format!("/api/v1/reports/{period}?date={day}"),
        )
        .await;
        assert!(
            r["summary"]["received"].as_u64().unwrap() >= 8,
            "{period}: {r}"
        );
    }

    // What a careless client sends.
    for (uri, status) in [
        ("/api/v1/reports/yearly".to_owned(), StatusCode::BAD_REQUEST),
        (
            "/api/v1/reports/daily?date=2026-13-01".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/daily?date=yesterday".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/daily?format=pdf".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/daily?date=2099-01-01".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/daily?bogus=1".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/reports/daily?date=1900-01-01".into(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(get(&app, "city", &uri).await.0, status, "{uri}");
    }
    assert_eq!(
        get(&app, "viewer", "/api/v1/reports/daily").await.0,
        StatusCode::FORBIDDEN
    );
}

/// The real `minyi serve`: the known day posted, then restarted with a
/// daily `[[report]]` to a robot. The report goes out once at start (its
/// time has passed), names the day and links to the printable page; a
/// second restart sends nothing. The page, printed to PDF in Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_printed_and_pushed() {
    let (hook, seen) = crate::alerts_e2e::receiver().await;
    let dir = common::TempDir::new("reports-push");
    let db = dir.0.join("db");
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = common::Server::start_on(&listen, &db, &["--no-demo"]);
    let http = reqwest::Client::new();
    let (items, events) = known_day();
    for (path, body) in [("feedback", items), ("workorders/events", events)] {
        let r = http
            .post(format!("{}/api/v1/{path}", server.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    server.stop();

    let config = dir.0.join("minyi.toml");
    std::fs::write(
        &config,
        format!(
            "public_url = \"http://{listen}\"\n\
             [[target]]\nname = \"duty\"\nkind = \"wecom\"\nurl = \"{hook}/wecom\"\n\
             [[report]]\nperiod = \"daily\"\nat = \"00:00\"\ntargets = [\"duty\"]\n"
        ),
    )
    .unwrap();
    let args = ["--no-demo", "--config", config.to_str().unwrap()];
    let server = common::Server::start_on(&listen, &db, &args);
    let started = std::time::Instant::now();
    while seen.lock().unwrap().is_empty() {
        // The schedule is first looked at half a minute after start.
        assert!(started.elapsed().as_secs() < 50, "no report within 50 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed().as_secs() >= 29,
        "sent before the server settled"
    );
    let day = yesterday().format("%Y-%m-%d").to_string();
    {
        let seen = seen.lock().unwrap();
        let content = seen[0].2["markdown"]["content"].as_str().unwrap();
        println!("{content}");
        assert!(
            content.starts_with(&format!("**民意日报 · {day}（全市）**")),
            "{content}"
        );
        assert!(
            content.contains("- 受理量：8，较上期 +6（上期 2）"),
            "{content}"
        );
        assert!(content.len() <= 4096);
        assert!(
            content.ends_with(&format!(
                "[在研判台查看](http://{listen}/api/v1/reports/daily?date={day}&format=html)"
            )),
            "{content}"
        );
    }

    // The printable page, in Chromium.
    crate::browser::run_script("report-print.mjs", &server.base, &[]);
    server.stop();

    // Sent once per period, restarts or not.
    let server = common::Server::start_on(&listen, &db, &args);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    server.stop();
    assert_eq!(seen.lock().unwrap().len(), 1, "the report went out twice");
}

/// The revisit funnel (issue 22, part 2) on SQLite.
#[tokio::test]
async fn the_revisit_funnel_counts_replies_and_waits() {
    revisit_funnel(app()).await;
}

/// The same funnel on ClickHouse, and its queries on a current release.
#[tokio::test(flavor = "multi_thread")]
async fn the_revisit_funnel_counts_replies_and_waits_on_clickhouse() {
    let server = common::ClickHouse::start_logging_queries();
    let db = server.database("revisits");
    revisit_funnel(crate::clickhouse_store::app(&server, &db, tokens()).await).await;
    server.replay_on_current_release(&db);
}

/// Seven orders: answered, waiting over seven days, waiting two, answered
/// 不满意 (an answer all the same), answered but never sent, sent 40 days
/// ago, answered before it was sent — counted by hand.
async fn revisit_funnel(app: common::TestApp) {
    let tz = minyi::config::default_timezone();
    let now = chrono::Utc::now().timestamp();
    let ago = |days: f64| minyi::query::rfc3339(now - (days * 86_400.0) as i64, tz);
    let (u1, u2) = ("丛台派出所", "火磨派出所");
    let items: Vec<Value> = [
        ("a1", "hotline_12345", "丛台区"),
        ("a2", "wechat", "丛台区"),
        ("a3", "hotline_12345", "邯山区"),
        ("a4", "wechat", "丛台区"),
        ("a5", "hotline_12345", "丛台区"),
        ("a6", "hotline_12345", "丛台区"),
        ("a7", "hotline_12345", "丛台区"),
    ]
    .iter()
    .map(|(id, channel, district)| {
        json!({"id": id, "channel": channel, "district": district, "received_at": ago(45.0),
               "text": "反映的问题处理得太慢"})
    })
    .collect();
    post(&app, "/api/v1/feedback", json!(items)).await;
    let ev = |order: &str, item: &str, unit: &str, event: &str, days: f64, rating: Option<u8>| {
        let mut e = json!({"order_id": order, "feedback_id": item, "unit": unit, "event": event, "at": ago(days)});
        if let Some(r) = rating {
            e["rating"] = json!(r);
        }
        e
    };
    let events = vec![
        ev("o1", "a1", u1, "created", 10.0, None),
        ev("o1", "a1", u1, "resolved", 9.5, None),
        ev("o1", "a1", u1, "revisit_sent", 9.0, None),
        ev("o1", "a1", u1, "revisited", 8.0, Some(1)),
        ev("o2", "a2", u1, "revisit_sent", 8.0, None),
        ev("o3", "a3", u2, "revisit_sent", 2.0, None),
        ev("o4", "a4", u2, "revisit_sent", 3.0, None),
        ev("o4", "a4", u2, "revisited", 1.0, Some(3)),
        ev("o5", "a5", u2, "revisited", 1.0, Some(2)),
        ev("o6", "a6", u1, "revisit_sent", 40.0, None),
        ev("o7", "a7", u2, "revisited", 9.0, Some(1)),
        ev("o7", "a7", u2, "revisit_sent", 5.0, None),
    ];
    post(&app, "/api/v1/workorders/events", json!(events)).await;

    let r = json_of(&app, "viewer", "/api/v1/stats/revisits").await;
    // Sent in the last 30 days: o1 o2 o3 o4 o7; answered after sending:
    // o1, o4; waiting seven days or more: o2.
    assert_eq!(
        (
            r["sent"].as_u64(),
            r["replied"].as_u64(),
            r["unanswered"].as_u64()
        ),
        (Some(5), Some(2), Some(1)),
        "{r:#}"
    );
    assert!(close(&r["reply_rate"], 0.4));
    let row = |list: &str, key: &str| {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == key)
            .map(|x| {
                (
                    x["sent"].as_u64().unwrap(),
                    x["replied"].as_u64().unwrap(),
                    x["unanswered"].as_u64().unwrap(),
                )
            })
    };
    assert_eq!(row("by_unit", u1), Some((2, 1, 1)));
    assert_eq!(row("by_unit", u2), Some((3, 1, 0)));
    assert_eq!(row("by_channel", "hotline_12345"), Some((3, 1, 0)));
    assert_eq!(row("by_channel", "wechat"), Some((2, 1, 1)));
    assert_eq!(r["by_channel"][0]["name"], "12345热线");
    let waiting: Vec<&str> = r["unanswered_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ["o2"]);

    // Filters: the item's channel, the order's unit, a longer range, and a
    // bureau's scope (its district's items).
    let q = |qs: &str| format!("/api/v1/stats/revisits?{qs}");
    assert_eq!(json_of(&app, "city", &q("channel=wechat")).await["sent"], 2);
    let unit = form_urlencoded::byte_serialize(u2.as_bytes()).collect::<String>();
    assert_eq!(
        json_of(&app, "city", &q(&format!("unit={unit}"))).await["sent"],
        3
    );
    let from = form_urlencoded::byte_serialize(ago(60.0).as_bytes()).collect::<String>();
    let long = json_of(&app, "city", &q(&format!("from={from}"))).await;
    assert_eq!(
        (long["sent"].as_u64(), long["unanswered"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(
        json_of(&app, "hanshan", "/api/v1/stats/revisits").await["sent"],
        1
    );
    assert_eq!(
        get(&app, "city", &q("bogus=1")).await.0,
        StatusCode::BAD_REQUEST
    );
}

/// Today's report, not over yet, against the same stretch of yesterday:
/// yesterday's items after this time of day are not its comparison.
#[tokio::test]
async fn a_day_not_over_compares_with_the_same_stretch_of_the_day_before() {
    let app = app();
    let tz = minyi::config::default_timezone();
    let mut now = chrono::Utc::now().timestamp();
    let midnight = |t: i64| {
        let day = chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .with_timezone(&tz)
            .date_naive();
        use chrono::TimeZone;
        tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
            .unwrap()
            .timestamp()
    };
    // A few seconds into the day at least, so the stretch holds items.
    if now - midnight(now) < 10 {
        tokio::time::sleep(std::time::Duration::from_secs(11)).await;
        now = chrono::Utc::now().timestamp();
    }
    let today = midnight(now);
    let elapsed = now - today;
    let item = |id: &str, t: i64| {
        json!({"id": id, "channel": "hotline_12345", "text": "路灯不亮",
               "received_at": minyi::query::rfc3339(t, tz)})
    };
    let items = vec![
        item("t1", today + elapsed / 2),
        item("t2", today + elapsed / 3),
        // Yesterday: one within the same stretch, three after it.
        item("y1", today - 86_400 + elapsed / 2),
        item("y2", today - 86_400 + elapsed + (86_400 - elapsed) / 2),
        item("y3", today - 86_400 + elapsed + (86_400 - elapsed) / 3),
        item("y4", today - 1),
    ];
    post(&app, "/api/v1/feedback", json!(items)).await;
    let date = chrono::DateTime::from_timestamp(today, 0)
        .unwrap()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string();
    let r = json_of(&app, "city", &format!("/api/v1/reports/daily?date={date}")).await;
    assert_eq!(r["partial"], true, "{r:#}");
    assert_eq!(r["summary"]["received"], 2, "{r:#}");
    assert_eq!(r["previous_summary"]["received"], 1, "{r:#}");
    let label = r["previous"]["label"].as_str().unwrap();
    assert!(label.ends_with("同时段"), "{label}");
    let md = get(
        &app,
        "city",
        &format!("/api/v1/reports/daily?date={date}&format=md"),
    )
    .await;
    assert!(md.1.contains("较上期 +1（上期 1）"), "{}", md.1);
}
