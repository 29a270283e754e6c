//! Ingest: a request body (or a demo batch) → validated values → enriched
//! items on the rayon pool → one store write → the new items on the live
//! feed. One path for HTTP (`minyi serve`, `minyi api`) and the demo feed;
//! `minyi ingest` reads Kafka messages and writes ClickHouse batches of
//! its own ([`crate::kafka::ingest`]) with the same enrichment. Knows no
//! HTTP: the server hands it the body's bytes.
//!
//! A body is a JSON object, a JSON array, or JSONL. A body that cannot be
//! read at all (malformed JSON, not UTF-8, over the limits) is refused
//! whole; otherwise every item stands alone: a bad one is reported with its
//! index and reason and the rest of the batch is stored. The call returns
//! after the store acknowledged the batch as durable.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::enrich::{Enricher, Reject};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::model::EnrichedItem;
use crate::store::{Store, StoreError, WriteBatch};

/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Most items (or events) in one body.
pub const MAX_BATCH_ITEMS: usize = 10_000;

/// Why a whole body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("malformed JSON: {0}")]
    Malformed(String),
    #[error("body is not valid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("body must be a JSON object, an array of objects, or JSONL")]
    Shape,
    #[error("body has {0} items, more than the limit of {MAX_BATCH_ITEMS}")]
    TooManyItems(usize),
    #[error("body is larger than the limit of {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the body did not arrive within the time limit (body_timeout_seconds)")]
    Timeout,
}

/// One element of a body: its value, or why it could not be read (only
/// JSONL lines can fail alone).
pub type Element = Result<Value, Reject>;

/// Splits a body into its elements. `ndjson`: the content type said JSONL;
/// a body that does not parse as one JSON value but whose lines do is
/// taken as JSONL too.
pub fn parse_body(body: &[u8], ndjson: bool) -> Result<Vec<Element>, BodyError> {
    // A byte-order mark (Excel and Windows tools write one) is not content.
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let elements = if ndjson {
        lines(body)
    } else {
        let text = std::str::from_utf8(body).map_err(|e| BodyError::Utf8(e.valid_up_to()))?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items.into_iter().map(Ok).collect(),
            Ok(v @ Value::Object(_)) => vec![Ok(v)],
            Ok(_) => return Err(BodyError::Shape),
            Err(e) if e.is_eof() || text.trim().is_empty() => {
                return Err(BodyError::Malformed(e.to_string()));
            }
            Err(e) => {
                // Several objects one per line sent as application/json.
                let ls = lines(body);
                if ls.len() > 1 && ls.iter().all(Result::is_ok) {
                    ls
                } else {
                    return Err(BodyError::Malformed(e.to_string()));
                }
            }
        }
    };
    if elements.len() > MAX_BATCH_ITEMS {
        return Err(BodyError::TooManyItems(elements.len()));
    }
    Ok(elements)
}

