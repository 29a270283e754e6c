//! `GET /api/v1/live`: one subscriber's [`Subscription`] of the live feeds
//! as Server-Sent Events — `hello` first, then `panels` (the latest on
//! connect, then each tick), `item`, `alert`, `incident`, and `skipped` when a slow
//! screen fell behind the item feed and skipped ahead. The stream ends when
//! the server shuts down.
//!
//! A scoped subscriber (a district bureau's token or wall) receives only
//! the items and incidents its scope admits and the alerts it covers; its panels are
//! those computed for its scope.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_util::sync::CancellationToken;

use crate::live::Subscription;
use crate::metrics::Metrics;

/// The event stream of one subscriber.
pub fn stream(
    feeds: Subscription,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let scope = Arc::new(feeds.scope);
    let for_items = scope.clone();
    let items = BroadcastStream::new(feeds.items).filter_map(move |r| {
        let event = match r {
            Ok(item) => for_items
                .admits(item.district.as_deref(), item.unit.as_deref())
                .then(|| Event::default().event("item").data(&*item.data)),
            Err(BroadcastStreamRecvError::Lagged(n)) => Some(
                Event::default()
                    .event("skipped")
                    .data(json!({"items": n}).to_string()),
            ),
        };
        std::future::ready(event)
    });
    let for_incidents = scope.clone();
    let incidents = BroadcastStream::new(feeds.incidents).filter_map(move |r| {
        let event = r
            .ok()
            .filter(|i| for_incidents.admits(i.district.as_deref(), i.unit.as_deref()))
            .map(|i| Event::default().event("incident").data(&*i.data));
        std::future::ready(event)
    });
    let alerts = BroadcastStream::new(feeds.alerts).filter_map(move |r| {
        let event = r
            .ok()
            .filter(|a| scope.covers(&a.place))
            .map(|a| Event::default().event("alert").data(&*a.data));
        std::future::ready(event)
    });
    let panels = WatchStream::new(feeds.panels)
        .filter_map(|p| async move { p })
        .map(|data| Event::default().event("panels").data(&*data));
    let hello = stream::once(async { Event::default().event("hello").data("{}") });
    let guard = ClientGuard::new(metrics);
    let merged = hello
        .chain(stream::select(
            stream::select(panels, items),
            stream::select(alerts, incidents),
        ))
        .map(move |e| {
            let _ = &guard;
            Ok(e)
        })
        .take_until(shutdown.cancelled_owned());
    Sse::new(merged).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
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
