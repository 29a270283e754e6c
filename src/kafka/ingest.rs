//! `minyi ingest`: a member of the consumer group on the feedback and
//! work-order topics, writing enriched rows to ClickHouse.
//!
//! Exactly-once in effect: every row carries the Kafka (topic, partition,
//! offset) it came from, rejected messages are recorded in
//! `ingest_progress` once the dead-letter topic acknowledged them, and on
//! every assignment the consumer starts each partition one past the
//! highest offset ClickHouse holds. A batch is one INSERT per table, so a
//! crash before ClickHouse acknowledged it leaves nothing of it behind and
//! the batch is read again; after, its offsets are stored and it is not.
//! Kafka's committed offsets are kept too, but only for lag tools.
//!
//! One thread polls, gathers a batch (bounded by rows, bytes and time),
//! enriches it on the rayon pool and writes it. When ClickHouse fails, the
//! partitions are paused (memory stays bounded), the consumer keeps polling
//! so it stays in the group, and the write is retried with capped backoff;
//! nothing is dropped. On a revoke the pending batch is written first; if
//! that cannot happen, it is let go and the partitions' next owner reads it
//! again from the stored offsets.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::{DLQ_TOPIC, EVENTS_TOPIC, FEEDBACK_TOPIC, KafkaError, client_config, enqueue, settle};
use crate::enrich::Enricher;
use crate::metrics::IngestMetrics;
use crate::model::EnrichedItem;
use crate::store::clickhouse::{ClickHouseStore, Source, SourcedBatch};
use crate::workorder::WorkOrderEvent;

/// Longest message accepted, bytes; a longer one goes to the dead-letter
/// topic (the contract bounds text at 20,000 characters, ~60 KB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub brokers: String,
    pub group: String,
    /// A batch is written when it has this many messages ...
    pub batch_rows: usize,
    /// ... or this many bytes ...
    pub batch_bytes: usize,
    /// ... or its first message waited this long.
    pub batch_wait: Duration,
}

/// One message as read.
struct Msg {
    source: Source,
    payload: Vec<u8>,
}

#[derive(Default)]
struct Pending {
    msgs: Vec<Msg>,
    bytes: usize,
    since: Option<Instant>,
}

/// What a flush needs, shared by the loop and the rebalance callback.
struct Flusher {
    store: ClickHouseStore,
    enricher: Arc<Enricher>,
    dlq: FutureProducer,
    metrics: Arc<IngestMetrics>,
    handle: Handle,
    pending: Mutex<Pending>,
    /// The next offset each assigned partition should deliver: set on
    /// assignment from what ClickHouse holds, advanced by every message.
    expected: Mutex<HashMap<(String, i32), i64>>,
    /// The partitions assigned to this member.
    assigned: Mutex<Vec<(String, i32)>>,
}

/// Every second, off the poll loop (a watermark request is a round trip per
/// partition; in the loop it held up polling and flushing for up to a
/// second with tansu): the consumer lag, messages of the assigned
/// partitions not yet stored — past the next offset to read, or read and
/// pending. Asked through the dead-letter producer's connection.
fn watch_lag(flusher: Arc<Flusher>, shutdown: CancellationToken) {
    std::thread::spawn(move || {
        while !shutdown.is_cancelled() {
            std::thread::sleep(Duration::from_secs(1));
            let assigned = flusher.assigned.lock().expect("not poisoned").clone();
            let mut lag = 0;
            for (topic, partition) in assigned {
                let Ok((low, high)) = flusher.dlq.client().fetch_watermarks(
                    &topic,
                    partition,
                    Duration::from_secs(2),
                ) else {
                    continue;
                };
                let next = flusher
                    .expected
                    .lock()
                    .expect("not poisoned")
                    .get(&(topic, partition))
                    .copied()
                    .unwrap_or(low);
                lag += (high - next).max(0);
            }
            lag += flusher.pending.lock().expect("not poisoned").msgs.len() as i64;
            flusher.metrics.lag.store(lag, Relaxed);
        }
    });
}

/// How long a gap at one offset is read again before it is accepted (a
/// transaction marker or compaction, which minyi's topics should not have),
/// and how long between two reads.
const GAP_PATIENCE: Duration = Duration::from_secs(30);
const GAP_RETRY_EVERY: Duration = Duration::from_millis(200);

/// A gap being waited for: when it was first seen, when it was last read again.
struct Gap {
    since: Instant,
    sought: Instant,
    /// The first offset seen past the gap.
    seen: i64,
    /// How far before the missing offset the next read starts.
    back: i64,
}

