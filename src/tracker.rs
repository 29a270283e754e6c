//! The incident tracker: follows the stored items, assigns each to its
//! incident ([`crate::incident`]) and writes every change back to the
//! store; publishes each incident that formed or grew as an `incident`
//! event. One tracker per deployment: in `minyi serve` beside the SQLite
//! writer, in `minyi api` over ClickHouse (the consumers of `minyi ingest`
//! do not assign: two of them would each see half of an event).
//!
//! In: the store's items in the order they were stored
//! ([`Store::stored_since`]). Out: [`Store::set_incidents`] calls and
//! `incident` events. Guarantees: the incidents are a function of the set
//! of stored items (whatever the order of storing, the split between
//! consumers, or a restart); an item's incident is stored within a poll
//! (half a second) of the item being stored.
//!
//! The tracker keeps its position in the store's state (kind
//! `tracker`): every item stored up to it has its incident stored. It is
//! saved when a poll finds nothing new and at least every [`SAVE_EVERY`]
//! while items flow, [`Tracker::settle`] behind what was read (over
//! ClickHouse an insert may show after a later one).
//!
//! On start the tracker reads the items received within two windows of now
//! (in time order, from the store) — from further back when an incident
//! stored for them began earlier, so that its first item is read too (at
//! most 30 days back). Those stored up to its position are restored with
//! the incidents stored for them ([`Assigner::restore`]): a restart renames
//! nothing, and a report read after it equals the one pushed before. The
//! others (stored while no tracker ran: a crash between a write and its
//! assignment, or the seconds since the last save) are assigned as new,
//! and the incidents that differ from those stored are written. A database
//! without a position (from before it was kept) is replayed whole: the
//! window's items are reassigned and its differences written.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::incident::{Assigner, Change, Matcher, Parts, Signature, Vocabulary};
use crate::live::Live;
use crate::query::{Answer, Filters, Query};
use crate::repeat::{ContactItem, Mark, Repeats};
use crate::store::{Store, StoredAfter, StoredItem};

/// How often the tracker looks for newly stored items.
const POLL: Duration = Duration::from_millis(500);
/// Stored items read at once.
const PAGE: usize = 5000;
/// Items assigned in one go on the blocking pool: a shutdown waits for
/// one chunk at most.
const CHUNK: usize = 1000;
/// How far back a restart replays, at most, to reach the first item of an
/// incident still growing.
const MAX_REPLAY_DAYS: i64 = 30;
/// How often, at most, the tracker saves its position while following.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// [`Tracker::settle`] over ClickHouse: inserts of several writers become
/// visible within seconds of their stamp; half a minute is ample.
pub const CLICKHOUSE_SETTLE: Duration = Duration::from_secs(30);
/// The state kind and id of the tracker's position.
const POSITION: (&str, &str) = ("tracker", "position");

/// Most incidents published after one poll (the largest changes first are
/// not chosen: a burst beyond this is published at the next growth).
const MAX_EVENTS: usize = 50;

pub struct Tracker {
    /// The enricher's words as signatures weigh them (and the enricher).
    pub words: Arc<Vocabulary>,
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
    pub window_hours: u32,
    /// Days a repeat complaint looks back (`repeat_window_days`).
    pub repeat_days: u32,
    /// Told after every poll that left nothing unassigned.
    pub progress: Arc<Progress>,
    /// How long the saved position stays behind an item read: how long the
    /// store's order of storing may show an item after a newer one
    /// (ClickHouse: an insert that becomes visible after a later one, or
    /// stamped by a writer whose clock lags). A restart assigns the items of
    /// that stretch again, so none is left out. Zero where the order never
    /// goes back (SQLite's row numbers).
    pub settle: Duration,
}

/// How far the tracker got, for those who read incidents right after
/// items were stored (the alert engine names the incident an alert
/// consists of): the start of the newest poll after which every item
/// stored before it had its incident stored.
pub struct Progress {
    caught_up: watch::Sender<Option<Instant>>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            caught_up: watch::channel(None).0,
        }
    }
}

impl Progress {
    fn caught_up(&self, poll_started: Instant) {
        self.caught_up.send_replace(Some(poll_started));
    }

    /// Waits until the items stored before this call have their
    /// incidents stored, at most `limit` (no tracker, or one still
    /// replaying, or a failing store). Returns whether they have.
    pub async fn wait(&self, limit: Duration) -> bool {
        let asked = Instant::now();
        let mut rx = self.caught_up.subscribe();
        matches!(
            tokio::time::timeout(limit, rx.wait_for(|t| t.is_some_and(|t| t >= asked))).await,
            Ok(Ok(_))
        )
    }
}