/// The non-blank lines of a JSONL body, each read alone: a line that is
/// not UTF-8 or not JSON is rejected with its reason, the others stand.
fn lines(body: &[u8]) -> Vec<Element> {
    body.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| {
            let text = std::str::from_utf8(l).map_err(|e| Reject::Utf8(e.valid_up_to()))?;
            serde_json::from_str(text).map_err(|e| Reject::Json(e.to_string()))
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Rejected {
    /// Position in the batch (array index, or JSONL line among non-blank lines).
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct Outcome {
    /// Valid items (new or already stored).
    pub accepted: usize,
    /// Of `accepted`, those stored before (a re-post changes nothing).
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

pub struct Ingestor {
    pub enricher: Arc<Enricher>,
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
    pub metrics: Arc<Metrics>,
}

impl Ingestor {
    /// Enriches and stores feedback items.
    pub async fn feedback(&self, elements: Vec<Element>) -> Result<Outcome, StoreError> {
        let received = Instant::now();
        let enricher = self.enricher.clone();
        let (tx, rx) = oneshot::channel();
        // Enrichment is CPU work: the rayon pool, never the async workers.
        rayon::spawn(move || {
            let now = enricher.now();
            let results: Vec<Result<(EnrichedItem, Arc<crate::live::LiveItem>), Reject>> = elements
                .into_par_iter()
                .enumerate()
                .map(|(i, e)| {
                    let at = crate::enrich::arrival(now, i);
                    let item = e.and_then(|v| enricher.enrich_value(&v, at))?;
                    let compact = crate::live::compact_item(&item);
                    Ok((item, compact))
                })
                .collect();
            let _ = tx.send(results);
        });
        let results = rx.await.map_err(|_| StoreError::Closed)?;
        self.metrics.enrich_seconds.observe(received.elapsed());

        let (accepted, mut outcome) = self.sort_out(results);
        let (items, compact): (Vec<EnrichedItem>, Vec<Arc<crate::live::LiveItem>>) =
            accepted.into_iter().unzip();
        if items.is_empty() {
            return Ok(outcome);
        }
        let batch = WriteBatch {
            items,
            events: Vec::new(),
        };
        let written = self.write(batch, received).await?;
        outcome.accepted = written.new_items.len();
        let mut fresh = Vec::new();
        for (c, new) in compact.into_iter().zip(&written.new_items) {
            if *new {
                fresh.push(c);
            } else {
                outcome.duplicates += 1;
            }
        }
        self.metrics
            .items_stored
            .fetch_add(fresh.len() as u64, Relaxed);
        self.metrics
            .items_duplicate
            .fetch_add(outcome.duplicates as u64, Relaxed);
        self.live.publish_items(fresh);
        Ok(outcome)
    }

    /// Validates and stores work-order events.
    pub async fn events(&self, elements: Vec<Element>) -> Result<Outcome, StoreError> {
        let received = Instant::now();
        let now = self.enricher.now();
        let (events, mut outcome) = self.sort_out(
            elements
                .into_iter()
                .map(|e| e.and_then(|v| self.enricher.parse_event(&v, now))),
        );
        if events.is_empty() {
            return Ok(outcome);
        }
        outcome.accepted = events.len();
        let written = self
            .write(
                WriteBatch {
                    items: Vec::new(),
                    events,
                },
                received,
            )
            .await?;
        outcome.duplicates = outcome.accepted - written.new_events;
        self.metrics
            .events_stored
            .fetch_add(written.new_events as u64, Relaxed);
        Ok(outcome)
    }

    /// Splits per-element results into the good ones and an outcome
    /// listing each rejected element with its index and reason (counted).
    fn sort_out<T>(
        &self,
        results: impl IntoIterator<Item = Result<T, Reject>>,
    ) -> (Vec<T>, Outcome) {
        let mut outcome = Outcome::default();
        let mut good = Vec::new();
        for (index, r) in results.into_iter().enumerate() {
            match r {
                Ok(x) => good.push(x),
                Err(reason) => outcome.rejected.push(Rejected {
                    index,
                    reason: reason.to_string(),
                }),
            }
        }
        self.metrics
            .rejected
            .fetch_add(outcome.rejected.len() as u64, Relaxed);
        (good, outcome)
    }

    async fn write(
        &self,
        batch: WriteBatch,
        received: Instant,
    ) -> Result<crate::store::WriteOutcome, StoreError> {
        let start = Instant::now();
        let written = self.store.write(batch).await?;
        self.metrics.store_seconds.observe(start.elapsed());
        self.metrics
            .lag_micros
            .store(received.elapsed().as_micros() as u64, Relaxed);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_every_shape() {
        assert_eq!(parse_body(br#"{"a":1}"#, false).unwrap().len(), 1);
        assert_eq!(
            parse_body(br#"[{"a":1},{"b":2},3]"#, false).unwrap().len(),
            3
        );
        let jsonl = parse_body(b"{\"a\":1}\n\n{\"b\":\n{\"c\":3}\n", true).unwrap();
        assert_eq!(jsonl.len(), 3);
        assert!(matches!(jsonl[1], Err(Reject::Json(_))));
        // JSONL sent as application/json.
        assert_eq!(parse_body(b"{\"a\":1}\n{\"b\":2}", false).unwrap().len(), 2);
        // A BOM first is not content.
        assert_eq!(
            parse_body(b"\xef\xbb\xbf{\"a\":1}", false).unwrap().len(),
            1
        );
        assert_eq!(
            parse_body(b"\xef\xbb\xbf{\"a\":1}\r\n", true)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_jsonl_line_that_is_not_utf8_is_rejected_alone() {
        let body = b"{\"a\":1}\n{\"b\":\"\xff\"}\n{\"c\":3}\n";
        let elements = parse_body(body, true).unwrap();
        assert_eq!(elements.len(), 3);
        assert!(elements[0].is_ok() && elements[2].is_ok());
        assert_eq!(elements[1], Err(Reject::Utf8(6)));
    }

    #[test]
    fn refused_bodies_say_why() {
        assert!(matches!(
            parse_body(b"{\"a\":", false),
            Err(BodyError::Malformed(_))
        ));
        assert!(matches!(
            parse_body(b"", false),
            Err(BodyError::Malformed(_))
        ));
        assert_eq!(parse_body(b"42", false), Err(BodyError::Shape));
        assert_eq!(parse_body(b"\"x\xff\"", false), Err(BodyError::Utf8(2)));
        let many = format!("[{}]", vec!["{}"; MAX_BATCH_ITEMS + 1].join(","));
        assert_eq!(
            parse_body(many.as_bytes(), false),
            Err(BodyError::TooManyItems(MAX_BATCH_ITEMS + 1))
        );
    }
}
