//! The alert engine: every few seconds, each rule's counts are read
//! through the typed query model (so the same engine runs on SQLite and on
//! ClickHouse), judged per series, and each series' alert moves through
//! its life: it fires once, updates while it lasts, resolves when the
//! counts are normal again, then stays quiet for the rule's cooldown.
//!
//! Time is event time: windows are ranges of `received_at`, so backfilled
//! history counts, and the engine can be evaluated at any instant (tests
//! replay a week). State (alerts, silences) is kept in the store: after a
//! restart an ongoing alert neither fires again nor is lost, and an alert
//! whose notification had not gone out is sent then.
//!
//! New and resolved alerts of one rule are grouped for `group_wait`
//! seconds into one notification per target: the rule's targets and those
//! of the first `[[route]]` that covers the alert's place
//! ([`super::routes`]). Silenced alerts and those firing in quiet hours
//! (`[[mute]]`) are recorded and shown in the API but not notified. A
//! notified alert nobody acknowledged within its route's `escalate_after`
//! goes once to the route's `escalate_to`.
//!
//! The engine is given what it reads and whom it tells ([`Context`]: a
//! store, the vocabulary, the zone, the live feed, the metrics) and is
//! driven by a clock ([`Engine::run`]) or by explicit instants
//! ([`Engine::evaluate`]); it knows no HTTP. It alone reads and writes its
//! documents in the store's state table ([`Engine::history`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use chrono::FixedOffset;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::detect::{Counts, Finding, Level};
use super::notify::{Message, Notifier, plain};
use super::routes::Routing;
use super::rules::Rule;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::query::{Answer, Filters, Query, Scope, TopDim, Vocabulary, rfc3339};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

/// One alert: a rule's finding on one series, from firing to resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// `rule:value:started_at`.
    pub id: String,
    pub rule: String,
    /// The series' value ("" when the rule has no for_each).
    pub key: String,
    /// The dimension of `key` (district, topic, …).
    pub dim: Option<String>,
    /// Display name of `key`.
    pub name: String,
    pub title: String,
    pub severity: String,
    pub detector: String,
    pub level: Level,
    pub status: Status,
    pub started_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub observed: f64,
    pub expected: f64,
    pub p_value: Option<f64>,
    /// Emerging terms never seen in the history.
    pub new: bool,
    pub window_seconds: i64,
    /// Whether the firing notification went out (or was not due: silenced).
    pub notified: bool,
    pub silenced: bool,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    /// The place the alert concerns — the series' value when it is a
    /// district or unit, else the rule's `district` and `unit` filters (a
    /// unit's district added) — which decides who sees it (a scoped token,
    /// a bureau's wall) and which `[[route]]` sends it. Both empty: the
    /// whole city.
    #[serde(default)]
    pub districts: Vec<String>,
    #[serde(default)]
    pub units: Vec<String>,
    /// Fired in quiet hours (`[[mute]]`): recorded and shown, not sent.
    #[serde(default)]
    pub muted: bool,
    /// When it went to its route's `escalate_to`, unacknowledged (once).
    #[serde(default)]
    pub escalated_at: Option<i64>,
    /// The incident (同一事件) the rise consists of: one holding at least
    /// half of the series' items in the window. Other findings on the same
    /// incident fold into this alert instead of firing their own.
    #[serde(default)]
    pub incident: Option<String>,
    /// What the rise is made of, read when the alert fired (null for
    /// alerts from before contexts).
    #[serde(default)]
    pub context: Option<AlertContext>,
}

/// One value behind a rise: its items in the alert's window against the
/// mean of the rule's comparison windows (the history windows, at most
/// four; the window before for ratio rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contribution {
    pub key: String,
    pub name: String,
    pub count: u64,
    pub expected: f64,
}

/// An incident among an alert's items, as its message names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentBrief {
    pub id: String,
    /// A masked text of it, shortened.
    pub title: String,
    /// Its items in the alert's window and series.
    pub count: u64,
    pub district: Option<String>,
    /// Channel codes, the most frequent first.
    pub channels: Vec<String>,
}

/// One item of the rise, masked as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sample {
    pub id: String,
    pub received_at: String,
    pub channel: String,
    /// Masked text, at most 120 characters.
    pub text: String,
}

/// What an alert consists of: who and what is behind the rise, the
/// incidents, three sample items (of the incident when there is one) and
/// a link into the explorer with the alert's filters and window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertContext {
    /// The top three of each, largest first; a dimension the series
    /// itself fixes (a district rule's district) is left empty.
    pub districts: Vec<Contribution>,
    pub units: Vec<Contribution>,
    pub keywords: Vec<Contribution>,
    /// The largest incidents among the window's items, at most three.
    pub incidents: Vec<IncidentBrief>,
    pub samples: Vec<Sample>,
    /// `{public_url}/explore?…` (relative without `public_url`).
    pub link: String,
    /// The titles of other findings on the same incident, folded into
    /// this alert.
    #[serde(default)]
    pub also: Vec<String>,
    /// When its contributions were read (unix seconds): while the alert
    /// lasts its incident and samples are read again as its counts change,
    /// its contributions at most once a minute.
    #[serde(default)]
    pub read_at: i64,
}

impl Alert {
    /// The place the alert concerns, as a scope.
    pub fn place(&self) -> Scope {
        Scope {
            districts: self.districts.clone(),
            units: self.units.clone(),
        }
    }
}

/// A silence: alerts matching it are recorded but not notified until `until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Silence {
    pub id: String,
    /// Matchers: a rule name and/or a series value; absent matches any.
    pub rule: Option<String>,
    pub key: Option<String>,
    pub until: i64,
    pub comment: String,
    pub created_at: i64,
}

impl Silence {
    fn matches(&self, a: &Alert, now: i64) -> bool {
        now < self.until
            && self.rule.as_ref().is_none_or(|r| *r == a.rule)
            && self.key.as_ref().is_none_or(|k| *k == a.key)
    }
}

#[derive(Default)]
struct State {
    /// Firing alerts by (rule, key).
    active: HashMap<(String, String), Alert>,
    /// When each series last resolved (cooldown).
    resolved_at: HashMap<(String, String), i64>,
    /// Per rule: when the first pending change arrived, and the changes.
    pending: HashMap<String, (i64, Vec<Alert>)>,
    silences: Vec<Silence>,
    /// Series whose finding folded into another alert on the same
    /// incident, with that alert's id: quiet while it fires.
    folded: HashMap<(String, String), String>,
    /// When each incident's alert last resolved: a finding on it stays
    /// quiet for its rule's cooldown (one alert per incident burst).
    incident_resolved: HashMap<String, i64>,
}

/// What the engine reads and whom it tells.
#[derive(Clone)]
pub struct Context {
    /// Counts come from the store's answers; alerts and silences are kept
    /// in its state table.
    pub store: Arc<dyn Store>,
    /// Display names of the series values.
    pub vocab: Vocabulary,
    /// The centre's wall clock, for the times in messages.
    pub tz: FixedOffset,
    /// Every changed alert is published here (the walls' `alert` event).
    pub live: Arc<Live>,
    pub metrics: Arc<Metrics>,
    /// The incident tracker's progress: before naming the incident of a
    /// new alert the engine waits (briefly) until the items it counted
    /// have theirs. None: no tracker runs (alerts name what is stored).
    pub incidents: Option<Arc<crate::tracker::Progress>>,
    /// The base of the explorer links (`public_url`; "" for relative).
    pub public_url: String,
}

pub struct Engine {
    pub rules: Vec<Rule>,
    state: Mutex<State>,
    notifier: Notifier,
    group_wait: i64,
    cx: Context,
    /// Where alerts go by place, quiet hours, escalation.
    routing: Routing,
}

