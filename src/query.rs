//! The typed query model: what the API, the wall-screen panels and the
//! alerts may ask of a store. A client never sends SQL or identifiers; it
//! sends query-string pairs that [`Request::parse`] turns into one of these
//! values, checking every name against the [`Vocabulary`] (the channels,
//! topics and gazetteer of the pipeline files) and every number against a
//! bound. Stores render a [`Query`] into their own dialect from whitelisted
//! identifiers and bound values only.
//!
//! Time: `from` is inclusive, `to` exclusive, both applied at minute
//! precision (`from` rounded down, `to` rounded up to the minute) so that
//! per-minute rollups and raw items give the same answers. Buckets of a
//! time series are aligned to the centre's wall clock (the configured UTC
//! offset), so a `1d` bucket is a local calendar day.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::enrich::Enricher;
use crate::model::{Rating, SentimentLabel};

pub mod scope;
pub mod search;
pub mod supervision;

pub use scope::{OutOfScope, Scope};

/// Longest accepted search text, in characters (its words are bounded
/// too: [`search::MAX_WORDS`], [`search::MAX_WORD_CHARS`]).
pub const MAX_Q_CHARS: usize = 320;
/// Most values one filter parameter may list: every unit of a city (a
/// bureau of ~200 stations and brigades) fits, so "all 派出所" is one view.
pub const MAX_FILTER_VALUES: usize = 256;
/// Most buckets one time series may span (e.g. 1m over ~3.5 days).
pub const MAX_BUCKETS: i64 = 5000;
/// Bounds of `limit` for item lists and rankings.
pub const MAX_ITEMS_LIMIT: usize = 1000;
/// Most incidents of one list.
pub const MAX_INCIDENTS_LIMIT: usize = 100;
/// Most series of one grouped time series: the largest `MAX_SERIES - 1`,
/// then the rest summed as one [`OTHER_SERIES`] (其他). With closed
/// vocabularies no dimension has more today; the bound holds whatever a
/// store holds.
pub const MAX_SERIES: usize = 50;
/// The key of the series that sums the smaller ones.
pub const OTHER_SERIES: &str = "_other";
pub const MAX_TOP_LIMIT: usize = 100;

/// A dimension items can be grouped or ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    Channel,
    Topic,
    District,
    Unit,
    Sentiment,
}

impl Dim {
    pub const ALL: [Dim; 5] = [
        Dim::Channel,
        Dim::Topic,
        Dim::District,
        Dim::Unit,
        Dim::Sentiment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Channel => "channel",
            Dim::Topic => "topic",
            Dim::District => "district",
            Dim::Unit => "unit",
            Dim::Sentiment => "sentiment",
        }
    }

    fn parse(s: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// What `top` ranks: a dimension or the items' keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopDim {
    Channel,
    Topic,
    District,
    Unit,
    Keyword,
}

impl TopDim {
    pub fn as_str(self) -> &'static str {
        match self {
            TopDim::Channel => "channel",
            TopDim::Topic => "topic",
            TopDim::District => "district",
            TopDim::Unit => "unit",
            TopDim::Keyword => "keyword",
        }
    }

    fn parse(s: &str) -> Option<TopDim> {
        [
            TopDim::Channel,
            TopDim::Topic,
            TopDim::District,
            TopDim::Unit,
            TopDim::Keyword,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// The dimension ranked, or None for keywords.
    pub fn dim(self) -> Option<Dim> {
        match self {
            TopDim::Channel => Some(Dim::Channel),
            TopDim::Topic => Some(Dim::Topic),
            TopDim::District => Some(Dim::District),
            TopDim::Unit => Some(Dim::Unit),
            TopDim::Keyword => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    pub fn seconds(self) -> i64 {
        match self {
            Interval::M1 => 60,
            Interval::M5 => 300,
            Interval::H1 => 3600,
            Interval::D1 => 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::H1 => "1h",
            Interval::D1 => "1d",
        }
    }

    fn parse(s: &str) -> Option<Interval> {
        [Interval::M1, Interval::M5, Interval::H1, Interval::D1]
            .into_iter()
            .find(|i| i.as_str() == s)
    }
}

/// Which items a query covers. Empty lists mean "any"; values within one
/// list are alternatives (OR), lists combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    pub channel: Vec<String>,
    pub topic: Vec<String>,
    pub district: Vec<String>,
    pub unit: Vec<String>,
    pub sentiment: Vec<SentimentLabel>,
    pub rating: Vec<Rating>,
    /// Unix seconds, inclusive, a multiple of 60.
    pub from: Option<i64>,
    /// Unix seconds, exclusive, a multiple of 60.
    pub to: Option<i64>,
    /// Search (`q`, grammar in [`search`]): each inner list a group of
    /// alternative words, every group required; a word matches as a
    /// substring of an item's searchable text.
    pub q: Vec<Vec<String>>,
    /// `Some(true)`: only items with text; `Some(false)`: only items
    /// without (a rating alone, e.g. a bare SMS revisit reply "1").
    pub has_text: Option<bool>,
    /// Which work orders the range selects (summary and orders).
    pub orders_by: OrdersBy,
    /// The work orders as they stood at this time (unix seconds; summary
    /// and orders; None or later than now: now): only those created
    /// before it count, resolved only if their resolution came before it,
    /// and 在办 and 超期 are the orders open then. A comparison asks the
    /// earlier period as of the same time before now, so both periods have
    /// had the same time to finish their orders. The items' counts and
    /// 不满意化解 are not read as of it.
    pub as_of: Option<i64>,
    /// Only the items of these incidents (`i-` ids, [`crate::incident`]).
    pub incident: Vec<String>,
    /// Only the items of one contact, by its hash (64 lower-case hex
    /// digits): no query parameter, set by `GET /api/v1/contacts/{hash}`.
    pub contact: Option<String>,
    /// `Some(true)`: only repeat complaints (重复诉求, [`crate::repeat`]);
    /// `Some(false)`: only the others.
    pub repeat: Option<bool>,
}

/// Which work orders a range selects: those created in it (the default),
/// or those due in it — created one SLA before — so that 办结率 over a
/// window asks only about orders that should be finished by now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrdersBy {
    #[default]
    Created,
    Due,
}

impl OrdersBy {
    /// The bounds on `created_at` of the orders `[from, to)` selects when
    /// orders are due `sla_seconds` after their creation.
    pub fn created_range(
        self,
        from: Option<i64>,
        to: Option<i64>,
        sla_seconds: i64,
    ) -> (Option<i64>, Option<i64>) {
        match self {
            OrdersBy::Created => (from, to),
            OrdersBy::Due => (from.map(|f| f - sla_seconds), to.map(|t| t - sla_seconds)),
        }
    }
}

impl Filters {
    /// True when only the time range is set.
    pub fn is_time_only(&self) -> bool {
        self.channel.is_empty()
            && self.topic.is_empty()
            && self.district.is_empty()
            && self.unit.is_empty()
            && self.sentiment.is_empty()
            && self.rating.is_empty()
            && self.q.is_empty()
            && self.has_text.is_none()
            && self.incident.is_empty()
            && self.contact.is_none()
            && self.repeat.is_none()
    }

    /// The time the work orders' states are read at ([`Filters::as_of`])
    /// when it is not now.
    pub fn orders_as_of(&self, now: i64) -> Option<i64> {
        self.as_of.map(|t| t.min(now))
    }

    /// Sets the range, applying the minute precision of the model.
    pub fn with_range(mut self, from: Option<i64>, to: Option<i64>) -> Filters {
        self.from = from.map(floor_minute);
        self.to = to.map(ceil_minute);
        self
    }
}

impl Filters {
    /// The filters as the API's (and the explorer's) query parameters, in
    /// the centre's zone: what [`Request::parse`] reads back into them.
    /// `contact` has no parameter and is left out.
    pub fn params(&self, tz: FixedOffset) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(from) = self.from {
            p.push(("from", rfc3339(from, tz)));
        }
        if let Some(to) = self.to {
            p.push(("to", rfc3339(to, tz)));
        }
        for (key, values) in [
            ("channel", &self.channel),
            ("topic", &self.topic),
            ("district", &self.district),
            ("unit", &self.unit),
            ("incident", &self.incident),
        ] {
            p.extend(values.iter().map(|v| (key, v.clone())));
        }
        p.extend(
            self.sentiment
                .iter()
                .map(|s| ("sentiment", s.as_str().to_owned())),
        );
        p.extend(
            self.rating
                .iter()
                .map(|r| ("rating", r.number().to_string())),
        );
        if !self.q.is_empty() {
            let groups: Vec<String> = self.q.iter().map(|g| g.join("|")).collect();
            p.push(("q", groups.join(" ")));
        }
        if let Some(t) = self.has_text {
            p.push(("has_text", t.to_string()));
        }
        if let Some(r) = self.repeat {
            p.push(("repeat", r.to_string()));
        }
        p
    }
}

pub fn floor_minute(t: i64) -> i64 {
    t.div_euclid(60) * 60
}

pub fn ceil_minute(t: i64) -> i64 {
    floor_minute(t + 59)
}

