//! Personal data over its lifetime, in ClickHouse: the access audit,
//! erasure on request, retention. In: what to erase or the retention
//! limits. Out: counts. Guarantees: as SQLite's (`store::Store::erase`,
//! `expire`): an item keeps its row, its counts in the rollups and its
//! KPIs — the 不满意化解 a case reference gave it is kept in `resolved`
//! before the reference is blanked — and loses text, tokens, keywords,
//! evidence, contact hash and case reference, by a mutation this waits
//! for. An erasure also takes the item's keywords out of the hourly
//! hot-word counts (merged first, so each key is one row). ClickHouse
//! removes the parts the mutation replaced after `old_parts_lifetime`
//! (8 minutes by default).

use clickhouse::Row;
use clickhouse::query::Query;
use serde::{Deserialize, Serialize};

use super::write::insert_rows;
use super::{ClickHouseStore, ch, datetime};
use crate::store::{
    AuditEntry, AuditQuery, Erase, Expired, Redaction, Result, StoreError, redacted_detail,
};

#[derive(Row, Serialize, Deserialize)]
struct AuditRow {
    at: u32,
    token: String,
    role: String,
    method: String,
    path: String,
    query: String,
    status: u16,
    items: Option<u64>,
}

/// An item an erasure takes, with what its hot-word counts need.
#[derive(Row, Deserialize)]
struct Target {
    id: String,
    ts: u32,
    sentiment: String,
    keywords: Vec<String>,
    case_ref: String,
}

/// How long a mutation may take before an erasure or a retention pass
/// gives up (it goes on in the server; the next pass sees what is left).
const MUTATION_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

impl ClickHouseStore {
    pub(super) async fn audit_append(&self, entries: Vec<AuditEntry>) -> Result<()> {
        let rows: Vec<AuditRow> = entries
            .into_iter()
            .map(|e| AuditRow {
                at: datetime(e.at),
                token: e.token,
                role: e.role,
                method: e.method,
                path: e.path,
                query: e.query,
                status: e.status,
                items: e.items,
            })
            .collect();
        insert_rows(&self.client, "audit", &rows).await
    }

