//! The distributed store: ClickHouse over HTTP with the official
//! `clickhouse` crate (RowBinary, LZ4), behind the same [`Store`] trait and
//! answering the same typed [`Query`] as SQLite — identical answers are a
//! test (`tests/clickhouse_conformance.rs`).
//!
//! Schema: `pipelines/clickhouse/*.sql`, applied in order by
//! [`ClickHouseStore::migrate`] and recorded in `minyi_migrations`. The
//! materialized views keep the hourly rollups (`rollup_hour`,
//! `rollup_keyword_hour`); which hours they answer is decided by the same
//! code as in SQLite (`store::sql`), the minutes around them come from the
//! items. Each order's state is folded at write time, as in SQLite, and
//! kept as signed rows in `order_states` (`003_order_states.sql`): the KPIs
//! sum signs instead of folding every event. 不满意化解 (a dissatisfied item
//! with a later satisfied item on its case, or whose order was revisited as
//! satisfied) is computed at query time.
//!
//! Every identifier in the SQL below is a literal of this file; every value
//! is bound (`?`, escaped by the crate). Runs on ClickHouse 18.16 (Debian
//! 12's) and current releases; see the schema file for the version gates.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use clickhouse::{Client, Row};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::sql::{
    Where, edges_where, hour_span, hours_where, keyword_rollup_answers, rollup_plan,
    rollups_answer, timeseries_from_rows,
};
use super::{QuerySettings, Result, Store, StoreError, WriteBatch, WriteOutcome};
use crate::model::EnrichedItem;
use crate::model::Rating;
use crate::query::{
    Answer, Cursor, Dim, FeedbackRow, Filters, Interval, Orders, Query, Summary, Timeseries,
    TopDim, TopRow, rfc3339,
};
use crate::workorder::{OrderEvent, StoredEvent, WorkOrderEvent, fold};

/// Where a row came from: the Kafka message (topic, partition, offset), or
/// nothing for HTTP ingest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A bound value.
#[derive(Debug, Clone)]
enum Param {
    Int(i64),
    Str(String),
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(v)
    }
}

fn texts(v: &[String]) -> Vec<Param> {
    v.iter().map(|s| Param::Str(s.clone())).collect()
}

