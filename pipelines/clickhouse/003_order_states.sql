-- minyi's ClickHouse schema, step 3: work-order state kept at write time.
--
-- The KPI panels (办结率, 超期, 不满意化解) need each order's state: when it
-- was created, whether it is resolved now, its unit and item, whether a
-- revisit was answered satisfied. Folding every event of every order at
-- query time took 3.4–5.2 s at 10M items (2.16M orders, 10.9M events).
-- Now `minyi ingest` folds them when it writes (it reads the stored events
-- of the batch's orders anyway, to skip duplicates; work-order events are
-- keyed by order id, so one consumer owns each order): the last new event
-- of an order in a batch carries the order's state before the batch
-- (`old_*`, when `replaces` = 1) and after it (`new_*`, when `sets` = 1).
-- A materialized view turns that into a retraction (sign -1) and a new
-- state (sign +1) in `order_states`, so `sum(sign)` over any filter of the
-- state columns counts the orders whose current state matches — no GROUP BY
-- order, and the states travel with the events in one INSERT.
--
-- Stop `minyi ingest` before this step and start the new one after it (an
-- older ingest writes events without states). The states of the orders
-- stored already are folded here, in the same order of events as minyi's
-- (`workorder::fold`: by time, same-second events in lifecycle order).

ALTER TABLE workorder_events
    ADD COLUMN replaces        UInt8,
    ADD COLUMN old_created_at  DateTime,
    ADD COLUMN old_resolved    UInt8,
    ADD COLUMN old_unit        String,
    ADD COLUMN old_feedback_id String,
    ADD COLUMN old_satisfied   UInt8,
    ADD COLUMN sets            UInt8,
    ADD COLUMN new_created_at  DateTime,
    ADD COLUMN new_resolved    UInt8,
    ADD COLUMN new_unit        String,
    ADD COLUMN new_feedback_id String,
    ADD COLUMN new_satisfied   UInt8;

CREATE TABLE IF NOT EXISTS order_states (
    order_id    String,
    sign        Int8,
    created_at  DateTime,
    resolved    UInt8,
    unit        {{lc}},
    feedback_id String,
    satisfied   UInt8
) ENGINE = CollapsingMergeTree(sign) PARTITION BY toYYYYMM(created_at)
  ORDER BY (created_at, order_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS order_states_mv TO order_states AS
SELECT order_id, s.1 AS sign, s.2 AS created_at, s.3 AS resolved, s.4 AS unit,
       s.5 AS feedback_id, s.6 AS satisfied
FROM workorder_events
ARRAY JOIN [(toInt8(-replaces), old_created_at, old_resolved, old_unit, old_feedback_id, old_satisfied),
            (toInt8(sets), new_created_at, new_resolved, new_unit, new_feedback_id, new_satisfied)] AS s
WHERE sign != 0;

INSERT INTO order_states (order_id, sign, created_at, resolved, unit, feedback_id, satisfied)
SELECT order_id, toInt8(1),
       toDateTime(if(countIf(event = 'created') > 0,
                     minIf(toUInt32(at), event = 'created'), min(toUInt32(at)))),
       toUInt8(countIf(event = 'resolved') > 0
               AND maxIf(toUInt32(at), event = 'resolved') > maxIf(toUInt32(at), event = 'reopened')),
       argMaxIf(unit, toUInt64(at) * 8 + indexOf(['created', 'dispatched', 'responded', 'resolved', 'revisited', 'reopened'], toString(event)), unit != ''),
       argMaxIf(feedback_id, toUInt64(at) * 8 + indexOf(['created', 'dispatched', 'responded', 'resolved', 'revisited', 'reopened'], toString(event)), feedback_id != ''),
       toUInt8(countIf(event = 'revisited' AND rating IN (1, 2)) > 0)
FROM workorder_events GROUP BY order_id;