/// Start of the bucket holding `t`, buckets aligned to the wall clock of
/// `offset` seconds east of UTC.
pub fn bucket_start(t: i64, width: i64, offset: i64) -> i64 {
    (t + offset).div_euclid(width) * width - offset
}

/// A cursor through an item list, newest first: the (time, sequence) of
/// the last item returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub ts: i64,
    pub seq: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.ts, self.seq)
    }
}

impl Cursor {
    /// What [`Cursor`]'s `Display` writes, and nothing else: a time within
    /// the years 1970–9999 and a sequence ≥ 0, digits only (no sign).
    fn parse(s: &str) -> Option<Cursor> {
        let (ts, seq) = s.split_once('.')?;
        let number = |v: &str| -> Option<i64> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            v.parse().ok()
        };
        let ts = number(ts).filter(|t| *t <= 253_402_300_799)?;
        Some(Cursor {
            ts,
            seq: number(seq)?,
        })
    }
}

/// One question to a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    Summary(Filters),
    /// The work-order part of the summary alone (办结率, 在办, 超期): what
    /// a backlog panel shows, without the item counts.
    Orders(Filters),
    Timeseries {
        filters: Filters,
        interval: Interval,
        group_by: Option<Dim>,
    },
    Top {
        filters: Filters,
        dim: TopDim,
        limit: usize,
    },
    Feedback {
        filters: Filters,
        limit: usize,
        cursor: Option<Cursor>,
    },
    /// Every value of a dimension ranked by a [`Metric`], the items
    /// without a value as their own row: the explorer's ranking and the
    /// league tables (`GET /api/v1/stats/rank`).
    Rank(Rank),
    /// The incidents of the matching items ([`crate::incident`]): those
    /// with at least two matching items, most recent activity first (or
    /// the largest first, `by_count`).
    Incidents {
        filters: Filters,
        limit: usize,
        by_count: bool,
    },
    /// The supervision queue (督办台账, [`supervision`]): the dissatisfied
    /// items matching the filters as cases, at their stages.
    Supervision {
        filters: Filters,
        status: supervision::Status,
        limit: usize,
    },
    /// The times of the oldest and newest stored items: how much history
    /// there is (alert rules wait until their history is covered).
    Extent,
    /// The revisit funnel (回访): the orders whose revisit SMS went out in
    /// the range (`revisit_sent`), how many were answered (a later
    /// `revisited` with a rating), and those sent at least
    /// [`REVISIT_REPLY_DAYS`] ago without an answer; by unit and channel.
    Revisits(Filters),
}

impl Query {
    /// The filters the query reads, if it has any.
    pub fn filters_mut(&mut self) -> Option<&mut Filters> {
        match self {
            Query::Summary(f) | Query::Orders(f) | Query::Revisits(f) => Some(f),
            Query::Timeseries { filters, .. }
            | Query::Top { filters, .. }
            | Query::Feedback { filters, .. }
            | Query::Incidents { filters, .. }
            | Query::Supervision { filters, .. } => Some(filters),
            Query::Rank(r) => Some(&mut r.filters),
            Query::Extent => None,
        }
    }
}

/// What a rank orders by. Each is answered exactly by both stores: counts
/// from the rollups or the items, 办结率 from the work orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Items (受理量).
    Count,
    /// Negative items.
    Negative,
    /// Negative ÷ items (负面占比).
    NegativeShare,
    /// 满意率: (满意 + 基本满意) ÷ rated items.
    SatisfactionRate,
    /// 办结率: resolved ÷ created work orders (or due, `orders_by=due`).
    CompletionRate,
    /// 不满意化解率: items rated 不满意 later resolved ÷ items rated 不满意
    /// (per key, one summary of the key: [`crate::store::ask`]).
    DissatisfiedResolvedRate,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Count,
        Metric::Negative,
        Metric::NegativeShare,
        Metric::SatisfactionRate,
        Metric::CompletionRate,
        Metric::DissatisfiedResolvedRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Count => "count",
            Metric::Negative => "negative",
            Metric::NegativeShare => "negative_share",
            Metric::SatisfactionRate => "satisfaction_rate",
            Metric::CompletionRate => "completion_rate",
            Metric::DissatisfiedResolvedRate => "dissatisfied_resolved_rate",
        }
    }

    /// A metric's name; `received` (受理量, the league tables' word) is `count`.
    fn parse(s: &str) -> Option<Metric> {
        if s == "received" {
            return Some(Metric::Count);
        }
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the metric is a share (its change is in points, not items).
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Metric::NegativeShare
                | Metric::SatisfactionRate
                | Metric::CompletionRate
                | Metric::DissatisfiedResolvedRate
        )
    }

    /// The metric's value of one key's counts, and the volume it stands on
    /// (its denominator: items, rated items or work orders).
    pub fn of(self, c: &KeyCounts) -> (Option<f64>, u64) {
        match self {
            Metric::Count => (Some(c.count as f64), c.count),
            Metric::Negative => (Some(c.negative as f64), c.count),
            Metric::NegativeShare => (rate(c.negative, c.count), c.count),
            Metric::SatisfactionRate => (rate(c.satisfied, c.rated), c.rated),
            Metric::CompletionRate => (rate(c.orders_resolved, c.orders_created), c.orders_created),
            Metric::DissatisfiedResolvedRate => (
                rate(c.dissatisfied_resolved, c.dissatisfied),
                c.dissatisfied,
            ),
        }
    }
}

/// A rank query: `dim`'s values by `metric` over the filters' range,
/// each with its change against `compare` (another range, unix seconds,
/// minute-precise) when given. Values standing on fewer than `min_volume`
/// items (rated items, orders) are not ranked: they follow the ranked rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rank {
    pub filters: Filters,
    /// Channel, topic, district or unit.
    pub dim: Dim,
    pub metric: Metric,
    pub min_volume: u64,
    /// Lowest first (e.g. the station with the lowest 满意率) instead of
    /// highest; with `by_change`, the largest fall first.
    pub ascending: bool,
    pub compare: Option<(i64, i64)>,
    /// Rows in the order of their change against the compared range (the
    /// largest rise first: "which district rose most"), those without a
    /// change after those with one; places (`rank`) stay by value,
    /// highest first. Needs `compare`.
    pub by_change: bool,
}

impl Rank {
    /// The filters of the compared range, if any: its work orders as they
    /// stood as long before now as the range lies before the ranked one
    /// ([`Filters::as_of`]), so both had as long to finish them.
    pub fn previous_filters(&self, now: i64) -> Option<Filters> {
        let (from, to) = self.compare?;
        Some(Filters {
            from: Some(from),
            to: Some(to),
            as_of: compared_as_of(self.filters.to, to, now),
            ..self.filters.clone()
        })
    }
}

/// When an earlier range (ending at `earlier_to`) compared with one ending
/// at `to` (None: now) reads its work orders ([`Filters::as_of`]): as long
/// before now as it lies before that range, so both had as long to finish
/// them. None when it does not lie before.
pub fn compared_as_of(to: Option<i64>, earlier_to: i64, now: i64) -> Option<i64> {
    let shift = to.unwrap_or(now).min(now) - earlier_to;
    (shift > 0).then_some(now - shift)
}

/// A range that ends now by default ends after the current second (`to`
/// is exclusive): an item received in the second asked at, when that
/// second began a minute, fell outside the minute-rounded range.
const UP_TO_NOW: i64 = 1;

/// Most `min_volume` a rank accepts.
pub const MAX_MIN_VOLUME: u64 = 1_000_000;

/// A query that failed validation: the parameter and why. Becomes a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{param}`: {message}")]
pub struct QueryError {
    pub param: String,
    pub message: String,
}

