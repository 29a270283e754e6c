//! The read path: a small pool of read-only connections and the queries.
//! In: a typed [`Query`], the time it is asked at, and the
//! [`QuerySettings`] (zone, SLA). Out: its [`Answer`]. Guarantees: reads
//! never block the writer (WAL); a query the rollups answer exactly reads
//! them (the hourly tables up to [`FOLDED`], the minutes around and after),
//! any other reads the items; every value is bound, never formatted into
//! the SQL.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use tokio::sync::Semaphore;

use super::QuerySettings;
use super::rollups::FOLDED;
use super::search;
use crate::query::{
    Answer, Cursor, Dim, FeedbackRow, Filters, Interval, KeyCounts, Orders, Query, Summary,
    Timeseries, TopDim, TopRow, rank, rfc3339,
};
use crate::store::Result;
use crate::store::sql::{
    Where, edges_where, hour_span, hours_where, key_counts, keyword_rollup_answers, rollup_plan,
    rollups_answer, timeseries_from_rows,
};

pub(super) struct Readers {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
    pub(super) permits: Semaphore,
    pub(super) settings: QuerySettings,
}

impl Readers {
    pub(super) fn run(&self, query: &Query, now: i64) -> Result<Answer> {
        match query {
            // Read from the items (a search, a text filter), a summary is
            // two walks over the matching items, its counts and its work
            // orders: on two connections at once (the cores are otherwise
            // idle while one analyst waits; at 1M items `q=民警` took 345 ms
            // one after the other, 185 ms at once).
            Query::Summary(f) if !rollups_answer(f, false) => std::thread::scope(|scope| {
                let orders = scope.spawn(|| self.with(|conn| orders(conn, f, now, self.settings)));
                let counts = self.with(|conn| item_counts(conn, f));
                let orders = orders
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                Ok(Answer::Summary(counts?.with_orders(orders?).with_rates()))
            }),
            _ => self.with(|conn| answer(conn, query, now, self.settings)),
        }
    }

    /// Runs `read` on an idle read-only connection (opening one if none is).
    pub(super) fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.idle.lock().expect("not poisoned").pop() {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536;")?;
                c
            }
        };
        let out = read(&conn);
        self.idle.lock().expect("not poisoned").push(conn);
        out
    }
}

// ---------------------------------------------------------------------------
// Queries. Identifiers below are literals of this file; every value is bound.

pub(super) fn texts(v: &[String]) -> Vec<Sql> {
    v.iter().map(|s| Sql::Text(s.clone())).collect()
}

/// Conditions of the dimensions shared by items and rollups (columns have
/// the same names in both), under the table alias `t`.
fn dims_where(w: &mut Where<Sql>, f: &Filters, t: &str) {
    w.any_of(&format!("{t}.channel"), texts(&f.channel));
    w.any_of(&format!("{t}.district"), texts(&f.district));
    w.any_of(&format!("{t}.unit"), texts(&f.unit));
    w.any_of(
        &format!("{t}.sentiment"),
        f.sentiment
            .iter()
            .map(|s| Sql::Text(s.as_str().to_owned()))
            .collect(),
    );
}

fn ratings(f: &Filters) -> Vec<Sql> {
    f.rating
        .iter()
        .map(|r| Sql::Integer(i64::from(r.number())))
        .collect()
}

/// Conditions on items (alias `i`); `time` adds the range on `i.ts`.
pub(super) fn items_where(f: &Filters, time: bool) -> Where<Sql> {
    items_where_searched(f, time, false)
}

/// [`items_where`], the search as a condition on the search index joined
/// in the FROM clause ([`SEARCH_FACTS`]) when `joined`.
fn items_where_searched(f: &Filters, time: bool, joined: bool) -> Where<Sql> {
    let mut w = Where::default();
    if time {
        if let Some(from) = f.from {
            w.push("i.ts >= ?", [Sql::Integer(from)]);
        }
        if let Some(to) = f.to {
            w.push("i.ts < ?", [Sql::Integer(to)]);
        }
    }
    dims_where(&mut w, f, "i");
    w.any_of("i.rating", ratings(f));
    if !f.topic.is_empty() {
        let marks = vec!["?"; f.topic.len()].join(", ");
        let mut term = format!("i.seq IN (SELECT seq FROM item_topics WHERE topic IN ({marks})");
        let mut values = texts(&f.topic);
        if time {
            if let Some(from) = f.from {
                term.push_str(" AND ts >= ?");
                values.push(Sql::Integer(from));
            }
            if let Some(to) = f.to {
                term.push_str(" AND ts < ?");
                values.push(Sql::Integer(to));
            }
        }
        term.push(')');
        w.push(&term, values);
    }
    match f.has_text {
        Some(true) => w.push("i.text <> ''", []),
        Some(false) => w.push("i.text = ''", []),
        None => {}
    }
    if let Some(expr) = search::match_expr(&f.q) {
        let term = if joined {
            "items_search MATCH ?"
        } else {
            "i.seq IN (SELECT rowid FROM items_search WHERE items_search MATCH ?)"
        };
        w.push(term, [Sql::Text(expr)]);
    }
    w.any_of("i.incident", texts(&f.incident));
    match f.repeat {
        // The partial index `items_repeat` (schema 8) holds the marked.
        Some(true) => w.push("i.repeat = 1", []),
        Some(false) => w.push("i.repeat = 0", []),
        None => {}
    }
    if let Some(hash) = &f.contact {
        // The index `items_contact` (schema 5) is on this expression.
        w.push(
            "json_extract(i.detail, '$.contact_hash') = ?",
            [Sql::Text(hash.clone())],
        );
    }
    w
}

/// The items of a search read through the index `items_facts` (schema
/// 10) instead of their rows: a search finds items by row number, and
/// reading each found item's row (a kilobyte of text and detail) costs ~1
/// µs, the index a third of that.
const FACTS: &str = "items i INDEXED BY items_facts";

