//! The storage seam: enriched items and work-order events in, answers to
//! the typed [`Query`] out. Two implementations: SQLite for `minyi serve`
//! ([`sqlite`]) and, for the distributed mode, ClickHouse.
//!
//! Guarantees every store gives: `write` resolves only after the batch is
//! durable; writing an item whose `id` is stored already, or an event
//! stored already, changes nothing (idempotent re-delivery); the answers of
//! `query` count each item once per group it belongs to (an item with two
//! topics counts under both when grouped by topic, once otherwise).

pub mod clickhouse;
pub(crate) mod sql;
pub mod sqlite;

use futures_util::future::BoxFuture;

use crate::metrics::Metrics;
use crate::model::EnrichedItem;
use crate::query::{Answer, Query};
use crate::workorder::WorkOrderEvent;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {path} is in use by another minyi process (pid {holder}); \
         stop it or give another --data"
    )]
    Locked {
        path: std::path::PathBuf,
        holder: String,
    },
    #[error("clickhouse: {0}")]
    ClickHouse(String),
    #[error("the store is closed")]
    Closed,
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Settings of the query side, the same for every store.
#[derive(Debug, Clone, Copy)]
pub struct QuerySettings {
    /// Wall-clock offset east of UTC, seconds: where day buckets start.
    pub tz_offset: i64,
    /// A work order open longer than this is overdue (超期).
    pub sla_seconds: i64,
    /// The supervision queue's deadlines (`dispatch_hours`,
    /// `callback_hours`), in seconds: [`crate::query::supervision`].
    pub dispatch_seconds: i64,
    pub callback_seconds: i64,
}

impl QuerySettings {
    /// The wall clock and the SLA of a checked config.
    pub fn from_config(c: &crate::config::Checked) -> QuerySettings {
        QuerySettings {
            tz_offset: i64::from(c.timezone.local_minus_utc()),
            sla_seconds: c.sla_seconds,
            dispatch_seconds: c.dispatch_seconds,
            callback_seconds: c.callback_seconds,
        }
    }

    /// The supervision queue's deadlines.
    pub fn deadlines(&self) -> crate::query::supervision::Deadlines {
        crate::query::supervision::Deadlines {
            dispatch: self.dispatch_seconds,
            callback: self.callback_seconds,
            sla: self.sla_seconds,
        }
    }

    /// The wall clock's zone.
    pub fn tz(&self) -> chrono::FixedOffset {
        chrono::FixedOffset::east_opt(self.tz_offset as i32)
            .unwrap_or_else(crate::config::default_timezone)
    }
}

/// The settings of a config that names neither zone nor SLA.
impl Default for QuerySettings {
    fn default() -> QuerySettings {
        QuerySettings {
            tz_offset: i64::from(crate::config::default_timezone().local_minus_utc()),
            sla_seconds: (crate::config::DEFAULT_SLA_DAYS * 86_400.0) as i64,
            dispatch_seconds: (crate::config::DEFAULT_DISPATCH_HOURS * 3600.0) as i64,
            callback_seconds: (crate::config::DEFAULT_CALLBACK_HOURS * 3600.0) as i64,
        }
    }
}

/// The `detail` of a stored item (JSON): why it is tagged as it is —
/// topic and sentiment evidence, masked kinds, contact hash, model. The
/// same document in every store; the item lists return it as is.
pub(crate) fn detail_json(item: &EnrichedItem) -> String {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        topic_evidence: &'a [crate::model::TopicTag],
        sentiment_evidence: &'a [String],
        pii: &'a [crate::model::PiiKind],
        contact_hash: Option<&'a str>,
        model_version: &'a str,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        unknown_places: &'a [String],
    }
    serde_json::to_string(&Detail {
        topic_evidence: &item.topic_evidence,
        sentiment_evidence: &item.sentiment.evidence,
        pii: &item.pii,
        contact_hash: item.contact_hash.as_deref(),
        model_version: &item.model_version,
        unknown_places: &item.unknown_places,
    })
    .expect("plain data serializes")
}

