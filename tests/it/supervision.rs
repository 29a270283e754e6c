//! The supervision queue (督办台账, `GET /api/v1/supervision`): a scripted
//! set of cases — one at every stage, each deadline met and missed, a case
//! answered 不满意 again, cases 化解 through an order and through a case —
//! posted to the API with times before the server's clock, and the same
//! answer asked of both stores. The queue's 化解 agrees with 不满意化解率;
//! every bad parameter is a 400 naming it; scoped tokens see their cases.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, api_token};
use crate::scopes::{get, json_of, post};
use minyi::config::Role;

fn tokens() -> Vec<minyi::config::ApiToken> {
    vec![
        api_token(Role::Analyst, "city", &[], &[]),
        api_token(Role::Viewer, "viewer", &[], &[]),
        api_token(Role::Analyst, "hanshan", &["邯山区"], &[]),
        api_token(Role::Analyst, "zhuhe", &[], &["渚河派出所"]),
        api_token(Role::Ingest, "feed", &[], &[]),
    ]
}

/// RFC 3339 of `hours` before now, in the centre's zone.
fn ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339()
}

/// A work order's events: `(event, hours ago)`, with a rating for revisits.
fn order(id: &str, feedback: &str, unit: &str, steps: &[(&str, i64, Option<u8>)]) -> Vec<Value> {
    steps
        .iter()
        .map(|(event, h, rating)| {
            let mut e = json!({"order_id": id, "feedback_id": feedback, "event": event,
                               "unit": unit, "at": ago(*h)});
            if let Some(r) = rating {
                e["rating"] = json!(r);
            }
            e
        })
        .collect()
}

/// The scripted cases. Units: 火磨派出所 and 渚河派出所 are 邯山区's,
/// 丛台派出所 丛台区's.
async fn load(app: &TestApp) {
    let rated = |id: &str, h: i64, unit: &str, district: &str, case: Option<&str>| {
        let mut i = json!({"id": id, "channel": "scan_rate", "received_at": ago(h), "rating": 3,
                           "text": "等了很久没人处理，不满意", "district": district, "unit": unit});
        if let Some(c) = case {
            i["case_ref"] = json!(c);
        }
        i
    };
    let items = json!([
        // 待派发: no order, received 2 h ago (due in 22 h).
        rated("s-new", 2, "火磨派出所", "邯山区", None),
        // 待派发: an order created, never dispatched, received 30 h ago (late).
        rated("s-undispatched", 30, "火磨派出所", "邯山区", None),
        // 待联系: dispatched 58 h ago (due 48 h after: late).
        rated("s-contact-late", 60, "渚河派出所", "邯山区", None),
        // 待联系: dispatched 8 h ago (due in 40 h).
        rated("s-contact", 10, "渚河派出所", "邯山区", None),
        // 整改中: created 99 h ago (due 120 h after: in 21 h).
        rated("s-rectify", 100, "渚河派出所", "邯山区", None),
        // 整改中: created 129 h ago (late by 9 h).
        rated("s-rectify-late", 130, "丛台派出所", "丛台区", None),
        // 待回访: a negative complaint opened as an order, resolved.
        {"id": "s-revisit", "channel": "hotline_12345", "received_at": ago(50),
         "text": "民警态度恶劣，推诿扯皮，非常不满意，我的电话13812345678",
         "district": "邯山区", "unit": "火磨派出所"},
        // 未化解: a complaint resolved, revisited 不满意 (escalate) …
        {"id": "s-unresolved", "channel": "hotline_12345", "received_at": ago(80),
         "text": "报警后一直没人来，推诿扯皮，非常不满意", "district": "丛台区",
         "unit": "丛台派出所"},
        // … and the SMS reply that said so: its own case, at the same stage.
        {"id": "s-reply", "channel": "sms_revisit", "received_at": ago(30), "text": "3，问题没解决",
         "case_ref": "WO-U", "district": "丛台区", "unit": "丛台派出所"},
        // 已化解 through a later satisfied answer on its case.
        rated("s-resolved-case", 20, "火磨派出所", "邯山区", Some("cb-1")),
        {"id": "s-cb-1", "channel": "phone_revisit", "received_at": ago(10), "rating": 1,
         "text": "经回访，问题已解决", "case_ref": "cb-1", "district": "邯山区", "unit": "火磨派出所"},
        // 已化解 through its order revisited 满意.
        rated("s-resolved-order", 70, "丛台派出所", "丛台区", None),
        // Answered 不满意 again on its case, no order yet: 未化解, escalated,
        // due a day after it; the call-back is a case of its own.
        rated("s-again", 20, "渚河派出所", "邯山区", Some("cb-2")),
        {"id": "s-cb-2", "channel": "phone_revisit", "received_at": ago(5), "rating": 3,
         "text": "还是不满意", "case_ref": "cb-2", "district": "邯山区", "unit": "渚河派出所"},
        // No cases: praise, and a negative item no order was opened for.
        {"id": "n-praise", "channel": "wechat", "received_at": ago(3), "text": "民警态度很好，谢谢",
         "district": "邯山区"},
        {"id": "n-negative", "channel": "wechat", "received_at": ago(3),
         "text": "推诿扯皮，非常不满意", "district": "邯山区"}
    ]);
    post(app, "/api/v1/feedback", items).await;
    let mut events = Vec::new();
    events.extend(order(
        "WO-N",
        "s-undispatched",
        "火磨派出所",
        &[("created", 29, None)],
    ));
    events.extend(order(
        "WO-CL",
        "s-contact-late",
        "渚河派出所",
        &[("created", 59, None), ("dispatched", 58, None)],
    ));
    events.extend(order(
        "WO-C",
        "s-contact",
        "渚河派出所",
        &[("created", 9, None), ("dispatched", 8, None)],
    ));
    events.extend(order(
        "WO-R",
        "s-rectify",
        "渚河派出所",
        &[
            ("created", 99, None),
            ("dispatched", 98, None),
            ("responded", 90, None),
        ],
    ));
    events.extend(order(
        "WO-RL",
        "s-rectify-late",
        "丛台派出所",
        &[
            ("created", 129, None),
            ("dispatched", 128, None),
            ("responded", 120, None),
        ],
    ));
    events.extend(order(
        "WO-V",
        "s-revisit",
        "火磨派出所",
        &[
            ("created", 49, None),
            ("dispatched", 48, None),
            ("responded", 40, None),
            ("resolved", 20, None),
        ],
    ));
    events.extend(order(
        "WO-U",
        "s-unresolved",
        "丛台派出所",
        &[
            ("created", 79, None),
            ("dispatched", 78, None),
            ("responded", 70, None),
            ("resolved", 40, None),
            ("revisited", 30, Some(3)),
        ],
    ));
    events.extend(order(
        "WO-OK",
        "s-resolved-order",
        "丛台派出所",
        &[
            ("created", 69, None),
            ("dispatched", 68, None),
            ("responded", 60, None),
            ("resolved", 40, None),
            ("revisited", 30, Some(2)),
        ],
    ));
    // Late and repeated: the order of arrival does not matter.
    events.reverse();
    events.push(events[0].clone());
    post(app, "/api/v1/workorders/events", Value::Array(events)).await;
}

