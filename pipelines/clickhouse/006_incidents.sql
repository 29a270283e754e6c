-- minyi's ClickHouse schema, step 6: incidents (同一事件).
--
-- The incident tracker (src/tracker.rs, in `minyi api` and `minyi serve`)
-- writes a row for each change of an item's incident; an item's incident
-- is its newest row by `version` ('' when it stands alone again). `ts` is
-- the item's received_at second, so a range reads only its own rows.
CREATE TABLE IF NOT EXISTS feedback_incidents (
    item_id  String,
    incident String,
    ts       DateTime,
    version  UInt64
) ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(ts) ORDER BY item_id;
