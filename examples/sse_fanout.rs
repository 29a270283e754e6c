//! SSE fan-out: the server's CPU, memory and store queries per tick with
//! one wall screen (the baseline, same run) and with N screens connected to
//! `/api/v1/live` of a running `minyi serve` (pid given, for /proc).
//!
//! `cargo run --release --example sse_fanout -- http://127.0.0.1:8080 PID [N]`

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

fn metric(base: &str, name: &str) -> f64 {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let text = agent
        .get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// (user+system CPU seconds, RSS in MiB) of a process.
fn usage(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (ticks / 100.0, rss_kb / 1024.0)
}

struct Phase {
    cpu: f64,
    rss: f64,
    queries_per_tick: f64,
    with_panels: u64,
    events: u64,
}

fn phase(base: &str, pid: &str, clients: usize, secs: u64) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let with_panels = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (stop, with_panels, events, url) = (
            stop.clone(),
            with_panels.clone(),
            events.clone(),
            format!("{base}/api/v1/live"),
        );
        handles.push(
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(secs + 20)))
                        .build()
                        .into();
                    let Ok(resp) = agent.get(&url).call() else {
                        return;
                    };
                    let mut got_panels = false;
                    let mut reader = BufReader::new(resp.into_body().into_reader());
                    let mut line = String::new();
                    while !stop.load(Relaxed) {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        if line.starts_with("event: ") {
                            events.fetch_add(1, Relaxed);
                            if !got_panels && line.starts_with("event: panels") {
                                got_panels = true;
                                with_panels.fetch_add(1, Relaxed);
                            }
                        }
                    }
                })
                .unwrap(),
        );
    }
    // Let everyone connect, then measure a window.
    std::thread::sleep(Duration::from_secs(3));
    let (q0, t0) = (
        metric(base, "minyi_store_queries_total"),
        metric(base, "minyi_panel_ticks_total"),
    );
    let (c0, _) = usage(pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, rss) = usage(pid);
    let elapsed = start.elapsed().as_secs_f64();
    let (q1, t1) = (
        metric(base, "minyi_store_queries_total"),
        metric(base, "minyi_panel_ticks_total"),
    );
    let connected = metric(base, "minyi_sse_clients");
    stop.store(true, Relaxed);
    let result = Phase {
        cpu: (c1 - c0) / elapsed * 100.0,
        rss,
        // Two /metrics reads are not panel queries; the readiness probe is not used here.
        queries_per_tick: (q1 - q0) / (t1 - t0).max(1.0),
        with_panels: with_panels.load(Relaxed),
        events: events.load(Relaxed),
    };
    println!(
        "{clients:>5} screens ({connected} connected): server CPU {:>5.1} %, RSS {:>6.1} MiB, store queries per tick {:.1}, screens with panels {}/{clients}, events received {}",
        result.cpu, result.rss, result.queries_per_tick, result.with_panels, result.events
    );
    drop(handles);
    std::thread::sleep(Duration::from_secs(1));
    result
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args[1].clone();
    let pid = args[2].clone();
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let one = phase(&base, &pid, 1, 10);
    let many = phase(&base, &pid, n, 10);
    println!(
        "queries per tick: {:.1} with 1 screen (baseline), {:.1} with {n}; CPU {:.1} % → {:.1} %",
        one.queries_per_tick, many.queries_per_tick, one.cpu, many.cpu
    );
    std::process::exit(0);
}
