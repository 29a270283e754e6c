//! Fuzz target: an ingest body through `parse_body` and the enricher.
//!
//! The first byte of the input chooses the path, the rest is the body:
//! - bit 0: the body is declared JSONL (`application/x-ndjson`);
//! - bit 1: the elements are work-order events (`Enricher::parse_event`)
//!   instead of feedback items (`Enricher::enrich_value`);
//! - bit 2 (items only): every line of the body is also enriched alone as a
//!   Kafka message (`Enricher::enrich_bytes`), without `parse_body`.
//!
//! Properties: nothing panics; a body is split into elements or refused
//! with a reason; every element ends as an enriched item (or event) or as a
//! reject whose reason is not empty; and no text an item or an event keeps,
//! nor any reason, shows an unmasked mobile number (see [`unmasked_mobile`]).

#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use libfuzzer_sys::fuzz_target;
use minyi::enrich::{Enricher, Reject, arrival};
use minyi::ingest::parse_body;
use minyi::model::EnrichedItem;
use minyi::workorder::WorkOrderEvent;

static ENRICHER: LazyLock<Enricher> =
    LazyLock::new(|| Enricher::builtin(b"fuzz-key").expect("the built-in pipeline files load"));

/// A fixed clock, so a crash reproduces (items of the samples are from
/// May 2025; later times are refused as lying in the future).
static NOW: LazyLock<DateTime<FixedOffset>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2025-06-01T12:00:00+08:00").expect("a valid time")
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let ndjson = mode & 1 != 0;
    let events = mode & 2 != 0;
    let kafka = mode & 4 != 0;
    let enricher = &*ENRICHER;
    let now = *NOW;

    match parse_body(body, ndjson) {
        Err(e) => {
            let reason = e.to_string();
            assert!(!reason.is_empty(), "a body refused without a reason: {e:?}");
            assert_no_mobile("body error", &reason);
        }
        Ok(elements) => {
            for (i, element) in elements.into_iter().enumerate() {
                if events {
                    let r = element.and_then(|v| enricher.parse_event(&v, now));
                    check_event(r);
                } else {
                    let r = element.and_then(|v| enricher.enrich_value(&v, arrival(now, i)));
                    check_item(r);
                }
            }
        }
    }

    if kafka && !events {
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            check_item(enricher.enrich_bytes(line, arrival(now, i)));
        }
    }
});

fn check_reject(r: &Reject) {
    let reason = r.to_string();
    assert!(!reason.is_empty(), "a reject without a reason: {r:?}");
    assert_no_mobile("reject reason", &reason);
}

fn check_item(r: Result<EnrichedItem, Reject>) {
    let item = match r {
        Err(e) => return check_reject(&e),
        Ok(item) => item,
    };
    assert_no_mobile("text", &item.text);
    if let Some(c) = &item.case_ref {
        assert_no_mobile("case_ref", c);
    }
    for p in &item.unknown_places {
        assert_no_mobile("unknown_places", p);
    }
    for t in item.tokens.iter().chain(&item.keywords) {
        assert_no_mobile("tokens/keywords", t);
    }
    if !is_hashed_id(&item.id) {
        assert_no_mobile("id", &item.id);
    }
    // What the store and the live feed write must not fail either.
    serde_json::to_string(&item).expect("an item serializes");
    minyi::live::compact_item(&item);
}

fn check_event(r: Result<WorkOrderEvent, Reject>) {
    let e = match r {
        Err(e) => return check_reject(&e),
        Ok(e) => e,
    };
    for id in std::iter::once(&e.order_id).chain(&e.feedback_id) {
        if !is_hashed_id(id) {
            assert_no_mobile("event id", id);
        }
    }
    if let Some(u) = &e.unit {
        assert_no_mobile("event unit", u);
    }
    serde_json::to_string(&e).expect("an event serializes");
}

/// `p-` or `h-` and 24 hex digits: an id replaced by its keyed hash, or
/// derived from the item, whose digits may spell anything.
fn is_hashed_id(id: &str) -> bool {
    (id.strip_prefix("p-").or_else(|| id.strip_prefix("h-")))
        .is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_any_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// An unmasked mobile number in `s`: `1[3-9]` and nine more ASCII digits
/// standing alone, i.e. with no digit (ASCII or full-width) right before or
/// right after. A longer digit run that merely contains such eleven digits
/// is not reported: the masker classifies whole runs, and keeps runs of 12
/// to 14 digits (no mobile, landline, ID or card) as written by design.
fn unmasked_mobile(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    for i in 0..chars.len() {
        let window = match chars.get(i..i + 11) {
            Some(w) => w,
            None => break,
        };
        let alone = (i == 0 || !is_any_digit(chars[i - 1]))
            && chars.get(i + 11).is_none_or(|&c| !is_any_digit(c));
        if alone
            && window[0] == '1'
            && ('3'..='9').contains(&window[1])
            && window.iter().all(char::is_ascii_digit)
        {
            return Some(window.iter().collect());
        }
    }
    None
}

fn assert_no_mobile(field: &str, s: &str) {
    if let Some(m) = unmasked_mobile(s) {
        panic!("unmasked mobile number {m} in {field}: {s:?}");
    }
}
