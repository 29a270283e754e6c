//! Exports and deep pages at many stored items, through the HTTP layer
//! in-process (`GET /api/v1/feedback`): a 30-day store of ITEMS demo items
//! in DIR (filled when missing, day by day as `search_latency` does; the
//! two can share a DIR), then
//! - the baseline: an unfiltered 30-day count (the summary), p50 of ROUNDS;
//! - CSV exports of the whole store: with a range without `to` (the shape
//!   that was quadratic) and with `to`, rows/s and bytes (they must agree);
//! - an XLSX export of the newest 100,000 rows, rows/s;
//! - page 1 and page 1,000 of the list (100 items a page), p50 of ROUNDS.
//!
//! `cargo run --release --example export_speed -- DIR [ITEMS] [ROUNDS]`
//!
//! With `http://…` for DIR the store is ClickHouse at that address
//! (database `minyi_bench`, migrated first). Target: CSV ≥ 50,000 rows/s
//! at 1M items on SQLite and at 10M on ClickHouse; page 1,000 as fast as
//! page 1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use minyi::config::Config;
use minyi::server::AppState;
use minyi::store::Store;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

#[path = "common/mod.rs"]
mod common;

fn p50(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

/// The body of one GET, read to its end: (bytes, seconds).
async fn fetch(app: &axum::Router, uri: &str) -> (Vec<u8>, f64) {
    let t = Instant::now();
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{uri}: {}",
        response.status()
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (body.to_vec(), t.elapsed().as_secs_f64())
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339()
        .replace('+', "%2B")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("DIR").to_owned();
    let n: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let checked = Config {
        hmac_key: Some("export-speed-key-0123456789".into()),
        ..Config::default()
    }
    .validate(None)
    .unwrap();
    let enricher = Arc::new(minyi::enrich::Enricher::from_config(&checked).unwrap());
    let settings = QuerySettings {
        tz_offset: 8 * 3600,
        ..QuerySettings::from_config(&checked)
    };
    let (store, chunk): (Arc<dyn Store>, usize) = if dir.starts_with("http://") {
        (
            Arc::new(common::bench_clickhouse(&dir, settings).await),
            100_000,
        )
    } else {
        (
            Arc::new(SqliteStore::open(std::path::Path::new(&dir), settings).unwrap()),
            2000,
        )
    };
    let now = chrono::Utc::now().timestamp();
    let start = Instant::now();
    let mut stored = 0;
    for day in (0..30).rev() {
        let upto = n * (30 - day) / 30;
        stored = minyi::demo::fill_store(
            &*store,
            &enricher,
            upto,
            now - day as i64 * 86_400,
            86_400,
            chunk,
        )
        .await
        .unwrap();
    }
    eprintln!(
        "{stored} items stored ({:.0} s to load)",
        start.elapsed().as_secs_f64()
    );
    let state = Arc::new(
        AppState::new(
            &checked,
            enricher,
            store.clone(),
            "127.0.0.1:0".parse().unwrap(),
            CancellationToken::new(),
        )
        .unwrap(),
    );
    let app = minyi::server::app(state);
    let from = format!("from={}", rfc3339(now - 31 * 86_400));
    let to = format!("to={}", rfc3339(now + 86_400));

    let mut counts = Vec::new();
    for _ in 0..rounds {
        let (_, s) = fetch(&app, &format!("/api/v1/stats/summary?{from}&{to}")).await;
        counts.push(Duration::from_secs_f64(s));
    }
    println!(
        "baseline: unfiltered 30-day count      p50 {:>9.1} ms",
        p50(&mut counts)
    );

    let mut sizes = Vec::new();
    for (label, uri) in [
        (
            "CSV, range without `to`",
            format!("/api/v1/feedback?format=csv&{from}"),
        ),
        (
            "CSV, range with `to`",
            format!("/api/v1/feedback?format=csv&{from}&{to}"),
        ),
    ] {
        let (body, secs) = fetch(&app, &uri).await;
        let rows = body.iter().filter(|b| **b == b'\n').count() - 1;
        println!(
            "{label:<38} {rows:>9} rows {:>12} bytes {:>7.1} s {:>9.0} rows/s (target ≥ 50,000)",
            body.len(),
            secs,
            rows as f64 / secs
        );
        sizes.push(body.len());
    }
    println!(
        "the two CSV exports are {}",
        if sizes[0] == sizes[1] {
            "the same size"
        } else {
            "NOT the same size"
        }
    );

    // The newest 100,000 items as a workbook.
    let (list, _) = fetch(&app, &format!("/api/v1/feedback?{from}&limit=1000")).await;
    let _ = list;
    let mut cursor = String::new();
    for _ in 0..99 {
        let (page, _) = fetch(&app, &format!("/api/v1/feedback?{from}&limit=1000{cursor}")).await;
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let (page, _) = fetch(&app, &format!("/api/v1/feedback?{from}&limit=1000{cursor}")).await;
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    let oldest = page["items"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|i| i["received_at"].as_str())
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp())
        .unwrap_or(now - 31 * 86_400);
    let uri = format!("/api/v1/feedback?format=xlsx&from={}&{to}", rfc3339(oldest));
    let (body, secs) = fetch(&app, &uri).await;
    let rows = {
        use calamine::Reader as _;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(body.clone())).unwrap();
        book.worksheet_range("民意").unwrap().height() - 1
    };
    println!(
        "{:<38} {rows:>9} rows {:>12} bytes {:>7.1} s {:>9.0} rows/s",
        "XLSX, the newest ~100,000",
        body.len(),
        secs,
        rows as f64 / secs
    );

    // Page 1 and page 1,000 of 100 items.
    let mut cursor = String::new();
    for _ in 0..999 {
        let (page, _) = fetch(&app, &format!("/api/v1/feedback?{from}&limit=100{cursor}")).await;
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        cursor = format!(
            "&cursor={}",
            page["next_cursor"].as_str().expect("1,000 pages")
        );
    }
    let (mut first, mut deep) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (_, s) = fetch(&app, &format!("/api/v1/feedback?{from}&limit=100")).await;
        first.push(Duration::from_secs_f64(s));
        let (_, s) = fetch(&app, &format!("/api/v1/feedback?{from}&limit=100{cursor}")).await;
        deep.push(Duration::from_secs_f64(s));
    }
    println!(
        "page 1 of 100 items                    p50 {:>9.1} ms",
        p50(&mut first)
    );
    println!(
        "page 1,000 of 100 items                p50 {:>9.1} ms",
        p50(&mut deep)
    );
    store.close().await.unwrap();
}