fn ch(e: clickhouse::error::Error) -> StoreError {
    StoreError::ClickHouse(e.to_string())
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
    keywords: Vec<String>,
    tokens: Vec<String>,
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
            satisfied: u8::from(s.revisited_satisfied),
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

#[derive(Row, Serialize)]
struct StateRow {
    kind: String,
    id: String,
    updated_at: u64,
    doc: String,
}

#[derive(Row, Deserialize)]
struct ItemOut {
    seq: i64,
    ts: u32,
    id: String,
    channel: String,
    received_at: String,
    text: String,
    rating: u8,
    district: String,
    unit: String,
    case_ref: String,
    topics: Vec<String>,
    keywords: Vec<String>,
    sentiment: String,
    score: f32,
    detail: String,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Clamps a unix time into ClickHouse's `DateTime` (UInt32) range.
fn datetime(t: i64) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    settings: QuerySettings,
    /// The server's (major, minor) version.
    version: (u32, u32),
}

impl ItemRow {
    fn new(item: EnrichedItem, source: Option<&Source>, ingested_us: u64) -> ItemRow {
        let detail = super::detail_json(&item);
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
    /// Connects to `url` (`http://host:8123`, optionally `?database=name`
    /// style is not parsed: use [`ClickHouseStore::connect_db`]) and reads
    /// the server's version.
    pub async fn connect(url: &str, settings: QuerySettings) -> Result<ClickHouseStore> {
        ClickHouseStore::connect_db(url, "default", settings).await
    }

    pub async fn connect_db(
        url: &str,
        database: &str,
        settings: QuerySettings,
    ) -> Result<ClickHouseStore> {
        let client = Client::default()
            .with_url(url)
            .with_database(database)
            // 18.16 lacks RowBinaryWithNamesAndTypes, which validation needs.
            .with_validation(false)
            .with_compression(clickhouse::Compression::Lz4)
            // Id lists of a whole batch travel in the query text.
            .with_setting("max_query_size", "16777216")
            .with_setting("max_ast_elements", "10000000")
            .with_setting("max_expanded_ast_elements", "10000000");
        let version: String = client
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(|e| StoreError::ClickHouse(format!("cannot reach {url}: {e}")))?;
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Ok(ClickHouseStore {
            client,
            settings,
            version,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server's (major, minor) version.
    pub fn version(&self) -> (u32, u32) {
        self.version
    }

    /// Applies the schema steps (file name, SQL) not applied before, in
    /// order, each statement once; returns the names applied now.
    pub async fn migrate(&self, steps: &[(String, String)]) -> Result<Vec<String>> {
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS minyi_migrations
                     (name String, applied_at DateTime) ENGINE = TinyLog",
            )
            .execute()
            .await
            .map_err(ch)?;
        let done: Vec<String> = self
            .client
            .query("SELECT name FROM minyi_migrations")
            .fetch_all()
            .await
            .map_err(ch)?;
        let mut applied = Vec::new();
        for (name, sql) in steps {
            if done.contains(name) {
                continue;
            }
            for statement in statements(&self.render_gates(sql)) {
                self.client
                    .query_raw(&statement)
                    .execute()
                    .await
                    .map_err(|e| StoreError::ClickHouse(format!("{name}: {e}")))?;
            }
            self.client
                .query("INSERT INTO minyi_migrations (name, applied_at) VALUES (?, now())")
                .bind(name)
                .execute()
                .await
                .map_err(ch)?;
            applied.push(name.clone());
        }
        Ok(applied)
    }

    /// Whether the schema is in place (`minyi migrate` ran).
    pub async fn schema_ready(&self) -> Result<bool> {
        let n: u64 = self
            .client
            .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'feedback'")
            .fetch_one()
            .await
            .map_err(ch)?;
        Ok(n > 0)
    }

    /// Fills the version gates of the schema files.
    fn render_gates(&self, sql: &str) -> String {
        let lc = if self.version >= (19, 9) {
            "LowCardinality(String)"
        } else {
            "String"
        };
        sql.replace("{{lc}}", lc)
    }

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

    async fn fetch_tuples<T>(&self, sql: &str, params: Vec<Param>) -> Result<Vec<T>>
    where
        T: Row + for<'b> clickhouse::RowOwned + for<'b> clickhouse::RowRead,
    {
        bind(self.client.query(sql), params)
            .fetch_all::<T>()
            .await
            .map_err(ch)
    }

    async fn answer(&self, query: Query, now: i64) -> Result<Answer> {
        match query {
            Query::Summary(f) => self.summary(&f, now).await.map(Answer::Summary),
            Query::Orders(f) => self.orders(&f, now).await.map(Answer::Orders),
            Query::Timeseries {
                filters,
                interval,
                group_by,
            } => self
                .timeseries(&filters, interval, group_by)
                .await
                .map(Answer::Timeseries),
            Query::Top {
                filters,
                dim,
                limit,
            } => self.top(&filters, dim, limit).await.map(Answer::Top),
            Query::Feedback {
                filters,
                limit,
                cursor,
            } => self.feedback(&filters, limit, cursor, now).await,
            Query::Extent => {
                let (oldest, newest) = self.extent().await?;
                Ok(Answer::Extent { oldest, newest })
            }
        }
    }

    /// The times of the oldest and newest stored items (None: no items).
    async fn extent(&self) -> Result<(Option<i64>, Option<i64>)> {
        let rows: Vec<(u64, u32, u32)> = self
            .fetch_tuples(
                "SELECT count(), toUInt32(min(ts)), toUInt32(max(ts)) FROM feedback",
                Vec::new(),
            )
            .await?;
        let (n, lo, hi) = rows.first().copied().unwrap_or((0, 0, 0));
        Ok((
            (n > 0).then_some(i64::from(lo)),
            (n > 0).then_some(i64::from(hi)),
        ))
    }

    async fn summary(&self, f: &Filters, now: i64) -> Result<Summary> {
        const COUNTS: &str = "toUInt64({sum}),
             toUInt64({sumif}sentiment = 'positive')),
             toUInt64({sumif}sentiment = 'neutral')),
             toUInt64({sumif}sentiment = 'negative')),
             toUInt64({sumif}rating > 0)),
             toUInt64({sumif}rating IN (1, 2))),
             toUInt64({sumif}rating = 3))";
        let (sql, params) = if rollups_answer(f, false) {
            let (src, params) = rollup_source(f, None, true);
            let cols = COUNTS
                .replace("{sum}", "sum(n)")
                .replace("{sumif}", "sumIf(n, ");
            (format!("SELECT {cols} FROM ({src})"), params)
        } else {
            let w = items_where(f, true);
            let cols = COUNTS
                .replace("{sum}", "count()")
                .replace("{sumif}", "countIf(");
            (
                format!("SELECT {cols} FROM feedback WHERE {}", w.sql()),
                w.params,
            )
        };
        let rows: Vec<(u64, u64, u64, u64, u64, u64, u64)> =
            self.fetch_tuples(&sql, params).await?;
        let (received, positive, neutral, negative, rated, satisfied, dissatisfied) =
            rows.first().copied().unwrap_or_default();
        let mut out = Summary {
            received,
            positive,
            neutral,
            negative,
            rated,
            satisfied,
            dissatisfied,
            ..Summary::default()
        };

        if dissatisfied > 0 {
            // 不满意化解: a later satisfied item on the case, or the item's
            // work order revisited as satisfied. A later item is in the
            // range's end or after, never before its start. An order state
            // with a satisfied revisit, retracted or not, resolves its item
            // for good (as SQLite marks it); only the states of the
            // dissatisfied items counted are read.
            let w = items_where(f, true);
            let later = if f.from.is_some() { "AND ts >= ?" } else { "" };
            let sql = format!(
                "SELECT count() FROM (
                     SELECT id, toUInt32(ts) AS t, case_ref FROM feedback
                     WHERE rating = 3 AND {w}
                 ) AS dissatisfied ANY LEFT JOIN (
                     SELECT case_ref, max(toUInt32(ts)) AS sat FROM feedback
                     WHERE rating IN (1, 2) AND case_ref != '' {later} GROUP BY case_ref
                 ) AS satisfied USING case_ref
                 WHERE (case_ref != '' AND sat >= t) OR id IN (
                     SELECT feedback_id FROM order_states
                     WHERE satisfied = 1 AND feedback_id IN (
                         SELECT id FROM feedback WHERE rating = 3 AND {w}))",
                w = w.sql()
            );
            let mut params = w.params.clone();
            params.extend(f.from.map(Param::Int));
            params.extend(w.params);
            let rows: Vec<u64> = self.fetch_tuples(&sql, params).await?;
            out.dissatisfied_resolved = rows.first().copied().unwrap_or(0);
        }

        Ok(out.with_orders(self.orders(f, now).await?).with_rates())
    }

    /// Work orders created in the period; item filters apply through the
    /// item the order was opened for, the unit through the order's unit.
    /// Each order counts once in `order_states` (its current state +1,
    /// every earlier state +1 and -1).
    async fn orders(&self, f: &Filters, now: i64) -> Result<Orders> {
        let mut w: Where<Param> = Where::default();
        if let Some(from) = f.from {
            w.push("created_at >= ?", [Param::Int(from)]);
        }
        if let Some(to) = f.to {
            w.push("created_at < ?", [Param::Int(to)]);
        }
        let item_filters = Filters {
            unit: Vec::new(),
            ..f.clone()
        };
        if !item_filters.is_time_only() {
            let iw = items_where(&item_filters, false);
            w.push(
                &format!(
                    "feedback_id IN (SELECT id FROM feedback WHERE {})",
                    iw.sql()
                ),
                iw.params,
            );
        }
        w.any_of("unit", texts(&f.unit));
        let sql = format!(
            "SELECT toInt64(sum(sign)), toInt64(sumIf(sign, resolved = 1)),
                    toInt64(sumIf(sign, resolved = 0 AND created_at < ?))
             FROM order_states WHERE {}",
            w.sql()
        );
        let mut params = vec![Param::Int(now - self.settings.sla_seconds)];
        params.extend(w.params);
        let rows: Vec<(i64, i64, i64)> = self.fetch_tuples(&sql, params).await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let (created, resolved, overdue) = rows.first().copied().unwrap_or_default();
        Ok(Orders::new(count(created), count(resolved), count(overdue)))
    }

    async fn timeseries(
        &self,
        f: &Filters,
        interval: Interval,
        group_by: Option<Dim>,
    ) -> Result<Timeseries> {
        let width = interval.seconds();
        let off = self.settings.tz_offset;
        let by_topic = group_by == Some(Dim::Topic);
        let (sql, params) = if rollups_answer(f, by_topic) {
            let hours_ok = width >= 3600 && off % 3600 == 0;
            let (src, params) = rollup_source(f, group_by, hours_ok);
            (
                format!(
                    "SELECT toInt64(intDiv(toInt64(t) + {off}, {width}) * {width} - {off}) AS b,
                            k, toUInt64(sum(n))
                     FROM ({src}) GROUP BY b, k"
                ),
                params,
            )
        } else {
            let w = items_where(f, true);
            let (join, key) = item_key(group_by);
            (
                format!(
                    "SELECT toInt64(intDiv(toInt64(toUInt32(ts)) + {off}, {width}) * {width} - {off}) AS b,
                            {key} AS k, count()
                     FROM feedback {join} WHERE {} GROUP BY b, k",
                    w.sql()
                ),
                w.params,
            )
        };
        let rows: Vec<(i64, String, u64)> = self.fetch_tuples(&sql, params).await?;
        Ok(timeseries_from_rows(f, width, off, group_by, rows))
    }

    async fn top(&self, f: &Filters, dim: TopDim, limit: usize) -> Result<Vec<TopRow>> {
        let by_topic = dim == TopDim::Topic;
        const RANK: &str = "GROUP BY k ORDER BY c DESC, k LIMIT ?";
        let (sql, mut params) = match dim.dim() {
            Some(d) if rollups_answer(f, by_topic) => {
                let (src, params) = rollup_source(f, Some(d), true);
                (
                    format!(
                        "SELECT k, toUInt64(sum(n)) AS c, toUInt64(sumIf(n, sentiment = 'negative'))
                         FROM ({src}) WHERE k != '' {RANK}"
                    ),
                    params,
                )
            }
            Some(d) => {
                let w = items_where(f, true);
                let (join, key) = item_key(Some(d));
                (
                    format!(
                        "SELECT {key} AS k, count() AS c, countIf(sentiment = 'negative')
                         FROM feedback {join} WHERE {} AND k != '' {RANK}",
                        w.sql()
                    ),
                    w.params,
                )
            }
            // Hot words: whole hours from `rollup_keyword_hour`, the edges
            // from the items; by district, from the items alone (a rollup by
            // district has about one row per keyword of an item).
            None if keyword_rollup_answers(f) && f.district.is_empty() => {
                let span = hour_span(f);
                let mut iw = items_where(f, false);
                edges_where(&mut iw, "ts", f, span);
                let mut sql = format!(
                    "SELECT kw AS keyword, toString(sentiment) AS sentiment, toUInt64(1) AS n
                     FROM feedback ARRAY JOIN keywords AS kw WHERE {}",
                    iw.sql()
                );
                let mut params = iw.params;
                if let Some(span) = span {
                    let mut hw: Where<Param> = Where::default();
                    hours_where(&mut hw, "hour", span);
                    hw.any_of("sentiment", sentiments(f));
                    sql.push_str(&format!(
                        " UNION ALL SELECT keyword, sentiment, n FROM rollup_keyword_hour WHERE {}",
                        hw.sql()
                    ));
                    params.extend(hw.params);
                }
                (
                    format!(
                        "SELECT keyword AS k, toUInt64(sum(n)) AS c,
                                toUInt64(sumIf(n, sentiment = 'negative'))
                         FROM ({sql}) {RANK}"
                    ),
                    params,
                )
            }
            None => {
                let w = items_where(f, true);
                (
                    format!(
                        "SELECT kw AS k, count() AS c, countIf(sentiment = 'negative')
                         FROM feedback ARRAY JOIN keywords AS kw WHERE {} {RANK}",
                        w.sql()
                    ),
                    w.params,
                )
            }
        };
        params.push(Param::Int(limit as i64));
        let rows: Vec<(String, u64, u64)> = self.fetch_tuples(&sql, params).await?;
        Ok(rows
            .into_iter()
            .map(|(key, count, negative)| TopRow {
                key,
                count,
                negative,
            })
            .collect())
    }

    /// Items newest first, read back from the end of the range in windows
    /// of `ts` that grow eightfold (an hour, 8 hours, …): ClickHouse reads
    /// every column of every matching row before a LIMIT, so one query over
    /// the range would read the whole table for the newest page.
    async fn feedback(
        &self,
        f: &Filters,
        limit: usize,
        cursor: Option<Cursor>,
        now: i64,
    ) -> Result<Answer> {
        let mut w = items_where(f, true);
        if let Some(c) = cursor {
            w.push(
                "(ts < ? OR (ts = ? AND seq < ?))",
                [Param::Int(c.ts), Param::Int(c.ts), Param::Int(c.seq)],
            );
        }
        let sql = |window: &str| {
            format!(
                "SELECT toInt64(intDiv(sipHash64(id), 2)) AS seq, toUInt32(ts), id, toString(channel),
                        received_at, text, rating, toString(district), toString(unit), case_ref,
                        topics, keywords, toString(sentiment), score, detail
                 FROM feedback WHERE {} {window} ORDER BY ts DESC, seq DESC LIMIT ?",
                w.sql()
            )
        };
        // [start, end) of the first window; no end: up to the newest item.
        let mut end = match (f.to, cursor) {
            (Some(to), Some(c)) => Some(to.min(c.ts + 1)),
            (to, c) => to.or(c.map(|c| c.ts + 1)),
        };
        let mut span = 3600;
        let mut start = end.unwrap_or(now) - span;
        let mut oldest: Option<i64> = None;
        let mut rows: Vec<ItemOut> = Vec::new();
        loop {
            // The last window has no start: everything older.
            let last = f.from.or(oldest).is_some_and(|floor| start <= floor);
            let mut window = String::new();
            let mut params = w.params.clone();
            if !last {
                window.push_str(" AND ts >= ?");
                params.push(Param::Int(start));
            }
            if let Some(e) = end {
                window.push_str(" AND ts < ?");
                params.push(Param::Int(e));
            }
            params.push(Param::Int((limit + 1 - rows.len()) as i64));
            rows.extend(self.fetch_tuples::<ItemOut>(&sql(&window), params).await?);
            if rows.len() > limit || last {
                break;
            }
            if oldest.is_none() && f.from.is_none() {
                // No items: the next window is the last.
                oldest = Some(self.extent().await?.0.unwrap_or(i64::MAX));
            }
            end = Some(start);
            span *= 8;
            start -= span;
        }
        let tz = chrono::FixedOffset::east_opt(self.settings.tz_offset as i32)
            .unwrap_or_else(crate::config::default_timezone);
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let mut items: Vec<FeedbackRow> = rows
            .into_iter()
            .map(|r| FeedbackRow {
                cursor: Some(Cursor {
                    ts: i64::from(r.ts),
                    seq: r.seq,
                }),
                id: r.id,
                channel: r.channel,
                received_at: if r.received_at.is_empty() {
                    rfc3339(i64::from(r.ts), tz)
                } else {
                    r.received_at
                },
                text: r.text,
                rating: (r.rating > 0).then_some(r.rating),
                district: non_empty(r.district),
                unit: non_empty(r.unit),
                case_ref: non_empty(r.case_ref),
                topics: r.topics,
                keywords: r.keywords,
                sentiment: r.sentiment,
                score: f64::from(r.score),
                detail: serde_json::from_str(&r.detail).unwrap_or_default(),
            })
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(|i| i.cursor)
        } else {
            None
        };
        Ok(Answer::Feedback { items, next })
    }

    /// Items stored after `after` — (ingested_us, id) of the last one seen;
    /// rows of one batch share their `ingested_us` — whose time is at or
    /// after `since`: what the live ticker of `minyi api` pushes.
    pub async fn recent(
        &self,
        since: i64,
        after: (u64, &str),
        limit: usize,
    ) -> Result<Vec<RecentItem>> {
        self.client
            .query(
                "SELECT ingested_us, id, toString(channel), received_at, text, rating,
                        toString(district), toString(unit), topics, toString(sentiment), score
                 FROM feedback
                 WHERE ts >= ? AND (ingested_us > ? OR (ingested_us = ? AND id > ?))
                 ORDER BY ingested_us, id LIMIT ?",
            )
            .bind(datetime(since))
            .bind(after.0)
            .bind(after.0)
            .bind(after.1)
            .bind(limit as u64)
            .fetch_all()
            .await
            .map_err(ch)
    }
}

