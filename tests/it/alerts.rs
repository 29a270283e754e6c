//! The alert engine on a real SQLite store, replayed on event time: a
//! steady week gives no alert at all; a burst gives exactly one alert that
//! updates while it lasts, resolves, respects its cooldown, and survives a
//! restart without firing again.

use crate::common;

use minyi::alerts::engine::{Context, Engine, Status};
use minyi::alerts::notify::Notifier;
use minyi::alerts::rules;
use serde_json::{Value, json};

const RULES: &str = r#"
[[rule]]
name = "district_surge"
title = "{value}诉求量异常上升"
for_each = "district"
window = "30m"
history = 4
period = "7d"
detector = { kind = "baseline", test = "poisson", warn_p = 0.01, alert_p = 0.001, min_count = 8 }
cooldown = "2h"

[[rule]]
name = "district_negative_share"
title = "{value}负面占比上升"
for_each = "district"
window = "1h"
history = 4
period = "1d"
detector = { kind = "negative_share", jump = 0.25, min_count = 12 }
"#;

use common::{DISTRICTS, per_slot};

/// A Monday 00:00 +08:00.
const START: i64 = 1_764_518_400 - 5 * 7 * 86_400;

/// Steady traffic from START for `days`: items spread over each slot.
fn steady(days: i64) -> Vec<Value> {
    let mut items = Vec::new();
    let texts = [
        "民警服务很好，谢谢",
        "咨询一下户口迁移需要什么材料",
        "路口红绿灯坏了，出警太慢",
    ];
    for slot in 0..days * 144 {
        let t = START + slot * 600;
        for d in DISTRICTS {
            for i in 0..per_slot(t) {
                let at = t + 60 + i as i64 * 200;
                items.push(json!({
                    "id": format!("s-{d}-{at}"),
                    "channel": "hotline_12345",
                    "district": d,
                    "received_at": minyi::query::rfc3339(at, minyi::config::default_timezone()),
                    "text": texts[(slot as usize + i) % 3],
                }));
            }
        }
    }
    items
}

async fn ingest(app: &common::TestApp, items: Vec<Value>) {
    for chunk in items.chunks(5000) {
        let out = app
            .state
            .ingest
            .feedback(chunk.iter().cloned().map(Ok).collect())
            .await
            .unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    }
}

fn new_engine(app: &common::TestApp) -> Engine {
    let rules = rules::parse(RULES, &app.state.vocab, &[]).unwrap();
    let s = &app.state;
    Engine::new(
        rules,
        Notifier::start(&[], s.metrics.clone()),
        0,
        Context {
            store: s.store.clone(),
            vocab: s.vocab.clone(),
            tz: s.tz,
            live: s.live.clone(),
            metrics: s.metrics.clone(),
            incidents: None,
            public_url: String::new(),
        },
    )
}

#[tokio::test]
async fn a_steady_week_gives_no_alert_and_a_burst_exactly_one() {
    let app = common::test_app(&[]);
    ingest(&app, steady(35)).await;
    let engine = new_engine(&app);

    // The fifth week, every half hour: nothing fires.
    let week5 = START + 28 * 86_400;
    let mut fired = 0;
    for step in 0..(7 * 48) {
        let now = week5 + step * 1800 + 900;
        fired += engine
            .evaluate(now)
            .await
            .iter()
            .filter(|a| a.status == Status::Firing)
            .count();
    }
    assert_eq!(fired, 0, "a steady week raised alerts");

    // A burst of complaints in 磁县 on the last day, 10:20–10:30.
    let t0 = week5 + 6 * 86_400 + 10 * 3600 + 20 * 60;
    let burst: Vec<Value> = (0..20)
        .map(|i| {
            json!({
                "id": format!("b-{i}"), "channel": "hotline_12345", "district": "磁县",
                "received_at": minyi::query::rfc3339(t0 + i * 25, minyi::config::default_timezone()),
                "text": "路口红绿灯坏了没人管，出警太慢，太不负责任了",
            })
        })
        .collect();
    ingest(&app, burst).await;
    let now = t0 + 10 * 60;
    let changed = engine.evaluate(now).await;
    let firing: Vec<_> = changed
        .iter()
        .filter(|a| a.status == Status::Firing)
        .collect();
    assert!(!firing.is_empty(), "{changed:?}");
    assert!(firing.iter().all(|a| a.key == "磁县"), "{firing:?}");
    let surge = firing
        .iter()
        .find(|a| a.rule == "district_surge")
        .expect("the surge fires");
    assert!(surge.observed >= 20.0 && surge.expected <= 6.0, "{surge:?}");
    assert_eq!(surge.title, "磁县诉求量异常上升");

    // While it lasts: no second alert; later it resolves; cooldown holds.
    let again = engine.evaluate(now + 60).await;
    assert!(
        again
            .iter()
            .all(|a| a.id == surge.id || a.rule != "district_surge"),
        "{again:?}"
    );
    let later = engine.evaluate(now + 3600).await;
    let resolved = later
        .iter()
        .find(|a| a.id == surge.id)
        .expect("the surge resolves");
    assert_eq!(resolved.status, Status::Resolved);

    // A restart restores the state: nothing fires again for the same series.
    let restarted = new_engine(&app);
    restarted.restore(now + 3600).await.unwrap();
    let after = restarted.evaluate(now + 3660).await;
    assert!(
        after.iter().all(|a| a.status != Status::Firing),
        "{after:?}"
    );
    let stored = app.state.store.state_load("alert", 0).await.unwrap();
    assert!(
        stored
            .iter()
            .any(|d| d.contains(&surge.id) && d.contains("resolved"))
    );
}

