//! minyi 民意 — citizen feedback to the police, turned into live wall
//! screens, explorable trends and spike alerts.
//!
//! # How a feedback item travels
//!
//! A producer (one of sixteen channels: the 12345 hotline, the director's
//! mailbox, SMS revisit replies …) sends a raw JSON item ([`model`]'s
//! contract). [`enrich::Enricher`] validates it, masks personal data, parses
//! a revisit reply into a rating, tokenizes with jieba, tags topics and
//! scores sentiment, and yields an [`model::EnrichedItem`] or a
//! [`enrich::Reject`] with the reason. Stores, the API, the dashboards and
//! the alerts all read enriched items only.
//!
//! In `minyi serve` ([`server`]) the item arrives by `POST /api/v1/feedback`
//! or from the [`demo`] feed, is enriched on the rayon pool, written by the
//! [`store`]'s single writer (with its per-minute and hourly rollups, in one
//! transaction, before the request is answered), and published as an SSE
//! `item` event. Every tick the dashboards' panels ([`dashboards`]) are
//! computed once through the typed [`query`] model and pushed to all wall
//! screens; every few seconds the [`alerts`] engine judges its rules on the
//! same model and delivers what fires to the walls and the robots. Work
//! orders ([`workorder`]) arrive beside the items and feed the KPIs.
//!
//! At scale the transport and the store change, nothing else: producers
//! write to Kafka, `minyi ingest` ([`kafka::ingest`]) enriches batches and
//! writes them to ClickHouse ([`store::clickhouse`]) with the Kafka offsets
//! they came from, and `minyi api` runs the same [`server`] over that store.
//!
//! # Layout
//!
//! - [`model`]: the data contracts (raw and enriched items).
//! - [`pipelines`]: the data files that make it a police system (channels,
//!   topics, gazetteer, dictionaries, lexicons), built in or from a folder.
//! - [`enrich`]: the enrichment core, a pure function per item.
//! - [`config`]: `minyi.toml`, parsed and validated before any I/O.
//! - [`cli`]: the subcommands' bodies (`minyi enrich`, `ingest`, `migrate`).
//! - [`query`]: the typed query model (filters, summary, timeseries, top,
//!   item lists) and its answers; [`store`]: the storage seam, SQLite and
//!   ClickHouse.
//! - [`kafka`]: topics, the producer, the consumer of `minyi ingest`.
//! - [`workorder`]: work-order events and the fold into an order's state.
//! - [`server`]: `minyi serve` — HTTP API, auth, ingest, live push, metrics.
//! - [`dashboards`]: wall screens as data, computed once per tick.
//! - [`alerts`]: rules, detectors, the engine and webhook delivery.
//! - [`demo`]: the built-in demo feed.

pub mod alerts;
pub mod cli;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod enrich;
pub mod ingest;
pub mod kafka;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod pipelines;
pub mod query;
pub mod server;
pub mod store;
pub mod workorder;

/// mimalloc for every binary built on this crate (the server, the CLI, the
/// benches): enrichment allocates a few dozen small strings per item, and
/// the system allocator made that a fifth of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
