//! `minyi import`: archive files → the files read and sorted by time
//! ([`crate::import::load`]) → enrichment on all cores, the same as live
//! intake → the store (SQLite under `--data`, or ClickHouse), in time
//! order, several batches in flight while the next chunk is enriched.
//! Every refused row is one stderr line with its file, row number and
//! reason, listed in file and row order after the writes; a re-import
//! stores nothing new (ids, or the id derived from the content, are the
//! idempotency key). `--dry-run` shows the mapping, the
//! first rows as enriched and the refusals, and writes nothing (it does not
//! open the store, so it runs beside a `minyi serve` on the same folder).
//!
//! Imported items are history: they are not pushed to live screens, the
//! retention pass runs at the end (items older than `retention_days` keep
//! their counts and lose their text at once), and the time span imported is
//! recorded so the alert engine does not fire on it (see
//! [`crate::alerts::IMPORT_KIND`]).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rayon::prelude::*;

use crate::config::Checked;
use crate::enrich::{Enricher, Reject};
use crate::import::{Loaded, Options, Pending, Refused};
use crate::model::EnrichedItem;
use crate::store::{Store, WriteBatch, WriteOutcome};

pub struct ImportArgs {
    pub files: Vec<PathBuf>,
    pub data: PathBuf,
    pub clickhouse: Option<String>,
    pub database: String,
    pub channel: Option<String>,
    pub map: Vec<String>,
    pub timezone: Option<String>,
    pub dry_run: bool,
}

/// Items enriched together: large enough to keep every core busy, small
/// enough that writing one chunk overlaps enriching the next.
const CHUNK: usize = 20_000;
/// Items per store write, and writes in flight at once (bounds memory,
/// keeps the store busy): SQLite commits what waits together, so several
/// mid-sized batches; ClickHouse wants few large inserts (each insert is a
/// part to merge).
const SQLITE_WRITES: (usize, usize) = (5_000, 8);
const CLICKHOUSE_WRITES: (usize, usize) = (50_000, 2);
/// Rows shown as enriched by `--dry-run`.
const SAMPLE: usize = 3;

/// What one import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub new: u64,
    pub duplicates: u64,
    pub refused: u64,
}

