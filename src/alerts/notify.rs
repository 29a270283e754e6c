//! Delivery of alert notifications to webhooks: generic JSON, WeCom robot
//! (markdown), DingTalk robot (signed: HMAC-SHA256 of "timestamp\nsecret"
//! keyed with the secret), Feishu robot (signed: HMAC-SHA256 with key
//! "timestamp\nsecret" over nothing).
//!
//! Each target has its own bounded queue and worker task, a rate limit
//! (20 per minute for WeCom and DingTalk by default, their documented
//! limit), retries with backoff and a size limit per message. A failing
//! or slow target is logged and counted; it never blocks the engine, the
//! other targets, or ingest (a full queue drops the message and counts it).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::config::{TargetConfig, TargetKind};
use crate::metrics::Metrics;

/// One message for one target: a title, markdown-ish lines and a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub title: String,
    pub lines: Vec<String>,
    /// The explorer's view of the (first) alert: an absolute address, kept
    /// whole whatever the size limit cuts from the lines.
    pub link: Option<String>,
    /// The alerts as JSON, for generic webhooks.
    pub alerts: Value,
}

/// Text from outside (what a citizen wrote, a word of it) made inert in a
/// robot's message: one line, and the characters Markdown and the robots'
/// mentions (`<@all>`) act on replaced by their full-width forms, which
/// read the same. A sample can then neither add a heading nor a link nor
/// call everyone in the group.
pub fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            '[' => '［',
            ']' => '］',
            '(' => '（',
            ')' => '）',
            '<' => '＜',
            '>' => '＞',
            '*' => '＊',
            '_' => '＿',
            '#' => '＃',
            '`' => '｀',
            '|' => '｜',
            '!' => '！',
            '\\' => '＼',
            '~' => '～',
            '@' => '＠',
            c => c,
        })
        .collect()
}

/// Bytes of the text part each robot accepts (WeCom markdown 4096; DingTalk
/// and Feishu allow more, kept modest for phones).
fn size_limit(kind: TargetKind) -> usize {
    match kind {
        TargetKind::Wecom => 4000,
        TargetKind::Dingtalk | TargetKind::Feishu => 8000,
        TargetKind::Webhook => 64_000,
    }
}

/// Cuts text to at most `max` bytes on a character boundary, marking the cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's signature for a millisecond timestamp.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_b64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    )
}

/// Feishu's signature for a second timestamp.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    hmac_b64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// The request for a message: (url, JSON body).
pub fn request(target: &TargetConfig, m: &Message, now_ms: i64) -> (String, Value) {
    let link = match (&m.link, target.kind) {
        (None, _) => String::new(),
        (Some(u), TargetKind::Wecom | TargetKind::Dingtalk) => format!("\n[在研判台查看]({u})"),
        (Some(u), TargetKind::Feishu | TargetKind::Webhook) => format!("\n研判台：{u}"),
    };
    let budget = size_limit(target.kind).saturating_sub(link.len());
    let text = truncate(&m.lines.join("\n"), budget) + &link;
    match target.kind {
        TargetKind::Webhook => (
            target.url.clone(),
            json!({"title": m.title, "text": text, "link": m.link, "alerts": m.alerts}),
        ),
        TargetKind::Wecom => (
            target.url.clone(),
            json!({"msgtype": "markdown", "markdown": {"content": format!("**{}**\n{text}", m.title)}}),
        ),
        TargetKind::Dingtalk => {
            let mut url = target.url.clone();
            if let Some(secret) = &target.secret {
                let sign = dingtalk_sign(secret, now_ms);
                let sign: String = form_urlencoded::byte_serialize(sign.as_bytes()).collect();
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("timestamp={now_ms}&sign={sign}"));
            }
            (
                url,
                json!({"msgtype": "markdown", "markdown": {"title": m.title, "text": format!("### {}\n{text}", m.title)}}),
            )
        }
        TargetKind::Feishu => {
            let mut body =
                json!({"msg_type": "text", "content": {"text": format!("{}\n{text}", m.title)}});
            if let Some(secret) = &target.secret {
                let ts = now_ms / 1000;
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(feishu_sign(secret, ts));
            }
            (target.url.clone(), body)
        }
    }
}

/// The queues of all targets.
pub struct Notifier {
    queues: Vec<(String, mpsc::Sender<Message>)>,
    metrics: Arc<Metrics>,
}

/// Messages waiting per target before new ones are dropped.
const QUEUE: usize = 256;

impl Notifier {
    /// Starts one worker per target.
    pub fn start(targets: &[TargetConfig], metrics: Arc<Metrics>) -> Notifier {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a TLS client builds");
        let queues = targets
            .iter()
            .map(|t| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(worker(t.clone(), rx, client.clone(), metrics.clone()));
                (t.name.clone(), tx)
            })
            .collect();
        Notifier { queues, metrics }
    }

    /// Queues whose messages the caller reads instead of a worker sending
    /// them (tests of who gets what, on paused time).
    #[cfg(test)]
    pub fn channels(
        names: &[&str],
        metrics: Arc<Metrics>,
    ) -> (Notifier, Vec<mpsc::Receiver<Message>>) {
        let (queues, receivers) = names
            .iter()
            .map(|n| {
                let (tx, rx) = mpsc::channel(QUEUE);
                ((n.to_string(), tx), rx)
            })
            .unzip();
        (Notifier { queues, metrics }, receivers)
    }

    /// Queues a message for a target; never waits.
    pub fn send(&self, target: &str, message: Message) {
        let Some((_, tx)) = self.queues.iter().find(|(n, _)| n == target) else {
            return;
        };
        if tx.try_send(message).is_err() {
            self.metrics.webhook_failures.fetch_add(1, Relaxed);
            tracing::warn!("alert target {target}: queue full, message dropped");
        }
    }
}

