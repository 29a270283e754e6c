//! Exports ([`crate::store::Store::export`]): every item a filter matches,
//! newest first, with its work orders, incident and repeat mark, a window
//! of time at a time, each window one SELECT that joins them. In: the
//! filters and a row limit. Out: batches of [`FeedbackRow`], the same
//! rows and order as the list's pages give. Why: a page walk asks a query
//! per page plus three per thousand items for the attachments, and each of
//! those reads whole granules of tables keyed otherwise (an item's work
//! orders are scattered through `order_items` by their random ids), so a
//! 1M-row export at 2M items asked about 3,500 queries; here the server
//! reads each table once a window and joins. Windows keep the server's
//! memory small: one query for the whole export took 3 GB at 2M items and
//! hit the 8 GB limit at 10M.

use futures_util::stream::{self, BoxStream, StreamExt as _};
use serde::Deserialize;

use super::read::{ItemOut, Param, bind, feedback_row, items_where};
use super::{ClickHouseStore, ch};
use crate::query::{FeedbackRow, Filters, WorkOrderRef};
use crate::store::Result;

/// Rows handed on at once.
const BATCH: usize = 5_000;

/// An item with what the lists attach to it (the columns in order: the
/// item's as the lists read them, then the attachments).
#[derive(clickhouse::Row, Deserialize)]
struct ExportOut {
    item: ItemOut,
    /// (order_id, resolved) of its open work orders.
    orders: Vec<(String, u8)>,
    incident: String,
    repeat: u8,
}

impl ExportOut {
    fn row(self, tz: chrono::FixedOffset) -> FeedbackRow {
        let mut orders = self.orders;
        orders.sort();
        let mut row = feedback_row(self.item, tz);
        row.work_orders = orders
            .into_iter()
            .map(|(order_id, resolved)| WorkOrderRef {
                order_id,
                resolved: resolved == 1,
            })
            .collect();
        row.incident_id = (!self.incident.is_empty()).then_some(self.incident);
        row.repeat = self.repeat == 1;
        row
    }
}

impl ClickHouseStore {
    /// The items newest first, a window of time at a time (each window one
    /// joined query, sized to about [`WINDOW_ROWS`] from the density of the
    /// one before), handed on [`BATCH`] rows at a time.
    pub(super) fn export_stream(
        &self,
        filters: Filters,
        limit: usize,
    ) -> BoxStream<'static, Result<Vec<FeedbackRow>>> {
        let walk = Walk {
            store: self.clone(),
            filters,
            window: None,
            floor: 0,
            left: limit,
            rows: std::collections::VecDeque::new(),
            done: false,
        };
        stream::unfold(walk, |mut w| async move {
            loop {
                if !w.rows.is_empty() {
                    let batch: Vec<FeedbackRow> = w.rows.drain(..w.rows.len().min(BATCH)).collect();
                    return Some((Ok(batch), w));
                }
                if w.done || w.left == 0 {
                    return None;
                }
                if let Err(e) = w.next_window().await {
                    w.done = true;
                    return Some((Err(e), w));
                }
            }
        })
        .boxed()
    }
}

/// Rows a window of an export aims at: its join's sets and sort stay small
/// (a 1M-row export in one query took 3 GB of server memory at 2M items).
const WINDOW_ROWS: i64 = 50_000;

/// Where an export got to.
struct Walk {
    store: ClickHouseStore,
    filters: Filters,
    /// The window [start, end) read next (None: before the first).
    window: Option<(i64, i64)>,
    /// A window starting at or before it is the last, with no start:
    /// everything older (`from`, else the oldest item).
    floor: i64,
    left: usize,
    /// Rows read and not handed on yet, newest first.
    rows: std::collections::VecDeque<FeedbackRow>,
    done: bool,
}