/// Where a tracker is: its assigner (None once shut down mid-way), the
/// store's order of storing it got to, and the changes not stored yet (a
/// write failed: the items are assigned once, so their changes wait here).
pub struct Following {
    assigner: Option<Assigner>,
    after: StoredAfter,
    pending: Vec<Change>,
    /// The contacts' recent items, and the repeat marks not stored yet.
    repeats: Repeats,
    pending_marks: Vec<Mark>,
    /// When the repeats last forgot their old items (unix seconds).
    forgot_at: i64,
    /// The position saved last, and when.
    saved: StoredAfter,
    saved_at: Instant,
    /// Where it got to with every incident stored, and when: the position
    /// to save once `settle` has passed ...
    reached: std::collections::VecDeque<(Instant, StoredAfter)>,
    /// ... and the newest whose `settle` has passed.
    settled: StoredAfter,
}

impl Tracker {
    /// Replays the recent items, then follows the store until `shutdown`.
    /// A failed read or write is logged and retried at the next poll.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut following = loop {
            match self.start(&shutdown).await {
                Ok(Some(f)) => break f,
                Ok(None) => return,
                Err(e) => tracing::warn!("incidents: replaying the recent items: {e}"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(POLL * 4) => {}
            }
        };
        let mut every = tokio::time::interval(POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while following.assigner.is_some() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            let started = Instant::now();
            match self.step(&mut following, &shutdown).await {
                Ok(_) if following.pending.is_empty() && following.pending_marks.is_empty() => {
                    self.progress.caught_up(started)
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("incidents: following the stored items: {e}"),
            }
        }
    }