fn bad(param: &str, message: impl Into<String>) -> QueryError {
    QueryError {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// The names a filter may use and what the screens call them.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Knows the domain-generic words.
    enricher: Arc<Enricher>,
    /// (code, display name), in file order.
    pub channels: Vec<(String, String)>,
    pub topics: Vec<(String, String)>,
    pub districts: Vec<String>,
    pub units: Vec<String>,
    /// The district bureau of each unit of `units` (None: a city-level unit).
    unit_districts: Vec<Option<String>>,
}

impl Vocabulary {
    pub fn from_enricher(e: &Arc<Enricher>) -> Vocabulary {
        Vocabulary {
            enricher: e.clone(),
            channels: e
                .channels()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect(),
            topics: e
                .topics()
                .names()
                .map(|(c, n)| (c.to_owned(), n.to_owned()))
                .collect(),
            districts: e.gazetteer().districts().to_vec(),
            units: e.gazetteer().units().to_vec(),
            unit_districts: e
                .gazetteer()
                .unit_districts()
                .map(|d| d.map(str::to_owned))
                .collect(),
        }
    }

    /// The district bureau a unit belongs to (None: a city-level unit, or
    /// no unit of the gazetteer).
    pub fn district_of(&self, unit: &str) -> Option<&str> {
        let i = self.units.iter().position(|u| u == unit)?;
        self.unit_districts[i].as_deref()
    }

    /// The display name of a key of a dimension ("" is "未识别").
    pub fn name(&self, dim: Dim, key: &str) -> String {
        let lookup = |pairs: &[(String, String)]| {
            pairs.iter().find(|(c, _)| c == key).map(|(_, n)| n.clone())
        };
        let name = match dim {
            Dim::Channel => lookup(&self.channels),
            Dim::Topic => lookup(&self.topics),
            Dim::Sentiment => SentimentLabel::parse(key).map(|s| sentiment_name(s).to_owned()),
            Dim::District | Dim::Unit => None,
        };
        match name {
            Some(n) => n,
            None if key.is_empty() => "未识别".to_owned(),
            None => key.to_owned(),
        }
    }

    /// Whether a keyword is domain-generic (`pipelines/dict/generic.txt`).
    pub fn is_generic_word(&self, word: &str) -> bool {
        self.enricher.is_generic_word(word)
    }

    fn check(&self, param: &str, value: &str) -> Result<(), QueryError> {
        let known = match param {
            "channel" => self.channels.iter().any(|(c, _)| c == value),
            "topic" => self.topics.iter().any(|(c, _)| c == value),
            "district" => self.districts.iter().any(|d| d == value),
            "unit" => self.units.iter().any(|u| u == value),
            _ => unreachable!("only dimension parameters are checked"),
        };
        if known {
            Ok(())
        } else {
            Err(bad(param, format!("unknown value {value:?}")))
        }
    }
}

pub fn sentiment_name(s: SentimentLabel) -> &'static str {
    match s {
        SentimentLabel::Positive => "正面",
        SentimentLabel::Neutral => "中性",
        SentimentLabel::Negative => "负面",
    }
}

/// The kind of request, from the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Summary,
    Orders,
    Timeseries,
    Top,
    Feedback,
    Rank,
    Incidents,
    Revisits,
    Supervision,
}

impl Request {
    /// Parses the query string pairs of a request. `now` (unix seconds)
    /// anchors defaults: a time series without `from` covers the 24 hours
    /// before `to` (default now).
    pub fn parse<'a>(
        self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        vocab: &Vocabulary,
        now: i64,
    ) -> Result<Query, QueryError> {
        let mut filters = Filters::default();
        let mut from = None;
        let mut to = None;
        let mut interval = None;
        let mut group_by = None;
        let mut dim = None;
        let mut limit = None;
        let mut cursor = None;
        let mut metric = Metric::Count;
        let mut min_volume = 0;
        let mut ascending = false;
        let mut compare_from = None;
        let mut compare_to = None;
        let mut compare_previous = false;
        let mut by_count = false;
        let mut by_change = false;
        let mut status = supervision::Status::default();
        let mut seen = BTreeSet::new();
        for (key, value) in pairs {
            let repeatable = matches!(
                key,
                "channel" | "topic" | "district" | "unit" | "sentiment" | "rating" | "incident"
            );
            if !repeatable && !seen.insert(key.to_owned()) {
                return Err(bad(key, "given more than once"));
            }
            match key {
                "channel" | "topic" | "district" | "unit" => {
                    vocab.check(key, value)?;
                    let list = match key {
                        "channel" => &mut filters.channel,
                        "topic" => &mut filters.topic,
                        "district" => &mut filters.district,
                        _ => &mut filters.unit,
                    };
                    push_unique(list, value.to_owned(), key)?;
                }
                "sentiment" => {
                    let s = SentimentLabel::parse(value).ok_or_else(|| {
                        bad(
                            key,
                            format!("{value:?} is not positive, neutral or negative"),
                        )
                    })?;
                    push_unique(&mut filters.sentiment, s, key)?;
                }
                "rating" => {
                    let r = value
                        .parse::<u8>()
                        .ok()
                        .and_then(Rating::from_number)
                        .ok_or_else(|| bad(key, format!("{value:?} is not 1, 2 or 3")))?;
                    push_unique(&mut filters.rating, r, key)?;
                }
                "incident" => {
                    if !crate::incident::is_incident_id(value) {
                        return Err(bad(key, "not an incident id (i- and 16 hex digits)"));
                    }
                    push_unique(&mut filters.incident, value.to_owned(), key)?;
                }
                "has_text" | "repeat" => {
                    let flag = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(key, format!("{value:?} is not true or false"))),
                    };
                    if key == "repeat" {
                        filters.repeat = Some(flag);
                    } else {
                        filters.has_text = Some(flag);
                    }
                }
                "orders_by"
                    if matches!(self, Request::Summary | Request::Orders | Request::Rank) =>
                {
                    filters.orders_by = match value {
                        "created" => OrdersBy::Created,
                        "due" => OrdersBy::Due,
                        _ => return Err(bad(key, format!("{value:?} is not created or due"))),
                    };
                }
                "as_of" if matches!(self, Request::Summary | Request::Orders) => {
                    filters.as_of = Some(parse_time(key, value)?);
                }
                "from" => from = Some(parse_time(key, value)?),
                "to" => to = Some(parse_time(key, value)?),
                "q" => {
                    if value.chars().count() > MAX_Q_CHARS {
                        return Err(bad(key, format!("longer than {MAX_Q_CHARS} characters")));
                    }
                    filters.q = search::parse(value).map_err(|e| bad(key, e.to_string()))?;
                }
                "interval" if self == Request::Timeseries => {
                    interval =
                        Some(Interval::parse(value).ok_or_else(|| {
                            bad(key, format!("{value:?} is not 1m, 5m, 1h or 1d"))
                        })?);
                }
                "group_by" if self == Request::Timeseries => {
                    group_by = Some(Dim::parse(value).ok_or_else(|| {
                        bad(
                            key,
                            format!("{value:?} is not channel, topic, district, unit or sentiment"),
                        )
                    })?);
                }
                "dim" if self == Request::Rank => {
                    dim = Some(
                        TopDim::parse(value)
                            .filter(|d| *d != TopDim::Keyword)
                            .ok_or_else(|| {
                                bad(
                                    key,
                                    format!("{value:?} is not district, unit, topic or channel"),
                                )
                            })?,
                    );
                }
                "metric" if self == Request::Rank => {
                    metric = Metric::parse(value).ok_or_else(|| {
                        bad(
                            key,
                            format!(
                                "{value:?} is not count (received), negative, negative_share, satisfaction_rate, completion_rate or dissatisfied_resolved_rate"
                            ),
                        )
                    })?;
                }
                "min_volume" | "min_rated" if self == Request::Rank => {
                    if seen.contains("min_volume") && seen.contains("min_rated") {
                        return Err(bad(key, "give one of min_rated and min_volume"));
                    }
                    min_volume = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n <= MAX_MIN_VOLUME)
                        .ok_or_else(|| {
                            bad(key, format!("{value:?} is not in 0..={MAX_MIN_VOLUME}"))
                        })?;
                }
                "order" if self == Request::Rank => {
                    ascending = match value {
                        "desc" => false,
                        "asc" => true,
                        _ => return Err(bad(key, format!("{value:?} is not desc or asc"))),
                    };
                }
                "compare_from" if self == Request::Rank => {
                    compare_from = Some(parse_time(key, value)?);
                }
                "compare_to" if self == Request::Rank => {
                    compare_to = Some(parse_time(key, value)?);
                }
                "compare" if self == Request::Rank => {
                    if value != "previous" {
                        return Err(bad(key, format!("{value:?} is not previous")));
                    }
                    compare_previous = true;
                }
                "sort" if self == Request::Rank => {
                    by_change = match value {
                        "value" => false,
                        "change" => true,
                        _ => return Err(bad(key, format!("{value:?} is not value or change"))),
                    };
                }
                "sort" if self == Request::Incidents => {
                    by_count = match value {
                        "recent" => false,
                        "count" => true,
                        _ => return Err(bad(key, format!("{value:?} is not recent or count"))),
                    };
                }
                "status" if self == Request::Supervision => {
                    status = supervision::Status::parse(value).ok_or_else(|| {
                        bad(key, format!("{value:?} is not open, overdue or all"))
                    })?;
                }
                "dim" if self == Request::Top => {
                    dim = Some(TopDim::parse(value).ok_or_else(|| {
                        bad(
                            key,
                            format!("{value:?} is not topic, district, unit, channel or keyword"),
                        )
                    })?);
                }
                "limit"
                    if matches!(
                        self,
                        Request::Top
                            | Request::Feedback
                            | Request::Incidents
                            | Request::Supervision
                    ) =>
                {
                    let max = match self {
                        Request::Top => MAX_TOP_LIMIT,
                        Request::Incidents => MAX_INCIDENTS_LIMIT,
                        Request::Supervision => supervision::MAX_LIMIT,
                        _ => MAX_ITEMS_LIMIT,
                    };
                    limit = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=max).contains(n))
                            .ok_or_else(|| bad(key, format!("{value:?} is not in 1..={max}")))?,
                    );
                }
                "cursor" if self == Request::Feedback => {
                    cursor = Some(
                        Cursor::parse(value).ok_or_else(|| bad(key, "not a cursor of this API"))?,
                    );
                }
                // Output options handled by the HTTP layer, and the token a
                // browser's EventSource has to send in the URL.
                "format" if self == Request::Feedback => {
                    if !matches!(value, "json" | "csv" | "xlsx") {
                        return Err(bad(key, "not json, csv or xlsx"));
                    }
                }
                "format" if self == Request::Supervision => {
                    if !matches!(value, "json" | "csv") {
                        return Err(bad(key, "not json or csv"));
                    }
                }
                "access_token" => {}
                _ => return Err(bad(key, "unknown parameter for this endpoint")),
            }
        }
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(bad("from", "must be before `to`"));
        }
        let compare = match (compare_from, compare_to) {
            // The same span just before the range (名次变化 against the last period).
            (None, None) if compare_previous => match (from, to) {
                (Some(f), Some(t)) => {
                    let (f, t) = (floor_minute(f), ceil_minute(t));
                    Some((f - (t - f), f))
                }
                _ => return Err(bad("compare", "previous needs `from` and `to`")),
            },
            (Some(_), Some(_)) if compare_previous => {
                return Err(bad(
                    "compare",
                    "give compare=previous or compare_from/compare_to",
                ));
            }
            (None, None) => None,
            (Some(f), Some(t)) if f < t => Some((floor_minute(f), ceil_minute(t))),
            (Some(_), Some(_)) => {
                return Err(bad("compare_from", "must be before `compare_to`"));
            }
            (None, Some(_)) => return Err(bad("compare_from", "required with `compare_to`")),
            (Some(_), None) => return Err(bad("compare_to", "required with `compare_from`")),
        };
        if by_change && compare.is_none() {
            return Err(bad(
                "sort",
                "change needs a compared range (compare=previous or compare_from/compare_to)",
            ));
        }
        match self {
            Request::Summary => Ok(Query::Summary(filters.with_range(from, to))),
            Request::Orders => Ok(Query::Orders(filters.with_range(from, to))),
            Request::Timeseries => {
                let interval = interval.unwrap_or(Interval::H1);
                let to = ceil_minute(to.unwrap_or(now + UP_TO_NOW));
                let from = from.unwrap_or(to - 86_400);
                let filters = filters.with_range(Some(from), Some(to));
                let span = filters.to.unwrap_or(0) - filters.from.unwrap_or(0);
                if span / interval.seconds() > MAX_BUCKETS {
                    return Err(bad(
                        "interval",
                        format!(
                            "{} over this range is more than {MAX_BUCKETS} buckets",
                            interval.as_str()
                        ),
                    ));
                }
                Ok(Query::Timeseries {
                    filters,
                    interval,
                    group_by,
                })
            }
            Request::Top => Ok(Query::Top {
                filters: filters.with_range(from, to),
                dim: dim.ok_or_else(|| bad("dim", "required"))?,
                limit: limit.unwrap_or(10),
            }),
            Request::Feedback => Ok(Query::Feedback {
                filters: filters.with_range(from, to),
                limit: limit.unwrap_or(50),
                cursor,
            }),
            Request::Revisits => {
                // The last 30 days of sending by default.
                let to = to.unwrap_or(now + UP_TO_NOW);
                let from = from.unwrap_or(to - 30 * 86_400);
                Ok(Query::Revisits(filters.with_range(Some(from), Some(to))))
            }
            Request::Incidents => Ok(Query::Incidents {
                filters: filters.with_range(from, to),
                limit: limit.unwrap_or(20),
                by_count,
            }),
            Request::Supervision => Ok(Query::Supervision {
                filters: filters.with_range(from, to),
                status,
                limit: limit.unwrap_or(supervision::DEFAULT_LIMIT),
            }),
            Request::Rank => Ok(Query::Rank(Rank {
                filters: filters.with_range(from, to),
                dim: dim
                    .and_then(TopDim::dim)
                    .ok_or_else(|| bad("dim", "required"))?,
                metric,
                min_volume,
                ascending,
                compare,
                by_change,
            })),
        }
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, value: T, param: &str) -> Result<(), QueryError> {
    if !list.contains(&value) {
        if list.len() == MAX_FILTER_VALUES {
            return Err(bad(param, format!("more than {MAX_FILTER_VALUES} values")));
        }
        list.push(value);
    }
    Ok(())
}

