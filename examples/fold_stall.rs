//! Ingest latency across an hour boundary on SQLite: once an hour is
//! over, the writer folds its minute rows into the hourly tables. A store
//! holds ITEMS items of one hour; its clock then moves past the hour's end
//! while a live feed writes batches of 100 items, one after another, and
//! each batch's latency (sent → stored) is recorded for the seconds before
//! and after the boundary. Printed for the fold a minute at a time between
//! write groups (the store's default) next to the baseline of the same run,
//! the fold of the whole hour in one transaction (as the store did before).
//!
//! `cargo run --release --example fold_stall -- [ITEMS] [SECONDS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use minyi::enrich::Enricher;
use minyi::model::EnrichedItem;
use minyi::store::sqlite::{Folding, QuerySettings, SqliteStore};
use minyi::store::{Store, WriteBatch};
use rayon::prelude::*;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
}

fn enrich(enricher: &Enricher, n: usize, end: i64, span: i64, seed: u64) -> Vec<EnrichedItem> {
    let at = enricher.now();
    minyi::demo::sample_values(enricher.gazetteer(), n, end, span, seed)
        .par_iter()
        .filter_map(|v| enricher.enrich_value(v, at).ok())
        .collect()
}

/// Latencies of the live feed's batches (before the boundary, after it,
/// in the 5 s after it), and how long the fold took to finish after the
/// boundary.
async fn run(
    step_secs: i64,
    hour: i64,
    history: &[EnrichedItem],
    live: &[EnrichedItem],
    seconds: f64,
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>, f64) {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path(), QuerySettings::default())
        .unwrap()
        .close()
        .await
        .unwrap();
    // The hours before `hour` are folded; `hour` is not over yet.
    let db = dir.path().join("minyi.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE rollup_folded SET through = ?1 WHERE rollup = 'hourly'",
            [hour - 3600],
        )
        .unwrap();
    let clock = Arc::new(AtomicI64::new(hour + 1800));
    let store = SqliteStore::open_with(
        dir.path(),
        QuerySettings::default(),
        Folding {
            step_secs,
            clock: {
                let clock = clock.clone();
                Arc::new(move || clock.load(Relaxed))
            },
            ..Folding::default()
        },
    )
    .unwrap();
    for chunk in history.chunks(1000) {
        store
            .write(WriteBatch {
                items: chunk.to_vec(),
                events: Vec::new(),
            })
            .await
            .unwrap();
    }
    let folded = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT through FROM rollup_folded WHERE rollup = 'hourly'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let (mut before, mut after, mut soon) = (Vec::new(), Vec::new(), Vec::new());
    let mut fold_done = f64::NAN;
    let start = Instant::now();
    let mut boundary = None;
    for (i, chunk) in live.chunks(100).cycle().enumerate() {
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed > seconds {
            break;
        }
        if boundary.is_none() && elapsed > seconds / 4.0 {
            clock.store(hour + 3600 + 1, Relaxed);
            boundary = Some(Instant::now());
        }
        // Fresh ids: every batch stores new items.
        let items: Vec<EnrichedItem> = chunk
            .iter()
            .map(|it| {
                let mut it = it.clone();
                it.id = format!("{}-{i}", it.id);
                it
            })
            .collect();
        let t = Instant::now();
        store
            .write(WriteBatch {
                items,
                events: Vec::new(),
            })
            .await
            .unwrap();
        let took = t.elapsed();
        match boundary {
            None => before.push(took),
            Some(b) => {
                after.push(took);
                if b.elapsed() < Duration::from_secs(5) {
                    soon.push(took);
                }
                if fold_done.is_nan() && i % 10 == 0 && folded(&db) == hour {
                    fold_done = b.elapsed().as_secs_f64();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.close().await.unwrap();
    (before, after, soon, fold_done)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    let seconds: f64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(40.0);
    let enricher = Arc::new(Enricher::builtin(b"fold-key-0123456789").unwrap());
    let hour = (chrono::Utc::now().timestamp() / 3600 - 3) * 3600;
    let t = Instant::now();
    let history = enrich(&enricher, n, hour + 3600, 3600, 1);
    let live = enrich(&enricher, 2000, hour + 7200, 3600, 2);
    eprintln!(
        "{} items of one hour enriched in {:.1} s",
        history.len(),
        t.elapsed().as_secs_f64()
    );
    for (label, step) in [
        ("baseline: the hour in one transaction", 3600),
        ("a minute at a time (default)", 60),
    ] {
        let (mut before, mut after, mut soon, done) =
            run(step, hour, &history, &live, seconds).await;
        println!(
            "{label:<38} before the boundary p50 {:>6.1} p99 {:>6.1} ms | 5 s after: p99 {:>7.1} ms ({} batches) | after: p50 {:>6.1} p99 {:>6.1} max {:>7.1} ms | hour folded {:.1} s after the boundary",
            pct(&mut before, 0.5),
            pct(&mut before, 0.99),
            pct(&mut soon, 0.99),
            soon.len(),
            pct(&mut after, 0.5),
            pct(&mut after, 0.99),
            pct(&mut after, 1.0),
            done,
        );
    }
}
