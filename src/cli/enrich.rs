//! `minyi enrich`: raw JSONL on stdin → one enriched JSON object per line on
//! stdout, in input order. A rejected line becomes one warning in the log
//! (stderr) naming the line number and the reason (values quoted in a
//! reason are masked); processing goes on.
//!
//! Lines are read in chunks and each chunk is enriched on all cores (rayon),
//! then written in order, so memory is bounded by the chunk size and the
//! output order is the input order.

use std::io::{BufRead, Write};

use rayon::prelude::*;

use crate::enrich::{Enricher, Reject};

/// Lines enriched together; bounds memory, large enough to keep every core busy.
const CHUNK_LINES: usize = 2048;

/// Counts of one run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub accepted: u64,
    pub rejected: u64,
}

/// Runs the filter. Only I/O errors on the streams are errors.
pub fn run(
    enricher: &Enricher,
    input: impl BufRead,
    mut out: impl Write,
) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    let mut lines = input.split(b'\n');
    let mut line_no = 0u64;
    loop {
        let mut chunk: Vec<(u64, Vec<u8>)> = Vec::with_capacity(CHUNK_LINES);
        for line in lines.by_ref() {
            let mut line = line?;
            line_no += 1;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            chunk.push((line_no, line));
            if chunk.len() == CHUNK_LINES {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        let now = enricher.now();
        let results: Vec<(u64, Result<String, Reject>)> = chunk
            .par_iter()
            .enumerate()
            .map(|(i, (no, bytes))| {
                let at = crate::enrich::arrival(now, i);
                let r = enricher.enrich_bytes(bytes, at).map(|item| {
                    serde_json::to_string(&item).expect("enriched items always serialize")
                });
                (*no, r)
            })
            .collect();
        for (no, r) in results {
            match r {
                Ok(json) => {
                    out.write_all(json.as_bytes())?;
                    out.write_all(b"\n")?;
                    summary.accepted += 1;
                }
                Err(reason) => {
                    tracing::warn!("line {no}: rejected: {reason}");
                    summary.rejected += 1;
                }
            }
        }
    }
    out.flush()?;
    Ok(summary)
}
