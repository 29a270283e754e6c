//! Counters and histograms for `GET /metrics`, in the Prometheus text
//! format: one facility for the whole crate. Plain atomics, no registry:
//! each process's metrics are the fields of one struct here ([`Metrics`]
//! for `minyi serve` and `minyi api`, [`IngestMetrics`] for the consumer of
//! `minyi ingest`), and each renders them through the one [`Exposition`]
//! writer, so the list in its `render` is the list scraped.
//!
//! Nothing here does I/O or knows HTTP; the server and the ingest process
//! serve the rendered text.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram with fixed buckets.
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
}

/// The Prometheus text exposition of one scrape: each call appends one
/// metric with its `# HELP` and `# TYPE` lines.
#[derive(Default)]
pub struct Exposition(String);

impl Exposition {
    pub fn counter(&mut self, name: &str, help: &str, v: u64) -> &mut Self {
        let _ = writeln!(
            self.0,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
        self
    }

    pub fn gauge(&mut self, name: &str, help: &str, v: f64) -> &mut Self {
        let _ = writeln!(
            self.0,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}"
        );
        self
    }

    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) -> &mut Self {
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&h.counts) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = h.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {count}",
            h.sum_micros.load(Relaxed) as f64 / 1e6
        );
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// What `/metrics` of `minyi serve` and `minyi api` shows.
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
    /// Store queries run (API, panels, exports, alerts).
    pub queries: AtomicU64,
    pub query_seconds: Histogram,
    /// Panel computations (one per tick, whatever the number of screens).
    pub ticks: AtomicU64,
    pub sse_clients: AtomicI64,
    /// Seconds from receiving the newest stored batch to its commit.
    pub lag_micros: AtomicU64,
    pub alerts_fired: AtomicU64,
    /// Alerts sent to their route's `escalate_to`, unacknowledged.
    pub alerts_escalated: AtomicU64,
    pub alert_evaluations: AtomicU64,
    pub alert_evaluation_seconds: Histogram,
    pub webhook_sent: AtomicU64,
    /// Webhook messages that failed after their retries, or were dropped.
    pub webhook_failures: AtomicU64,
    /// Access-audit entries stored.
    pub audit_entries: AtomicU64,
    /// Failed attempts to store audit entries (they are kept and retried).
    pub audit_failures: AtomicU64,
    /// Items whose personal content retention removed, and erasure.
    pub items_expired: AtomicU64,
    pub items_erased: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        out.counter(
            "minyi_items_stored_total",
            "Feedback items stored for the first time.",
            self.items_stored.load(Relaxed),
        )
        .counter(
            "minyi_items_duplicate_total",
            "Feedback items whose id was stored already.",
            self.items_duplicate.load(Relaxed),
        )
        .counter(
            "minyi_rejected_total",
            "Items and events rejected by validation.",
            self.rejected.load(Relaxed),
        )
        .counter(
            "minyi_workorder_events_stored_total",
            "Work-order events stored for the first time.",
            self.events_stored.load(Relaxed),
        )
        .counter(
            "minyi_ingest_requests_refused_total",
            "Ingest requests refused whole (malformed or too large).",
            self.requests_refused.load(Relaxed),
        )
        .histogram(
            "minyi_enrich_batch_seconds",
            "Enrichment time of one ingest batch.",
            &self.enrich_seconds,
        )
        .histogram(
            "minyi_store_write_seconds",
            "Time from handing a batch to the store to its durable commit.",
            &self.store_seconds,
        )
        .counter(
            "minyi_store_queries_total",
            "Queries run against the store.",
            self.queries.load(Relaxed),
        )
        .histogram(
            "minyi_store_query_seconds",
            "Store query time.",
            &self.query_seconds,
        )
        .counter(
            "minyi_panel_ticks_total",
            "Computations of every dashboard panel.",
            self.ticks.load(Relaxed),
        )
        .gauge(
            "minyi_sse_clients",
            "Open /api/v1/live streams.",
            self.sse_clients.load(Relaxed) as f64,
        )
        .gauge(
            "minyi_ingest_lag_seconds",
            "Receipt to durable commit of the newest batch.",
            self.lag_micros.load(Relaxed) as f64 / 1e6,
        )
        .counter(
            "minyi_alerts_fired_total",
            "Alerts that started firing.",
            self.alerts_fired.load(Relaxed),
        )
        .counter(
            "minyi_alerts_escalated_total",
            "Alerts escalated for want of an acknowledgement.",
            self.alerts_escalated.load(Relaxed),
        )
        .counter(
            "minyi_alert_evaluations_total",
            "Evaluations of all alert rules.",
            self.alert_evaluations.load(Relaxed),
        )
        .histogram(
            "minyi_alert_evaluation_seconds",
            "Time of one evaluation of all rules.",
            &self.alert_evaluation_seconds,
        )
        .counter(
            "minyi_webhook_sent_total",
            "Alert messages delivered to webhook targets.",
            self.webhook_sent.load(Relaxed),
        )
        .counter(
            "minyi_webhook_failures_total",
            "Alert messages that failed after retries or were dropped.",
            self.webhook_failures.load(Relaxed),
        )
        .counter(
            "minyi_audit_entries_total",
            "Access-audit entries stored.",
            self.audit_entries.load(Relaxed),
        )
        .counter(
            "minyi_audit_failures_total",
            "Failed writes of audit entries (kept and retried).",
            self.audit_failures.load(Relaxed),
        )
        .counter(
            "minyi_items_expired_total",
            "Items whose personal content retention removed.",
            self.items_expired.load(Relaxed),
        )
        .counter(
            "minyi_items_erased_total",
            "Items erased on request.",
            self.items_erased.load(Relaxed),
        );
        out.finish()
    }
}