pub fn run(args: ImportArgs, checked: Checked) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let overrides = args
        .map
        .iter()
        .map(|m| crate::import::parse_map(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let timezone = match &args.timezone {
        None => checked.timezone,
        Some(tz) => crate::config::parse_offset(tz)
            .with_context(|| format!("--timezone {tz:?} is not a UTC offset like \"+08:00\""))?,
    };
    let enricher = Arc::new(Enricher::from_config(&checked).context("loading the pipeline files")?);
    let channels: Vec<(String, String)> = enricher
        .channels()
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    let default_channel = match &args.channel {
        None => None,
        Some(c) => Some(
            crate::import::fields::channel_code(&channels, c).with_context(|| {
                format!("--channel {c:?} is neither a code nor a name of channels.toml")
            })?,
        ),
    };
    let options = Options {
        overrides: &overrides,
        channels: &channels,
        default_channel: default_channel.as_deref(),
        timezone,
    };
    let mut loaded = crate::import::load(&args.files, &options).map_err(anyhow::Error::msg)?;
    for f in &loaded.files {
        let columns: Vec<String> = f
            .mapping
            .headers
            .iter()
            .zip(&f.mapping.columns)
            .filter_map(|(h, c)| c.map(|c| format!("{h}→{}", c.name())))
            .collect();
        let ignored: Vec<&str> = f.mapping.ignored().collect();
        tracing::info!(
            "{}: {} rows ({}); columns {}{}",
            f.path.display(),
            f.rows,
            f.read_as,
            columns.join(", "),
            if ignored.is_empty() {
                String::new()
            } else {
                format!("; ignored {}", ignored.join(", "))
            }
        );
    }
    tracing::info!(
        "read and sorted {} rows in {:.1} s",
        loaded.rows(),
        started.elapsed().as_secs_f64()
    );
    if args.dry_run {
        return dry_run(&enricher, loaded);
    }

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let store: Arc<dyn Store> = runtime.block_on(open_store(&args, &checked))?;
    let mut summary = Summary {
        rows: loaded.rows(),
        refused: loaded.refused.len() as u64,
        ..Summary::default()
    };
    // Refusals are listed once, in file and row order, after the writes:
    // those of enrichment come chunk by chunk in time order.
    if !loaded.refused.is_empty() {
        tracing::warn!(
            "{} rows refused while reading (listed after the import)",
            loaded.refused.len()
        );
    }
    let mut refusals = std::mem::take(&mut loaded.refused);
    let span = loaded
        .items
        .first()
        .zip(loaded.items.last())
        .map(|(a, b)| (a.ts, b.ts));
    let items = std::mem::take(&mut loaded.items);
    let (batch_items, max_in_flight) = if args.clickhouse.is_some() {
        CLICKHOUSE_WRITES
    } else {
        SQLITE_WRITES
    };
    let mut progress = Progress::new(items.len() as u64);
    let mut in_flight: std::collections::VecDeque<tokio::task::JoinHandle<_>> =
        std::collections::VecDeque::new();
    let mut written = 0u64;
    let settle = |handle: tokio::task::JoinHandle<crate::store::Result<WriteOutcome>>,
                  summary: &mut Summary|
     -> anyhow::Result<u64> {
        let outcome = runtime
            .block_on(handle)
            .context("a store write task failed")?
            .context("writing to the store")?;
        let new = outcome.new_items.iter().filter(|n| **n).count() as u64;
        summary.new += new;
        summary.duplicates += outcome.new_items.len() as u64 - new;
        Ok(outcome.new_items.len() as u64)
    };
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<Pending> = items.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let (enriched, refused) = enrich_chunk(&enricher, chunk);
        summary.refused += refused.len() as u64;
        written += refused.len() as u64;
        refusals.extend(refused);
        let mut enriched = enriched.into_iter();
        loop {
            let batch: Vec<EnrichedItem> = enriched.by_ref().take(batch_items).collect();
            if batch.is_empty() {
                break;
            }
            let write = store.write_history(WriteBatch {
                items: batch,
                events: Vec::new(),
            });
            in_flight.push_back(runtime.spawn(write));
            while in_flight.len() > max_in_flight {
                let done = in_flight.pop_front().expect("not empty");
                written += settle(done, &mut summary)?;
                progress.show(written);
            }
        }
    }
    while let Some(done) = in_flight.pop_front() {
        written += settle(done, &mut summary)?;
        progress.show(written);
    }
    progress.finish(written);
    report_all(&loaded, refusals);
    runtime.block_on(finish(&store, &checked, span, summary))?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "imported {} rows in {secs:.1} s ({:.0} rows/s): {} new, {} stored before, {} refused",
        summary.rows,
        summary.rows as f64 / secs.max(1e-9),
        summary.new,
        summary.duplicates,
        summary.refused
    );
    Ok(summary)
}

async fn open_store(args: &ImportArgs, checked: &Checked) -> anyhow::Result<Arc<dyn Store>> {
    let settings = crate::store::QuerySettings::from_config(checked);
    Ok(match &args.clickhouse {
        Some(url) => {
            let store = crate::store::clickhouse::ClickHouseStore::connect_db(
                url,
                &args.database,
                settings,
            )
            .await?;
            if !store.schema_ready().await? {
                anyhow::bail!(
                    "no minyi tables in database {:?} at {url}: run `minyi migrate --clickhouse {url}` first",
                    args.database
                );
            }
            Arc::new(store)
        }
        None => Arc::new(
            crate::store::sqlite::SqliteStore::open(&args.data, settings)
                .with_context(|| format!("opening the store in {}", args.data.display()))?,
        ),
    })
}

/// After the last write: the retention pass (history older than
/// `retention_days` loses its text now, not at the server's next hourly
/// pass), the imported span recorded for the alert engine, the store
/// closed (SQLite: its WAL checkpointed).
async fn finish(
    store: &Arc<dyn Store>,
    checked: &Checked,
    span: Option<(i64, i64)>,
    summary: Summary,
) -> anyhow::Result<()> {
    let counted = store.settle_history().await?;
    if counted > 0 {
        tracing::info!("counted {counted} items in the rollups");
    }
    let now = chrono::Utc::now().timestamp();
    if checked.retention_days > 0 {
        let before = now - i64::from(checked.retention_days) * 86_400;
        let audit_before = now - i64::from(checked.audit_retention_days) * 86_400;
        let expired = store.expire(Some(before), audit_before).await?;
        if expired.items > 0 {
            tracing::info!(
                "retention: {} imported items older than {} days keep their counts, not their text",
                expired.items,
                checked.retention_days
            );
        }
    }
    if let Some((from, to)) = span
        && summary.new > 0
    {
        crate::alerts::record_import(store.as_ref(), from, to, summary.new, now).await?;
    }
    store.close().await?;
    Ok(())
}

