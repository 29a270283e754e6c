//! The distributed store: ClickHouse over HTTP with the official
//! `clickhouse` crate (RowBinary, LZ4), behind the same [`Store`] trait and
//! answering the same typed [`Query`] as SQLite — identical answers are a
//! test (`tests/it/clickhouse_store.rs`).
//!
//! Schema: `pipelines/clickhouse/*.sql`, applied in order by
//! [`ClickHouseStore::migrate`] and recorded in `minyi_migrations`. The
//! materialized views keep the hourly rollups (`rollup_hour`,
//! `rollup_keyword_hour`); which hours they answer is decided by the same
//! code as in SQLite (`store::sql`), the minutes around them come from the
//! items. Each order's state is folded at write time, as in SQLite, and
//! kept as signed rows in `order_states` (`003_order_states.sql`): the KPIs
//! sum signs instead of folding every event. 不满意化解 (a dissatisfied item
//! with a later satisfied item on its case, or whose order was revisited as
//! satisfied) is computed at query time.
//!
//! Every identifier in the SQL of this module is a literal of its files;
//! every value is bound (`?`, escaped by the crate). Runs on ClickHouse
//! 18.16 (Debian 12's) and current releases; see the schema file for the
//! version gates.
//!
//! The parts, by concern: `schema` applies the schema files, filling in
//! their version gates; `write` turns batches into rows (items, events
//! carrying each order's state, the consumer's progress) and inserts them;
//! `read` answers the typed queries; `recent` follows newly stored
//! items for the live ticker; `incidents` stores the incident tracker's
//! changes and reads the incident list. This file connects and implements [`Store`]
//! over them, alert state included.

mod export;
mod incidents;
mod privacy;
mod read;
mod recent;
mod schema;
mod supervision;
mod write;

use clickhouse::{Client, Row};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;

pub use self::recent::RecentItem;
use self::write::insert_rows;
pub use self::write::{Source, SourcedBatch};
use super::{
    AuditEntry, AuditQuery, Erase, Expired, QuerySettings, Result, Store, StoreError, StoredAfter,
    StoredItem, WriteBatch, WriteOutcome,
};
use crate::query::{Answer, Query};

fn ch(e: clickhouse::error::Error) -> StoreError {
    StoreError::ClickHouse(e.to_string())
}

#[derive(Row, Serialize)]
struct StateRow {
    kind: String,
    id: String,
    updated_at: u64,
    doc: String,
    /// When the row was written (µs): the order of versions saved within
    /// one second.
    written_us: u64,
}

/// Clamps a unix time into ClickHouse's `DateTime` (UInt32) range.
fn datetime(t: i64) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    settings: QuerySettings,
    /// The server's (major, minor) version.
    version: (u32, u32),
}

impl ClickHouseStore {
    /// Connects to `url` (`http://host:8123`; a database in the URL is not
    /// read: use [`ClickHouseStore::connect_db`]) in the default database
    /// and reads the server's version.
    pub async fn connect(url: &str, settings: QuerySettings) -> Result<ClickHouseStore> {
        ClickHouseStore::connect_db(url, "default", settings).await
    }

