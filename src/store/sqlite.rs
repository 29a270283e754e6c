//! The embedded store: one SQLite file (`<data>/minyi.db`) in WAL mode.
//!
//! Writes go through one writer thread that owns the only writing
//! connection: batches queue on a bounded channel (a full queue makes
//! ingest wait — backpressure), and the writer commits every batch waiting
//! at that moment in one transaction (group commit, `synchronous = FULL`,
//! so a batch acknowledged is on disk). Should the group fail, each batch
//! is retried in its own transaction, so one bad batch never takes the
//! others down.
//!
//! An item is written with its per-minute rollups in the same transaction:
//! `rollup_minute` counts items by channel × topic × district × unit ×
//! sentiment × rating (topic `*` counts every item once, other rows count
//! it once per topic) and `rollup_keyword` counts keywords by district ×
//! sentiment (the hot words of a wall, of a district, of complaints).
//! Hourly tables answer wide ranges: `rollup_hour` and
//! `rollup_keyword_hour` are folded from the minute rows once an hour is
//! over (`rollup_folded` says how far; an item arriving late for a folded
//! hour is written to both), so a live item costs one upsert per rollup
//! row, not two. Dashboards read the rollups; a
//! query the rollups cannot answer exactly (keyword search, several topics
//! at once, keywords by topic or rating) reads the items.
//!
//! Reads run on a small pool of read-only connections, which WAL lets run
//! beside the writer without blocking it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rusqlite::types::Value as Sql;
use rusqlite::{CachedStatement, Connection, OpenFlags, params, params_from_iter};
use rustc_hash::FxHashMap as HashMap;
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use super::QuerySettings;
use super::sql::{
    Where, edges_where, floor_hour, hour_span, hours_where, keyword_rollup_answers, rollup_plan,
    rollups_answer, timeseries_from_rows,
};
use super::{Result, Store, StoreError, WriteBatch, WriteOutcome};
use crate::model::{EnrichedItem, Rating};
use crate::query::{
    Answer, Cursor, Dim, FeedbackRow, Filters, Interval, Orders, Query, Summary, Timeseries,
    TopDim, TopRow, rfc3339,
};
use crate::workorder::{OrderEvent, StoredEvent, WorkOrderEvent, fold};

/// Batches waiting for the writer; a full queue makes ingest wait.
const WRITE_QUEUE: usize = 64;
/// Most read connections open at once.
const READERS: usize = 4;

/// Schema versions, applied in order, each once, each in its transaction.
/// Never edit a released step: add the next one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "items, rollups, full-text index, work orders",
        r#"
CREATE TABLE items (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    ts          INTEGER NOT NULL,      -- received_at, unix seconds
    received_at TEXT NOT NULL,         -- RFC 3339, producer's zone kept
    channel     TEXT NOT NULL,
    district    TEXT NOT NULL,         -- '' when unknown
    unit        TEXT NOT NULL,         -- '' when unknown
    sentiment   TEXT NOT NULL,
    score       REAL NOT NULL,
    rating      INTEGER NOT NULL,      -- 0 when unrated
    case_ref    TEXT,
    topics      TEXT NOT NULL,         -- JSON array of codes
    keywords    TEXT NOT NULL,         -- JSON array
    text        TEXT NOT NULL,         -- PII-masked
    detail      TEXT NOT NULL,         -- JSON: evidence, pii kinds, contact hash, model
    ingested_at INTEGER NOT NULL,
    resolved    INTEGER NOT NULL       -- 1: rated 3, later revisited as satisfied
);
CREATE INDEX items_ts ON items (ts);
CREATE INDEX items_case ON items (case_ref, ts) WHERE case_ref IS NOT NULL;
CREATE INDEX items_dissatisfied ON items (ts) WHERE rating = 3;