/// [`FACTS`] led by the search index: its row numbers in order, each
/// joined to the index's entry (~20 % less per found item than the `IN`
/// of [`items_where`], whose row numbers SQLite first copies into a
/// temporary table). For queries that read nothing else.
const SEARCH_FACTS: &str =
    "items_search JOIN items i INDEXED BY items_facts ON i.seq = items_search.rowid";

/// The FROM clause and the conditions of a query that reads the items
/// alone: [`SEARCH_FACTS`] where [`items_from`] picks [`FACTS`].
fn items_source(f: &Filters, more: bool) -> (&'static str, Where<Sql>) {
    match items_from(f, more) {
        FACTS => (SEARCH_FACTS, items_where_searched(f, true, true)),
        items => (items, items_where(f, true)),
    }
}

/// The items marked as repeats, by time, leading a search: the marked are
/// few (17,455 of 1,000,000 in the demo), and SQLite would otherwise read
/// every found item's row to see its mark (重复诉求 of a summary searching
/// 民警: 314 → 44 ms at 1M items).
const REPEATS: &str = "items i INDEXED BY items_repeat";

/// The items a query reads, as its FROM clause (alias `i`), when the query
/// searches: [`REPEATS`] for the marked items, else [`FACTS`] when the
/// query reads no column the index lacks (`more`: the query's own columns
/// are among `seq, ts, sentiment, rating, resolved, id`). Without a search
/// the time range on `items_ts` (or a partial index) leads, and SQLite's
/// own plan is right.
fn items_from(f: &Filters, more: bool) -> &'static str {
    let Filters {
        channel,
        topic: _, // through `item_topics`, by row number
        district,
        unit,
        sentiment: _,
        rating: _,
        from: _,
        to: _,
        q,
        has_text,
        orders_by: _,
        as_of: _,
        incident,
        contact,
        repeat,
    } = f;
    let covered = more
        && channel.is_empty()
        && district.is_empty()
        && unit.is_empty()
        && has_text.is_none()
        && incident.is_empty()
        && contact.is_none()
        && repeat.is_none();
    if q.is_empty() {
        "items i"
    } else if *repeat == Some(true) {
        REPEATS
    } else if covered {
        FACTS
    } else {
        "items i"
    }
}

/// Conditions on `rollup_minute` (alias `r`) other than time. `by_topic`:
/// the rows per topic instead of the `*` rows.
fn rollup_dims_where(f: &Filters, by_topic: bool) -> Where<Sql> {
    let mut w = Where::default();
    if f.topic.is_empty() {
        w.push(
            if by_topic {
                "r.topic <> '*'"
            } else {
                "r.topic = '*'"
            },
            [],
        );
    } else {
        w.any_of("r.topic", texts(&f.topic));
    }
    dims_where(&mut w, f, "r");
    w.any_of("r.rating", ratings(f));
    w
}

/// Time conditions on a minute table's `col` for [from, to): the
/// minute-precise edges of the whole-hour `span`, and the whole hours the
/// hourly tables do not hold yet (after [`FOLDED`]).
fn minutes_where(
    w: &mut Where<Sql>,
    col: &str,
    f: &Filters,
    span: Option<(Option<i64>, Option<i64>)>,
) {
    let Some(span) = span else {
        edges_where(w, col, f, None);
        return;
    };
    let mut edges = Where::default();
    edges_where(&mut edges, col, f, Some(span));
    // One lower bound (not two conditions), so SQLite seeks to it instead
    // of filtering every minute of the span.
    let mut unfolded = Where::default();
    match span.0 {
        Some(first) => unfolded.push(
            &format!("{col} >= max(?, {FOLDED} + 3600)"),
            [Sql::Integer(first)],
        ),
        None => unfolded.push(&format!("{col} >= {FOLDED} + 3600"), []),
    }
    hours_where(&mut unfolded, col, (None, span.1));
    w.push(
        &format!("({} OR ({}))", edges.sql(), unfolded.sql()),
        edges.params.into_iter().chain(unfolded.params),
    );
}

/// The rows a rollup-path query aggregates, as the CTE `src(t, k,
/// sentiment, rating, n, resolved)`: `k` is the value of `key` (or '').
/// Whole hours up to [`FOLDED`] come from `rollup_hour` when the query
/// involves at most one of channel/topic/district/unit (and `hours_ok`:
/// buckets of whole hours on an hour-aligned clock); the minute-precise
/// edges, the hours not folded yet, and everything else, from
/// `rollup_minute`.
fn rollup_source(f: &Filters, key: Option<Dim>, hours_ok: bool) -> (String, Vec<Sql>) {
    let by_topic = key == Some(Dim::Topic);
    let plan = rollup_plan(f, key, hours_ok);
    let span = plan.span;
    // The minute table counts whole minutes: it answers for the whole
    // minutes of the range, the items for the seconds outside them.
    let (whole, seconds) = whole_minutes(f);

    let minute_key = key.map_or("''".to_owned(), |d| format!("r.{}", d.as_str()));
    let mut mw = rollup_dims_where(f, by_topic);
    minutes_where(&mut mw, "r.minute", &whole, span);
    let mut sql = format!(
        "WITH src (t, k, sentiment, rating, n, resolved) AS (
             SELECT r.minute, {minute_key}, r.sentiment, r.rating, r.n, r.resolved
             FROM rollup_minute r WHERE {}",
        mw.sql()
    );
    let mut params = mw.params;
    if let Some(span) = span {
        let dim = plan.hour_dim;
        let hour_key = match key {
            Some(Dim::Sentiment) => "h.sentiment",
            Some(_) => "h.key",
            None => "''",
        };
        let mut hw = Where::default();
        hw.push("h.dim = ?", [Sql::Text(dim.to_owned())]);
        hours_where(&mut hw, "h.hour", span);
        hw.push(&format!("h.hour <= {FOLDED}"), []);
        hw.any_of("h.key", texts(plan.hour_keys));
        hw.any_of(
            "h.sentiment",
            f.sentiment
                .iter()
                .map(|s| Sql::Text(s.as_str().to_owned()))
                .collect(),
        );
        hw.any_of("h.rating", ratings(f));
        sql.push_str(&format!(
            " UNION ALL
             SELECT h.hour, {hour_key}, h.sentiment, h.rating, h.n, h.resolved
             FROM rollup_hour h WHERE {}",
            hw.sql()
        ));
        params.extend(hw.params);
    }
    // Each stretch on its own, so a topic's condition reads its seconds
    // only.
    let item_key = key.map_or("''".to_owned(), item_column);
    let join = if by_topic { BY_TOPIC } else { "" };
    for (from, to) in seconds {
        let mut iw = items_where(
            &Filters {
                from: Some(from),
                to: Some(to),
                ..f.clone()
            },
            true,
        );
        if by_topic {
            // As the minute table's rows of the topics asked, not the
            // items' other topics.
            iw.any_of("t.value", texts(&f.topic));
        }
        sql.push_str(&format!(
            " UNION ALL
             SELECT i.ts - i.ts % 60, {item_key}, i.sentiment, i.rating, 1, i.resolved
             FROM items i {join} WHERE {}",
            iw.sql()
        ));
        params.extend(iw.params);
    }
    sql.push_str(")\n");
    (sql, params)
}

