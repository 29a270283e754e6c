//! The write path: batches as rows, inserted. In: items and work-order
//! events, each with the Kafka message it came from (or none, for HTTP
//! ingest), and the offsets the consumer is done with. Out: which items
//! and how many events were new, and where to resume each partition.
//! Guarantees: an item whose id is stored already, or an event stored
//! already, is skipped; each table gets one INSERT per batch; when an
//! order's state changes, its last new event retracts the previous state
//! and sets the new one (`order_states`), so the queries sum signs instead
//! of folding.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use clickhouse::{Client, Row};
use serde::Serialize;

use super::{ClickHouseStore, ch, datetime};
use crate::model::EnrichedItem;
use crate::model::Rating;
use crate::store::{Result, WriteOutcome};
use crate::workorder::{OrderEvent, StoredEvent, WorkOrderEvent, fold};

/// Where a row came from: the Kafka message (topic, partition, offset), or
/// nothing for HTTP ingest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Row, Serialize)]
struct ItemRow {
    id: String,
    ts: u32,
    received_at: String,
    channel: String,
    district: String,
    unit: String,
    sentiment: &'static str,
    score: f32,
    rating: u8,
    case_ref: String,
    topics: Vec<String>,
    keywords: Vec<crate::model::Word>,
    tokens: Vec<crate::model::Word>,
    text: String,
    detail: String,
    ingested_us: u64,
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
}

#[derive(Row, Serialize, Default)]
struct EventRow {
    order_id: String,
    event: &'static str,
    at: u32,
    feedback_id: String,
    unit: String,
    rating: u8,
    ingested_us: u64,
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
    /// The order's state before this batch, retracted here (1), or none.
    replaces: u8,
    old_created_at: u32,
    old_resolved: u8,
    old_unit: String,
    old_feedback_id: String,
    old_satisfied: u8,
    /// The order's state after this batch, set here (1), or none.
    sets: u8,
    new_created_at: u32,
    new_resolved: u8,
    new_unit: String,
    new_feedback_id: String,
    new_satisfied: u8,
}

impl EventRow {
    /// Makes this row the one that moves its order from `old` (none for a
    /// new order) to `new`.
    fn carry(&mut self, old: Option<OrderRow>, new: OrderRow) {
        if let Some(old) = old {
            self.replaces = 1;
            self.old_created_at = old.created_at;
            self.old_resolved = old.resolved;
            self.old_unit = old.unit;
            self.old_feedback_id = old.feedback_id;
            self.old_satisfied = old.satisfied;
        }
        self.sets = 1;
        self.new_created_at = new.created_at;
        self.new_resolved = new.resolved;
        self.new_unit = new.unit;
        self.new_feedback_id = new.feedback_id;
        self.new_satisfied = new.satisfied;
    }
}

/// An order's state as `order_states` counts it
/// (`pipelines/clickhouse/003_order_states.sql`); the event rows carry it
/// as the `old_*` and `new_*` columns.
#[derive(Debug, Default, Clone, PartialEq)]
struct OrderRow {
    created_at: u32,
    resolved: u8,
    unit: String,
    feedback_id: String,
    satisfied: u8,
}

impl OrderRow {
    fn of(events: &[StoredEvent]) -> OrderRow {
        let s = fold(events);
        OrderRow {
            created_at: datetime(s.created_at),
            resolved: u8::from(s.resolved_at.is_some()),
            unit: s.unit.unwrap_or_default(),
            feedback_id: s.feedback_id.unwrap_or_default(),
            satisfied: u8::from(s.satisfied_at.is_some()),
        }
    }
}