/// A timestamp parameter (RFC 3339) as unix seconds.
pub fn parse_time(param: &str, value: &str) -> Result<i64, QueryError> {
    let t = DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp())
        .map_err(|_| bad(param, format!("{value:?} is not an RFC 3339 timestamp")))?;
    // No item is older (ClickHouse's DateTime is unsigned, and a negative
    // time in a query was an error there: HTTP 500).
    if t < 0 {
        return Err(bad(param, format!("{value:?} is before 1970-01-01")));
    }
    Ok(t)
}

/// Formats unix seconds as RFC 3339 in the wall-clock zone.
pub fn rfc3339(t: i64, tz: FixedOffset) -> String {
    DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .to_rfc3339()
}

// ---------------------------------------------------------------------------
// Answers. Keys are codes; the HTTP layer adds display names.

/// Counts for the KPI tiles. Rates are None when their denominator is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    /// Items received (受理量).
    pub received: u64,
    pub positive: u64,
    pub neutral: u64,
    pub negative: u64,
    /// Items with a rating.
    pub rated: u64,
    /// Rated 满意 or 基本满意.
    pub satisfied: u64,
    /// 满意率 = satisfied ÷ rated.
    pub satisfaction_rate: Option<f64>,
    /// Work orders created in the period (with `orders_by=due`: due in it).
    pub orders_created: u64,
    /// Of those, resolved (and not reopened since).
    pub orders_resolved: u64,
    /// Of those, not resolved.
    pub orders_open: u64,
    /// 办结率 = orders_resolved ÷ orders_created.
    pub completion_rate: Option<f64>,
    /// Items rated 不满意.
    pub dissatisfied: u64,
    /// Of those, later revisited as satisfied or basically satisfied.
    pub dissatisfied_resolved: u64,
    /// 不满意化解率 = dissatisfied_resolved ÷ dissatisfied.
    pub dissatisfied_resolved_rate: Option<f64>,
    /// 超期: open orders of the period older than the SLA.
    pub overdue: u64,
    /// Repeat complaints (重复诉求): items whose contact raised one of their
    /// topics at least twice before within `repeat_window_days`.
    #[serde(default)]
    pub repeat: u64,
    /// 重复诉求率 = repeat ÷ received.
    #[serde(default)]
    pub repeat_rate: Option<f64>,
}