    pub(super) async fn audit_read(&self, q: AuditQuery) -> Result<Vec<AuditEntry>> {
        let token = q.token.unwrap_or_default();
        let rows: Vec<AuditRow> = self
            .client
            .query(
                "SELECT ?fields FROM audit
                 WHERE at >= ? AND at < ? AND (? = '' OR token = ?)
                 ORDER BY at LIMIT ?",
            )
            .bind(datetime(q.from))
            .bind(datetime(q.to))
            .bind(&token)
            .bind(&token)
            .bind(q.limit as u64)
            .fetch_all()
            .await
            .map_err(ch)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                at: i64::from(r.at),
                token: r.token,
                role: r.role,
                method: r.method,
                path: r.path,
                query: r.query,
                status: r.status,
                items: r.items,
            })
            .collect())
    }

    pub(super) async fn erase(&self, target: Erase) -> Result<u64> {
        let (condition, value) = match &target {
            Erase::Item(id) => ("id = ?", id),
            Erase::Contact(hash) => ("visitParamExtractString(detail, 'contact_hash') = ?", hash),
        };
        let targets: Vec<Target> = self
            .client
            .query(&format!(
                "SELECT id, toUInt32(ts), toString(sentiment), keywords, case_ref FROM feedback
                 WHERE {condition} AND redacted != 'erased'"
            ))
            .bind(value)
            .fetch_all()
            .await
            .map_err(ch)?;
        if targets.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        // The dissatisfied items of the erased items' cases too: an erased
        // satisfied follow-up must not un-resolve them.
        // '' matches no dissatisfied item (they have a case) and keeps the
        // array typed: an empty literal is Array(Nothing) on 18.16.
        let cases: Vec<&str> = targets.iter().map(|t| t.case_ref.as_str()).collect();
        self.keep_resolutions(
            "(id IN (SELECT arrayJoin(?)) OR case_ref IN (SELECT arrayJoin(?)))",
            |q| q.bind(&ids).bind(&cases),
        )
        .await?;
        self.forget_keywords(&targets).await?;
        self.redact("has(?, id)", |q| q.bind(&ids), Redaction::Erased)
            .await?;
        Ok(targets.len() as u64)
    }

    pub(super) async fn expire(
        &self,
        items_before: Option<i64>,
        audit_before: i64,
    ) -> Result<Expired> {
        let mut out = Expired::default();
        if let Some(before) = items_before {
            let before = datetime(before);
            out.items = self
                .client
                .query("SELECT count() FROM feedback WHERE ts < ? AND redacted = ''")
                .bind(before)
                .fetch_one()
                .await
                .map_err(ch)?;
            if out.items > 0 {
                let at = |q: Query| q.bind(before);
                self.keep_resolutions("ts < ? AND redacted = ''", at)
                    .await?;
                self.redact("ts < ? AND redacted = ''", at, Redaction::Expired)
                    .await?;
            }
        }
        let before = datetime(audit_before);
        out.audit = self
            .client
            .query("SELECT count() FROM audit WHERE at < ?")
            .bind(before)
            .fetch_one()
            .await
            .map_err(ch)?;
        if out.audit > 0 {
            self.client
                .query("ALTER TABLE audit DELETE WHERE at < ?")
                .bind(before)
                .execute()
                .await
                .map_err(ch)?;
            self.mutations_done("audit").await?;
        }
        Ok(out)
    }

    /// Marks `resolved` the dissatisfied items among those `condition`
    /// (its values bound by `bind`) chooses whose case a later satisfied
    /// item resolves: what the query-time join on `case_ref` gave them,
    /// with the time of the first such item (`resolved_at`, for
    /// [`crate::query::Filters::as_of`]).
    async fn keep_resolutions(&self, condition: &str, bind: impl Fn(Query) -> Query) -> Result<()> {
        let resolved: Vec<(String, u32)> = bind(self.client.query(&format!(
            "SELECT id, min(s) FROM (
                     SELECT id, toUInt32(ts) AS t, case_ref FROM feedback
                     WHERE rating = 3 AND resolved = 0 AND case_ref != '' AND {condition}
                 ) AS dissatisfied ALL INNER JOIN (
                     SELECT case_ref, toUInt32(ts) AS s FROM feedback
                     WHERE rating IN (1, 2) AND case_ref != ''
                 ) AS satisfied USING case_ref
                 WHERE s >= t GROUP BY id"
        )))
        .fetch_all()
        .await
        .map_err(ch)?;
        if resolved.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<String>, Vec<u32>) = resolved.into_iter().unzip();
        self.client
            .query(
                "ALTER TABLE feedback UPDATE resolved = 1,
                     resolved_at = toDateTime(transform(id, ?, ?, toUInt32(0)))
                 WHERE has(?, id)",
            )
            .bind(&ids)
            .bind(&times)
            .bind(&ids)
            .execute()
            .await
            .map_err(ch)?;
        self.mutations_done("feedback").await
    }

    /// Blanks the personal content of the items `condition` chooses.
    async fn redact(
        &self,
        condition: &str,
        bind: impl Fn(Query) -> Query,
        why: Redaction,
    ) -> Result<()> {
        let q = self
            .client
            .query(&format!(
                "ALTER TABLE feedback UPDATE text = '', search = '', tokens = emptyArrayString(),
                     keywords = emptyArrayString(), case_ref = '', detail = ?, redacted = ?
                 WHERE {condition}"
            ))
            .bind(redacted_detail(why))
            .bind(why.as_str());
        bind(q).execute().await.map_err(ch)?;
        self.mutations_done("feedback").await
    }

    /// Takes the keywords of erased items out of `rollup_keyword_hour`:
    /// its parts are merged first so each (hour, keyword, sentiment) is
    /// one row, then one mutation subtracts each key's count.
    async fn forget_keywords(&self, targets: &[Target]) -> Result<()> {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for t in targets {
            let hour = t.ts / 3600 * 3600;
            for k in &t.keywords {
                *counts
                    .entry(format!("{hour}|{k}|{}", t.sentiment))
                    .or_default() += 1;
            }
        }
        if counts.is_empty() {
            return Ok(());
        }
        self.client
            .query("OPTIMIZE TABLE rollup_keyword_hour FINAL")
            .execute()
            .await
            .map_err(ch)?;
        // Counts travel as strings: one type for `transform`'s arrays and
        // default on every server version.
        let (keys, ns): (Vec<String>, Vec<String>) =
            counts.into_iter().map(|(k, n)| (k, n.to_string())).unzip();
        self.client
            .query(
                "ALTER TABLE rollup_keyword_hour
                 UPDATE n = toUInt64(n - toUInt64(transform(
                     concat(toString(toUInt32(hour)), '|', keyword, '|', sentiment), ?, ?, '0')))
                 WHERE has(?, concat(toString(toUInt32(hour)), '|', keyword, '|', sentiment))",
            )
            .bind(&keys)
            .bind(&ns)
            .bind(&keys)
            .execute()
            .await
            .map_err(ch)?;
        self.mutations_done("rollup_keyword_hour").await
    }

    /// Waits until the table's mutations are done (18.16 has no
    /// `mutations_sync`).
    async fn mutations_done(&self, table: &str) -> Result<()> {
        let start = std::time::Instant::now();
        loop {
            let pending: u64 = self
                .client
                .query(
                    "SELECT count() FROM system.mutations
                     WHERE database = currentDatabase() AND table = ? AND is_done = 0",
                )
                .bind(table)
                .fetch_one()
                .await
                .map_err(ch)?;
            if pending == 0 {
                return Ok(());
            }
            if start.elapsed() > MUTATION_WAIT {
                return Err(StoreError::ClickHouse(format!(
                    "{pending} mutation(s) on {table} still running after {} s \
                     (see system.mutations)",
                    MUTATION_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
