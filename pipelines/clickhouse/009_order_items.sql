-- minyi's ClickHouse schema, step 9: an item's work orders, found by the item.
--
-- Lists and exports show each item's work orders (`work_orders`). They were
-- read from `order_states`, whose key is (created_at, order_id): every page
-- of a list scanned all the states (at 10M items an export spent most of its
-- time there). `order_items` keeps the same states — a row per state, +1
-- when an order takes it, −1 when it leaves it — keyed by the item, so a
-- page reads only its own items' rows. It is fed from the events as
-- `order_states` is (the same state columns), and filled here from it.
--
-- Stop `minyi ingest` before this step and start it after, as for step 3:
-- a state written between the view and the fill would count twice.
CREATE TABLE IF NOT EXISTS order_items (
    feedback_id String,
    order_id    String,
    sign        Int8,
    resolved    UInt8
) ENGINE = CollapsingMergeTree(sign) ORDER BY (feedback_id, order_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS order_items_mv TO order_items AS
SELECT s.1 AS feedback_id, order_id, s.2 AS sign, s.3 AS resolved
FROM workorder_events
ARRAY JOIN [(old_feedback_id, toInt8(-replaces), old_resolved),
            (new_feedback_id, toInt8(sets), new_resolved)] AS s
WHERE sign != 0;

INSERT INTO order_items (feedback_id, order_id, sign, resolved)
SELECT feedback_id, order_id, sign, resolved FROM order_states;
