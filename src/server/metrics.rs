//! Counters for `GET /metrics` in the Prometheus text format. Plain
//! atomics, no registry: every metric is a field here and is rendered in
//! [`Metrics::render`], so the list in one place is the list scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.counts) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {count}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Items stored for the first time.
    pub items_stored: AtomicU64,
    /// Items already stored (idempotent re-posts).
    pub items_duplicate: AtomicU64,
    /// Items and events rejected by validation.
    pub rejected: AtomicU64,
    pub events_stored: AtomicU64,
    /// Ingest requests refused whole (400/413).
    pub requests_refused: AtomicU64,
    /// Enrichment of one batch, wall time.
    pub enrich_seconds: Histogram,
    /// From handing a batch to the store to its durable commit.
    pub store_seconds: Histogram,
    /// Store queries run (API, panels, exports).
    pub queries: AtomicU64,
    pub query_seconds: Histogram,
    /// Panel computations (one per tick, whatever the number of screens).
    pub ticks: AtomicU64,
    pub sse_clients: AtomicI64,
    /// Seconds from receiving the newest stored batch to its commit.
    pub lag_micros: AtomicU64,
    pub alerts_fired: AtomicU64,
    pub alert_evaluations: AtomicU64,
    pub alert_evaluation_seconds: Histogram,
    pub webhook_sent: AtomicU64,
    /// Webhook messages that failed after their retries, or were dropped.
    pub webhook_failures: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        counter(
            &mut out,
            "minyi_items_stored_total",
            "Feedback items stored for the first time.",
            self.items_stored.load(Relaxed),
        );
        counter(
            &mut out,
            "minyi_items_duplicate_total",
            "Feedback items whose id was stored already.",
            self.items_duplicate.load(Relaxed),
        );
        counter(
            &mut out,
            "minyi_rejected_total",
            "Items and events rejected by validation.",
            self.rejected.load(Relaxed),
        );
        counter(
            &mut out,
            "minyi_workorder_events_stored_total",
            "Work-order events stored for the first time.",
            self.events_stored.load(Relaxed),
        );
        counter(
            &mut out,
            "minyi_ingest_requests_refused_total",
            "Ingest requests refused whole (malformed or too large).",
            self.requests_refused.load(Relaxed),
        );
        self.enrich_seconds.render(
            &mut out,
            "minyi_enrich_batch_seconds",
            "Enrichment time of one ingest batch.",
        );
        self.store_seconds.render(
            &mut out,
            "minyi_store_write_seconds",
            "Time from handing a batch to the store to its durable commit.",
        );
        counter(
            &mut out,
            "minyi_store_queries_total",
            "Queries run against the store.",
            self.queries.load(Relaxed),
        );
        self.query_seconds
            .render(&mut out, "minyi_store_query_seconds", "Store query time.");
        counter(
            &mut out,
            "minyi_panel_ticks_total",
            "Computations of every dashboard panel.",
            self.ticks.load(Relaxed),
        );
        gauge(
            &mut out,
            "minyi_sse_clients",
            "Open /api/v1/live streams.",
            self.sse_clients.load(Relaxed) as f64,
        );
        gauge(
            &mut out,
            "minyi_ingest_lag_seconds",
            "Receipt to durable commit of the newest batch.",
            self.lag_micros.load(Relaxed) as f64 / 1e6,
        );
        counter(
            &mut out,
            "minyi_alerts_fired_total",
            "Alerts that started firing.",
            self.alerts_fired.load(Relaxed),
        );
        counter(
            &mut out,
            "minyi_alert_evaluations_total",
            "Evaluations of all alert rules.",
            self.alert_evaluations.load(Relaxed),
        );
        self.alert_evaluation_seconds.render(
            &mut out,
            "minyi_alert_evaluation_seconds",
            "Time of one evaluation of all rules.",
        );
        counter(
            &mut out,
            "minyi_webhook_sent_total",
            "Alert messages delivered to webhook targets.",
            self.webhook_sent.load(Relaxed),
        );
        counter(
            &mut out,
            "minyi_webhook_failures_total",
            "Alert messages that failed after retries or were dropped.",
            self.webhook_failures.load(Relaxed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.items_stored.fetch_add(3, Relaxed);
        m.store_seconds.observe(Duration::from_millis(3));
        m.store_seconds.observe(Duration::from_secs(9));
        let text = m.render();
        assert!(text.contains("minyi_items_stored_total 3\n"));
        assert!(text.contains("minyi_store_write_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("minyi_store_write_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("minyi_store_write_seconds_count 2\n"));
    }
}
