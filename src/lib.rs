//! minyi 民意 — citizen feedback to the police, turned into live wall
//! screens, explorable trends and spike alerts.
//!
//! # How a feedback item travels
//!
//! A producer (one of sixteen channels: the 12345 hotline, the director's
//! mailbox, SMS revisit replies …) sends a raw JSON item ([`model`]'s
//! contract). [`enrich::Enricher`] validates it, masks personal data, parses
//! a revisit reply into a rating, tokenizes with jieba, tags topics and
//! scores sentiment, and yields an [`model::EnrichedItem`] or a
//! [`enrich::Reject`] with the reason. Stores, the API, the dashboards and
//! the alerts all read enriched items only.
//!
//! In `minyi serve` ([`server`]) the item arrives by `POST /api/v1/feedback`
//! or from the [`demo`] feed and goes through [`ingest`]: enriched on the
//! rayon pool, written by the [`store`]'s single writer (with its per-minute
//! rollups, in one transaction, before the request is answered; finished
//! hours are folded into the hourly rollups later), and published on the
//! [`live`] feed as an SSE `item` event. Every tick the dashboards' panels
//! ([`dashboards::Ticker`]) are computed once through the typed [`query`]
//! model and published to all wall screens; every few seconds the
//! [`alerts`] engine judges its rules on the same model and delivers what
//! fires to the walls and the robots. Work orders ([`workorder`]) arrive
//! beside the items and feed the KPIs.
//!
//! At scale the transport and the store change, nothing else: producers
//! write to Kafka, `minyi ingest` ([`kafka::ingest`]) enriches batches and
//! writes them to ClickHouse ([`store::clickhouse`]) with the Kafka offsets
//! they came from, and `minyi api` runs the same [`server`] over that store.
//!
//! # Layout
//!
//! Layers point one way (docs/DESIGN.md, "Module layers"; checked by
//! `tests/it/layers.rs`). On top, the only users of [`server`]:
//! - [`server`]: HTTP routes, auth, the SSE handler, the OpenAPI document,
//!   the embedded web assets; `main.rs` and [`cli`] (the subcommands'
//!   bodies) beside it.
//!
//! Below, modules that run in every deployment and know no HTTP:
//! - [`ingest`]: a body or a demo batch → enrich → store → publish.
//! - [`live`]: the publishing half of live push (item, panels, alert,
//!   incident).
//! - [`alerts`]: rules, detectors, the engine (given a store, the
//!   vocabulary, a clock and a publisher), webhook delivery.
//! - [`dashboards`]: wall screens as data, computed once per tick.
//! - [`demo`]: the built-in demo feed, a source for [`ingest`].
//! - [`kafka`]: topics, the producer, the consumer of `minyi ingest`.
//! - [`metrics`]: counters, histograms, one Prometheus renderer.
//! - [`privacy`]: the access audit's collector and the retention loop.
//! - [`logging`]: `tracing` events as one line each, naming the command.
//! - [`tracker`]: the incident tracker, following the stored items and
//!   storing each one's incident (`minyi serve` and `minyi api`).
//!
//! The core:
//! - [`store`]: the storage seam, SQLite and ClickHouse (each split into
//!   schema, write path, rollups and read path).
//! - [`query`]: the typed query model (filters, summary, timeseries, top,
//!   item lists) and its answers.
//! - [`workorder`]: work-order events and the fold into an order's state.
//! - [`incident`]: same-event incidents, a pure function of the items
//!   (each links to its most similar earlier item within the window).
//! - [`enrich`]: the enrichment core, a pure function per item.
//! - [`pipelines`]: the data files that make it a police system (channels,
//!   topics, gazetteer, dictionaries, lexicons), built in or from a folder.
//! - [`model`]: the data contracts (raw and enriched items).
//! - [`config`]: `minyi.toml`, parsed and validated; imports no other module.

pub mod alerts;
pub mod cli;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod enrich;
pub mod import;
pub mod incident;
pub mod ingest;
pub mod kafka;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod pipelines;
pub mod privacy;
pub mod query;
pub mod repeat;
pub mod report;
pub mod server;
pub mod store;
pub mod tracker;
pub mod workorder;

/// mimalloc for every binary built on this crate (the server, the CLI, the
/// benches): enrichment allocates a few dozen small strings per item, and
/// the system allocator made that a fifth of its time.
#[global_allocator]
static GLOBAL: Allocator = Allocator;

/// mimalloc, asked as its C callers ask it. The `mimalloc` crate's own
/// wrapper passes every allocation through `mi_malloc_aligned`, whose fast
/// path needs a free block already at hand and whose slow path
/// over-allocates (and marks the page, so each later free there must
/// unalign) unless the block size is a power of two — most of
/// enrichment's strings are neither. mimalloc's blocks are multiples of a
/// word and start at a word, so any alignment up to a word is what plain
/// `mi_malloc` gives (the rule `std`'s `System` allocator keeps for
/// `malloc`); larger ones go the aligned way.
struct Allocator;

/// The alignment every block of `mi_malloc` has.
const WORD: usize = std::mem::size_of::<usize>();

/// Whether a block of `size` bytes aligned to `align` is a plain one.
#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= WORD && align <= size
}

unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        // SAFETY: `GlobalAlloc`'s contract is mimalloc's: a non-zero size.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        // SAFETY: as `alloc`.
        unsafe {
            if plain(layout.align(), layout.size()) {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, aligned or not: mimalloc
        // frees both with `mi_free`.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe {
            if plain(layout.align(), new_size) {
                mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};

    /// Every block the allocator gives, plain or aligned, new or moved by a
    /// resize, starts where its layout asks and keeps what was written.
    #[test]
    fn every_block_is_aligned_as_asked() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 24, 40, 72, 100, 1000, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; each block freed with its layout.
                unsafe {
                    let z = alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "alloc_zeroed {size} aligned {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    dealloc(z, layout);
                    for new_size in [size / 2 + 1, size * 3 + 5] {
                        let p = alloc(layout);
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0, "alloc {size} aligned {align}");
                        p.write_bytes(0xa5, size);
                        let q = realloc(p, layout, new_size);
                        assert_eq!(
                            q as usize % align,
                            0,
                            "realloc {size}→{new_size} aligned {align}"
                        );
                        let kept = size.min(new_size);
                        assert!(
                            std::slice::from_raw_parts(q, kept)
                                .iter()
                                .all(|&b| b == 0xa5)
                        );
                        dealloc(q, Layout::from_size_align(new_size, align).unwrap());
                    }
                }
            }
        }
    }
}
