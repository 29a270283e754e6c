//! The rollups of the write path and the folding of finished hours. In:
//! the items a write group stores (as [`Row`]s), and the wall clock. Out:
//! their counts added to `rollup_minute` and `rollup_keyword`, and to the
//! hourly tables for minutes already folded; once an hour is over, its
//! minute rows are folded into `rollup_hour` and `rollup_keyword_hour` a
//! step (a minute, by default) at a time, in short transactions between
//! write groups, so a busy hour's fold never stalls ingest.
//! Guarantees: an item counts once in each rollup row it belongs to (the
//! fold's cursor [`FOLD_CURSOR`] splits the minutes: those before it are
//! in the hourly tables, a late item of such a minute is written to both,
//! one of a later minute to the minutes only, and the fold moves the
//! cursor in the transaction that adds its minutes); [`FOLDED`], the last
//! hour whole, is the watermark the queries read, in the same statement as
//! the tables, so they never count an hour twice or miss it, nor see an
//! hour the fold is halfway through.
//!
//! History written in bulk (`minyi import`, [`crate::store::Store::write_history`])
//! is counted differently: item by item, a year of history touches a new
//! rollup row for nearly every count (~17 upserts an item), so its items
//! are stored without counts and [`settle`] counts them all in one pass of
//! grouped inserts. The marker [`DEFERRED`] in `rollup_folded` says which
//! items wait (those after a sequence number), in the same transaction as
//! they are written; a store opened with a marker left (an import that
//! stopped halfway) settles before anything else.

use rusqlite::{Connection, params};
use rustc_hash::FxHashMap as HashMap;

use super::write::Row;
use crate::store::Result;
use crate::store::sql::floor_hour;

/// The last hour the hourly tables hold whole, as the queries read it (in
/// the statement that reads the tables, so from the same snapshot).
pub(super) const FOLDED: &str = "(SELECT through FROM rollup_folded WHERE rollup = 'hourly')";

/// The row of `rollup_folded` whose `through` is the last item sequence
/// counted in the rollups while a bulk write is under way: items after it
/// are counted by [`settle`]. No row: every item is counted.
const DEFERRED: &str = "deferred";

/// The sequence after which stored items wait for [`settle`], if any do.
pub(super) fn deferred_after(conn: &Connection) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached("SELECT through FROM rollup_folded WHERE rollup = ?1")?
        .query_row([DEFERRED], |r| r.get(0))
        .optional()?)
}

/// Opens a deferral (in the write transaction that stores the first
/// deferred items), or returns the one open.
pub(super) fn defer(tx: &Connection) -> Result<i64> {
    if let Some(after) = deferred_after(tx)? {
        return Ok(after);
    }
    let after: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM items", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO rollup_folded (rollup, through) VALUES (?1, ?2)",
        params![DEFERRED, after],
    )?;
    Ok(after)
}