/// What `/metrics` of `minyi ingest` shows.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    pub messages: AtomicU64,
    pub items_stored: AtomicU64,
    pub items_duplicate: AtomicU64,
    pub events_stored: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub batches: AtomicU64,
    pub batch_rows_sum: AtomicU64,
    pub insert_seconds: Histogram,
    pub enrich_seconds: Histogram,
    pub insert_failures: AtomicU64,
    /// Messages in the assigned partitions not yet read (high watermark −
    /// position), refreshed every few seconds.
    pub lag: AtomicI64,
    pub assigned_partitions: AtomicI64,
    pub paused: AtomicBool,
    pub rebalances: AtomicU64,
    /// Messages that arrived past the next expected offset of their
    /// partition (the range was read again).
    pub offset_gaps: AtomicU64,
}

impl IngestMetrics {
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        out.counter(
            "minyi_ingest_messages_total",
            "Kafka messages read",
            self.messages.load(Relaxed),
        )
        .counter(
            "minyi_ingest_items_stored_total",
            "Items written to ClickHouse",
            self.items_stored.load(Relaxed),
        )
        .counter(
            "minyi_ingest_items_duplicate_total",
            "Items whose id was stored already",
            self.items_duplicate.load(Relaxed),
        )
        .counter(
            "minyi_ingest_events_stored_total",
            "Work-order events written",
            self.events_stored.load(Relaxed),
        )
        .counter(
            "minyi_ingest_dead_lettered_total",
            "Messages sent to the dead-letter topic",
            self.dead_lettered.load(Relaxed),
        )
        .counter(
            "minyi_ingest_batches_total",
            "Batches written",
            self.batches.load(Relaxed),
        )
        .counter(
            "minyi_ingest_batch_messages_total",
            "Messages of the batches written (÷ batches = mean batch size)",
            self.batch_rows_sum.load(Relaxed),
        )
        .counter(
            "minyi_ingest_insert_failures_total",
            "Failed batch writes (retried)",
            self.insert_failures.load(Relaxed),
        )
        .counter(
            "minyi_ingest_rebalances_total",
            "Assignments and revocations",
            self.rebalances.load(Relaxed),
        )
        .counter(
            "minyi_ingest_offset_gaps_total",
            "Messages past the next expected offset of their partition (range read again)",
            self.offset_gaps.load(Relaxed),
        )
        .gauge(
            "minyi_ingest_consumer_lag",
            "Messages in the assigned partitions not yet stored",
            self.lag.load(Relaxed) as f64,
        )
        .gauge(
            "minyi_ingest_assigned_partitions",
            "Partitions assigned to this consumer",
            self.assigned_partitions.load(Relaxed) as f64,
        )
        .gauge(
            "minyi_ingest_paused",
            "1 while ClickHouse writes fail and the partitions are paused",
            f64::from(u8::from(self.paused.load(Relaxed))),
        )
        .histogram(
            "minyi_ingest_insert_seconds",
            "ClickHouse write of one batch",
            &self.insert_seconds,
        )
        .histogram(
            "minyi_ingest_enrich_seconds",
            "Enrichment of one batch",
            &self.enrich_seconds,
        );
        out.finish()
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

    #[test]
    fn the_ingest_metrics_render_through_the_same_writer() {
        let m = IngestMetrics::default();
        m.lag.store(-1, Relaxed);
        m.paused.store(true, Relaxed);
        m.insert_seconds.observe(Duration::from_millis(30));
        let text = m.render();
        assert!(
            text.contains("# TYPE minyi_ingest_consumer_lag gauge\nminyi_ingest_consumer_lag -1\n")
        );
        assert!(text.contains("minyi_ingest_paused 1\n"));
        assert!(text.contains("minyi_ingest_insert_seconds_bucket{le=\"0.05\"} 1\n"));
    }
}
