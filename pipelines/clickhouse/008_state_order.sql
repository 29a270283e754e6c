-- minyi's ClickHouse schema, step 8: the order of state documents saved
-- within one second.
--
-- A document's newest version wins by `updated_at`, a unix second: two
-- versions saved in the same second (an alert fired and updated, the
-- incident tracker's position saved twice) were tied, and either could
-- win. `written_us`, the microsecond the row was written, breaks the tie.
-- Rows from before this step read 0.
ALTER TABLE state ADD COLUMN written_us UInt64;