/// `f` cut to the whole minutes of its range, and the stretches of seconds
/// left outside them (at most two: before the first whole minute and after
/// the last; one when the range lies inside a minute). A `to` of 01:10:01
/// holds one second of minute 01:10, which the minute table counts whole:
/// "today so far" against the same window yesterday read up to 59 seconds
/// more of yesterday, and the change dropped at every minute.
fn whole_minutes(f: &Filters) -> (Filters, Vec<(i64, i64)>) {
    let first = f.from.map(crate::query::ceil_minute);
    let end = f.to.map(crate::query::floor_minute);
    let mut seconds = Vec::new();
    match (f.from, f.to) {
        (Some(from), Some(to)) if end < first => {
            if from < to {
                seconds.push((from, to));
            }
        }
        (from, to) => {
            if let (Some(from), Some(first)) = (from, first)
                && from < first
            {
                seconds.push((from, first));
            }
            if let (Some(end), Some(to)) = (end, to)
                && end < to
            {
                seconds.push((end, to));
            }
        }
    }
    let whole = Filters {
        from: first,
        to: end,
        ..f.clone()
    };
    (whole, seconds)
}

fn answer(conn: &Connection, query: &Query, now: i64, s: QuerySettings) -> Result<Answer> {
    match query {
        Query::Summary(f) => summary(conn, f, now, s).map(Answer::Summary),
        Query::Orders(f) => orders(conn, f, now, s).map(Answer::Orders),
        Query::Timeseries {
            filters,
            interval,
            group_by,
        } => timeseries(conn, filters, *interval, *group_by, s).map(Answer::Timeseries),
        Query::Top {
            filters,
            dim,
            limit,
        } => top(conn, filters, *dim, *limit).map(Answer::Top),
        Query::Feedback {
            filters,
            limit,
            cursor,
        } => feedback(conn, filters, *limit, *cursor, s),
        Query::Rank(r) => {
            let current = counts_by_key(conn, &r.filters, r.dim, now, s)?;
            let previous = match r.previous_filters(now) {
                Some(f) => Some(counts_by_key(conn, &f, r.dim, now, s)?),
                None => None,
            };
            Ok(Answer::Rank(rank(r, current, previous)))
        }
        Query::Revisits(f) => Ok(Answer::Revisits(crate::query::revisits_of(
            revisit_orders(conn, f)?,
            now,
            s.tz(),
        ))),
        Query::Incidents {
            filters,
            limit,
            by_count,
        } => {
            let members = super::incidents::members(conn, filters)?;
            Ok(Answer::Incidents(crate::query::incidents_of(
                members,
                *limit,
                *by_count,
                s.tz(),
            )))
        }
        Query::Supervision {
            filters,
            status,
            limit,
        } => {
            let input = super::supervision::cases(conn, filters)?;
            Ok(Answer::Supervision(crate::query::supervision::queue(
                input,
                s.deadlines(),
                now,
                *status,
                *limit,
                s.tz(),
            )))
        }
        Query::Extent => Ok(
            conn.query_row("SELECT min(ts), max(ts) FROM items", [], |r| {
                Ok(Answer::Extent {
                    oldest: r.get(0)?,
                    newest: r.get(1)?,
                })
            })?,
        ),
    }
}

fn u(v: Option<i64>) -> u64 {
    v.unwrap_or(0).max(0) as u64
}

fn summary(conn: &Connection, f: &Filters, now: i64, s: QuerySettings) -> Result<Summary> {
    let mut counts = item_counts(conn, f)?;
    if let Some(then) = f.orders_as_of(now) {
        counts.dissatisfied_resolved = counts
            .dissatisfied_resolved
            .saturating_sub(resolved_since(conn, f, then)?);
    }
    Ok(counts.with_orders(orders(conn, f, now, s)?).with_rates())
}

/// The dissatisfied items of `f` resolved at `then` or later: not yet
/// resolved as of `then` ([`Filters::as_of`]), as the work orders of a
/// compared period are read (those resolved at a time not kept count as
/// resolved at any time).
fn resolved_since(conn: &Connection, f: &Filters, then: i64) -> Result<u64> {
    let mut w = items_where(f, true);
    w.push(
        "i.rating = 3 AND i.resolved = 1 AND i.resolved_at >= ?",
        [Sql::Integer(then)],
    );
    let sql = format!(
        "SELECT count(*) FROM {} WHERE {}",
        items_from(f, false),
        w.sql()
    );
    let n: Option<i64> = conn.query_row(&sql, params_from_iter(w.params), |r| r.get(0))?;
    Ok(u(n))
}

