//! Live push over Server-Sent Events (`GET /api/v1/live`).
//!
//! Two feeds, both computed once and shared by every subscriber:
//! - `item`: each newly stored item, compact and masked, through a bounded
//!   broadcast channel. A screen that falls behind skips ahead (it is told
//!   how many it missed) and never slows ingest or other screens.
//! - `panels`: the data of every dashboard panel, computed by one ticker
//!   task per tick and held in a watch channel; a screen gets the latest
//!   on connect and then each new tick. The number of queries per tick is
//!   the number of distinct panel queries, whatever the number of screens.
//!
//! Streams end when the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::metrics::Metrics;
use crate::model::EnrichedItem;
use crate::store::clickhouse::ClickHouseStore;

/// Items buffered for slow screens before they skip ahead.
const ITEM_BUFFER: usize = 4096;
/// Longest ticker text, in characters.
const TICKER_CHARS: usize = 140;

pub struct Live {
    items: broadcast::Sender<Arc<str>>,
    panels: watch::Sender<Option<Arc<str>>>,
    alerts: broadcast::Sender<Arc<str>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            items: broadcast::channel(ITEM_BUFFER).0,
            panels: watch::channel(None).0,
            alerts: broadcast::channel(256).0,
        }
    }
}

/// The `item` event's data: what a ticker shows (masked text, shortened).
#[derive(serde::Serialize)]
struct Ticker<'a> {
    id: &'a str,
    channel: &'a str,
    received_at: String,
    text: String,
    rating: Option<u8>,
    district: Option<&'a str>,
    unit: Option<&'a str>,
    topics: &'a [String],
    sentiment: &'a str,
    score: f32,
}

impl Ticker<'_> {
    fn json(&self) -> Arc<str> {
        serde_json::to_string(self)
            .expect("plain data serializes")
            .into()
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(TICKER_CHARS).collect()
}

pub fn compact_item(item: &EnrichedItem) -> Arc<str> {
    Ticker {
        id: &item.id,
        channel: &item.channel,
        received_at: item.received_at.to_rfc3339(),
        text: shorten(&item.text),
        rating: item.rating.map(|r| r.number()),
        district: item.district.as_deref(),
        unit: item.unit.as_deref(),
        topics: &item.topics,
        sentiment: item.sentiment.label.as_str(),
        score: item.sentiment.score,
    }
    .json()
}

/// How often `minyi api` looks for rows `minyi ingest` stored.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// `minyi api`: pushes the rows other processes store in ClickHouse as
/// `item` events — those received within the last hour and stored after
/// this process started (a backfill of old items is not news).
pub async fn follow_clickhouse(state: Arc<AppState>, store: ClickHouseStore) {
    let mut after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut after_id = String::new();
    let mut every = tokio::time::interval(FOLLOW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let since = state.enricher.now().timestamp() - 3600;
        match store.recent(since, (after, &after_id), 5000).await {
            Ok(rows) => {
                if let Some(last) = rows.last() {
                    after = last.ingested_us;
                    after_id.clone_from(&last.id);
                }
                let items = rows
                    .iter()
                    .map(|r| {
                        Ticker {
                            id: &r.id,
                            channel: &r.channel,
                            received_at: r.received_at.clone(),
                            text: shorten(&r.text),
                            rating: (r.rating > 0).then_some(r.rating),
                            district: (!r.district.is_empty()).then_some(r.district.as_str()),
                            unit: (!r.unit.is_empty()).then_some(r.unit.as_str()),
                            topics: &r.topics,
                            sentiment: &r.sentiment,
                            score: r.score,
                        }
                        .json()
                    })
                    .collect();
                state.live.publish_items(items);
            }
            Err(e) => eprintln!("minyi api: following new rows: {e}"),
        }
    }
}

impl Live {
    pub fn publish_items(&self, items: Vec<Arc<str>>) {
        for i in items {
            // No subscriber is not an error.
            let _ = self.items.send(i);
        }
    }

    pub fn publish_panels(&self, data: Arc<str>) {
        self.panels.send_replace(Some(data));
    }

    /// A receiver of the panels feed (tests and tools).
    pub fn subscribe_panels(&self) -> watch::Receiver<Option<Arc<str>>> {
        self.panels.subscribe()
    }

    pub fn publish_alert(&self, data: Arc<str>) {
        let _ = self.alerts.send(data);
    }

    /// The event stream of one subscriber.
    pub fn subscribe(
        &self,
        shutdown: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let items = BroadcastStream::new(self.items.subscribe()).map(|r| match r {
            Ok(data) => Event::default().event("item").data(&*data),
            Err(BroadcastStreamRecvError::Lagged(n)) => Event::default()
                .event("skipped")
                .data(json!({"items": n}).to_string()),
        });
        let alerts = BroadcastStream::new(self.alerts.subscribe())
            .filter_map(|r| async move { r.ok() })
            .map(|data| Event::default().event("alert").data(&*data));
        let panels = WatchStream::new(self.panels.subscribe())
            .filter_map(|p| async move { p })
            .map(|data| Event::default().event("panels").data(&*data));
        let hello = stream::once(async { Event::default().event("hello").data("{}") });
        let guard = ClientGuard::new(metrics);
        let merged = hello
            .chain(stream::select(stream::select(panels, items), alerts))
            .map(move |e| {
                let _ = &guard;
                Ok(e)
            })
            .take_until(shutdown.cancelled_owned());
        Sse::new(merged).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

/// Counts a subscriber in `minyi_sse_clients` while its stream lives.
struct ClientGuard(Arc<Metrics>);

impl ClientGuard {
    fn new(metrics: Arc<Metrics>) -> ClientGuard {
        metrics.sse_clients.fetch_add(1, Relaxed);
        ClientGuard(metrics)
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Relaxed);
    }
}