const ALERT: &str = "alert";
const SILENCE: &str = "silence";
/// The state documents of imports (`minyi import`): the span of event
/// time each one wrote.
pub const IMPORT_KIND: &str = "import";

/// What an import wrote, as the engine reads it: imported items are
/// history, so no rule fires a new alert while its window still holds
/// some of them (they count in the baselines as any history does).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ImportSpan {
    /// Oldest and newest `received_at` imported (unix seconds).
    from: i64,
    to: i64,
    items: u64,
    /// When the import ended.
    at: i64,
}

/// Records an import of `items` new items received in `[from, to]`, done
/// at `now`.
pub async fn record_import(
    store: &dyn Store,
    from: i64,
    to: i64,
    items: u64,
    now: i64,
) -> Result<(), StoreError> {
    let span = ImportSpan {
        from,
        to,
        items,
        at: now,
    };
    let doc = serde_json::to_string(&span).expect("plain data serializes");
    store
        .state_save(
            IMPORT_KIND,
            format!("import-{now}-{}", fastrand::u32(..)),
            doc,
            now,
        )
        .await
}

/// Counts per series value.
type Series = HashMap<String, Counts>;

impl Engine {
    pub fn new(rules: Vec<Rule>, notifier: Notifier, group_wait: i64, cx: Context) -> Engine {
        Engine {
            rules,
            state: Mutex::new(State::default()),
            notifier,
            group_wait,
            cx,
            routing: Routing::default(),
        }
    }

    /// Queues a message that is not an alert's (a scheduled report) for one
    /// of the robots alerts go to.
    pub fn send(&self, target: &str, message: Message) {
        self.notifier.send(target, message);
    }

    /// The engine with `[[route]]` and `[[mute]]` applied.
    pub fn with_routing(mut self, routing: Routing) -> Engine {
        self.routing = routing;
        self
    }