/// Counts every deferred item in the rollups — the minute tables, and the
/// hourly ones for the hours folded already — with its final state (a
/// dissatisfied item resolved since counts as resolved), and closes the
/// deferral, in one transaction. Returns how many items it counted.
pub(super) fn settle(conn: &mut Connection) -> Result<u64> {
    // The grouped inserts sort millions of rows: let the sorter use
    // helper threads (the writer thread waits meanwhile anyway).
    conn.pragma_update(None, "threads", 2)?;
    let tx = conn.transaction()?;
    let Some(after) = deferred_after(&tx)? else {
        return Ok(0);
    };
    let items: i64 = tx.query_row("SELECT count(*) FROM items WHERE seq > ?1", [after], |r| {
        r.get(0)
    })?;
    // Every item once with topic '*', once per topic; keywords likewise.
    // (`WHERE true`: SQLite's upsert needs it after a SELECT with joins.)
    let each = |bucket: u32, extra: &str, key: &str, from: &str| {
        format!(
            "SELECT i.ts - i.ts % {bucket} AS t, {key} AS key{extra}, i.sentiment, i.rating, i.resolved
             FROM {from} WHERE i.seq > ?1"
        )
    };
    let items_of = "items i";
    let topics_of = "items i, json_each(i.topics) tp";
    tx.execute(
        &format!(
            "INSERT INTO rollup_minute (minute, topic, channel, district, unit, sentiment, rating, n, resolved)
             SELECT t, key, channel, district, unit, sentiment, rating, count(*), sum(resolved)
             FROM ({} UNION ALL {}) WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7
             ON CONFLICT DO UPDATE SET n = n + excluded.n, resolved = resolved + excluded.resolved",
            each(60, ", i.channel, i.district, i.unit", "'*'", items_of),
            each(60, ", i.channel, i.district, i.unit", "tp.value", topics_of),
        ),
        [after],
    )?;
    tx.execute(
        "INSERT INTO rollup_keyword (minute, keyword, district, sentiment, n)
         SELECT i.ts - i.ts % 60, k.value, i.district, i.sentiment, count(*)
         FROM items i, json_each(i.keywords) k WHERE i.seq > ?1
         GROUP BY 1, 2, 3, 4
         ON CONFLICT DO UPDATE SET n = n + excluded.n",
        [after],
    )?;
    // The minutes folded already get their hourly counts now; later ones
    // are folded from the minute rows when their hour is over.
    let cursor = fold_cursor(&tx)?;
    let in_folded = |dim: &str, key: &str, from: &str| {
        format!(
            "SELECT i.ts - i.ts % 3600 AS h, '{dim}' AS dim, {key} AS key, i.sentiment, i.rating, i.resolved
             FROM {from} WHERE i.seq > ?1 AND i.ts < ?2"
        )
    };
    tx.execute(
        &format!(
            "INSERT INTO rollup_hour (hour, dim, key, sentiment, rating, n, resolved)
             SELECT h, dim, key, sentiment, rating, count(*), sum(resolved)
             FROM ({} UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {})
             WHERE true GROUP BY 1, 2, 3, 4, 5
             ON CONFLICT DO UPDATE SET n = n + excluded.n, resolved = resolved + excluded.resolved",
            in_folded("total", "''", items_of),
            in_folded("channel", "i.channel", items_of),
            in_folded("district", "i.district", items_of),
            in_folded("unit", "i.unit", items_of),
            in_folded("topic", "tp.value", topics_of),
        ),
        params![after, cursor],
    )?;
    tx.execute(
        "INSERT INTO rollup_keyword_hour (hour, keyword, district, sentiment, n)
         SELECT i.ts - i.ts % 3600, k.value, i.district, i.sentiment, count(*)
         FROM items i, json_each(i.keywords) k WHERE i.seq > ?1 AND i.ts < ?2
         GROUP BY 1, 2, 3, 4
         ON CONFLICT DO UPDATE SET n = n + excluded.n",
        params![after, cursor],
    )?;
    tx.execute("DELETE FROM rollup_folded WHERE rollup = ?1", [DEFERRED])?;
    tx.commit()?;
    Ok(items as u64)
}

/// The row of `rollup_folded` whose `through` is the fold's cursor: the
/// first minute whose rows are not in the hourly tables yet. The hour it
/// falls in is being folded: the hourly tables hold part of it (invisible
/// to the queries, which read them only up to [`FOLDED`]). No row: the
/// cursor is the hour after [`FOLDED`].
const CURSOR: &str = "folding";

/// The fold's cursor, as SQL: minute rows before it are counted in the
/// hourly tables, so a change to such a minute's counts (a late item, a
/// resolution, an erasure) changes its hour's counts too.
pub(super) const FOLD_CURSOR: &str = "coalesce((SELECT through FROM rollup_folded WHERE rollup = 'folding'), \
     (SELECT through FROM rollup_folded WHERE rollup = 'hourly') + 3600)";

/// The fold's cursor (see [`FOLD_CURSOR`]).
pub(super) fn fold_cursor(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(&format!("SELECT {FOLD_CURSOR}"), [], |r| r.get(0))?)
}

/// How the writer folds finished hours into the hourly tables: a few
/// minutes of minute rows at a time, in short transactions between write
/// groups, so that a busy hour's fold never holds ingest up for long (one
/// transaction per hour stalled ingest ~10 s at 1M items an hour).
pub(super) struct HourFolding {
    /// The first minute not folded yet ([`FOLD_CURSOR`]).
    pub(super) cursor: i64,
    /// Seconds of minute rows one fold transaction takes (a multiple of
    /// 60 dividing 3600).
    step: i64,
    /// The wall clock, in unix seconds (a test or bench sets its own).
    clock: super::Clock,
    /// The clock's hour when a fold failed: reported once and tried again
    /// when the next hour is over, not after every write group. The
    /// queries read the minutes of hours not folded, so a failure costs
    /// speed, never a wrong count.
    failed: Option<i64>,
}

