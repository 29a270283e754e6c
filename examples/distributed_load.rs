//! Load for the distributed mode (`scripts/bench-distributed` runs it):
//!
//! - `distributed_load gen N` — N distinct demo items as JSONL on stdout,
//!   received over the last day (the input of the throughput run).
//! - `distributed_load fresh BROKERS API RATE SECONDS` — produces RATE
//!   items/s of background load into Kafka for SECONDS, with a marker item
//!   every 200 ms, and times each marker from its produce call to its `item`
//!   event on `API/api/v1/live` (the API follows ClickHouse): freshness p50 /
//!   p95 next to the produce acknowledgement time of the same markers.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minyi::enrich::Enricher;
use rdkafka::producer::FutureRecord;
use rustc_hash::FxHashMap as HashMap;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let enricher = Enricher::builtin(b"bench-key-0123456789").unwrap();
    match args.get(1).map(String::as_str) {
        Some("gen") => {
            let n: usize = args[2].parse().unwrap();
            let end = enricher.now().timestamp();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut done = 0;
            while done < n {
                let m = 100_000.min(n - done);
                let values = minyi::demo::sample_values(
                    enricher.gazetteer(),
                    m,
                    end,
                    86_400,
                    done as u64 + 1,
                );
                for (i, mut v) in values.into_iter().enumerate() {
                    v["id"] = format!("bench-{}", done + i).into();
                    serde_json::to_writer(&mut out, &v).unwrap();
                    out.write_all(b"\n").unwrap();
                }
                done += m;
            }
        }
        Some("fresh") => fresh(
            &enricher,
            &args[2],
            &args[3],
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        ),
        _ => panic!("usage: distributed_load gen N | fresh BROKERS API RATE SECONDS"),
    }
}

fn fresh(enricher: &Enricher, brokers: &str, api: &str, rate: f64, seconds: u64) {
    // Marker id → when it was handed to the producer.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    {
        let (sent, latencies) = (sent.clone(), latencies.clone());
        let url = format!("{api}/api/v1/live");
        std::thread::spawn(move || {
            let resp = ureq::get(&url).call().unwrap();
            let reader = BufReader::new(resp.into_body().into_reader());
            for line in reader.lines().map_while(Result::ok) {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let Some(at) = data.find("\"id\":\"mark-") else {
                    continue;
                };
                let id: String = data[at + 6..].chars().take_while(|c| *c != '"').collect();
                if let Some(t) = sent.lock().unwrap().remove(&id) {
                    latencies.lock().unwrap().push(t.elapsed().as_secs_f64());
                }
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let producer = minyi::kafka::producer(brokers).unwrap();
    let background = minyi::demo::sample_values(
        enricher.gazetteer(),
        200_000,
        enricher.now().timestamp(),
        60,
        99,
    );
    let mut acks = Vec::new();
    rt.block_on(async {
        let start = Instant::now();
        let mut n = 0usize;
        let mut marks = 0usize;
        let mut inflight = Vec::new();
        while start.elapsed() < Duration::from_secs(seconds) {
            let due = (start.elapsed().as_secs_f64() * rate) as usize;
            while n < due {
                let mut v = background[n % background.len()].clone();
                v["id"] = format!("bg-{n}").into();
                v["received_at"] = enricher.now().to_rfc3339().into();
                let bytes = serde_json::to_vec(&v).unwrap();
                let r =
                    FutureRecord::<String, [u8]>::to(minyi::kafka::FEEDBACK_TOPIC).payload(&bytes);
                inflight.push(minyi::kafka::enqueue(&producer, r).await.unwrap());
                n += 1;
            }
            if start.elapsed().as_millis() as usize / 200 >= marks {
                let id = format!("mark-{marks}");
                let v = serde_json::json!({
                    "id": id, "channel": "wechat", "text": "派出所出警及时，民警态度很好",
                    "received_at": enricher.now().to_rfc3339(),
                });
                let bytes = serde_json::to_vec(&v).unwrap();
                let t = Instant::now();
                sent.lock().unwrap().insert(id, t);
                let r =
                    FutureRecord::<String, [u8]>::to(minyi::kafka::FEEDBACK_TOPIC).payload(&bytes);
                let ack = minyi::kafka::enqueue(&producer, r).await.unwrap();
                inflight.push(ack);
                marks += 1;
            }
            if inflight.len() > 5000 {
                let t = Instant::now();
                minyi::kafka::settle(&mut inflight).await.unwrap();
                acks.push(t.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        minyi::kafka::settle(&mut inflight).await.unwrap();
        eprintln!("produced {n} background items and {marks} markers in {seconds} s");
    });
    std::thread::sleep(Duration::from_secs(5));
    let mut l = latencies.lock().unwrap().clone();
    let lost = sent.lock().unwrap().len();
    assert!(!l.is_empty(), "no marker came back over SSE");
    println!(
        "freshness produce → API live item at {rate} items/s background: p50 {:.2} s, p95 {:.2} s, max {:.2} s over {} markers ({lost} not seen) (target p95 ≤ 2 s)",
        pct(&mut l, 0.5),
        pct(&mut l, 0.95),
        pct(&mut l, 1.0),
        l.len()
    );
    if !acks.is_empty() {
        println!(
            "baseline: broker acknowledgement of 5,000 produced messages p50 {:.3} s",
            pct(&mut acks, 0.5)
        );
    }
}
