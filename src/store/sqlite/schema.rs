//! The SQLite schema: the numbered migrations (never edited once
//! released: each change is the next step) and their application. In: a
//! connection to the database file, at whatever version it is. Out: the
//! database at this binary's newest version, each pending step applied
//! once, in order, each in its own transaction, recorded in
//! `schema_migrations`; a database newer than the binary is refused
//! ([`StoreError::Corrupt`]).

use rusqlite::{Connection, params};

use crate::store::{Result, StoreError};

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
        // `rollup_keyword_hour` once (`HourFolding`); `through` is the last
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
    (
        5,
        "personal data over its lifetime: erasable search index, redaction, access audit",
        // Erasure and retention take an item's tokens out of the search
        // index: a contentless index forgets a row only with
        // `contentless_delete` (which needs the per-row sizes, so not
        // `columnsize = 0`), and with `secure-delete` the row's terms are
        // removed from the index pages at once, not left there until a
        // merge. Rebuilt from its own terms as in step 2 (fts5vocab reads
        // a `detail = none` index too). `redacted` says why an item's text
        // is gone (expired, erased). The audit is append-only: an UPDATE
        // is refused by a trigger; retention deletes old entries.
        r#"
CREATE VIRTUAL TABLE temp.items_fts_terms USING fts5vocab(main, items_fts, instance);
CREATE VIRTUAL TABLE items_fts_v3 USING fts5 (
    tokens, content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'
);
INSERT INTO items_fts_v3 (items_fts_v3, rank) VALUES ('secure-delete', 1);
INSERT INTO items_fts_v3 (rowid, tokens)
    SELECT doc, group_concat(term, ' ') FROM temp.items_fts_terms GROUP BY doc;
DROP TABLE temp.items_fts_terms;
DROP TABLE items_fts;
ALTER TABLE items_fts_v3 RENAME TO items_fts;

ALTER TABLE items ADD COLUMN redacted TEXT;   -- NULL, 'expired', 'erased'
CREATE INDEX items_contact ON items (json_extract(detail, '$.contact_hash'))
    WHERE json_extract(detail, '$.contact_hash') IS NOT NULL;

CREATE TABLE audit (
    at     INTEGER NOT NULL,               -- unix seconds
    token  TEXT NOT NULL,
    role   TEXT NOT NULL,
    method TEXT NOT NULL,
    path   TEXT NOT NULL,
    query  TEXT NOT NULL,
    status INTEGER NOT NULL,
    items  INTEGER
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
"#,
    ),
    (
        6,
        "search that finds: every substring of the masked text, masked spans left out",
        // `q` was whole tokens, all required: 诈骗 found no 被骗了, and
        // 骗 nothing. The new index holds each item's characters and
        // pairs of characters (`search.rs`), built here from the stored
        // masked texts (expired and erased items have none), so a word
        // of any length is found as a substring. The token index goes.
        r#"
CREATE VIRTUAL TABLE items_search USING fts5 (
    u, b, content = '', contentless_delete = 1, tokenize = 'ascii'
);
INSERT INTO items_search (items_search, rank) VALUES ('secure-delete', 1);
INSERT INTO items_search (rowid, u, b)
    SELECT seq, minyi_search_unigrams(text), minyi_search_bigrams(text) FROM items
    WHERE text <> '' AND redacted IS NULL;
DROP TABLE items_fts;
"#,
    ),
    (
        7,
        "incidents: each item's incident, written by the incident tracker",
        // NULL: alone (or not assigned yet). The first index serves the
        // `incident` filter, the second the incident list of a range: it
        // holds only the items of incidents.
        r#"
ALTER TABLE items ADD COLUMN incident TEXT;
CREATE INDEX items_incident ON items (incident, ts) WHERE incident IS NOT NULL;
CREATE INDEX items_incident_ts ON items (ts) WHERE incident IS NOT NULL;
"#,
    ),
    (
        8,
        "repeat complaints: each item's mark, written by the incident tracker",
        // 1: the contact raised one of its topics twice before within the
        // window (src/repeat.rs). The index holds only the marked items:
        // the `repeat` filter and 重复诉求率 read those.
        r#"
ALTER TABLE items ADD COLUMN repeat INTEGER NOT NULL DEFAULT 0;
CREATE INDEX items_repeat ON items (ts) WHERE repeat = 1;
"#,
    ),
    (
        9,
        "the revisit funnel: the sendings of revisit SMS by time",
        r#"
CREATE INDEX wo_events_revisit_sent ON wo_events (at) WHERE event = 'revisit_sent';
"#,
    ),
    (
        10,
        "search counts: the facts a search counts, in item order",
        // A search finds items by their row number; reading each found
        // item's row (a kilobyte of text and detail) cost ~1 µs an item,
        // 0.75 s for a word in a third of a million items. `items_facts`
        // holds what summaries, daily series, work-order counts and the
        // list's order read, in row-number order (`read::FACTS`);
        // the orders of those items are counted from their index alone.
        r#"
CREATE INDEX items_facts ON items (seq, ts, sentiment, rating, resolved, id);
DROP INDEX work_orders_feedback;
CREATE INDEX work_orders_feedback ON work_orders (feedback_id, created_at, resolved_at);
"#,
    ),
    (
        11,
        "不满意化解 in time: when each dissatisfied item was resolved",
        // Unix seconds of the satisfied answer that resolved it (a later
        // item on its case, or its order's revisit), so a compared period
        // counts its resolutions as they stood as long before now
        // (`Filters::as_of`). NULL with `resolved` = 1: resolved before this
        // step, at a time not kept (counted resolved at any time).
        r#"
ALTER TABLE items ADD COLUMN resolved_at INTEGER;
"#,
    ),
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    apply(conn, MIGRATIONS)
}

/// Applies the `steps` newer than the database's schema version.
fn apply(conn: &mut Connection, steps: &[(i64, &str, &str)]) -> Result<()> {
    super::search::register_functions(conn)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Answer, Filters, Query};
    use crate::store::Store;
    use crate::store::sql::floor_hour;
    use crate::store::sqlite::rollups::FOLDED;
    use crate::store::sqlite::{QuerySettings, SqliteStore};

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
            conn.query_row(&format!("SELECT {FOLDED}"), [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        let last_finished = floor_hour(chrono::Utc::now().timestamp()) - 3600;
        let t = through(&[], &[]);
        // The hour may turn between the two clock readings.
        assert!(t == last_finished || t == last_finished + 3600, "{t}");
        assert_eq!(through(&[1_764_000_000], &[1_764_003_600]), t);
        assert_eq!(through(&[4_102_444_800], &[]), 4_102_444_800);
        assert_eq!(through(&[1_764_000_000], &[4_102_448_400]), 4_102_448_400);
    }

    /// A store written by schema 1 is searchable after the upgrades (the
    /// index of step 6 is built from the stored texts), beside new items.
    #[tokio::test]
    async fn stored_items_are_searchable_after_the_upgrades() {
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
                (4, "old-4", "回电话138****5678"),
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
        assert!(new.tokens.iter().any(|w| w == "交巡警"), "{:?}", new.tokens);
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
                    q: q.iter().map(|s| vec![s.to_string()]).collect(),
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
        assert_eq!(search(&["电话"]).await, ["old-4"]);
        assert_eq!(search(&["警"]).await, ["new-1", "old-1", "old-2", "old-3"]);
        assert!(search(&["138"]).await.is_empty(), "masked digits");
        assert!(search(&["5678"]).await.is_empty(), "masked digits");
        store.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
