//! Per-stage cost of enrichment (µs per item on the dev set), to see where
//! the time beyond tokenizing goes: `cargo run --release --example enrich_stages`;
//! `enrich_stages profile PASSES` runs `enrich` alone, for perf or callgrind.

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
    // `enrich_stages profile PASSES cut`: bare jieba `cut` alone instead,
    // the baseline for instruction counts (callgrind).
    if profile && std::env::args().nth(3).as_deref() == Some("cut") {
        let jb = jieba_rs::Jieba::new();
        let passes: usize = std::env::args()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        for _ in 0..passes {
            texts.iter().for_each(|x| {
                black_box(jb.cut(x, true));
            });
        }
        return;
    }
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
    time("bare cut", &|x| {
        black_box(jb.cut(x, true));
    });
    time("minyi cut", &|x| {
        black_box(e.tokenizer().cut(x).count());
    });
    time("analyze", &|x| {
        black_box(e.analyze(x));
    });
    time("mask", &|x| {
        black_box(pii::mask(x));
    });
    time("normalize", &|x| {
        black_box(norm.normalize(x));
    });
    let (mut all, mut unknown) = (0, std::collections::BTreeMap::new());
    for x in &texts {
        for t in e.tokenizer().cut(x) {
            all += 1;
            if e.lexicon().get(t).is_none() {
                *unknown.entry(t).or_insert(0) += 1;
            }
        }
    }
    let missing: usize = unknown.values().sum();
    println!(
        "lexicon: {} words; {missing} of {all} tokens described on the fly",
        e.lexicon().len()
    );
    if std::env::var_os("SHOW_UNKNOWN").is_some() {
        println!("{unknown:?}");
    }
    // The rest read the analysed tokens: analyse once, time the stage alone.
    let analysed: Vec<_> = texts.iter().map(|x| (x.as_str(), e.analyze(x))).collect();
    let time_tokens = |name: &str, f: &dyn Fn(&str, &[lexicon::Token])| {
        let t = Instant::now();
        for _ in 0..n {
            for (x, tokens) in &analysed {
                f(x, tokens)
            }
        }
        println!(
            "{name:12} {:8.2} µs/item",
            t.elapsed().as_secs_f64() * 1e6 / (n * texts.len()) as f64
        );
    };
    time_tokens("topics", &|x, t| {
        let scores = e.topics().model().score(t);
        black_box(e.topics().tag(x, t, Default::default(), &scores));
    });
    time_tokens("topic rules", &|x, t| {
        black_box(e.topics().tag_by_rules(x, t, Default::default()));
    });
    time_tokens("topic model", &|_, t| {
        black_box(e.topics().model().score(t));
    });
    let by_model = analysed
        .iter()
        .flat_map(|(x, t)| {
            let scores = e.topics().model().score(t);
            e.topics().tag(x, t, Default::default(), &scores)
        })
        .filter(|tag| tag.evidence.iter().any(|e| e.starts_with("model:")))
        .count();
    println!("topic model: {by_model} tags on {} items", analysed.len());
    time_tokens("gazetteer", &|_, t| {
        black_box(
            e.gazetteer()
                .locate(t.iter().flat_map(|t| t.info.places.iter().copied())),
        );
    });
    time_tokens("keywords", &|_, t| {
        black_box(e.tokenizer().keywords(t));
    });
    let model = sentiment::SentimentModel::from_files(&files).unwrap();
    time_tokens("sentiment", &|x, t| {
        black_box(model.assess(x, t, None));
    });
    let now = e.now();
    let enrich = |x: &str| {
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
    };
    time("enrich", &enrich);
    // `enrich_stages profile PASSES`: only `enrich`, PASSES times over the
    // texts, for perf or callgrind.
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("profile") {
        let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
        for _ in 0..passes {
            texts.iter().for_each(|x| enrich(x));
        }
    }
}
