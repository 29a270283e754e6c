//! The publishing half of the live push: what ingest, the panel ticker and
//! the alert engine publish, and every subscriber (the SSE handler of the
//! server, `GET /api/v1/live`) receives. Knows no HTTP.
//!
//! Three feeds, each computed once and shared by every subscriber:
//! - `item`: each newly stored item, compact and masked, through a bounded
//!   broadcast channel. A subscriber that falls behind skips ahead (its
//!   receiver reports how many it missed) and never slows ingest or other
//!   subscribers.
//! - `panels`: the data of every dashboard panel, computed by one ticker
//!   task per tick and held in a watch channel; a subscriber gets the
//!   latest on connect and then each new tick. The number of queries per
//!   tick is the number of distinct panel queries, whatever the number of
//!   screens; none when no screen watches ([`Live::city_watched`]).
//! - `alert`: each change of an alert (fired, updated, acknowledged,
//!   resolved), through a bounded broadcast channel.
//! - `incident`: each incident formed or grown (published by the incident
//!   tracker, [`crate::tracker`]), through a bounded broadcast channel.
//!
//! Scopes (a district bureau's or a station's token or wall): items and
//! alerts carry their place, so a scoped subscriber receives only those of
//! its scope; panels are computed per scope in use — once per tick for
//! every subscriber of that scope ([`Live::subscribe_scoped`],
//! [`Live::scopes_in_use`]).
//!
//! In `minyi api` the items are stored by other processes; [`follow_clickhouse`]
//! reads the newly stored rows and publishes them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::model::EnrichedItem;
use crate::query::Scope;
use crate::store::clickhouse::ClickHouseStore;

/// Items buffered for slow screens before they skip ahead.
const ITEM_BUFFER: usize = 4096;
/// Longest ticker text, in characters.
const TICKER_CHARS: usize = 140;

pub struct Live {
    items: broadcast::Sender<Arc<LiveItem>>,
    /// The city's panels.
    panels: watch::Sender<Option<Arc<str>>>,
    /// The panels of each scope with subscribers (a std Mutex: held only
    /// to look up or insert, never across an await). An entry whose
    /// receivers are all gone is dropped by the next [`Live::scopes_in_use`].
    scoped: Mutex<HashMap<Scope, watch::Sender<Option<Arc<str>>>>>,
    alerts: broadcast::Sender<Arc<LiveAlert>>,
    /// Incidents formed or grown, each with its place (district and unit
    /// most of its items name), as the items are filtered.
    incidents: broadcast::Sender<Arc<LiveItem>>,
    /// While a backfill of history runs (the demo's first start): the time
    /// (epoch seconds) its items have reached; 0 otherwise. Screens say so,
    /// since today's figures and their comparisons are partial until then.
    history: AtomicI64,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            items: broadcast::channel(ITEM_BUFFER).0,
            panels: watch::channel(None).0,
            scoped: Mutex::default(),
            alerts: broadcast::channel(256).0,
            incidents: broadcast::channel(256).0,
            history: AtomicI64::new(0),
        }
    }
}

/// One `item` event: the item's place, which scoped subscribers are
/// filtered by, and the event's data.
#[derive(Debug)]
pub struct LiveItem {
    pub district: Option<String>,
    pub unit: Option<String>,
    pub data: Arc<str>,
}

/// One `alert` event: the place the alert concerns (the city: empty) and
/// the alert as JSON.
#[derive(Debug)]
pub struct LiveAlert {
    pub place: Scope,
    pub data: Arc<str>,
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
    fn event(&self) -> Arc<LiveItem> {
        Arc::new(LiveItem {
            district: self.district.map(str::to_owned),
            unit: self.unit.map(str::to_owned),
            data: serde_json::to_string(self)
                .expect("plain data serializes")
                .into(),
        })
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(TICKER_CHARS).collect()
}

pub fn compact_item(item: &EnrichedItem) -> Arc<LiveItem> {
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
    .event()
}

/// Most scopes whose panels are computed each tick (a wall per district
/// bureau and a few stations' walls fit; each costs its panels' queries).
pub const MAX_SCOPES: usize = 64;

/// How often `minyi api` looks for rows `minyi ingest` stored.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// `minyi api`: pushes the rows other processes store in ClickHouse as
/// `item` events — those received within the last hour and stored after
/// this process started (a backfill of old items is not news).
pub async fn follow_clickhouse(
    live: Arc<Live>,
    store: ClickHouseStore,
    clock: impl Fn() -> DateTime<FixedOffset>,
    shutdown: CancellationToken,
) {
    let mut after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut after_id = String::new();
    let mut every = tokio::time::interval(FOLLOW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let since = clock().timestamp() - 3600;
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
                        .event()
                    })
                    .collect();
                live.publish_items(items);
            }
            Err(e) => tracing::warn!("following new rows: {e}"),
        }
    }
}