/// A stored item's `received_at` in milliseconds: from its RFC 3339 text
/// (which keeps the milliseconds), else its second `ts`.
pub(crate) fn received_millis(received_at: &str, ts: i64) -> i64 {
    chrono::DateTime::parse_from_rfc3339(received_at)
        .map_or(ts.saturating_mul(1000), |t| t.timestamp_millis())
}

/// An item's topics as the rules found them ([`crate::incident::rule_topics`]),
/// from its stored topics and `detail` (whose topic evidence says which
/// tags are the topic model's alone).
pub(crate) fn rule_topics_of(topics: &[String], detail: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Evidence {
        #[serde(default)]
        topic_evidence: Vec<crate::model::TopicTag>,
    }
    let evidence =
        serde_json::from_str::<Evidence>(detail).map_or(Vec::new(), |e| e.topic_evidence);
    crate::incident::rule_topics(topics, &evidence)
}

/// The `detail` an item keeps once its personal content is gone (expired
/// or erased): the masked kinds and the model stay (they say nothing of
/// the person); evidence quoting the text and the contact hash do not.
pub(crate) fn redacted_detail(reason: Redaction) -> String {
    serde_json::json!({ "redacted": reason.as_str() }).to_string()
}

/// Why an item no longer has its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redaction {
    /// Older than `retention_days`.
    Expired,
    /// Erased on request (`DELETE /api/v1/contacts/…`, `/feedback/…`).
    Erased,
}

impl Redaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Redaction::Expired => "expired",
            Redaction::Erased => "erased",
        }
    }

    pub fn parse(s: &str) -> Option<Redaction> {
        match s {
            "expired" => Some(Redaction::Expired),
            "erased" => Some(Redaction::Erased),
            _ => None,
        }
    }
}

/// Whose items an erasure takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erase {
    /// One item, by its id.
    Item(String),
    /// Every item of one contact, by its contact hash.
    Contact(String),
}

/// One access to the API, as the audit keeps it: who (the token's name,
/// or its role and the first characters of its hash), what (method, route,
/// query parameters, masked), with what result (status, items returned).
/// Never an item's text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Unix seconds (the API shows it as RFC 3339 in the centre's zone).
    #[serde(skip)]
    pub at: i64,
    /// The token's configured name, `role:` and its hash's first 8 hex
    /// digits, `open` or `none`.
    pub token: String,
    /// viewer, analyst, ingest, admin; `open` on a server without tokens,
    /// `none` for a request without a valid token.
    pub role: String,
    pub method: String,
    pub path: String,
    /// The query string with `access_token` removed and search terms masked.
    pub query: String,
    pub status: u16,
    /// Items the response carried (lists, CSV rows, erased items); null
    /// when it carries none.
    pub items: Option<u64>,
}

/// Which audit entries to read: `[from, to)` (unix seconds), of one token
/// name or all, oldest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub from: i64,
    pub to: i64,
    pub token: Option<String>,
    pub limit: usize,
}

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Items that lost their personal content.
    pub items: u64,
    /// Audit entries dropped.
    pub audit: u64,
}

/// What one ingest call writes.
#[derive(Debug, Default)]
pub struct WriteBatch {
    pub items: Vec<EnrichedItem>,
    pub events: Vec<WorkOrderEvent>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Per item of the batch: true when it was new, false for a duplicate.
    pub new_items: Vec<bool>,
    /// Events not stored before.
    pub new_events: usize,
}

/// Where a follower of the stored items got to ([`Store::stored_since`]):
/// the store's order of storing (SQLite: the row number; ClickHouse: the
/// microsecond of insertion, the id breaking ties within a batch).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredAfter {
    pub order: u64,
    pub id: String,
}

