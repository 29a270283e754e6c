//! Personal data over its lifetime: who read it (the access audit), how
//! long it is kept (retention). Erasure on request is one store call
//! ([`Store::erase`]); the HTTP layer records the caller and answers.
//!
//! The [`Auditor`] collects one [`AuditEntry`] per API request (the
//! server's middleware builds them) and appends them to the store in
//! batches, at most a second after the request or when many wait; an entry
//! the store refuses is kept and retried, and the last ones are written on
//! shutdown. [`run_retention`] applies `retention_days` and
//! `audit_retention_days` when the server starts and every hour.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::{AuditEntry, Store};

/// Entries waiting that make the auditor write at once.
const FLUSH_AT: usize = 512;
/// Most entries kept while the store refuses them; older ones are dropped
/// (and counted as failures).
const MAX_WAITING: usize = 200_000;
/// How often waiting entries are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

pub struct Auditor {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    waiting: Mutex<Vec<AuditEntry>>,
    /// Written one batch at a time, in order.
    writing: tokio::sync::Mutex<()>,
    wake: Notify,
}

impl Auditor {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Auditor {
        Auditor {
            store,
            metrics,
            waiting: Mutex::new(Vec::new()),
            writing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
        }
    }

    /// Queues one entry; it is stored within a second.
    pub fn record(&self, entry: AuditEntry) {
        let mut waiting = self.waiting.lock().expect("not poisoned");
        waiting.push(entry);
        if waiting.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// Stores every entry queued so far; on failure they stay queued.
    pub async fn flush(&self) -> crate::store::Result<()> {
        let _writing = self.writing.lock().await;
        let batch = std::mem::take(&mut *self.waiting.lock().expect("not poisoned"));
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        match self.store.audit_append(batch.clone()).await {
            Ok(()) => {
                self.metrics.audit_entries.fetch_add(n, Relaxed);
                Ok(())
            }
            Err(e) => {
                self.metrics.audit_failures.fetch_add(1, Relaxed);
                let mut waiting = self.waiting.lock().expect("not poisoned");
                let newer = std::mem::replace(&mut *waiting, batch);
                waiting.extend(newer);
                let excess = waiting.len().saturating_sub(MAX_WAITING);
                if excess > 0 {
                    waiting.drain(..excess);
                    tracing::error!(
                        "audit: dropped the {excess} oldest entries the store would not take"
                    );
                }
                Err(e)
            }
        }
    }

    /// Writes queued entries every second (or when many wait) until
    /// shutdown, then once more.
    pub async fn run(&self, shutdown: CancellationToken) {
        loop {
            let stop = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(FLUSH_EVERY) => false,
                _ = self.wake.notified() => false,
            };
            if let Err(e) = self.flush().await {
                tracing::error!("audit: cannot store entries (kept, retried): {e}");
            }
            if stop {
                return;
            }
        }
    }
}

/// Applies retention now and every hour until shutdown: items received
/// more than `retention_days` ago (0: none) lose their personal content,
/// audit entries older than `audit_retention_days` are dropped. `clock`
/// gives unix seconds.
pub async fn run_retention(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    retention_days: u32,
    audit_retention_days: u32,
    clock: impl Fn() -> i64,
    shutdown: CancellationToken,
) {
    loop {
        let now = clock();
        let items_before = (retention_days > 0).then(|| now - i64::from(retention_days) * 86_400);
        let audit_before = now - i64::from(audit_retention_days) * 86_400;
        match store.expire(items_before, audit_before).await {
            Ok(done) => {
                metrics.items_expired.fetch_add(done.items, Relaxed);
                if done.items > 0 || done.audit > 0 {
                    tracing::info!(
                        items = done.items,
                        audit_entries = done.audit,
                        "retention: items older than {retention_days} days lost their text, \
                         audit entries older than {audit_retention_days} days were dropped"
                    );
                }
            }
            Err(e) => tracing::error!("retention: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
        }
    }
}
