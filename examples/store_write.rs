//! Store write throughput: pre-enriched demo items written in batches of
//! 1,000 straight into the SQLite store (no HTTP, no enrichment), next to
//! the enrichment of the same items on all cores.
//!
//! `cargo run --release --example store_write [-- ITEMS [live|day|now]]`
//! (received over the last minute, a day, or one second); prints the
//! writer thread's CPU per item too. `KEEP=1` leaves the database behind
//! for inspection. `IN_FLIGHT=N`: batches sent before the first answer is
//! awaited (default 8; the writer groups what is waiting into one
//! transaction). `IN_FLIGHT=1` makes every transaction one batch, so
//! instruction counts (callgrind) repeat exactly from run to run.
//! `ORDERED=1` sends the items in `received_at` order (they are generated
//! at random times in the spread).

use std::sync::Arc;
use std::time::Instant;

use minyi::enrich::Enricher;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use minyi::store::{Store, WriteBatch};
use rayon::prelude::*;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let enricher = Arc::new(Enricher::builtin(b"bench-key-0123456789").unwrap());
    // `live`: received within the last minute, as a live feed; `day`: spread
    // over a day, as a backfill (the rollups merge far less); `now`: within
    // one second, as the HTTP load test sends them.
    let spread = match std::env::args().nth(2).as_deref() {
        Some("day") => 86_400,
        Some("now") => 1,
        _ => 60,
    };
    // Received up to now, as live items are (the writer treats items of
    // finished hours differently: see `rollup_folded`).
    let end = chrono::Utc::now().timestamp();
    let values = minyi::demo::sample_values(enricher.gazetteer(), n, end, spread, 7);
    let start = Instant::now();
    let now = enricher.now();
    let mut items: Vec<_> = values
        .par_iter()
        .filter_map(|v| enricher.enrich_value(v, now).ok())
        .collect();
    let enrich = start.elapsed();
    // `ORDERED=1`: sent in `received_at` order, as a history import should.
    if std::env::var_os("ORDERED").is_some() {
        items.sort_by_key(|i| i.received_at);
    }
    let dir = std::env::temp_dir().join(format!("minyi-store-write-{}", std::process::id()));
    let store = SqliteStore::open(&dir, QuerySettings::default()).unwrap();
    let in_flight: usize = std::env::var("IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut writer_cpu = 0.0;
    let start = Instant::now();
    rt.block_on(async {
        let mut pending = Vec::new();
        let mut items = items.into_iter();
        loop {
            let chunk: Vec<_> = items.by_ref().take(1000).collect();
            if chunk.is_empty() {
                break;
            }
            pending.push(tokio::spawn(store.write(WriteBatch {
                items: chunk,
                events: Vec::new(),
            })));
            if pending.len() >= in_flight {
                pending.remove(0).await.unwrap().unwrap();
            }
        }
        for p in pending {
            p.await.unwrap().unwrap();
        }
        writer_cpu = thread_cpu_seconds("minyi-sqlite-wr");
        store.close().await.unwrap();
    });
    let write = start.elapsed();
    let size = std::fs::metadata(dir.join("minyi.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("kept {}", dir.display());
    }
    println!(
        "enrich (all cores): {:>8.0} items/s\nstore write:        {:>8.0} items/s   ({n} items, {:.0} bytes/item on disk)",
        n as f64 / enrich.as_secs_f64(),
        n as f64 / write.as_secs_f64(),
        size as f64 / n as f64
    );
    println!(
        "writer thread CPU:  {:>8.1} µs/item",
        writer_cpu * 1e6 / n as f64
    );
}

/// CPU time (user + system) of this process's threads named `name`, from
/// /proc (Linux), in seconds; 0 where /proc is missing.
fn thread_cpu_seconds(name: &str) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        total += ticks / tick;
    }
    total
}
