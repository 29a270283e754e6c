//! The write path: one writer thread owns the only writing connection.
//! In: batches prepared off the thread ([`Prepared`]: items as column
//! values, work-order events), queued as [`WriteJob`]s. Out: each job's
//! [`WriteOutcome`] (which items and events were new), sent back with the
//! batch once its transaction is committed. Guarantees: the jobs waiting
//! together commit in one transaction (`synchronous = FULL`: acknowledged
//! means on disk), and should that fail each is retried alone; an item or
//! event stored already changes nothing; an item is written with its
//! rollup counts, and with the resolutions it causes (a satisfied
//! follow-up on the case, a satisfied revisit of its order), in the same
//! transaction. A second thread checkpoints the WAL so the writer never
//! pays for it.

use rusqlite::types::Value as Sql;
use rusqlite::{CachedStatement, Connection, params, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use super::rollups::{HourFolding, Rollups, defer, deferred_after, hour_keys, settle};
use super::search;
use crate::model::{EnrichedItem, Rating};
use crate::store::{Result, WriteOutcome};
use crate::workorder::{OrderEvent, StoredEvent, WorkOrderEvent, fold};

/// What the writer thread is asked to do.
pub(super) enum Job {
    /// A batch, committed with the others waiting beside it.
    Write(WriteJob),
    /// Work that needs the writing connection (erasure, retention, the
    /// audit): run alone, between two write groups.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
}

pub(super) struct WriteJob {
    pub(super) batch: Prepared,
    /// History in bulk: its rollup counts wait for [`settle`].
    pub(super) history: bool,
    /// The answer, and the batch back: freeing it is the caller's work,
    /// not the writer's.
    pub(super) ack: oneshot::Sender<(Result<WriteOutcome>, Prepared)>,
}

/// A batch as column values, prepared off the writer thread (serializing
/// and formatting is CPU work the single writer should not do).
pub(super) struct Prepared {
    pub(super) rows: Vec<Row>,
    pub(super) events: Vec<WorkOrderEvent>,
}

pub(super) struct Row {
    id: String,
    pub(super) ts: i64,
    received_at: String,
    pub(super) channel: String,
    pub(super) district: String,
    pub(super) unit: String,
    pub(super) sentiment: &'static str,
    score: f64,
    pub(super) rating: i64,
    case_ref: Option<String>,
    topics_json: String,
    keywords_json: String,
    text: String,
    detail: String,
    ingested_at: i64,
    /// The item's columns of the search index (`search.rs`).
    unigrams: String,
    bigrams: String,
    pub(super) topics: Vec<String>,
    pub(super) keywords: Vec<crate::model::Word>,
}

impl Row {
    pub(super) fn new(item: EnrichedItem) -> Row {
        let detail = crate::store::detail_json(&item);
        let searchable = crate::query::search::searchable(&item.text);
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
            unigrams: search::unigrams(&searchable),
            bigrams: search::bigrams(&searchable),
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

/// How often the checkpointer copies committed pages into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

pub(super) fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
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
            tracing::warn!("sqlite checkpoint: {e}");
        }
        if last {
            return;
        }
    }
}

pub(super) fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>, fold: super::Folding) {
    // An import stopped halfway left items uncounted: count them first.
    match settle(&mut conn) {
        Ok(0) => {}
        Ok(n) => tracing::info!("sqlite: counted {n} items an unfinished import left"),
        Err(e) => tracing::error!("sqlite: counting the items of an unfinished import: {e}"),
    }
    let budget = fold.budget;
    let mut folding = HourFolding::load(&conn, fold.step_secs, fold.clock);
    folding.catch_up(&mut conn, None);
    let mut next = None;
    while let Some(first) = next.take().or_else(|| rx.blocking_recv()) {
        let first = match first {
            Job::Run(work) => {
                work(&mut conn);
                continue;
            }
            Job::Write(job) => job,
        };
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            match job {
                Job::Write(job) => jobs.push(job),
                run => {
                    next = Some(run);
                    break;
                }
            }
        }
        let batches: Vec<&Prepared> = jobs.iter().map(|j| &j.batch).collect();
        let history = jobs.iter().any(|j| j.history);
        let cursor = folding.cursor;
        let results = match write_group(&mut conn, &batches, cursor, history) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // One bad batch must not fail the others: write each alone.
            Err(_) if jobs.len() > 1 => jobs
                .iter()
                .map(|j| {
                    write_group(&mut conn, &[&j.batch], cursor, j.history).map(|mut o| o.remove(0))
                })
                .collect(),
            Err(e) => vec![Err(e)],
        };
        for (job, result) in jobs.into_iter().zip(results) {
            // The caller may have gone (client hung up); the data is stored.
            let _ = job.ack.send((result, job.batch));
        }
        cap_wal(&conn, WAL_CAP);
        // After the acks: a fold step never delays the answer to a write.
        folding.catch_up(&mut conn, Some(budget));
    }
}