/// A newly stored item, as the live ticker shows it.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct RecentItem {
    pub ingested_us: u64,
    pub id: String,
    pub channel: String,
    pub received_at: String,
    pub text: String,
    pub rating: u8,
    pub district: String,
    pub unit: String,
    pub topics: Vec<String>,
    pub sentiment: String,
    pub score: f32,
}

/// One INSERT of `rows` into `table` (nothing for none): atomic for the
/// batch sizes minyi uses, acknowledged when ClickHouse has it.
async fn insert_rows<T>(client: &Client, table: &str, rows: &[T]) -> Result<()>
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

fn bind(mut q: clickhouse::query::Query, params: Vec<Param>) -> clickhouse::query::Query {
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(v),
            Param::Str(s) => q.bind(s),
        };
    }
    q
}

/// Splits a schema file into statements: `;` at the end of a line ends
/// one; comment lines are dropped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let s = current.trim().trim_end_matches(';').trim().to_owned();
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// The ARRAY JOIN and the key expression grouping items by `dim`.
fn item_key(dim: Option<Dim>) -> (&'static str, String) {
    match dim {
        None => ("", "''".to_owned()),
        Some(Dim::Topic) => ("ARRAY JOIN topics AS tk", "tk".to_owned()),
        Some(d) => ("", format!("toString({})", d.as_str())),
    }
}

