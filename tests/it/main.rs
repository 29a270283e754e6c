//! The integration tests, one binary with a module per area (one link
//! instead of eleven on 2 cores). The distributed end-to-end tests
//! (`tests/distributed.rs`) stay a binary of their own: they run after the
//! rest, alone on the machine (scripts/test, .config/nextest.toml).
//!
//! - `serve_api`: the HTTP API through `oneshot` on a real SQLite store;
//! - `serve_e2e`: the real binary — ingest, SSE, SIGTERM, restart, logs;
//! - `store_paths`: rollups against items on SQLite;
//! - `clickhouse_store`: ClickHouse against SQLite (conformance);
//! - `alerts`, `alerts_e2e`: the alert engine replayed, and robots end to end;
//! - `browser`: the wall and the explorer in Chromium;
//! - `enrich_cli`, `properties`, `quality`: enrichment from the outside;
//! - `import`: `minyi import` of archives, and history counted in bulk;
//! - `incidents`: same-event incidents on their labelled set;
//! - `layers`: the module graph's one-way rule;
//! - `scopes`: district bureaus' and stations' tokens see only their scope;
//! - `supervision`: the supervision queue (督办台账) on both stores.

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod alerts_e2e;
mod browser;
mod clickhouse_store;
mod enrich_cli;
mod import;
mod incidents;
mod layers;
mod privacy;
mod properties;
mod quality;
mod reports;
mod scopes;
mod serve_api;
mod serve_e2e;
mod store_paths;
mod supervision;