/// A stored item as the incident tracker reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub after: StoredAfter,
    pub id: String,
    pub channel: String,
    /// Whether it names a case or work order (`case_ref`): a revisit
    /// answer about that case.
    pub has_case: bool,
    /// `received_at`, milliseconds since the epoch.
    pub at: i64,
    /// Masked text (empty when erased or expired).
    pub text: String,
    pub district: Option<String>,
    /// Its topics as the rules found them (the topic model's guesses left out).
    pub topics: Vec<String>,
    /// The incident stored for it (None: alone, or not assigned yet).
    pub incident: Option<String>,
    /// Its contact's keyed hash (None: no contact, or erased).
    pub contact: Option<String>,
    /// Every topic it shows (the model's too): what a repeat complaint
    /// compares ([`crate::repeat`]).
    pub shown_topics: Vec<String>,
    /// Whether it is stored as a repeat complaint.
    pub repeat: bool,
}

impl StoredItem {
    /// What the incident tracker needs of an item older than the incidents
    /// it replays: the repeat context (its id, time, contact and shown
    /// topics) and nothing it would hold for no use (None: no contact).
    /// At 10M items the start held 60 days of whole items: 9.7 GB.
    pub fn context(self) -> Option<StoredItem> {
        self.contact.is_some().then(|| StoredItem {
            text: String::new(),
            district: None,
            topics: Vec::new(),
            incident: None,
            ..self
        })
    }

    /// The item whole when received at or after `from` (unix seconds),
    /// else its [`StoredItem::context`].
    pub fn whole_from(self, from: i64) -> Option<StoredItem> {
        if self.at >= from.saturating_mul(1000) {
            Some(self)
        } else {
            self.context()
        }
    }
}