impl Walk {
    async fn next_window(&mut self) -> Result<()> {
        let (start, end) = match self.window {
            Some(window) => window,
            None => {
                // The first window ends after the newest item: a window of
                // nothing says nothing of the density before it, and eight
                // times it may hold millions.
                let (oldest, newest) = self.store.extent().await?;
                let Some(newest) = newest else {
                    self.done = true;
                    return Ok(());
                };
                self.floor = self.filters.from.unwrap_or(oldest.unwrap_or(newest));
                let end = self.filters.to.map_or(newest + 1, |to| to.min(newest + 1));
                (end - 3600, end)
            }
        };
        let last = start <= self.floor;
        let (sql, params) = export_sql(&self.filters, (!last).then_some(start), end, self.left);
        let rows: Vec<ExportOut> = bind(self.store.client.query(&sql), params)
            .fetch_all()
            .await
            .map_err(ch)?;
        let tz = self.store.settings.tz();
        let read = rows.len();
        self.left -= read.min(self.left);
        self.rows.extend(rows.into_iter().map(|r| r.row(tz)));
        if last {
            self.done = true;
            return Ok(());
        }
        // The next window, older, sized by this one's density.
        let span = (end - start).max(1);
        let next = if read == 0 {
            span.saturating_mul(8)
        } else {
            (span.saturating_mul(WINDOW_ROWS) / read as i64).clamp(1, span.saturating_mul(8))
        };
        self.window = Some((start.saturating_sub(next), start));
        Ok(())
    }
}

/// The SELECT of one window [`start`, `end`) of an export, and its values.
/// ClickHouse 18.16 joins once per SELECT, so the items join their work
/// orders, then their incidents, then their repeat marks, a level each;
/// each attached table is read for the window's matching items only (and,
/// for the incidents and repeats, partitioned by the item's second, only
/// the window's partitions). The item filters are a PREWHERE, so the wide
/// columns (text, details) are read only where an item matches (as the
/// list's pages, `read::feedback`).
fn export_sql(f: &Filters, start: Option<i64>, end: i64, limit: usize) -> (String, Vec<Param>) {
    let mut w = items_where(f, true);
    let mut range = String::new();
    let mut range_params = Vec::new();
    for (bound, op) in [(start.or(f.from), ">="), (Some(end), "<")] {
        if let Some(t) = bound {
            w.push(&format!("ts {op} ?"), [Param::Time(t)]);
            range.push_str(&format!(" AND ts {op} toDateTime(?)"));
            range_params.push(Param::Time(t));
        }
    }
    let matching = format!("(SELECT id FROM feedback WHERE {})", w.sql());
    let sql = format!(
        "SELECT seq, t, id, ch, received_at, text, rating, dist, un, case_ref, topics, keywords,
                sent, score, detail, redacted, orders, incident, repeat
         FROM (
           SELECT * FROM (
             SELECT * FROM (
               SELECT toInt64(intDiv(sipHash64(id), 2)) AS seq, toUInt32(ts) AS t, id,
                      toString(channel) AS ch, received_at, text, rating,
                      toString(district) AS dist, toString(unit) AS un, case_ref, topics,
                      keywords, toString(sentiment) AS sent, score, detail, redacted
               FROM feedback PREWHERE {items}
             ) AS items ANY LEFT JOIN (
               SELECT feedback_id AS id, groupArray((order_id, resolved)) AS orders FROM (
                 SELECT feedback_id, order_id, toUInt8(resolved) AS resolved FROM order_items
                 WHERE feedback_id IN {matching}
                 GROUP BY feedback_id, order_id, resolved HAVING sum(sign) > 0
               ) GROUP BY feedback_id
             ) AS orders_of USING id
           ) AS with_orders ANY LEFT JOIN (
             SELECT item_id AS id, argMax(incident, version) AS incident FROM feedback_incidents
             WHERE item_id IN {matching} {range} GROUP BY item_id
           ) AS incidents_of USING id
         ) AS with_incidents ANY LEFT JOIN (
           SELECT item_id AS id, argMax(repeat, version) AS repeat FROM feedback_repeats
           WHERE item_id IN {matching} {range} GROUP BY item_id
         ) AS repeats_of USING id
         ORDER BY t DESC, seq DESC LIMIT ?",
        items = w.sql(),
    );
    // The values in the order of their marks.
    let mut params = w.params.clone();
    params.extend(w.params.iter().cloned());
    params.extend(w.params.iter().cloned());
    params.extend(range_params.iter().cloned());
    params.extend(w.params.iter().cloned());
    params.extend(range_params);
    params.push(Param::Int(limit as i64));
    (sql, params)
}