/// `n ÷ d`, or None when there is nothing to divide by.
fn rate(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The work orders created in a period (the order fields of [`Summary`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Orders {
    pub orders_created: u64,
    pub orders_resolved: u64,
    pub orders_open: u64,
    /// 办结率 = orders_resolved ÷ orders_created.
    pub completion_rate: Option<f64>,
    pub overdue: u64,
}

impl Orders {
    /// From the counts of created, resolved and overdue orders.
    pub fn new(created: u64, resolved: u64, overdue: u64) -> Orders {
        Orders {
            orders_created: created,
            orders_resolved: resolved,
            orders_open: created.saturating_sub(resolved),
            completion_rate: rate(resolved, created),
            overdue,
        }
    }
}

impl Summary {
    /// Takes the order fields from `o`, 办结率 included.
    pub fn with_orders(mut self, o: Orders) -> Summary {
        let Orders {
            orders_created,
            orders_resolved,
            orders_open,
            completion_rate,
            overdue,
        } = o;
        self.orders_created = orders_created;
        self.orders_resolved = orders_resolved;
        self.orders_open = orders_open;
        self.completion_rate = completion_rate;
        self.overdue = overdue;
        self
    }

    /// Fills the item rates (满意率, 不满意化解率) from the counts; the
    /// order rate comes with [`Summary::with_orders`].
    pub fn with_rates(mut self) -> Summary {
        self.satisfaction_rate = rate(self.satisfied, self.rated);
        self.dissatisfied_resolved_rate = rate(self.dissatisfied_resolved, self.dissatisfied);
        self
    }

    /// Takes the repeat complaints among the items (重复诉求率).
    pub fn with_repeats(mut self, repeat: u64) -> Summary {
        self.repeat = repeat;
        self.repeat_rate = rate(repeat, self.received);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The group's key ("" for items without a district/unit; "total"
    /// when ungrouped).
    pub key: String,
    /// One count per bucket.
    pub data: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeseries {
    /// Bucket starts, unix seconds, ascending, dense.
    pub buckets: Vec<i64>,
    /// Sorted by total, largest first.
    pub series: Vec<Series>,
}

impl Timeseries {
    /// At most `max` series: the largest `max - 1` and the rest summed as
    /// [`OTHER_SERIES`].
    pub fn capped(mut self, max: usize) -> Timeseries {
        if self.series.len() <= max {
            return self;
        }
        let rest = self.series.split_off(max - 1);
        let mut other = vec![0u64; self.buckets.len()];
        for s in rest {
            for (o, v) in other.iter_mut().zip(s.data) {
                *o += v;
            }
        }
        self.series.push(Series {
            key: OTHER_SERIES.to_owned(),
            data: other,
        });
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopRow {
    pub key: String,
    pub count: u64,
    /// Of `count`, negative items.
    pub negative: u64,
}

/// The counts of one value of a dimension ('' for items without one), the
/// raw material of a rank: items, negative, rated and satisfied items, and
/// the work orders (by the order's unit, or the fields of its item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyCounts {
    pub key: String,
    pub count: u64,
    pub negative: u64,
    pub rated: u64,
    pub satisfied: u64,
    pub orders_created: u64,
    pub orders_resolved: u64,
    /// Items rated 不满意, and of those resolved (filled only when
    /// 不满意化解率 ranks).
    #[serde(default)]
    pub dissatisfied: u64,
    #[serde(default)]
    pub dissatisfied_resolved: u64,
}

/// A work order opened for an item, as item lists show it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct WorkOrderRef {
    pub order_id: String,
    /// Resolved (办结) and not reopened since; false: open (在办).
    pub resolved: bool,
}

/// One row of a rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankRow {
    /// The metric's value; null when its volume is 0.
    pub value: Option<f64>,
    /// What the value stands on: items (count, negative, negative_share),
    /// rated items (satisfaction_rate) or work orders (completion_rate).
    pub volume: u64,
    /// False when `volume` is below `min_volume`: listed after the ranked rows.
    pub ranked: bool,
    /// The value over the compared range (null: none given, or no volume there).
    pub previous: Option<f64>,
    /// value − previous (for rates, a difference of shares).
    pub change: Option<f64>,
    /// Place among the ranked rows, 1 first; None when not ranked.
    pub rank: Option<u32>,
    /// Its place among the ranked rows of the compared range.
    pub previous_rank: Option<u32>,
    /// previous_rank − rank: positive moved up (名次上升), negative down.
    pub rank_change: Option<i64>,
    #[serde(flatten)]
    pub counts: KeyCounts,
}

/// The answer to a [`Rank`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// Ranked rows first (by value, then volume, then key), then those below `min_volume`.
    pub rows: Vec<RankRow>,
    /// The items without a value of the dimension (no district or unit
    /// recognised), never ranked; None when there are none.
    pub unknown: Option<RankRow>,
}

/// Ranks the counts of the range (`current`) against those of the
/// compared range: one function for every store. Each ranked row gets its
/// place, and with a compared range its place there (ranked by the same
/// rules) and the change.
pub fn rank(r: &Rank, current: Vec<KeyCounts>, previous: Option<Vec<KeyCounts>>) -> Ranking {
    // Places are by value: highest first when the rows go by change.
    let by_value = Rank {
        ascending: r.ascending && !r.by_change,
        by_change: false,
        ..r.clone()
    };
    let before = previous.as_ref().map(|p| {
        let alone = Rank {
            compare: None,
            ..by_value.clone()
        };
        rank_rows(&alone, p.clone(), None)
    });
    let mut ranking = rank_rows(&by_value, current, previous);
    let place_before = |key: &str| {
        let b = before.as_ref()?;
        b.rows
            .iter()
            .filter(|row| row.ranked)
            .position(|row| row.counts.key == key)
            .map(|i| i as u32 + 1)
    };
    for (i, row) in ranking.rows.iter_mut().enumerate() {
        if !row.ranked {
            continue;
        }
        row.rank = Some(i as u32 + 1);
        row.previous_rank = place_before(&row.counts.key);
        row.rank_change = row
            .previous_rank
            .zip(row.rank)
            .map(|(p, n)| i64::from(p) - i64::from(n));
    }
    if r.by_change {
        // Stable: of equal changes, the order by value stays.
        ranking.rows.sort_by(|a, b| {
            let change = |row: &RankRow| row.change.filter(|_| row.ranked);
            let by_change = match (change(a), change(b)) {
                (Some(x), Some(y)) if r.ascending => x.total_cmp(&y),
                (Some(x), Some(y)) => y.total_cmp(&x),
                (x, y) => y.is_some().cmp(&x.is_some()),
            };
            b.ranked.cmp(&a.ranked).then(by_change)
        });
    }
    ranking
}

fn rank_rows(r: &Rank, current: Vec<KeyCounts>, previous: Option<Vec<KeyCounts>>) -> Ranking {
    let row = |counts: KeyCounts| {
        let (value, volume) = r.metric.of(&counts);
        let before = previous.as_ref().map(|p| {
            p.iter()
                .find(|c| c.key == counts.key)
                .cloned()
                .unwrap_or_default()
        });
        let previous = before.and_then(|b| r.metric.of(&b).0);
        RankRow {
            value,
            volume,
            ranked: volume >= r.min_volume.max(1),
            change: value.zip(previous).map(|(v, p)| v - p),
            previous,
            rank: None,
            previous_rank: None,
            rank_change: None,
            counts,
        }
    };
    // A value is listed when it has items, or orders when 办结率 ranks:
    // a unit that only received orders for the items selected says
    // nothing of their 满意率.
    let listed =
        |c: &KeyCounts| c.count > 0 || (r.metric == Metric::CompletionRate && c.orders_created > 0);
    let mut unknown = None;
    let mut rows = Vec::new();
    for c in current.into_iter().filter(listed) {
        if c.key.is_empty() {
            unknown = Some(RankRow {
                ranked: false,
                ..row(c)
            });
        } else {
            rows.push(row(c));
        }
    }
    rows.sort_by(|a, b| {
        let by_value = a
            .value
            .partial_cmp(&b.value)
            .unwrap_or(std::cmp::Ordering::Equal);
        b.ranked
            .cmp(&a.ranked)
            .then(if r.ascending {
                by_value
            } else {
                by_value.reverse()
            })
            .then(b.volume.cmp(&a.volume))
            .then_with(|| a.counts.key.cmp(&b.counts.key))
    });
    Ranking { rows, unknown }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedbackRow {
    pub id: String,
    pub channel: String,
    pub received_at: String,
    pub text: String,
    pub rating: Option<u8>,
    pub district: Option<String>,
    pub unit: Option<String>,
    pub case_ref: Option<String>,
    pub topics: Vec<String>,
    pub keywords: Vec<String>,
    pub sentiment: String,
    pub score: f64,
    /// Topic and sentiment evidence, masked kinds: why the item is tagged so.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Why the text is gone: `expired` (older than the retention period,
    /// 已过期) or `erased` (on request, 已删除); null while it is kept.
    pub redacted: Option<String>,
    /// The work orders opened for the item, by order id.
    pub work_orders: Vec<WorkOrderRef>,
    /// The incident (同一事件) the item belongs to; null when it stands alone.
    pub incident_id: Option<String>,
    /// A repeat complaint (重复诉求): its contact raised one of its topics at
    /// least twice before within `repeat_window_days`.
    pub repeat: bool,
    #[serde(skip)]
    pub cursor: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Summary(Summary),
    Orders(Orders),
    Timeseries(Timeseries),
    Top(Vec<TopRow>),
    Feedback {
        items: Vec<FeedbackRow>,
        next: Option<Cursor>,
    },
    Rank(Ranking),
    Incidents(Vec<Incident>),
    Revisits(Revisits),
    Supervision(supervision::Queue),
    /// Unix seconds of the oldest and newest item's `received_at`.
    Extent {
        oldest: Option<i64>,
        newest: Option<i64>,
    },
}

/// One incident as listed ([`Query::Incidents`]): what its matching items
/// say together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// `i-` and 16 hex digits.
    pub id: String,
    /// The masked text most of its matching items say (of equals, the
    /// earliest), shortened to 140 characters: what the incident is about,
    /// in a citizen's words. (Its first item's text misled: a burst of one
    /// sentence naming no place is linked to an earlier report of it at
    /// some estate, and read as that estate's.)
    pub title: String,
    /// Its items matching the filters.
    pub count: u64,
    /// RFC 3339 in the centre's zone: its first and last matching item.
    pub first_at: String,
    pub last_at: String,
    /// The district most of its items name, and the unit most of those
    /// items name (null: none names one).
    pub district: Option<String>,
    pub unit: Option<String>,
    /// Topic codes of at least a fifth of its items (and the most
    /// frequent, always), the most frequent first.
    pub topics: Vec<String>,
    /// Channel codes, the most frequent first: one event reported through
    /// several channels.
    pub channels: Vec<String>,
    /// Its negative items.
    pub negative: u64,
}

/// Days a sent revisit waits for its answer before it counts as
/// unanswered (发送后7天未回复).
pub const REVISIT_REPLY_DAYS: i64 = 7;

/// Unanswered revisits listed at most, the oldest first.
pub const MAX_UNANSWERED_LISTED: usize = 200;

/// One order whose revisit SMS went out, as the stores read it for
/// [`revisits_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisitOrder {
    pub order_id: String,
    /// The order's unit ("" unknown).
    pub unit: String,
    /// The channel of the order's item ("" when the item is not stored).
    pub channel: String,
    /// Its first `revisit_sent` in the range, unix seconds.
    pub sent_at: i64,
    /// A `revisited` event with a rating came at or after it.
    pub replied: bool,
}

/// The revisit funnel of one unit or channel, or of all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevisitCounts {
    /// The unit or channel code ("" unknown; absent for the whole).
    pub key: String,
    /// Its display name (filled where answers are rendered).
    #[serde(default)]
    pub name: String,
    pub sent: u64,
    pub replied: u64,
    /// 回复率 = replied ÷ sent.
    pub reply_rate: Option<f64>,
    /// Sent at least seven days ago and still without an answer.
    pub unanswered: u64,
}

/// A revisit still waiting for its answer after seven days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnansweredRevisit {
    pub order_id: String,
    pub unit: String,
    pub channel: String,
    /// RFC 3339 on the centre's clock.
    pub sent_at: String,
}

