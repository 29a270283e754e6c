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
//! over, a minute at a time between write groups (`rollup_folded` says how
//! far; an item arriving late for a folded minute is written to both), so
//! a live item costs one upsert per rollup row, not two. Dashboards read the rollups; a
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

mod incidents;
mod privacy;
mod read;
mod rollups;
mod schema;
mod search;
mod supervision;
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
use self::write::{Job, Prepared, Row, WriteJob, checkpoint_loop, writer_loop};
pub use super::QuerySettings;
use super::{
    AuditEntry, AuditQuery, Erase, Expired, Result, Store, StoreError, StoredAfter, StoredItem,
    WriteBatch, WriteOutcome,
};
use crate::query::{Answer, Query};

/// Batches waiting for the writer; a full queue makes ingest wait.
const WRITE_QUEUE: usize = 64;
/// Most read connections open at once.
const READERS: usize = 4;

pub struct SqliteStore {
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Readers>,
    /// `<dir>/minyi.lock`, locked while the store is open: a second process
    /// on the same folder is refused instead of writing beside this one.
    lock: Arc<Mutex<Option<std::fs::File>>>,
}

/// Takes the data folder's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("minyi.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write;
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = writeln!(f, "{}", std::process::id());
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(StoreError::Locked {
                path: dir.to_owned(),
                holder: holder.trim().to_owned(),
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::DataDir { path, source }),
    }
}

/// The wall clock the writer folds finished hours by, in unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How the writer folds finished hours into the hourly tables.
#[derive(Clone)]
pub struct Folding {
    /// Seconds of minute rows one fold transaction takes: 60 by default
    /// (a minute at a time between write groups); 3600 folds an hour in
    /// one transaction, as the store did before (benches compare).
    pub step_secs: i64,
    /// Most time the writer spends folding after a write group (at least
    /// one step is taken when one is due).
    pub budget: std::time::Duration,
    pub clock: Clock,
}

impl Default for Folding {
    fn default() -> Folding {
        Folding {
            step_secs: 60,
            budget: std::time::Duration::from_millis(50),
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
        }
    }
}

impl SqliteStore {
    /// Opens (creating when needed) `<dir>/minyi.db`, applies pending
    /// migrations and starts the writer.
    pub fn open(dir: &Path, settings: QuerySettings) -> Result<SqliteStore> {
        SqliteStore::open_with(dir, settings, Folding::default())
    }

    /// [`SqliteStore::open`] with the hourly fold's step and clock set.
    pub fn open_with(dir: &Path, settings: QuerySettings, folding: Folding) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let lock = lock_dir(dir)?;
        let path = dir.join("minyi.db");
        let mut conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = OFF;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA secure_delete = ON;",
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
                writer_loop(conn, rx, folding);
                drop(stop_checkpoints);
                let _ = checkpoint_thread.join();
            })
            .expect("spawning a thread");
        Ok(SqliteStore {
            lock: Arc::new(Mutex::new(Some(lock))),
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
        self.send_write(batch, false)
    }

    fn write_history(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>> {
        self.send_write(batch, true)
    }

    fn settle_history(&self) -> BoxFuture<'static, Result<u64>> {
        self.on_writer(rollups::settle)
    }

    fn query(&self, query: Query, now: i64) -> BoxFuture<'static, Result<Answer>> {
        self.on_reader(move |readers| readers.run(&query, now))
    }

    fn state_load(
        &self,
        kind: &'static str,
        since: i64,
    ) -> BoxFuture<'static, Result<Vec<String>>> {
        self.on_reader(move |readers| {
            readers.with(|conn| {
                let docs = conn
                    .prepare_cached("SELECT doc FROM state WHERE kind = ?1 AND updated_at >= ?2")?
                    .query_map(params![kind, since], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(docs)
            })
        })
    }

    fn state_save(
        &self,
        kind: &'static str,
        id: String,
        doc: String,
        at: i64,
    ) -> BoxFuture<'static, Result<()>> {
        // On the writer, as every write: a second writing connection met
        // `database is locked` while the writer started the WAL over (its
        // `cap_wal`), and the writer's `secure_delete` keeps a replaced
        // alert record's sample texts from lingering.
        self.on_writer(move |conn| {
            conn.prepare_cached("INSERT OR REPLACE INTO state VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![kind, id, at, doc])?;
            Ok(())
        })
    }

    fn audit_append(&self, entries: Vec<AuditEntry>) -> BoxFuture<'static, Result<()>> {
        self.on_writer(move |conn| privacy::audit_append(conn, &entries))
    }

    fn audit_read(&self, query: AuditQuery) -> BoxFuture<'static, Result<Vec<AuditEntry>>> {
        self.on_reader(move |readers| readers.with(|conn| privacy::audit_read(conn, &query)))
    }

    fn erase(&self, target: Erase) -> BoxFuture<'static, Result<u64>> {
        self.on_writer(move |conn| privacy::erase(conn, &target))
    }

    fn expire(
        &self,
        items_before: Option<i64>,
        audit_before: i64,
    ) -> BoxFuture<'static, Result<Expired>> {
        let sender = self.writer.lock().expect("not poisoned").clone();
        async move {
            let mut expired = Expired::default();
            // A chunk at a time, so ingest waits for one chunk at most.
            while let Some(before) = items_before {
                let n = run_on(sender.clone(), move |conn| {
                    privacy::expire_items(conn, before)
                })
                .await?;
                expired.items += n;
                if n < privacy::EXPIRE_CHUNK {
                    break;
                }
            }
            expired.audit = run_on(sender, move |conn| {
                privacy::expire_audit(conn, audit_before)
            })
            .await?;
            Ok(expired)
        }
        .boxed()
    }

    fn incidents_began(&self, since: i64, floor: i64) -> BoxFuture<'static, Result<Option<i64>>> {
        self.on_reader(move |readers| {
            readers.with(|conn| incidents::incidents_began(conn, since, floor))
        })
    }

    fn stored_since(
        &self,
        after: StoredAfter,
        since: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<StoredItem>>> {
        self.on_reader(move |readers| {
            readers.with(|conn| incidents::stored_since(conn, &after, since, limit))
        })
    }

    fn set_incidents(
        &self,
        changes: Vec<crate::incident::Change>,
    ) -> BoxFuture<'static, Result<()>> {
        self.on_writer(move |conn| incidents::set(conn, &changes))
    }

    fn set_repeats(&self, marks: Vec<crate::repeat::Mark>) -> BoxFuture<'static, Result<()>> {
        self.on_writer(move |conn| incidents::set_repeats(conn, &marks))
    }

    fn close(&self) -> BoxFuture<'static, Result<()>> {
        // Dropping the sender ends the writer loop once the queue is drained.
        drop(self.writer.lock().expect("not poisoned").take());
        let thread = self.writer_thread.lock().expect("not poisoned").take();
        let lock = self.lock.clone();
        async move {
            if let Some(t) = thread {
                tokio::task::spawn_blocking(move || t.join())
                    .await
                    .map_err(|_| StoreError::Closed)?
                    .map_err(|_| StoreError::Corrupt("the writer thread panicked".into()))?;
            }
            // Written and closed: another process may open the folder now.
            drop(lock.lock().expect("not poisoned").take());
            Ok(())
        }
        .boxed()
    }
}