    /// Restores the stored state, then evaluates every `every` at the
    /// `clock`'s time (unix seconds) until `shutdown`.
    pub async fn run(&self, clock: impl Fn() -> i64, every: Duration, shutdown: CancellationToken) {
        if let Err(e) = self.restore(clock()).await {
            tracing::warn!("restoring alert state: {e}");
        }
        let mut beat = tokio::time::interval(every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = beat.tick() => {
                    self.evaluate(clock()).await;
                }
            }
        }
    }

    /// Loads firing alerts, recent resolutions and silences from the store;
    /// firing alerts not yet notified are queued again.
    pub async fn restore(&self, now: i64) -> Result<(), StoreError> {
        let mut st = self.state.lock().await;
        for doc in self.cx.store.state_load(ALERT, now - 30 * 86_400).await? {
            let Ok(a) = serde_json::from_str::<Alert>(&doc) else {
                continue;
            };
            let key = (a.rule.clone(), a.key.clone());
            match a.status {
                Status::Firing => {
                    if !a.notified {
                        st.pending
                            .entry(a.rule.clone())
                            .or_insert((now, Vec::new()))
                            .1
                            .push(a.clone());
                    }
                    st.active.insert(key, a);
                }
                Status::Resolved => {
                    let at = a.resolved_at.unwrap_or(a.updated_at);
                    let e = st.resolved_at.entry(key).or_insert(at);
                    *e = (*e).max(at);
                    if let Some(inc) = a.incident {
                        let e = st.incident_resolved.entry(inc).or_insert(at);
                        *e = (*e).max(at);
                    }
                }
            }
        }
        for doc in self.cx.store.state_load(SILENCE, now - 86_400).await? {
            if let Ok(s) = serde_json::from_str::<Silence>(&doc)
                && s.until > now
            {
                st.silences.push(s);
            }
        }
        Ok(())
    }

    /// Every alert of the last `days` days (firing and resolved, as last
    /// saved) whose place `scope` covers, newest first, at most `limit`.
    pub async fn history(
        &self,
        now: i64,
        days: i64,
        limit: usize,
        scope: &Scope,
    ) -> Result<Vec<Alert>, StoreError> {
        let mut all: Vec<Alert> = self
            .cx
            .store
            .state_load(ALERT, now - days * 86_400)
            .await?
            .iter()
            .filter_map(|d| serde_json::from_str::<Alert>(d).ok())
            .filter(|a| scope.covers(&a.place()))
            .collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.started_at));
        all.truncate(limit);
        Ok(all)
    }

    async fn counts(
        &self,
        rule: &Rule,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<Series, StoreError> {
        let filters = rule.scope.clone().with_range(Some(from), Some(to));
        let query = match rule.for_each {
            Some(dim) => Query::Top {
                filters,
                dim,
                limit: crate::query::MAX_TOP_LIMIT,
            },
            None => Query::Summary(filters),
        };
        Ok(
            match crate::store::ask(&*self.cx.store, &self.cx.metrics, query, now).await? {
                Answer::Top(rows) => rows
                    .into_iter()
                    .map(|r| {
                        (
                            r.key,
                            Counts {
                                total: r.count,
                                negative: r.negative,
                            },
                        )
                    })
                    .collect(),
                Answer::Summary(s) => [(
                    String::new(),
                    Counts {
                        total: s.received,
                        negative: s.negative,
                    },
                )]
                .into(),
                _ => Series::new(),
            },
        )
    }

    /// The findings of one rule at `now`, by series value, each with the
    /// series' items in the window, and the number of series judged.
    pub async fn judge(
        &self,
        rule: &Rule,
        now: i64,
    ) -> Result<(usize, HashMap<String, (Finding, u64)>), StoreError> {
        let w = rule.window;
        let current = self.counts(rule, now - w, now, now).await?;
        let mut history = Vec::new();
        let mut reference = Series::new();
        if rule.detector.uses_history() {
            for k in 1..=i64::from(rule.history) {
                let back = k * rule.period;
                history.push(self.counts(rule, now - w - back, now - back, now).await?);
            }
        } else {
            reference = self.counts(rule, now - 2 * w, now - w, now).await?;
        }
        // Emerging terms: a term's frequency against its history. The
        // history is pooled and scaled to the current window's overall
        // volume (a busy morning after a quiet week is not every word
        // bursting): expected = Σ history count ÷ Σ history volume ×
        // current volume, weighting each past window by its volume.
        if matches!(rule.detector, super::detect::Detector::Emerging { .. }) {
            let volume = |s: &Series| s.values().map(|c| c.total).sum::<u64>() as f64;
            let now_volume = volume(&current);
            let then_volume: f64 = history.iter().map(volume).sum();
            if then_volume > 0.0 {
                let k = now_volume / then_volume;
                let mut pooled = Series::new();
                for h in &history {
                    for (key, c) in h {
                        let e = pooled.entry(key.clone()).or_default();
                        e.total += c.total;
                        e.negative += c.negative;
                    }
                }
                for c in pooled.values_mut() {
                    c.total = (c.total as f64 * k).round() as u64;
                    c.negative = (c.negative as f64 * k).round() as u64;
                }
                // One pooled window stands for the whole history.
                history = vec![pooled];
            }
        }
        let mut keys: Vec<&String> = current.keys().chain(reference.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut out = HashMap::new();
        let judged = keys.len();
        for key in keys {
            let c = current.get(key).copied().unwrap_or_default();
            let h: Vec<Counts> = history
                .iter()
                .map(|s| s.get(key).copied().unwrap_or_default())
                .collect();
            let r = reference.get(key).copied().unwrap_or_default();
            if let Some(f) = rule.detector.judge(c, &h, r) {
                out.insert(key.clone(), (f, c.total));
            }
        }
        Ok((judged, out))
    }

    fn name_of(vocab: &Vocabulary, rule: &Rule, key: &str) -> String {
        match rule.for_each.and_then(TopDim::dim) {
            Some(d) => vocab.name(d, key),
            None if key.is_empty() => "全部".into(),
            None => key.to_owned(),
        }
    }

    /// The place of a rule's series: its value when the rule runs per
    /// district or unit, else the rule's own place filters.
    fn place_of(vocab: &Vocabulary, rule: &Rule, key: &str) -> Scope {
        let mut districts = rule.scope.district.clone();
        let mut units = rule.scope.unit.clone();
        match rule.for_each {
            Some(TopDim::District) => districts = vec![key.to_owned()],
            Some(TopDim::Unit) => units = vec![key.to_owned()],
            _ => {}
        }
        Scope::place(&districts, &units, vocab)
    }

    /// The items of one series of a rule: its scope and the series'
    /// value (a keyword as a search word).
    fn series_filters(rule: &Rule, key: &str) -> Filters {
        let mut f = rule.scope.clone();
        let key = key.to_owned();
        match rule.for_each {
            Some(TopDim::Channel) => f.channel = vec![key],
            Some(TopDim::Topic) => f.topic = vec![key],
            Some(TopDim::District) => f.district = vec![key],
            Some(TopDim::Unit) => f.unit = vec![key],
            Some(TopDim::Keyword) => f.q.push(vec![key]),
            None => {}
        }
        f
    }

    /// What a new finding on `key` consists of at `now` (`count` items in
    /// the window): its incident, if one holds at least half of them, and
    /// the context. A failed read leaves its part empty (logged): the
    /// alert fires all the same.
    /// `before`: the context read when the alert fired or last changed —
    /// its contributions (the costly part: every comparison window) are
    /// kept while younger than a minute, its folded findings always.
    async fn context_of(
        &self,
        rule: &Rule,
        key: &str,
        count: u64,
        now: i64,
        before: Option<&AlertContext>,
    ) -> (Option<String>, AlertContext) {
        let cx = &self.cx;
        let ask = |q: Query| crate::store::ask(&*cx.store, &cx.metrics, q, now);
        let warn = |what: &str, e: StoreError| {
            tracing::warn!("alert {}:{key}: reading its {what}: {e}", rule.name);
        };
        let series = Self::series_filters(rule, key);
        let window = series
            .clone()
            .with_range(Some(now - rule.window), Some(now));
        let mut context = AlertContext::default();

        let incidents = match ask(Query::Incidents {
            filters: window.clone(),
            limit: 3,
            by_count: true,
        })
        .await
        {
            Ok(Answer::Incidents(v)) => v,
            Ok(_) => Vec::new(),
            Err(e) => {
                warn("incidents", e);
                Vec::new()
            }
        };
        let incident = incidents
            .first()
            .filter(|i| i.count >= 2 && i.count * 2 >= count)
            .map(|i| i.id.clone());
        context.incidents = incidents
            .into_iter()
            .map(|i| IncidentBrief {
                title: shorten(&i.title, 60),
                id: i.id,
                count: i.count,
                district: i.district,
                channels: i.channels,
            })
            .collect();

        // Who and what is behind the rise, against the comparison windows.
        let kept = before.filter(|b| now - b.read_at < CONTEXT_EVERY);
        if let Some(b) = kept {
            context.districts = b.districts.clone();
            context.units = b.units.clone();
            context.keywords = b.keywords.clone();
        }
        let dims = if kept.is_some() {
            Vec::new()
        } else {
            vec![TopDim::District, TopDim::Unit, TopDim::Keyword]
        };
        let windows: Vec<(i64, i64)> = if rule.detector.uses_history() {
            (1..=i64::from(rule.history.min(4)))
                .map(|k| (now - rule.window - k * rule.period, now - k * rule.period))
                .collect()
        } else {
            vec![(now - 2 * rule.window, now - rule.window)]
        };
        for dim in dims {
            let fixed = rule.for_each == Some(dim)
                || match dim {
                    TopDim::District => series.district.len() == 1,
                    TopDim::Unit => series.unit.len() == 1,
                    _ => false,
                };
            if fixed {
                continue;
            }
            let top = |filters: Filters, limit: usize| async move {
                match ask(Query::Top {
                    filters,
                    dim,
                    limit,
                })
                .await
                {
                    Ok(Answer::Top(rows)) => rows,
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        warn(dim.as_str(), e);
                        Vec::new()
                    }
                }
            };
            let current = top(window.clone(), 3).await;
            if current.is_empty() {
                continue;
            }
            let mut before: HashMap<String, u64> = HashMap::new();
            for (from, to) in &windows {
                let past = series.clone().with_range(Some(*from), Some(*to));
                for row in top(past, crate::query::MAX_TOP_LIMIT).await {
                    *before.entry(row.key).or_default() += row.count;
                }
            }
            let list = current
                .into_iter()
                .map(|row| Contribution {
                    name: match dim.dim() {
                        Some(d) => cx.vocab.name(d, &row.key),
                        None => row.key.clone(),
                    },
                    expected: before.get(&row.key).copied().unwrap_or(0) as f64
                        / windows.len() as f64,
                    count: row.count,
                    key: row.key,
                })
                .collect();
            match dim {
                TopDim::District => context.districts = list,
                TopDim::Unit => context.units = list,
                _ => context.keywords = list,
            }
        }

        // Three items with text: of the incident when there is one.
        let mut from_items = window.clone();
        from_items.has_text = Some(true);
        from_items.incident = incident.iter().cloned().collect();
        match ask(Query::Feedback {
            filters: from_items,
            limit: 3,
            cursor: None,
        })
        .await
        {
            Ok(Answer::Feedback { items, .. }) => {
                context.samples = items
                    .into_iter()
                    .map(|i| Sample {
                        id: i.id,
                        received_at: i.received_at,
                        channel: i.channel,
                        text: shorten(&i.text, 120),
                    })
                    .collect();
            }
            Ok(_) => {}
            Err(e) => warn("samples", e),
        }

        context.link = explorer_link(&cx.public_url, &window, incident.as_deref(), cx.tz);
        context.read_at = kept.map_or(now, |b| b.read_at);
        if let Some(b) = before {
            context.also = b.also.clone();
        }
        (incident, context)
    }

    /// Before an evaluation first reads what an alert consists of (once:
    /// `waited`), waits briefly for the incident tracker to assign the
    /// items stored so far.
    async fn await_incidents(&self, waited: &mut bool) {
        if std::mem::replace(waited, true) {
            return;
        }
        if let Some(p) = &self.cx.incidents
            && !p.wait(INCIDENT_WAIT).await
        {
            tracing::warn!(
                "alerts: the incident tracker is behind; alerts name the incidents stored so far"
            );
        }
    }

    /// One evaluation of every rule at `now` (unix seconds, event time).
    /// Returns the alerts that changed.
    pub async fn evaluate(&self, now: i64) -> Vec<Alert> {
        let cx = &self.cx;
        let started = Instant::now();
        let mut changed = Vec::new();
        // Rules judged against history wait until the store holds all of it.
        let oldest = match crate::store::ask(&*cx.store, &cx.metrics, Query::Extent, now).await {
            Ok(Answer::Extent { oldest, .. }) => oldest,
            _ => None,
        };
        let imported_through = self.imported_through(now).await;
        let mut waited_for_incidents = false;
        // Cooldowns over: forget when series and incidents last resolved
        // (else one entry per series value and incident ever resolved).
        {
            let longest = self.rules.iter().map(|r| r.cooldown).max().unwrap_or(0);
            let mut st = self.state.lock().await;
            st.resolved_at.retain(|_, t| now < *t + longest);
            st.incident_resolved.retain(|_, t| now < *t + longest);
        }
        for rule in &self.rules {
            let needs = now - rule.window - i64::from(rule.history) * rule.period;
            if rule.detector.uses_history() && oldest.is_none_or(|o| o > needs) {
                continue;
            }
            let findings = match self.judge(rule, now).await {
                Ok((_, f)) => f,
                Err(e) => {
                    tracing::warn!("alert rule {}: {e}", rule.name);
                    continue;
                }
            };
            // Imported history in the window: no new alert from it.
            let quiet = imported_through.is_some_and(|t| t >= now - rule.window);
            // Firing alerts take the new counts (and what they consist of
            // is read again: later items, or an earlier one arriving late,
            // may have grown or renamed their incident); the other findings
            // are new.
            let mut fresh = Vec::new();
            let mut grown = Vec::new();
            {
                let mut st = self.state.lock().await;
                for (key, (f, count)) in &findings {
                    let id_key = (rule.name.clone(), key.clone());
                    if let Some(a) = st.active.get_mut(&id_key) {
                        let level = a.level.max(f.level);
                        if level != a.level || (a.observed - f.observed).abs() > f64::EPSILON {
                            a.level = level;
                            a.observed = f.observed;
                            a.expected = f.expected;
                            a.p_value = f.p_value;
                            a.updated_at = now;
                            grown.push((id_key, *count, a.context.clone()));
                        }
                        continue;
                    }
                    let folded_into_firing = st
                        .folded
                        .get(&id_key)
                        .is_some_and(|owner| st.active.values().any(|a| a.id == *owner));
                    if quiet
                        || folded_into_firing
                        || st
                            .resolved_at
                            .get(&id_key)
                            .is_some_and(|t| now < t + rule.cooldown)
                    {
                        continue;
                    }
                    fresh.push((key.clone(), f.clone(), *count));
                }
            }
            for (id_key, count, before) in grown {
                self.await_incidents(&mut waited_for_incidents).await;
                let (incident, context) = self
                    .context_of(rule, &id_key.1, count, now, before.as_ref())
                    .await;
                let mut st = self.state.lock().await;
                if let Some(a) = st.active.get_mut(&id_key) {
                    a.incident = incident;
                    a.context = Some(context);
                    changed.push(a.clone());
                }
            }
            // The most significant first: it names the incident.
            fresh.sort_by(|a, b| {
                let p = |f: &Finding| f.p_value.unwrap_or(1.0);
                p(&a.1)
                    .total_cmp(&p(&b.1))
                    .then(b.1.observed.total_cmp(&a.1.observed))
                    .then_with(|| a.0.cmp(&b.0))
            });
            // What each consists of (store reads, outside the lock), once
            // the tracker has assigned the items counted.
            let mut read = Vec::with_capacity(fresh.len());
            for (key, f, count) in fresh {
                self.await_incidents(&mut waited_for_incidents).await;
                let (incident, context) = self.context_of(rule, &key, count, now, None).await;
                read.push((key, f, incident, context));
            }
            let mut st = self.state.lock().await;
            for (key, f, incident, context) in read {
                let id_key = (rule.name.clone(), key.clone());
                let name = Self::name_of(&cx.vocab, rule, &key);
                let title = rule.title.replace("{value}", &name);
                // One alert per incident: a finding on an incident that
                // already has one is added to it.
                if let Some(inc) = &incident {
                    if let Some(owner) = st
                        .active
                        .values_mut()
                        .find(|a| a.incident.as_ref() == Some(inc))
                    {
                        let owner_id = owner.id.clone();
                        if let Some(c) = owner.context.as_mut()
                            && !c.also.contains(&title)
                        {
                            c.also.push(title);
                            owner.updated_at = now;
                            changed.push(owner.clone());
                        }
                        st.folded.insert(id_key, owner_id);
                        continue;
                    }
                    if st
                        .incident_resolved
                        .get(inc)
                        .is_some_and(|t| now < t + rule.cooldown)
                    {
                        continue;
                    }
                }
                let place = Self::place_of(&cx.vocab, rule, &key);
                let mut a = Alert {
                    id: format!("{}:{}:{}", rule.name, key, now),
                    rule: rule.name.clone(),
                    key: key.clone(),
                    dim: rule.for_each.map(|d| d.as_str().to_owned()),
                    title,
                    name,
                    severity: rule.severity.clone(),
                    detector: rule.detector.name().to_owned(),
                    level: f.level,
                    status: Status::Firing,
                    started_at: now,
                    updated_at: now,
                    resolved_at: None,
                    observed: f.observed,
                    expected: f.expected,
                    p_value: f.p_value,
                    new: f.new,
                    window_seconds: rule.window,
                    notified: false,
                    silenced: false,
                    acked_at: None,
                    acked_by: None,
                    districts: place.districts,
                    units: place.units,
                    muted: false,
                    escalated_at: None,
                    incident,
                    context: Some(context),
                };
                a.silenced = st.silences.iter().any(|s| s.matches(&a, now));
                a.muted = self.routing.muted(&a.place(), now, cx.tz);
                a.notified = a.silenced || a.muted;
                cx.metrics.alerts_fired.fetch_add(1, Relaxed);
                if !(a.silenced || a.muted) {
                    st.pending
                        .entry(rule.name.clone())
                        .or_insert((now, Vec::new()))
                        .1
                        .push(a.clone());
                }
                st.active.insert(id_key, a.clone());
                changed.push(a);
            }
            // Series that are normal again.
            let over: Vec<(String, String)> = st
                .active
                .keys()
                .filter(|(r, k)| *r == rule.name && !findings.contains_key(k))
                .cloned()
                .collect();
            for id_key in over {
                let Some(mut a) = st.active.remove(&id_key) else {
                    continue;
                };
                a.status = Status::Resolved;
                a.resolved_at = Some(now);
                a.updated_at = now;
                st.resolved_at.insert(id_key, now);
                // The findings folded into it rest for their cooldowns.
                let folded: Vec<(String, String)> = st
                    .folded
                    .iter()
                    .filter(|(_, owner)| **owner == a.id)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in folded {
                    st.folded.remove(&k);
                    st.resolved_at.insert(k, now);
                }
                if let Some(inc) = &a.incident {
                    st.incident_resolved.insert(inc.clone(), now);
                }
                if a.notified && !a.silenced && !a.muted {
                    st.pending
                        .entry(rule.name.clone())
                        .or_insert((now, Vec::new()))
                        .1
                        .push(a.clone());
                }
                changed.push(a);
            }
        }
        for a in &changed {
            self.persist(a).await;
            cx.live.publish_alert(
                a.place(),
                serde_json::to_string(a).expect("alerts serialize").into(),
            );
        }
        self.flush(now).await;
        changed.extend(self.escalate(now).await);
        cx.metrics.alert_evaluations.fetch_add(1, Relaxed);
        cx.metrics
            .alert_evaluation_seconds
            .observe(started.elapsed());
        changed
    }

    /// The newest item time of the imports that may still lie in a rule's
    /// window at `now` (an import ends after its newest item, so those
    /// recorded within the longest window).
    async fn imported_through(&self, now: i64) -> Option<i64> {
        let longest = self.rules.iter().map(|r| r.window).max()?;
        match self.cx.store.state_load(IMPORT_KIND, now - longest).await {
            Ok(docs) => docs
                .iter()
                .filter_map(|d| serde_json::from_str::<ImportSpan>(d).ok())
                .map(|s| s.to)
                .max(),
            Err(e) => {
                tracing::warn!("alerts: reading the imports: {e}");
                None
            }
        }
    }

    async fn persist(&self, a: &Alert) {
        let doc = serde_json::to_string(a).expect("alerts serialize");
        if let Err(e) = self
            .cx
            .store
            .state_save(ALERT, a.id.clone(), doc, a.updated_at)
            .await
        {
            tracing::warn!("saving alert {}: {e}", a.id);
        }
    }

    /// Sends the groups that waited long enough.
    async fn flush(&self, now: i64) {
        let due: Vec<(String, Vec<Alert>)> = {
            let mut st = self.state.lock().await;
            let rules: Vec<String> = st
                .pending
                .iter()
                .filter(|(_, (first, _))| now - first >= self.group_wait)
                .map(|(r, _)| r.clone())
                .collect();
            let mut due = Vec::new();
            for r in rules {
                let Some((_, waiting)) = st.pending.remove(&r) else {
                    continue;
                };
                // Each as it is now (a later finding may have folded into it).
                let current = waiting
                    .into_iter()
                    .map(|a| match st.active.get(&(a.rule.clone(), a.key.clone())) {
                        Some(now) if now.id == a.id => now.clone(),
                        _ => a,
                    })
                    .collect();
                due.push((r, current));
            }
            due
        };
        for (rule_name, alerts) in due {
            let Some(rule) = self.rules.iter().find(|r| r.name == rule_name) else {
                continue;
            };
            // One message per target, of the alerts that go to it.
            let mut by_target: std::collections::BTreeMap<&str, Vec<Alert>> = Default::default();
            for a in &alerts {
                let route = self.routing.route(&a.place());
                for t in rule
                    .targets
                    .iter()
                    .chain(route.iter().flat_map(|r| &r.targets))
                    .filter(|t| *t != "wall")
                {
                    let list = by_target.entry(t).or_default();
                    if !list.iter().any(|x| x.id == a.id) {
                        list.push(a.clone());
                    }
                }
            }
            for (t, alerts) in by_target {
                self.notifier.send(t, message(rule, &alerts, self.cx.tz));
            }
            // Record that the firing notifications went out (saved after
            // the lock is released).
            let sent: Vec<Alert> = {
                let mut st = self.state.lock().await;
                alerts
                    .iter()
                    .filter(|a| a.status == Status::Firing)
                    .filter_map(|a| {
                        let active = st.active.get_mut(&(a.rule.clone(), a.key.clone()))?;
                        active.notified = true;
                        Some(active.clone())
                    })
                    .collect()
            };
            for a in &sent {
                self.persist(a).await;
            }
        }
    }

    /// Sends, once, each notified alert still unacknowledged past its
    /// route's `escalate_after` to the route's `escalate_to`; returns them.
    async fn escalate(&self, now: i64) -> Vec<Alert> {
        let due: Vec<(Alert, Vec<String>)> = {
            let mut st = self.state.lock().await;
            st.active
                .values_mut()
                .filter(|a| a.notified && !a.silenced && !a.muted)
                .filter(|a| a.acked_at.is_none() && a.escalated_at.is_none())
                .filter_map(|a| {
                    let route = self.routing.route(&a.place())?;
                    let after = route.escalate_after?;
                    (now - a.started_at >= after).then(|| {
                        a.escalated_at = Some(now);
                        a.updated_at = now;
                        (a.clone(), route.escalate_to.clone())
                    })
                })
                .collect()
        };
        for (a, targets) in &due {
            if let Some(rule) = self.rules.iter().find(|r| r.name == a.rule) {
                let mut m = message(rule, std::slice::from_ref(a), self.cx.tz);
                let minutes = (now - a.started_at) / 60;
                m.title = format!("【升级·{minutes}分钟未确认】{}", plain(&a.title));
                for t in targets {
                    self.notifier.send(t, m.clone());
                }
            }
            self.persist(a).await;
            self.cx.live.publish_alert(
                a.place(),
                serde_json::to_string(a).expect("alerts serialize").into(),
            );
        }
        self.cx
            .metrics
            .alerts_escalated
            .fetch_add(due.len() as u64, Relaxed);
        due.into_iter().map(|(a, _)| a).collect()
    }

    /// Firing alerts whose place `scope` covers, newest first.
    pub async fn firing(&self, scope: &Scope) -> Vec<Alert> {
        let st = self.state.lock().await;
        let mut v: Vec<Alert> = st
            .active
            .values()
            .filter(|a| scope.covers(&a.place()))
            .cloned()
            .collect();
        v.sort_by_key(|a| std::cmp::Reverse(a.started_at));
        v
    }

    /// Acknowledges a firing alert; None when no firing alert `scope`
    /// covers has this id.
    pub async fn ack(&self, id: &str, by: &str, now: i64, scope: &Scope) -> Option<Alert> {
        let a = {
            let mut st = self.state.lock().await;
            let a = st
                .active
                .values_mut()
                .find(|a| a.id == id && scope.covers(&a.place()))?;
            a.acked_at = Some(now);
            a.acked_by = Some(by.to_owned());
            a.updated_at = now;
            a.clone()
        };
        self.persist(&a).await;
        self.cx.live.publish_alert(
            a.place(),
            serde_json::to_string(&a).expect("alerts serialize").into(),
        );
        Some(a)
    }

    /// Drops the samples of erased items from every alert, firing or
    /// stored (history), and saves those it changed: an erased item's text
    /// must not live on in an alert's context.
    pub async fn forget_samples(&self, ids: &HashSet<String>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let forget = |a: &mut Alert| {
            let Some(c) = a.context.as_mut() else {
                return false;
            };
            let before = c.samples.len();
            c.samples.retain(|s| !ids.contains(&s.id));
            c.samples.len() != before
        };
        // The firing ones as they are now (saved again when they or their
        // stored copy held an erased item), then the stored ones.
        let mut active: HashMap<String, (Alert, bool)> = HashMap::new();
        {
            let mut st = self.state.lock().await;
            for a in st.active.values_mut() {
                let forgot = forget(a);
                active.insert(a.id.clone(), (a.clone(), forgot));
            }
        }
        let mut changed: Vec<Alert> = Vec::new();
        for doc in self.cx.store.state_load(ALERT, 0).await? {
            let Ok(mut a) = serde_json::from_str::<Alert>(&doc) else {
                continue;
            };
            let stored_held = forget(&mut a);
            match active.remove(&a.id) {
                Some((now, forgot)) if forgot || stored_held => changed.push(now),
                Some(_) => {}
                None if stored_held => changed.push(a),
                None => {}
            }
        }
        changed.extend(active.into_values().filter(|(_, f)| *f).map(|(a, _)| a));
        for a in &changed {
            let doc = serde_json::to_string(a).expect("alerts serialize");
            self.cx
                .store
                .state_save(ALERT, a.id.clone(), doc, a.updated_at)
                .await?;
        }
        Ok(())
    }

    pub async fn silences(&self, now: i64) -> Vec<Silence> {
        let st = self.state.lock().await;
        st.silences
            .iter()
            .filter(|s| s.until > now)
            .cloned()
            .collect()
    }

    pub async fn add_silence(&self, s: Silence) -> Result<(), StoreError> {
        let doc = serde_json::to_string(&s).expect("silences serialize");
        self.cx
            .store
            .state_save(SILENCE, s.id.clone(), doc, s.created_at)
            .await?;
        self.state.lock().await.silences.push(s);
        Ok(())
    }

    /// Ends a silence now; false when there is none with this id.
    pub async fn end_silence(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let s = {
            let mut st = self.state.lock().await;
            let Some(s) = st.silences.iter_mut().find(|s| s.id == id) else {
                return Ok(false);
            };
            s.until = now;
            s.clone()
        };
        let doc = serde_json::to_string(&s).expect("silences serialize");
        self.cx
            .store
            .state_save(SILENCE, s.id.clone(), doc, now)
            .await?;
        Ok(true)
    }
}

