//! The read path: the typed queries over the items, the hourly rollups
//! and the order states. In: a [`Query`], the time it is asked at, and the
//! store's [`QuerySettings`](crate::store::QuerySettings) (zone, SLA).
//! Out: its [`Answer`], the same as SQLite's for the same data. Guarantees:
//! the rollups answer only where they answer exactly (the same choice as
//! SQLite's, `store::sql`); every value is bound, never formatted into the
//! SQL.

use clickhouse::Row;
use serde::Deserialize;

use super::{ClickHouseStore, ch};
use crate::query::{
    Answer, Cursor, Dim, FeedbackRow, Filters, Interval, KeyCounts, Orders, Query, Summary,
    Timeseries, TopDim, TopRow, rank, rfc3339,
};
use crate::store::Result;
use crate::store::sql::{
    Where, edges_where, hour_span, hours_where, key_counts, keyword_rollup_answers, rollup_plan,
    rollups_answer, timeseries_from_rows,
};

/// A bound value.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Int(i64),
    /// Unix seconds compared with a `DateTime`: bound clamped into its
    /// range (18.16 refuses a negative one — "comparison between
    /// inconvertible types" — where a window or a cursor reaches back
    /// before 1970; nothing is stored outside it).
    Time(i64),
    Str(String),
}

/// The shared query builders (`store::sql`) bind times this way.
impl From<i64> for Param {
    fn from(t: i64) -> Param {
        Param::Time(t)
    }
}

fn texts(v: &[String]) -> Vec<Param> {
    v.iter().map(|s| Param::Str(s.clone())).collect()
}

/// An item as the lists read it.
#[derive(Row, Deserialize)]
pub(super) struct ItemOut {
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
}

impl ClickHouseStore {
    pub(super) async fn fetch_tuples<T>(&self, sql: &str, params: Vec<Param>) -> Result<Vec<T>>
    where
        T: Row + for<'b> clickhouse::RowOwned + for<'b> clickhouse::RowRead,
    {
        bind(self.client.query(sql), params)
            .fetch_all::<T>()
            .await
            .map_err(ch)
    }