#[derive(Row, Serialize)]
struct ProgressRow {
    topic: String,
    partition: i32,
    offset: i64,
    at: u32,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl ItemRow {
    fn new(item: EnrichedItem, source: Option<&Source>, ingested_us: u64) -> ItemRow {
        let detail = crate::store::detail_json(&item);
        ItemRow {
            ts: datetime(item.received_at.timestamp()),
            received_at: item.received_at.to_rfc3339(),
            channel: item.channel,
            district: item.district.unwrap_or_default(),
            unit: item.unit.unwrap_or_default(),
            sentiment: item.sentiment.label.as_str(),
            score: item.sentiment.score,
            rating: item.rating.map_or(0, |r| r.number()),
            case_ref: item.case_ref.unwrap_or_default(),
            topics: item.topics,
            keywords: item.keywords,
            tokens: item.tokens,
            text: item.text,
            detail,
            ingested_us,
            source_topic: source.map_or_else(String::new, |s| s.topic.clone()),
            source_partition: source.map_or(-1, |s| s.partition),
            source_offset: source.map_or(-1, |s| s.offset),
            id: item.id,
        }
    }
}

/// A batch for ClickHouse: items and events, each with where it came from.
#[derive(Debug, Default)]
pub struct SourcedBatch {
    pub items: Vec<(EnrichedItem, Option<Source>)>,
    pub events: Vec<(WorkOrderEvent, Option<Source>)>,
}

impl ClickHouseStore {
    /// Writes items and events with where they came from, then records the
    /// consumer done with `done` (the highest offset read of each
    /// partition). Items whose id is stored already, and events stored
    /// already, are skipped; each table gets one INSERT (atomic for the
    /// batch sizes minyi uses). `ingest_progress` gets a row only for a
    /// partition whose highest offset is not a stored row (a reject, a
    /// duplicate): resuming takes the highest offset of all three tables.
    pub async fn write_sourced(
        &self,
        batch: SourcedBatch,
        done: &[Source],
    ) -> Result<WriteOutcome> {
        let ingested = now_us();
        let mut outcome = WriteOutcome::default();
        // The highest offset stored as a row, for each partition of `done`.
        let mut stored_max = vec![-1i64; done.len()];
        let mut note = |s: &Option<Source>| {
            if let Some(s) = s
                && let Some(i) = done
                    .iter()
                    .position(|d| d.partition == s.partition && d.topic == s.topic)
            {
                stored_max[i] = stored_max[i].max(s.offset);
            }
        };
        if !batch.items.is_empty() {
            let stored = self.stored_ids(&batch.items).await?;
            let mut seen = HashSet::new();
            let mut rows = Vec::with_capacity(batch.items.len());
            for (item, source) in batch.items {
                let new = !stored.contains(&item.id) && seen.insert(item.id.clone());
                outcome.new_items.push(new);
                if new {
                    note(&source);
                    rows.push(ItemRow::new(item, source.as_ref(), ingested));
                }
            }
            insert_rows(&self.client, "feedback", &rows).await?;
        }
        if !batch.events.is_empty() {
            let stored = self.stored_orders(&batch.events).await?;
            // The new events of each order, and its last new row.
            let mut fresh: HashMap<String, (Vec<StoredEvent>, usize)> = HashMap::new();
            let mut rows: Vec<EventRow> = Vec::new();
            for (e, source) in batch.events {
                let at = datetime(e.at.timestamp());
                let event = StoredEvent {
                    event: e.event,
                    at: i64::from(at),
                    // As read back: an empty string is no value.
                    feedback_id: e.feedback_id.filter(|f| !f.is_empty()),
                    unit: e.unit.filter(|u| !u.is_empty()),
                    rating: e.rating,
                };
                let same = |s: &StoredEvent| s.event == event.event && s.at == event.at;
                let (new, last) = fresh.entry(e.order_id.clone()).or_default();
                if stored.get(&e.order_id).is_some_and(|s| s.iter().any(same))
                    || new.iter().any(same)
                {
                    continue;
                }
                note(&source);
                rows.push(EventRow {
                    event: e.event.as_str(),
                    at,
                    feedback_id: event.feedback_id.clone().unwrap_or_default(),
                    unit: event.unit.clone().unwrap_or_default(),
                    rating: event.rating.map_or(0, Rating::number),
                    ingested_us: ingested,
                    source_topic: source
                        .as_ref()
                        .map_or_else(String::new, |s| s.topic.clone()),
                    source_partition: source.as_ref().map_or(-1, |s| s.partition),
                    source_offset: source.as_ref().map_or(-1, |s| s.offset),
                    order_id: e.order_id,
                    ..EventRow::default()
                });
                new.push(event);
                *last = rows.len() - 1;
            }
            // The last new event of each order moves its state.
            for (order, (new, last)) in fresh {
                if new.is_empty() {
                    continue;
                }
                let before = stored.get(&order);
                let old = before.map(|b| OrderRow::of(b));
                let mut all = before.cloned().unwrap_or_default();
                all.extend(new);
                let now = OrderRow::of(&all);
                if old.as_ref() != Some(&now) {
                    rows[last].carry(old, now);
                }
            }
            outcome.new_events = rows.len();
            insert_rows(&self.client, "workorder_events", &rows).await?;
        }
        let uncovered: Vec<Source> = done
            .iter()
            .zip(&stored_max)
            .filter(|(d, stored)| **stored < d.offset)
            .map(|(d, _)| d.clone())
            .collect();
        self.save_progress(&uncovered).await?;
        Ok(outcome)
    }