/// Seconds a lasting alert's contributions (top places and words against
/// their usual) are kept before they are read again; its incident and
/// samples are read at every change of its counts.
const CONTEXT_EVERY: i64 = 60;

/// How long a new alert waits for the incident tracker to assign the
/// items it counted (it polls twice a second).
const INCIDENT_WAIT: Duration = Duration::from_secs(3);

/// `text` cut to at most `max` characters, marked when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// The explorer with `filters` (and their range) applied, drilled into
/// `incident` when there is one.
fn explorer_link(
    base: &str,
    filters: &Filters,
    incident: Option<&str>,
    tz: chrono::FixedOffset,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.extend_pairs(filters.params(tz));
    if let Some(id) = incident {
        q.append_pair("drill_dim", "incident");
        q.append_pair("drill_key", id);
    }
    format!("{base}/explore?{}", q.finish())
}

/// The notification of a group of alerts of one rule.
fn message(rule: &Rule, alerts: &[Alert], tz: chrono::FixedOffset) -> Message {
    let firing: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .collect();
    let level = if firing.iter().any(|a| a.level == Level::Alert) {
        "告警"
    } else if firing.is_empty() {
        "恢复"
    } else {
        "预警"
    };
    let severity = match rule.severity.as_str() {
        "critical" => "紧急",
        "warning" => "重要",
        _ => "提示",
    };
    let title = if firing.len() == 1 {
        format!("【民意{level}·{severity}】{}", plain(&firing[0].title))
    } else {
        format!(
            "【民意{level}·{severity}】{}（{}项）",
            rule.name,
            alerts.len()
        )
    };
    let minutes = rule.window / 60;
    let mut lines = Vec::new();
    for a in alerts {
        lines.push(match a.status {
            Status::Firing if a.detector == "negative_share" => format!(
                "- {}：近{minutes}分钟负面占比 {:.0}%，常态 {:.0}%（p={:.4}），{}",
                plain(&a.title),
                a.observed * 100.0,
                a.expected * 100.0,
                a.p_value.unwrap_or(0.0),
                rfc3339(a.started_at, tz)
            ),
            Status::Firing => format!(
                "- {}：近{minutes}分钟 {} 条，常态 {:.1} 条{}，{}",
                plain(&a.title),
                a.observed,
                a.expected,
                a.p_value.map_or(String::new(), |p| format!("（p={p:.4}）")),
                rfc3339(a.started_at, tz)
            ),
            Status::Resolved => format!("- 已恢复：{}", plain(&a.title)),
        });
        if a.status == Status::Firing
            && let Some(c) = &a.context
        {
            lines.extend(context_lines(a, c));
        }
    }
    // The link of the first firing alert, when it is absolute (a robot
    // message is read on a phone, which cannot resolve `/explore`).
    let link = firing
        .first()
        .and_then(|a| a.context.as_ref())
        .map(|c| c.link.clone())
        .filter(|l| l.starts_with("http://") || l.starts_with("https://"));
    Message {
        title,
        lines,
        link,
        alerts: serde_json::to_value(alerts).expect("alerts serialize"),
    }
}