pub trait Store: Send + Sync + 'static {
    /// Stores a batch; resolves once it is durable.
    fn write(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>>;

    /// Stores a batch of archived history (`minyi import`) as [`Store::write`]
    /// does, except that a store may count the items in its rollups only
    /// at [`Store::settle_history`] (bulk counting is far cheaper than item
    /// by item for history spread over months). Until then, aggregates may
    /// leave them out; the items themselves are stored and durable.
    fn write_history(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome>> {
        self.write(batch)
    }

    /// Counts the items of [`Store::write_history`] not counted yet in every
    /// aggregate; returns how many it counted. A store opened after an
    /// import stopped halfway counts them when it opens.
    fn settle_history(&self) -> BoxFuture<'static, Result<u64>> {
        Box::pin(std::future::ready(Ok(0)))
    }

    /// Answers one query. `now` (unix seconds) decides what is overdue.
    fn query(&self, query: Query, now: i64) -> BoxFuture<'static, Result<Answer>>;

    /// Every item `filters` match, as [`Query::Feedback`] lists them (newest
    /// first, with their work orders, incident and repeat mark), at most
    /// `limit`, in batches: an export without the list's per-page reads.
    /// None (the default): the store has no faster way than the list's
    /// pages, which the caller walks by their cursor.
    fn export(
        &self,
        filters: crate::query::Filters,
        limit: usize,
    ) -> Option<futures_util::stream::BoxStream<'static, Result<Vec<crate::query::FeedbackRow>>>>
    {
        let _ = (filters, limit);
        None
    }

    /// Small documents the server keeps (alerts, silences), by kind and id:
    /// those updated at or after `since` (unix seconds).
    fn state_load(&self, kind: &'static str, since: i64)
    -> BoxFuture<'static, Result<Vec<String>>>;

    /// Stores (replaces) one such document.
    fn state_save(
        &self,
        kind: &'static str,
        id: String,
        doc: String,
        at: i64,
    ) -> BoxFuture<'static, Result<()>>;

    /// Appends access-audit entries. The audit is append-only: nothing
    /// changes an entry; only [`Store::expire`] drops old ones.
    fn audit_append(&self, entries: Vec<AuditEntry>) -> BoxFuture<'static, Result<()>>;

    /// Audit entries, oldest first.
    fn audit_read(&self, query: AuditQuery) -> BoxFuture<'static, Result<Vec<AuditEntry>>>;

    /// Erases the personal content of the items `target` names — text,
    /// tokens (and their search index entries), keywords (and their counts
    /// in the hot-word rollups), evidence, contact hash, case reference —
    /// keeping each item's counts in every other aggregate and KPI. Returns
    /// how many items it erased (0: none matched, or erased before). Once
    /// it returns, the content is gone from the store's files too.
    fn erase(&self, target: Erase) -> BoxFuture<'static, Result<u64>>;

    /// Retention: items received before `items_before` (when given) lose
    /// their personal content as in [`Store::erase`], keeping every count,
    /// rollup (hot words included) and KPI; audit entries before
    /// `audit_before` are dropped.
    fn expire(
        &self,
        items_before: Option<i64>,
        audit_before: i64,
    ) -> BoxFuture<'static, Result<Expired>>;

    /// Items stored after `after`, in the order they were stored, whose
    /// `received_at` is at or after `since` (unix seconds); at most
    /// `limit`. What the incident tracker follows.
    fn stored_since(
        &self,
        after: StoredAfter,
        since: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<StoredItem>>>;

    /// When the incidents stored for the items received at or after
    /// `since` began: the earliest time (unix seconds) an item of theirs
    /// was received, looking no further back than `floor` (None: no such
    /// incident). The tracker replays from there on start, so that it names
    /// no incident anew.
    fn incidents_began(&self, since: i64, floor: i64) -> BoxFuture<'static, Result<Option<i64>>>;

    /// The items received at or after `since`, and the newest of them in
    /// the order of storing (default: none read): what the incident
    /// tracker reads on start. Those received before `whole_from` come as
    /// [`StoredItem::context`] (repeat context only). By default
    /// [`Store::stored_since`] a page at a time; a store whose order of
    /// storing is not its key reads it by its key.
    fn stored_window(
        &self,
        since: i64,
        whole_from: i64,
    ) -> BoxFuture<'_, Result<(Vec<StoredItem>, StoredAfter)>> {
        Box::pin(async move {
            /// Items read a page.
            const PAGE: usize = 5000;
            let mut after = StoredAfter::default();
            let mut items: Vec<StoredItem> = Vec::new();
            loop {
                let page = self.stored_since(after.clone(), since, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.after.clone();
                let full = page.len() == PAGE;
                items.extend(page.into_iter().filter_map(|i| i.whole_from(whole_from)));
                if !full {
                    break;
                }
            }
            Ok((items, after))
        })
    }

    /// Stores each item's incident as the tracker changed it (None: the
    /// item stands alone). An id the store does not hold is skipped.
    fn set_incidents(
        &self,
        changes: Vec<crate::incident::Change>,
    ) -> BoxFuture<'static, Result<()>>;

    /// Stores each item's repeat mark (重复诉求) as the tracker changed it.
    /// An id the store does not hold is skipped.
    fn set_repeats(&self, marks: Vec<crate::repeat::Mark>) -> BoxFuture<'static, Result<()>>;

    /// Finishes pending writes and stops accepting new ones.
    fn close(&self) -> BoxFuture<'static, Result<()>>;
}

/// Asks `store`, counting the query and its time in `metrics`: every
/// reader (API, panels, alerts, exports) goes through here, so
/// `minyi_store_queries_total` counts them all.
pub async fn ask(store: &dyn Store, metrics: &Metrics, query: Query, now: i64) -> Result<Answer> {
    let start = std::time::Instant::now();
    metrics
        .queries
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let answer = match query {
        Query::Rank(r) if r.metric == crate::query::Metric::DissatisfiedResolvedRate => {
            rank_by_resolution(store, r, now).await
        }
        Query::Summary(f) => summary_with_repeats(store, f, now).await,
        query => store.query(query, now).await,
    };
    metrics.query_seconds.observe(start.elapsed());
    answer.map(|a| match a {
        Answer::Timeseries(ts) => Answer::Timeseries(ts.capped(crate::query::MAX_SERIES)),
        other => other,
    })
}

/// A summary with its repeat complaints (重复诉求率), the same on every
/// store: the matching items marked as repeats, counted per channel (each
/// item has one) where the marks' partial index or table holds only them.
async fn summary_with_repeats(
    store: &dyn Store,
    f: crate::query::Filters,
    now: i64,
) -> Result<Answer> {
    let mut marked = f.clone();
    let Answer::Summary(s) = store.query(Query::Summary(f), now).await? else {
        return Err(StoreError::Corrupt("a summary answered otherwise".into()));
    };
    if marked.repeat == Some(false) || s.received == 0 {
        return Ok(Answer::Summary(s.with_repeats(0)));
    }
    marked.repeat = Some(true);
    let repeat = match store
        .query(
            Query::Top {
                filters: marked,
                dim: crate::query::TopDim::Channel,
                limit: crate::query::MAX_TOP_LIMIT,
            },
            now,
        )
        .await?
    {
        Answer::Top(rows) => rows.iter().map(|r| r.count).sum(),
        _ => 0,
    };
    Ok(Answer::Summary(s.with_repeats(repeat)))
}

/// A rank by 不满意化解率, the same on every store: each key's counts from
/// the store's rank, and its 不满意 and resolved items from a summary of
/// that key (the stores compute a resolution through a later rating on the
/// same case per query; a per-key join is not worth its cost at the
/// gazetteer's few dozen keys). The row of items without a value keeps no
/// rate: a filter cannot ask for "no district".
async fn rank_by_resolution(store: &dyn Store, r: crate::query::Rank, now: i64) -> Result<Answer> {
    use crate::query::{Dim, Filters, KeyCounts};
    let counts = |filters: Filters| {
        let q = Query::Rank(crate::query::Rank {
            filters: filters.clone(),
            compare: None,
            by_change: false,
            ..r.clone()
        });
        async move {
            let mut counts: Vec<KeyCounts> = match store.query(q, now).await? {
                Answer::Rank(k) => k
                    .rows
                    .into_iter()
                    .chain(k.unknown)
                    .map(|row| row.counts)
                    .collect(),
                _ => Vec::new(),
            };
            for c in counts.iter_mut().filter(|c| !c.key.is_empty()) {
                let mut f = filters.clone();
                let list = match r.dim {
                    Dim::District => &mut f.district,
                    Dim::Unit => &mut f.unit,
                    Dim::Topic => &mut f.topic,
                    Dim::Channel => &mut f.channel,
                    Dim::Sentiment => continue,
                };
                *list = vec![c.key.clone()];
                if let Answer::Summary(s) = store.query(Query::Summary(f), now).await? {
                    c.dissatisfied = s.dissatisfied;
                    c.dissatisfied_resolved = s.dissatisfied_resolved;
                }
            }
            Ok::<_, StoreError>(counts)
        }
    };
    let current = counts(r.filters.clone()).await?;
    // The compared range as it stood as long before now (its resolutions
    // and orders), as every compared figure.
    let previous = match r.previous_filters(now) {
        Some(f) => Some(counts(f).await?),
        None => None,
    };
    Ok(Answer::Rank(crate::query::rank(&r, current, previous)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_query_settings_are_an_empty_configs() {
        let from_config =
            QuerySettings::from_config(&crate::config::Config::default().validate(None).unwrap());
        let default = QuerySettings::default();
        assert_eq!(from_config.tz_offset, default.tz_offset);
        assert_eq!(from_config.sla_seconds, default.sla_seconds);
        assert_eq!(
            (from_config.dispatch_seconds, from_config.callback_seconds),
            (default.dispatch_seconds, default.callback_seconds)
        );
        assert_eq!(
            (default.dispatch_seconds, default.callback_seconds),
            (24 * 3600, 48 * 3600)
        );
        assert_eq!(default.sla_seconds, 5 * 86_400);
    }
}
