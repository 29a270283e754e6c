//! The supervision queue on ClickHouse: the same three lists as SQLite's
//! (the case items matching the filters, every event of their work
//! orders, the rated items on their cases), for
//! [`crate::query::supervision::queue`]. In: filters. Out: a [`CaseInput`].
//! The orders and answers are selected by subqueries over the cases'
//! conditions (a list of 100,000 ids would pass `max_query_size`).

use clickhouse::Row;
use serde::Deserialize;

use super::ClickHouseStore;
use super::read::{Param, items_where};
use crate::model::Rating;
use crate::query::Filters;
use crate::query::supervision::{CaseAnswer, CaseEvent, CaseInput, CaseItem, MAX_CASES};
use crate::store::Result;
use crate::workorder::{OrderEvent, StoredEvent};

/// Items rated 不满意, and unrated negative items a work order was opened
/// for. `rating < 1`, not `= 0`: 18.16, reading a part written before
/// `resolved` (DEFAULT 0) existed, fails on a literal 0 (docs/DESIGN.md).
const CASE: &str = "(rating = 3 OR (rating < 1 AND sentiment = 'negative' AND id IN (
     SELECT feedback_id FROM workorder_events WHERE feedback_id != '')))";

#[derive(Row, Deserialize)]
struct ItemRow {
    id: String,
    ts: u32,
    received_at: String,
    channel: String,
    district: String,
    unit: String,
    rating: u8,
    text: String,
    case_ref: String,
    resolved: u8,
}

#[derive(Row, Deserialize)]
struct EventRow {
    order_id: String,
    event: String,
    at: u32,
    feedback_id: String,
    unit: String,
    rating: u8,
}

impl ClickHouseStore {
    pub(super) async fn cases(&self, f: &Filters) -> Result<CaseInput> {
        let w = items_where(f, true);
        let cases = format!("{} AND {CASE}", w.sql());
        let sql = format!(
            "SELECT id, toUInt32(ts), received_at, toString(channel), toString(district),
                    toString(unit), rating, text, case_ref, resolved
             FROM feedback WHERE {cases} ORDER BY ts DESC, id DESC LIMIT ?"
        );
        let mut params = w.params.clone();
        params.push(Param::Int(MAX_CASES as i64 + 1));
        let rows: Vec<ItemRow> = self.fetch_tuples(&sql, params).await?;
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let mut items: Vec<CaseItem> = rows
            .into_iter()
            .map(|r| CaseItem {
                id: r.id,
                ts: i64::from(r.ts),
                received_at: r.received_at,
                channel: r.channel,
                district: non_empty(r.district),
                unit: non_empty(r.unit),
                rating: (r.rating > 0).then_some(r.rating),
                text: r.text,
                case_ref: non_empty(r.case_ref),
                resolved: r.resolved > 0,
            })
            .collect();
        let truncated = items.len() > MAX_CASES;
        items.truncate(MAX_CASES);
        if items.is_empty() {
            return Ok(CaseInput::default());
        }

        let sql = format!(
            "SELECT order_id, toString(event), toUInt32(at), feedback_id, unit, rating
             FROM workorder_events
             WHERE order_id IN (
                     SELECT order_id FROM workorder_events WHERE feedback_id IN (
                         SELECT id FROM feedback WHERE {cases}))
                OR order_id IN (SELECT case_ref FROM feedback WHERE {cases} AND case_ref != '')"
        );
        let mut params = w.params.clone();
        params.extend(w.params.clone());
        let rows: Vec<EventRow> = self.fetch_tuples(&sql, params).await?;
        let opt = |s: String| (!s.is_empty()).then_some(s);
        let events = rows
            .into_iter()
            .map(|r| CaseEvent {
                order_id: r.order_id,
                event: StoredEvent {
                    event: OrderEvent::parse(&r.event).unwrap_or(OrderEvent::Created),
                    at: i64::from(r.at),
                    feedback_id: opt(r.feedback_id),
                    unit: opt(r.unit),
                    rating: Rating::from_number(r.rating),
                },
            })
            .collect();

        let sql = format!(
            "SELECT case_ref, toUInt32(ts), rating FROM feedback
             WHERE rating >= 1 AND case_ref != '' AND case_ref IN (
                 SELECT case_ref FROM feedback WHERE {cases} AND case_ref != '')"
        );
        let rows: Vec<(String, u32, u8)> = self.fetch_tuples(&sql, w.params).await?;
        let answers = rows
            .into_iter()
            .map(|(case_ref, ts, rating)| CaseAnswer {
                case_ref,
                ts: i64::from(ts),
                rating,
            })
            .collect();
        Ok(CaseInput {
            items,
            events,
            answers,
            truncated,
        })
    }
}