impl HourFolding {
    pub(super) fn load(conn: &Connection, step: i64, clock: super::Clock) -> HourFolding {
        // A step of whole minutes that divides an hour (so that no step
        // crosses an hour's end).
        let step = (1..=60)
            .map(|m| m * 60)
            .find(|s| 3600 % s == 0 && *s >= step.clamp(60, 3600))
            .unwrap_or(3600);
        let cursor = fold_cursor(conn).unwrap_or_else(|e| {
            // Writing every hour to both tables and never folding is
            // always right.
            tracing::warn!("sqlite: reading the folded hours: {e}");
            i64::MAX
        });
        HourFolding {
            cursor,
            step,
            clock,
            failed: None,
        }
    }

    /// Folds the minutes of finished hours (by the clock) not folded yet:
    /// all of them (`budget` None), or steps until `budget` is spent (one
    /// step at least).
    pub(super) fn catch_up(&mut self, conn: &mut Connection, budget: Option<std::time::Duration>) {
        let started = std::time::Instant::now();
        let now_hour = floor_hour((self.clock)());
        if self.failed == Some(now_hour) {
            return;
        }
        while self.cursor < now_hour {
            if let Err(e) = self.fold_step(conn, now_hour) {
                tracing::warn!(
                    "sqlite: folding the minutes from {} into the hourly counts: {e}",
                    self.cursor
                );
                self.failed = Some(now_hour);
                return;
            }
            if budget.is_some_and(|b| started.elapsed() >= b) {
                return;
            }
        }
    }

    /// Folds the next `step` seconds of minute rows (skipping hours with
    /// none) into the hourly tables and moves the cursor, and [`FOLDED`]
    /// when an hour is done, in one transaction.
    fn fold_step(&mut self, conn: &mut Connection, now_hour: i64) -> Result<()> {
        const HOUR: &str = "minute - (minute % 3600 + 3600) % 3600";
        let tx = conn.transaction()?;
        // Hours without minute rows need no work: jump to the next row.
        let next: Option<i64> = tx.query_row(
            "SELECT min(m) FROM (SELECT min(minute) AS m FROM rollup_minute WHERE minute >= ?1
                                 UNION ALL SELECT min(minute) FROM rollup_keyword WHERE minute >= ?1)",
            [self.cursor],
            |r| r.get(0),
        )?;
        let mut from = self.cursor;
        if let Some(next) = next.filter(|&m| floor_hour(m) > floor_hour(from)) {
            from = floor_hour(next).min(now_hour);
        } else if next.is_none() {
            from = now_hour;
        }
        let hour_end = floor_hour(from) + 3600;
        let to = (from + self.step).min(hour_end);
        if from < now_hour {
            let range = params![from, to];
            let by = |dim: &str, key: &str, topics: &str| {
                format!(
                    "SELECT {HOUR}, '{dim}', {key}, sentiment, rating, sum(n), sum(resolved)
                     FROM rollup_minute WHERE minute >= ?1 AND minute < ?2 AND {topics}
                     GROUP BY 1, 3, 4, 5"
                )
            };
            tx.execute(
                &format!(
                    "INSERT INTO rollup_hour (hour, dim, key, sentiment, rating, n, resolved)
                     SELECT * FROM ({} UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {}) WHERE true
                     ON CONFLICT DO UPDATE SET n = n + excluded.n, resolved = resolved + excluded.resolved",
                    by("total", "''", "topic = '*'"),
                    by("channel", "channel", "topic = '*'"),
                    by("district", "district", "topic = '*'"),
                    by("unit", "unit", "topic = '*'"),
                    by("topic", "topic", "topic <> '*'"),
                ),
                range,
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO rollup_keyword_hour (hour, keyword, district, sentiment, n)
                     SELECT {HOUR}, keyword, district, sentiment, sum(n)
                     FROM rollup_keyword WHERE minute >= ?1 AND minute < ?2
                     GROUP BY 1, 2, 3, 4
                     ON CONFLICT DO UPDATE SET n = n + excluded.n"
                ),
                range,
            )?;
        }
        let (cursor, through) = if from >= now_hour {
            // Nothing to fold before the current hour: every finished
            // hour is whole.
            (now_hour, now_hour - 3600)
        } else if to == hour_end {
            (to, hour_end - 3600)
        } else {
            (to, floor_hour(from) - 3600)
        };
        tx.execute(
            "INSERT INTO rollup_folded (rollup, through) VALUES (?1, ?2)
             ON CONFLICT DO UPDATE SET through = excluded.through",
            params![CURSOR, cursor],
        )?;
        tx.execute(
            "UPDATE rollup_folded SET through = ?1 WHERE rollup = 'hourly'",
            [through],
        )?;
        tx.commit()?;
        self.cursor = cursor;
        Ok(())
    }
}

