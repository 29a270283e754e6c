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

/// A local robot answering DingTalk (`/dingtalk`), Feishu (`/feishu`) and
/// WeCom (`/wecom`).
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
        .route("/wecom", axum::routing::post(record))
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

/// One script of a scam wave (冒充公安, 洗钱, 安全账户) as citizens retell it.
const SCAM: [&str; 8] = [
    "有人冒充公安民警打电话，说我涉嫌一起洗钱案件，要我把资金转入安全账户核查",
    "我妈接到冒充警察的电话，说她名下银行卡涉及洗钱案，要把存款转到安全账户，幸好家里人拦住了",
    "接到冒充公安的诈骗电话，说我涉嫌洗钱，让我把钱打到安全账户，已挂断，请警方注意",
    "父亲被冒充公安的骗子骗了三万，对方说他涉嫌洗钱，要把钱转到安全账户保护起来",
    "提醒大家：最近有冒充警察说你涉嫌洗钱让你转账到安全账户的，我们小区好几个老人接到了",
    "冒充公安局的人打电话说我的银行卡涉嫌洗钱，要求转账到所谓安全账户配合调查",
    "今天又接到自称公安民警的电话，说我涉及洗钱案件，让我把钱转进安全账户，这是诈骗吧",
    "骗子冒充警察说我卷入洗钱案，要我把积蓄转到安全账户，我报警了，希望严打",
];

/// Ordinary traffic: matters that have nothing to do with the wave.
const ORDINARY: [&str; 6] = [
    "咨询户口迁移需要哪些材料",
    "小区门口晚上有人大声喧哗，影响休息",
    "身份证补办要多久能拿到",
    "路口早高峰拥堵，希望增派交警疏导",
    "派出所民警办事热情，点赞",
    "护照办理预约不上，网站一直打不开",
];

/// Issue 20's wave: twenty-four reports of one 冒充公安 script in two hours,
/// over four channels, most in 丛台区, amid ordinary traffic with a day
/// of history. The topic rule and the emerging-term rule both see it: one
/// alert fires, naming the incident, and the other findings fold into it;
/// its WeCom message names the incident, the top district, three samples
/// and a link that opens the explorer on exactly the incident's items.
/// A `minyi serve` with two rules that both see a scam wave (the topic's
/// surge, emerging terms) and a WeCom robot, holding a day and a half of
/// ordinary traffic up to now that raised nothing.
struct Wave {
    server: common::Server,
    base: String,
    public: String,
    seen: Seen,
    http: reqwest::Client,
    now: i64,
    tz: chrono::FixedOffset,
    _dir: common::TempDir,
}

