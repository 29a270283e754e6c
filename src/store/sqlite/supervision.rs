//! The supervision queue in the embedded store: the case items matching
//! the filters, every event of their work orders, the rated items on their
//! cases — the three lists [`crate::query::supervision::queue`] reads, the
//! same as ClickHouse's. In: filters. Out: a [`CaseInput`].

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params_from_iter};

use super::read::items_where;
use crate::model::Rating;
use crate::query::Filters;
use crate::query::supervision::{CaseAnswer, CaseEvent, CaseInput, CaseItem, MAX_CASES};
use crate::store::Result;
use crate::workorder::{OrderEvent, StoredEvent};

/// The cases of `f`: items rated 不满意, and unrated negative items a work
/// order was opened for; the newest [`MAX_CASES`].
pub(super) fn cases(conn: &Connection, f: &Filters) -> Result<CaseInput> {
    let mut w = items_where(f, true);
    w.push(
        "(i.rating = 3 OR (i.rating = 0 AND i.sentiment = 'negative' AND EXISTS (
             SELECT 1 FROM work_orders o WHERE o.feedback_id = i.id)))",
        [],
    );
    let sql = format!(
        "SELECT i.id, i.ts, i.received_at, i.channel, i.district, i.unit, i.rating, i.text,
                i.case_ref, i.resolved
         FROM items i WHERE {} ORDER BY i.ts DESC, i.seq DESC LIMIT ?",
        w.sql()
    );
    let mut values = w.params;
    values.push(Sql::Integer(MAX_CASES as i64 + 1));
    let mut items = conn
        .prepare(&sql)?
        .query_map(params_from_iter(values), |r| {
            let non_empty = |s: String| (!s.is_empty()).then_some(s);
            let rating: i64 = r.get(6)?;
            Ok(CaseItem {
                id: r.get(0)?,
                ts: r.get(1)?,
                received_at: r.get(2)?,
                channel: r.get(3)?,
                district: non_empty(r.get(4)?),
                unit: non_empty(r.get(5)?),
                rating: (rating > 0).then_some(rating as u8),
                text: r.get(7)?,
                case_ref: r.get::<_, Option<String>>(8)?.and_then(non_empty),
                resolved: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let truncated = items.len() > MAX_CASES;
    items.truncate(MAX_CASES);

    let ids = serde_json::to_string(&items.iter().map(|i| &i.id).collect::<Vec<_>>())
        .expect("strings serialize");
    let refs = serde_json::to_string(
        &items
            .iter()
            .filter_map(|i| i.case_ref.as_ref())
            .collect::<Vec<_>>(),
    )
    .expect("strings serialize");
    let events = conn
        .prepare(
            "SELECT order_id, event, at, feedback_id, unit, rating FROM wo_events
             WHERE order_id IN (
                 SELECT order_id FROM work_orders
                 WHERE feedback_id IN (SELECT value FROM json_each(?1))
                 UNION SELECT value FROM json_each(?2))",
        )?
        .query_map([&ids, &refs], |r| {
            let event: String = r.get(1)?;
            let rating: Option<u8> = r.get(5)?;
            Ok(CaseEvent {
                order_id: r.get(0)?,
                event: StoredEvent {
                    event: OrderEvent::parse(&event).unwrap_or(OrderEvent::Created),
                    at: r.get(2)?,
                    feedback_id: r.get(3)?,
                    unit: r.get(4)?,
                    rating: rating.and_then(Rating::from_number),
                },
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let answers = conn
        .prepare(
            "SELECT case_ref, ts, rating FROM items
             WHERE case_ref IN (SELECT value FROM json_each(?1)) AND rating > 0",
        )?
        .query_map([&refs], |r| {
            Ok(CaseAnswer {
                case_ref: r.get(0)?,
                ts: r.get(1)?,
                rating: r.get::<_, i64>(2)? as u8,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(CaseInput {
        items,
        events,
        answers,
        truncated,
    })
}