    /// Assigns the items received within two windows of now, in time
    /// order, and stores the incidents that differ from those stored; marks
    /// the repeat complaints of the last repeat window (from the two
    /// windows before now) and stores the marks that differ. Returns where
    /// it got to (None: shut down meanwhile).
    pub async fn start(
        &self,
        shutdown: &CancellationToken,
    ) -> crate::store::Result<Option<Following>> {
        let now = self.words.enricher().now().timestamp();
        let since = now - 2 * 3600 * i64::from(self.window_hours);
        let repeat_window = 86_400 * i64::from(self.repeat_days);
        let read_from = since.min(now - 2 * repeat_window);
        // An incident is named after its first item: replay from the first
        // item of every incident still growing, so that none is renamed
        // (at most MAX_REPLAY_DAYS back). Items before that are repeat
        // context only.
        let floor = now - MAX_REPLAY_DAYS * 86_400;
        let incidents_from = match self.store.incidents_began(since, floor).await? {
            Some(first) if first < since => first.max(floor),
            _ => since,
        };
        let (mut items, after) = self
            .store
            .stored_window(read_from.min(incidents_from), incidents_from)
            .await?;
        items.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));

        // Repeat complaints: the items of the last window get their marks
        // from the window before them too.
        let mut repeats = Repeats::new(self.repeat_days);
        let marks: Vec<Mark> = items
            .iter()
            .flat_map(|i| follow_repeats(&mut repeats, i, (now - repeat_window) * 1000))
            .collect();

        items.retain(|i| i.at >= incidents_from.saturating_mul(1000));
        let position = self.position().await?;
        // Items stored up to the position keep their stored incidents;
        // without one, the window's items are replayed whole and items
        // before it only give context.
        let restoring: BTreeSet<String> = match &position {
            Some(p) => items
                .iter()
                .filter(|i| i.after <= *p)
                .map(|i| i.id.clone())
                .collect(),
            None => BTreeSet::new(),
        };
        let stored: Vec<(String, i64, Option<String>)> = items
            .iter()
            .map(|i| (i.id.clone(), i.at, i.incident.clone()))
            .collect();
        let started = std::time::Instant::now();
        let mut assigner = Some(Assigner::new(Matcher::new(self.window_hours)));
        let (restored, items): (Vec<StoredItem>, Vec<StoredItem>) =
            items.into_iter().partition(|i| restoring.contains(&i.id));
        let (restored_count, assigned_count) = (restored.len(), items.len());
        if !restored.is_empty() {
            let words = self.words.clone();
            let mut a = assigner.take().expect("just made");
            assigner = Some(
                tokio::task::spawn_blocking(move || {
                    let incidents: std::collections::HashMap<&str, Option<String>> = restored
                        .iter()
                        .map(|i| (i.id.as_str(), i.incident.clone()))
                        .collect();
                    let sigs = signatures(&words, &restored)
                        .into_iter()
                        .map(|sig| {
                            let incident = incidents[sig.id.as_str()].clone();
                            (sig, incident)
                        })
                        .collect();
                    a.restore(sigs);
                    a
                })
                .await
                .expect("restoring does not panic"),
            );
        }
        // Each item's incident as the assignment leaves it: its last change.
        let mut now_of: std::collections::HashMap<String, Option<String>> =
            std::collections::HashMap::new();
        for c in self.assign(&mut assigner, items, shutdown).await {
            now_of.insert(c.item_id, c.incident_id);
        }
        if assigner.is_none() {
            return Ok(None);
        }
        // A restored item changes only where an item assigned now changed
        // it; an item assigned now that no change named is alone. Items
        // assigned now from before the window gave context only (their own
        // earlier context was not read).
        let window = since.saturating_mul(1000);
        let changes: Vec<Change> = stored
            .into_iter()
            .filter_map(|(item_id, at, was)| {
                let now = match now_of.remove(&item_id) {
                    Some(now) if restoring.contains(&item_id) || at >= window => now,
                    None if at >= window && !restoring.contains(&item_id) => None,
                    _ => return None,
                };
                (now != was).then_some(Change {
                    item_id,
                    at,
                    incident_id: now,
                })
            })
            .collect();
        tracing::info!(
            "incidents: restored {restored_count} items and assigned {assigned_count} in {:.1} s; {} incidents and {} repeat marks to store",
            started.elapsed().as_secs_f64(),
            changes.len(),
            marks.len()
        );
        if !changes.is_empty() {
            self.store.set_incidents(changes).await?;
        }
        if !marks.is_empty() {
            self.store.set_repeats(marks).await?;
        }
        // Everything read has its incident stored: without a settle time
        // that is the position now; with one, once it has passed (`step`).
        let saved = if self.settle.is_zero() {
            self.save_position(&after).await?;
            after.clone()
        } else {
            position.unwrap_or_default()
        };
        Ok(Some(Following {
            reached: [(Instant::now(), after.clone())].into(),
            settled: saved.clone(),
            assigner,
            saved,
            after,
            pending: Vec::new(),
            repeats,
            pending_marks: Vec::new(),
            forgot_at: now,
            saved_at: Instant::now(),
        }))
    }

    /// The saved position (None: none saved, or unreadable).
    async fn position(&self) -> crate::store::Result<Option<StoredAfter>> {
        let docs = self.store.state_load(POSITION.0, 0).await?;
        Ok(docs.iter().find_map(|doc| {
            let v: serde_json::Value = serde_json::from_str(doc).ok()?;
            (v["id"] == POSITION.1).then_some(())?;
            Some(StoredAfter {
                order: v["order"].as_u64()?,
                id: v["after_id"].as_str()?.to_owned(),
            })
        }))
    }

    /// Saves `at` as the position: every item stored up to it has its
    /// incident stored.
    async fn save_position(&self, at: &StoredAfter) -> crate::store::Result<()> {
        let doc = serde_json::json!({"id": POSITION.1, "order": at.order, "after_id": at.id});
        self.store
            .state_save(
                POSITION.0,
                POSITION.1.to_owned(),
                doc.to_string(),
                self.words.enricher().now().timestamp(),
            )
            .await
    }

    /// Assigns the items stored since the last step, then stores the
    /// changes (those of earlier steps that failed first) and publishes
    /// the incidents that formed or grew. Returns how many items it read.
    pub async fn step(
        &self,
        f: &mut Following,
        shutdown: &CancellationToken,
    ) -> crate::store::Result<usize> {
        let mut read = 0;
        loop {
            let mut page = self.store.stored_since(f.after.clone(), 0, PAGE).await?;
            let Some(last) = page.last() else { break };
            f.after = last.after.clone();
            read += page.len();
            let full = page.len() == PAGE;
            page.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
            for item in &page {
                f.pending_marks
                    .extend(follow_repeats(&mut f.repeats, item, i64::MIN));
            }
            let found = self.assign(&mut f.assigner, page, shutdown).await;
            f.pending.extend(found);
            if !full || f.assigner.is_none() {
                break;
            }
        }
        // An item up to a window late still finds the window before it.
        let now = self.words.enricher().now().timestamp();
        if now - f.forgot_at >= 3600 {
            f.repeats
                .forget_before((now - 2 * 86_400 * i64::from(self.repeat_days)) * 1000);
            f.forgot_at = now;
        }
        if f.assigner.is_none() {
            return Ok(read);
        }
        if !f.pending_marks.is_empty() {
            self.store.set_repeats(f.pending_marks.clone()).await?;
            f.pending_marks.clear();
        }
        if !f.pending.is_empty() {
            let grown: BTreeSet<String> = f
                .pending
                .iter()
                .filter_map(|c| c.incident_id.clone())
                .collect();
            self.store.set_incidents(f.pending.clone()).await?;
            f.pending.clear();
            self.publish(grown).await?;
        }
        // Every item read has its incident stored: the position, `settle`
        // later, when the feed paused or every few seconds.
        let now = Instant::now();
        if f.reached.back().is_none_or(|(_, a)| *a != f.after) {
            f.reached.push_back((now, f.after.clone()));
        }
        while let Some((at, _)) = f.reached.front()
            && now.duration_since(*at) >= self.settle
        {
            f.settled = f.reached.pop_front().expect("a front").1;
        }
        if f.settled != f.saved && (read == 0 || f.saved_at.elapsed() >= SAVE_EVERY) {
            let at = f.settled.clone();
            f.saved_at = now;
            self.save_position(&at).await?;
            f.saved = at;
        }
        Ok(read)
    }

    /// Adds `items` (in time order) to the assigner, a chunk at a time on
    /// the blocking pool (signatures and assignment are CPU work), and
    /// returns the changes. Stops between chunks at shutdown, leaving
    /// `assigner` None.
    async fn assign(
        &self,
        assigner: &mut Option<Assigner>,
        items: Vec<StoredItem>,
        shutdown: &CancellationToken,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<StoredItem> = items.by_ref().take(CHUNK).collect();
            let (Some(mut a), false) = (assigner.take(), shutdown.is_cancelled()) else {
                *assigner = None;
                break;
            };
            let words = self.words.clone();
            let (a, found) = tokio::task::spawn_blocking(move || {
                let mut found = Vec::new();
                for sig in signatures(&words, &chunk) {
                    found.extend(a.add(sig));
                }
                (a, found)
            })
            .await
            .expect("assignment does not panic");
            *assigner = Some(a);
            changes.extend(found);
        }
        changes
    }

    /// Publishes the summaries of `incidents` as `incident` events.
    async fn publish(&self, incidents: BTreeSet<String>) -> crate::store::Result<()> {
        let incident: Vec<String> = incidents.into_iter().take(MAX_EVENTS).collect();
        let limit = incident.len();
        let query = Query::Incidents {
            filters: Filters {
                incident,
                ..Filters::default()
            },
            limit,
            by_count: false,
        };
        let now = self.words.enricher().now().timestamp();
        if let Answer::Incidents(list) = self.store.query(query, now).await? {
            for i in list {
                // The title is a citizen's text, perhaps of another
                // district than the incident's: screens read it through
                // the scoped API, not from the event.
                let data = serde_json::json!({
                    "id": i.id,
                    "count": i.count,
                    "first_at": i.first_at,
                    "last_at": i.last_at,
                    "district": i.district,
                    "unit": i.unit,
                    "topics": i.topics,
                    "channels": i.channels,
                    "negative": i.negative,
                });
                self.live
                    .publish_incident(i.district, i.unit, data.to_string().into());
            }
        }
        Ok(())
    }
}