/// What a firing alert consists of, in a message's lines: its incident,
/// the top places and words against their usual, what else it stands
/// for, three samples.
fn context_lines(a: &Alert, c: &AlertContext) -> Vec<String> {
    let mut lines = Vec::new();
    let incident = a
        .incident
        .as_ref()
        .and_then(|id| c.incidents.iter().find(|i| i.id == *id));
    if let Some(i) = incident {
        lines.push(format!(
            "  同一事件 {} 条（{}个渠道）：{}",
            i.count,
            i.channels.len(),
            plain(&i.title)
        ));
    }
    for (label, list) in [
        ("区县", &c.districts),
        ("单位", &c.units),
        ("关键词", &c.keywords),
    ] {
        if !list.is_empty() {
            let parts: Vec<String> = list
                .iter()
                .map(|x| format!("{} {}（常态 {:.1}）", plain(&x.name), x.count, x.expected))
                .collect();
            lines.push(format!("  {label}：{}", parts.join("、")));
        }
    }
    if !c.also.is_empty() {
        lines.push(format!("  同一事件另触发：{}", plain(&c.also.join("、"))));
    }
    for s in &c.samples {
        lines.push(format!("  样例 {}：{}", plain(&s.id), plain(&s.text)));
    }
    lines
}

#[cfg(test)]
mod tests {
    //! The engine on a fake store: the life of one alert (fire, update,
    //! resolve, cooldown), silences, acknowledgement, and what it saves and
    //! publishes — no SQLite, no HTTP.

