-- minyi's ClickHouse schema, step 7: repeat complaints (重复诉求).
--
-- The incident tracker (src/tracker.rs, src/repeat.rs) writes a row for each
-- change of an item's mark: 1 when its contact raised one of its topics at
-- least twice before within `repeat_window_days`. An item's mark is its
-- newest row by `version` (no row: not a repeat). `ts` is the item's
-- received_at second, so a range reads only its own rows.
CREATE TABLE IF NOT EXISTS feedback_repeats (
    item_id String,
    repeat  UInt8,
    ts      DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(ts) ORDER BY item_id;
