//! Property tests: enrichment never panics, whatever the input, and what it
//! returns keeps the contract's invariants.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use minyi::enrich::Enricher;
use proptest::prelude::*;
use serde_json::{Value, json};

static ENRICHER: LazyLock<Enricher> =
    LazyLock::new(|| Enricher::builtin(b"property-test-key").unwrap());

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2025-06-01T10:00:00+08:00").unwrap()
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text made of what feedback is made of: CJK, digits in both widths,
/// punctuation, separators, plate provinces, quotes.
fn feedback_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::char::range('\u{4e00}', '\u{9fff}'),
            prop::char::range('0', '9'),
            prop::char::range('０', '９'),
            prop::sample::select(vec![
                '，', '。', '！', '？', ' ', '-', '+', '@', '.', 'X', 'x', '冀', 'D', '“', '”',
                '不', '很', '但', '\n',
            ]),
            any::<char>(),
        ],
        0..200,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn check_invariants(item: &minyi::model::EnrichedItem) {
    assert!(
        item.sentiment.score >= -1.0 && item.sentiment.score <= 1.0,
        "{}",
        item.sentiment.score
    );
    assert!(!item.topics.is_empty());
    assert_eq!(item.topics.len(), item.topic_evidence.len());
    assert!(!item.id.is_empty() && item.id.len() <= 128);
    serde_json::to_string(item).expect("serializes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_json(v in json_value()) {
        if let Ok(item) = ENRICHER.enrich_value(&v, now()) {
            check_invariants(&item);
        }
    }

    #[test]
    fn never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = ENRICHER.enrich_bytes(&bytes, now());
    }

    #[test]
    fn any_text_on_every_channel(text in feedback_text(), channel in prop::sample::select(vec![
        "hotline_12345", "sms_revisit", "phone_revisit", "window_rating", "wechat",
    ]), rating in prop::option::of(1u8..=3)) {
        let v = json!({"channel": channel, "text": text, "rating": rating, "contact": text});
        if let Ok(item) = ENRICHER.enrich_value(&v, now()) {
            check_invariants(&item);
            // The contact is replaced by its hash, never carried along.
            let out = serde_json::to_value(&item).unwrap();
            prop_assert!(out.get("contact").is_none());
            // A contact that shows nothing (white space, control characters,
            // zero-width marks: "\u{7f}") is no contact.
            let shows = text.chars().any(|c| {
                !c.is_whitespace()
                    && !c.is_control()
                    && !matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
            });
            if shows {
                prop_assert_eq!(out["contact_hash"].as_str().map(str::len), Some(64));
            }
        }
    }

    #[test]
    fn mobile_numbers_never_survive(prefix in feedback_text(), n in 0u64..1_000_000_000, second in 3u8..=9, suffix in "[\u{4e00}-\u{9fff}]{0,10}") {
        // A non-digit boundary on each side, so the number is a whole run.
        let phone = format!("1{second}{n:09}");
        let text = format!("{prefix}电话{phone}。{suffix}");
        let item = ENRICHER.enrich_value(&json!({"channel": "wechat", "text": text}), now()).unwrap();
        prop_assert!(!item.text.contains(&phone), "{}", item.text);
        prop_assert!(!serde_json::to_string(&item).unwrap().contains(&phone));
    }
}

/// Reports built of a few places and problems (so that many link) and any
/// text, each at a minute within two days.
fn reports() -> impl Strategy<Value = Vec<(u32, String)>> {
    const PARTS: &[&str] = &[
        "人民路",
        "中华大街",
        "交叉口",
        "阳光小区",
        "邯郸东站",
        "红绿灯坏了",
        "信号灯不亮",
        "广场舞噪音扰民",
        "黑车拉客",
        "冒充公安说涉嫌洗钱",
        "转到安全账户",
        "快递里有毒品",
        "井盖丢了",
        "胜利桥派出所",
        "系统故障办不了身份证",
        "，",
        "。",
    ];
    prop::collection::vec(
        (
            0u32..2880,
            prop::collection::vec(prop::sample::select(PARTS), 1..6),
            prop_oneof![Just(String::new()), feedback_text()],
        )
            .prop_map(|(minute, parts, tail)| (minute, parts.concat() + &tail)),
        1..14,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Incidents are a function of the set of items: fed in any order, the
    /// assigner ends where the items in time order end, and never panics.
    #[test]
    fn incidents_do_not_depend_on_arrival_order(reports in reports(), seed in any::<u64>()) {
        use minyi::incident::{Assigner, Matcher, Signature, assign_all};
        static WORDS: LazyLock<minyi::incident::Vocabulary> = LazyLock::new(|| {
            minyi::incident::Vocabulary::new(std::sync::Arc::new(
                Enricher::builtin(b"property-test-key").unwrap(),
            ))
        });
        let start = now() - chrono::Duration::days(3);
        let sigs: Vec<Signature> = reports
            .iter()
            .enumerate()
            .filter_map(|(i, (minute, text))| {
                let at = start + chrono::Duration::minutes(i64::from(*minute));
                let v = json!({"id": format!("r{i}"), "channel": "wechat",
                               "received_at": at.to_rfc3339(), "text": text});
                WORDS.enricher().enrich_value(&v, now()).ok().map(|item| Signature::of(&item, &WORDS))
            })
            .collect();
        let matcher = Matcher::new(minyi::incident::DEFAULT_WINDOW_HOURS);
        let expected: std::collections::BTreeMap<String, Option<String>> =
            assign_all(&matcher, sigs.clone()).into_iter().collect();
        let mut order = sigs.clone();
        fastrand::Rng::with_seed(seed).shuffle(&mut order);
        let mut assigner = Assigner::new(matcher);
        let mut got: std::collections::BTreeMap<String, Option<String>> =
            sigs.iter().map(|s| (s.id.clone(), None)).collect();
        for sig in order {
            for change in assigner.add(sig) {
                got.insert(change.item_id, change.incident_id);
            }
        }
        prop_assert_eq!(got, expected);
    }
}