/// The answer of [`Query::Revisits`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revisits {
    #[serde(flatten)]
    pub total: RevisitCounts,
    /// Most sent first.
    pub by_unit: Vec<RevisitCounts>,
    pub by_channel: Vec<RevisitCounts>,
    /// The oldest first, at most [`MAX_UNANSWERED_LISTED`].
    pub unanswered_orders: Vec<UnansweredRevisit>,
}

/// Sums the orders a store read into the funnel, at `now`: one function
/// for every store.
pub fn revisits_of(orders: Vec<RevisitOrder>, now: i64, tz: FixedOffset) -> Revisits {
    let overdue = |o: &RevisitOrder| !o.replied && now - o.sent_at >= REVISIT_REPLY_DAYS * 86_400;
    let add = |c: &mut RevisitCounts, o: &RevisitOrder| {
        c.sent += 1;
        c.replied += u64::from(o.replied);
        c.unanswered += u64::from(overdue(o));
    };
    let finish = |mut c: RevisitCounts| {
        c.reply_rate = rate(c.replied, c.sent);
        c
    };
    let mut total = RevisitCounts::default();
    let mut by_unit: BTreeMap<&str, RevisitCounts> = BTreeMap::new();
    let mut by_channel: BTreeMap<&str, RevisitCounts> = BTreeMap::new();
    for o in &orders {
        add(&mut total, o);
        add(by_unit.entry(&o.unit).or_default(), o);
        add(by_channel.entry(&o.channel).or_default(), o);
    }
    let rows = |m: BTreeMap<&str, RevisitCounts>| {
        let mut v: Vec<RevisitCounts> = m
            .into_iter()
            .map(|(k, c)| {
                finish(RevisitCounts {
                    key: k.to_owned(),
                    ..c
                })
            })
            .collect();
        v.sort_by(|a, b| b.sent.cmp(&a.sent).then_with(|| a.key.cmp(&b.key)));
        v
    };
    let mut waiting: Vec<&RevisitOrder> = orders.iter().filter(|o| overdue(o)).collect();
    waiting.sort_by(|a, b| {
        a.sent_at
            .cmp(&b.sent_at)
            .then_with(|| a.order_id.cmp(&b.order_id))
    });
    Revisits {
        by_unit: rows(by_unit),
        by_channel: rows(by_channel),
        unanswered_orders: waiting
            .into_iter()
            .take(MAX_UNANSWERED_LISTED)
            .map(|o| UnansweredRevisit {
                order_id: o.order_id.clone(),
                unit: o.unit.clone(),
                channel: o.channel.clone(),
                sent_at: rfc3339(o.sent_at, tz),
            })
            .collect(),
        total: finish(total),
    }
}

/// One stored item of an incident, as the stores read it for
/// [`incidents_of`].
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentMember {
    pub incident: String,
    /// `received_at`, unix seconds.
    pub ts: i64,
    pub id: String,
    pub channel: String,
    pub district: String,
    pub unit: String,
    pub topics: Vec<String>,
    pub negative: bool,
    /// Masked text (empty: none, or erased).
    pub text: String,
}

/// Most member rows a store reads for one incident list (the newest): a
/// month of a large city's incidents fits; beyond, the oldest incidents of
/// the range are left out.
pub const MAX_INCIDENT_MEMBERS: usize = 200_000;

/// Most characters of an incident's title.
const TITLE_CHARS: usize = 140;

/// What a text says, for an incident's title: its runs of digits and of
/// masking (`151****5334`) one mark, so that a burst of one sentence with a
/// different phone number in each report is one thing said, not as many
/// said once.
fn said(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        let masked = c.is_ascii_digit() || c == '*';
        if !(masked && in_run) {
            out.push(if masked { '#' } else { c });
        }
        in_run = masked;
    }
    out
}

