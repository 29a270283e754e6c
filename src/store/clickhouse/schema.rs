//! The ClickHouse schema: the steps of `pipelines/clickhouse/*.sql`
//! applied in order, recorded in `minyi_migrations`. In: the steps (file
//! name, SQL) and the server's version. Out: the names of the steps
//! applied now. Guarantees: a step recorded before is never run again; the
//! version gates (`{{lc}}`) are filled for the server at hand, so one set
//! of files runs on 18.16 and on current releases; a step is recorded only
//! once all its statements ran.

use super::{ClickHouseStore, ch};
use crate::store::{Result, StoreError};

impl ClickHouseStore {
    /// Applies the schema steps (file name, SQL) not applied before, in
    /// order, each statement once; returns the names applied now.
    pub async fn migrate(&self, steps: &[(String, String)]) -> Result<Vec<String>> {
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS minyi_migrations
                     (name String, applied_at DateTime) ENGINE = TinyLog",
            )
            .execute()
            .await
            .map_err(ch)?;
        let done: Vec<String> = self
            .client
            .query("SELECT name FROM minyi_migrations")
            .fetch_all()
            .await
            .map_err(ch)?;
        let mut applied = Vec::new();
        for (name, sql) in steps {
            if done.contains(name) {
                continue;
            }
            for statement in statements(&self.render_gates(sql)) {
                self.client
                    .query_raw(&statement)
                    .execute()
                    .await
                    .map_err(|e| StoreError::ClickHouse(format!("{name}: {e}")))?;
            }
            self.client
                .query("INSERT INTO minyi_migrations (name, applied_at) VALUES (?, now())")
                .bind(name)
                .execute()
                .await
                .map_err(ch)?;
            applied.push(name.clone());
        }
        Ok(applied)
    }

    /// Whether the schema is in place (`minyi migrate` ran).
    pub async fn schema_ready(&self) -> Result<bool> {
        let n: u64 = self
            .client
            .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'feedback'")
            .fetch_one()
            .await
            .map_err(ch)?;
        Ok(n > 0)
    }

    /// Fills the version gates of the schema files.
    fn render_gates(&self, sql: &str) -> String {
        let lc = if self.version >= (19, 9) {
            "LowCardinality(String)"
        } else {
            "String"
        };
        sql.replace("{{lc}}", lc)
    }
}

/// Splits a schema file into statements: `;` at the end of a line ends
/// one; comment lines are dropped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let s = current.trim().trim_end_matches(';').trim().to_owned();
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_files_split_into_statements() {
        let s = statements(
            "-- a comment; with a semicolon\nCREATE TABLE a (x UInt8)\n  ENGINE = Memory;\n\nSELECT 1;\n",
        );
        assert_eq!(
            s,
            ["CREATE TABLE a (x UInt8)\n  ENGINE = Memory", "SELECT 1"]
        );
    }

    #[test]
    fn every_shipped_statement_is_gated_and_split() {
        let s = statements(crate::pipelines::CLICKHOUSE_SCHEMA[0].1);
        assert!(s.len() >= 10, "{}", s.len());
        assert!(s.iter().all(|st| st.starts_with("CREATE")), "{s:?}");
    }
}