    pub(super) async fn answer(&self, query: Query, now: i64) -> Result<Answer> {
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
            Query::Rank(r) => {
                let current = self.counts_by_key(&r.filters, r.dim, now).await?;
                let previous = match r.previous_filters(now) {
                    Some(f) => Some(self.counts_by_key(&f, r.dim, now).await?),
                    None => None,
                };
                Ok(Answer::Rank(rank(&r, current, previous)))
            }
            Query::Incidents {
                filters,
                limit,
                by_count,
            } => {
                let members = self.incident_members(&filters).await?;
                Ok(Answer::Incidents(crate::query::incidents_of(
                    members,
                    limit,
                    by_count,
                    self.settings.tz(),
                )))
            }
            Query::Supervision {
                filters,
                status,
                limit,
            } => {
                let input = self.cases(&filters).await?;
                Ok(Answer::Supervision(crate::query::supervision::queue(
                    input,
                    self.settings.deadlines(),
                    now,
                    status,
                    limit,
                    self.settings.tz(),
                )))
            }
            Query::Extent => {
                let (oldest, newest) = self.extent().await?;
                Ok(Answer::Extent { oldest, newest })
            }
            Query::Revisits(f) => Ok(Answer::Revisits(crate::query::revisits_of(
                self.revisit_orders(&f).await?,
                now,
                self.settings.tz(),
            ))),
        }
    }

    /// The times of the oldest and newest stored items (None: no items).
    pub(super) async fn extent(&self) -> Result<(Option<i64>, Option<i64>)> {
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

    /// The item counts, then the work orders. Asked at once (as SQLite's
    /// two connections are) the two queries were slower on two cores: at
    /// 10M items `q=民警` 2.40–2.57 → 3.47–3.56 s, each already uses both.
    async fn summary(&self, f: &Filters, now: i64) -> Result<Summary> {
        let items = self.item_counts(f, now).await?;
        Ok(items.with_orders(self.orders(f, now).await?).with_rates())
    }

    /// A summary's item counts and 不满意化解 (no work orders, no rates),
    /// the resolutions as they stood at [`Filters::as_of`].
    async fn item_counts(&self, f: &Filters, now: i64) -> Result<Summary> {
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
            // dissatisfied items counted are read. As of a time
            // (`as_of`): only the satisfied answers received before it —
            // items on the case, revisits of the order. (`resolved`, a
            // resolution whose satisfied item was erased since, counts at
            // the time kept with it, `resolved_at`; 0: a time not kept, at
            // any time.)
            let w = items_where(f, true);
            let then = f.orders_as_of(now);
            let later = if f.from.is_some() { "AND ts >= ?" } else { "" };
            let before = if then.is_some() { "AND ts < ?" } else { "" };
            let kept = if then.is_some() {
                "(resolved = 1 AND resolved_at < ?)"
            } else {
                "resolved = 1"
            };
            let revisited = if then.is_some() {
                "AND order_id IN (SELECT order_id FROM workorder_events
                     WHERE event = 'revisited' AND rating IN (1, 2) AND at < ?)"
            } else {
                ""
            };
            let sql = format!(
                "SELECT count() FROM (
                     SELECT id, toUInt32(ts) AS t, case_ref, resolved, resolved_at FROM feedback
                     WHERE rating = 3 AND {w}
                 ) AS dissatisfied ANY LEFT JOIN (
                     SELECT case_ref, max(toUInt32(ts)) AS sat FROM feedback
                     WHERE rating IN (1, 2) AND case_ref != '' {later} {before} GROUP BY case_ref
                 ) AS satisfied USING case_ref
                 WHERE {kept} OR (case_ref != '' AND sat >= t) OR id IN (
                     SELECT feedback_id FROM order_states
                     WHERE satisfied = 1 {revisited} AND feedback_id IN (
                         SELECT id FROM feedback WHERE rating = 3 AND {w}))",
                w = w.sql()
            );
            let mut params = w.params.clone();
            params.extend(f.from.map(Param::Time));
            params.extend(then.map(Param::Time));
            params.extend(then.map(Param::Time));
            params.extend(then.map(Param::Time));
            params.extend(w.params);
            let rows: Vec<u64> = self.fetch_tuples(&sql, params).await?;
            out.dissatisfied_resolved = rows.first().copied().unwrap_or(0);
        }

        Ok(out)
    }

    /// The conditions on `order_states` of the work orders created (or
    /// due, `orders_by`) in the period: item filters apply through the item
    /// the order was opened for, the unit through the order's unit.
    ///
    /// An order of the period may be for an item of any time, so the items
    /// matching the filters are looked for in the whole store. With `lead`
    /// (few orders in the period: [`Self::orders_lead`]) only the items of
    /// the period's orders are read for the filters: `id` first, in
    /// PREWHERE, so a search reads the text of their granules alone (at 10M
    /// items, a day's orders of a search for 民警 1.9–2.2 s → 0.5 s; with a
    /// month's 2.16M orders the set costs more than it saves, 1.8 → 3.3 s).
    fn orders_where(&self, f: &Filters, lead: bool) -> Where<Param> {
        let mut w = self.orders_created(f);
        if let Some(item_filters) = order_item_filters(f) {
            let iw = items_where(&item_filters, false);
            if lead {
                let created = self.orders_created(f);
                let term = format!(
                    "feedback_id IN (SELECT id FROM feedback
                         PREWHERE id IN (SELECT feedback_id FROM order_states WHERE {})
                         WHERE {})",
                    created.sql(),
                    iw.sql()
                );
                w.push(&term, created.params.into_iter().chain(iw.params));
            } else {
                w.push(
                    &format!(
                        "feedback_id IN (SELECT id FROM feedback WHERE {})",
                        iw.sql()
                    ),
                    iw.params,
                );
            }
        }
        w.any_of("unit", texts(&f.unit));
        w
    }

    /// Whether the period's orders are few enough to lead the search for
    /// their items ([`Self::orders_where`]): only with item filters, by a
    /// count of them (milliseconds).
    async fn orders_lead(&self, f: &Filters) -> Result<bool> {
        /// Orders of a period up to which they lead (a week at 10M items a
        /// month: ~500,000, still ahead; a month's 2.16M behind).
        const LEAD_ORDERS: i64 = 600_000;
        if order_item_filters(f).is_none() {
            return Ok(false);
        }
        let created = self.orders_created(f);
        // The orders (`sum(sign)`), not the rows: how many rows a collapse
        // has left is the merges' business, and answers differ by release.
        let sql = format!(
            "SELECT toInt64(sum(sign)) FROM order_states WHERE {}",
            created.sql()
        );
        let n: Vec<i64> = self.fetch_tuples(&sql, created.params).await?;
        Ok(n.first().is_some_and(|n| *n <= LEAD_ORDERS))
    }

    /// The orders created (or due, `orders_by`) in the period, as
    /// conditions on `order_states`.
    fn orders_created(&self, f: &Filters) -> Where<Param> {
        let mut created: Where<Param> = Where::default();
        let (from, to) = f
            .orders_by
            .created_range(f.from, f.to, self.settings.sla_seconds);
        if let Some(from) = from {
            created.push("created_at >= ?", [Param::Time(from)]);
        }
        if let Some(to) = to {
            created.push("created_at < ?", [Param::Time(to)]);
        }
        created
    }

    /// Work orders created (or due) in the period. Each order counts once
    /// in `order_states` (its current state +1, every earlier state +1 and -1).
    /// The orders whose revisit SMS went out in the range, as SQLite's:
    /// their first sending there, then (a thousand orders a query) their
    /// unit, item and answers from their events, then their items' channels
    /// under the item filters.
    async fn revisit_orders(&self, f: &Filters) -> Result<Vec<crate::query::RevisitOrder>> {
        let mut w: Where<Param> = Where::default();
        w.push("event = 'revisit_sent'", []);
        if let Some(from) = f.from {
            w.push("at >= ?", [Param::Time(from)]);
        }
        if let Some(to) = f.to {
            w.push("at < ?", [Param::Time(to)]);
        }
        let sql = format!(
            "SELECT order_id, toInt64(min(at)) FROM workorder_events WHERE {}
             GROUP BY order_id ORDER BY order_id",
            w.sql()
        );
        let sent: Vec<(String, i64)> = self.fetch_tuples(&sql, w.params).await?;
        let item_filters = Filters {
            unit: Vec::new(),
            from: None,
            to: None,
            ..f.clone()
        };
        let by_item = !item_filters.is_time_only();
        let mut out = Vec::with_capacity(sent.len());
        for chunk in sent.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT order_id, argMaxIf(unit, at, unit != ''), argMaxIf(feedback_id, at, feedback_id != ''),
                        arraySort(groupArrayIf(toInt64(at), event = 'revisited' AND rating > 0))
                 FROM workorder_events WHERE order_id IN ({marks})
                 GROUP BY order_id ORDER BY order_id"
            );
            let params = chunk.iter().map(|(o, _)| Param::Str(o.clone())).collect();
            #[derive(Row, Deserialize)]
            struct Order {
                order_id: String,
                unit: String,
                item: String,
                answers: Vec<i64>,
            }
            let orders: Vec<Order> = self.fetch_tuples(&sql, params).await?;
            let ids: Vec<&String> = orders
                .iter()
                .map(|o| &o.item)
                .filter(|i| !i.is_empty())
                .collect();
            let mut channel_of: std::collections::HashMap<String, String> = Default::default();
            if !ids.is_empty() {
                let mut iw = items_where(&item_filters, false);
                let marks = vec!["?"; ids.len()].join(", ");
                iw.push(
                    &format!("id IN ({marks})"),
                    ids.iter()
                        .map(|i| Param::Str((*i).clone()))
                        .collect::<Vec<_>>(),
                );
                let sql = format!(
                    "SELECT id, toString(channel) FROM feedback WHERE {} ORDER BY id",
                    iw.sql()
                );
                channel_of = self
                    .fetch_tuples::<(String, String)>(&sql, iw.params)
                    .await?
                    .into_iter()
                    .collect();
            }
            for Order {
                order_id,
                unit,
                item,
                answers,
            } in orders
            {
                if !f.unit.is_empty() && !f.unit.contains(&unit) {
                    continue;
                }
                let channel = channel_of.get(&item).cloned();
                if by_item && channel.is_none() {
                    continue;
                }
                let Some(&(_, sent_at)) = chunk.iter().find(|(o, _)| *o == order_id) else {
                    continue;
                };
                out.push(crate::query::RevisitOrder {
                    replied: answers.iter().any(|t| *t >= sent_at),
                    channel: channel.unwrap_or_default(),
                    order_id,
                    unit,
                    sent_at,
                });
            }
        }
        Ok(out)
    }

    /// The conditions on `order_states` of the orders counted
    /// ([`Self::orders_where`], and created before [`Filters::as_of`]), and
    /// whether one was resolved then, with that expression's parameters:
    /// as SQLite's, an order resolved now was open then if it has a
    /// resolution at that time or later.
    fn orders_then(
        &self,
        f: &Filters,
        now: i64,
        lead: bool,
    ) -> (Where<Param>, &'static str, Vec<Param>) {
        let mut w = self.orders_where(f, lead);
        match f.orders_as_of(now) {
            Some(t) => {
                w.push("created_at < ?", [Param::Time(t)]);
                let done = "resolved = 1 AND order_id NOT IN (
                     SELECT order_id FROM workorder_events WHERE event = 'resolved' AND at >= ?)";
                (w, done, vec![Param::Time(t)])
            }
            None => (w, "resolved = 1", Vec::new()),
        }
    }

    /// As they stood at [`Filters::as_of`] ([`Self::orders_then`]).
    async fn orders(&self, f: &Filters, now: i64) -> Result<Orders> {
        let lead = self.orders_lead(f).await?;
        let (w, done, done_params) = self.orders_then(f, now, lead);
        // In the order of the `?`s: 超期's bound, `done`'s, the conditions.
        let then = f.orders_as_of(now).unwrap_or(now);
        let mut params = vec![Param::Time(then - self.settings.sla_seconds)];
        params.extend(done_params);
        let sql = format!(
            "SELECT toInt64(sum(sign)), toInt64(sumIf(sign, done)),
                    toInt64(sumIf(sign, NOT done AND created_at < ?))
             FROM (SELECT sign, created_at, {done} AS done FROM order_states WHERE {})",
            w.sql()
        );
        params.extend(w.params);
        let rows: Vec<(i64, i64, i64)> = self.fetch_tuples(&sql, params).await?;
        let (created, resolved, overdue) = rows.first().copied().unwrap_or_default();
        Ok(Orders::new(count(created), count(resolved), count(overdue)))
    }

    /// The counts of a rank for each value of `dim` ('' for none), as
    /// SQLite's: items from the rollups where they answer exactly (else
    /// from the items), work orders by the order's unit or the fields of
    /// its item (an order whose item is not stored counts under '').
    async fn counts_by_key(&self, f: &Filters, dim: Dim, now: i64) -> Result<Vec<KeyCounts>> {
        const COUNTS: &str = "toUInt64({sum}),
             toUInt64({sumif}sentiment = 'negative')),
             toUInt64({sumif}rating > 0)),
             toUInt64({sumif}rating IN (1, 2)))";
        let by_topic = dim == Dim::Topic;
        let (sql, params) = if rollups_answer(f, by_topic) {
            let (src, params) = rollup_source(f, Some(dim), true);
            let cols = COUNTS
                .replace("{sum}", "sum(n)")
                .replace("{sumif}", "sumIf(n, ");
            (format!("SELECT k, {cols} FROM ({src}) GROUP BY k"), params)
        } else {
            let mut w = items_where(f, true);
            let (join, key) = item_key(Some(dim));
            if by_topic {
                // Per topic: only the filtered topics, as the rollups count them.
                w.any_of("tk", texts(&f.topic));
            }
            let cols = COUNTS
                .replace("{sum}", "count()")
                .replace("{sumif}", "countIf(");
            (
                format!(
                    "SELECT {key} AS k, {cols} FROM feedback {join} WHERE {} GROUP BY k",
                    w.sql()
                ),
                w.params,
            )
        };
        let items: Vec<(String, u64, u64, u64, u64)> = self.fetch_tuples(&sql, params).await?;

        let lead = self.orders_lead(f).await?;
        let (w, done, done_params) = self.orders_then(f, now, lead);
        let (sql, params) = if dim == Dim::Unit {
            let sql = format!(
                "SELECT toString(unit) AS k, toInt64(sum(sign)), toInt64(sumIf(sign, done))
                 FROM (SELECT unit, sign, {done} AS done FROM order_states WHERE {})
                 GROUP BY k",
                w.sql()
            );
            let mut params = done_params;
            params.extend(w.params);
            (sql, params)
        } else {
            // The key from the order's item: one row per item (each topic
            // of it, by topic); '' when the item is not stored.
            let (join, item_k, only) = match dim {
                Dim::Topic => (
                    "ALL LEFT JOIN",
                    "arrayJoin(topics)".to_owned(),
                    f.topic.as_slice(),
                ),
                d => (
                    "ANY LEFT JOIN",
                    format!("toString({})", d.as_str()),
                    &[][..],
                ),
            };
            let mut outer: Where<Param> = Where::default();
            outer.any_of("k", texts(only));
            let sql = format!(
                "SELECT k, toInt64(sum(sign)), toInt64(sumIf(sign, done)) FROM (
                     SELECT feedback_id, sign, {done} AS done FROM order_states WHERE {w}
                 ) AS o {join} (
                     SELECT id AS feedback_id, {item_k} AS k FROM feedback
                     WHERE id IN (SELECT feedback_id FROM order_states WHERE {w})
                 ) AS f USING feedback_id WHERE {outer} GROUP BY k",
                w = w.sql(),
                outer = outer.sql()
            );
            let mut params = done_params;
            params.extend(w.params.clone());
            params.extend(w.params);
            params.extend(outer.params);
            (sql, params)
        };
        let orders: Vec<(String, i64, i64)> = self.fetch_tuples(&sql, params).await?;
        Ok(key_counts(
            items
                .into_iter()
                .map(|(k, n, neg, rated, sat)| (k, [n, neg, rated, sat])),
            orders
                .into_iter()
                .map(|(k, created, resolved)| (k, [count(created), count(resolved)])),
        ))
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
        // A hot word an erasure took to 0 keeps its row until a merge.
        const RANK: &str = "GROUP BY k HAVING c > 0 ORDER BY c DESC, k LIMIT ?";
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
    /// the range would read the whole table for the newest page. Every
    /// condition is a PREWHERE: 18.16 moves only the narrow ones (`ts`)
    /// there by itself, and then reads the text, details and keywords of
    /// each row in the window before a search drops it — at 10M items a
    /// search found nowhere walked every window in 2.3 s, 0.3 s now.
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
                [Param::Time(c.ts), Param::Time(c.ts), Param::Int(c.seq)],
            );
        }
        let sql = |window: &str| {
            format!(
                "SELECT toInt64(intDiv(sipHash64(id), 2)) AS seq, toUInt32(ts), id, toString(channel),
                        received_at, text, rating, toString(district), toString(unit), case_ref,
                        topics, keywords, toString(sentiment), score, detail, redacted
                 FROM feedback PREWHERE {} {window} ORDER BY ts DESC, seq DESC LIMIT ?",
                w.sql()
            )
        };
        // [start, end) of the first window; no end: up to the newest item.
        let mut end = match (f.to, cursor) {
            (Some(to), Some(c)) => Some(to.min(c.ts.saturating_add(1))),
            (to, c) => to.or(c.map(|c| c.ts.saturating_add(1))),
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
                params.push(Param::Time(start));
            }
            if let Some(e) = end {
                window.push_str(" AND ts < ?");
                params.push(Param::Time(e));
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
        let tz = self.settings.tz();
        let mut items: Vec<FeedbackRow> = rows.into_iter().map(|r| feedback_row(r, tz)).collect();
        self.attach_work_orders(&mut items).await?;
        self.attach_incidents(&mut items).await?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(|i| i.cursor)
        } else {
            None
        };
        Ok(Answer::Feedback { items, next })
    }
}