CREATE TABLE item_topics (
    topic TEXT NOT NULL,
    ts    INTEGER NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (topic, ts, seq)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE items_fts USING fts5 (tokens, content = '');

CREATE TABLE rollup_minute (
    minute    INTEGER NOT NULL,
    channel   TEXT NOT NULL,
    topic     TEXT NOT NULL,           -- '*' counts every item once
    district  TEXT NOT NULL,
    unit      TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    rating    INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    resolved  INTEGER NOT NULL,        -- of n, dissatisfied items since resolved
    PRIMARY KEY (minute, topic, channel, district, unit, sentiment, rating)
) WITHOUT ROWID;

-- Hourly counts one dimension at a time: wide ranges (a week, a month)
-- read a few thousand rows instead of one per item.
CREATE TABLE rollup_hour (
    hour      INTEGER NOT NULL,
    dim       TEXT NOT NULL,           -- total, channel, topic, district, unit
    key       TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    rating    INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    resolved  INTEGER NOT NULL,
    PRIMARY KEY (dim, hour, key, sentiment, rating)
) WITHOUT ROWID;

CREATE TABLE rollup_keyword (
    minute    INTEGER NOT NULL,
    keyword   TEXT NOT NULL,
    district  TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (minute, keyword, district, sentiment)
) WITHOUT ROWID;

CREATE TABLE rollup_keyword_hour (
    hour      INTEGER NOT NULL,
    keyword   TEXT NOT NULL,
    district  TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (hour, keyword, district, sentiment)
) WITHOUT ROWID;

CREATE TABLE wo_events (
    order_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    feedback_id TEXT,
    unit        TEXT,
    rating      INTEGER,
    PRIMARY KEY (order_id, event, at)
) WITHOUT ROWID;

CREATE TABLE work_orders (
    order_id       TEXT PRIMARY KEY,
    feedback_id    TEXT,
    unit           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER,
    state          TEXT NOT NULL,
    revisit_rating INTEGER
) WITHOUT ROWID;
CREATE INDEX work_orders_created ON work_orders (created_at);

-- Alerts and silences, as JSON documents.
CREATE TABLE state (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX work_orders_feedback ON work_orders (feedback_id);
"#,
    ),
    (
        2,
        "full-text index without positions, split on ASCII separators only",
        // Searches are all-terms, never phrases or NEAR, so positions
        // (detail=full) and token counts (columnsize) were written for
        // nothing; the `ascii` tokenizer leaves the pre-cut tokens whole
        // (a query splits its terms the same way: `match_expr`). The index
        // is contentless, so it is rebuilt from its own terms, read back
        // through fts5vocab.
        r#"
CREATE VIRTUAL TABLE temp.items_fts_terms USING fts5vocab(main, items_fts, instance);
CREATE VIRTUAL TABLE items_fts_v2 USING fts5 (
    tokens, content = '', columnsize = 0, detail = none, tokenize = 'ascii'
);
INSERT INTO items_fts_v2 (rowid, tokens)
    SELECT doc, group_concat(term, ' ') FROM temp.items_fts_terms GROUP BY doc;
DROP TABLE temp.items_fts_terms;
DROP TABLE items_fts;
ALTER TABLE items_fts_v2 RENAME TO items_fts;
"#,
    ),
    (
        3,
        "hourly counts folded from the minutes once an hour is over",
        // Writing the hourly tables with every item doubled the rollup
        // upserts, the writer's largest share (the keyword ones alone were
        // 19 % of its instructions, batches of 1,000). The writer now folds
        // the minute rows of each finished hour into `rollup_hour` and
        // `rollup_keyword_hour` once (`fold_hours`); `through` is the last
        // hour folded. The hours up to it are whole in the hourly tables
        // (an item arriving late for one is written to both), later ones
        // are read from the minutes. Until now every hour was written to
        // both, so every stored hour counts as folded, and at least the
        // last finished one.
        r#"
CREATE TABLE rollup_folded (
    rollup  TEXT PRIMARY KEY,          -- 'hourly': both hourly tables
    through INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO rollup_folded VALUES ('hourly', max(
    coalesce((SELECT max(hour) FROM rollup_keyword_hour), 0),
    coalesce((SELECT max(hour) FROM rollup_hour), 0),
    unixepoch() / 3600 * 3600 - 3600));
"#,
    ),
    (
        4,
        "work orders by creation time with their state: a covering index",
        // The wall's backlog (orders open and overdue among those created
        // in 30 days) found the orders by this index, then read each row
        // by its key: 170 ms p95 at 1M items (215k orders). With the state
        // in the index the rows are never read: ~10 ms.
        r#"
DROP INDEX work_orders_created;
CREATE INDEX work_orders_created ON work_orders (created_at, resolved_at, unit);
"#,
    ),
];

pub struct SqliteStore {
    /// Alert state is small and rare: its own connection, not the writer's queue.
    state: Arc<Mutex<Connection>>,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Readers>,
}

struct WriteJob {
    batch: Prepared,
    /// The answer, and the batch back: freeing it is the caller's work,
    /// not the writer's.
    ack: oneshot::Sender<(Result<WriteOutcome>, Prepared)>,
}

/// A batch as column values, prepared off the writer thread (serializing
/// and formatting is CPU work the single writer should not do).
struct Prepared {
    rows: Vec<Row>,
    events: Vec<WorkOrderEvent>,
}

struct Row {
    id: String,
    ts: i64,
    received_at: String,
    channel: String,
    district: String,
    unit: String,
    sentiment: &'static str,
    score: f64,
    rating: i64,
    case_ref: Option<String>,
    topics_json: String,
    keywords_json: String,
    text: String,
    detail: String,
    ingested_at: i64,
    tokens: String,
    topics: Vec<String>,
    keywords: Vec<String>,
}

impl Row {
    fn new(item: EnrichedItem) -> Row {
        let detail = super::detail_json(&item);
        Row {
            ts: item.received_at.timestamp(),
            received_at: item.received_at.to_rfc3339(),
            district: item.district.unwrap_or_default(),
            unit: item.unit.unwrap_or_default(),
            sentiment: item.sentiment.label.as_str(),
            score: f64::from(item.sentiment.score),
            rating: rating_number(item.rating),
            topics_json: serde_json::to_string(&item.topics).expect("strings serialize"),
            keywords_json: serde_json::to_string(&item.keywords).expect("strings serialize"),
            ingested_at: item.ingested_at.timestamp(),
            tokens: item.tokens.join(" "),
            detail,
            id: item.id,
            channel: item.channel,
            case_ref: item.case_ref,
            text: item.text,
            topics: item.topics,
            keywords: item.keywords,
        }
    }
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    settings: QuerySettings,
}

impl SqliteStore {
    /// Opens (creating when needed) `<dir>/minyi.db`, applies pending
    /// migrations and starts the writer.
    pub fn open(dir: &Path, settings: QuerySettings) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("minyi.db");
        let mut conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = OFF;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 0;",
        )?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        // Checkpoints (copying the WAL back into the database) run on their
        // own thread and connection, so the writer never pays for them.
        let checkpointer = Connection::open(&path)?;
        checkpointer.execute_batch("PRAGMA busy_timeout = 5000;")?;
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel::<()>();
        let checkpoint_thread = std::thread::Builder::new()
            .name("minyi-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stopped))
            .expect("spawning a thread");
        let thread = std::thread::Builder::new()
            .name("minyi-sqlite-writer".into())
            .spawn(move || {
                writer_loop(conn, rx);
                drop(stop_checkpoints);
                let _ = checkpoint_thread.join();
            })
            .expect("spawning a thread");
        let state = Connection::open(&path)?;
        state.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;")?;
        Ok(SqliteStore {
            state: Arc::new(Mutex::new(state)),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
                settings,
            }),
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    apply(conn, MIGRATIONS)
}

/// Applies the `steps` newer than the database's schema version.
fn apply(conn: &mut Connection, steps: &[(i64, &str, &str)]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let newest = steps.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Corrupt(format!(
            "schema version {current} is newer than this binary's {newest}"
        )));
    }
    for (version, name, sql) in steps.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations VALUES (?1, ?2, datetime('now'))",
            params![version, name],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// How often the checkpointer copies committed pages into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        let last = matches!(
            stop.recv_timeout(CHECKPOINT_EVERY),
            Err(RecvTimeoutError::Disconnected)
        );
        // PASSIVE never blocks the writer or readers; on the way out,
        // TRUNCATE leaves an empty WAL behind.
        let mode = if last { "TRUNCATE" } else { "PASSIVE" };
        if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
            eprintln!("minyi: sqlite checkpoint: {e}");
        }
        if last {
            return;
        }
    }
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<WriteJob>) {
    let mut folding = HourFolding::load(&conn);
    folding.catch_up(&mut conn);
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            jobs.push(job);
        }
        let batches: Vec<&Prepared> = jobs.iter().map(|j| &j.batch).collect();
        let folded = folding.through;
        let results = match write_group(&mut conn, &batches, folded) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // One bad batch must not fail the others: write each alone.
            Err(_) if jobs.len() > 1 => batches
                .iter()
                .map(|b| write_group(&mut conn, &[b], folded).map(|mut o| o.remove(0)))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        folding.catch_up(&mut conn);
        for (job, result) in jobs.into_iter().zip(results) {
            // The caller may have gone (client hung up); the data is stored.
            let _ = job.ack.send((result, job.batch));
        }
    }
}