    pub async fn connect_db(
        url: &str,
        database: &str,
        settings: QuerySettings,
    ) -> Result<ClickHouseStore> {
        let client = Client::default()
            .with_url(url)
            .with_database(database)
            // 18.16 lacks RowBinaryWithNamesAndTypes, which validation needs.
            .with_validation(false)
            .with_compression(clickhouse::Compression::Lz4)
            // Id lists of a whole batch travel in the query text.
            .with_setting("max_query_size", "16777216")
            .with_setting("max_ast_elements", "10000000")
            .with_setting("max_expanded_ast_elements", "10000000");
        let version: String = client
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(|e| StoreError::ClickHouse(format!("cannot reach {url}: {e}")))?;
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Ok(ClickHouseStore {
            client,
            settings,
            version,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server's (major, minor) version.
    pub fn version(&self) -> (u32, u32) {
        self.version
    }
}

impl Store for ClickHouseStore {
    fn export(
        &self,
        filters: crate::query::Filters,
        limit: usize,
    ) -> Option<futures_util::stream::BoxStream<'static, Result<Vec<crate::query::FeedbackRow>>>>
    {
        Some(self.export_stream(filters, limit))
    }

    fn write(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>> {
        let sourced = SourcedBatch {
            items: batch.items.into_iter().map(|i| (i, None)).collect(),
            events: batch.events.into_iter().map(|e| (e, None)).collect(),
        };
        let this = self.clone();
        async move { this.write_sourced(sourced, &[]).await }.boxed()
    }

    fn query(&self, query: Query, now: i64) -> BoxFuture<'static, Result<Answer>> {
        let this = self.clone();
        async move { this.answer(query, now).await }.boxed()
    }

    fn state_load(
        &self,
        kind: &'static str,
        since: i64,
    ) -> BoxFuture<'static, Result<Vec<String>>> {
        let client = self.client.clone();
        async move {
            client
                .query(
                    "SELECT doc FROM (
                         SELECT argMax(doc, (updated_at, written_us)) AS doc, max(updated_at) AS u
                         FROM state WHERE kind = ? GROUP BY id
                     ) WHERE u >= ?",
                )
                .bind(kind)
                .bind(since.max(0) as u64)
                .fetch_all::<String>()
                .await
                .map_err(ch)
        }
        .boxed()
    }

    fn state_save(
        &self,
        kind: &'static str,
        id: String,
        doc: String,
        at: i64,
    ) -> BoxFuture<'static, Result<()>> {
        let client = self.client.clone();
        async move {
            let row = StateRow {
                kind: kind.to_owned(),
                id,
                updated_at: at.max(0) as u64,
                doc,
                written_us: chrono::Utc::now().timestamp_micros().max(0) as u64,
            };
            insert_rows(&client, "state", &[row]).await
        }
        .boxed()
    }

    fn audit_append(&self, entries: Vec<AuditEntry>) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move { this.audit_append(entries).await }.boxed()
    }

    fn audit_read(&self, query: AuditQuery) -> BoxFuture<'static, Result<Vec<AuditEntry>>> {
        let this = self.clone();
        async move { this.audit_read(query).await }.boxed()
    }

    fn erase(&self, target: Erase) -> BoxFuture<'static, Result<u64>> {
        let this = self.clone();
        async move { this.erase(target).await }.boxed()
    }

    fn expire(
        &self,
        items_before: Option<i64>,
        audit_before: i64,
    ) -> BoxFuture<'static, Result<Expired>> {
        let this = self.clone();
        async move { this.expire(items_before, audit_before).await }.boxed()
    }

    fn incidents_began(&self, since: i64, floor: i64) -> BoxFuture<'static, Result<Option<i64>>> {
        let this = self.clone();
        async move { this.incidents_began(since, floor).await }.boxed()
    }

    fn stored_since(
        &self,
        after: StoredAfter,
        since: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<StoredItem>>> {
        let this = self.clone();
        async move { this.stored_since(after, since, limit).await }.boxed()
    }

    fn stored_window(
        &self,
        since: i64,
        whole_from: i64,
    ) -> BoxFuture<'_, Result<(Vec<StoredItem>, StoredAfter)>> {
        self.stored_window(since, whole_from).boxed()
    }

    fn set_incidents(
        &self,
        changes: Vec<crate::incident::Change>,
    ) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move { this.set_incidents(changes).await }.boxed()
    }

    fn set_repeats(&self, marks: Vec<crate::repeat::Mark>) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move { this.set_repeats(marks).await }.boxed()
    }

    fn close(&self) -> BoxFuture<'static, Result<()>> {
        async { Ok(()) }.boxed()
    }
}