/// Conditions on the raw items; `time` adds the range on `ts`.
fn items_where(f: &Filters, time: bool) -> Where<Param> {
    let mut w = Where::default();
    if time {
        if let Some(from) = f.from {
            w.push("ts >= ?", [Param::Int(from)]);
        }
        if let Some(to) = f.to {
            w.push("ts < ?", [Param::Int(to)]);
        }
    }
    dims_where(&mut w, f);
    w.any_of("rating", ratings(f));
    if !f.topic.is_empty() {
        let marks = vec!["?"; f.topic.len()].join(", ");
        w.push(&format!("hasAny(topics, [{marks}])"), texts(&f.topic));
    }
    if !f.q.is_empty() {
        let marks = vec!["?"; f.q.len()].join(", ");
        w.push(&format!("hasAll(tokens, [{marks}])"), texts(&f.q));
    }
    w
}

fn dims_where(w: &mut Where<Param>, f: &Filters) {
    w.any_of("channel", texts(&f.channel));
    w.any_of("district", texts(&f.district));
    w.any_of("unit", texts(&f.unit));
    w.any_of("sentiment", sentiments(f));
}

fn sentiments(f: &Filters) -> Vec<Param> {
    f.sentiment
        .iter()
        .map(|s| Param::Str(s.as_str().to_owned()))
        .collect()
}