impl Wave {
    async fn post(&self, items: Vec<Value>) {
        let body: Vec<String> = items.iter().map(Value::to_string).collect();
        let r = self
            .http
            .post(format!("{}/api/v1/feedback", self.base))
            .header("content-type", "application/x-ndjson")
            .body(body.join("\n"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Report `i` of 24 of the wave over the last two hours: four channels,
    /// two thirds in 丛台区, a sixth in 邯山区.
    fn report(&self, i: usize) -> Value {
        let channels = ["hotline_12345", "opinion_hotline", "wechat", "hotline_110"];
        let mut item = json!({"id": format!("w-{i:02}"), "channel": channels[i % 4],
            "received_at": minyi::query::rfc3339(self.now - 6900 + i as i64 * 280, self.tz),
            "text": SCAM[i % SCAM.len()]});
        match i % 6 {
            0..=3 => item["district"] = json!("丛台区"),
            4 => item["district"] = json!("邯山区"),
            _ => {}
        }
        item
    }
}

async fn wave_server(name: &str) -> Wave {
    let (hook, seen) = receiver().await;
    let dir = common::TempDir::new(name);
    let rules = dir.0.join("alerts.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "topic_surge"
title = "{value}类诉求激增"
for_each = "topic"
window = "2h"
history = 1
period = "1d"
detector = { kind = "baseline", test = "poisson", warn_p = 0.01, alert_p = 0.001, min_count = 8 }
severity = "critical"
targets = ["wall", "wecom"]

[[rule]]
name = "emerging_term"
title = "新热词：{value}"
for_each = "keyword"
window = "2h"
history = 1
period = "1d"
detector = { kind = "emerging", warn_p = 0.001, alert_p = 0.0001, min_count = 10, min_ratio = 3.0 }
severity = "info"
targets = ["wall", "wecom"]
"#,
    )
    .unwrap();
    let port = common::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let config = dir.0.join("minyi.toml");
    std::fs::write(
        &config,
        format!(
            "alerts_file = {:?}\nalert_every_seconds = 1\nalert_group_wait_seconds = 1\n\
             public_url = \"{public}/\"\n\
             [[target]]\nname = \"wecom\"\nkind = \"wecom\"\nurl = \"{hook}/wecom\"\n",
            rules.display().to_string()
        ),
    )
    .unwrap();
    let server = common::Server::start_on(
        &format!("127.0.0.1:{port}"),
        &dir.0.join("db"),
        &["--no-demo", "--config", config.to_str().unwrap()],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let tz = minyi::config::default_timezone();
    let now = chrono::Utc::now().timestamp();
    // A day and a half of ordinary traffic, up to now: nothing fires.
    let start = (now - 36 * 3600) / 600 * 600;
    let mut ordinary = Vec::new();
    let mut t = start;
    let mut n = 0usize;
    while t < now - 60 {
        for d in DISTRICTS {
            for i in 0..per_slot(t) {
                n += 1;
                let at = t + 60 + i as i64 * 200;
                ordinary.push(json!({"id": format!("o-{n}"), "channel": "hotline_12345",
                    "district": d, "received_at": minyi::query::rfc3339(at.min(now - 30), tz),
                    "text": ORDINARY[n % ORDINARY.len()]}));
            }
        }
        t += 600;
    }
    let wave = Wave {
        server,
        base,
        public,
        seen,
        http,
        now,
        tz,
        _dir: dir,
    };
    wave.post(ordinary).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        wave.seen.lock().unwrap().is_empty(),
        "ordinary traffic raised an alert"
    );
    wave
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scam_wave_is_one_incident_and_one_alert_that_says_why() {
    let w = wave_server("alerts-wave").await;
    let Wave {
        base,
        public,
        seen,
        http,
        now,
        tz,
        ..
    } = &w;
    let (base, public, seen, http, now, tz) = (
        base.clone(),
        public.clone(),
        seen.clone(),
        http.clone(),
        *now,
        *tz,
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
            if let Some(event) = text
                .split("\n\n")
                .find(|e| e.starts_with("event: alert") && e.contains("\"incident\":\"i-"))
            {
                return event.to_owned();
            }
        }
        String::new()
    });

    // The wave: 24 reports over the last two hours, four channels.
    w.post((0..24).map(|i| w.report(i)).collect()).await;
    let sent = Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "no notification within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("wave → robot in {:?}", sent.elapsed());
    let event = tokio::time::timeout(Duration::from_secs(10), wall)
        .await
        .expect("the wall got the alert")
        .unwrap();
    // Both rules had their evaluations: still one message, one alert.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // One incident: every report of the wave, four channels.
    let range: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &minyi::query::rfc3339(now - 7200, tz))
        .append_pair("to", &minyi::query::rfc3339(now + 60, tz))
        .append_pair("topic", "fraud")
        .finish();
    let incidents: Value = http
        .get(format!("{base}/api/v1/incidents?{range}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = incidents["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{incidents}");
    let incident = &list[0];
    assert_eq!(incident["count"], 24, "{incident}");
    assert_eq!(incident["channels"].as_array().unwrap().len(), 4);
    assert_eq!(incident["district"], "丛台区");
    let id = incident["id"].as_str().unwrap();

    // One alert, naming it, with the rest folded in.
    let alerts: Value = http
        .get(format!("{base}/api/v1/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all = alerts["alerts"].as_array().unwrap();
    assert_eq!(all.len(), 1, "one alert for one incident: {alerts:#}");
    let alert = &all[0];
    assert_eq!(alert["rule"], "topic_surge");
    assert_eq!(alert["key"], "fraud");
    assert_eq!(alert["incident"], id);
    let context = &alert["context"];
    assert_eq!(context["incidents"][0]["id"], id);
    assert_eq!(context["districts"][0]["name"], "丛台区");
    assert_eq!(context["districts"][0]["count"], 16);
    assert_eq!(context["districts"][0]["expected"], 0.0);
    assert!(
        context["keywords"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["key"] == "洗钱"),
        "{context}"
    );
    let also: Vec<&str> = context["also"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        also.iter().any(|t| t.starts_with("新热词：")),
        "the emerging terms of the wave folded into the alert: {also:?}"
    );
    let samples = context["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3, "{context}");
    for s in samples {
        assert!(s["id"].as_str().unwrap().starts_with("w-"), "{s}");
        assert!(SCAM.contains(&s["text"].as_str().unwrap()), "{s}");
    }
    let link = context["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{public}/explore?")), "{link}");
    assert!(event.contains(id), "the wall's event names the incident");

    // The robot's one message says all of it.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one message for one incident: {seen:#?}");
    let (path, _, body) = &seen[0];
    assert_eq!(path, "/wecom");
    let content = body["markdown"]["content"].as_str().unwrap();
    println!("{content}");
    assert!(content.len() <= 4096);
    assert!(content.contains("诈骗类诉求激增"), "{content}");
    assert!(content.contains("同一事件 24 条（4个渠道）"), "{content}");
    let title = context["incidents"][0]["title"].as_str().unwrap();
    assert!(content.contains(title), "{content}");
    assert!(content.contains("区县：丛台区 16"), "{content}");
    // The wave's other rules (its new words, and any topic it also
    // spikes) are named on one line, not sent apart.
    assert!(
        content
            .lines()
            .any(|l| l.contains("同一事件另触发：") && l.contains("新热词：")),
        "{content}"
    );
    for s in samples {
        assert!(content.contains(s["id"].as_str().unwrap()), "{content}");
    }
    assert!(
        content.ends_with(&format!("[在研判台查看]({link})")),
        "{content}"
    );

    // The link opens the explorer on the incident's items.
    crate::browser::run_script("alert-link.mjs", &base, &[link]);
    w.server.stop();
}

/// The wave arriving in two parts, the later reports first: the alert
/// fires on the first part, the earlier reports then rename the incident
/// (it is named after its first report), and the alert follows it — one
/// alert, naming the incident that exists, one message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_whose_first_reports_come_late_stays_one_alert() {
    let w = wave_server("alerts-wave-late").await;
    w.post((12..24).map(|i| w.report(i)).collect()).await;
    let sent = Instant::now();
    while w.seen.lock().unwrap().is_empty() {
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "no notification within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first: Value = w.get("/api/v1/alerts").await;
    let named_first = first["alerts"][0]["incident"].as_str().unwrap().to_owned();
    w.post((0..12).map(|i| w.report(i)).collect()).await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    let range: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &minyi::query::rfc3339(w.now - 7200, w.tz))
        .append_pair("topic", "fraud")
        .finish();
    let incidents = w.get(&format!("/api/v1/incidents?{range}")).await;
    let list = incidents["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{incidents}");
    assert_eq!(list[0]["count"], 24);
    let id = list[0]["id"].as_str().unwrap();
    assert_ne!(id, named_first, "the earlier reports renamed the incident");
    let alerts = w.get("/api/v1/alerts").await;
    let all = alerts["alerts"].as_array().unwrap();
    assert_eq!(all.len(), 1, "one alert for one incident: {alerts:#}");
    assert_eq!(all[0]["incident"], id, "the alert follows its incident");
    assert_eq!(all[0]["context"]["incidents"][0]["count"], 24);
    assert!(all[0]["context"]["link"].as_str().unwrap().contains(id));
    let detail = w.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["count"], 24, "the linked incident exists");
    assert_eq!(w.seen.lock().unwrap().len(), 1, "one message");
    w.server.stop();
}