impl ClickHouseStore {
    /// Fills each item's work orders: the current states (`sum(sign) > 0`)
    /// of the orders opened for the items of one page, from `order_items`
    /// (keyed by the item: a page reads its own items' rows).
    async fn attach_work_orders(&self, items: &mut [FeedbackRow]) -> Result<()> {
        let at: rustc_hash::FxHashMap<String, usize> = items
            .iter()
            .enumerate()
            .map(|(n, i)| (i.id.clone(), n))
            .collect();
        // A thousand ids a query: the bound values are spelled out in the
        // SQL, which ClickHouse caps (`max_query_size`, 256 KiB).
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT feedback_id, order_id, toUInt8(resolved) FROM order_items
                 WHERE feedback_id IN ({marks})
                 GROUP BY feedback_id, order_id, resolved HAVING sum(sign) > 0
                 ORDER BY order_id"
            );
            let params = chunk.iter().cloned().map(Param::Str).collect();
            let rows: Vec<(String, String, u8)> = self.fetch_tuples(&sql, params).await?;
            for (feedback_id, order_id, resolved) in rows {
                if let Some(&n) = at.get(&feedback_id) {
                    items[n].work_orders.push(crate::query::WorkOrderRef {
                        order_id,
                        resolved: resolved == 1,
                    });
                }
            }
        }
        Ok(())
    }
}

