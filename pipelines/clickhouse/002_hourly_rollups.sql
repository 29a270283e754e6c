-- minyi's ClickHouse schema, step 2: hourly rollups only.
--
-- The per-minute rollups of step 1 had about one row per item (rollup_minute:
-- every dimension at once; rollup_keyword: every keyword of every item by
-- district), so they answered no faster than the items themselves and made
-- each insert four times as costly (ClickHouse CPU per stored item 44 µs
-- with them, 11 µs without, measured with `scripts/bench-distributed`).
-- Queries now read whole hours from the hourly rollups and the minute edges
-- from `feedback` (ordered by ts: a range read). The hot-word rollup loses
-- its district (by district, hot words come from the items), which makes it
-- about a third of the keywords it counts.
--
-- Run it before `minyi ingest` starts (docker-compose does): the hot-word
-- rollup is rebuilt from the stored items.

DROP TABLE IF EXISTS rollup_minute_mv;
DROP TABLE IF EXISTS rollup_minute;
DROP TABLE IF EXISTS rollup_keyword_mv;
DROP TABLE IF EXISTS rollup_keyword;
DROP TABLE IF EXISTS rollup_keyword_hour_mv;
DROP TABLE IF EXISTS rollup_keyword_hour;

CREATE TABLE IF NOT EXISTS rollup_keyword_hour (
    hour      DateTime,
    keyword   String,
    sentiment String,
    n         UInt64
) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(hour)
  ORDER BY (hour, keyword, sentiment);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_keyword_hour_mv TO rollup_keyword_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, keyword,
       toString(sentiment) AS sentiment, count() AS n
FROM feedback ARRAY JOIN keywords AS keyword GROUP BY hour, keyword, sentiment;

INSERT INTO rollup_keyword_hour
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, keyword,
       toString(sentiment) AS sentiment, count() AS n
FROM feedback ARRAY JOIN keywords AS keyword GROUP BY hour, keyword, sentiment;
