-- minyi's ClickHouse schema, step 5: search that finds.
--
-- `search` is the text a search looks in (src/query/search.rs): the masked
-- text with ASCII letters in lower case and every masked span (what masking
-- leaves visible of a phone, an ID, an e-mail, a plate, a name) a space, so
-- a word of `q` is found as a substring (`position`) and never in masked
-- data. The pattern is `search::MASKED_SPAN`, character for character (a
-- test compares them). As a DEFAULT the column is computed on insert, and
-- on read for the parts written before this step until they are merged, so
-- stored items are searchable at once. Erasure and retention blank it with
-- the text.
ALTER TABLE feedback
    ADD COLUMN search String DEFAULT replaceRegexpAll(lower(text), '(?:[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][a-z])?[a-z0-9@._%+-]*\\*{3,}[a-z0-9@._%+-]*|[\\x{4e00}-\\x{9fff}]\\*{1,2}', ' ');
