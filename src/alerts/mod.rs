//! Alerting on complaint spikes and emerging issues, for both deployments:
//! rules ([`rules`], `pipelines/alerts.toml`), detectors ([`detect`]), the
//! engine that evaluates them on event time and keeps each alert's life in
//! the store ([`engine`]), routing by place with quiet hours and
//! escalation ([`routes`]), and delivery to webhooks ([`notify`]); the wall
//! screens get every change as an SSE `alert` event.

pub mod detect;
pub mod engine;
pub mod notify;
pub mod routes;
pub mod rules;

pub use engine::{IMPORT_KIND, record_import};
