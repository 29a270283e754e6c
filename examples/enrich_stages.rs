//! Per-stage cost of enrichment (µs per item on the dev set), to see where
//! the time beyond tokenizing goes: `cargo run --release --example enrich_stages`.

use minyi::enrich::*;
use minyi::pipelines::PipelineFiles;
use std::hint::black_box;
use std::time::Instant;
fn main() {
    let files = PipelineFiles::builtin();
    let e = Enricher::builtin(b"k0123456789abcdef").unwrap();
    let texts: Vec<String> = std::fs::read_to_string("tests/data/dev/part1.tsv")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.splitn(4, '\t').nth(3).unwrap().to_owned())
        .collect();
    let n = 200;
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
}