/// The item counts of a summary (no work orders, no rates).
fn item_counts(conn: &Connection, f: &Filters) -> Result<Summary> {
    const COUNTS: &str = "sum({n}),
         sum(CASE WHEN {s} = 'positive' THEN {n} ELSE 0 END),
         sum(CASE WHEN {s} = 'neutral' THEN {n} ELSE 0 END),
         sum(CASE WHEN {s} = 'negative' THEN {n} ELSE 0 END),
         sum(CASE WHEN {r} > 0 THEN {n} ELSE 0 END),
         sum(CASE WHEN {r} IN (1, 2) THEN {n} ELSE 0 END),
         sum(CASE WHEN {r} = 3 THEN {n} ELSE 0 END),
         sum({resolved})";
    let (sql, params) = if rollups_answer(f, false) {
        let (src, params) = rollup_source(f, None, true);
        let cols = COUNTS
            .replace("{s}", "sentiment")
            .replace("{r}", "rating")
            .replace("{n}", "n")
            .replace("{resolved}", "resolved");
        (format!("{src} SELECT {cols} FROM src"), params)
    } else {
        let (items, w) = items_source(f, true);
        let cols = COUNTS
            .replace("{s}", "i.sentiment")
            .replace("{r}", "i.rating")
            .replace("{n}", "1")
            .replace("{resolved}", "i.resolved");
        (
            format!("SELECT {cols} FROM {items} WHERE {}", w.sql()),
            w.params,
        )
    };
    Ok(conn.query_row(&sql, params_from_iter(params), |r| {
        Ok(Summary {
            received: u(r.get(0)?),
            positive: u(r.get(1)?),
            neutral: u(r.get(2)?),
            negative: u(r.get(3)?),
            rated: u(r.get(4)?),
            satisfied: u(r.get(5)?),
            dissatisfied: u(r.get(6)?),
            dissatisfied_resolved: u(r.get(7)?),
            ..Summary::default()
        })
    })?)
}

/// The conditions on work orders (`o`) created (or due,
/// [`crate::query::OrdersBy`]) in the period, and the filters they read
/// the order's item (`i`) by, if any: item filters apply through the item
/// the order was opened for, the unit through the order's own unit;
/// `searched`: a search as a condition on [`SEARCH_FACTS`], which the
/// caller joins where [`items_from`] picks [`FACTS`]. Read as of
/// [`Filters::as_of`], only the orders created before it.
fn orders_where(
    f: &Filters,
    now: i64,
    s: QuerySettings,
    searched: bool,
) -> (Where<Sql>, Option<Filters>) {
    let mut w = Where::default();
    let (from, to) = f.orders_by.created_range(f.from, f.to, s.sla_seconds);
    if let Some(from) = from {
        w.push("o.created_at >= ?", [Sql::Integer(from)]);
    }
    if let Some(to) = to {
        w.push("o.created_at < ?", [Sql::Integer(to)]);
    }
    if let Some(t) = f.orders_as_of(now) {
        w.push("o.created_at < ?", [Sql::Integer(t)]);
    }
    let item_filters = Filters {
        unit: Vec::new(),
        ..f.clone()
    };
    let by_item = (!item_filters.is_time_only()).then_some(item_filters);
    if let Some(item_filters) = &by_item {
        let joined = searched && items_from(item_filters, true) == FACTS;
        let iw = items_where_searched(item_filters, false, joined);
        w.push(&iw.sql(), iw.params);
    }
    w.any_of("o.unit", texts(&f.unit));
    (w, by_item)
}

