-- minyi's ClickHouse schema, step 10: what each insert stored, for the
-- incident tracker of `minyi api`.
--
-- The tracker follows the items in the order they were stored
-- (`ingested_us`), which is not the table's key (ts, id). Every poll (twice
-- a second) read the whole table to find the items stored since the last
-- one: at 10M items a poll that found nothing took 3.2 s, so the tracker
-- kept ClickHouse busy for good and an analyst's search waited 8-11 s.
-- `feedback_batches` holds a row per insert block — the first and last
-- `ingested_us`, the oldest and newest `ts`, the count and the greatest id
-- (an insert stamps all its items alike, the id orders them) — so a poll
-- asks this small table first, and reads the items only within the key
-- range of what was stored since (nothing at all when nothing was).
--
-- The view sees every insert into `feedback`, whichever process made it.
-- The fill covers the items stored before this step, a row per second of
-- storing (an insert block never spans more than a few seconds); a block
-- stored between the view and the fill is covered twice, which only makes
-- its bounds wider.
CREATE TABLE IF NOT EXISTS feedback_batches (
    lo     UInt64,
    hi     UInt64,
    min_ts DateTime,
    max_ts DateTime,
    n      UInt64,
    max_id String
) ENGINE = MergeTree ORDER BY hi;

CREATE MATERIALIZED VIEW IF NOT EXISTS feedback_batches_mv TO feedback_batches AS
SELECT min(ingested_us) AS lo, max(ingested_us) AS hi, min(ts) AS min_ts, max(ts) AS max_ts,
       count() AS n, max(id) AS max_id
FROM feedback;

INSERT INTO feedback_batches (lo, hi, min_ts, max_ts, n, max_id)
SELECT min(ingested_us), max(ingested_us), min(ts), max(ts), count(), max(id)
FROM feedback GROUP BY intDiv(ingested_us, 1000000);
