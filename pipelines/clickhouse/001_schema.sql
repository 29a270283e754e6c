-- minyi's ClickHouse schema, step 1: the items, the work-order events, the
-- rollups the materialized views keep, Kafka progress, alert state.
--
-- Runs on ClickHouse 18.16 (Debian 12's) and on current releases. `{{lc}}`
-- is LowCardinality(String) where the server accepts it without settings
-- (19.9 and later) and String before. Timestamps are DateTime; the rollups
-- cut minutes and hours by arithmetic on the unix time, so the server's
-- time zone never moves a bucket. Every statement may run again (IF NOT
-- EXISTS): a step interrupted half-way is simply applied again.

-- One row per enriched feedback item (the contract of docs/DESIGN.md; text
-- PII-masked, contact hashed inside `detail`). `source_*` is the Kafka
-- message the row came from ('' / -1 for HTTP ingest): the consumer resumes
-- from the highest stored offset of each partition, so the store, not the
-- broker, is the source of truth for progress.
CREATE TABLE IF NOT EXISTS feedback (
    id               String,
    ts               DateTime,
    received_at      String,
    channel          {{lc}},
    district         {{lc}},
    unit             {{lc}},
    sentiment        {{lc}},
    score            Float32,
    rating           UInt8,
    case_ref         String,
    topics           Array(String),
    keywords         Array(String),
    tokens           Array(String),
    text             String,
    detail           String,
    ingested_us      UInt64,
    source_topic     String,
    source_partition Int32,
    source_offset    Int64
) ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (ts, id);

CREATE TABLE IF NOT EXISTS workorder_events (
    order_id         String,
    event            {{lc}},
    at               DateTime,
    feedback_id      String,
    unit             String,
    rating           UInt8,
    ingested_us      UInt64,
    source_topic     String,
    source_partition Int32,
    source_offset    Int64
) ENGINE = MergeTree() PARTITION BY toYYYYMM(at) ORDER BY (order_id, at);

-- Per minute, every dimension: topic '*' counts each item once, the other
-- rows once per topic of the item.
CREATE TABLE IF NOT EXISTS rollup_minute (
    minute    DateTime,
    topic     String,
    channel   String,
    district  String,
    unit      String,
    sentiment String,
    rating    UInt8,
    n         UInt64
) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(minute)
  ORDER BY (minute, topic, channel, district, unit, sentiment, rating);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_minute_mv TO rollup_minute AS
SELECT toDateTime(intDiv(toUInt32(ts), 60) * 60) AS minute, topic,
       toString(channel) AS channel, toString(district) AS district, toString(unit) AS unit,
       toString(sentiment) AS sentiment, rating, count() AS n
FROM feedback ARRAY JOIN arrayConcat(['*'], topics) AS topic
GROUP BY minute, topic, channel, district, unit, sentiment, rating;

-- Per hour, one dimension at a time: a month reads a few thousand rows.
CREATE TABLE IF NOT EXISTS rollup_hour (
    hour      DateTime,
    dim       String,
    key       String,
    sentiment String,
    rating    UInt8,
    n         UInt64
) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(hour)
  ORDER BY (dim, hour, key, sentiment, rating);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_total_mv TO rollup_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, 'total' AS dim, '' AS key,
       toString(sentiment) AS sentiment, rating, count() AS n
FROM feedback GROUP BY hour, sentiment, rating;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_channel_mv TO rollup_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, 'channel' AS dim,
       toString(channel) AS key, toString(sentiment) AS sentiment, rating, count() AS n
FROM feedback GROUP BY hour, key, sentiment, rating;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_district_mv TO rollup_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, 'district' AS dim,
       toString(district) AS key, toString(sentiment) AS sentiment, rating, count() AS n
FROM feedback GROUP BY hour, key, sentiment, rating;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_unit_mv TO rollup_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, 'unit' AS dim,
       toString(unit) AS key, toString(sentiment) AS sentiment, rating, count() AS n
FROM feedback GROUP BY hour, key, sentiment, rating;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_topic_mv TO rollup_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, 'topic' AS dim,
       key, toString(sentiment) AS sentiment, rating, count() AS n
FROM feedback ARRAY JOIN topics AS key GROUP BY hour, key, sentiment, rating;

-- Hot words by district and sentiment, per minute and per hour.
CREATE TABLE IF NOT EXISTS rollup_keyword (
    minute    DateTime,
    keyword   String,
    district  String,
    sentiment String,
    n         UInt64
) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(minute)
  ORDER BY (minute, keyword, district, sentiment);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_keyword_mv TO rollup_keyword AS
SELECT toDateTime(intDiv(toUInt32(ts), 60) * 60) AS minute, keyword,
       toString(district) AS district, toString(sentiment) AS sentiment, count() AS n
FROM feedback ARRAY JOIN keywords AS keyword GROUP BY minute, keyword, district, sentiment;

CREATE TABLE IF NOT EXISTS rollup_keyword_hour (
    hour      DateTime,
    keyword   String,
    district  String,
    sentiment String,
    n         UInt64
) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(hour)
  ORDER BY (hour, keyword, district, sentiment);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_keyword_hour_mv TO rollup_keyword_hour AS
SELECT toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS hour, keyword,
       toString(district) AS district, toString(sentiment) AS sentiment, count() AS n
FROM feedback ARRAY JOIN keywords AS keyword GROUP BY hour, keyword, district, sentiment;

-- The highest offset of each partition the consumer has finished with,
-- rejected messages included (they went to the dead-letter topic and have
-- no row of their own).
CREATE TABLE IF NOT EXISTS ingest_progress (
    topic     String,
    partition Int32,
    offset    Int64,
    at        DateTime
) ENGINE = ReplacingMergeTree() ORDER BY (topic, partition, offset);

-- Alerts and silences, as JSON documents; the newest version of a document wins.
CREATE TABLE IF NOT EXISTS state (
    kind       String,
    id         String,
    updated_at UInt64,
    doc        String
) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (kind, id);