/// An item read as the lists show it (its work orders, incident and
/// repeat mark not yet attached).
pub(super) fn feedback_row(r: ItemOut, tz: chrono::FixedOffset) -> FeedbackRow {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    FeedbackRow {
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
        redacted: non_empty(r.redacted),
        work_orders: Vec::new(),
        incident_id: None,
        repeat: false,
    }
}

/// A sum of signs as a count (a state and its retraction may sit in
/// different parts: never below 0).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn bind(
    mut q: clickhouse::query::Query,
    params: Vec<Param>,
) -> clickhouse::query::Query {
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(v),
            Param::Time(t) => q.bind(t.clamp(0, i64::from(u32::MAX))),
            Param::Str(s) => q.bind(s),
        };
    }
    q
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
pub(super) fn items_where(f: &Filters, time: bool) -> Where<Param> {
    let mut w = Where::default();
    if time {
        if let Some(from) = f.from {
            w.push("ts >= ?", [Param::Time(from)]);
        }
        if let Some(to) = f.to {
            w.push("ts < ?", [Param::Time(to)]);
        }
    }
    dims_where(&mut w, f);
    w.any_of("rating", ratings(f));
    if !f.topic.is_empty() {
        let marks = vec!["?"; f.topic.len()].join(", ");
        w.push(&format!("hasAny(topics, [{marks}])"), texts(&f.topic));
    }
    match f.has_text {
        Some(true) => w.push("text != ''", []),
        Some(false) => w.push("text = ''", []),
        None => {}
    }
    // `search` is the searchable text (005_search.sql); a word is a
    // substring of it. `>= 1`, not `> 0`: 18.16, reading a part written
    // before `resolved` (DEFAULT 0) and `search` existed, fails with
    // "Column '0' already exists" when the query has a literal 0 beside
    // the computed `search`.
    for words in &f.q {
        let any = vec!["position(search, ?) >= 1"; words.len()].join(" OR ");
        w.push(&format!("({any})"), texts(words));
    }
    if !f.incident.is_empty() {
        let (term, params) = super::incidents::of_incidents(&f.incident);
        w.push(&term, params);
    }
    if let Some(repeat) = f.repeat {
        let (term, params) = super::incidents::of_repeats(repeat, f.from, f.to);
        w.push(&term, params);
    }
    if let Some(hash) = &f.contact {
        w.push(
            "visitParamExtractString(detail, 'contact_hash') = ?",
            [Param::Str(hash.clone())],
        );
    }
    w
}

/// The filters a work order meets through its item: all but the unit (the
/// order's own); None when they are the period alone.
fn order_item_filters(f: &Filters) -> Option<Filters> {
    let item_filters = Filters {
        unit: Vec::new(),
        ..f.clone()
    };
    (!item_filters.is_time_only()).then_some(item_filters)
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