/// The WAL the writes may grow to before the writer checkpoints it itself.
/// The checkpointer's passive passes copy the frames, but a WAL is reused
/// from its start only once no reader holds an older snapshot, which a
/// screen and an analyst always do under a busy writer: 1,000,000 rows of
/// an import left a WAL of 3.3 GB beside a store of 1.5 GB; 1,000,000 items
/// posted at 18,000 a second with a screen and an analyst reading, 5.5 GB
/// beside 1.1 GB.
const WAL_CAP: u64 = 256 << 20;

/// Copies the WAL into the database and starts it over when it has grown
/// past `cap` ([`WAL_CAP`]), between write groups. It waits for readers of
/// an older snapshot [`CAP_WAIT`] at most (holding the write lock
/// meanwhile), else the next group tries again.
fn cap_wal(conn: &Connection, cap: u64) {
    let Some(db) = conn.path() else { return };
    let size = std::fs::metadata(format!("{db}-wal")).map_or(0, |m| m.len());
    if size <= cap {
        return;
    }
    let timeout: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap_or(5000);
    let _ = conn.busy_timeout(CAP_WAIT);
    let restarted = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
    let _ = conn.busy_timeout(std::time::Duration::from_millis(timeout as u64));
    match restarted {
        Ok(()) => {}
        // Readers keep coming: said once the WAL is well past its cap.
        Err(e) if size > 4 * cap => {
            tracing::warn!(
                "sqlite: the WAL is {} MB, not started over yet: {e}",
                size >> 20
            )
        }
        Err(e) => tracing::debug!(
            "sqlite: the WAL is {} MB, not started over yet: {e}",
            size >> 20
        ),
    }
}