/// Why a message is not a row.
fn classify(
    msg: &Msg,
    enricher: &Enricher,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Result<Row, String> {
    let bytes = &msg.payload;
    if bytes.is_empty() {
        return Err("empty message".into());
    }
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message of {} bytes is over the limit of {MAX_MESSAGE_BYTES}",
            bytes.len()
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8: invalid byte at {}", e.valid_up_to()))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if msg.source.topic == EVENTS_TOPIC {
        enricher
            .parse_event(&value, now)
            .map(Row::Event)
            .map_err(|e| e.to_string())
    } else {
        enricher
            .enrich_value(&value, now)
            .map(|i| Row::Item(Box::new(i)))
            .map_err(|e| e.to_string())
    }
}

enum Row {
    Item(Box<EnrichedItem>),
    Event(WorkOrderEvent),
}

impl Flusher {
    /// Writes the pending batch: rejects to the dead-letter topic, rows to
    /// ClickHouse, then the progress. On error the batch stays pending.
    fn flush(&self, consumer: &BaseConsumer<Ctx>) -> Result<(), String> {
        let mut pending = self.pending.lock().expect("not poisoned");
        if pending.msgs.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let now = self.enricher.now();
        let results: Vec<Result<Row, String>> = pending
            .msgs
            .par_iter()
            .enumerate()
            .map(|(i, m)| classify(m, &self.enricher, crate::enrich::arrival(now, i)))
            .collect();
        self.metrics.enrich_seconds.observe(started.elapsed());

        let mut batch = SourcedBatch::default();
        let mut rejects = Vec::new();
        for (msg, result) in pending.msgs.iter().zip(results) {
            match result {
                Ok(Row::Item(item)) => batch.items.push((*item, Some(msg.source.clone()))),
                Ok(Row::Event(e)) => batch.events.push((e, Some(msg.source.clone()))),
                Err(reason) => rejects.push((msg, reason)),
            }
        }
        let n_items = batch.items.len();
        let write_started = Instant::now();
        let outcome = self.handle.block_on(async {
            let mut deliveries = Vec::new();
            for (msg, reason) in &rejects {
                tracing::info!(
                    "{}/{}@{}: {reason} → {DLQ_TOPIC}",
                    msg.source.topic,
                    msg.source.partition,
                    msg.source.offset
                );
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "minyi-reason",
                        value: Some(reason.as_str()),
                    })
                    .insert(Header {
                        key: "minyi-source",
                        value: Some(&format!(
                            "{}/{}@{}",
                            msg.source.topic, msg.source.partition, msg.source.offset
                        )),
                    });
                let record = FutureRecord::<String, [u8]>::to(DLQ_TOPIC)
                    .payload(&msg.payload)
                    .headers(headers);
                deliveries.push(
                    enqueue(&self.dlq, record)
                        .await
                        .map_err(|e| e.to_string())?,
                );
            }
            settle(&mut deliveries)
                .await
                .map_err(|e| format!("dead-letter topic: {e}"))?;
            let mut done: BTreeMap<(String, i32), i64> = BTreeMap::new();
            for m in &pending.msgs {
                let o = done
                    .entry((m.source.topic.clone(), m.source.partition))
                    .or_insert(m.source.offset);
                *o = (*o).max(m.source.offset);
            }
            let done: Vec<Source> = done
                .into_iter()
                .map(|((topic, partition), offset)| Source {
                    topic,
                    partition,
                    offset,
                })
                .collect();
            let outcome = self
                .store
                .write_sourced(batch, &done)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((outcome, done))
        });
        let (outcome, done) = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.metrics.insert_failures.fetch_add(1, Relaxed);
                return Err(e);
            }
        };
        self.metrics.insert_seconds.observe(write_started.elapsed());
        let fresh = outcome.new_items.iter().filter(|n| **n).count();
        let m = &self.metrics;
        m.items_stored.fetch_add(fresh as u64, Relaxed);
        m.items_duplicate
            .fetch_add((n_items - fresh) as u64, Relaxed);
        m.events_stored
            .fetch_add(outcome.new_events as u64, Relaxed);
        m.dead_lettered.fetch_add(rejects.len() as u64, Relaxed);
        m.batches.fetch_add(1, Relaxed);
        m.batch_rows_sum
            .fetch_add(pending.msgs.len() as u64, Relaxed);
        // Kafka's committed offsets: for lag tools only.
        let mut tpl = TopicPartitionList::new();
        for s in &done {
            let _ = tpl.add_partition_offset(&s.topic, s.partition, Offset::Offset(s.offset + 1));
        }
        let _ = consumer.commit(&tpl, CommitMode::Async);
        *pending = Pending::default();
        Ok(())
    }
}