    /// The ids of `items` stored already. The batch's time range lets the
    /// primary key (ts, id) skip all but a few granules.
    async fn stored_ids(
        &self,
        items: &[(EnrichedItem, Option<Source>)],
    ) -> Result<HashSet<String>> {
        let ts = items.iter().map(|(i, _)| i.received_at.timestamp());
        let (lo, hi) = (ts.clone().min().unwrap_or(0), ts.max().unwrap_or(0));
        // One array literal, not one literal per id: the server parses a
        // 20,000-id batch as one value.
        let ids: Vec<&str> = items.iter().map(|(i, _)| i.id.as_str()).collect();
        let q = self
            .client
            .query(
                "SELECT id FROM feedback WHERE ts >= ? AND ts <= ? \
                 AND id IN (SELECT arrayJoin(?))",
            )
            .bind(datetime(lo))
            .bind(datetime(hi))
            .bind(ids);
        Ok(q.fetch_all::<String>()
            .await
            .map_err(ch)?
            .into_iter()
            .collect())
    }

    /// The stored events of the orders of `events`: to skip the ones
    /// stored already, and to fold each order's state before the batch.
    async fn stored_orders(
        &self,
        events: &[(WorkOrderEvent, Option<Source>)],
    ) -> Result<HashMap<String, Vec<StoredEvent>>> {
        let orders: HashSet<&str> = events.iter().map(|(e, _)| e.order_id.as_str()).collect();
        let marks = vec!["?"; orders.len()].join(",");
        let mut q = self.client.query(&format!(
            "SELECT order_id, toString(event), toUInt32(at), feedback_id, unit, rating
             FROM workorder_events WHERE order_id IN ({marks})"
        ));
        for o in orders {
            q = q.bind(o);
        }
        let rows: Vec<(String, String, u32, String, String, u8)> =
            q.fetch_all().await.map_err(ch)?;
        let mut out: HashMap<String, Vec<StoredEvent>> = HashMap::new();
        let some = |s: String| (!s.is_empty()).then_some(s);
        for (order, event, at, feedback_id, unit, rating) in rows {
            let Some(event) = OrderEvent::parse(&event) else {
                continue;
            };
            out.entry(order).or_default().push(StoredEvent {
                event,
                at: i64::from(at),
                feedback_id: some(feedback_id),
                unit: some(unit),
                rating: Rating::from_number(rating),
            });
        }
        Ok(out)
    }

    /// Records that the consumer is done with these offsets (the highest of
    /// each partition), rejected messages included.
    async fn save_progress(&self, done: &[Source]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let at = datetime(chrono::Utc::now().timestamp());
        let rows: Vec<ProgressRow> = done
            .iter()
            .map(|s| ProgressRow {
                topic: s.topic.clone(),
                partition: s.partition,
                offset: s.offset,
                at,
            })
            .collect();
        insert_rows(&self.client, "ingest_progress", &rows).await
    }

    /// The next offset to read of each partition of `topic` that the store
    /// has seen: one past the highest stored or finished offset.
    pub async fn resume_offsets(&self, topic: &str) -> Result<Vec<(i32, i64)>> {
        let rows: Vec<(i32, i64)> = self
            .client
            .query(
                "SELECT p, max(o) + 1 FROM (
                     SELECT source_partition AS p, source_offset AS o FROM feedback
                     WHERE source_topic = ? AND source_offset >= 0
                     UNION ALL
                     SELECT source_partition AS p, source_offset AS o FROM workorder_events
                     WHERE source_topic = ? AND source_offset >= 0
                     UNION ALL
                     SELECT partition AS p, offset AS o FROM ingest_progress WHERE topic = ?
                 ) GROUP BY p",
            )
            .bind(topic)
            .bind(topic)
            .bind(topic)
            .fetch_all()
            .await
            .map_err(ch)?;
        Ok(rows)
    }
}

/// One INSERT of `rows` into `table` (nothing for none): atomic for the
/// batch sizes minyi uses, acknowledged when ClickHouse has it.
pub(super) async fn insert_rows<T>(client: &Client, table: &str, rows: &[T]) -> Result<()>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite,
{
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client.insert::<T>(table).await.map_err(ch)?;
    for row in rows {
        insert.write(row).await.map_err(ch)?;
    }
    insert.end().await.map_err(ch)
}
