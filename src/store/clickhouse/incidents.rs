//! Incidents in ClickHouse: `feedback_incidents` (`006_incidents.sql`), a
//! row per change the incident tracker makes, an item's incident its
//! newest row; and the reads of the incident list and of the items stored
//! since a point, which the tracker follows. The same answers as SQLite's
//! (`crate::query::incidents_of` summarises both).

use clickhouse::Row;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::read::{Param, items_where};
use super::write::insert_rows;
use super::{ClickHouseStore, datetime};
use crate::incident::Change;
use crate::query::{FeedbackRow, Filters, IncidentMember, MAX_INCIDENT_MEMBERS};
use crate::store::{Result, StoredAfter, StoredItem};

#[derive(Row, Serialize)]
struct RepeatRow {
    item_id: String,
    repeat: u8,
    ts: u32,
    version: u64,
}

/// The repeat complaints (`Some(true)`) or the other items (`Some(false)`)
/// among those received in the range, as a condition on `feedback.id`.
pub(super) fn of_repeats(repeat: bool, from: Option<i64>, to: Option<i64>) -> (String, Vec<Param>) {
    let mut range = String::new();
    let mut params = Vec::new();
    if let Some(from) = from {
        range.push_str(" AND ts >= ?");
        params.push(Param::Time(from));
    }
    if let Some(to) = to {
        range.push_str(" AND ts < ?");
        params.push(Param::Time(to));
    }
    (
        format!(
            "id {}IN (SELECT item_id FROM (SELECT item_id, argMax(repeat, version) AS r
                    FROM feedback_repeats WHERE 1 {range} GROUP BY item_id) WHERE r = 1)",
            if repeat { "" } else { "NOT " }
        ),
        params,
    )
}

#[derive(Row, Serialize)]
struct IncidentRow {
    item_id: String,
    incident: String,
    ts: u32,
    version: u64,
}

/// The items of the incidents named, as a condition on `feedback.id`.
pub(super) fn of_incidents(incidents: &[String]) -> (String, Vec<Param>) {
    let marks = vec!["?"; incidents.len()].join(", ");
    (
        format!(
            "id IN (SELECT item_id FROM (SELECT item_id, argMax(incident, version) AS inc
                    FROM feedback_incidents GROUP BY item_id) WHERE inc IN ({marks}))"
        ),
        incidents.iter().cloned().map(Param::Str).collect(),
    )
}

impl ClickHouseStore {
    pub(super) async fn set_incidents(&self, changes: Vec<Change>) -> Result<()> {
        // Later changes win: the version grows with the write and, within
        // one write, with the change's place in it.
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
            .saturating_mul(1000);
        let rows: Vec<IncidentRow> = changes
            .into_iter()
            .enumerate()
            .map(|(n, c)| IncidentRow {
                item_id: c.item_id,
                incident: c.incident_id.unwrap_or_default(),
                ts: datetime(c.at.div_euclid(1000)),
                version: base + n as u64,
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        insert_rows(&self.client, "feedback_incidents", &rows).await
    }

    pub(super) async fn set_repeats(&self, marks: Vec<crate::repeat::Mark>) -> Result<()> {
        // As for the incidents: later marks win by version.
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
            .saturating_mul(1000);
        let rows: Vec<RepeatRow> = marks
            .into_iter()
            .enumerate()
            .map(|(n, m)| RepeatRow {
                item_id: m.item_id,
                repeat: u8::from(m.repeat),
                ts: datetime(m.at.div_euclid(1000)),
                version: base + n as u64,
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        insert_rows(&self.client, "feedback_repeats", &rows).await
    }

    /// The items of `ids` marked as repeats (newest rows).
    pub(super) async fn repeats_of_ids(
        &self,
        ids: &[String],
    ) -> Result<rustc_hash::FxHashSet<String>> {
        let mut marked = rustc_hash::FxHashSet::default();
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT item_id, argMax(repeat, version) FROM feedback_repeats
                 WHERE item_id IN ({marks}) GROUP BY item_id"
            );
            let params = chunk.iter().cloned().map(Param::Str).collect();
            let rows: Vec<(String, u8)> = self.fetch_tuples(&sql, params).await?;
            marked.extend(rows.into_iter().filter(|(_, r)| *r == 1).map(|(id, _)| id));
        }
        Ok(marked)
    }

    /// The incident and repeat mark of each item of a page, from their
    /// newest rows.
    pub(super) async fn attach_incidents(&self, items: &mut [FeedbackRow]) -> Result<()> {
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut of = self.incidents_of_ids(&ids).await?;
        let repeats = self.repeats_of_ids(&ids).await?;
        for item in items {
            item.incident_id = of.remove(&item.id);
            item.repeat = repeats.contains(&item.id);
        }
        Ok(())
    }

    /// The incidents of the items `ids` that are in one (newest rows).
    async fn incidents_of_ids(&self, ids: &[String]) -> Result<FxHashMap<String, String>> {
        let mut of = FxHashMap::default();
        // A thousand ids a query, as for the work orders of a page.
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT item_id, argMax(incident, version) FROM feedback_incidents
                 WHERE item_id IN ({marks}) GROUP BY item_id"
            );
            let params = chunk.iter().cloned().map(Param::Str).collect();
            let rows: Vec<(String, String)> = self.fetch_tuples(&sql, params).await?;
            of.extend(rows.into_iter().filter(|(_, inc)| !inc.is_empty()));
        }
        Ok(of)
    }

