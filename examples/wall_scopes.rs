//! Walls per tier: the cost of a panel tick with 1,000 wall screens on one
//! bureau's scope beside 1,000 screens spread over all 18 district bureaus,
//! in the same run, on the same store. Panels are computed once per tick
//! per scope in use (plus the city's, always), so the cost follows the
//! number of scopes, not of screens.
//!
//! `cargo run --release --example wall_scopes -- [ITEMS] [TICKS]`
//!
//! Loads ITEMS (default 100,000) items spread over the last 30 days across
//! every district into a fresh SQLite store in a temp folder, then times
//! TICKS (default 10) ticks per case after one warm-up tick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use minyi::config::Config;
use minyi::query::Scope;
use minyi::server::AppState;
use minyi::store::Store;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SCREENS: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let items: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let ticks: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("minyi-wall-scopes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(&dir, items, ticks));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn run(dir: &std::path::Path, items: usize, ticks: usize) {
    let config = Config {
        hmac_key: Some("bench-key-0123456789".into()),
        ..Config::default()
    };
    let checked = config.validate(None).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir, QuerySettings::from_config(&checked)).unwrap());
    let enricher = Arc::new(minyi::enrich::Enricher::from_config(&checked).unwrap());
    let state = AppState::new(
        &checked,
        enricher,
        store,
        "127.0.0.1:0".parse().unwrap(),
        CancellationToken::new(),
    )
    .unwrap();
    let districts = state.vocab.districts.clone();
    let channels: Vec<String> = state
        .vocab
        .channels
        .iter()
        .map(|(c, _)| c.clone())
        .collect();
    let texts = [
        "报警后等了四十分钟才有人来，出警太慢了",
        "户籍业务办理很快，民警服务态度好，谢谢",
        "路口红绿灯坏了，交警没人管",
        "接到诈骗电话，冒充客服让我转账",
        "小区门口夜里有人吵闹，希望加强巡逻",
    ];
    let now = chrono::Utc::now().timestamp();
    let tz = minyi::config::default_timezone();
    let started = Instant::now();
    let mut batch = Vec::new();
    for i in 0..items {
        let at = now - 60 - (i as i64 * 30 * 86_400 / items as i64);
        batch.push(Ok(json!({
            "id": format!("w-{i}"),
            "channel": channels[i % channels.len()],
            "district": districts[i % districts.len()],
            "received_at": minyi::query::rfc3339(at, tz),
            "text": texts[i % texts.len()],
            "rating": (i % 4 != 0).then_some(1 + (i % 3) as u8),
        })));
        if batch.len() == 5000 {
            state
                .ingest
                .feedback(std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        state.ingest.feedback(batch).await.unwrap();
    }
    println!(
        "{items} items over 30 days in {} districts, loaded in {:.1} s",
        districts.len(),
        started.elapsed().as_secs_f64()
    );
    println!("screens  scopes (+ the city)  queries/tick  tick p50 ms  tick max ms");

    let scope_of = |d: &str| Scope {
        districts: vec![d.to_owned()],
        units: Vec::new(),
    };
    let cases: Vec<(&str, Vec<Scope>)> = vec![
        ("city only", Vec::new()),
        ("1 bureau", vec![scope_of(&districts[0])]),
        (
            "18 bureaus",
            districts.iter().map(|d| scope_of(d)).collect(),
        ),
    ];
    // The city's wall is watched throughout (the ticker computes a scope
    // only while a screen watches it).
    let _city = state.live.subscribe();
    for (label, scopes) in cases {
        // 1,000 screens spread over the scopes (or all on the city's).
        let screens: Vec<_> = (0..SCREENS)
            .map(|i| {
                if scopes.is_empty() {
                    state.live.subscribe()
                } else {
                    state
                        .live
                        .subscribe_scoped(&scopes[i % scopes.len()])
                        .unwrap()
                }
            })
            .collect();
        state.tick().await; // the first tick of a scope computes its slow panels too
        let mut times: Vec<Duration> = Vec::new();
        let q0 = state
            .metrics
            .queries
            .load(std::sync::atomic::Ordering::Relaxed);
        for _ in 0..ticks {
            let t = Instant::now();
            state.tick().await;
            times.push(t.elapsed());
        }
        let q = state
            .metrics
            .queries
            .load(std::sync::atomic::Ordering::Relaxed)
            - q0;
        times.sort();
        println!(
            "{SCREENS:>7}  {:>19}  {:>12}  {:>11.1}  {:>11.1}",
            format!("{label} ({})", state.live.scopes_in_use().len()),
            q / ticks as u64,
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
        );
        drop(screens);
        // The next case starts with no scope in use.
        assert!(state.live.scopes_in_use().is_empty());
    }
}
