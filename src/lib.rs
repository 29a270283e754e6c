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
//! or from the [`demo`] feed and goes through [`ingest`]: enriched on the
//! rayon pool, written by the [`store`]'s single writer (with its per-minute
//! rollups, in one transaction, before the request is answered; finished
//! hours are folded into the hourly rollups later), and published on the
//! [`live`] feed as an SSE `item` event. Every tick the dashboards' panels
//! ([`dashboards::Ticker`]) are computed once through the typed [`query`]
//! model and published to all wall screens; every few seconds the
//! [`alerts`] engine judges its rules on the same model and delivers what
//! fires to the walls and the robots. Work orders ([`workorder`]) arrive
//! beside the items and feed the KPIs.
//!
//! At scale the transport and the store change, nothing else: producers
//! write to Kafka, `minyi ingest` ([`kafka::ingest`]) enriches batches and
//! writes them to ClickHouse ([`store::clickhouse`]) with the Kafka offsets
//! they came from, and `minyi api` runs the same [`server`] over that store.
//!
//! # Layout
//!
//! Layers point one way (docs/DESIGN.md, "Module layers"; checked by
//! `tests/it/layers.rs`). On top, the only users of [`server`]:
//! - [`server`]: HTTP routes, auth, the SSE handler, the OpenAPI document,
//!   the embedded web assets; `main.rs` and [`cli`] (the subcommands'
//!   bodies) beside it.
//!
//! Below, modules that run in every deployment and know no HTTP:
//! - [`ingest`]: a body or a demo batch → enrich → store → publish.
//! - [`live`]: the publishing half of live push (item, panels, alert,
//!   incident).
//! - [`alerts`]: rules, detectors, the engine (given a store, the
//!   vocabulary, a clock and a publisher), webhook delivery.
//! - [`dashboards`]: wall screens as data, computed once per tick.
//! - [`demo`]: the built-in demo feed, a source for [`ingest`].
//! - [`kafka`]: topics, the producer, the consumer of `minyi ingest`.
//! - [`metrics`]: counters, histograms, one Prometheus renderer.
//! - [`privacy`]: the access audit's collector and the retention loop.
//! - [`logging`]: `tracing` events as one line each, naming the command.
//! - [`tracker`]: the incident tracker, following the stored items and
//!   storing each one's incident (`minyi serve` and `minyi api`).
//!
//! The core:
//! - [`store`]: the storage seam, SQLite and ClickHouse (each split into
//!   schema, write path, rollups and read path).
//! - [`query`]: the typed query model (filters, summary, timeseries, top,
//!   item lists) and its answers.
//! - [`workorder`]: work-order events and the fold into an order's state.
//! - [`incident`]: same-event incidents, a pure function of the items
//!   (each links to its most similar earlier item within the window).
//! - [`enrich`]: the enrichment core, a pure function per item.
//! - [`pipelines`]: the data files that make it a police system (channels,
//!   topics, gazetteer, dictionaries, lexicons), built in or from a folder.
//! - [`model`]: the data contracts (raw and enriched items).
//! - [`config`]: `minyi.toml`, parsed and validated; imports no other module.

pub mod alerts;
pub mod cli;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod enrich;
pub mod import;
pub mod incident;
pub mod ingest;
pub mod kafka;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod pipelines;
pub mod privacy;
pub mod query;
pub mod repeat;
pub mod report;
pub mod server;
pub mod store;
pub mod tracker;
pub mod workorder;

/// mimalloc for every binary built on this crate (the server, the CLI, the
/// benches): enrichment allocates a few dozen small strings per item, and
/// the system allocator made that a fifth of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