/// The signatures of stored items (their tokens from their masked text).
/// A revisit answer about a case (an SMS or phone reply on a work order,
/// "问题已解决，表示满意") is about that case, not an event of its own: it
/// stands alone, and a hundred alike are not an incident. A rating
/// device's comment without a case ("窗口说系统升级办不了") is assigned.
fn signatures(words: &Vocabulary, items: &[StoredItem]) -> Vec<Signature> {
    let enricher = words.enricher();
    let revisit: Vec<&str> = enricher
        .channels()
        .filter(|c| c.revisit)
        .map(|c| c.code.as_str())
        .collect();
    items
        .iter()
        .filter(|i| !(i.has_case && revisit.contains(&i.channel.as_str())))
        .map(|i| {
            let tokens = enricher.content_tokens(&i.text);
            Signature::read(
                Parts {
                    id: &i.id,
                    at: i.at,
                    text: &i.text,
                    tokens: &tokens,
                    district: i.district.as_deref(),
                    topics: &i.topics,
                },
                words,
            )
        })
        .collect()
}

/// Follows one stored item's repeat mark: the marks that now differ from
/// the stored ones (its own, its contact's later items'), from `write_from`
/// (ms) on. Items without a contact have none.
fn follow_repeats(repeats: &mut Repeats, item: &StoredItem, write_from: i64) -> Vec<Mark> {
    let Some(contact) = &item.contact else {
        return Vec::new();
    };
    let seen = ContactItem {
        id: item.id.clone(),
        at: item.at,
        topics: item.shown_topics.clone(),
    };
    repeats.add(contact, seen, item.repeat, write_from)
}
