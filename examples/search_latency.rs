//! Search latency at many stored items: loads ITEMS demo items spread over
//! the last 30 days into a fresh SQLite store in DIR (kept between runs, as
//! `panel_latency` does; the two share a DIR), then asks every search below
//! as an item list (the explorer's first page), a 30-day summary and a
//! 30-day daily series, ROUNDS times, and prints p50/p95 of each next to the
//! same three questions without `q`, measured in the same run: unfiltered
//! (answered from the rollups) and with `has_text=true` (a filter that reads
//! the items, as every search does).
//!
//! `cargo run --release --example search_latency -- DIR [ITEMS] [ROUNDS]`
//!
//! With `http://…` for DIR the store is ClickHouse at that address
//! (database `minyi_bench`, migrated first; target ≤ 500 ms at 10M items).
//! SQLite's target is ≤ 200 ms at 1M items.

use std::sync::Arc;
use std::time::{Duration, Instant};

use minyi::enrich::Enricher;
use minyi::query::{Filters, Interval, Query, search};
use minyi::store::Store;
use minyi::store::sqlite::{QuerySettings, SqliteStore};

#[path = "common/mod.rs"]
mod common;

/// What analysts type: two-character words (most searches), one
/// character, a longer phrase, AND, OR, a word the demo never says, a
/// Latin word, and digits of a masked phone (found nowhere).
const SEARCHES: &[&str] = &[
    "诈骗",
    "骗",
    "被骗了两万",
    "出警 态度",
    "诈骗|骗 民警",
    "民警",
    "锦旗",
    "无人机",
    "app",
    "138",
];

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
}

/// The three questions of one search over the 30 days before `now`
/// (`has_text`: a filter that reads the items, as a search does, where no
/// filter at all is answered from the rollups).
fn questions(q: Vec<Vec<String>>, has_text: bool, now: i64) -> [(&'static str, Query); 3] {
    let filters = Filters {
        q,
        has_text: has_text.then_some(true),
        ..Filters::default()
    }
    .with_range(Some(now - 30 * 86_400), Some(now));
    [
        (
            "list",
            Query::Feedback {
                filters: filters.clone(),
                limit: 50,
                cursor: None,
            },
        ),
        ("summary", Query::Summary(filters.clone())),
        (
            "daily",
            Query::Timeseries {
                filters,
                interval: Interval::D1,
                group_by: None,
            },
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let n: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20);
    let enricher = Arc::new(Enricher::builtin(b"panel-key-0123456789").unwrap());
    let settings = QuerySettings::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = dir.to_string_lossy().into_owned();
    // Opening applies pending migrations: on a store of an older schema
    // this is the upgrade's time.
    let opening = Instant::now();
    let (store, target, chunk): (Box<dyn Store>, f64, usize) = if url.starts_with("http://") {
        let ch = rt.block_on(common::bench_clickhouse(&url, settings));
        (Box::new(ch), 500.0, 100_000)
    } else {
        (
            Box::new(SqliteStore::open(&dir, settings).unwrap()),
            200.0,
            2000,
        )
    };
    eprintln!(
        "opened (migrations applied) in {:.1} s",
        opening.elapsed().as_secs_f64()
    );
    let store = store.as_ref();
    let now = chrono::Utc::now().timestamp();
    let start = Instant::now();
    // Day by day, oldest first: items spread at random over all 30 days
    // make every SQLite transaction touch pages all over the store (at
    // 650k items ~80 items/s on a busy 2-core machine); a day at a time
    // keeps its pages together, as a history import in time order does.
    let mut stored = 0;
    for day in (0..30).rev() {
        let upto = n * (30 - day) / 30;
        stored = rt
            .block_on(minyi::demo::fill_store(
                store,
                &enricher,
                upto,
                now - day as i64 * 86_400,
                86_400,
                chunk,
            ))
            .unwrap();
    }
    eprintln!(
        "{stored} items stored ({:.0} s to load)",
        start.elapsed().as_secs_f64()
    );

    let mut runs: Vec<(String, &'static str, Query, Vec<Duration>, u64)> = Vec::new();
    for (q, has_text) in [("", false), ("", true)]
        .into_iter()
        .chain(SEARCHES.iter().map(|q| (*q, false)))
    {
        let label = match (q, has_text) {
            ("", false) => "(baseline: no filter)".to_owned(),
            ("", true) => "(baseline: has_text)".to_owned(),
            _ => format!("q={q}"),
        };
        for (kind, query) in questions(search::parse(q).unwrap(), has_text, now) {
            runs.push((label.clone(), kind, query, Vec::new(), 0));
        }
    }
    rt.block_on(async {
        for _ in 0..rounds {
            for (_, _, query, times, found) in runs.iter_mut() {
                let t = Instant::now();
                let answer = store.query(query.clone(), now).await.unwrap();
                times.push(t.elapsed());
                if let minyi::query::Answer::Summary(s) = answer {
                    *found = s.received;
                }
            }
        }
    });
    let mut worst: f64 = 0.0;
    for (label, kind, _, mut times, found) in runs {
        let p95 = pct(&mut times, 0.95);
        if !label.starts_with('(') {
            worst = worst.max(p95);
        }
        let found = if kind == "summary" {
            format!("  {found} items")
        } else {
            String::new()
        };
        println!(
            "{:<24} {kind:<8} p50 {:>8.2} ms  p95 {:>8.2} ms{found}",
            label,
            pct(&mut times, 0.5),
            p95
        );
    }
    println!("worst search p95: {worst:.1} ms at {stored} stored items (target ≤ {target} ms)");
    rt.block_on(store.close()).unwrap();
}