/// The last hour the hourly tables hold whole, as the queries read it (in
/// the statement that reads the tables, so from the same snapshot).
const FOLDED: &str = "(SELECT through FROM rollup_folded WHERE rollup = 'hourly')";

/// Which hours `rollup_hour` and `rollup_keyword_hour` hold whole (see
/// migration 3): those up to `through`; the writer folds each finished
/// hour's minute rows into them once.
struct HourFolding {
    through: i64,
    /// The last hour a fold failed for: reported once and tried again
    /// when the next hour is over, not after every write group (a fold
    /// reads every minute row of its hours). The queries read the minutes
    /// of hours not folded, so a failure costs speed, never a wrong count.
    failed: Option<i64>,
}

impl HourFolding {
    fn load(conn: &Connection) -> HourFolding {
        let through = conn
            .query_row(&format!("SELECT {FOLDED}"), [], |r| r.get(0))
            .unwrap_or_else(|e| {
                // Writing every hour to both tables and never folding is
                // always right.
                eprintln!("minyi: sqlite: reading the folded hours: {e}");
                i64::MAX
            });
        HourFolding {
            through,
            failed: None,
        }
    }

    /// Folds the hours finished since the last fold (by the wall clock).
    fn catch_up(&mut self, conn: &mut Connection) {
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
                eprintln!("minyi: sqlite: folding the hourly counts up to {upto}: {e}");
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
struct Rollups<'a> {
    minute: HashMap<MinuteKey<'a>, Counts>,
    hour: HashMap<HourKey<'a>, Counts>,
    keyword: HashMap<(i64, &'a str, &'a str, &'a str), i64>,
    keyword_hour: HashMap<(i64, &'a str, &'a str, &'a str), i64>,
}

/// The (dim, key) rows of `rollup_hour` an item counts in: every item once
/// under `total`, once per dimension, once per topic.
fn hour_keys<'a>(
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
    fn add(&mut self, row: &'a Row, resolved: bool, folded: i64) {
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

    fn write(&self, tx: &Connection) -> Result<()> {
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

/// Writes batches in one transaction; all or nothing.
/// `folded`: see [`Rollups::add`].
fn write_group(
    conn: &mut Connection,
    batches: &[&Prepared],
    folded: i64,
) -> Result<Vec<WriteOutcome>> {
    let tx = conn.transaction()?;
    let mut rollups = Rollups::default();
    let mut outcomes = Vec::with_capacity(batches.len());
    // Dissatisfied items stored before that this group resolves: their
    // rollup rows are updated after this group's rollups are written.
    let mut resolutions: Vec<i64> = Vec::new();
    {
        let mut statements = ItemStatements::prepare(&tx)?;
        for batch in batches {
            let mut out = WriteOutcome {
                new_items: Vec::with_capacity(batch.rows.len()),
                new_events: 0,
            };
            for row in &batch.rows {
                let new = write_item(&tx, &mut statements, row, &mut resolutions)?;
                if let Some(resolved) = new {
                    rollups.add(row, resolved, folded);
                }
                out.new_items.push(new.is_some());
            }
            for event in &batch.events {
                if write_event(&tx, event, &mut resolutions)? {
                    out.new_events += 1;
                }
            }
            outcomes.push(out);
        }
    }
    rollups.write(&tx)?;
    for seq in resolutions {
        count_resolution(&tx, seq)?;
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Marks the unresolved dissatisfied items chosen by `condition` (on `i`)
/// as resolved and queues them for their rollup counts.
fn resolve_where(
    tx: &Connection,
    condition: &str,
    values: &[Sql],
    resolutions: &mut Vec<i64>,
) -> Result<()> {
    let seqs: Vec<i64> = tx
        .prepare_cached(&format!(
            "SELECT i.seq FROM items i WHERE i.rating = 3 AND i.resolved = 0 AND {condition}"
        ))?
        .query_map(params_from_iter(values), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in seqs {
        tx.prepare_cached("UPDATE items SET resolved = 1 WHERE seq = ?1")?
            .execute([seq])?;
        resolutions.push(seq);
    }
    Ok(())
}

/// Adds one resolved item to the `resolved` counts of its rollup rows.
fn count_resolution(tx: &Connection, seq: i64) -> Result<()> {
    let (ts, channel, district, unit, sentiment, topics): (
        i64,
        String,
        String,
        String,
        String,
        String,
    ) = tx
        .prepare_cached(
            "SELECT ts, channel, district, unit, sentiment, topics FROM items WHERE seq = ?1",
        )?
        .query_row([seq], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
    let topics: Vec<String> = serde_json::from_str(&topics).unwrap_or_default();
    let minute = ts.div_euclid(60) * 60;
    let hour = ts.div_euclid(3600) * 3600;
    let mut by_minute = tx.prepare_cached(
        "UPDATE rollup_minute SET resolved = resolved + 1
         WHERE minute = ?1 AND topic = ?2 AND channel = ?3 AND district = ?4 AND unit = ?5
           AND sentiment = ?6 AND rating = 3",
    )?;
    for topic in std::iter::once("*").chain(topics.iter().map(String::as_str)) {
        by_minute.execute(params![minute, topic, channel, district, unit, sentiment])?;
    }
    let mut by_hour = tx.prepare_cached(
        "UPDATE rollup_hour SET resolved = resolved + 1
         WHERE hour = ?1 AND dim = ?2 AND key = ?3 AND sentiment = ?4 AND rating = 3",
    )?;
    for (dim, key) in hour_keys(&channel, &district, &unit, &topics) {
        by_hour.execute(params![hour, dim, key, sentiment])?;
    }
    Ok(())
}

fn rating_number(r: Option<Rating>) -> i64 {
    r.map_or(0, |r| i64::from(r.number()))
}

/// The statements every item runs, prepared once per transaction (looking
/// them up in the statement cache per item was ~7 % of the writer's work).
struct ItemStatements<'c> {
    resolved: CachedStatement<'c>,
    insert: CachedStatement<'c>,
    search: CachedStatement<'c>,
    topic: CachedStatement<'c>,
}

impl<'c> ItemStatements<'c> {
    fn prepare(tx: &'c Connection) -> Result<ItemStatements<'c>> {
        Ok(ItemStatements {
            resolved: tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM work_orders o
                                WHERE o.feedback_id = ?1 AND o.revisit_rating IN (1, 2))
                     OR (?2 IS NOT NULL AND EXISTS (
                                SELECT 1 FROM items j
                                WHERE j.case_ref = ?2 AND j.ts >= ?3 AND j.rating IN (1, 2)))",
            )?,
            insert: tx.prepare_cached(
                "INSERT INTO items (id, ts, received_at, channel, district, unit, sentiment,
                     score, rating, case_ref, topics, keywords, text, detail, ingested_at,
                     resolved)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (id) DO NOTHING",
            )?,
            search: tx.prepare_cached("INSERT INTO items_fts (rowid, tokens) VALUES (?1, ?2)")?,
            topic: tx.prepare_cached("INSERT OR IGNORE INTO item_topics VALUES (?1, ?2, ?3)")?,
        })
    }
}

/// Writes one item (its rollups are counted by the caller): None when the
/// id was stored already, else whether it is a dissatisfied item resolved
/// already (its satisfied follow-up arrived first). A satisfied item on a
/// case resolves the case's earlier dissatisfied items.
fn write_item(
    tx: &Connection,
    statements: &mut ItemStatements,
    row: &Row,
    resolutions: &mut Vec<i64>,
) -> Result<Option<bool>> {
    let resolved = row.rating == 3
        && statements
            .resolved
            .query_row(params![row.id, row.case_ref, row.ts], |r| {
                r.get::<_, bool>(0)
            })?;
    let inserted = statements.insert.execute(params![
        row.id,
        row.ts,
        row.received_at,
        row.channel,
        row.district,
        row.unit,
        row.sentiment,
        row.score,
        row.rating,
        row.case_ref,
        row.topics_json,
        row.keywords_json,
        row.text,
        row.detail,
        row.ingested_at,
        resolved,
    ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let seq = tx.last_insert_rowid();
    statements.search.execute(params![seq, row.tokens])?;
    for topic in &row.topics {
        statements.topic.execute(params![topic, row.ts, seq])?;
    }
    if matches!(row.rating, 1 | 2)
        && let Some(case) = &row.case_ref
    {
        resolve_where(
            tx,
            "i.case_ref = ?1 AND i.ts <= ?2",
            &[Sql::Text(case.clone()), Sql::Integer(row.ts)],
            resolutions,
        )?;
    }
    Ok(Some(resolved))
}

/// Stores one event and refolds its order; false when it was stored already.
fn write_event(tx: &Connection, e: &WorkOrderEvent, resolutions: &mut Vec<i64>) -> Result<bool> {
    let inserted = tx
        .prepare_cached("INSERT OR IGNORE INTO wo_events VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![
            e.order_id,
            e.event.as_str(),
            e.at.timestamp(),
            e.feedback_id,
            e.unit,
            e.rating.map(|r| r.number()),
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    let events = tx
        .prepare_cached(
            "SELECT event, at, feedback_id, unit, rating FROM wo_events WHERE order_id = ?1",
        )?
        .query_map([&e.order_id], |r| {
            let event: String = r.get(0)?;
            let rating: Option<u8> = r.get(4)?;
            Ok(StoredEvent {
                event: OrderEvent::parse(&event).unwrap_or(OrderEvent::Created),
                at: r.get(1)?,
                feedback_id: r.get(2)?,
                unit: r.get(3)?,
                rating: rating.and_then(Rating::from_number),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let s = fold(&events);
    tx.prepare_cached("INSERT OR REPLACE INTO work_orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
        .execute(params![
            e.order_id,
            s.feedback_id,
            s.unit.unwrap_or_default(),
            s.created_at,
            s.resolved_at,
            s.state.map_or("created", OrderEvent::as_str),
            s.revisit_rating.map(|r| r.number()),
        ])?;
    if s.revisit_rating.is_some_and(Rating::is_satisfied)
        && let Some(f) = &s.feedback_id
    {
        resolve_where(tx, "i.id = ?1", &[Sql::Text(f.clone())], resolutions)?;
    }
    Ok(true)
}

impl Store for SqliteStore {
    fn write(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>> {
        let sender = self.writer.lock().expect("not poisoned").clone();
        async move {
            let sender = sender.ok_or(StoreError::Closed)?;
            let batch = Prepared {
                rows: batch.items.into_iter().map(Row::new).collect(),
                events: batch.events,
            };
            let (ack, done) = oneshot::channel();
            sender
                .send(WriteJob { batch, ack })
                .await
                .map_err(|_| StoreError::Closed)?;
            let (result, batch) = done.await.map_err(|_| StoreError::Closed)?;
            drop(batch);
            result
        }
        .boxed()
    }

    fn query(&self, query: Query, now: i64) -> BoxFuture<'static, Result<Answer>> {
        let readers = self.readers.clone();
        async move {
            let _permit = readers
                .permits
                .acquire()
                .await
                .map_err(|_| StoreError::Closed)?;
            let r2 = readers.clone();
            tokio::task::spawn_blocking(move || r2.run(&query, now))
                .await
                .map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }

    fn state_load(
        &self,
        kind: &'static str,
        since: i64,
    ) -> BoxFuture<'static, Result<Vec<String>>> {
        let conn = self.state.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = conn.lock().expect("not poisoned");
                let docs = conn
                    .prepare_cached("SELECT doc FROM state WHERE kind = ?1 AND updated_at >= ?2")?
                    .query_map(params![kind, since], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(docs)
            })
            .await
            .map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }

    fn state_save(
        &self,
        kind: &'static str,
        id: String,
        doc: String,
        at: i64,
    ) -> BoxFuture<'static, Result<()>> {
        let conn = self.state.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = conn.lock().expect("not poisoned");
                conn.prepare_cached("INSERT OR REPLACE INTO state VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![kind, id, at, doc])?;
                Ok(())
            })
            .await
            .map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'static, Result<()>> {
        // Dropping the sender ends the writer loop once the queue is drained.
        drop(self.writer.lock().expect("not poisoned").take());
        let thread = self.writer_thread.lock().expect("not poisoned").take();
        async move {
            if let Some(t) = thread {
                tokio::task::spawn_blocking(move || t.join())
                    .await
                    .map_err(|_| StoreError::Closed)?
                    .map_err(|_| StoreError::Corrupt("the writer thread panicked".into()))?;
            }
            Ok(())
        }
        .boxed()
    }
}

impl Readers {
    fn run(&self, query: &Query, now: i64) -> Result<Answer> {
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
        let answer = answer(&conn, query, now, self.settings);
        self.idle.lock().expect("not poisoned").push(conn);
        answer
    }
}

// ---------------------------------------------------------------------------
// Queries. Identifiers below are literals of this file; every value is bound.

fn texts(v: &[String]) -> Vec<Sql> {
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

/// The FTS5 query for `terms`, all required. The index's `ascii` tokenizer
/// splits on ASCII characters other than letters and digits, so a term is
/// split the same way here: each piece is one index token (the index keeps
/// no positions, so a phrase of two would be an error). A query with no
/// piece at all matches nothing (`""`).
fn match_expr(terms: &[String]) -> String {
    let pieces: Vec<String> = terms
        .iter()
        .flat_map(|t| t.split(|c: char| c.is_ascii() && !c.is_ascii_alphanumeric()))
        .filter(|p| !p.is_empty())
        .map(|p| format!("\"{p}\""))
        .collect();
    if pieces.is_empty() {
        "\"\"".to_owned()
    } else {
        pieces.join(" ")
    }
}

/// Conditions on items (alias `i`); `time` adds the range on `i.ts`.
fn items_where(f: &Filters, time: bool) -> Where<Sql> {
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
    if !f.q.is_empty() {
        w.push(
            "i.seq IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)",
            [Sql::Text(match_expr(&f.q))],
        );
    }
    w
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

    let minute_key = key.map_or("''".to_owned(), |d| format!("r.{}", d.as_str()));
    let mut mw = rollup_dims_where(f, by_topic);
    minutes_where(&mut mw, "r.minute", f, span);
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
    sql.push_str(")\n");
    (sql, params)
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
        let w = items_where(f, true);
        let cols = COUNTS
            .replace("{s}", "i.sentiment")
            .replace("{r}", "i.rating")
            .replace("{n}", "1")
            .replace("{resolved}", "i.resolved");
        (
            format!("SELECT {cols} FROM items i WHERE {}", w.sql()),
            w.params,
        )
    };
    let out = conn.query_row(&sql, params_from_iter(params), |r| {
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
    })?;
    Ok(out.with_orders(orders(conn, f, now, s)?).with_rates())
}

/// Work orders created in the period; item filters apply through the item
/// the order was opened for.
fn orders(conn: &Connection, f: &Filters, now: i64, s: QuerySettings) -> Result<Orders> {
    let mut w = Where::default();
    if let Some(from) = f.from {
        w.push("o.created_at >= ?", [Sql::Integer(from)]);
    }
    if let Some(to) = f.to {
        w.push("o.created_at < ?", [Sql::Integer(to)]);
    }
    let item_filters = Filters {
        unit: Vec::new(),
        ..f.clone()
    };
    let join = if item_filters.is_time_only() {
        ""
    } else {
        let iw = items_where(&item_filters, false);
        w.push(&iw.sql(), iw.params);
        "JOIN items i ON i.id = o.feedback_id"
    };
    w.any_of("o.unit", texts(&f.unit));
    let sql = format!(
        "SELECT count(*), count(o.resolved_at),
                sum(CASE WHEN o.resolved_at IS NULL AND o.created_at < ? THEN 1 ELSE 0 END)
         FROM work_orders o {join} WHERE {}",
        w.sql()
    );
    let mut values = vec![Sql::Integer(now - s.sla_seconds)];
    values.extend(w.params);
    let (created, resolved, overdue) = conn.query_row(&sql, params_from_iter(values), |r| {
        Ok((u(r.get(0)?), u(r.get(1)?), u(r.get(2)?)))
    })?;
    Ok(Orders::new(created, resolved, overdue))
}

/// The column of a dimension in items (`i`), with `t` for item_topics.
fn item_column(dim: Dim) -> String {
    match dim {
        Dim::Topic => "t.topic".to_owned(),
        _ => format!("i.{}", dim.as_str()),
    }
}

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
        let w = items_where(f, true);
        let key = group_by.map_or("''".to_owned(), item_column);
        let join = if by_topic {
            "JOIN item_topics t ON t.seq = i.seq"
        } else {
            ""
        };
        (
            format!(
                "SELECT ((i.ts + {off}) / {width}) * {width} - {off} AS b, {key}, count(*)
                 FROM items i {join} WHERE {} GROUP BY 1, 2",
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
            let join = if by_topic {
                "JOIN item_topics t ON t.seq = i.seq"
            } else {
                ""
            };
            (
                format!(
                    "SELECT {key}, count(*), sum(CASE WHEN i.sentiment = 'negative' THEN 1 ELSE 0 END)
                     FROM items i {join} WHERE {} AND {key} <> '' {RANK}",
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
                     FROM items i, json_each(i.keywords) k WHERE {} {RANK}",
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

fn feedback(
    conn: &Connection,
    f: &Filters,
    limit: usize,
    cursor: Option<Cursor>,
    s: QuerySettings,
) -> Result<Answer> {
    let mut w = items_where(f, true);
    if let Some(c) = cursor {
        w.push(
            "(i.ts < ? OR (i.ts = ? AND i.seq < ?))",
            [Sql::Integer(c.ts), Sql::Integer(c.ts), Sql::Integer(c.seq)],
        );
    }
    let sql = format!(
        "SELECT i.seq, i.ts, i.id, i.channel, i.received_at, i.text, i.rating, i.district, i.unit,
                i.case_ref, i.topics, i.keywords, i.sentiment, i.score, i.detail
         FROM items i WHERE {} ORDER BY i.ts DESC, i.seq DESC LIMIT ?",
        w.sql()
    );
    let mut params = w.params;
    params.push(Sql::Integer(limit as i64 + 1));
    let tz = chrono::FixedOffset::east_opt(s.tz_offset as i32)
        .unwrap_or_else(crate::config::default_timezone);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_split_like_the_index() {
        let terms = |t: &[&str]| match_expr(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(terms(&["交巡警"]), r#""交巡警""#);
        assert_eq!(terms(&["民警", "a-b"]), r#""民警" "a" "b""#);
        assert_eq!(terms(&["say \"hi\""]), r#""say" "hi""#);
        assert_eq!(terms(&["!!!"]), r#""""#);
        assert_eq!(terms(&[]), r#""""#);
    }

    /// Schema 3 counts every hour the hourly tables hold as folded (they
    /// were written with their items), and at least the last finished
    /// hour: a fold never adds to a stored hour.
    #[test]
    fn the_upgrade_to_schema_3_counts_stored_hours_as_folded() {
        let through = |keyword_hours: &[i64], hours: &[i64]| {
            let mut conn = Connection::open_in_memory().unwrap();
            apply(&mut conn, &MIGRATIONS[..2]).unwrap();
            for hour in keyword_hours {
                conn.execute(
                    "INSERT INTO rollup_keyword_hour VALUES (?1, '民警', '', 'neutral', 1)",
                    [hour],
                )
                .unwrap();
            }
            for hour in hours {
                conn.execute(
                    "INSERT INTO rollup_hour VALUES (?1, 'total', '', 'neutral', 0, 1, 0)",
                    [hour],
                )
                .unwrap();
            }
            migrate(&mut conn).unwrap();
            HourFolding::load(&conn).through
        };
        let last_finished = floor_hour(chrono::Utc::now().timestamp()) - 3600;
        let t = through(&[], &[]);
        // The hour may turn between the two clock readings.
        assert!(t == last_finished || t == last_finished + 3600, "{t}");
        assert_eq!(through(&[1_764_000_000], &[1_764_003_600]), t);
        assert_eq!(through(&[4_102_444_800], &[]), 4_102_444_800);
        assert_eq!(through(&[1_764_000_000], &[4_102_448_400]), 4_102_448_400);
    }

    /// A store written by schema 1 (full-text index with positions) is
    /// searchable after the upgrade, by its old tokens and new ones.
    #[tokio::test]
    async fn full_text_survives_the_upgrade_to_schema_2() {
        let dir = std::env::temp_dir().join(format!(
            "minyi-sqlite-upgrade-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        {
            let mut conn = Connection::open(dir.join("minyi.db")).unwrap();
            apply(&mut conn, &MIGRATIONS[..1]).unwrap();
            for (seq, id, tokens) in [
                (1, "old-1", "交巡警 煤城 App"),
                (2, "old-2", "民警 态度 a-b"),
                (3, "old-3", "民警 出警"),
            ] {
                conn.execute(
                    "INSERT INTO items (seq, id, ts, received_at, channel, district, unit,
                         sentiment, score, rating, topics, keywords, text, detail,
                         ingested_at, resolved)
                     VALUES (?1, ?2, 1764000000, '2025-11-25T00:00:00+08:00', 'wechat',
                         '', '', 'neutral', 0, 0, '[]', '[]', ?3, '{}', 1764000000, 0)",
                    params![seq, id, tokens],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO items_fts (rowid, tokens) VALUES (?1, ?2)",
                    params![seq, tokens],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&dir, QuerySettings::default()).unwrap();
        let e = crate::enrich::Enricher::builtin(b"upgrade-key").unwrap();
        let now = e.now();
        let new = e
            .enrich_value(
                &serde_json::json!({"channel": "wechat", "id": "new-1", "text": "交巡警处理很及时"}),
                now,
            )
            .unwrap();
        assert!(
            new.tokens.contains(&"交巡警".to_owned()),
            "{:?}",
            new.tokens
        );
        store
            .write(crate::store::WriteBatch {
                items: vec![new],
                events: Vec::new(),
            })
            .await
            .unwrap();
        let search = |q: &[&str]| {
            let query = Query::Feedback {
                filters: Filters {
                    q: q.iter().map(|s| s.to_string()).collect(),
                    ..Filters::default()
                },
                limit: 10,
                cursor: None,
            };
            let store = &store;
            async move {
                match store.query(query, now.timestamp()).await.unwrap() {
                    Answer::Feedback { items, .. } => {
                        let mut ids: Vec<String> = items.into_iter().map(|i| i.id).collect();
                        ids.sort();
                        ids
                    }
                    other => panic!("{other:?}"),
                }
            }
        };
        assert_eq!(search(&["交巡警"]).await, ["new-1", "old-1"]);
        assert_eq!(search(&["app"]).await, ["old-1"]);
        assert_eq!(search(&["民警"]).await, ["old-2", "old-3"]);
        assert_eq!(search(&["民警", "a-b"]).await, ["old-2"]);
        assert!(search(&["!!!"]).await.is_empty());
        assert!(search(&["派出所"]).await.is_empty());
        store.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
