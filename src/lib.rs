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
//! # Layout
//!
//! - [`model`]: the data contracts (raw and enriched items).
//! - [`pipelines`]: the data files that make it a police system (channels,
//!   topics, gazetteer, dictionaries, lexicons), built in or from a folder.
//! - [`enrich`]: the enrichment core, a pure function per item.
//! - [`config`]: `minyi.toml`, parsed and validated before any I/O.
//! - [`cli`]: the subcommands' bodies (`minyi enrich`).

pub mod alerts;
pub mod cli;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod enrich;
pub mod model;
pub mod pipelines;
pub mod query;
pub mod server;
pub mod store;
pub mod workorder;
