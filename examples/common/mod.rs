//! What the benches share (`#[path = "common/mod.rs"] mod common;`).

use minyi::store::clickhouse::ClickHouseStore;
use minyi::store::sqlite::QuerySettings;

/// The benches' ClickHouse database `minyi_bench` at `url`, created when
/// missing and migrated to the built-in schema (kept between runs: a 10M
/// load takes minutes).
pub async fn bench_clickhouse(url: &str, settings: QuerySettings) -> ClickHouseStore {
    let admin = ClickHouseStore::connect(url, settings).await.unwrap();
    admin
        .client()
        .query("CREATE DATABASE IF NOT EXISTS minyi_bench")
        .execute()
        .await
        .unwrap();
    let ch = ClickHouseStore::connect_db(url, "minyi_bench", settings)
        .await
        .unwrap();
    let steps: Vec<(String, String)> = minyi::pipelines::CLICKHOUSE_SCHEMA
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    ch.migrate(&steps).await.unwrap();
    ch
}