/// The incidents of `members` with at least two of them, most recent
/// activity first (`by_count`: the largest first), at most `limit`. One
/// function for both stores, so both summarise alike.
pub fn incidents_of(
    members: Vec<IncidentMember>,
    limit: usize,
    by_count: bool,
    tz: FixedOffset,
) -> Vec<Incident> {
    use std::collections::HashMap;
    #[derive(Default)]
    struct Acc {
        count: u64,
        first: (i64, String),
        last: i64,
        /// Each thing its items say ([`said`]): how many say it, and the
        /// first that did (time, id, its text).
        texts: HashMap<String, (u64, (i64, String), String)>,
        districts: HashMap<String, u64>,
        /// By (district, unit): the unit shown is one of the district shown.
        units: HashMap<(String, String), u64>,
        topics: HashMap<String, u64>,
        channels: HashMap<String, u64>,
        negative: u64,
    }
    fn most(counts: HashMap<String, u64>) -> Vec<String> {
        let mut v: Vec<(String, u64)> = counts.into_iter().filter(|(k, _)| !k.is_empty()).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter().map(|(k, _)| k).collect()
    }
    let mut by: HashMap<String, Acc> = HashMap::new();
    for m in members {
        let a = by.entry(m.incident).or_insert_with(|| Acc {
            first: (i64::MAX, String::new()),
            last: i64::MIN,
            ..Acc::default()
        });
        a.count += 1;
        if (m.ts, &m.id) < (a.first.0, &a.first.1) {
            a.first = (m.ts, m.id.clone());
        }
        a.last = a.last.max(m.ts);
        if !m.text.is_empty() {
            let entry = a
                .texts
                .entry(said(&m.text))
                .or_insert_with(|| (0, (m.ts, m.id.clone()), m.text.clone()));
            entry.0 += 1;
            if (m.ts, &m.id) < (entry.1.0, &entry.1.1) {
                entry.1 = (m.ts, m.id);
                entry.2 = m.text;
            }
        }
        *a.units.entry((m.district.clone(), m.unit)).or_default() += 1;
        *a.districts.entry(m.district).or_default() += 1;
        *a.channels.entry(m.channel).or_default() += 1;
        for t in m.topics {
            *a.topics.entry(t).or_default() += 1;
        }
        a.negative += u64::from(m.negative);
    }
    let mut out: Vec<(i64, Incident)> = by
        .into_iter()
        .filter(|(_, a)| a.count >= 2)
        .map(|(id, a)| {
            // The unit most named in the district shown (a unit of another
            // district beside it contradicted it: 涉县 with 邱县's station);
            // without a district, the unit most named.
            let district = most(a.districts).into_iter().next();
            let mut units: HashMap<String, u64> = HashMap::new();
            for ((d, u), n) in a.units {
                if district.as_ref().is_none_or(|district| *district == d) {
                    *units.entry(u).or_default() += n;
                }
            }
            // The topics of at least a fifth of its items (and the first):
            // three items of a scam wave that also thank the police do not
            // make it a matter of praise.
            let held = a.topics.clone();
            let topics = most(a.topics)
                .into_iter()
                .enumerate()
                .filter(|(i, k)| *i == 0 || held[k] * 5 >= a.count)
                .map(|(_, k)| k)
                .collect();
            let incident = Incident {
                id,
                title: a
                    .texts
                    .into_values()
                    .max_by(|(n, first, _), (m, other, _)| n.cmp(m).then_with(|| other.cmp(first)))
                    .map(|(_, _, t)| t.chars().take(TITLE_CHARS).collect())
                    .unwrap_or_default(),
                count: a.count,
                first_at: rfc3339(a.first.0, tz),
                last_at: rfc3339(a.last, tz),
                district,
                unit: most(units).into_iter().next(),
                topics,
                channels: most(a.channels),
                negative: a.negative,
            };
            (a.last, incident)
        })
        .collect();
    out.sort_by(|a, b| {
        let size = if by_count {
            b.1.count.cmp(&a.1.count)
        } else {
            std::cmp::Ordering::Equal
        };
        size.then(b.0.cmp(&a.0)).then_with(|| a.1.id.cmp(&b.1.id))
    });
    out.truncate(limit);
    out.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An incident names one place: the unit shown is one of the district
    /// shown; and the matters of most of its items, not of a stray few.
    #[test]
    fn an_incident_names_a_unit_of_its_district_and_its_main_topics() {
        let member = |i: usize, district: &str, unit: &str, topics: &[&str]| IncidentMember {
            incident: "i-1".into(),
            ts: 1_750_000_000 + i as i64,
            id: format!("m{i}"),
            channel: "wechat".into(),
            district: district.into(),
            unit: unit.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            negative: true,
            text: "冒充客服退款".into(),
        };
        let mut members = Vec::new();
        // 涉县 has more items, 邱县's station is the unit named most.
        for i in 0..4 {
            members.push(member(i, "涉县", "", &["fraud"]));
        }
        for i in 4..6 {
            members.push(member(i, "涉县", "涉县公安局城关派出所", &["fraud"]));
        }
        for i in 6..9 {
            members.push(member(
                i,
                "邱县",
                "邱县公安局城关派出所",
                &["fraud", "traffic"],
            ));
        }
        members.push(member(
            9,
            "邱县",
            "邱县公安局城关派出所",
            &["fraud", "praise"],
        ));
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let got = incidents_of(members.clone(), 10, true, tz);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].district.as_deref(), Some("涉县"));
        assert_eq!(got[0].unit.as_deref(), Some("涉县公安局城关派出所"));
        // fraud 10 of 10, traffic 3 (≥ a fifth), praise 1 (left out).
        assert_eq!(got[0].topics, ["fraud", "traffic"]);
        // Without any district, the unit named most.
        for m in &mut members {
            m.district.clear();
        }
        let got = incidents_of(members, 10, true, tz);
        assert_eq!(got[0].district, None);
        assert_eq!(got[0].unit.as_deref(), Some("邱县公安局城关派出所"));
    }

    /// An incident is titled by what most of its items say: a burst of one
    /// sentence is not named after the estate of the earlier report it
    /// linked to; of texts said equally often, the earliest.
    #[test]
    fn an_incident_is_titled_by_what_most_of_its_items_say() {
        let member = |i: i64, text: &str| IncidentMember {
            incident: "i-1".into(),
            ts: 1_750_000_000 + i,
            id: format!("m{i}"),
            channel: "wechat".into(),
            district: "丛台区".into(),
            unit: String::new(),
            topics: vec!["exit_entry".into()],
            negative: true,
            text: text.into(),
        };
        let said = "港澳通行证预约系统老是打不开，预约不上";
        let mut members = vec![member(0, &format!("丽城小区：{said}")), member(1, "")];
        members.extend((2..5).map(|i| member(i, said)));
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(incidents_of(members, 10, true, tz)[0].title, said);
        // Each said once: the earliest.
        let members = vec![member(3, "乙"), member(1, "甲"), member(2, "丙")];
        assert_eq!(incidents_of(members, 10, true, tz)[0].title, "甲");
        // Said with a different (masked) phone number each time: one thing
        // said, titled by its earliest report, not by the estate's.
        let burst = |i: i64| member(i, &format!("家里被盗报了警，联系电话15{i}****53{i}4"));
        let mut members = vec![member(0, "康光小区：家里被盗报了警，联系电话151****5334")];
        members.extend((1..4).map(burst));
        assert_eq!(
            incidents_of(members, 10, true, tz)[0].title,
            "家里被盗报了警，联系电话151****5314"
        );
    }

    fn vocab() -> Vocabulary {
        Vocabulary::from_enricher(&Arc::new(Enricher::builtin(b"k").unwrap()))
    }

    fn parse(r: Request, qs: &str) -> Result<Query, QueryError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(qs.as_bytes()).into_owned().collect();
        r.parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &vocab(),
            1_750_000_000,
        )
    }

    #[test]
    fn filters_are_repeatable_and_checked() {
        let q = parse(
            Request::Summary,
            "channel=wechat&channel=sms_revisit&sentiment=negative&rating=3&district=%E7%A3%81%E5%8E%BF",
        )
        .unwrap();
        let Query::Summary(f) = q else { panic!() };
        assert_eq!(f.channel, ["wechat", "sms_revisit"]);
        assert_eq!(f.district, ["磁县"]);
        assert_eq!(f.rating, [Rating::Dissatisfied]);
        let e = parse(Request::Summary, "channel=fax").unwrap_err();
        assert_eq!(e.param, "channel");
        assert!(parse(Request::Summary, "topic=weather").is_err());
        assert!(parse(Request::Summary, "rating=4").is_err());
        assert!(parse(Request::Summary, "district=北京").is_err());
        assert!(parse(Request::Summary, "bogus=1").is_err());
        assert!(parse(Request::Summary, "interval=1h").is_err());
        assert!(
            parse(
                Request::Summary,
                "from=2025-01-01T00:00:00Z&from=2025-01-02T00:00:00Z"
            )
            .is_err()
        );
    }

    /// Every unit of the gazetteer is one filter (an analyst's "all 派出所");
    /// beyond [`MAX_FILTER_VALUES`] distinct values a filter is refused, and
    /// a value given twice counts once.
    #[test]
    fn a_filter_takes_every_unit_and_no_more_than_its_bound() {
        let units = vocab().units;
        assert!(units.len() > 32, "the gazetteer has {} units", units.len());
        let qs: Vec<String> = units
            .iter()
            .map(|u| {
                format!(
                    "unit={}",
                    form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>()
                )
            })
            .collect();
        let Query::Summary(f) = parse(Request::Summary, &qs.join("&")).unwrap() else {
            panic!()
        };
        assert_eq!(f.unit, units);
        let mut list = Vec::new();
        for i in 0..MAX_FILTER_VALUES {
            push_unique(&mut list, i, "unit").unwrap();
            push_unique(&mut list, i, "unit").unwrap();
        }
        assert_eq!(list.len(), MAX_FILTER_VALUES);
        let e = push_unique(&mut list, MAX_FILTER_VALUES, "unit").unwrap_err();
        assert_eq!((e.param.as_str(), list.len()), ("unit", MAX_FILTER_VALUES));
    }

    #[test]
    fn a_compared_range_reads_its_orders_as_long_before_now_as_it_lies_before() {
        let now = 1_750_000_020; // a whole minute, as ranges are
        let rank = |to: Option<i64>, compare| Rank {
            filters: Filters::default().with_range(Some(now - 7 * 86_400), to),
            dim: Dim::District,
            metric: Metric::CompletionRate,
            min_volume: 0,
            ascending: false,
            compare,
            by_change: false,
        };
        // The last 7 days against the 7 before: those as they stood 7 days ago.
        let week = (now - 14 * 86_400, now - 7 * 86_400);
        let p = rank(None, Some(week)).previous_filters(now).unwrap();
        assert_eq!((p.from, p.to), (Some(week.0), Some(week.1)));
        assert_eq!(p.as_of, Some(now - 7 * 86_400));
        // A range ending later than now reads as ending now.
        let p = rank(Some(now + 3_600), Some(week))
            .previous_filters(now)
            .unwrap();
        assert_eq!(p.as_of, Some(now - 7 * 86_400));
        // Yesterday against the day before, asked at noon: as of noon yesterday.
        let day = (now - 2 * 86_400, now - 86_400);
        let p = rank(Some(now - 43_200), Some(day))
            .previous_filters(now)
            .unwrap();
        assert_eq!(p.as_of, Some(now - 43_200));
        assert_eq!(rank(None, None).previous_filters(now), None);
    }

    #[test]
    fn filters_read_back_from_their_params() {
        let q = parse(
            Request::Feedback,
            "channel=wechat&channel=sms_revisit&sentiment=negative&rating=3&rating=1\
             &district=%E7%A3%81%E5%8E%BF&topic=fraud&q=%E5%86%92%E5%85%85%7C%E5%81%87%E5%86%92+%E5%85%AC%E5%AE%89\
             &incident=i-0123456789abcdef&has_text=true\
             &from=2025-06-01T10:00:00%2B08:00&to=2025-06-01T12:00:00%2B08:00",
        )
        .unwrap();
        let Query::Feedback { filters, .. } = q else {
            panic!()
        };
        assert_eq!(filters.q, [vec!["冒充", "假冒"], vec!["公安"]]);
        let qs: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(filters.params(crate::config::default_timezone()))
            .finish();
        let Query::Feedback { filters: back, .. } = parse(Request::Feedback, &qs).unwrap() else {
            panic!()
        };
        assert_eq!(back, filters, "{qs}");
    }

    /// A default range up to now holds what was received this very
    /// second, also when the second begins a minute.
    #[test]
    fn a_range_up_to_now_holds_the_current_second() {
        let now = 1_750_000_020; // a whole minute
        for request in [Request::Timeseries, Request::Revisits] {
            let to = match request.parse([], &vocab(), now).unwrap() {
                Query::Timeseries { filters, .. } | Query::Revisits(filters) => filters.to,
                other => panic!("{other:?}"),
            };
            assert_eq!(to, Some(now + 60), "{request:?}");
        }
    }

    #[test]
    fn ranges_are_minute_precise_and_ordered() {
        let Query::Summary(f) = parse(
            Request::Summary,
            "from=2025-06-01T10:00:30%2B08:00&to=2025-06-01T11:00:01%2B08:00",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(f.from.unwrap() % 60, 0);
        assert_eq!(f.to.unwrap() - f.from.unwrap(), 3660 + 60 - 60);
        assert!(
            parse(
                Request::Summary,
                "from=2025-06-02T00:00:00Z&to=2025-06-01T00:00:00Z"
            )
            .is_err()
        );
        assert!(parse(Request::Summary, "from=yesterday").is_err());
    }

    #[test]
    fn text_and_order_windows_are_parsed_where_they_apply() {
        let Query::Summary(f) = parse(Request::Summary, "has_text=false&orders_by=due").unwrap()
        else {
            panic!()
        };
        assert_eq!((f.has_text, f.orders_by), (Some(false), OrdersBy::Due));
        assert!(!f.is_time_only());
        assert!(matches!(
            parse(Request::Orders, "orders_by=created").unwrap(),
            Query::Orders(Filters {
                orders_by: OrdersBy::Created,
                ..
            })
        ));
        assert!(parse(Request::Top, "dim=topic&has_text=true").is_ok());
        assert_eq!(
            parse(Request::Summary, "has_text=1").unwrap_err().param,
            "has_text"
        );
        assert_eq!(
            parse(Request::Orders, "orders_by=soon").unwrap_err().param,
            "orders_by"
        );
        assert_eq!(
            parse(Request::Top, "dim=topic&orders_by=due")
                .unwrap_err()
                .param,
            "orders_by"
        );
        // Due in [from, to): created one SLA earlier.
        assert_eq!(
            OrdersBy::Due.created_range(Some(1000), Some(2000), 300),
            (Some(700), Some(1700))
        );
        assert_eq!(
            OrdersBy::Created.created_range(Some(1000), None, 300),
            (Some(1000), None)
        );
    }

    #[test]
    fn a_supervision_queue_takes_a_status_a_limit_and_the_filters() {
        use supervision::{DEFAULT_LIMIT, MAX_LIMIT, Status};
        let Query::Supervision {
            filters,
            status,
            limit,
        } = parse(
            Request::Supervision,
            "status=overdue&district=%E7%A3%81%E5%8E%BF&limit=20",
        )
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (status, limit, filters.district),
            (Status::Overdue, 20, vec!["磁县".to_owned()])
        );
        assert!(matches!(
            parse(Request::Supervision, "format=csv").unwrap(),
            Query::Supervision {
                status: Status::Open,
                limit: DEFAULT_LIMIT,
                ..
            }
        ));
        for (qs, param) in [
            ("status=closed", "status"),
            ("status=all&status=open", "status"),
            ("limit=0", "limit"),
            (&*format!("limit={}", MAX_LIMIT + 1), "limit"),
            ("format=xlsx", "format"),
            ("orders_by=due", "orders_by"),
            ("sort=count", "sort"),
        ] {
            assert_eq!(
                parse(Request::Supervision, qs).unwrap_err().param,
                param,
                "{qs}"
            );
        }
        // `status` belongs to the queue alone.
        assert_eq!(
            parse(Request::Feedback, "status=open").unwrap_err().param,
            "status"
        );
    }

    #[test]
    fn timeseries_defaults_and_bounds() {
        let Query::Timeseries {
            filters, interval, ..
        } = parse(Request::Timeseries, "group_by=sentiment").unwrap()
        else {
            panic!()
        };
        assert_eq!(interval, Interval::H1);
        assert_eq!(filters.to.unwrap() - filters.from.unwrap(), 86_400);
        assert!(parse(Request::Timeseries, "interval=1m&from=2020-01-01T00:00:00Z").is_err());
        assert!(parse(Request::Timeseries, "group_by=keyword").is_err());
    }

    #[test]
    fn top_needs_a_bounded_dim() {
        assert!(parse(Request::Top, "").is_err());
        assert!(parse(Request::Top, "dim=keyword&limit=101").is_err());
        assert!(matches!(
            parse(Request::Top, "dim=keyword&limit=5").unwrap(),
            Query::Top {
                limit: 5,
                dim: TopDim::Keyword,
                ..
            }
        ));
    }

    #[test]
    fn a_rank_guards_small_volumes_and_keeps_the_unknown_apart() {
        let counts = |key: &str, count, rated, satisfied, orders| KeyCounts {
            key: key.to_owned(),
            count,
            rated,
            satisfied,
            orders_created: orders,
            ..KeyCounts::default()
        };
        let r = Rank {
            filters: Filters::default(),
            dim: Dim::Unit,
            metric: Metric::SatisfactionRate,
            min_volume: 3,
            ascending: true,
            compare: Some((0, 60)),
            by_change: false,
        };
        let current = vec![
            counts("", 9, 4, 1, 0),
            counts("a", 10, 4, 3, 0),
            counts("b", 10, 5, 5, 0),
            counts("c", 2, 2, 0, 0),
            // Orders only: listed for 办结率, not for 满意率.
            counts("d", 0, 0, 0, 7),
        ];
        let previous = vec![counts("a", 5, 4, 4, 0)];
        let out = rank(&r, current.clone(), Some(previous));
        let keys: Vec<(&str, bool)> = out
            .rows
            .iter()
            .map(|row| (row.counts.key.as_str(), row.ranked))
            .collect();
        // Lowest 满意率 first among those with 3 ratings or more; "c" (0 %
        // on 2) follows unranked.
        assert_eq!(keys, [("a", true), ("b", true), ("c", false)]);
        assert_eq!(out.rows[0].previous, Some(1.0));
        assert_eq!(out.rows[0].change, Some(0.75 - 1.0));
        assert_eq!(out.rows[1].previous, None, "no ratings there");
        let unknown = out.unknown.unwrap();
        assert_eq!((unknown.value, unknown.ranked), (Some(0.25), false));
        let by_orders = rank(
            &Rank {
                metric: Metric::CompletionRate,
                ..r
            },
            current,
            None,
        );
        assert!(by_orders.rows.iter().any(|row| row.counts.key == "d"));
    }

    /// `sort=change`: the largest rise first (with `order=asc` the largest
    /// fall), a row without a change after those with one, places by value
    /// all the same; refused without a compared range.
    #[test]
    fn a_ranking_by_change_puts_the_largest_rise_first_and_keeps_places_by_value() {
        let counts = |key: &str, count, negative| KeyCounts {
            key: key.to_owned(),
            count,
            negative,
            ..KeyCounts::default()
        };
        // 负面占比: a 0.2 → 0.6, b 0.4 → 0.5, c 0.6 → 0.2, d none → 0.75.
        let r = Rank {
            filters: Filters::default(),
            dim: Dim::District,
            metric: Metric::NegativeShare,
            min_volume: 0,
            ascending: false,
            compare: Some((0, 60)),
            by_change: true,
        };
        let now = [
            counts("a", 10, 6),
            counts("b", 20, 10),
            counts("c", 5, 1),
            counts("d", 4, 3),
        ];
        let before = vec![counts("a", 10, 2), counts("b", 20, 8), counts("c", 10, 6)];
        let order = |r: &Rank| {
            let out = rank(r, now.to_vec(), Some(before.clone()));
            out.rows
                .iter()
                .map(|row| (row.counts.key.clone(), row.rank))
                .collect::<Vec<_>>()
        };
        let key = |k: &str, place: u32| (k.to_owned(), Some(place));
        let rises = [key("a", 2), key("b", 3), key("c", 4), key("d", 1)];
        assert_eq!(order(&r), rises);
        let falls = Rank {
            ascending: true,
            ..r.clone()
        };
        assert_eq!(
            order(&falls),
            [key("c", 4), key("b", 3), key("a", 2), key("d", 1)]
        );
        // By value, as before: d, a, b, c.
        let by_value = Rank {
            by_change: false,
            ..r.clone()
        };
        assert_eq!(
            order(&by_value),
            [key("d", 1), key("a", 2), key("b", 3), key("c", 4)]
        );
        let e = parse(
            Request::Rank,
            "dim=district&sort=change&from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z",
        )
        .unwrap_err();
        assert_eq!(e.param, "sort");
        let ok = parse(
            Request::Rank,
            "dim=district&sort=change&compare=previous&from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z",
        )
        .unwrap();
        assert!(matches!(
            ok,
            Query::Rank(Rank {
                by_change: true,
                ..
            })
        ));
    }

    #[test]
    fn series_beyond_the_cap_are_summed_as_other() {
        let ts = Timeseries {
            buckets: vec![0, 60],
            series: (0..5)
                .map(|i| Series {
                    key: format!("k{i}"),
                    data: vec![10 - i, 1],
                })
                .collect(),
        };
        let capped = ts.clone().capped(3);
        let keys: Vec<&str> = capped.series.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["k0", "k1", OTHER_SERIES]);
        assert_eq!(capped.series[2].data, [8 + 7 + 6, 3]);
        assert_eq!(ts.clone().capped(5), ts);
    }

    #[test]
    fn buckets_follow_the_wall_clock() {
        // 2025-06-01T00:30+08:00 is in the local day that starts at 00:00+08:00.
        let t = DateTime::parse_from_rfc3339("2025-06-01T00:30:00+08:00")
            .unwrap()
            .timestamp();
        let day = bucket_start(t, 86_400, 8 * 3600);
        assert_eq!(
            rfc3339(day, FixedOffset::east_opt(8 * 3600).unwrap()),
            "2025-06-01T00:00:00+08:00"
        );
        assert_eq!(floor_minute(119), 60);
        assert_eq!(ceil_minute(61), 120);
        assert_eq!(ceil_minute(120), 120);
    }
}
