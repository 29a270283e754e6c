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

use super::metrics::Metrics;
use crate::model::EnrichedItem;

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
pub fn compact_item(item: &EnrichedItem) -> Arc<str> {
    let text: String = item.text.chars().take(TICKER_CHARS).collect();
    json!({
        "id": item.id,
        "channel": item.channel,
        "received_at": item.received_at.to_rfc3339(),
        "text": text,
        "rating": item.rating,
        "district": item.district,
        "unit": item.unit,
        "topics": item.topics,
        "sentiment": item.sentiment.label,
        "score": item.sentiment.score,
    })
    .to_string()
    .into()
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