/// (id, stage, overdue, escalate, order_id) of each listed case.
fn rows(queue: &Value) -> Vec<(String, String, bool, bool, Option<String>)> {
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["stage"].as_str().unwrap().to_owned(),
                c["overdue"].as_bool().unwrap(),
                c["escalate"].as_bool().unwrap(),
                c["order_id"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn case<'a>(queue: &'a Value, id: &str) -> &'a Value {
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {queue}"))
}

/// Hours from now to a case's deadline.
fn due_in(queue: &Value, id: &str) -> f64 {
    let d = chrono::DateTime::parse_from_rfc3339(case(queue, id)["deadline"].as_str().unwrap())
        .unwrap();
    (d.timestamp() - chrono::Utc::now().timestamp()) as f64 / 3600.0
}

async fn the_queue(app: TestApp) {
    load(&app).await;
    let open = json_of(&app, "city", "/api/v1/supervision").await;
    let s = |v: &str| v.to_owned();
    let o = |v: &str| Some(v.to_owned());
    // Overdue first, the oldest first; then the rest, the oldest first.
    assert_eq!(
        rows(&open),
        [
            (s("s-rectify-late"), s("整改中"), true, false, o("WO-RL")),
            (s("s-contact-late"), s("待联系"), true, false, o("WO-CL")),
            (s("s-undispatched"), s("待派发"), true, false, o("WO-N")),
            (s("s-rectify"), s("整改中"), false, false, o("WO-R")),
            (s("s-unresolved"), s("未化解"), false, true, o("WO-U")),
            (s("s-revisit"), s("待回访"), false, false, o("WO-V")),
            (s("s-reply"), s("未化解"), false, false, o("WO-U")),
            (s("s-again"), s("未化解"), false, true, None),
            (s("s-contact"), s("待联系"), false, false, o("WO-C")),
            (s("s-cb-2"), s("待派发"), false, false, None),
            (s("s-new"), s("待派发"), false, false, None),
        ]
    );
    // Each deadline from its stage's clock (±0.1 h of the scripted hours).
    for (id, hours) in [
        ("s-new", 22.0),
        ("s-undispatched", -6.0),
        ("s-contact-late", -10.0),
        ("s-contact", 40.0),
        ("s-rectify", 21.0),
        ("s-rectify-late", -9.0),
        ("s-unresolved", 41.0),
        ("s-reply", 41.0),
        ("s-again", 4.0),
    ] {
        let d = due_in(&open, id);
        assert!((d - hours).abs() < 0.1, "{id}: due in {d} h, not {hours}");
    }
    assert!(case(&open, "s-revisit")["deadline"].is_null());
    let c = case(&open, "s-rectify-late");
    assert_eq!(
        (&c["unit"], &c["district"], &c["channel"], &c["rating"]),
        (
            &json!("丛台派出所"),
            &json!("丛台区"),
            &json!("scan_rate"),
            &json!(3)
        )
    );
    assert!((c["age_hours"].as_f64().unwrap() - 130.0).abs() < 0.2);
    // The stored, masked text: no phone number.
    let text = case(&open, "s-revisit")["text"].as_str().unwrap();
    assert!(
        text.contains("138****5678") && !text.contains("13812345678"),
        "{text}"
    );
    assert!(case(&open, "s-revisit")["rating"].is_null());

    // Counts: per stage, in lifecycle order, and per unit.
    assert_eq!(
        (&open["total"], &open["overdue"], &open["escalate"]),
        (&json!(11), &json!(3), &json!(2))
    );
    let stages: Vec<(String, u64, u64)> = open["by_stage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
                s["overdue"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            (s("待派发"), 3, 1),
            (s("待联系"), 2, 1),
            (s("整改中"), 2, 1),
            (s("待回访"), 1, 0),
            (s("未化解"), 3, 0),
        ]
    );
    let units: Vec<(String, u64, u64)> = open["by_unit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["unit"].as_str().unwrap().to_owned(),
                u["count"].as_u64().unwrap(),
                u["overdue"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        units,
        [
            (s("渚河派出所"), 5, 1),
            (s("丛台派出所"), 3, 1),
            (s("火磨派出所"), 3, 1),
        ]
    );
    assert_eq!(
        open["by_unit"][2]["stages"],
        json!({"待派发": 2, "待回访": 1})
    );

    // overdue: the three late cases; all: the two 化解 ones too, at 已化解.
    let overdue = json_of(&app, "city", "/api/v1/supervision?status=overdue").await;
    assert_eq!(rows(&overdue), rows(&open)[..3]);
    let all = json_of(&app, "city", "/api/v1/supervision?status=all").await;
    assert_eq!(all["total"], 13);
    for id in ["s-resolved-case", "s-resolved-order"] {
        let c = case(&all, id);
        assert_eq!(
            (&c["stage"], &c["deadline"], &c["overdue"]),
            (&json!("已化解"), &Value::Null, &json!(false))
        );
    }
    assert_eq!(case(&all, "s-resolved-order")["order_id"], "WO-OK");
    assert_eq!(
        all["by_stage"][5],
        json!({"stage": "已化解", "count": 2, "overdue": 0})
    );

    // The queue's 化解 is 不满意化解率's: of the items rated 不满意.
    let summary = json_of(&app, "city", "/api/v1/stats/summary").await;
    let rated: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rating"] == 3)
        .collect();
    assert_eq!(summary["dissatisfied"], json!(rated.len()));
    let resolved = rated.iter().filter(|c| c["stage"] == "已化解").count();
    assert_eq!(summary["dissatisfied_resolved"], json!(resolved));

    // Filters narrow the cases; `limit` the list, not the counts.
    let q = json_of(
        &app,
        "city",
        "/api/v1/supervision?district=%E4%B8%9B%E5%8F%B0%E5%8C%BA&channel=hotline_12345",
    )
    .await;
    assert_eq!(rows(&q).len(), 1);
    assert_eq!(q["items"][0]["id"], "s-unresolved");
    let q = json_of(
        &app,
        "city",
        &format!("/api/v1/supervision?from={}", urlencode(&ago(40))),
    )
    .await;
    assert_eq!(q["total"], 6);
    let q = json_of(&app, "city", "/api/v1/supervision?limit=2").await;
    assert_eq!(
        (q["items"].as_array().unwrap().len(), &q["total"]),
        (2, &json!(11))
    );

    // CSV: Chinese headers, the listed cases in order.
    let (status, csv) = get(
        &app,
        "city",
        "/api/v1/supervision?format=csv&status=overdue",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "编号,受理时间,渠道,地区,单位,评价,内容,工单号,环节,期限,是否超期,已用时长(小时),需升级"
    );
    assert_eq!(lines.len(), 4);
    assert!(
        lines[1].starts_with("s-rectify-late,")
            && lines[1].contains(",扫码评警,丛台区,丛台派出所,不满意,")
    );
    assert!(lines[1].contains(",WO-RL,整改中,") && lines[1].contains(",是,"));

    let (_, csv) = get(&app, "city", "/api/v1/supervision?format=csv&status=all").await;
    assert_eq!(
        csv.trim().lines().count(),
        1 + 13,
        "every case without a limit: {csv}"
    );
    let (_, csv) = get(&app, "city", "/api/v1/supervision?format=csv&limit=2").await;
    assert_eq!(csv.trim().lines().count(), 1 + 2);

    // Every rejected parameter is a 400 that names it.
    for (uri, param) in [
        ("/api/v1/supervision?status=closed", "status"),
        ("/api/v1/supervision?status=open&status=all", "status"),
        ("/api/v1/supervision?limit=0", "limit"),
        ("/api/v1/supervision?limit=10001", "limit"),
        ("/api/v1/supervision?format=xlsx", "format"),
        ("/api/v1/supervision?dim=unit", "dim"),
        (
            "/api/v1/supervision?district=%E5%8C%97%E4%BA%AC",
            "district",
        ),
        ("/api/v1/supervision?from=yesterday", "from"),
        ("/api/v1/supervision?bogus=1", "bogus"),
    ] {
        let (status, body) = get(&app, "city", uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(
            body.contains(&format!("parameter `{param}`")),
            "{uri}: {body}"
        );
    }

    // Roles and scopes: analysts only; a bureau sees its district's cases,
    // a station its unit's; a filter outside the scope is a 403.
    let (status, _) = get(&app, "viewer", "/api/v1/supervision").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let hanshan = json_of(&app, "hanshan", "/api/v1/supervision").await;
    assert_eq!(hanshan["total"], 8);
    assert!(!hanshan.to_string().contains("丛台"), "{hanshan}");
    let zhuhe = json_of(&app, "zhuhe", "/api/v1/supervision").await;
    let ids: Vec<String> = rows(&zhuhe).into_iter().map(|r| r.0).collect();
    assert_eq!(
        ids,
        [
            "s-contact-late",
            "s-rectify",
            "s-again",
            "s-contact",
            "s-cb-2"
        ]
    );
    let (status, _) = get(
        &app,
        "hanshan",
        "/api/v1/supervision?district=%E4%B8%9B%E5%8F%B0%E5%8C%BA",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The centre closes a case unresolved (结案未化解): out of the open
    // queue, 已关闭 among all; reopened, it is back.
    let open_before = json_of(&app, "city", "/api/v1/supervision").await["total"].clone();
    post(
        &app,
        "/api/v1/workorders/events",
        json!(order(
            "WO-RL",
            "s-rectify-late",
            "丛台派出所",
            &[("closed", 1, None)]
        )),
    )
    .await;
    let open = json_of(&app, "city", "/api/v1/supervision").await;
    assert_eq!(open["total"].as_u64(), open_before.as_u64().map(|n| n - 1));
    assert!(rows(&open).iter().all(|r| r.0 != "s-rectify-late"));
    let all = json_of(&app, "city", "/api/v1/supervision?status=all").await;
    assert_eq!(case(&all, "s-rectify-late")["stage"], "已关闭");
    assert_eq!(case(&all, "s-rectify-late")["deadline"], Value::Null);
    post(
        &app,
        "/api/v1/workorders/events",
        json!(order(
            "WO-RL",
            "s-rectify-late",
            "丛台派出所",
            &[("reopened", 0, None)]
        )),
    )
    .await;
    let open = json_of(&app, "city", "/api/v1/supervision").await;
    assert_eq!(open["total"], open_before);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn the_supervision_queue_on_sqlite() {
    the_queue(crate::common::test_app_scoped(tokens())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_supervision_queue_on_clickhouse() {
    let server = crate::common::ClickHouse::start_logging_queries();
    let db = server.database("supervision");
    the_queue(crate::clickhouse_store::app(&server, &db, tokens()).await).await;
    server.replay_on_current_release(&db);
}
