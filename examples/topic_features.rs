//! What the topic model is trained on: each labelled item of a split as
//! the enricher reads it, one tab-separated line each — channel, the
//! labelled topics, the topic its channel's revisits rate (`-`: none), the
//! topics of the rules alone (no model, no revisit rule), the normalised
//! text, the content tokens (space-separated) and every token (separated
//! by U+0001: a token may be white space), then the labelled sentiment
//! (p, n, 0), the rating read (0: none), the sentiment lexicon's score of
//! the text alone, the enricher's sentiment label, and whether its topics
//! make a neutral reading a complaint (1 or 0), the enricher's topics that
//! are not the model's guesses alone ([`minyi::model::TopicTag::by_model_alone`]), and
//! whether the lexicon reads the text as asking (1 or 0: the model is not
//! asked).
//! `scripts/train-topics`
//! runs it on the dev split: `cargo run --example topic_features -- dev`.

use minyi::enrich::Enricher;
use serde_json::json;

fn main() {
    let split = std::env::args().nth(1).unwrap_or_else(|| "dev".to_owned());
    let dir = format!("{}/tests/data/{split}", env!("CARGO_MANIFEST_DIR"));
    let e = Enricher::builtin(b"topic-features-key").unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-01T10:00:00+08:00").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{dir}: {err}"))
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
        .collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let cols: Vec<&str> = line.splitn(4, '\t').collect();
            if line.starts_with('#') || cols.len() != 4 {
                continue;
            }
            let (channel, label, topics, text) = (cols[0], cols[1], cols[2], cols[3]);
            let item = e
                .enrich_value(&json!({"channel": channel, "text": text}), now)
                .unwrap();
            let normalized = e.normalize(&item.text);
            let rules = e.rule_topics(&item);
            let rates = e
                .channels()
                .find(|c| c.code == channel)
                .and_then(|c| c.rates.clone())
                .unwrap_or_else(|| "-".to_owned());
            let all: Vec<&str> = e.analyze(&normalized).iter().map(|t| t.text).collect();
            let reading = e.lexicon_reading(&item);
            println!(
                "{channel}\t{topics}\t{rates}\t{}\t{}\t{}\t{}\t{label}\t{}\t{:.4}\t{}\t{}\t{}\t{}",
                rules.join(" "),
                normalized.replace(['\t', '\n'], " "),
                item.tokens.join(" "),
                all.join("\u{1}").replace(['\t', '\n'], " "),
                item.rating.map_or(0, |r| r.number()),
                reading.score,
                item.sentiment.label.as_str(),
                u8::from(e.reported_complaint(&item)),
                item.topic_evidence
                    .iter()
                    .filter(|t| !t.by_model_alone())
                    .map(|t| t.code.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                u8::from(reading.asks),
            );
        }
    }
}
