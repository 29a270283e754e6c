//! Incidents in the embedded store: each item's `incident` column (schema
//! 7), written by the incident tracker ([`crate::tracker`]), and the reads
//! of the incident list. In: the tracker's changes; filters. Out: the
//! member rows [`crate::query::incidents_of`] summarises; the stored items
//! in the order they were stored, for the tracker to follow.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};

use super::read::items_where;
use crate::incident::Change;
use crate::query::{Filters, IncidentMember, MAX_INCIDENT_MEMBERS};
use crate::store::{Result, StoredAfter, StoredItem};

/// Writes the tracker's changes in one transaction.
pub(super) fn set(conn: &mut Connection, changes: &[Change]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut update = tx.prepare_cached("UPDATE items SET incident = ?1 WHERE id = ?2")?;
        for c in changes {
            update.execute(params![c.incident_id, c.item_id])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Writes the tracker's repeat marks in one transaction.
pub(super) fn set_repeats(conn: &mut Connection, marks: &[crate::repeat::Mark]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut update = tx.prepare_cached("UPDATE items SET repeat = ?1 WHERE id = ?2")?;
        for m in marks {
            update.execute(params![m.repeat, m.item_id])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The items of incidents matching `f`, the newest first, at most
/// [`MAX_INCIDENT_MEMBERS`]. A partial index holds only the items of
/// incidents, so the list reads those, not the range's every item.
pub(super) fn members(conn: &Connection, f: &Filters) -> Result<Vec<IncidentMember>> {
    let mut w = items_where(f, true);
    w.push("i.incident IS NOT NULL", []);
    let sql = format!(
        "SELECT i.incident, i.ts, i.id, i.channel, i.district, i.unit, i.topics,
                i.sentiment = 'negative', i.text
         FROM items i WHERE {} ORDER BY i.ts DESC LIMIT ?",
        w.sql()
    );
    let mut values = w.params;
    values.push(Sql::Integer(MAX_INCIDENT_MEMBERS as i64));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(values), |r| {
            let topics: String = r.get(6)?;
            Ok(IncidentMember {
                incident: r.get(0)?,
                ts: r.get(1)?,
                id: r.get(2)?,
                channel: r.get(3)?,
                district: r.get(4)?,
                unit: r.get(5)?,
                topics: serde_json::from_str(&topics).unwrap_or_default(),
                negative: r.get(7)?,
                text: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The earliest `ts` at or after `floor` of the items of the incidents of
/// the items received at or after `since` (each incident's first item is
/// the first entry of `items_incident`).
pub(super) fn incidents_began(conn: &Connection, since: i64, floor: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT min(ts) FROM items WHERE ts >= ?2 AND incident IN (
                 SELECT DISTINCT incident FROM items WHERE ts >= ?1 AND incident IS NOT NULL)",
        )?
        .query_row([since, floor], |r| r.get(0))?)
}

/// Items stored after row `after.order` received at or after `since`, by
/// row number.
pub(super) fn stored_since(
    conn: &Connection,
    after: &StoredAfter,
    since: i64,
    limit: usize,
) -> Result<Vec<StoredItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, ts, received_at, text, district, topics, incident, channel,
                case_ref IS NOT NULL, detail, json_extract(detail, '$.contact_hash'), repeat
         FROM items WHERE seq > ?1 AND ts >= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(
            params![
                i64::try_from(after.order).unwrap_or(i64::MAX),
                since,
                limit as i64
            ],
            |r| {
                let seq: i64 = r.get(0)?;
                let id: String = r.get(1)?;
                let ts: i64 = r.get(2)?;
                let received_at: String = r.get(3)?;
                let district: String = r.get(5)?;
                let topics: Vec<String> =
                    serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default();
                let detail: String = r.get(10)?;
                Ok(StoredItem {
                    after: StoredAfter {
                        order: seq as u64,
                        id: String::new(),
                    },
                    at: crate::store::received_millis(&received_at, ts),
                    id,
                    channel: r.get(8)?,
                    has_case: r.get(9)?,
                    text: r.get(4)?,
                    district: (!district.is_empty()).then_some(district),
                    topics: crate::store::rule_topics_of(&topics, &detail),
                    incident: r.get(7)?,
                    contact: r.get(11)?,
                    shown_topics: topics,
                    repeat: r.get(12)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
