//! The rollups of the write path and the folding of finished hours. In:
//! the items a write group stores (as [`Row`]s), and the wall clock. Out:
//! their counts added to `rollup_minute` and `rollup_keyword`, and to the
//! hourly tables for hours already folded; once an hour is over, its
//! minute rows folded into `rollup_hour` and `rollup_keyword_hour`.
//! Guarantees: an item counts once in each rollup row it belongs to (a
//! fold never adds to an hour already folded, a live item of an unfolded
//! hour goes to the minutes only); [`FOLDED`] is the watermark the queries
//! read, in the same statement as the tables, so they never count an hour
//! twice or miss it.
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
    // The hours folded already get their hourly counts now; later hours
    // are folded from the minute rows when they are over.
    let folded: i64 = tx.query_row(&format!("SELECT {FOLDED}"), [], |r| r.get(0))?;
    let in_folded = |dim: &str, key: &str, from: &str| {
        format!(
            "SELECT i.ts - i.ts % 3600 AS h, '{dim}' AS dim, {key} AS key, i.sentiment, i.rating, i.resolved
             FROM {from} WHERE i.seq > ?1 AND i.ts < ?2 + 3600"
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
        params![after, folded],
    )?;
    tx.execute(
        "INSERT INTO rollup_keyword_hour (hour, keyword, district, sentiment, n)
         SELECT i.ts - i.ts % 3600, k.value, i.district, i.sentiment, count(*)
         FROM items i, json_each(i.keywords) k WHERE i.seq > ?1 AND i.ts < ?2 + 3600
         GROUP BY 1, 2, 3, 4
         ON CONFLICT DO UPDATE SET n = n + excluded.n",
        params![after, folded],
    )?;
    tx.execute("DELETE FROM rollup_folded WHERE rollup = ?1", [DEFERRED])?;
    tx.commit()?;
    Ok(items as u64)
}

/// Which hours `rollup_hour` and `rollup_keyword_hour` hold whole (see
/// migration 3): those up to `through`; the writer folds each finished
/// hour's minute rows into them once.
pub(super) struct HourFolding {
    pub(super) through: i64,
    /// The last hour a fold failed for: reported once and tried again
    /// when the next hour is over, not after every write group (a fold
    /// reads every minute row of its hours). The queries read the minutes
    /// of hours not folded, so a failure costs speed, never a wrong count.
    failed: Option<i64>,
}

impl HourFolding {
    pub(super) fn load(conn: &Connection) -> HourFolding {
        let through = conn
            .query_row(&format!("SELECT {FOLDED}"), [], |r| r.get(0))
            .unwrap_or_else(|e| {
                // Writing every hour to both tables and never folding is
                // always right.
                tracing::warn!("sqlite: reading the folded hours: {e}");
                i64::MAX
            });
        HourFolding {
            through,
            failed: None,
        }
    }

    /// Folds the hours finished since the last fold (by the wall clock).
    pub(super) fn catch_up(&mut self, conn: &mut Connection) {
        let upto = floor_hour(chrono::Utc::now().timestamp()) - 3600;
        if upto <= self.through || self.failed == Some(upto) {
            return;
        }
        match fold_hours(conn, self.through, upto) {
            Ok(()) => {
                self.through = upto;
                self.failed = None;
            }
            Err(e) => {
                tracing::warn!("sqlite: folding the hourly counts up to {upto}: {e}");
                self.failed = Some(upto);
            }
        }
    }
}

/// Adds the minute counts of the hours after `through` up to `upto`
/// (hour starts) to the hourly tables, which hold none of them (a row
/// already there is an error: nothing is counted twice), and moves
/// `through` to `upto`, in one transaction. The (dim, key) rows are those
/// of [`hour_keys`]: the `*` minute rows give the total and the channel,
/// district and unit rows, the per-topic ones the topic rows.
fn fold_hours(conn: &mut Connection, through: i64, upto: i64) -> Result<()> {
    const HOUR: &str = "minute - (minute % 3600 + 3600) % 3600";
    let range = params![through.saturating_add(3600), upto + 3600];
    let tx = conn.transaction()?;
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
             {} UNION ALL {} UNION ALL {} UNION ALL {} UNION ALL {}",
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
             GROUP BY 1, 2, 3, 4"
        ),
        range,
    )?;
    tx.execute(
        "UPDATE rollup_folded SET through = ?1 WHERE rollup = 'hourly'",
        [upto],
    )?;
    tx.commit()?;
    Ok(())
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
    /// `folded`: the last hour whole in the hourly tables; an item of a
    /// later hour is counted there when its hour is folded.
    pub(super) fn add(&mut self, row: &'a Row, resolved: bool, folded: i64) {
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
        if hour <= folded {
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
            if hour <= folded {
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
