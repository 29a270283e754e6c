//! The embedded store: one SQLite file (`<data>/minyi.db`) in WAL mode.
//!
//! Writes go through one writer thread that owns the only writing
//! connection: batches queue on a bounded channel (a full queue makes
//! ingest wait — backpressure), and the writer commits every batch waiting
//! at that moment in one transaction (group commit, `synchronous = FULL`,
//! so a batch acknowledged is on disk). Should the group fail, each batch
//! is retried in its own transaction, so one bad batch never takes the
//! others down.
//!
//! An item is written with its per-minute rollups in the same transaction:
//! `rollup_minute` counts items by channel × topic × district × unit ×
//! sentiment × rating (topic `*` counts every item once, other rows count
//! it once per topic) and `rollup_keyword` counts keywords by district ×
//! sentiment (the hot words of a wall, of a district, of complaints).
//! Hourly tables answer wide ranges: `rollup_hour` and
//! `rollup_keyword_hour` are folded from the minute rows once an hour is
//! over (`rollup_folded` says how far; an item arriving late for a folded
//! hour is written to both), so a live item costs one upsert per rollup
//! row, not two. Dashboards read the rollups; a
//! query the rollups cannot answer exactly (keyword search, several topics
//! at once, keywords by topic or rating) reads the items.
//!
//! Reads run on a small pool of read-only connections, which WAL lets run
//! beside the writer without blocking it.
//!
//! The parts, by concern: `schema` holds the migrations and applies them
//! when the store opens; `write` the writer thread (group commit, items,
//! work-order events, resolutions) and the checkpointer; `rollups` the
//! rollup counts a write group adds, and the folding of finished hours
//! into the hourly tables (the `FOLDED` watermark the queries read);
//! `read` the reader pool and the queries. This file opens the store and
//! implements [`Store`] over them.

mod read;
mod rollups;
mod schema;
mod write;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rusqlite::{Connection, params};
use tokio::sync::{Semaphore, mpsc, oneshot};

use self::read::Readers;
use self::schema::migrate;
use self::write::{Prepared, Row, WriteJob, checkpoint_loop, writer_loop};
pub use super::QuerySettings;
use super::{Result, Store, StoreError, WriteBatch, WriteOutcome};
use crate::query::{Answer, Query};

/// Batches waiting for the writer; a full queue makes ingest wait.
const WRITE_QUEUE: usize = 64;
/// Most read connections open at once.
const READERS: usize = 4;

pub struct SqliteStore {
    /// Alert state is small and rare: its own connection, not the writer's queue.
    state: Arc<Mutex<Connection>>,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Readers>,
}

impl SqliteStore {
    /// Opens (creating when needed) `<dir>/minyi.db`, applies pending
    /// migrations and starts the writer.
    pub fn open(dir: &Path, settings: QuerySettings) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("minyi.db");
        let mut conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = OFF;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 0;",
        )?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        // Checkpoints (copying the WAL back into the database) run on their
        // own thread and connection, so the writer never pays for them.
        let checkpointer = Connection::open(&path)?;
        checkpointer.execute_batch("PRAGMA busy_timeout = 5000;")?;
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel::<()>();
        let checkpoint_thread = std::thread::Builder::new()
            .name("minyi-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stopped))
            .expect("spawning a thread");
        let thread = std::thread::Builder::new()
            .name("minyi-sqlite-writer".into())
            .spawn(move || {
                writer_loop(conn, rx);
                drop(stop_checkpoints);
                let _ = checkpoint_thread.join();
            })
            .expect("spawning a thread");
        let state = Connection::open(&path)?;
        state.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;")?;
        Ok(SqliteStore {
            state: Arc::new(Mutex::new(state)),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
                settings,
            }),
        })
    }
}

impl Store for SqliteStore {
    fn write(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>> {
        let sender = self.writer.lock().expect("not poisoned").clone();
        async move {
            let sender = sender.ok_or(StoreError::Closed)?;
            let batch = Prepared {
                rows: batch.items.into_iter().map(Row::new).collect(),
                events: batch.events,
            };
            let (ack, done) = oneshot::channel();
            sender
                .send(WriteJob { batch, ack })
                .await
                .map_err(|_| StoreError::Closed)?;
            let (result, batch) = done.await.map_err(|_| StoreError::Closed)?;
            drop(batch);
            result
        }
        .boxed()
    }

    fn query(&self, query: Query, now: i64) -> BoxFuture<'static, Result<Answer>> {
        let readers = self.readers.clone();
        async move {
            let _permit = readers
                .permits
                .acquire()
                .await
                .map_err(|_| StoreError::Closed)?;
            let r2 = readers.clone();
            tokio::task::spawn_blocking(move || r2.run(&query, now))
                .await
                .map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }

    fn state_load(
        &self,
        kind: &'static str,
        since: i64,
    ) -> BoxFuture<'static, Result<Vec<String>>> {
        let conn = self.state.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = conn.lock().expect("not poisoned");
                let docs = conn
                    .prepare_cached("SELECT doc FROM state WHERE kind = ?1 AND updated_at >= ?2")?
                    .query_map(params![kind, since], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(docs)
            })
            .await
            .map_err(|_| StoreError::Closed)?
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
        let conn = self.state.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = conn.lock().expect("not poisoned");
                conn.prepare_cached("INSERT OR REPLACE INTO state VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![kind, id, at, doc])?;
                Ok(())
            })
            .await
            .map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'static, Result<()>> {
        // Dropping the sender ends the writer loop once the queue is drained.
        drop(self.writer.lock().expect("not poisoned").take());
        let thread = self.writer_thread.lock().expect("not poisoned").take();
        async move {
            if let Some(t) = thread {
                tokio::task::spawn_blocking(move || t.join())
                    .await
                    .map_err(|_| StoreError::Closed)?
                    .map_err(|_| StoreError::Corrupt("the writer thread panicked".into()))?;
            }
            Ok(())
        }
        .boxed()
    }
}