fn ratings(f: &Filters) -> Vec<Param> {
    f.rating
        .iter()
        .map(|r| Param::Int(i64::from(r.number())))
        .collect()
}

/// The rows a rollup-path query aggregates, as a subquery with the columns
/// `(t, k, sentiment, rating, n)` — the same choice as SQLite's (whole
/// hours from `rollup_hour` when at most one of channel, topic, district
/// and unit is involved), but the minute-precise edges, and everything
/// else, come from the items themselves: a per-minute rollup of every
/// dimension has about one row per item, so here it would only double the
/// cost of each insert (`002_hourly_rollups.sql`).
fn rollup_source(f: &Filters, key: Option<Dim>, hours_ok: bool) -> (String, Vec<Param>) {
    let plan = rollup_plan(f, key, hours_ok);
    let span = plan.span;

    let mut iw = items_where(f, false);
    edges_where(&mut iw, "ts", f, span);
    let (join, item_k) = item_key(key);
    if key == Some(Dim::Topic) {
        // Per topic: only the filtered topics, as the rollups count them.
        iw.any_of("tk", texts(&f.topic));
    }
    let mut sql = format!(
        "SELECT toUInt32(ts) AS t, {item_k} AS k, toString(sentiment) AS sentiment, rating,
                toUInt64(1) AS n
         FROM feedback {join} WHERE {}",
        iw.sql()
    );
    let mut params = iw.params;
    if let Some(span) = span {
        let dim = plan.hour_dim;
        let hour_key = match key {
            Some(Dim::Sentiment) => "sentiment",
            Some(_) => "key",
            None => "''",
        };
        let mut hw: Where<Param> = Where::default();
        hw.push("dim = ?", [Param::Str(dim.to_owned())]);
        hours_where(&mut hw, "hour", span);
        hw.any_of("key", texts(plan.hour_keys));
        hw.any_of("sentiment", sentiments(f));
        hw.any_of("rating", ratings(f));
        sql.push_str(&format!(
            " UNION ALL
             SELECT toUInt32(hour) AS t, {hour_key} AS k, sentiment, rating, n
             FROM rollup_hour WHERE {}",
            hw.sql()
        ));
        params.extend(hw.params);
    }
    (sql, params)
}