/// Enriches one chunk on all cores, in order.
fn enrich_chunk(enricher: &Enricher, chunk: Vec<Pending>) -> (Vec<EnrichedItem>, Vec<Refused>) {
    let now = enricher.now();
    let results: Vec<Result<EnrichedItem, Refused>> = chunk
        .into_par_iter()
        .map(|p| {
            enricher
                .enrich_value(&p.raw, now)
                .map_err(|reason: Reject| Refused {
                    file: p.file,
                    row: p.row,
                    reason: reason.to_string(),
                })
        })
        .collect();
    let mut items = Vec::with_capacity(results.len());
    let mut refused = Vec::new();
    for r in results {
        match r {
            Ok(i) => items.push(i),
            Err(r) => refused.push(r),
        }
    }
    (items, refused)
}

/// One stderr line per refused row, in file and row order.
fn report_all(loaded: &Loaded, mut refused: Vec<Refused>) {
    refused.sort_by_key(|r| (r.file, r.row));
    for r in &refused {
        tracing::warn!(
            "{} row {}: refused: {}",
            loaded.files[r.file].path.display(),
            r.row,
            r.reason
        );
    }
}

/// `--dry-run`: every row enriched, nothing written; the first rows as
/// enriched on stdout, the refusals on stderr.
fn dry_run(enricher: &Enricher, mut loaded: Loaded) -> anyhow::Result<Summary> {
    let items = std::mem::take(&mut loaded.items);
    let mut summary = Summary {
        rows: loaded.rows(),
        refused: loaded.refused.len() as u64,
        ..Summary::default()
    };
    let mut sample = Vec::new();
    let mut refused = std::mem::take(&mut loaded.refused);
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<Pending> = items.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let (enriched, bad) = enrich_chunk(enricher, chunk);
        summary.new += enriched.len() as u64;
        summary.refused += bad.len() as u64;
        refused.extend(bad);
        sample.extend(enriched.into_iter().take(SAMPLE - sample.len().min(SAMPLE)));
    }
    report_all(&loaded, refused);
    let mut out = std::io::stdout().lock();
    writeln!(out, "first rows as they would be stored (text masked):")?;
    for item in &sample {
        writeln!(out, "{}", serde_json::to_string_pretty(item)?)?;
    }
    writeln!(
        out,
        "dry run: {} rows, {} would be imported (some may be stored already), {} refused; nothing written",
        summary.rows, summary.new, summary.refused
    )?;
    Ok(summary)
}

/// Progress on stderr: one line rewritten in place on a terminal (rows,
/// rows/s, time left), else a plain line at every tenth.
struct Progress {
    total: u64,
    started: Instant,
    last: Instant,
    tty: bool,
    next_tenth: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            total,
            started: now,
            last: now,
            tty: std::io::stderr().is_terminal(),
            next_tenth: 1,
        }
    }

    fn line(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let left = if rate > 0.0 {
            (self.total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        format!(
            "importing: {done} / {} rows ({:.0} %), {rate:.0} rows/s, {left:.0} s left",
            self.total,
            100.0 * done as f64 / self.total.max(1) as f64
        )
    }

    fn show(&mut self, done: u64) {
        if self.tty {
            if self.last.elapsed() >= Duration::from_millis(200) {
                self.last = Instant::now();
                eprint!("\r{}\x1b[K", self.line(done));
            }
        } else if done * 10 >= self.next_tenth * self.total && self.total > 0 {
            self.next_tenth = done * 10 / self.total + 1;
            tracing::info!("{}", self.line(done));
        }
    }

    fn finish(&mut self, done: u64) {
        if self.tty {
            eprintln!("\r{}\x1b[K", self.line(done));
        }
    }
}
