//! Exports in one read ([`crate::store::Store::export`]): every item a
//! filter matches, newest first, with its work orders, incident and repeat
//! mark, from one SELECT whose rows are decoded as they arrive. In: the
//! filters and a row limit. Out: batches of [`FeedbackRow`], the same rows
//! and order as the list's pages give. Why: a page walk asks a query per
//! page plus three per thousand items for the attachments, and each of those
//! reads whole granules of tables keyed otherwise (an item's work orders are
//! scattered through `order_items` by their random ids), so a 1M-row export
//! at 2M items asked about 3,500 queries; here the server reads each table
//! once and joins.

use futures_util::stream::{self, BoxStream, StreamExt as _};
use serde::Deserialize;

use super::read::{ItemOut, Param, bind, feedback_row, items_where};
use super::{ClickHouseStore, ch};
use crate::query::{FeedbackRow, Filters, WorkOrderRef};
use crate::store::Result;

/// Rows handed on at once: memory stays bounded by a batch.
const BATCH: usize = 5_000;

/// An item with what the lists attach to it.
#[derive(clickhouse::Row, Deserialize)]
struct ExportOut {
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
    redacted: String,
    /// (order_id, resolved) of its open work orders.
    orders: Vec<(String, u8)>,
    incident: String,
    repeat: u8,
}

impl ExportOut {
    fn row(self, tz: chrono::FixedOffset) -> FeedbackRow {
        let mut orders = self.orders;
        orders.sort();
        let mut row = feedback_row(
            ItemOut {
                seq: self.seq,
                ts: self.ts,
                id: self.id,
                channel: self.channel,
                received_at: self.received_at,
                text: self.text,
                rating: self.rating,
                district: self.district,
                unit: self.unit,
                case_ref: self.case_ref,
                topics: self.topics,
                keywords: self.keywords,
                sentiment: self.sentiment,
                score: self.score,
                detail: self.detail,
                redacted: self.redacted,
            },
            tz,
        );
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
    pub(super) fn export_stream(
        &self,
        filters: Filters,
        limit: usize,
    ) -> BoxStream<'static, Result<Vec<FeedbackRow>>> {
        let (sql, params) = export_sql(&filters, limit);
        let tz = self.settings.tz();
        let cursor = bind(self.client.query(&sql), params).fetch::<ExportOut>();
        match cursor {
            Err(e) => stream::once(async move { Err(ch(e)) }).boxed(),
            Ok(cursor) => stream::unfold(Some(cursor), move |cursor| async move {
                let mut cursor = cursor?;
                let mut batch = Vec::new();
                while batch.len() < BATCH {
                    match cursor.next().await {
                        Ok(Some(r)) => batch.push(r.row(tz)),
                        Ok(None) if batch.is_empty() => return None,
                        Ok(None) => return Some((Ok(batch), None)),
                        Err(e) => return Some((Err(ch(e)), None)),
                    }
                }
                Some((Ok(batch), Some(cursor)))
            })
            .boxed(),
        }
    }
}

/// The export's SELECT and its values. ClickHouse 18.16 joins once per
/// SELECT, so the items join their work orders, then their incidents, then
/// their repeat marks, a level each; each attached table is read for the
/// matching items only (and, for the incidents and repeats, partitioned
/// by the item's second, only the range's partitions).
fn export_sql(f: &Filters, limit: usize) -> (String, Vec<Param>) {
    let w = items_where(f, true);
    let mut range = String::new();
    let mut range_params = Vec::new();
    if let Some(from) = f.from {
        range.push_str(" AND ts >= toDateTime(?)");
        range_params.push(Param::Int(from));
    }
    if let Some(to) = f.to {
        range.push_str(" AND ts < toDateTime(?)");
        range_params.push(Param::Int(to));
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
               FROM feedback WHERE {items}
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