/// (minute, topic, channel, district, unit, sentiment, rating) of `rollup_minute`.
type MinuteKey<'a> = (i64, &'a str, &'a str, &'a str, &'a str, &'a str, i64);
/// (hour, dim, key, sentiment, rating) of `rollup_hour`.
type HourKey<'a> = (i64, &'static str, &'a str, &'a str, i64);

/// Item counts and, of those, dissatisfied items since resolved.
#[derive(Default, Clone, Copy)]
struct Counts {
    n: i64,
    resolved: i64,
}

impl Counts {
    fn add(&mut self, resolved: bool) {
        self.n += 1;
        self.resolved += i64::from(resolved);
    }
}

/// Rollup counts gathered over one transaction, written once each: live
/// items mostly share their minute and hour, so a group of batches touches
/// few rollup rows.
#[derive(Default)]
pub(super) struct Rollups<'a> {
    minute: HashMap<MinuteKey<'a>, Counts>,
    hour: HashMap<HourKey<'a>, Counts>,
    keyword: HashMap<(i64, &'a str, &'a str, &'a str), i64>,
    keyword_hour: HashMap<(i64, &'a str, &'a str, &'a str), i64>,
}

/// The (dim, key) rows of `rollup_hour` an item counts in: every item once
/// under `total`, once per dimension, once per topic.
pub(super) fn hour_keys<'a>(
    channel: &'a str,
    district: &'a str,
    unit: &'a str,
    topics: &'a [String],
) -> impl Iterator<Item = (&'static str, &'a str)> {
    [
        ("total", ""),
        ("channel", channel),
        ("district", district),
        ("unit", unit),
    ]
    .into_iter()
    .chain(topics.iter().map(|t| ("topic", t.as_str())))
}

impl<'a> Rollups<'a> {
    /// `cursor`: the fold's cursor ([`FOLD_CURSOR`]); an item of a later
    /// minute is counted in the hourly tables when its minute is folded.
    pub(super) fn add(&mut self, row: &'a Row, resolved: bool, cursor: i64) {
        let minute = row.ts.div_euclid(60) * 60;
        let hour = row.ts.div_euclid(3600) * 3600;
        for topic in std::iter::once("*").chain(row.topics.iter().map(String::as_str)) {
            self.minute
                .entry((
                    minute,
                    topic,
                    &row.channel,
                    &row.district,
                    &row.unit,
                    row.sentiment,
                    row.rating,
                ))
                .or_default()
                .add(resolved);
        }
        if minute < cursor {
            for (dim, key) in hour_keys(&row.channel, &row.district, &row.unit, &row.topics) {
                self.hour
                    .entry((hour, dim, key, row.sentiment, row.rating))
                    .or_default()
                    .add(resolved);
            }
        }
        for k in &row.keywords {
            *self
                .keyword
                .entry((minute, k, &row.district, row.sentiment))
                .or_default() += 1;
            if minute < cursor {
                *self
                    .keyword_hour
                    .entry((hour, k, &row.district, row.sentiment))
                    .or_default() += 1;
            }
        }
    }

    pub(super) fn write(&self, tx: &Connection) -> Result<()> {
        let mut rollup = tx.prepare_cached(
            "INSERT INTO rollup_minute
                 (minute, topic, channel, district, unit, sentiment, rating, n, resolved)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT DO UPDATE SET n = n + excluded.n, resolved = resolved + excluded.resolved",
        )?;
        for ((minute, topic, channel, district, unit, sentiment, rating), c) in &self.minute {
            rollup.execute(params![
                minute, topic, channel, district, unit, sentiment, rating, c.n, c.resolved
            ])?;
        }
        let mut hour = tx.prepare_cached(
            "INSERT INTO rollup_hour (hour, dim, key, sentiment, rating, n, resolved)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT DO UPDATE SET n = n + excluded.n, resolved = resolved + excluded.resolved",
        )?;
        for ((h, dim, key, sentiment, rating), c) in &self.hour {
            hour.execute(params![h, dim, key, sentiment, rating, c.n, c.resolved])?;
        }
        for (table, counts) in [
            ("rollup_keyword", &self.keyword),
            ("rollup_keyword_hour", &self.keyword_hour),
        ] {
            let mut keyword = tx.prepare_cached(&format!(
                "INSERT INTO {table} VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO UPDATE SET n = n + excluded.n"
            ))?;
            for ((t, k, district, sentiment), n) in counts {
                keyword.execute(params![t, k, district, sentiment, n])?;
            }
        }
        Ok(())
    }
}
