//! Per-stage cost of enrichment (µs per item on the dev set), to see where
//! the time beyond tokenizing goes: `cargo run --release --example enrich_stages`.

use minyi::enrich::*;
use minyi::pipelines::PipelineFiles;
use std::hint::black_box;
use std::time::Instant;
fn main() {
    let files = PipelineFiles::builtin();
    let e = Enricher::builtin(b"k0123456789abcdef").unwrap();
    let mut texts: Vec<String> = Vec::new();
    for part in 1..=4 {
        let file = std::fs::read_to_string(format!("tests/data/dev/part{part}.tsv")).unwrap();
        texts.extend(
            file.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.splitn(4, '\t').nth(3))
                .map(str::to_owned),
        );
    }
    let profile = std::env::args().nth(1).as_deref() == Some("profile");
    let n = if profile { 1 } else { 200 };
    let time = |name: &str, f: &dyn Fn(&str)| {
        let t = Instant::now();
        for _ in 0..n {
            for x in &texts {
                f(x)
            }
        }
        println!(
            "{name:12} {:8.2} µs/item",
            t.elapsed().as_secs_f64() * 1e6 / (n * texts.len()) as f64
        );
    };
    let jb = jieba_rs::Jieba::new();
    let norm = normalize::Normalizer::from_files(&files).unwrap();
    let model = sentiment::SentimentModel::from_files(&files).unwrap();
    time("bare cut", &|x| {
        black_box(jb.cut(x, true));
    });
    time("minyi cut", &|x| {
        black_box(e.tokenizer().cut(x));
    });
    time("mask", &|x| {
        black_box(pii::mask(x));
    });
    time("normalize", &|x| {
        black_box(norm.normalize(x));
    });
    time("topics", &|x| {
        black_box(e.topics().tag(x));
    });
    time("gazetteer", &|x| {
        black_box(e.gazetteer().locate(x));
    });
    time("content+kw", &|x| {
        let t = e.tokenizer().cut(x);
        let c = e.tokenizer().content(&t);
        black_box(e.tokenizer().keywords(&c));
    });
    time("sentiment", &|x| {
        let t = e.tokenizer().cut(x);
        black_box(model.assess(x, &t, None));
    });
    let now = e.now();
    time("enrich", &|x| {
        let raw = minyi::model::RawFeedback {
            id: None,
            channel: "hotline_12345".into(),
            received_at: None,
            text: x.to_owned(),
            rating: None,
            district: None,
            unit: None,
            case_ref: None,
            contact: None,
        };
        black_box(e.enrich(raw, now).unwrap());
    });
    // `enrich_stages profile PASSES`: only `enrich`, PASSES times over the
    // texts, for perf or callgrind.
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("profile") {
        let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
        for _ in 0..passes {
            for x in &texts {
                let raw = minyi::model::RawFeedback {
                    id: None,
                    channel: "hotline_12345".into(),
                    received_at: None,
                    text: x.clone(),
                    rating: None,
                    district: None,
                    unit: None,
                    case_ref: None,
                    contact: None,
                };
                black_box(e.enrich(raw, now).unwrap());
            }
        }
    }
}