/// The consumer's context: assignments start where ClickHouse says,
/// revocations write the pending batch first.
struct Ctx {
    flusher: Arc<Flusher>,
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let f = &self.flusher;
        f.metrics.rebalances.fetch_add(1, Relaxed);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let resume = f.handle.block_on(resume_positions(&f.store, tpl));
                let assigned: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                for key in assigned {
                    let next = resume
                        .get(&key)
                        .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                    let _ = tpl.set_partition_offset(&key.0, key.1, next);
                }
                tracing::info!(
                    "assigned {} partitions, resuming from the offsets stored in ClickHouse",
                    tpl.count()
                );
                {
                    let mut expected = f.expected.lock().expect("not poisoned");
                    expected.clear();
                    expected.extend(resume);
                }
                *f.assigned.lock().expect("not poisoned") = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                f.metrics
                    .assigned_partitions
                    .store(tpl.count() as i64, Relaxed);
                if let Err(e) = consumer.assign(tpl) {
                    tracing::warn!("assign: {e}");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(e) = f.flush(consumer) {
                    // The next owner reads these messages again from the
                    // offsets ClickHouse holds: nothing is lost.
                    tracing::warn!(
                        "revoked with an unwritten batch ({e}); its partitions' next owner reads it again"
                    );
                    *f.pending.lock().expect("not poisoned") = Pending::default();
                }
                f.expected.lock().expect("not poisoned").clear();
                f.assigned.lock().expect("not poisoned").clear();
                f.metrics.paused.store(false, Relaxed);
                f.metrics.assigned_partitions.store(0, Relaxed);
                let _ = consumer.unassign();
            }
            other => {
                tracing::warn!("rebalance error {other:?}");
                let _ = consumer.unassign();
            }
        }
    }
}