/// How long [`cap_wal`] waits for readers to leave an older snapshot.
const CAP_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Writes batches in one transaction; all or nothing.
/// `cursor`: the fold's, see [`Rollups::add`]. `history`: the items' rollup counts
/// wait for [`settle`] (as do those of any item written while a deferral
/// is open, so that `settle` counts every item after its mark once).
fn write_group(
    conn: &mut Connection,
    batches: &[&Prepared],
    cursor: i64,
    history: bool,
) -> Result<Vec<WriteOutcome>> {
    let tx = conn.transaction()?;
    let deferred = if history {
        Some(defer(&tx)?)
    } else {
        deferred_after(&tx)?
    };
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
                if let Some(resolved) = new
                    && deferred.is_none()
                {
                    rollups.add(row, resolved, cursor);
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
    // A deferred item is counted by `settle` with its final state.
    for seq in resolutions {
        if deferred.is_none_or(|after| seq <= after) {
            count_resolution(&tx, seq, cursor)?;
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Marks the unresolved dissatisfied items chosen by `condition` (on `i`)
/// as resolved at `at` (unix seconds of the satisfied answer) and queues
/// them for their rollup counts; those resolved already but later than
/// `at` (the earlier answer arrived late) are resolved at `at` instead.
fn resolve_where(
    tx: &Connection,
    condition: &str,
    values: &[Sql],
    at: i64,
    resolutions: &mut Vec<i64>,
) -> Result<()> {
    // `at` bound after the condition's values (in the text, each time
    // would be a statement of its own in the cache).
    let at_param = values.len() + 1;
    let seqs: Vec<(i64, bool)> = tx
        .prepare_cached(&format!(
            "SELECT i.seq, i.resolved FROM items i
             WHERE i.rating = 3 AND (i.resolved = 0 OR i.resolved_at > ?{at_param}) AND {condition}"
        ))?
        .query_map(
            params_from_iter(values.iter().cloned().chain([Sql::Integer(at)])),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, resolved) in seqs {
        tx.prepare_cached("UPDATE items SET resolved = 1, resolved_at = ?2 WHERE seq = ?1")?
            .execute([seq, at])?;
        if !resolved {
            resolutions.push(seq);
        }
    }
    Ok(())
}

/// Adds one resolved item to the `resolved` counts of its rollup rows (its
/// hour's when its minute is folded: before the fold's `cursor`).
fn count_resolution(tx: &Connection, seq: i64, cursor: i64) -> Result<()> {
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
    if minute < cursor {
        for (dim, key) in hour_keys(&channel, &district, &unit, &topics) {
            by_hour.execute(params![hour, dim, key, sentiment])?;
        }
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
            // When a dissatisfied item was resolved already (NULL: not):
            // the first satisfied revisit of its order, or the first
            // satisfied item on its case at or after it.
            resolved: tx.prepare_cached(
                "SELECT min(t) FROM (
                     SELECT min(e.at) AS t FROM work_orders o
                     JOIN wo_events e ON e.order_id = o.order_id
                     WHERE o.feedback_id = ?1 AND o.revisit_rating IN (1, 2)
                       AND e.event = 'revisited' AND e.rating IN (1, 2)
                     UNION ALL
                     SELECT min(j.ts) FROM items j
                     WHERE ?2 IS NOT NULL AND j.case_ref = ?2 AND j.ts >= ?3 AND j.rating IN (1, 2))",
            )?,
            insert: tx.prepare_cached(
                "INSERT INTO items (id, ts, received_at, channel, district, unit, sentiment,
                     score, rating, case_ref, topics, keywords, text, detail, ingested_at,
                     resolved, resolved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                 ON CONFLICT (id) DO NOTHING",
            )?,
            search: tx
                .prepare_cached("INSERT INTO items_search (rowid, u, b) VALUES (?1, ?2, ?3)")?,
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
    let resolved_at: Option<i64> = if row.rating == 3 {
        statements
            .resolved
            .query_row(params![row.id, row.case_ref, row.ts], |r| r.get(0))?
    } else {
        None
    };
    let resolved = resolved_at.is_some();
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
        resolved_at,
    ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let seq = tx.last_insert_rowid();
    if !row.unigrams.is_empty() {
        statements
            .search
            .execute(params![seq, row.unigrams, row.bigrams])?;
    }
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
            row.ts,
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
    // Resolved by the first revisit answered satisfied.
    if s.revisit_rating.is_some_and(Rating::is_satisfied)
        && let Some(f) = &s.feedback_id
        && let Some(at) = s.satisfied_at
    {
        resolve_where(tx, "i.id = ?1", &[Sql::Text(f.clone())], at, resolutions)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grown_wal_starts_over_after_a_bulk_write() {
        let dir = std::env::temp_dir().join(format!(
            "minyi-wal-cap-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let conn = Connection::open(dir.join("minyi.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (x BLOB);",
        )
        .unwrap();
        let wal = dir.join("minyi.db-wal");
        let size = || std::fs::metadata(&wal).unwrap().len();
        let write = || {
            for _ in 0..300 {
                conn.execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                    .unwrap();
            }
        };
        write();
        let first = size();
        assert!(first > 1 << 20, "{first}");
        // Under the cap: nothing happens, the WAL goes on growing.
        cap_wal(&conn, 64 << 20);
        write();
        let grown = size();
        assert!(grown > first + (1 << 20), "{first} → {grown}");
        // Over it: copied into the database, the WAL is written from its
        // start again (the file is reused, not grown).
        cap_wal(&conn, 1 << 20);
        write();
        assert_eq!(size(), grown);
        assert_eq!(
            conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            900
        );
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