    use super::*;
    use crate::query::{Filters, Orders, Summary};
    use crate::store::{WriteBatch, WriteOutcome};
    use futures_util::FutureExt;
    use futures_util::future::BoxFuture;
    use std::sync::Mutex as StdMutex;

    /// Items as (unix second, district), answered by time range and
    /// district; state documents kept in memory.
    #[derive(Default)]
    struct FakeStore {
        items: StdMutex<Vec<(i64, &'static str)>>,
        docs: StdMutex<Vec<(&'static str, String, String, i64)>>,
    }

    impl FakeStore {
        fn add(&self, at: i64, n: usize, district: &'static str) {
            let mut items = self.items.lock().unwrap();
            items.extend(std::iter::repeat_n((at, district), n));
        }

        fn matching(&self, f: &Filters) -> Vec<(i64, &'static str)> {
            self.items
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, d)| {
                    f.from.is_none_or(|x| *t >= x)
                        && f.to.is_none_or(|x| *t < x)
                        && (f.district.is_empty() || f.district.iter().any(|x| x == d))
                })
                .copied()
                .collect()
        }
    }

    impl Store for FakeStore {
        fn write(&self, _: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome, StoreError>> {
            async { Err(StoreError::Closed) }.boxed()
        }

        fn query(&self, q: Query, _now: i64) -> BoxFuture<'static, Result<Answer, StoreError>> {
            let answer = match q {
                Query::Summary(f) => Answer::Summary(Summary {
                    received: self.matching(&f).len() as u64,
                    ..Default::default()
                }),
                // No item is a repeat complaint here.
                Query::Top { filters, .. } if filters.repeat == Some(true) => {
                    Answer::Top(Vec::new())
                }
                Query::Top { filters, .. } => {
                    let mut by: HashMap<&str, u64> = HashMap::new();
                    for (_, d) in self.matching(&filters) {
                        *by.entry(d).or_default() += 1;
                    }
                    Answer::Top(
                        by.into_iter()
                            .map(|(k, n)| crate::query::TopRow {
                                key: k.to_owned(),
                                count: n,
                                negative: 0,
                            })
                            .collect(),
                    )
                }
                Query::Extent => {
                    let items = self.items.lock().unwrap();
                    Answer::Extent {
                        oldest: items.iter().map(|x| x.0).min(),
                        newest: items.iter().map(|x| x.0).max(),
                    }
                }
                Query::Orders(_) => Answer::Orders(Orders::default()),
                _ => Answer::Top(Vec::new()),
            };
            async move { Ok(answer) }.boxed()
        }