/// One past the highest offset ClickHouse holds, per assigned partition;
/// waits (retrying) while ClickHouse is unreachable — starting anywhere
/// else could count a message twice or not at all.
async fn resume_positions(
    store: &ClickHouseStore,
    tpl: &TopicPartitionList,
) -> BTreeMap<(String, i32), i64> {
    let mut topics: Vec<String> = tpl
        .elements()
        .iter()
        .map(|e| e.topic().to_owned())
        .collect();
    topics.sort();
    topics.dedup();
    let mut delay = Duration::from_millis(200);
    loop {
        let mut out = BTreeMap::new();
        let mut failed = None;
        for t in &topics {
            match store.resume_offsets(t).await {
                Ok(rows) => out.extend(rows.into_iter().map(|(p, o)| ((t.clone(), p), o))),
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            None => return out,
            Some(e) => {
                tracing::warn!("reading stored offsets: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Consumer settings: prompt group joins (tansu included), no auto-commit,
/// bounded prefetch.
fn consumer_config(opts: &IngestOptions) -> rdkafka::ClientConfig {
    let mut c = client_config(&opts.brokers);
    c.set("group.id", &opts.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "60000")
        .set("fetch.wait.max.ms", "100")
        // Whole partitions per fetch, never a record batch cut in two:
        // tansu answers the fetch after a cut batch from the wrong offset.
        .set("max.partition.fetch.bytes", "67108864")
        .set("fetch.max.bytes", "134217728")
        .set("receive.message.max.bytes", "134218240")
        .set("queued.max.messages.kbytes", "65536")
        .set("partition.assignment.strategy", "range");
    c
}

/// Runs the consumer on the calling thread (not an async worker: it
/// blocks) until `shutdown`, then writes what is pending and leaves the
/// group.
pub fn run(
    opts: IngestOptions,
    store: ClickHouseStore,
    enricher: Arc<Enricher>,
    metrics: Arc<IngestMetrics>,
    handle: Handle,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let dlq = super::producer(&opts.brokers)?;
    let flusher = Arc::new(Flusher {
        store,
        enricher,
        dlq,
        metrics: metrics.clone(),
        handle,
        pending: Mutex::new(Pending::default()),
        expected: Mutex::new(HashMap::default()),
        assigned: Mutex::new(Vec::new()),
    });
    watch_lag(flusher.clone(), shutdown.clone());
    let mut gaps: HashMap<(String, i32, i64), Gap> = HashMap::default();
    let consumer: BaseConsumer<Ctx> = consumer_config(&opts).create_with_context(Ctx {
        flusher: flusher.clone(),
    })?;
    consumer.subscribe(&[FEEDBACK_TOPIC, EVENTS_TOPIC])?;

    let mut retry_at: Option<Instant> = None;
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        // A failed write waits for its retry; partitions stay paused.
        if let Some(at) = retry_at
            && Instant::now() >= at
        {
            match flusher.flush(&consumer) {
                Ok(()) => {
                    tracing::info!("ClickHouse writes again; resuming");
                    retry_at = None;
                    backoff = Duration::from_millis(200);
                    metrics.paused.store(false, Relaxed);
                    if let Ok(a) = consumer.assignment() {
                        let _ = consumer.resume(&a);
                    }
                }
                Err(e) => {
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    tracing::warn!("write failed again ({e}); retry in {backoff:?}");
                    retry_at = Some(Instant::now() + backoff);
                }
            }
        }
        if retry_at.is_some() && !metrics.paused.load(Relaxed) {
            // A revoke let the batch go (and cleared the pause): start clean.
            retry_at = None;
        }
        let wait = {
            let p = flusher.pending.lock().expect("not poisoned");
            match (retry_at, p.since) {
                (Some(at), _) => at.saturating_duration_since(Instant::now()),
                (None, Some(since)) => opts.batch_wait.saturating_sub(since.elapsed()),
                (None, None) => Duration::from_millis(200),
            }
        };
        if let Some(result) = consumer.poll(wait.min(Duration::from_millis(200))) {
            match result {
                Ok(m) => {
                    if !in_sequence(
                        &consumer,
                        &flusher,
                        &mut gaps,
                        m.topic(),
                        m.partition(),
                        m.offset(),
                    ) {
                        continue;
                    }
                    metrics.messages.fetch_add(1, Relaxed);
                    let payload = m.payload().unwrap_or_default().to_vec();
                    let mut p = flusher.pending.lock().expect("not poisoned");
                    p.bytes += payload.len();
                    p.since.get_or_insert_with(Instant::now);
                    p.msgs.push(Msg {
                        source: Source {
                            topic: m.topic().to_owned(),
                            partition: m.partition(),
                            offset: m.offset(),
                        },
                        payload,
                    });
                }
                Err(e) => tracing::warn!("kafka: {e}"),
            }
        }
        let due = {
            let p = flusher.pending.lock().expect("not poisoned");
            p.msgs.len() >= opts.batch_rows
                || p.bytes >= opts.batch_bytes
                || p.since.is_some_and(|s| s.elapsed() >= opts.batch_wait)
        };
        if due
            && retry_at.is_none()
            && let Err(e) = flusher.flush(&consumer)
        {
            tracing::warn!("write failed ({e}); pausing the partitions, retry in {backoff:?}");
            if let Ok(a) = consumer.assignment() {
                let _ = consumer.pause(&a);
            }
            metrics.paused.store(true, Relaxed);
            retry_at = Some(Instant::now() + backoff);
        }
        if !gaps.is_empty() {
            give_up_gaps(&consumer, &flusher, &mut gaps);
        }
    }
    // Shutdown: write what is pending (retrying for a while), then leave.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = flusher.flush(&consumer) {
        if Instant::now() >= deadline {
            tracing::warn!(
                "giving up the pending batch at shutdown ({e}); it is read again on restart"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    consumer.unsubscribe();
    Ok(())
}

/// Whether a message is the next one of its partition. A message past the
/// next expected offset means the broker skipped a range (seen with tansu
/// under concurrent produce: offsets become visible out of order); the
/// partition is read again from the expected offset every
/// `GAP_RETRY_EVERY` (messages past the gap are dropped meanwhile, and read
/// again), so a hole never lands in ClickHouse, where resuming from the
/// highest stored offset would make it permanent. After `GAP_PATIENCE` a
/// gap is accepted, loudly. A message before the expected offset was read
/// already.
fn in_sequence(
    consumer: &BaseConsumer<Ctx>,
    flusher: &Flusher,
    gaps: &mut HashMap<(String, i32, i64), Gap>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> bool {
    let mut expected = flusher.expected.lock().expect("not poisoned");
    let key = (topic.to_owned(), partition);
    match expected.get(&key).copied() {
        Some(next) if offset < next => return false,
        Some(next) if offset > next => {
            let now = Instant::now();
            let gap = gaps.entry((key.0.clone(), partition, next)).or_insert_with(|| {
                flusher.metrics.offset_gaps.fetch_add(1, Relaxed);
                tracing::warn!("{topic}/{partition}: expected offset {next}, got {offset}; reading again from {next}"
                );
                Gap {
                    since: now,
                    sought: now - GAP_RETRY_EVERY,
                    seen: offset,
                    back: 0,
                }
            });
            if now.duration_since(gap.since) < GAP_PATIENCE {
                if now.duration_since(gap.sought) >= GAP_RETRY_EVERY {
                    // Some brokers (tansu) answer a fetch from an offset
                    // inside a record batch with the next batch: start a
                    // little earlier each time (what was read already is
                    // dropped above) until the batch holding `next` comes.
                    gap.sought = now;
                    let from = (next - gap.back).max(0);
                    gap.back = (gap.back * 4).max(64);
                    drop(expected);
                    if let Err(e) = consumer.seek(
                        topic,
                        partition,
                        Offset::Offset(from),
                        Duration::from_secs(2),
                    ) {
                        tracing::warn!("seek {topic}/{partition} to {from}: {e}");
                    }
                }
                return false;
            }
            tracing::warn!(
                "{topic}/{partition}: offsets {next}..{offset} still missing after {GAP_PATIENCE:?}; going on from {offset}"
            );
        }
        _ => {}
    }
    if let Some(next) = expected.get(&key)
        && gaps.remove(&(key.0.clone(), partition, *next)).is_some()
        && offset == *next
    {
        tracing::info!("{topic}/{partition}: offset {next} arrived; gap closed");
    }
    expected.insert(key, offset + 1);
    true
}

/// Gaps still open after `GAP_PATIENCE` (the partition may deliver
/// nothing at all from the missing offset): read on from the first offset
/// seen past them.
fn give_up_gaps(
    consumer: &BaseConsumer<Ctx>,
    flusher: &Flusher,
    gaps: &mut HashMap<(String, i32, i64), Gap>,
) {
    let stale: Vec<(String, i32, i64)> = gaps
        .iter()
        .filter(|(_, g)| g.since.elapsed() >= GAP_PATIENCE)
        .map(|(k, _)| k.clone())
        .collect();
    for key in stale {
        let Some(gap) = gaps.remove(&key) else {
            continue;
        };
        let (topic, partition, next) = key;
        tracing::warn!(
            "{topic}/{partition}: offsets {next}..{} still missing after {GAP_PATIENCE:?}; going on from {}",
            gap.seen,
            gap.seen
        );
        let mut expected = flusher.expected.lock().expect("not poisoned");
        if expected.get(&(topic.clone(), partition)) == Some(&next) {
            expected.insert((topic.clone(), partition), gap.seen);
            drop(expected);
            if let Err(e) = consumer.seek(
                &topic,
                partition,
                Offset::Offset(gap.seen),
                Duration::from_secs(2),
            ) {
                tracing::warn!("seek {topic}/{partition} to {}: {e}", gap.seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, payload: &[u8]) -> Msg {
        Msg {
            source: Source {
                topic: topic.into(),
                partition: 0,
                offset: 7,
            },
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn every_bad_message_has_a_reason() {
        let e = Enricher::builtin(b"k").unwrap();
        let now = e.now();
        let reason = |m: Msg| match classify(&m, &e, now) {
            Ok(_) => String::new(),
            Err(r) => r,
        };
        assert_eq!(reason(msg(FEEDBACK_TOPIC, b"")), "empty message");
        assert!(reason(msg(FEEDBACK_TOPIC, b"{\"id\": \xff}")).starts_with("not UTF-8"));
        assert!(reason(msg(FEEDBACK_TOPIC, b"{\"id\": ")).starts_with("not JSON"));
        assert!(
            reason(msg(FEEDBACK_TOPIC, br#"{"channel":"fax","text":"x"}"#)).contains("channel")
        );
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert!(reason(msg(FEEDBACK_TOPIC, &big)).contains("over the limit"));
        let long = format!(r#"{{"channel":"wechat","text":"{}"}}"#, "长".repeat(20_001));
        assert!(reason(msg(FEEDBACK_TOPIC, long.as_bytes())).contains("20000"));
        assert!(reason(msg(EVENTS_TOPIC, br#"{"event":"created"}"#)).contains("order_id"));
        assert!(matches!(
            classify(
                &msg(
                    FEEDBACK_TOPIC,
                    r#"{"channel":"wechat","text":"出警很快"}"#.as_bytes()
                ),
                &e,
                now
            ),
            Ok(Row::Item(_))
        ));
    }
}