/// The orders whose revisit SMS went out in the range (their first
/// `revisit_sent` there), with their unit, their item's channel and
/// whether a rated `revisited` followed; the unit filter on the order, the
/// other filters on its item. The partial index `wo_events_revisit_sent`
/// (schema 9) holds the sendings.
fn revisit_orders(conn: &Connection, f: &Filters) -> Result<Vec<crate::query::RevisitOrder>> {
    let mut w = Where::default();
    w.push("e.event = 'revisit_sent'", []);
    if let Some(from) = f.from {
        w.push("e.at >= ?", [Sql::Integer(from)]);
    }
    if let Some(to) = f.to {
        w.push("e.at < ?", [Sql::Integer(to)]);
    }
    w.any_of("o.unit", texts(&f.unit));
    let item_filters = Filters {
        unit: Vec::new(),
        from: None,
        to: None,
        ..f.clone()
    };
    if !item_filters.is_time_only() {
        let iw = items_where(&item_filters, false);
        w.push(&iw.sql(), iw.params);
    }
    let sql = format!(
        "SELECT s.order_id, s.unit, s.channel, s.sent,
                EXISTS (SELECT 1 FROM wo_events r WHERE r.order_id = s.order_id
                        AND r.event = 'revisited' AND r.rating > 0 AND r.at >= s.sent)
         FROM (SELECT e.order_id AS order_id, COALESCE(o.unit, '') AS unit,
                      COALESCE(i.channel, '') AS channel, min(e.at) AS sent
               FROM wo_events e
               LEFT JOIN work_orders o ON o.order_id = e.order_id
               LEFT JOIN items i ON i.id = o.feedback_id
               WHERE {} GROUP BY e.order_id) s",
        w.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(w.params), |r| {
            Ok(crate::query::RevisitOrder {
                order_id: r.get(0)?,
                unit: r.get(1)?,
                channel: r.get(2)?,
                sent_at: r.get(3)?,
                replied: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Work orders created (or due) in the period, as they stood at
/// [`Filters::as_of`] (an order's `resolved_at` is its last resolution, so
/// one resolved before that time and reopened and resolved again since
/// counts as open then).
fn orders(conn: &Connection, f: &Filters, now: i64, s: QuerySettings) -> Result<Orders> {
    let (w, by_item) = orders_where(f, now, s, true);
    let as_of = f.orders_as_of(now);
    let join = by_item.map_or(String::new(), |item_filters| {
        match items_from(&item_filters, true) {
            // A search leads: its items, then their orders.
            FACTS => format!("JOIN {SEARCH_FACTS} AND i.id = o.feedback_id"),
            items => format!("JOIN {items} ON i.id = o.feedback_id"),
        }
    });
    let sql = format!(
        "SELECT count(*), sum(CASE WHEN o.resolved_at < ?1 THEN 1 ELSE 0 END),
                sum(CASE WHEN (o.resolved_at IS NULL OR o.resolved_at >= ?1)
                              AND o.created_at < ?2 THEN 1 ELSE 0 END)
         FROM work_orders o {join} WHERE {}",
        w.sql()
    );
    let mut values = vec![
        Sql::Integer(as_of.unwrap_or(i64::MAX)),
        Sql::Integer(as_of.unwrap_or(now) - s.sla_seconds),
    ];
    values.extend(w.params);
    let (created, resolved, overdue) = conn.query_row(&sql, params_from_iter(values), |r| {
        Ok((u(r.get(0)?), u(r.get(1)?), u(r.get(2)?)))
    })?;
    Ok(Orders::new(created, resolved, overdue))
}

/// The counts of a rank for each value of `dim` ('' for none): items from
/// the rollups where they answer exactly (else from the items), work
/// orders by the order's unit or the fields of its item (an order whose
/// item is not stored counts under '').
fn counts_by_key(
    conn: &Connection,
    f: &Filters,
    dim: Dim,
    now: i64,
    s: QuerySettings,
) -> Result<Vec<KeyCounts>> {
    const COUNTS: &str = "sum({n}),
         sum(CASE WHEN {s} = 'negative' THEN {n} ELSE 0 END),
         sum(CASE WHEN {r} > 0 THEN {n} ELSE 0 END),
         sum(CASE WHEN {r} IN (1, 2) THEN {n} ELSE 0 END)";
    let by_topic = dim == Dim::Topic;
    let (sql, params) = if rollups_answer(f, by_topic) {
        let (src, params) = rollup_source(f, Some(dim), true);
        let cols = COUNTS
            .replace("{s}", "sentiment")
            .replace("{r}", "rating")
            .replace("{n}", "n");
        (
            format!("{src} SELECT k, {cols} FROM src GROUP BY 1"),
            params,
        )
    } else {
        let mut w = items_where(f, true);
        let key = item_column(dim);
        let join = if by_topic {
            // Per topic: only the filtered topics, as the rollups count them.
            w.any_of("t.value", texts(&f.topic));
            BY_TOPIC
        } else {
            ""
        };
        let cols = COUNTS
            .replace("{s}", "i.sentiment")
            .replace("{r}", "i.rating")
            .replace("{n}", "1");
        (
            format!(
                "SELECT {key}, {cols} FROM {} {join} WHERE {} GROUP BY 1",
                items_from(f, false),
                w.sql()
            ),
            w.params,
        )
    };
    let mut stmt = conn.prepare(&sql)?;
    let items = stmt
        .query_map(params_from_iter(params), |r| {
            Ok((
                r.get::<_, String>(0)?,
                [u(r.get(1)?), u(r.get(2)?), u(r.get(3)?), u(r.get(4)?)],
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let (mut w, item_filters) = orders_where(f, now, s, false);
    let as_of = f.orders_as_of(now);
    let by_item = item_filters.is_some();
    // With item filters an order whose item is not stored matches none of
    // them: an inner join says so, and lets a search lead (joined LEFT,
    // SQLite walked every order of the range and its item: 173 ms at 1M
    // items for a search that finds nothing).
    let item_join = if by_item {
        "JOIN items i ON i.id = o.feedback_id"
    } else {
        "LEFT JOIN items i ON i.id = o.feedback_id"
    };
    let (key, join) = match dim {
        Dim::Unit if by_item => ("o.unit", item_join.to_owned()),
        Dim::Unit => ("o.unit", String::new()),
        Dim::Topic => {
            w.any_of("t.value", texts(&f.topic));
            (
                "coalesce(t.value, '')",
                format!("{item_join} LEFT JOIN json_each(i.topics) t"),
            )
        }
        Dim::District => ("coalesce(i.district, '')", item_join.to_owned()),
        Dim::Channel => ("coalesce(i.channel, '')", item_join.to_owned()),
        Dim::Sentiment => ("coalesce(i.sentiment, '')", item_join.to_owned()),
    };
    // Resolved as of `as_of` as in [`orders`].
    let sql = format!(
        "SELECT {key}, count(*), sum(CASE WHEN o.resolved_at < ? THEN 1 ELSE 0 END)
         FROM work_orders o {join} WHERE {} GROUP BY 1",
        w.sql()
    );
    let mut values = vec![Sql::Integer(as_of.unwrap_or(i64::MAX))];
    values.extend(w.params);
    let mut stmt = conn.prepare(&sql)?;
    let orders = stmt
        .query_map(params_from_iter(values), |r| {
            Ok((r.get::<_, String>(0)?, [u(r.get(1)?), u(r.get(2)?)]))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(key_counts(items, orders))
}

/// The column of a dimension in items (`i`), with `t` for the item's
/// topics ([`BY_TOPIC`]).
fn item_column(dim: Dim) -> String {
    match dim {
        Dim::Topic => "t.value".to_owned(),
        _ => format!("i.{}", dim.as_str()),
    }
}

/// The join giving each item's topics as `t.value`: from the item's own
/// list, so the items of the time range drive the query (a join on
/// `item_topics`, keyed by topic first, scanned every topic's history).
const BY_TOPIC: &str = ", json_each(i.topics) t";

fn timeseries(
    conn: &Connection,
    f: &Filters,
    interval: Interval,
    group_by: Option<Dim>,
    s: QuerySettings,
) -> Result<Timeseries> {
    let width = interval.seconds();
    let off = s.tz_offset;
    let by_topic = group_by == Some(Dim::Topic);
    let (sql, params) = if rollups_answer(f, by_topic) {
        // Hourly rows fit buckets of whole hours on an hour-aligned clock.
        let hours_ok = width >= 3600 && off % 3600 == 0;
        let (src, params) = rollup_source(f, group_by, hours_ok);
        (
            format!(
                "{src} SELECT ((t + {off}) / {width}) * {width} - {off} AS b, k, sum(n)
                 FROM src GROUP BY 1, 2"
            ),
            params,
        )
    } else {
        let (items, w) = items_source(f, matches!(group_by, None | Some(Dim::Sentiment)));
        let key = group_by.map_or("''".to_owned(), item_column);
        let join = if by_topic { BY_TOPIC } else { "" };
        (
            format!(
                "SELECT ((i.ts + {off}) / {width}) * {width} - {off} AS b, {key}, count(*)
                 FROM {items} {join} WHERE {} GROUP BY 1, 2",
                w.sql()
            ),
            w.params,
        )
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            let n: i64 = r.get(2)?;
            Ok((r.get(0)?, r.get(1)?, n.max(0) as u64))
        })?
        .collect::<rusqlite::Result<Vec<(i64, String, u64)>>>()?;
    Ok(timeseries_from_rows(f, width, off, group_by, rows))
}

fn top(conn: &Connection, f: &Filters, dim: TopDim, limit: usize) -> Result<Vec<TopRow>> {
    let by_topic = dim == TopDim::Topic;
    const RANK: &str = "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?";
    let (sql, mut params) = match dim.dim() {
        Some(d) if rollups_answer(f, by_topic) => {
            let (src, params) = rollup_source(f, Some(d), true);
            (
                format!(
                    "{src} SELECT k, sum(n), sum(CASE WHEN sentiment = 'negative' THEN n ELSE 0 END)
                     FROM src WHERE k <> '' {RANK}"
                ),
                params,
            )
        }
        Some(d) => {
            let w = items_where(f, true);
            let key = item_column(d);
            let join = if by_topic { BY_TOPIC } else { "" };
            (
                format!(
                    "SELECT {key}, count(*), sum(CASE WHEN i.sentiment = 'negative' THEN 1 ELSE 0 END)
                     FROM {} {join} WHERE {} AND {key} <> '' {RANK}",
                    items_from(f, false),
                    w.sql()
                ),
                w.params,
            )
        }
        None if keyword_rollup_answers(f) => {
            let span = hour_span(f);
            let mut mw = Where::default();
            minutes_where(&mut mw, "k.minute", f, span);
            let sentiments: Vec<Sql> = f
                .sentiment
                .iter()
                .map(|s| Sql::Text(s.as_str().to_owned()))
                .collect();
            mw.any_of("k.district", texts(&f.district));
            mw.any_of("k.sentiment", sentiments.clone());
            let mut sql = format!(
                "WITH src (keyword, sentiment, n) AS (
                     SELECT k.keyword, k.sentiment, k.n FROM rollup_keyword k WHERE {}",
                mw.sql()
            );
            let mut params = mw.params;
            if let Some(span) = span {
                let mut hw = Where::default();
                hours_where(&mut hw, "h.hour", span);
                hw.push(&format!("h.hour <= {FOLDED}"), []);
                hw.any_of("h.district", texts(&f.district));
                hw.any_of("h.sentiment", sentiments);
                sql.push_str(&format!(
                    " UNION ALL SELECT h.keyword, h.sentiment, h.n FROM rollup_keyword_hour h WHERE {}",
                    hw.sql()
                ));
                params.extend(hw.params);
            }
            (
                format!(
                    "{sql}) SELECT keyword, sum(n),
                         sum(CASE WHEN sentiment = 'negative' THEN n ELSE 0 END)
                     FROM src {RANK}"
                ),
                params,
            )
        }
        None => {
            let w = items_where(f, true);
            (
                format!(
                    "SELECT k.value, count(*), sum(CASE WHEN i.sentiment = 'negative' THEN 1 ELSE 0 END)
                     FROM {}, json_each(i.keywords) k WHERE {} {RANK}",
                    items_from(f, false),
                    w.sql()
                ),
                w.params,
            )
        }
    };
    params.push(Sql::Integer(limit as i64));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            Ok(TopRow {
                key: r.get(0)?,
                count: u(r.get(1)?),
                negative: u(r.get(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The statement of one page of the item list, newest first, after
/// `cursor`, and its parameters.
fn feedback_sql(f: &Filters, limit: usize, cursor: Option<Cursor>) -> (String, Vec<Sql>) {
    // After a cursor the range ends at the cursor's second, as ONE upper
    // bound on `i.ts`: SQLite bounds an index scan by one condition a side,
    // and given `i.ts < to` beside `i.ts <= cursor` it took the first and
    // walked every row between `to` and the cursor; given only the OR it
    // planned a MULTI-INDEX OR sorted in a temporary B-tree. Either way each
    // page read everything before it and an export was quadratic.
    let bounded;
    let f = match cursor {
        Some(c) => {
            bounded = Filters {
                to: Some(f.to.map_or(c.ts.saturating_add(1), |to| to.min(c.ts.saturating_add(1)))),
                ..f.clone()
            };
            &bounded
        }
        None => f,
    };
    let (items, mut w) = items_source(f, true);
    if let Some(c) = cursor {
        w.push(
            "(i.ts < ? OR i.seq < ?)",
            [Sql::Integer(c.ts), Sql::Integer(c.seq)],
        );
    }
    // A search's page is chosen from the index first (its order is in
    // it); only the page's rows are read whole.
    let (items, page) = match items {
        SEARCH_FACTS => (
            "items i",
            format!(
                "i.seq IN (SELECT i.seq FROM {SEARCH_FACTS} WHERE {} ORDER BY i.ts DESC, i.seq DESC LIMIT ?)
                 ORDER BY i.ts DESC, i.seq DESC",
                w.sql()
            ),
        ),
        items => (
            items,
            format!("{} ORDER BY i.ts DESC, i.seq DESC LIMIT ?", w.sql()),
        ),
    };
    let sql = format!(
        "SELECT i.seq, i.ts, i.id, i.channel, i.received_at, i.text, i.rating, i.district, i.unit,
                i.case_ref, i.topics, i.keywords, i.sentiment, i.score, i.detail, i.redacted,
                (SELECT json_group_array(json_array(o.order_id, o.resolved_at IS NOT NULL))
                 FROM work_orders o WHERE o.feedback_id = i.id), i.incident, i.repeat
         FROM {items} WHERE {page}"
    );
    let mut params = w.params;
    params.push(Sql::Integer(limit as i64 + 1));
    (sql, params)
}

fn feedback(
    conn: &Connection,
    f: &Filters,
    limit: usize,
    cursor: Option<Cursor>,
    s: QuerySettings,
) -> Result<Answer> {
    let (sql, params) = feedback_sql(f, limit, cursor);
    let tz = s.tz();
    let mut stmt = conn.prepare(&sql)?;
    let mut items = stmt
        .query_map(params_from_iter(params), |r| {
            let json_list = |i: usize| -> rusqlite::Result<Vec<String>> {
                let s: String = r.get(i)?;
                Ok(serde_json::from_str(&s).unwrap_or_default())
            };
            let non_empty = |s: String| (!s.is_empty()).then_some(s);
            let rating: i64 = r.get(6)?;
            let received_at: String = r.get(4)?;
            let ts: i64 = r.get(1)?;
            let detail: String = r.get(14)?;
            Ok(FeedbackRow {
                cursor: Some(Cursor { ts, seq: r.get(0)? }),
                id: r.get(2)?,
                channel: r.get(3)?,
                received_at: if received_at.is_empty() {
                    rfc3339(ts, tz)
                } else {
                    received_at
                },
                text: r.get(5)?,
                rating: (rating > 0).then_some(rating as u8),
                district: non_empty(r.get(7)?),
                unit: non_empty(r.get(8)?),
                case_ref: r.get(9)?,
                topics: json_list(10)?,
                keywords: json_list(11)?,
                sentiment: r.get(12)?,
                score: r.get(13)?,
                detail: serde_json::from_str(&detail).unwrap_or_default(),
                redacted: r.get(15)?,
                work_orders: work_orders(&r.get::<_, String>(16)?),
                incident_id: r.get(17)?,
                repeat: r.get(18)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().and_then(|i| i.cursor)
    } else {
        None
    };
    Ok(Answer::Feedback { items, next })
}

/// The work orders of an item from `[[order_id, resolved], …]`, by id.
fn work_orders(json: &str) -> Vec<crate::query::WorkOrderRef> {
    let pairs: Vec<(String, i64)> = serde_json::from_str(json).unwrap_or_default();
    let mut out: Vec<_> = pairs
        .into_iter()
        .map(|(order_id, resolved)| crate::query::WorkOrderRef {
            order_id,
            resolved: resolved != 0,
        })
        .collect();
    out.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The steps of SQLite's plan for a query.
    fn plan_of(conn: &Connection, (sql, params): (String, Vec<Sql>)) -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Every page of the item list reads its rows in index order from the
    /// cursor on: no temporary B-tree (a sort of everything before the
    /// page) and no OR of two index scans, whatever the range's shape.
    /// A plan that sorts makes each page cost all the pages before it.
    #[test]
    fn list_pages_read_in_index_order_from_the_cursor() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let cursor = Some(Cursor {
            ts: 1_750_000_000,
            seq: 4242,
        });
        let ranges = [
            (None, None),
            (Some(1_740_000_000), None),
            (None, Some(1_760_000_000)),
            (Some(1_740_000_000), Some(1_760_000_000)),
        ];
        for (from, to) in ranges {
            for filter in 0..3 {
                let mut f = Filters::default().with_range(from, to);
                match filter {
                    1 => f.district = vec!["丛台区".into()],
                    2 => f.sentiment = vec![crate::model::SentimentLabel::Negative],
                    _ => {}
                }
                for c in [None, cursor] {
                    let plan = plan_of(&conn, feedback_sql(&f, 1000, c)).join(" | ");
                    assert!(
                        !plan.contains("TEMP B-TREE") && !plan.contains("MULTI-INDEX OR"),
                        "{from:?}..{to:?} filter {filter} cursor {c:?}: {plan}"
                    );
                }
            }
        }
    }

    /// A search with no filter the index lacks reads `items_facts`, not
    /// the rows, and answers what the rows answer: the same summary (work
    /// orders too), daily series and pages as the same search beside
    /// `has_text=true` (every item has text), which reads the rows.
    #[test]
    fn a_search_reads_the_facts_index_and_answers_as_the_rows_do() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        // 600 items over 3 days, two to a second in runs; every third
        // names the police, sentiments and ratings in cycles; every fifth
        // has a work order, half of them resolved.
        conn.execute_batch(
            "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 599)
             INSERT INTO items (id, ts, received_at, channel, district, unit, sentiment, score,
                                rating, case_ref, topics, keywords, text, detail, ingested_at,
                                resolved)
             SELECT 'i' || k, 1750000000 + (k / 2) * 431, '', 'wechat', '', '',
                    CASE k % 3 WHEN 0 THEN 'negative' WHEN 1 THEN 'neutral' ELSE 'positive' END,
                    0, k % 4, NULL, '[]', '[]',
                    CASE WHEN k % 3 = 0 THEN '派出所民警态度差' ELSE '路灯坏了' END,
                    '{}', 0, CASE WHEN k % 4 = 3 AND k % 8 = 7 THEN 1 ELSE 0 END FROM n;
             UPDATE items SET repeat = 1 WHERE seq % 7 = 0;
             INSERT INTO items_search (rowid, u, b)
                 SELECT seq, minyi_search_unigrams(text), minyi_search_bigrams(text) FROM items;
             INSERT INTO work_orders (order_id, feedback_id, created_at, resolved_at, unit, state)
                 SELECT 'o' || seq, id, ts + 60, CASE WHEN seq % 2 = 0 THEN ts + 600 END, '',
                        'created'
                 FROM items WHERE seq % 5 = 0;",
        )
        .unwrap();
        let s = QuerySettings::default();
        let now = 1_750_000_000 + 300 * 431;
        let searched = Filters {
            q: crate::query::search::parse("民警").unwrap(),
            ..Filters::default()
        }
        .with_range(Some(1_750_000_000), Some(now));
        assert_eq!(items_from(&searched, true), FACTS);
        let rows = Filters {
            has_text: Some(true),
            ..searched.clone()
        };
        assert_eq!(items_from(&rows, true), "items i");
        let plan = plan_of(&conn, feedback_sql(&searched, 50, None));
        assert!(
            plan.iter()
                .any(|p| p.contains("COVERING INDEX items_facts")),
            "{plan:?}"
        );
        let ask = |query: Query| answer(&conn, &query, now, s).unwrap();
        let page = |f: &Filters, cursor: Option<Cursor>| match ask(Query::Feedback {
            filters: f.clone(),
            limit: 50,
            cursor,
        }) {
            Answer::Feedback { items, next } => (items, next),
            other => panic!("{other:?}"),
        };
        let Answer::Summary(summary) = ask(Query::Summary(searched.clone())) else {
            panic!("a summary")
        };
        assert_eq!((summary.received, summary.orders_created), (200, 40));
        assert_eq!(
            ask(Query::Summary(searched.clone())),
            ask(Query::Summary(rows.clone()))
        );
        let daily = |f: &Filters| Query::Timeseries {
            filters: f.clone(),
            interval: crate::query::Interval::D1,
            group_by: None,
        };
        assert_eq!(ask(daily(&searched)), ask(daily(&rows)));
        // The repeats among them (重复诉求), led by the marks' index.
        let marked = Filters {
            repeat: Some(true),
            ..searched.clone()
        };
        assert_eq!(items_from(&marked, true), REPEATS);
        let expected: i64 = conn
            .query_row(
                "SELECT count(*) FROM items WHERE repeat = 1 AND text LIKE '%民警%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(expected > 20, "{expected}");
        let Answer::Top(rows_by_channel) = ask(Query::Top {
            filters: marked.clone(),
            dim: crate::query::TopDim::Channel,
            limit: 10,
        }) else {
            panic!("a top")
        };
        let counted: u64 = rows_by_channel.iter().map(|r| r.count).sum();
        assert_eq!(counted, expected as u64);
        let (listed, _) = page(&marked, None);
        assert_eq!(listed.len(), expected as usize);
        assert!(listed.iter().all(|i| i.repeat), "{listed:?}");
        // Four pages of 50, through their cursors.
        let mut cursor = None;
        for n in 0..4 {
            let (items, next) = page(&searched, cursor);
            assert_eq!(items.len(), 50, "page {n} is full");
            assert_eq!((items, next), page(&rows, cursor), "page {n}");
            cursor = next;
        }
    }

    /// A deep page costs what the first does: the virtual machine's steps
    /// (rows visited, whatever the machine's speed) of page 61 of 100
    /// items are within twice those of page 1, for every range shape. (With
    /// a topic, every page reads the topic's rows in the range before the
    /// cursor: page 1 as much as any.)
    #[test]
    fn a_deep_page_visits_no_more_rows_than_the_first() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        // 10,000 items, five to a second (runs of one time cross pages),
        // all of one topic.
        conn.execute_batch(
            "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 9999)
             INSERT INTO items (id, ts, received_at, channel, district, unit, sentiment, score,
                                rating, case_ref, topics, keywords, text, detail, ingested_at,
                                resolved)
             SELECT 'i' || k, 1750000000 + k / 5, '', 'wechat', '', '', 'neutral', 0, 0, NULL,
                    '[\"traffic\"]', '[]', 'x', '{}', 0, 0 FROM n;
             INSERT INTO item_topics SELECT 'traffic', ts, seq FROM items;",
        )
        .unwrap();
        let steps = |f: &Filters, cursor: Option<Cursor>| -> (u64, Option<Cursor>) {
            let (sql, params) = feedback_sql(f, 100, cursor);
            let mut stmt = conn.prepare(&sql).unwrap();
            let rows: Vec<(i64, i64)> = stmt
                .query_map(params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let status = stmt.get_status(rusqlite::StatementStatus::VmStep) as u64;
            let last = rows.get(99).map(|&(seq, ts)| Cursor { ts, seq });
            (status, last)
        };
        for (from, to) in [
            (None, None),
            (Some(1_740_000_000), None),
            (None, Some(1_760_000_000)),
            (Some(1_740_000_000), Some(1_760_000_000)),
        ] {
            for topic in [false, true] {
                let mut f = Filters::default().with_range(from, to);
                if topic {
                    f.topic = vec!["traffic".into()];
                }
                let (first, mut cursor) = steps(&f, None);
                let mut deep = 0;
                for _ in 0..60 {
                    (deep, cursor) = steps(&f, cursor);
                }
                assert!(cursor.is_some(), "60 full pages");
                assert!(
                    deep < 2 * first,
                    "{from:?}..{to:?} topic {topic}: page 61 took {deep} steps, page 1 {first}"
                );
            }
        }
    }
}