        fn state_load(
            &self,
            kind: &'static str,
            since: i64,
        ) -> BoxFuture<'static, Result<Vec<String>, StoreError>> {
            let docs = self
                .docs
                .lock()
                .unwrap()
                .iter()
                .filter(|(k, _, _, at)| *k == kind && *at >= since)
                .map(|(_, _, d, _)| d.clone())
                .collect();
            async move { Ok(docs) }.boxed()
        }

        fn state_save(
            &self,
            kind: &'static str,
            id: String,
            doc: String,
            at: i64,
        ) -> BoxFuture<'static, Result<(), StoreError>> {
            let mut docs = self.docs.lock().unwrap();
            docs.retain(|(k, i, _, _)| !(*k == kind && *i == id));
            docs.push((kind, id, doc, at));
            async { Ok(()) }.boxed()
        }

        fn audit_append(
            &self,
            _: Vec<crate::store::AuditEntry>,
        ) -> BoxFuture<'static, Result<(), StoreError>> {
            async { Ok(()) }.boxed()
        }

        fn audit_read(
            &self,
            _: crate::store::AuditQuery,
        ) -> BoxFuture<'static, Result<Vec<crate::store::AuditEntry>, StoreError>> {
            async { Ok(Vec::new()) }.boxed()
        }

        fn erase(&self, _: crate::store::Erase) -> BoxFuture<'static, Result<u64, StoreError>> {
            async { Ok(0) }.boxed()
        }

        fn expire(
            &self,
            _: Option<i64>,
            _: i64,
        ) -> BoxFuture<'static, Result<crate::store::Expired, StoreError>> {
            async { Ok(Default::default()) }.boxed()
        }

        fn incidents_began(
            &self,
            _: i64,
            _: i64,
        ) -> BoxFuture<'static, Result<Option<i64>, StoreError>> {
            async { Ok(None) }.boxed()
        }

        fn stored_since(
            &self,
            _: crate::store::StoredAfter,
            _: i64,
            _: usize,
        ) -> BoxFuture<'static, Result<Vec<crate::store::StoredItem>, StoreError>> {
            async { Ok(Vec::new()) }.boxed()
        }

        fn set_incidents(
            &self,
            _: Vec<crate::incident::Change>,
        ) -> BoxFuture<'static, Result<(), StoreError>> {
            async { Ok(()) }.boxed()
        }

        fn set_repeats(
            &self,
            _: Vec<crate::repeat::Mark>,
        ) -> BoxFuture<'static, Result<(), StoreError>> {
            async { Ok(()) }.boxed()
        }

        fn close(&self) -> BoxFuture<'static, Result<(), StoreError>> {
            async { Ok(()) }.boxed()
        }
    }

    /// A ratio rule per district: the last 30 minutes against the 30
    /// before, at least 3× and at least 10 items; quiet for 2 h after.
    const RULES: &str = r#"