async fn worker(
    target: TargetConfig,
    mut rx: mpsc::Receiver<Message>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
) {
    let per_minute = target.per_minute.unwrap_or(match target.kind {
        TargetKind::Wecom | TargetKind::Dingtalk => 20,
        _ => 60,
    }) as usize;
    let mut sent: VecDeque<Instant> = VecDeque::new();
    while let Some(message) = rx.recv().await {
        // Rate limit: at most `per_minute` in any minute.
        while sent.len() >= per_minute {
            let oldest = sent[0];
            let wait = Duration::from_secs(60).saturating_sub(oldest.elapsed());
            if wait.is_zero() {
                sent.pop_front();
            } else {
                tokio::time::sleep(wait).await;
            }
        }
        let mut delay = Duration::from_secs(1);
        let mut delivered = false;
        for attempt in 1..=4 {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let (url, body) = request(&target, &message, now_ms);
            let outcome = client.post(&url).json(&body).send().await;
            match outcome {
                Ok(r) if r.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(r) => tracing::warn!(
                    "alert target {}: HTTP {} (attempt {attempt})",
                    target.name,
                    r.status().as_u16()
                ),
                Err(e) => tracing::warn!("alert target {}: {e} (attempt {attempt})", target.name),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        sent.push_back(Instant::now());
        if delivered {
            metrics.webhook_sent.fetch_add(1, Relaxed);
        } else {
            metrics.webhook_failures.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: TargetKind, secret: Option<&str>) -> TargetConfig {
        TargetConfig {
            name: "t".into(),
            kind,
            url: "https://robot.example/send?access_token=abc".into(),
            secret: secret.map(str::to_owned),
            per_minute: None,
        }
    }

    fn message() -> Message {
        Message {
            title: "民意预警".into(),
            lines: vec!["丛台区诉求量异常上升".into()],
            link: None,
            alerts: json!([]),
        }
    }

    #[test]
    fn dingtalk_signature_matches_the_documented_algorithm() {
        // Python from DingTalk's docs, run with this secret and timestamp:
        // base64(hmac_sha256(secret, f"{ts}\n{secret}"))
        let s = dingtalk_sign("SEC000", 1_700_000_000_000);
        let mut mac = HmacSha256::new_from_slice(b"SEC000").unwrap();
        mac.update(b"1700000000000\nSEC000");
        assert_eq!(
            s,
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        let (url, body) = request(
            &target(TargetKind::Dingtalk, Some("SEC000")),
            &message(),
            1_700_000_000_000,
        );
        let prefix = "https://robot.example/send?access_token=abc&timestamp=1700000000000&sign=";
        assert!(url.starts_with(prefix), "{url}");
        let sent = &url[prefix.len()..];
        assert!(
            !sent.contains(['+', '/', '=']),
            "the sign is URL-encoded: {sent}"
        );
        let decoded: String = form_urlencoded::parse(format!("s={sent}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert_eq!(decoded, s);
        assert_eq!(body["msgtype"], "markdown");
    }

    #[test]
    fn feishu_signature_and_body() {
        let (_, body) = request(
            &target(TargetKind::Feishu, Some("fs")),
            &message(),
            1_700_000_000_123,
        );
        assert_eq!(body["timestamp"], "1700000000");
        let mut mac = HmacSha256::new_from_slice(b"1700000000\nfs").unwrap();
        mac.update(b"");
        assert_eq!(
            body["sign"],
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert!(body["content"]["text"].as_str().unwrap().contains("丛台区"));
    }

    #[test]
    fn outside_text_cannot_act_in_markdown() {
        let evil = "已处理\n## 【紧急】\n[在研判台查看](http://evil.example) <@all> **忽略**";
        let p = plain(evil);
        assert!(
            !p.contains(['\n', '[', ']', '(', ')', '<', '>', '*', '#', '@']),
            "{p}"
        );
        assert_eq!(p.chars().count(), evil.chars().count());
        assert_eq!(plain("民警态度很好，点赞"), "民警态度很好，点赞");
    }

    #[test]
    fn wecom_messages_respect_the_size_limit() {
        let mut m = message();
        m.lines = vec!["长".repeat(3000)];
        let (_, body) = request(&target(TargetKind::Wecom, None), &m, 0);
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.len() <= 4096, "{}", content.len());
        assert!(content.ends_with('…'));
        // The link survives the cut, whole, on every robot.
        let link =
            "https://minyi.example/explore?from=2025-06-01T10%3A00%3A00%2B08%3A00&topic=fraud";
        m.link = Some(link.into());
        let (_, body) = request(&target(TargetKind::Wecom, None), &m, 0);
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.len() <= 4096, "{}", content.len());
        assert!(
            content.ends_with(&format!("…\n[在研判台查看]({link})")),
            "{content}"
        );
        let (_, body) = request(&target(TargetKind::Dingtalk, None), &m, 0);
        assert!(
            body["markdown"]["text"]
                .as_str()
                .unwrap()
                .ends_with(&format!("({link})"))
        );
        let (_, body) = request(&target(TargetKind::Feishu, None), &m, 0);
        assert!(body["content"]["text"].as_str().unwrap().ends_with(link));
        let (_, body) = request(&target(TargetKind::Webhook, None), &m, 0);
        assert_eq!(body["link"], link);
    }
}
