//! Wall-screen panel query latency at many stored items: loads ITEMS demo
//! items spread over the last 30 days into a fresh SQLite store in DIR
//! (kept between runs: a second run reuses it), then runs every distinct
//! query of the shipped dashboards ROUNDS times and prints p50/p95 per
//! panel, next to the baseline of the same run: the cheapest round trip
//! through the store (the newest item).
//!
//! `cargo run --release --example panel_latency -- DIR [ITEMS] [ROUNDS]`
//!
//! With `http://…` for DIR the store is ClickHouse at that address
//! (database `minyi_bench`, migrated first; target ≤ 200 ms at 10M rows).

use std::sync::Arc;
use std::time::{Duration, Instant};

use minyi::dashboards;
use minyi::enrich::Enricher;
use minyi::query::{Filters, Query, Vocabulary};
use minyi::store::Store;
use minyi::store::sqlite::{QuerySettings, SqliteStore};

#[path = "common/mod.rs"]
mod common;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let n: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(30);
    let tz = minyi::config::default_timezone();
    let enricher = Arc::new(Enricher::builtin(b"panel-key-0123456789").unwrap());
    let vocab = Vocabulary::from_enricher(&enricher);
    let settings = QuerySettings::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = dir.to_string_lossy().into_owned();
    // ClickHouse wants few large inserts (every insert is a part to merge).
    let (store, target, chunk): (Box<dyn Store>, f64, usize) = if url.starts_with("http://") {
        let ch = rt.block_on(common::bench_clickhouse(&url, settings));
        (Box::new(ch), 200.0, 100_000)
    } else {
        (
            Box::new(SqliteStore::open(&dir, settings).unwrap()),
            50.0,
            2000,
        )
    };
    let store = store.as_ref();
    let now = chrono::Utc::now().timestamp();

    let start = Instant::now();
    let before = rt
        .block_on(minyi::demo::fill_store(
            store,
            &enricher,
            0,
            now,
            30 * 86_400,
            chunk,
        ))
        .unwrap();
    if before < n {
        rt.block_on(minyi::demo::fill_store(
            store,
            &enricher,
            n,
            now,
            30 * 86_400,
            chunk,
        ))
        .unwrap();
        eprintln!("loaded in {:.0} s", start.elapsed().as_secs_f64());
    }

    let dashboards = dashboards::load(std::path::Path::new("dashboards"), &vocab, tz).unwrap();
    let mut queries: Vec<(String, Query)> = Vec::new();
    for d in &dashboards {
        for p in &d.panels {
            let (q, prev) = p.query.queries(&vocab, now, tz).unwrap();
            for (suffix, q) in [("", Some(q)), (" (previous)", prev)] {
                if let Some(q) = q
                    && !queries.iter().any(|(_, x)| *x == q)
                {
                    queries.push((format!("{}/{}{suffix}", d.name, p.id), q));
                }
            }
        }
    }
    let baseline = Query::Feedback {
        filters: Filters::default(),
        limit: 1,
        cursor: None,
    };
    let mut base_times = Vec::new();
    let mut results: Vec<(String, Vec<Duration>)> = queries
        .iter()
        .map(|(n, _)| (n.clone(), Vec::new()))
        .collect();
    rt.block_on(async {
        for _ in 0..rounds {
            let t = Instant::now();
            store.query(baseline.clone(), now).await.unwrap();
            base_times.push(t.elapsed());
            for (i, (_, q)) in queries.iter().enumerate() {
                let t = Instant::now();
                store.query(q.clone(), now).await.unwrap();
                results[i].1.push(t.elapsed());
            }
        }
    });
    println!(
        "baseline (newest item, one row):            p50 {:>7.2} ms  p95 {:>7.2} ms",
        pct(&mut base_times, 0.5),
        pct(&mut base_times, 0.95)
    );
    let mut worst: f64 = 0.0;
    for (name, mut t) in results {
        let p95 = pct(&mut t, 0.95);
        worst = worst.max(p95);
        println!(
            "{name:<44} p50 {:>7.2} ms  p95 {:>7.2} ms",
            pct(&mut t, 0.5),
            p95
        );
    }
    println!("worst panel p95: {worst:.1} ms at {n} stored items (target ≤ {target} ms)");
    rt.block_on(store.close()).unwrap();
}
