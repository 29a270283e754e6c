-- minyi's ClickHouse schema, step 4: personal data over its lifetime.
--
-- `redacted` says why an item's text is gone ('expired' by retention,
-- 'erased' on request; '' while kept); erasure and retention blank the
-- item's text, tokens, keywords, case reference and detail by a mutation.
-- `resolved` keeps an item's 不满意化解 once its case reference is blanked:
-- it is set, in the same pass, on the dissatisfied items a later satisfied
-- item on their case resolves (the KPI otherwise joins on `case_ref` at
-- query time).
ALTER TABLE feedback
    ADD COLUMN redacted String DEFAULT '',
    ADD COLUMN resolved UInt8 DEFAULT 0;

-- The access audit: one row per API request (who, what, result, items
-- returned), never an item's text. Append-only: minyi only inserts, and
-- retention drops whole old rows (`audit_retention_days`).
CREATE TABLE IF NOT EXISTS audit (
    at     DateTime,
    token  String,
    role   String,
    method String,
    path   String,
    query  String,
    status UInt16,
    items  Nullable(UInt64)
) ENGINE = MergeTree() PARTITION BY toYYYYMM(at) ORDER BY (at, token);