impl Live {
    pub fn publish_items(&self, items: Vec<Arc<LiveItem>>) {
        for i in items {
            // No subscriber is not an error.
            let _ = self.items.send(i);
        }
    }

    /// A backfill of history has written items up to `until` (epoch
    /// seconds); `None` when it is done.
    pub fn loading_history(&self, until: Option<i64>) {
        self.history.store(until.unwrap_or(0), Relaxed);
    }

    /// Up to when a backfill of history running now has written items.
    pub fn history_loading(&self) -> Option<i64> {
        Some(self.history.load(Relaxed)).filter(|&t| t != 0)
    }

    pub fn publish_panels(&self, data: Arc<str>) {
        self.panels.send_replace(Some(data));
    }

    /// Whether any screen subscribes to the city's panels. When none does,
    /// the ticker computes nothing for the city and the latest is
    /// forgotten ([`Live::forget_panels`]): at 10M items on ClickHouse its
    /// queries were a constant load that slowed every analyst's.
    pub fn city_watched(&self) -> bool {
        self.panels.receiver_count() > 0
    }

    /// Drops the city's latest panels, so a screen that subscribes later
    /// waits for the next beat rather than showing figures of long ago.
    pub fn forget_panels(&self) {
        self.panels.send_replace(None);
    }

    /// A receiver of the panels feed (tests and tools).
    pub fn subscribe_panels(&self) -> watch::Receiver<Option<Arc<str>>> {
        self.panels.subscribe()
    }

    /// Publishes the panels computed for a scope (the city's go to
    /// [`Live::publish_panels`]); nobody listening is not an error.
    pub fn publish_scoped_panels(&self, scope: &Scope, data: Arc<str>) {
        let scoped = self.scoped.lock().expect("not poisoned");
        if let Some(tx) = scoped.get(scope) {
            tx.send_replace(Some(data));
        }
    }

    /// The scopes with subscribers now, whose panels the ticker computes;
    /// forgets those whose last subscriber left.
    pub fn scopes_in_use(&self) -> Vec<Scope> {
        let mut scoped = self.scoped.lock().expect("not poisoned");
        scoped.retain(|_, tx| tx.receiver_count() > 0);
        let mut v: Vec<Scope> = scoped.keys().cloned().collect();
        v.sort();
        v
    }

    /// An incident formed or grew: `data` is its summary as JSON.
    pub fn publish_incident(&self, district: Option<String>, unit: Option<String>, data: Arc<str>) {
        let _ = self.incidents.send(Arc::new(LiveItem {
            district,
            unit,
            data,
        }));
    }

    pub fn publish_alert(&self, place: Scope, data: Arc<str>) {
        let _ = self.alerts.send(Arc::new(LiveAlert { place, data }));
    }

    /// A new subscriber's receivers of the three feeds, for the city.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_scoped(&Scope::city())
            .expect("the city is always served")
    }

    /// A subscriber of one scope: the panels computed for it (from the
    /// ticker's next beat on, or the latest when others of the scope are
    /// subscribed already); the items and alerts are filtered by the
    /// subscriber ([`Subscription::scope`]). None when [`MAX_SCOPES`]
    /// other scopes have subscribers.
    pub fn subscribe_scoped(&self, scope: &Scope) -> Option<Subscription> {
        let panels = if scope.is_city() {
            self.panels.subscribe()
        } else {
            let mut scoped = self.scoped.lock().expect("not poisoned");
            match scoped.get(scope) {
                Some(tx) => tx.subscribe(),
                None => {
                    scoped.retain(|_, tx| tx.receiver_count() > 0);
                    if scoped.len() >= MAX_SCOPES {
                        return None;
                    }
                    let (tx, rx) = watch::channel(None);
                    scoped.insert(scope.clone(), tx);
                    rx
                }
            }
        };
        Some(Subscription {
            scope: scope.clone(),
            items: self.items.subscribe(),
            panels,
            alerts: self.alerts.subscribe(),
            incidents: self.incidents.subscribe(),
        })
    }
}

/// One subscriber's view of the feeds: the items and alerts published
/// from now on, and the latest panels (then each new tick).
pub struct Subscription {
    /// What the subscriber may see: items it admits, alerts it covers.
    pub scope: Scope,
    pub items: broadcast::Receiver<Arc<LiveItem>>,
    pub panels: watch::Receiver<Option<Arc<str>>>,
    pub alerts: broadcast::Receiver<Arc<LiveAlert>>,
    /// Incidents, filtered by their place as items are.
    pub incidents: broadcast::Receiver<Arc<LiveItem>>,
}