[[rule]]
name = "surge"
title = "{value}激增"
for_each = "district"
window = "30m"
detector = { kind = "ratio", spike_height = 3.0, min_current = 10, min_reference = 1 }
cooldown = "2h"
"#;

    /// 2025-06-02 10:00 +08:00.
    const T0: i64 = 1_748_829_600;

    fn engine(store: Arc<FakeStore>) -> (Engine, Arc<Live>) {
        engine_with(store, RULES)
    }

    /// An engine over `store` with the rules of `rules` (TOML).
    fn engine_with(store: Arc<FakeStore>, rules: &str) -> (Engine, Arc<Live>) {
        let enricher = Arc::new(crate::enrich::Enricher::builtin(b"k").unwrap());
        let vocab = Vocabulary::from_enricher(&enricher);
        let metrics = Arc::new(Metrics::default());
        let rules = super::super::rules::parse(rules, &vocab, &[]).unwrap();
        let live = Arc::new(Live::default());
        let cx = Context {
            store,
            vocab,
            tz: crate::config::default_timezone(),
            live: live.clone(),
            metrics: metrics.clone(),
            incidents: None,
            public_url: String::new(),
        };
        (
            Engine::new(rules, Notifier::start(&[], metrics), 0, cx),
            live,
        )
    }

    /// An engine with routes: 邯山区 → `hs` (escalated after 5 minutes to
    /// `duty`), 丛台区 → `cong`, the rest → `duty`; `mutes` as given.
    fn routed_engine(
        store: Arc<FakeStore>,
        mutes: Vec<crate::config::MuteWindow>,
    ) -> (Engine, Vec<tokio::sync::mpsc::Receiver<Message>>) {
        let enricher = Arc::new(crate::enrich::Enricher::builtin(b"k").unwrap());
        let vocab = Vocabulary::from_enricher(&enricher);
        let metrics = Arc::new(Metrics::default());
        let rules = super::super::rules::parse(RULES, &vocab, &[]).unwrap();
        let (notifier, receivers) = Notifier::channels(&["hs", "cong", "duty"], metrics.clone());
        let route = |d: &[&str], t: &str| crate::config::RouteConfig {
            districts: d.iter().map(|x| (*x).to_owned()).collect(),
            targets: vec![t.to_owned()],
            ..Default::default()
        };
        let mut hs = route(&["邯山区"], "hs");
        hs.escalate_after = Some("5m".into());
        hs.escalate_to = vec!["duty".into()];
        let routing = Routing::new(
            &[hs, route(&["丛台区"], "cong"), route(&[], "duty")],
            &mutes,
            &vocab,
        )
        .unwrap();
        let cx = Context {
            store,
            vocab,
            tz: crate::config::default_timezone(),
            live: Arc::new(Live::default()),
            metrics,
            incidents: None,
            public_url: String::new(),
        };
        (
            Engine::new(rules, notifier, 0, cx).with_routing(routing),
            receivers,
        )
    }

    /// Bursts in 邯山区 and 丛台区 around T0.
    fn two_bursts() -> Arc<FakeStore> {
        let store = Arc::new(FakeStore::default());
        for d in ["邯山区", "丛台区"] {
            store.add(T0 - 1200, 2, d);
            store.add(T0 + 600, 12, d);
        }
        store
    }

    fn titles(rx: &mut tokio::sync::mpsc::Receiver<Message>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok().map(|m| m.title)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn alerts_go_by_place_and_the_unacknowledged_are_escalated_once() {
        let store = two_bursts();
        let (engine, mut rx) = routed_engine(store, Vec::new());
        let engine = Arc::new(engine);
        let start = tokio::time::Instant::now();
        let clock = move || T0 + 1800 + start.elapsed().as_secs() as i64;
        let shutdown = CancellationToken::new();
        let run = tokio::spawn({
            let (engine, shutdown) = (engine.clone(), shutdown.clone());
            async move { engine.run(clock, Duration::from_secs(5), shutdown).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let hs = titles(&mut rx[0]);
        let cong = titles(&mut rx[1]);
        assert!(hs.len() == 1 && hs[0].contains("邯山区激增"), "{hs:?}");
        assert!(
            cong.len() == 1 && cong[0].contains("丛台区激增"),
            "{cong:?}"
        );
        assert!(titles(&mut rx[2]).is_empty(), "duty hears nothing yet");
        // 丛台区 acknowledges; 邯山区 does not.
        let cong_alert = engine
            .firing(&Scope::city())
            .await
            .into_iter()
            .find(|a| a.key == "丛台区")
            .unwrap();
        engine
            .ack(&cong_alert.id, "值班员", clock(), &Scope::city())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(4 * 60)).await;
        assert!(titles(&mut rx[2]).is_empty(), "not before 5 minutes");
        tokio::time::sleep(Duration::from_secs(2 * 60)).await;
        let duty = titles(&mut rx[2]);
        assert_eq!(duty.len(), 1, "{duty:?}");
        assert!(
            duty[0].contains("升级") && duty[0].contains("邯山区"),
            "{duty:?}"
        );
        let escalated = engine.firing(&Scope::city()).await;
        assert!(
            escalated
                .iter()
                .any(|a| a.key == "邯山区" && a.escalated_at.is_some())
        );
        tokio::time::sleep(Duration::from_secs(3 * 60)).await;
        assert!(titles(&mut rx[2]).is_empty(), "escalated once");
        shutdown.cancel();
        run.await.unwrap();
    }

    #[tokio::test]
    async fn alerts_in_quiet_hours_across_midnight_are_recorded_shown_and_not_sent() {
        // Sunday 22:00 to 11:00: T0 (Monday 10:00) is inside, for 邯山区 only.
        let mute = crate::config::MuteWindow {
            days: [false, false, false, false, false, false, true],
            from: 22 * 60,
            to: 11 * 60,
            districts: vec!["邯山区".into()],
            units: Vec::new(),
        };
        let (engine, mut rx) = routed_engine(two_bursts(), vec![mute]);
        let mut feed = engine.cx.live.subscribe().alerts;
        let fired = engine.evaluate(T0 + 1800).await;
        assert_eq!(fired.len(), 2);
        let hs = fired.iter().find(|a| a.key == "邯山区").unwrap();
        assert!(hs.muted && !fired.iter().find(|a| a.key == "丛台区").unwrap().muted);
        assert!(titles(&mut rx[0]).is_empty(), "muted: not sent");
        assert_eq!(titles(&mut rx[1]).len(), 1);
        // Shown: on the walls' feed and in the list.
        let mut published = Vec::new();
        while let Ok(a) = feed.try_recv() {
            published.push(serde_json::from_str::<Alert>(&a.data).unwrap());
        }
        assert!(published.iter().any(|a| a.key == "邯山区" && a.muted));
        assert_eq!(engine.firing(&Scope::city()).await.len(), 2);
        // Nor escalated, nor its resolution sent.
        engine.evaluate(T0 + 1800 + 600).await;
        assert!(titles(&mut rx[2]).is_empty());
        engine.evaluate(T0 + 1800 + 3600).await;
        assert!(titles(&mut rx[0]).is_empty());
        assert_eq!(titles(&mut rx[1]).len(), 1, "丛台区's resolution");
    }

    #[tokio::test]
    async fn an_alert_fires_once_updates_resolves_and_keeps_its_cooldown() {
        let store = Arc::new(FakeStore::default());
        let (engine, live) = engine(store.clone());
        let mut feed = live.subscribe().alerts;
        // A quiet half hour, then a burst in 丛台区.
        store.add(T0 - 1200, 2, "丛台区");
        store.add(T0 + 600, 12, "丛台区");
        store.add(T0 + 600, 2, "邯山区");
        let now = T0 + 1800;

        let fired = engine.evaluate(now).await;
        assert_eq!(fired.len(), 1, "{fired:?}");
        let a = &fired[0];
        assert_eq!((a.key.as_str(), a.status), ("丛台区", Status::Firing));
        assert_eq!(a.title, "丛台区激增");
        assert_eq!((a.observed, a.expected), (12.0, 2.0));
        let published = feed.recv().await.unwrap();
        assert_eq!(published.place.districts, ["丛台区"], "the alert's place");
        let published: Alert = serde_json::from_str(&published.data).unwrap();
        assert_eq!(published.id, a.id);
        assert_eq!(published.districts, ["丛台区"]);
        assert_eq!(engine.firing(&Scope::city()).await.len(), 1);

        // Still high a minute later: no new alert; more items update it.
        assert!(engine.evaluate(now + 60).await.is_empty());
        store.add(now + 100, 5, "丛台区");
        let updated = engine.evaluate(now + 120).await;
        assert_eq!(updated.len(), 1);
        assert_eq!(updated[0].id, a.id);
        assert_eq!(updated[0].observed, 17.0);

        // An hour later the window is quiet: resolved, saved as resolved.
        let resolved = engine.evaluate(now + 3600).await;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert!(engine.firing(&Scope::city()).await.is_empty());
        let history = engine
            .history(now + 3600, 30, 10, &Scope::city())
            .await
            .unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].status, Status::Resolved);

        // A new burst within the cooldown stays quiet; after it, fires.
        store.add(now + 1000, 2, "丛台区");
        store.add(now + 4000, 30, "丛台区");
        assert!(engine.evaluate(now + 4200).await.is_empty());
        store.add(now + 3600 + 5000, 2, "丛台区");
        store.add(now + 3600 + 7300, 30, "丛台区");
        let again = engine.evaluate(now + 3600 + 7400).await;
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].id, a.id);
    }

    #[tokio::test]
    async fn a_restarted_engine_does_not_fire_again_and_silences_hold() {
        let store = Arc::new(FakeStore::default());
        let (first, _) = engine(store.clone());
        store.add(T0 - 1200, 2, "丛台区");
        store.add(T0 + 600, 12, "丛台区");
        let now = T0 + 1800;
        let s = Silence {
            id: "s1".into(),
            rule: Some("surge".into()),
            key: Some("邯山区".into()),
            until: now + 86_400,
            comment: "演练".into(),
            created_at: now,
        };
        first.add_silence(s).await.unwrap();
        assert_eq!(first.evaluate(now).await.len(), 1);

        let (second, _) = engine(store.clone());
        second.restore(now + 60).await.unwrap();
        assert_eq!(second.firing(&Scope::city()).await.len(), 1);
        assert_eq!(second.silences(now + 60).await.len(), 1);
        assert!(second.evaluate(now + 60).await.is_empty(), "fired again");

        // A burst in the silenced district is recorded, marked, not sent.
        store.add(T0 - 600, 2, "邯山区");
        store.add(T0 + 900, 12, "邯山区");
        let silenced = second.evaluate(now + 120).await;
        assert_eq!(silenced.len(), 1);
        assert!(silenced[0].silenced && silenced[0].notified);

        // Acknowledging names who and when; an unknown id is None.
        let id = second.firing(&Scope::city()).await[0].id.clone();
        let acked = second
            .ack(&id, "值班员", now + 180, &Scope::city())
            .await
            .unwrap();
        assert_eq!(acked.acked_by.as_deref(), Some("值班员"));
        assert!(second.ack("nope", "x", now, &Scope::city()).await.is_none());
        assert!(second.end_silence("s1", now + 200).await.unwrap());
        assert!(second.silences(now + 200).await.is_empty());
    }

    #[tokio::test]
    async fn rules_that_need_history_wait_until_the_store_covers_it() {
        let store = Arc::new(FakeStore::default());
        let (engine, _) = engine_with(
            store.clone(),
            "[[rule]]\nname = \"b\"\ntitle = \"t\"\nwindow = \"30m\"\nhistory = 4\nperiod = \"1d\"\ndetector = { kind = \"baseline\", min_count = 3 }\n",
        );
        // Only today in the store: a burst does not fire (no history yet).
        store.add(T0 + 600, 50, "丛台区");
        assert!(engine.evaluate(T0 + 1800).await.is_empty());
        // With four quiet days before it, the same burst fires.
        for d in 1..=4 {
            store.add(T0 + 600 - d * 86_400, 1, "丛台区");
        }
        store.add(T0 - 4 * 86_400 - 3600, 1, "丛台区");
        assert_eq!(engine.evaluate(T0 + 1800).await.len(), 1);
        assert_eq!(engine.cx.metrics.alert_evaluations.load(Relaxed), 2);
    }
}
