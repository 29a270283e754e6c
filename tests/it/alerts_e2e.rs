//! Alerting end to end: the real `minyi serve`, four weeks of steady
//! backfilled history over HTTP, then a burst of one topic in one district
//! → exactly one notification reaches each robot (a local receiver playing
//! DingTalk and Feishu) within 10 s, correctly signed, and the live stream
//! the wall screens read carries the alert.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// What a local robot received: (path, query, body).
pub(crate) type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A local robot answering DingTalk (`/dingtalk`) and Feishu (`/feishu`).
pub(crate) async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn record(
        State(seen): State<Seen>,
        uri: axum::http::Uri,
        RawQuery(q): RawQuery,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        seen.lock().unwrap().push((uri.path().to_owned(), q, body));
        axum::Json(json!({"errcode": 0, "code": 0}))
    }
    let app = axum::Router::new()
        .route("/dingtalk", axum::routing::post(record))
        .route("/feishu", axum::routing::post(record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

use common::{DISTRICTS, per_slot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_the_robots_once_signed_and_the_wall() {
    let (hook, seen) = receiver().await;
    let dir = common::TempDir::new("alerts-e2e");
    let rules = dir.0.join("alerts.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "district_surge"
title = "{value}诉求量异常上升"
for_each = "district"
window = "30m"
history = 4
period = "7d"
detector = { kind = "baseline", test = "poisson", warn_p = 0.01, alert_p = 0.001, min_count = 8 }
severity = "critical"
targets = ["wall", "ding", "feishu"]
"#,
    )
    .unwrap();
    let config = dir.0.join("minyi.toml");
    std::fs::write(
        &config,
        format!(
            "alerts_file = {:?}\nalert_every_seconds = 1\nalert_group_wait_seconds = 1\n\
             [[target]]\nname = \"ding\"\nkind = \"dingtalk\"\nurl = \"{hook}/dingtalk?access_token=tok\"\nsecret = \"SECtest\"\n\
             [[target]]\nname = \"feishu\"\nkind = \"feishu\"\nurl = \"{hook}/feishu\"\nsecret = \"fstest\"\n",
            rules.display().to_string()
        ),
    )
    .unwrap();
    let server = common::Server::start(
        &dir.0.join("db"),
        &["--no-demo", "--config", config.to_str().unwrap()],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // Four weeks (and a day) of steady traffic in three districts, up to
    // ten minutes ago: the rule waits until its history is covered.
    let tz = minyi::config::default_timezone();
    let now = chrono::Utc::now().timestamp();
    let start = (now - 29 * 86_400) / 600 * 600;
    let mut lines = Vec::new();
    let mut t = start;
    while t < now - 600 {
        for d in DISTRICTS {
            for i in 0..per_slot(t) {
                let at = t + 60 + i as i64 * 200;
                lines.push(
                    json!({"id": format!("h-{d}-{at}"), "channel": "hotline_12345", "district": d,
                    "received_at": minyi::query::rfc3339(at, tz), "text": "咨询户口迁移的材料"})
                    .to_string(),
                );
            }
        }
        t += 600;
    }
    for chunk in lines.chunks(5000) {
        let r = http
            .post(format!("{base}/api/v1/feedback"))
            .header("content-type", "application/x-ndjson")
            .body(chunk.join("\n"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // Steady: a few evaluations, nothing fires.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "steady history raised an alert"
    );

    // The wall's stream.
    let mut live = http
        .get(format!("{base}/api/v1/live"))
        .send()
        .await
        .unwrap();
    let wall = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(chunk)) = live.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: alert") && text.contains("丛台区诉求量异常上升") {
                return true;
            }
        }
        false
    });

    // The burst: traffic complaints in 丛台区.
    let burst: Vec<Value> = (0..25)
        .map(|i| json!({"id": format!("b-{i}"), "channel": "hotline_12345", "district": "丛台区",
            "received_at": minyi::query::rfc3339(now - 300 + i * 10, tz), "text": "路口红绿灯坏了，交警没人管"}))
        .collect();
    let sent = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/feedback"))
        .json(&burst)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    while seen.lock().unwrap().len() < 2 {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "no notification within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delay = sent.elapsed();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), wall)
            .await
            .unwrap()
            .unwrap(),
        "the wall got the alert"
    );
    // Nothing more comes: one alert, one message per robot.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");

    let (_, query, body) = seen
        .iter()
        .find(|(p, ..)| p == "/dingtalk")
        .expect("DingTalk got it");
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["access_token"], "tok");
    let ts: i64 = params["timestamp"].parse().unwrap();
    assert!(
        (ts / 1000 - now).abs() < 120,
        "DingTalk wants a current millisecond timestamp"
    );
    assert_eq!(
        params["sign"],
        hmac_b64(b"SECtest", format!("{ts}\nSECtest").as_bytes())
    );
    assert!(
        body["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("丛台区诉求量异常上升"),
        "{body}"
    );

    let (_, _, body) = seen
        .iter()
        .find(|(p, ..)| p == "/feishu")
        .expect("Feishu got it");
    let ts = body["timestamp"].as_str().unwrap();
    assert_eq!(
        body["sign"].as_str().unwrap(),
        hmac_b64(format!("{ts}\nfstest").as_bytes(), b"")
    );
    assert!(body["content"]["text"].as_str().unwrap().contains("丛台区"));

    let alerts: Value = http
        .get(format!("{base}/api/v1/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts["alerts"][0]["key"], "丛台区");
    println!("burst → both robots in {delay:?}");

    server.stop();
}
