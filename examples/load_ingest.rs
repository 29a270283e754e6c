//! Sustained HTTP ingest against a running `minyi serve`, with freshness:
//! CLIENTS threads POST JSONL batches of BATCH demo items (received "now")
//! as fast as the server answers, while one SSE subscriber timestamps each
//! item's `item` event. Prints items/s and freshness (POST sent → item
//! event) percentiles, next to a baseline measured in the same run: the
//! same items enriched in-process on all cores, no HTTP, no store.
//!
//! `cargo run --release --example load_ingest -- http://127.0.0.1:8080 [ITEMS] [CLIENTS] [BATCH]`
//! (`scripts/bench-serve` starts a server and runs this.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minyi::enrich::Enricher;
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let total: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let clients: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(4);
    let batch: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1000);

    // Items and bodies prepared before the clock starts.
    let now = chrono::Utc::now().timestamp();
    let run = format!("{:x}", now);
    let enricher = Enricher::builtin(b"load-key-0123456789").unwrap();
    let mut values = minyi::demo::sample_values(enricher.gazetteer(), total, now, 1, 11);
    for (i, v) in values.iter_mut().enumerate() {
        v["id"] = format!("ld{run}-{}-{i}", i / batch).into();
        v.as_object_mut().unwrap().remove("received_at");
    }

    // Baseline: enrichment alone, all cores, same items.
    let t = Instant::now();
    let ok = values
        .par_iter()
        .filter(|v| enricher.enrich_value(v, enricher.now()).is_ok())
        .count();
    let enrich_rate = ok as f64 / t.elapsed().as_secs_f64();

    let bodies: Vec<String> = values
        .chunks(batch)
        .map(|c| {
            c.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    drop(values);

    // The SSE subscriber: arrival time of each item of this run.
    let arrivals: Arc<Mutex<HashMap<usize, Vec<Instant>>>> = Arc::default();
    let skipped = Arc::new(Mutex::new(0u64));
    {
        let (arrivals, skipped, url) = (
            arrivals.clone(),
            skipped.clone(),
            format!("{base}/api/v1/live"),
        );
        let prefix = format!("\"id\":\"ld{run}-");
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
            let resp = agent.get(&url).call().expect("SSE connect");
            for line in BufReader::new(resp.into_body().into_reader())
                .lines()
                .map_while(Result::ok)
            {
                if let Some(at) = line.find(&prefix) {
                    let rest = &line[at + prefix.len()..];
                    if let Some(b) = rest.split('-').next().and_then(|b| b.parse().ok()) {
                        arrivals
                            .lock()
                            .unwrap()
                            .entry(b)
                            .or_default()
                            .push(Instant::now());
                    }
                } else if line.starts_with("data: {\"items\":") {
                    let n: u64 = line
                        .trim_start_matches("data: {\"items\":")
                        .trim_end_matches('}')
                        .parse()
                        .unwrap_or(0);
                    *skipped.lock().unwrap() += n;
                }
            }
        });
    }
    std::thread::sleep(Duration::from_millis(500));

    let sent: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bodies = Arc::new(bodies);
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (bodies, next, sent, base) =
                (bodies.clone(), next.clone(), sent.clone(), base.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let mut accepted = 0u64;
                loop {
                    let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(b) else { break };
                    sent.lock().unwrap().insert(b, Instant::now());
                    let mut resp = agent
                        .post(&format!("{base}/api/v1/feedback"))
                        .header("content-type", "application/x-ndjson")
                        .send(body.as_str())
                        .expect("POST");
                    let v: serde_json::Value =
                        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
                    accepted += v["accepted"].as_u64().unwrap_or(0);
                }
                accepted
            })
        })
        .collect();
    let accepted: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));

    let sent = sent.lock().unwrap();
    let mut fresh: Vec<f64> = Vec::new();
    for (b, times) in arrivals.lock().unwrap().iter() {
        if let Some(s) = sent.get(b) {
            fresh.extend(times.iter().map(|t| t.duration_since(*s).as_secs_f64()));
        }
    }
    fresh.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        fresh
            .get(((fresh.len() as f64 * p) as usize).min(fresh.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("baseline: enrichment only, in-process, all cores: {enrich_rate:>9.0} items/s");
    println!(
        "HTTP ingest, {clients} clients × JSONL batches of {batch}:   {:>9.0} items/s  ({accepted} accepted in {:.1} s)",
        accepted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "freshness POST → SSE item: p50 {:.3} s, p95 {:.3} s, max {:.3} s  ({} item events seen, {} skipped by the slow subscriber)",
        pct(0.5),
        pct(0.95),
        fresh.last().copied().unwrap_or(f64::NAN),
        fresh.len(),
        skipped.lock().unwrap()
    );
}
