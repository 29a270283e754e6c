-- minyi's ClickHouse schema, step 11: when a kept 不满意化解 happened.
--
-- A compared period's 不满意化解率 counts the resolutions as they stood as
-- long before now (`as_of`): the summary reads the satisfied items and
-- revisits received before then. `resolved` (step 4) keeps an item's
-- resolution once erasure or retention blanked its case reference, and
-- now `resolved_at` keeps its time: the satisfied item that resolved it
-- (as SQLite's `items.resolved_at`). 0 (1970): resolved before this step,
-- at a time not kept — counted as resolved at any time.
ALTER TABLE feedback ADD COLUMN resolved_at DateTime DEFAULT toDateTime(0);