/// History brought in by `minyi import` is history: a burst in the
/// current window that arrived by import fires nothing while the import's
/// record is there; without the record the same stored burst fires.
#[tokio::test]
async fn an_imported_burst_fires_nothing() {
    let t0 = START + 28 * 86_400 + 10 * 3600 + 20 * 60;
    let now = t0 + 10 * 60;
    let mut fired = Vec::new();
    for recorded in [true, false] {
        let app = common::test_app(&[]);
        ingest(&app, steady(29)).await;
        let enricher = app.state.ingest.enricher.clone();
        let at = enricher.now();
        let burst: Vec<_> = (0..20)
            .map(|i| {
                let v = json!({
                    "id": format!("b-{i}"), "channel": "hotline_12345", "district": "磁县",
                    "received_at": minyi::query::rfc3339(t0 + i * 25, minyi::config::default_timezone()),
                    "text": "路口红绿灯坏了没人管，出警太慢，太不负责任了",
                });
                enricher.enrich_value(&v, at).unwrap()
            })
            .collect();
        let store = &app.state.store;
        store
            .write_history(minyi::store::WriteBatch {
                items: burst,
                events: Vec::new(),
            })
            .await
            .unwrap();
        assert_eq!(store.settle_history().await.unwrap(), 20);
        if recorded {
            minyi::alerts::record_import(store.as_ref(), t0, t0 + 19 * 25, 20, now)
                .await
                .unwrap();
        }
        let engine = new_engine(&app);
        let firing: Vec<_> = engine
            .evaluate(now)
            .await
            .into_iter()
            .filter(|a| a.status == Status::Firing && a.key == "磁县")
            .collect();
        fired.push(firing.len());
        if recorded {
            // Once the window has moved past the imported span, the rules
            // judge again (the burst is then history: nothing to fire).
            let later = engine.evaluate(t0 + 19 * 25 + 3 * 3600).await;
            assert!(
                later.iter().all(|a| a.status != Status::Firing),
                "{later:?}"
            );
        }
    }
    assert_eq!(fired[0], 0, "the imported burst fired");
    assert!(
        fired[1] > 0,
        "the same burst, not recorded as imported, fires"
    );
}

/// Routing end to end with two local robots: 邯山区's alert reaches only
/// its own robot; the alert of another district takes the default route
/// (the city's duty group); each is one message.
#[tokio::test]
async fn each_district_alert_reaches_its_own_robot() {
    use minyi::config::{RouteConfig, TargetConfig, TargetKind};
    let (hanshan_url, hanshan) = crate::alerts_e2e::receiver().await;
    let (duty_url, duty) = crate::alerts_e2e::receiver().await;
    let app = common::test_app(&[]);
    let targets = [
        TargetConfig {
            name: "hanshan".into(),
            kind: TargetKind::Dingtalk,
            url: format!("{hanshan_url}/dingtalk"),
            secret: None,
            per_minute: None,
        },
        TargetConfig {
            name: "duty".into(),
            kind: TargetKind::Feishu,
            url: format!("{duty_url}/feishu"),
            secret: None,
            per_minute: None,
        },
    ];
    let routing = minyi::alerts::routes::Routing::new(
        &[
            RouteConfig {
                districts: vec!["邯山区".into()],
                targets: vec!["hanshan".into()],
                ..Default::default()
            },
            RouteConfig {
                targets: vec!["duty".into()],
                ..Default::default()
            },
        ],
        &[],
        &app.state.vocab,
    )
    .unwrap();
    let rules = rules::parse(
        r#"
[[rule]]
name = "surge"
title = "{value}激增"
for_each = "district"
window = "30m"
detector = { kind = "ratio", spike_height = 3.0, min_current = 10, min_reference = 1 }
"#,
        &app.state.vocab,
        &[],
    )
    .unwrap();
    let s = &app.state;
    let engine = Engine::new(
        rules,
        Notifier::start(&targets, s.metrics.clone()),
        0,
        Context {
            store: s.store.clone(),
            vocab: s.vocab.clone(),
            tz: s.tz,
            live: s.live.clone(),
            metrics: s.metrics.clone(),
            incidents: None,
            public_url: String::new(),
        },
    )
    .with_routing(routing);
    let tz = minyi::config::default_timezone();
    let item = |id: String, district: &str, at: i64| {
        json!({"id": id, "channel": "hotline_12345", "district": district,
               "received_at": minyi::query::rfc3339(at, tz), "text": "出警太慢了"})
    };
    let t0 = START + 3600;
    let mut items = Vec::new();
    for d in ["邯山区", "磁县"] {
        items.push(item(format!("q-{d}"), d, t0 - 1200));
        for i in 0..12 {
            items.push(item(format!("b-{d}-{i}"), d, t0 + 600 + i));
        }
    }
    ingest(&app, items).await;
    let fired = engine.evaluate(t0 + 1800).await;
    assert_eq!(fired.len(), 2, "{fired:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hanshan.lock().unwrap().is_empty() || duty.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no message within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let hanshan = hanshan.lock().unwrap().clone();
    let duty = duty.lock().unwrap().clone();
    assert_eq!((hanshan.len(), duty.len()), (1, 1), "{hanshan:?} {duty:?}");
    let text = hanshan[0].2["markdown"]["text"].as_str().unwrap();
    assert!(
        text.contains("邯山区激增") && !text.contains("磁县"),
        "{text}"
    );
    let text = duty[0].2["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("磁县激增") && !text.contains("邯山区"),
        "{text}"
    );
}
