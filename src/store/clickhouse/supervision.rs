//! The supervision queue on ClickHouse: the same three lists as SQLite's
//! (the case items matching the filters, every event of their work
//! orders, the rated items on their cases), for
//! [`crate::query::supervision::queue`]. In: filters. Out: a [`CaseInput`].
//! The orders of the cases kept are read by key, a chunk of their ids a
//! query (a list of 100,000 ids would pass `max_query_size`); the answers
//! in one read from the oldest case on.

use std::collections::BTreeSet;

use clickhouse::Row;
use serde::Deserialize;

use super::ClickHouseStore;
use super::read::{Param, items_where};
use crate::model::Rating;
use crate::query::Filters;
use crate::query::supervision::{CaseAnswer, CaseEvent, CaseInput, CaseItem, MAX_CASES};
use crate::store::Result;
use crate::workorder::{OrderEvent, StoredEvent};

/// Items rated 不满意, and unrated negative items a work order is open
/// for, among the items matching `window`: whose orders are looked up by
/// key (`order_items`), where a set of every event's item (10M events)
/// cost 4 s a query at 10M items. `rating < 1`, not `= 0`: 18.16, reading
/// a part written before `resolved` (DEFAULT 0) existed, fails on a
/// literal 0 (docs/DESIGN.md).
fn case(window: &str) -> String {
    format!(
        "(rating = 3 OR (rating < 1 AND sentiment = 'negative' AND id IN (
             SELECT feedback_id FROM order_items WHERE feedback_id IN (
                 SELECT id FROM feedback WHERE {window} AND rating < 1 AND sentiment = 'negative')
             GROUP BY feedback_id, order_id HAVING sum(sign) > 0)))"
    )
}

/// The widest window [`ClickHouseStore::cases`] bounds: a century (wider,
/// it asks without one).
const WIDEST: i64 = 100 * 365 * 86_400;

/// The bytes of ids bound in one query: far within the client's
/// `max_query_size` (16 MiB, `ClickHouseStore::connect_db`; 100,000 ids of
/// the longest allowed would pass it), and fewer queries than 1,000 ids
/// each: at 10M items a case list's orders took 233 queries of 1,000 ids
/// (20 ms each, most of it the query's own cost).
const ID_BYTES_A_QUERY: usize = 192 * 1024;

/// `ids` in chunks of at most [`ID_BYTES_A_QUERY`] as bound (quoted,
/// escaped, separated), and the query of each: `sql` with `{}` replaced by
/// its placeholders.
fn by_chunks(sql: &str, ids: &[String]) -> Vec<(String, Vec<Param>)> {
    let mut out = Vec::new();
    let mut rest = ids;
    while !rest.is_empty() {
        let mut bytes = 0;
        let n = rest
            .iter()
            .take_while(|id| {
                bytes += 2 * id.len() + 4;
                bytes <= ID_BYTES_A_QUERY
            })
            .count()
            .max(1);
        let (chunk, more) = rest.split_at(n);
        let marks = vec!["?"; chunk.len()].join(", ");
        out.push((
            sql.replace("{}", &marks),
            chunk.iter().cloned().map(Param::Str).collect(),
        ));
        rest = more;
    }
    out
}

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
        // The newest cases, from a window that widens from the last two
        // days (×8 a step) until it holds more than MAX_CASES or the
        // whole range: what lies outside a window is older than what it
        // holds. At 10M items over 30 days the district wall's panel (all
        // time) read every item for its 100,001 newest cases (5.7 s).
        let top = f.to.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let mut span: i64 = 2 * 86_400;
        let rows: Vec<ItemRow> = loop {
            let bound = top.saturating_sub(span);
            let bounded = span < WIDEST && f.from.is_none_or(|from| bound > from);
            let mut w = items_where(f, true);
            if bounded {
                w.push("ts >= ?", [Param::Time(bound)]);
            }
            let window = w.sql();
            let sql = format!(
                "SELECT id, toUInt32(ts), received_at, toString(channel), toString(district),
                        toString(unit), rating, text, case_ref, resolved
                 FROM feedback WHERE {window} AND {} ORDER BY ts DESC, id DESC LIMIT ?",
                case(&window)
            );
            let mut params = w.params.clone();
            params.extend(w.params);
            params.push(Param::Int(MAX_CASES as i64 + 1));
            let rows: Vec<ItemRow> = self.fetch_tuples(&sql, params).await?;
            if !bounded || rows.len() > MAX_CASES {
                break rows;
            }
            span = span.saturating_mul(8);
        };
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

        // Their work orders — those opened for them (`order_items`, keyed
        // by item) and those their case_ref names — and every event of
        // those (keyed by order): a chunk of ids a query by the key, where
        // subqueries over the cases' condition read the whole event table
        // for every case of all time (16-40 s at 10M items).
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let refs: BTreeSet<String> = items.iter().filter_map(|i| i.case_ref.clone()).collect();
        let mut orders = refs.clone();
        let opened = "SELECT order_id FROM order_items WHERE feedback_id IN ({})
                      GROUP BY feedback_id, order_id HAVING sum(sign) > 0";
        for (sql, params) in by_chunks(opened, &ids) {
            let found: Vec<String> = self.fetch_tuples(&sql, params).await?;
            orders.extend(found);
        }
        let orders: Vec<String> = orders.into_iter().collect();
        let opt = |s: String| (!s.is_empty()).then_some(s);
        let mut events = Vec::new();
        let of_orders = "SELECT order_id, toString(event), toUInt32(at), feedback_id, unit, rating
                         FROM workorder_events WHERE order_id IN ({})";
        for (sql, params) in by_chunks(of_orders, &orders) {
            let rows: Vec<EventRow> = self.fetch_tuples(&sql, params).await?;
            events.extend(rows.into_iter().map(|r| CaseEvent {
                order_id: r.order_id,
                event: StoredEvent {
                    event: OrderEvent::parse(&r.event).unwrap_or(OrderEvent::Created),
                    at: i64::from(r.at),
                    feedback_id: opt(r.feedback_id),
                    unit: opt(r.unit),
                    rating: Rating::from_number(r.rating),
                },
            }));
        }

        // The rated items on their cases: only those at or after a case
        // count (`assess`), so one read of the rated items with a case
        // from the oldest case kept on, by the key (`ts`), where a chunk of
        // case references a query read every item each time (`case_ref`
        // is no key): 93 scans of 10M items.
        let oldest = items.iter().map(|i| i.ts).min().unwrap_or(0);
        let rows: Vec<(String, u32, u8)> = self
            .fetch_tuples(
                "SELECT case_ref, toUInt32(ts), rating FROM feedback
                 WHERE ts >= ? AND rating >= 1 AND case_ref != ''",
                vec![Param::Time(oldest)],
            )
            .await?;
        let answers = rows
            .into_iter()
            .filter(|(case_ref, _, _)| refs.contains(case_ref))
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
