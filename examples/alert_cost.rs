//! The cost of one evaluation of the alert rules ("per tick") on a store
//! of ITEMS items (30 days, loaded into DIR when missing; `panel_latency`
//! fills the same kind of store), with the shipped rules plus one per
//! police unit and one per channel: some 200 rule × value series. Printed next to the
//! baseline of the same run: one wall-screen tick (every panel query).
//!
//! `cargo run --release --example alert_cost -- DIR [ITEMS] [ROUNDS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use minyi::config::Config;
use minyi::server::AppState;
use minyi::store::Store;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use tokio_util::sync::CancellationToken;

const UNIT_RULE: &str = r#"
[[rule]]
name = "unit_surge"
title = "{value}诉求量异常上升"
for_each = "unit"
window = "1h"
history = 4
period = "7d"
detector = { kind = "baseline", test = "poisson", warn_p = 0.01, alert_p = 0.001, min_count = 6 }

[[rule]]
name = "channel_negative_share"
title = "{value}负面占比上升"
for_each = "channel"
window = "1h"
history = 4
period = "1d"
detector = { kind = "negative_share", jump = 0.25, min_count = 12 }
"#;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let n: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut checked = Config {
        hmac_key: Some("alert-cost-key-0123456789".into()),
        ..Config::default()
    }
    .validate(None)
    .unwrap();
    checked.alert_rules = format!("{}\n{UNIT_RULE}", checked.alert_rules);
    let enricher = Arc::new(minyi::enrich::Enricher::from_config(&checked).unwrap());
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(
            &dir,
            QuerySettings {
                tz_offset: 8 * 3600,
                ..QuerySettings::from_config(&checked)
            },
        )
        .unwrap(),
    );
    let now = chrono::Utc::now().timestamp();
    minyi::demo::fill_store(&*store, &enricher, n, now, 30 * 86_400, 2000)
        .await
        .unwrap();
    // Evaluate at the newest stored item: a reused store may be hours old.
    let now = match store.query(minyi::query::Query::Extent, now).await.unwrap() {
        minyi::query::Answer::Extent {
            newest: Some(t), ..
        } => t + 60,
        _ => now,
    };
    let state = AppState::new(
        &checked,
        enricher,
        store.clone(),
        "127.0.0.1:0".parse().unwrap(),
        CancellationToken::new(),
    )
    .unwrap();

    let mut series = 0;
    for rule in &state.alerts.rules {
        let (judged, _) = state.alerts.judge(rule, now).await.unwrap();
        series += judged;
    }
    // The ticker computes the city's wall only while a screen watches.
    let _screen = state.live.subscribe();
    let mut ticks = Vec::new();
    let mut evals = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        state.tick().await;
        ticks.push(t.elapsed());
        let t = Instant::now();
        state.alerts.evaluate(now).await;
        evals.push(t.elapsed());
    }
    println!(
        "baseline: one wall-screen tick (all panels):   p50 {:>7.1} ms  p95 {:>7.1} ms",
        pct(&mut ticks, 0.5),
        pct(&mut ticks, 0.95)
    );
    println!(
        "alert evaluation, {} rules, {series} series:   p50 {:>7.1} ms  p95 {:>7.1} ms  (at {n} stored items)",
        state.alerts.rules.len(),
        pct(&mut evals, 0.5),
        pct(&mut evals, 0.95)
    );
    store.close().await.unwrap();
}