impl Store for ClickHouseStore {
    fn write(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>> {
        let sourced = SourcedBatch {
            items: batch.items.into_iter().map(|i| (i, None)).collect(),
            events: batch.events.into_iter().map(|e| (e, None)).collect(),
        };
        let this = self.clone();
        async move { this.write_sourced(sourced, &[]).await }.boxed()
    }

    fn query(&self, query: Query, now: i64) -> BoxFuture<'static, Result<Answer>> {
        let this = self.clone();
        async move { this.answer(query, now).await }.boxed()
    }

    fn state_load(
        &self,
        kind: &'static str,
        since: i64,
    ) -> BoxFuture<'static, Result<Vec<String>>> {
        let client = self.client.clone();
        async move {
            client
                .query(
                    "SELECT doc FROM (
                         SELECT argMax(doc, updated_at) AS doc, max(updated_at) AS u
                         FROM state WHERE kind = ? GROUP BY id
                     ) WHERE u >= ?",
                )
                .bind(kind)
                .bind(since.max(0) as u64)
                .fetch_all::<String>()
                .await
                .map_err(ch)
        }
        .boxed()
    }

    fn state_save(
        &self,
        kind: &'static str,
        id: String,
        doc: String,
        at: i64,
    ) -> BoxFuture<'static, Result<()>> {
        let client = self.client.clone();
        async move {
            let row = StateRow {
                kind: kind.to_owned(),
                id,
                updated_at: at.max(0) as u64,
                doc,
            };
            insert_rows(&client, "state", &[row]).await
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'static, Result<()>> {
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_files_split_into_statements() {
        let s = statements(
            "-- a comment; with a semicolon\nCREATE TABLE a (x UInt8)\n  ENGINE = Memory;\n\nSELECT 1;\n",
        );
        assert_eq!(
            s,
            ["CREATE TABLE a (x UInt8)\n  ENGINE = Memory", "SELECT 1"]
        );
    }

    #[test]
    fn every_shipped_statement_is_gated_and_split() {
        let s = statements(crate::pipelines::CLICKHOUSE_SCHEMA[0].1);
        assert!(s.len() >= 10, "{}", s.len());
        assert!(s.iter().all(|st| st.starts_with("CREATE")), "{s:?}");
    }
}