impl SqliteStore {
    /// Queues a batch for the writer; resolves once it is committed.
    fn send_write(
        &self,
        batch: WriteBatch,
        history: bool,
    ) -> BoxFuture<'static, Result<WriteOutcome>> {
        let sender = self.writer.lock().expect("not poisoned").clone();
        async move {
            let sender = sender.ok_or(StoreError::Closed)?;
            let batch = Prepared {
                rows: batch.items.into_iter().map(Row::new).collect(),
                events: batch.events,
            };
            let (ack, done) = oneshot::channel();
            sender
                .send(Job::Write(WriteJob {
                    batch,
                    history,
                    ack,
                }))
                .await
                .map_err(|_| StoreError::Closed)?;
            let (result, batch) = done.await.map_err(|_| StoreError::Closed)?;
            drop(batch);
            result
        }
        .boxed()
    }

    /// Runs `work` on the reader pool (at most [`READERS`] at once), off
    /// the async threads.
    fn on_reader<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Readers) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let readers = self.readers.clone();
        async move {
            let _permit = readers
                .permits
                .acquire()
                .await
                .map_err(|_| StoreError::Closed)?;
            let r2 = readers.clone();
            tokio::task::spawn_blocking(move || work(&r2))
                .await
                .map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }

    /// Runs `work` on the writer's connection, between write groups.
    fn on_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let sender = self.writer.lock().expect("not poisoned").clone();
        run_on(sender, work).boxed()
    }
}

async fn run_on<T: Send + 'static>(
    sender: Option<mpsc::Sender<Job>>,
    work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let sender = sender.ok_or(StoreError::Closed)?;
    let (tx, rx) = oneshot::channel();
    sender
        .send(Job::Run(Box::new(move |conn| {
            let _ = tx.send(work(conn));
        })))
        .await
        .map_err(|_| StoreError::Closed)?;
    rx.await.map_err(|_| StoreError::Closed)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_store_on_the_same_folder_is_refused_until_the_first_closes() {
        let dir = std::env::temp_dir().join(format!("minyi-lock-{}", std::process::id()));
        let first = SqliteStore::open(&dir, QuerySettings::default()).unwrap();
        let err = SqliteStore::open(&dir, QuerySettings::default())
            .err()
            .expect("a second open must fail");
        let text = err.to_string();
        assert!(
            matches!(err, StoreError::Locked { .. })
                && text.contains(&std::process::id().to_string()),
            "{text}"
        );
        first.close().await.unwrap();
        let again = SqliteStore::open(&dir, QuerySettings::default()).unwrap();
        again.close().await.unwrap();
        drop((first, again));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