    /// The items of incidents matching `f`, newest first, at most
    /// [`MAX_INCIDENT_MEMBERS`]: the memberships of the range first (their
    /// own small table), then those items under the filters.
    pub(super) async fn incident_members(&self, f: &Filters) -> Result<Vec<IncidentMember>> {
        let mut range = String::new();
        let mut params = Vec::new();
        if let Some(from) = f.from {
            range.push_str(" AND ts >= ?");
            params.push(Param::Time(from));
        }
        if let Some(to) = f.to {
            range.push_str(" AND ts < ?");
            params.push(Param::Time(to));
        }
        let range_params = params.clone();
        let sql = format!(
            "SELECT item_id, inc FROM (
                 SELECT item_id, argMax(incident, version) AS inc FROM feedback_incidents
                 WHERE 1 {range} GROUP BY item_id
             ) WHERE inc != ''"
        );
        let of: FxHashMap<String, String> = self
            .fetch_tuples::<(String, String)>(&sql, params)
            .await?
            .into_iter()
            .collect();
        if of.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = items_where(f, true);
        w.push(
            &format!("id IN (SELECT item_id FROM feedback_incidents WHERE incident != '' {range})"),
            range_params,
        );
        let sql = format!(
            "SELECT id, toInt64(ts), toString(channel), toString(district), toString(unit),
                    topics, toUInt8(sentiment = 'negative'), text
             FROM feedback WHERE {} ORDER BY ts DESC LIMIT ?",
            w.sql()
        );
        let mut params = w.params;
        params.push(Param::Int(MAX_INCIDENT_MEMBERS as i64));
        #[derive(Row, Deserialize)]
        struct Member {
            id: String,
            ts: i64,
            channel: String,
            district: String,
            unit: String,
            topics: Vec<String>,
            negative: u8,
            text: String,
        }
        let rows: Vec<Member> = self.fetch_tuples(&sql, params).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(IncidentMember {
                    incident: of.get(&r.id)?.clone(),
                    ts: r.ts,
                    id: r.id,
                    channel: r.channel,
                    district: r.district,
                    unit: r.unit,
                    topics: r.topics,
                    negative: r.negative == 1,
                    text: r.text,
                })
            })
            .collect())
    }

    /// The earliest `ts` at or after `floor` of the items whose newest
    /// incident is one of those of the items received at or after `since`:
    /// one read of `feedback_incidents`, where asking the incident list a
    /// few incidents at a time read the items once a query (at 10M items,
    /// hours for a restart).
    pub(super) async fn incidents_began(&self, since: i64, floor: i64) -> Result<Option<i64>> {
        let rows: Vec<(u64, u32)> = self
            .fetch_tuples(
                "SELECT count(), toUInt32(min(t)) FROM (
                     SELECT argMax(incident, version) AS inc, any(ts) AS t FROM feedback_incidents
                     WHERE ts >= ? GROUP BY item_id HAVING inc != '')
                 WHERE inc IN (
                     SELECT inc FROM (
                         SELECT argMax(incident, version) AS inc FROM feedback_incidents
                         WHERE ts >= ? GROUP BY item_id)
                     WHERE inc != '')",
                vec![Param::Time(floor), Param::Time(since)],
            )
            .await?;
        Ok(rows
            .first()
            .filter(|(n, _)| *n > 0)
            .map(|(_, t)| i64::from(*t)))
    }

    /// Items stored after `after` — (ingested_us, id) — received at or
    /// after `since`, in the order they were stored, at most `limit`.
    ///
    /// The order of storing is not the table's key, so the inserts that
    /// stored them are found first (`feedback_batches`, a row per insert
    /// block): a poll that finds no block after `after` reads no item, and
    /// otherwise the items are read within the key range (`ts`) of the
    /// blocks that hold the next `limit` or so, not across the table.
    pub(super) async fn stored_since(
        &self,
        after: StoredAfter,
        since: i64,
        limit: usize,
    ) -> Result<Vec<StoredItem>> {
        let blocks: Vec<(u64, u64, u32, u32, u64)> = self
            .fetch_tuples(
                "SELECT lo, hi, toUInt32(min_ts), toUInt32(max_ts), n FROM feedback_batches
                 WHERE (hi > ? OR (hi = ? AND max_id > ?)) AND n > 0 AND max_ts >= ?
                 ORDER BY lo",
                vec![
                    Param::Int(after.order as i64),
                    Param::Int(after.order as i64),
                    Param::Str(after.id.clone()),
                    Param::Time(since),
                ],
            )
            .await?;
        let mut items: Vec<StoredItem> = Vec::new();
        let mut from = after.clone();
        let mut taken = 0;
        while taken < blocks.len() && items.len() < limit {
            // The blocks of about the items still wanted; those stored
            // meanwhile by other writers overlap them and are read too.
            let mut upper = from.order;
            let mut counted = 0;
            while taken < blocks.len() && counted < (limit - items.len()) as u64 {
                upper = upper.max(blocks[taken].1);
                counted += blocks[taken].4;
                taken += 1;
            }
            while taken < blocks.len() && blocks[taken].0 <= upper {
                upper = upper.max(blocks[taken].1);
                taken += 1;
            }
            let within = || blocks.iter().filter(|b| b.0 <= upper && b.1 >= from.order);
            let min_ts = within()
                .map(|b| i64::from(b.2))
                .min()
                .unwrap_or(0)
                .max(since);
            let max_ts = within().map(|b| i64::from(b.3)).max().unwrap_or(0);
            let page = self
                .stored_items(
                    "ts >= ? AND ts <= ? AND ingested_us >= ? AND ingested_us <= ?
                     AND (ingested_us > ? OR id > ?)
                     ORDER BY ingested_us, id LIMIT ?",
                    vec![
                        Param::Time(min_ts),
                        Param::Time(max_ts),
                        Param::Int(from.order as i64),
                        Param::Int(upper as i64),
                        Param::Int(from.order as i64),
                        Param::Str(from.id.clone()),
                        Param::Int((limit - items.len()) as i64),
                    ],
                )
                .await?;
            match page.last() {
                Some(last) => from = last.after.clone(),
                // Nothing new in these blocks (a block's rows may be gone:
                // erased, expired): the next ones are after them.
                None => from.order = from.order.max(upper),
            }
            items.extend(page);
        }
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut of = self.incidents_of_ids(&ids).await?;
        let repeats = self.repeats_of_ids(&ids).await?;
        for item in &mut items {
            item.incident = of.remove(&item.id);
            item.repeat = repeats.contains(&item.id);
        }
        Ok(items)
    }

    /// The items received at or after `since` stored up to now, and the
    /// newest of them in the order of storing: what the tracker reads on
    /// start. Read by the table's key a span of hours at a time (a span
    /// holds about [`WINDOW_SPAN`] items), with the incidents and repeat
    /// marks of the whole window in one read each: linear in the window,
    /// where paging by the order of storing read the window once a page.
    pub(super) async fn stored_window(
        &self,
        since: i64,
        whole_from: i64,
    ) -> Result<(Vec<StoredItem>, StoredAfter)> {
        // Items stored while this reads are left to the tracker's polls.
        let bound: Vec<u64> = self
            .fetch_tuples(
                "SELECT max(ingested_us) FROM feedback WHERE ts >= ?",
                vec![Param::Time(since)],
            )
            .await?;
        let bound = bound.first().copied().unwrap_or(0);
        let hours: Vec<(u32, u64)> = self
            .fetch_tuples(
                "SELECT toUInt32(toStartOfHour(ts)) AS h, count() FROM feedback
                 WHERE ts >= ? GROUP BY h ORDER BY h",
                vec![Param::Time(since)],
            )
            .await?;
        let incidents: Vec<(String, String)> = self
            .fetch_tuples(
                "SELECT item_id, argMax(incident, version) AS inc FROM feedback_incidents
                 WHERE ts >= ? GROUP BY item_id HAVING inc != ''",
                vec![Param::Time(since)],
            )
            .await?;
        let mut of: FxHashMap<String, String> = incidents.into_iter().collect();
        let repeats: Vec<String> = self
            .fetch_tuples(
                "SELECT item_id FROM feedback_repeats
                 WHERE ts >= ? GROUP BY item_id HAVING argMax(repeat, version) = 1",
                vec![Param::Time(since)],
            )
            .await?;
        let repeats: rustc_hash::FxHashSet<String> = repeats.into_iter().collect();
        let mut items: Vec<StoredItem> = Vec::new();
        let mut after = StoredAfter::default();
        let mut span = hours.iter().peekable();
        while let Some(&(first, n)) = span.next() {
            let (mut last, mut count) = (first, n);
            while let Some(&&(h, n)) = span.peek()
                && count + n <= WINDOW_SPAN
            {
                (last, count) = (h, count + n);
                span.next();
            }
            let page = self
                .stored_items(
                    "ts >= ? AND ts < ? AND ts >= ? AND ingested_us <= ?",
                    vec![
                        Param::Time(i64::from(first)),
                        Param::Time(i64::from(last) + 3600),
                        Param::Time(since),
                        Param::Int(bound as i64),
                    ],
                )
                .await?;
            if let Some(last) = page.iter().map(|i| &i.after).max() {
                after = after.max(last.clone());
            }
            items.extend(page.into_iter().filter_map(|mut item| {
                item.incident = of.remove(&item.id);
                item.repeat = repeats.contains(&item.id);
                item.whole_from(whole_from)
            }));
        }
        Ok((items, after))
    }

    /// The items matching `rest` (a condition, then any ORDER BY and
    /// LIMIT), without their incidents and repeat marks.
    async fn stored_items(&self, rest: &str, params: Vec<Param>) -> Result<Vec<StoredItem>> {
        #[derive(Row, Deserialize)]
        struct Stored {
            ingested_us: u64,
            id: String,
            channel: String,
            has_case: u8,
            ts: u32,
            received_at: String,
            text: String,
            district: String,
            topics: Vec<String>,
            detail: String,
            contact: String,
        }
        let sql = format!(
            "SELECT ingested_us, id, toString(channel), toUInt8(case_ref != ''), ts, received_at, text, toString(district), topics, detail,
                    visitParamExtractString(detail, 'contact_hash') AS contact
             FROM feedback WHERE {rest}"
        );
        let rows: Vec<Stored> = self.fetch_tuples(&sql, params).await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredItem {
                after: StoredAfter {
                    order: r.ingested_us,
                    id: r.id.clone(),
                },
                at: crate::store::received_millis(&r.received_at, i64::from(r.ts)),
                id: r.id,
                channel: r.channel,
                has_case: r.has_case == 1,
                text: r.text,
                district: (!r.district.is_empty()).then_some(r.district),
                topics: crate::store::rule_topics_of(&r.topics, &r.detail),
                incident: None,
                contact: (!r.contact.is_empty()).then_some(r.contact),
                shown_topics: r.topics,
                repeat: false,
            })
            .collect())
    }
}

/// About how many items [`ClickHouseStore::stored_window`] reads a query.
const WINDOW_SPAN: u64 = 50_000;
