//! Archives in: other systems' exports (12345 work-order sheets, SMS-revisit
//! tables, mailbox exports) as CSV, XLSX or JSONL with Chinese headers and
//! local times, read into raw feedback objects of the data contract and
//! put in time order. In: the files, `--map` overrides, the default
//! channel, the zone of zone-less times. Out: a [`Loaded`] — each file's
//! mapping, every readable row as a raw item with its time, sorted by time
//! (then file, then row), and every refused row with its reason.
//! Guarantees: a bad row is refused alone, with its file, its row number
//! and a reason that quotes no personal data; enrichment, masking and
//! validation are left to the same [`crate::enrich::Enricher`] live intake
//! uses (`minyi import`, `src/cli/import.rs`, runs it and writes the store).
//!
//! Why sort: a store writes items of one minute and hour together cheaply;
//! history in random order cost the SQLite writer 44–115 µs an item against
//! ~11 µs in time order.

pub mod fields;
pub mod read;

use std::path::PathBuf;

use chrono::FixedOffset;
use rayon::prelude::*;
use serde_json::Value;

pub use fields::{Field, Mapping, RowRules, parse_map};

/// What an import reads, besides the files.
pub struct Options<'a> {
    /// `--map` overrides: column → field (None: ignore the column).
    pub overrides: &'a [(String, Option<Field>)],
    /// (code, name) of every configured channel.
    pub channels: &'a [(String, String)],
    /// `--channel`.
    pub default_channel: Option<&'a str>,
    /// The zone of times written without one.
    pub timezone: FixedOffset,
}

/// One file as read.
#[derive(Debug)]
pub struct FileRead {
    pub path: PathBuf,
    pub read_as: String,
    pub mapping: Mapping,
    /// Rows read (refused ones included).
    pub rows: u64,
}

/// A row refused before enrichment (or by it: the CLI adds those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Index into [`Loaded::files`].
    pub file: usize,
    pub row: u64,
    pub reason: String,
}

/// A row as a raw item, with where it came from.
#[derive(Debug)]
pub struct Pending {
    /// `received_at`, unix seconds.
    pub ts: i64,
    pub file: usize,
    pub row: u64,
    pub raw: Value,
}

/// Every file of one import.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<FileRead>,
    /// In time order.
    pub items: Vec<Pending>,
    pub refused: Vec<Refused>,
}

impl Loaded {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// Reads every file, maps its rows and sorts them by time. A file that
/// cannot be read, or whose headers cannot be mapped, is an error: nothing
/// of the import is written. `--map` overrides that no file's headers use
/// are an error too (a typo would silently ignore a column).
pub fn load(paths: &[PathBuf], options: &Options) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    let rules = RowRules {
        channels: options.channels,
        default_channel: options.default_channel,
        timezone: options.timezone,
    };
    let tables = paths
        .iter()
        .map(|p| read::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    unused_overrides(&tables, options.overrides)?;
    for (file, (path, table)) in paths.iter().zip(tables).enumerate() {
        let mapping = Mapping::new(&table.headers, options.overrides)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !mapping.has(Field::Channel) && options.default_channel.is_none() {
            return Err(format!(
                "{}: no column gives the channel (渠道, 来源): give --channel CODE",
                path.display()
            ));
        }
        let rows = (table.rows.len() + table.unreadable.len()) as u64;
        loaded
            .refused
            .extend(table.unreadable.into_iter().map(|(row, reason)| Refused {
                file,
                row,
                reason,
            }));
        let mapped: Vec<Result<Pending, Refused>> = table
            .rows
            .into_par_iter()
            .map(|(row, cells)| {
                fields::raw_item(&mapping, &rules, |i| cells.get(i).unwrap_or(""))
                    .map(|(ts, raw)| Pending { ts, file, row, raw })
                    .map_err(|reason| Refused { file, row, reason })
            })
            .collect();
        for m in mapped {
            match m {
                Ok(p) => loaded.items.push(p),
                Err(r) => loaded.refused.push(r),
            }
        }
        loaded.files.push(FileRead {
            path: path.clone(),
            read_as: table.read_as,
            mapping,
            rows,
        });
    }
    loaded
        .items
        .par_sort_unstable_by_key(|p| (p.ts, p.file, p.row));
    loaded.refused.sort_by_key(|r| (r.file, r.row));
    Ok(loaded)
}

fn unused_overrides(
    tables: &[read::Table],
    overrides: &[(String, Option<Field>)],
) -> Result<(), String> {
    for (column, _) in overrides {
        let used = tables
            .iter()
            .any(|t| t.headers.iter().any(|h| fields::same_header(h, column)));
        if !used {
            return Err(format!("--map {column}=…: no file has a column {column:?}"));
        }
    }
    Ok(())
}
