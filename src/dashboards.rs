//! Dashboards are data: `dashboards/*.json` names each wall screen's
//! panels, the query behind each (in the terms of the query API, with a
//! relative time range), and the layout the browser draws. A centre
//! rearranges its wall by editing these files, not code.
//!
//! The [`Ticker`] computes every panel of every dashboard once per tick
//! ([`compute`]) — identical queries once — and publishes the result on the
//! live feed to all screens, so the queries per tick do not grow with the
//! number of screens.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::live::Live;
use crate::metrics::Metrics;
use crate::store::Store;

use crate::query::{
    Answer, Dim, Interval, Query, QueryError, Request, Scope, Vocabulary, bucket_start,
    floor_minute, rfc3339,
};

/// The dashboards shipped with minyi, used when the dashboards folder has
/// none (e.g. the binary run from another directory).
const BUILTIN: &[(&str, &str)] = &[
    ("wall.json", include_str!("../dashboards/wall.json")),
    ("district.json", include_str!("../dashboards/district.json")),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// URL name: `/wall/<name>`; the one named `wall` is also `/`.
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub subtitle: String,
    /// A bureau's or a station's wall: every panel computed for these
    /// districts and/or units (within the screen's own scope). Default: the
    /// screen's scope (the city for an unscoped token).
    #[serde(default, skip_serializing_if = "Scope::is_city")]
    pub scope: Scope,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Unique within the dashboard; the key of its data in `panels` events.
    pub id: String,
    /// How the browser draws it (kpi, line, bar, rank, tilemap, wordcloud,
    /// ticker, …); the server does not interpret it.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub query: PanelQuery,
    /// Placement on the 1920×1080 canvas and drawing options, for the browser.
    #[serde(default)]
    pub layout: Value,
    #[serde(default)]
    pub options: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    Summary,
    Orders,
    Timeseries,
    Top,
    Feedback,
    /// A league table (排名通报): `dim`'s values by `metric`; with
    /// `compare`, each row's change of value and place against the same
    /// span just before.
    Rank,
    /// Incidents (热点事件): `limit` of them, the largest first with
    /// `order: "count"`, else the most recent.
    Incidents,
    /// The supervision queue's counts (督办台账: `filters` `status`, e.g.
    /// `overdue` for 超期未化解): per stage and per unit, `limit` units.
    /// Never the cases themselves: a wall is a viewer's, and a case's
    /// text is for analysts.
    Supervision,
}

/// A time range relative to the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Range {
    /// Since local midnight.
    #[serde(rename = "today")]
    Today,
    #[serde(rename = "yesterday")]
    Yesterday,
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
    /// Everything stored.
    #[serde(rename = "all")]
    All,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PanelQuery {
    pub kind: QueryKind,
    pub range: Range,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub group_by: Option<String>,
    #[serde(default)]
    pub dim: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Rank: the metric (`satisfaction_rate`, `completion_rate`,
    /// `dissatisfied_resolved_rate`, `received`, `negative_share` …).
    #[serde(default)]
    pub metric: Option<String>,
    /// Rank: values standing on fewer rated items (orders, …) are listed
    /// after the ranked ones.
    #[serde(default)]
    pub min_rated: Option<u64>,
    /// Rank: `desc` (default) or `asc`; incidents: `recent` (default) or
    /// `count` (the largest first).
    #[serde(default)]
    pub order: Option<String>,
    /// Also compute the same query over the previous period (for `today`:
    /// yesterday up to the same time of day), for "change vs yesterday";
    /// its work orders as they stood the same time before now
    /// ([`crate::query::Filters::as_of`]).
    #[serde(default)]
    pub compare: bool,
    /// Compare with the same range shifted back this much (e.g. "1d": the
    /// last 30 days as they stood yesterday) instead of the previous period.
    #[serde(default)]
    pub compare_by: Option<String>,
    /// Filters by parameter name, as in the API (`{"district": ["磁县"]}`,
    /// `{"has_text": ["true"]}`, `{"orders_by": ["due"]}`).
    #[serde(default)]
    pub filters: BTreeMap<String, Vec<String>>,
    /// Hot words: leave out the domain-generic words of
    /// `pipelines/dict/generic.txt` (民警, 办理 …), which lead every day's
    /// ranking and say nothing of what is hot. Only with `dim: keyword`.
    #[serde(default)]
    pub skip_generic: bool,
    /// Recompute this panel at most this often (e.g. "30s"; default: every
    /// tick), for panels that read the items themselves rather than the
    /// rollups (`has_text`) and move slowly (today's rankings).
    #[serde(default)]
    pub every: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// Loads `dir/*.json` (sorted by file name), or the built-in dashboards
/// when the folder has none, and checks every panel query.
pub fn load(
    dir: &Path,
    vocab: &Vocabulary,
    tz: FixedOffset,
) -> Result<Vec<Dashboard>, DashboardError> {
    let mut files: Vec<(String, String)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let file = p.display().to_string();
            let text = std::fs::read_to_string(&p).map_err(|source| DashboardError::Read {
                file: file.clone(),
                source,
            })?;
            files.push((file, text));
        }
    }
    if files.is_empty() {
        files = BUILTIN
            .iter()
            .map(|(n, t)| (format!("(built in) {n}"), (*t).to_owned()))
            .collect();
    }
    let mut out: Vec<Dashboard> = Vec::new();
    for (file, text) in files {
        let invalid = |message: String| DashboardError::Invalid {
            file: file.clone(),
            message,
        };
        let d: Dashboard = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let checked = Scope::new(&d.scope.districts, &d.scope.units, vocab)
            .map_err(|(key, m)| invalid(format!("scope.{key}: {m}")))?;
        let d = Dashboard {
            scope: checked,
            ..d
        };
        if out.iter().any(|o| o.name == d.name) {
            return Err(invalid(format!(
                "dashboard name {:?} is used twice",
                d.name
            )));
        }
        for (i, p) in d.panels.iter().enumerate() {
            if d.panels[..i].iter().any(|q| q.id == p.id) {
                return Err(invalid(format!("panel id {:?} is used twice", p.id)));
            }
            p.query
                .queries(vocab, 1_750_000_000, tz)
                .map_err(|e| invalid(format!("panel {:?}: {e}", p.id)))?;
            if let Some(e) = &p.query.every
                && crate::config::parse_duration(e).is_none()
            {
                return Err(invalid(format!(
                    "panel {:?}: every {e:?} is not a duration like \"30s\"",
                    p.id
                )));
            }
            if p.query.skip_generic
                && (p.query.kind != QueryKind::Top || p.query.dim.as_deref() != Some("keyword"))
            {
                return Err(invalid(format!(
                    "panel {:?}: skip_generic is for hot words (kind top, dim keyword)",
                    p.id
                )));
            }
        }
        out.push(d);
    }
    // The wall named "wall" is the default screen at `/`; the rest keep file order.
    out.sort_by_key(|d| d.name != "wall");
    Ok(out)
}

impl PanelQuery {
    /// The query at `now`, and the comparison query when asked for.
    pub fn queries(
        &self,
        vocab: &Vocabulary,
        now: i64,
        tz: FixedOffset,
    ) -> Result<(Query, Option<Query>), QueryError> {
        let (from, to) = self.bounds(now, tz);
        let current = self.query(vocab, now, from, to)?;
        let previous = match (self.compare && self.kind != QueryKind::Rank, from, to) {
            (true, Some(f), Some(t)) => {
                let span = match (&self.compare_by, self.range) {
                    (Some(by), _) => {
                        crate::config::parse_duration(by).ok_or_else(|| QueryError {
                            param: "compare_by".into(),
                            message: format!("{by:?} is not a duration like \"1d\""),
                        })?
                    }
                    (None, Range::Today | Range::Yesterday) => 86_400,
                    (None, _) => t - f,
                };
                let mut previous = self.query(vocab, now, Some(f - span), Some(t - span))?;
                // A window that ends now holds every item so far; the
                // compared one ends at the same moment `span` earlier, to
                // the second. (Rounded up to its minute, as the API rounds
                // `to`, it held up to 59 s more than the current window
                // has had: 今日受理's 较昨日 fell at every minute.)
                if t == now
                    && let Some(p) = previous.filters_mut()
                {
                    p.to = Some(t - span);
                }
                // Work orders as they stood `span` ago: 在办 then, not the
                // earlier period's orders still open now.
                if let Query::Summary(p) | Query::Orders(p) = &mut previous {
                    p.as_of = crate::query::compared_as_of(Some(t), t - span, now);
                }
                Some(previous)
            }
            _ => None,
        };
        Ok((current, previous))
    }

    fn bounds(&self, now: i64, tz: FixedOffset) -> (Option<i64>, Option<i64>) {
        let off = i64::from(tz.local_minus_utc());
        let midnight = bucket_start(now, 86_400, off);
        let span = match self.range {
            Range::Today => return (Some(midnight), Some(now)),
            Range::Yesterday => return (Some(midnight - 86_400), Some(midnight)),
            Range::All => return (None, None),
            Range::Hour => 3600,
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
        };
        // A time series ends with the current bucket: N whole buckets.
        let width = self
            .interval
            .as_deref()
            .and_then(|i| serde_json::from_value::<Interval>(json!(i)).ok())
            .filter(|_| self.kind == QueryKind::Timeseries)
            .map_or(60, Interval::seconds);
        let last = bucket_start(now, width, off);
        (Some(last + width - span), Some(now))
    }

    fn query(
        &self,
        vocab: &Vocabulary,
        now: i64,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Query, QueryError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let tz = FixedOffset::east_opt(0).expect("UTC");
        if let Some(f) = from {
            pairs.push(("from".into(), rfc3339(floor_minute(f), tz)));
        }
        if let Some(t) = to {
            pairs.push(("to".into(), rfc3339(t, tz)));
        }
        // An incident list's order is its `sort`.
        let (order, sort) = if self.kind == QueryKind::Incidents {
            (None, self.order.clone())
        } else {
            (self.order.clone(), None)
        };
        for (k, v) in [
            ("interval", &self.interval),
            ("group_by", &self.group_by),
            ("dim", &self.dim),
            ("metric", &self.metric),
            ("order", &order),
            ("sort", &sort),
            ("min_rated", &self.min_rated.map(|n| n.to_string())),
        ] {
            if let Some(v) = v {
                pairs.push((k.into(), v.clone()));
            }
        }
        // A league table compares within its own answer (places too).
        if self.kind == QueryKind::Rank && self.compare {
            pairs.push(("compare".into(), "previous".into()));
        }
        // Without the generic words, a ranking asks for as many rows as it
        // may and keeps `limit` of the rest ([`PanelQuery::shown`]).
        let limit = if self.skip_generic {
            Some(crate::query::MAX_TOP_LIMIT)
        } else if self.kind == QueryKind::Supervision {
            Some(1) // the counts are of every case; no case is shown
        } else if self.kind == QueryKind::Rank {
            None // a rank lists every value; the panel shows `limit` rows
        } else {
            self.limit
        };
        if let Some(l) = limit {
            pairs.push(("limit".into(), l.to_string()));
        }
        for (k, vs) in &self.filters {
            for v in vs {
                pairs.push((k.clone(), v.clone()));
            }
        }
        let request = match self.kind {
            QueryKind::Summary => Request::Summary,
            QueryKind::Orders => Request::Orders,
            QueryKind::Timeseries => Request::Timeseries,
            QueryKind::Top => Request::Top,
            QueryKind::Feedback => Request::Feedback,
            QueryKind::Rank => Request::Rank,
            QueryKind::Incidents => Request::Incidents,
            QueryKind::Supervision => Request::Supervision,
        };
        request.parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            vocab,
            now,
        )
    }
}

impl PanelQuery {
    /// What the panel shows of a rendered answer: for hot words with
    /// `skip_generic`, the ranking without the generic words, `limit` rows.
    fn shown(&self, vocab: &Vocabulary, mut data: Value) -> Value {
        if self.skip_generic
            && let Some(rows) = data.get_mut("rows").and_then(Value::as_array_mut)
        {
            rows.retain(|r| !r["key"].as_str().is_some_and(|k| vocab.is_generic_word(k)));
            rows.truncate(self.limit.unwrap_or(10));
        }
        if self.kind == QueryKind::Supervision
            && let Some(queue) = data.as_object_mut()
        {
            queue.remove("items");
            if let (Some(limit), Some(units)) = (
                self.limit,
                queue.get_mut("by_unit").and_then(Value::as_array_mut),
            ) {
                units.truncate(limit);
            }
        }
        if self.kind == QueryKind::Rank
            && let (Some(limit), Some(rows)) = (
                self.limit,
                data.get_mut("rows").and_then(Value::as_array_mut),
            )
        {
            rows.truncate(limit);
        }
        data
    }
}

/// An answer as the API and the panels send it: codes with display names,
/// times as RFC 3339 in the centre's zone.
pub fn render(query: &Query, answer: &Answer, vocab: &Vocabulary, tz: FixedOffset) -> Value {
    match (query, answer) {
        (_, Answer::Summary(s)) => json!(s),
        (_, Answer::Orders(o)) => json!(o),
        (
            Query::Timeseries {
                interval, group_by, ..
            },
            Answer::Timeseries(ts),
        ) => json!(TimeseriesView {
            interval: interval.as_str().to_owned(),
            group_by: group_by.map(|d| d.as_str().to_owned()),
            buckets: ts.buckets.iter().map(|b| rfc3339(*b, tz)).collect(),
            series: ts
                .series
                .iter()
                .map(|s| SeriesView {
                    key: s.key.clone(),
                    name: match group_by {
                        None => "合计".to_owned(),
                        Some(_) if s.key == crate::query::OTHER_SERIES => "其他".to_owned(),
                        Some(d) => vocab.name(*d, &s.key),
                    },
                    data: s.data.clone(),
                })
                .collect(),
        }),
        (Query::Top { dim, .. }, Answer::Top(rows)) => json!(TopView {
            dim: dim.as_str().to_owned(),
            rows: rows
                .iter()
                .map(|r| TopRowView {
                    key: r.key.clone(),
                    name: dim
                        .dim()
                        .map_or_else(|| r.key.clone(), |d| vocab.name(d, &r.key)),
                    count: r.count,
                    negative: r.negative,
                })
                .collect(),
        }),
        (Query::Rank(r), Answer::Rank(ranking)) => {
            // Read by the stores for 不满意化解率 only: null otherwise, not
            // a false 0.
            let read_dissatisfied = r.metric == crate::query::Metric::DissatisfiedResolvedRate;
            let view = |row: &crate::query::RankRow| {
                let c = &row.counts;
                RankRowView {
                    key: c.key.clone(),
                    name: vocab.name(r.dim, &c.key),
                    value: row.value,
                    volume: row.volume,
                    ranked: row.ranked,
                    previous: row.previous,
                    change: row.change,
                    rank: row.rank,
                    previous_rank: row.previous_rank,
                    rank_change: row.rank_change,
                    dissatisfied: read_dissatisfied.then_some(c.dissatisfied),
                    dissatisfied_resolved: read_dissatisfied.then_some(c.dissatisfied_resolved),
                    count: c.count,
                    negative: c.negative,
                    rated: c.rated,
                    satisfied: c.satisfied,
                    orders_created: c.orders_created,
                    orders_resolved: c.orders_resolved,
                }
            };
            json!(RankView {
                dim: r.dim.as_str().to_owned(),
                metric: r.metric,
                min_volume: r.min_volume,
                order: if r.ascending { "asc" } else { "desc" },
                sort: if r.by_change { "change" } else { "value" },
                compare: r.compare.map(|(f, t)| [rfc3339(f, tz), rfc3339(t, tz)]),
                rows: ranking.rows.iter().map(view).collect(),
                unknown: ranking.unknown.as_ref().map(view),
            })
        }
        (_, Answer::Feedback { items, next }) => json!(FeedbackPage::of(items, *next, vocab)),
        (_, Answer::Revisits(r)) => {
            let mut r = r.clone();
            for (rows, dim) in [
                (&mut r.by_unit, crate::query::Dim::Unit),
                (&mut r.by_channel, crate::query::Dim::Channel),
            ] {
                for row in rows {
                    row.name = if row.key.is_empty() {
                        "未知".to_owned()
                    } else {
                        vocab.name(dim, &row.key)
                    };
                }
            }
            let mut v = json!(r);
            // The whole has no key or name.
            if let Some(o) = v.as_object_mut() {
                o.remove("key");
                o.remove("name");
            }
            v
        }
        (_, Answer::Incidents(list)) => json!(IncidentsView {
            incidents: list
                .iter()
                .map(|i| IncidentView::of(i.clone(), vocab))
                .collect(),
        }),
        (_, Answer::Supervision(queue)) => json!(queue),
        (_, Answer::Extent { oldest, newest }) => json!({
            "oldest": oldest.map(|t| rfc3339(t, tz)),
            "newest": newest.map(|t| rfc3339(t, tz)),
        }),
        _ => Value::Null,
    }
}

/// `GET /api/v1/stats/timeseries` and timeseries panels: dense buckets on
/// the centre's wall clock, one series per group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimeseriesView {
    /// `1m`, `5m`, `1h` or `1d`.
    pub interval: String,
    /// The grouping dimension, or null for one series (合计).
    pub group_by: Option<String>,
    /// Bucket starts, RFC 3339 in the centre's zone, ascending.
    pub buckets: Vec<String>,
    /// Largest total first.
    pub series: Vec<SeriesView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeriesView {
    /// The group's code ("" for items without a district/unit).
    pub key: String,
    /// Its display name.
    pub name: String,
    /// One count per bucket.
    pub data: Vec<u64>,
}

/// `GET /api/v1/stats/top` and ranking panels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopView {
    pub dim: String,
    /// Largest count first.
    pub rows: Vec<TopRowView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopRowView {
    pub key: String,
    pub name: String,
    pub count: u64,
    /// Of `count`, negative items.
    pub negative: u64,
}

/// `GET /api/v1/stats/rank`: every value of a dimension by a metric.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RankView {
    /// district, unit, topic or channel.
    pub dim: String,
    pub metric: crate::query::Metric,
    pub min_volume: u64,
    /// `desc` (highest, or with `sort=change` the largest rise, first) or `asc`.
    pub order: &'static str,
    /// `value` or `change` (the rows by their change against `compare`).
    pub sort: &'static str,
    /// The compared range `[from, to)`, RFC 3339; null when none was given.
    pub compare: Option<[String; 2]>,
    /// Ranked rows first (by value, ties by volume, then key; or by
    /// change), then the rows whose volume is below `min_volume`
    /// (`ranked: false`).
    pub rows: Vec<RankRowView>,
    /// The items without a value of `dim` (名称 未识别: no district or unit
    /// recognised), not ranked; null when there are none.
    pub unknown: Option<RankRowView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RankRowView {
    /// The value's code (channel, topic) or name (district, unit); "" for none.
    pub key: String,
    /// Its display name.
    pub name: String,
    /// The metric's value (a share 0–1 for rates); null when its volume is 0.
    pub value: Option<f64>,
    /// What the value stands on: items (count, negative, negative_share),
    /// rated items (satisfaction_rate) or work orders (completion_rate).
    pub volume: u64,
    /// False when `volume` is below `min_volume`.
    pub ranked: bool,
    /// The value over the compared range; null without one or without volume there.
    pub previous: Option<f64>,
    /// value − previous (rates: a difference of shares, ×100 for points).
    pub change: Option<f64>,
    /// Place among the ranked rows (1 first); null when not ranked.
    pub rank: Option<u32>,
    /// Place in the compared range; null without one or not ranked there.
    pub previous_rank: Option<u32>,
    /// previous_rank − rank: positive moved up (名次上升).
    pub rank_change: Option<i64>,
    pub count: u64,
    pub negative: u64,
    pub rated: u64,
    pub satisfied: u64,
    pub orders_created: u64,
    pub orders_resolved: u64,
    /// Items rated 不满意 and of those resolved: with the metric 不满意化解率
    /// only, null with any other (not counted then).
    pub dissatisfied: Option<u64>,
    pub dissatisfied_resolved: Option<u64>,
}

/// `GET /api/v1/feedback`: one page of items, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackPage {
    pub items: Vec<FeedbackItemView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/incidents` and incidents panels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentsView {
    pub incidents: Vec<IncidentView>,
}

/// An incident with the names of its codes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: crate::query::Incident,
    pub topic_names: Vec<String>,
    pub channel_names: Vec<String>,
}

impl IncidentView {
    pub fn of(incident: crate::query::Incident, vocab: &Vocabulary) -> IncidentView {
        IncidentView {
            channel_names: incident
                .channels
                .iter()
                .map(|c| vocab.name(Dim::Channel, c))
                .collect(),
            topic_names: incident
                .topics
                .iter()
                .map(|t| vocab.name(Dim::Topic, t))
                .collect(),
            incident,
        }
    }
}

impl FeedbackPage {
    pub fn of(
        items: &[crate::query::FeedbackRow],
        next: Option<crate::query::Cursor>,
        vocab: &Vocabulary,
    ) -> FeedbackPage {
        FeedbackPage {
            items: items
                .iter()
                .map(|i| FeedbackItemView {
                    channel_name: vocab.name(Dim::Channel, &i.channel),
                    topic_names: i.topics.iter().map(|t| vocab.name(Dim::Topic, t)).collect(),
                    row: i.clone(),
                })
                .collect(),
            next_cursor: next.map(|c| c.to_string()),
        }
    }
}

/// A stored item (text masked) with the names of its codes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackItemView {
    #[serde(flatten)]
    pub row: crate::query::FeedbackRow,
    pub channel_name: String,
    pub topic_names: Vec<String>,
}

/// The data of panels computed less often than every tick (`every`), by
/// (scope, dashboard, panel): when computed, and the data.
pub type Memo = HashMap<(Scope, String, String), (i64, Value)>;

/// Runs every distinct query of the dashboards once for `scope` and
/// returns the data of every panel: `{name: {panel_id: data}}`. Every
/// query is narrowed to the scope before it runs (a panel whose filters
/// name a place outside it gets `{"error": …}`). `run` answers one query
/// (the store); a failed query gives that panel `{"error": …}` and the
/// rest go on. A panel with `every` is taken from `memo` while it is
/// younger than that.
pub async fn compute<F, Fut>(
    dashboards: &[Dashboard],
    vocab: &Vocabulary,
    now: i64,
    tz: FixedOffset,
    scope: &Scope,
    memo: &mut Memo,
    mut run: F,
) -> Value
where
    F: FnMut(Query) -> Fut,
    Fut: std::future::Future<Output = Result<Answer, String>>,
{
    let mut cache: HashMap<Query, Result<Value, String>> = HashMap::new();
    let mut out = serde_json::Map::new();
    for d in dashboards {
        let mut panels = serde_json::Map::new();
        // A bureau's wall within the screen's scope; outside it, nothing.
        let scope = &match scope.narrow(&d.scope.districts, &d.scope.units) {
            Ok(s) => s,
            Err(e) => {
                let e = json!({"error": e.to_string()});
                for p in &d.panels {
                    panels.insert(p.id.clone(), e.clone());
                }
                out.insert(d.name.clone(), Value::Object(panels));
                continue;
            }
        };
        for p in &d.panels {
            let every = p
                .query
                .every
                .as_deref()
                .and_then(crate::config::parse_duration);
            let key = (scope.clone(), d.name.clone(), p.id.clone());
            if let (Some(e), Some((at, data))) = (every, memo.get(&key))
                && now - at < e
                && now >= *at
            {
                panels.insert(p.id.clone(), data.clone());
                continue;
            }
            let scoped = p
                .query
                .queries(vocab, now, tz)
                .map_err(|e| e.to_string())
                .and_then(|(current, previous)| {
                    let narrow = |q| scope.restrict_query(q).map_err(|e| e.to_string());
                    Ok((narrow(current)?, previous.map(narrow).transpose()?))
                });
            let data = match scoped {
                Err(e) => json!({"error": e}),
                Ok((current, previous)) => {
                    let mut parts = Vec::new();
                    for q in std::iter::once(current).chain(previous) {
                        if !cache.contains_key(&q) {
                            let r = run(q.clone()).await.map(|a| render(&q, &a, vocab, tz));
                            cache.insert(q.clone(), r);
                        }
                        parts.push(cache[&q].clone().map(|v| p.query.shown(vocab, v)));
                    }
                    match parts.as_slice() {
                        [Ok(c)] => c.clone(),
                        [Ok(c), Ok(p)] => json!({"current": c, "previous": p}),
                        _ => json!({"error": parts.iter().find_map(|p| p.as_ref().err()).cloned()}),
                    }
                }
            };
            if every.is_some() && data.get("error").is_none() {
                memo.insert(key, (now, data.clone()));
            }
            panels.insert(p.id.clone(), data);
        }
        out.insert(d.name.clone(), Value::Object(panels));
    }
    Value::Object(out)
}

/// The panel ticker: every tick, each distinct panel query once, the
/// result published on the live feed for every screen.
pub struct Ticker {
    pub dashboards: Vec<Dashboard>,
    pub vocab: Vocabulary,
    pub tz: FixedOffset,
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
    pub metrics: Arc<Metrics>,
    /// Panels computed less often than every tick.
    pub memo: tokio::sync::Mutex<Memo>,
}

impl Ticker {
    /// Computes every panel at `now` for each scope with subscribers (the
    /// city's wall, a bureau's wall, a scoped token's screen), once per
    /// scope whatever the number of screens, and publishes the results.
    /// Nobody watching, nothing is asked.
    pub async fn tick(&self, now: DateTime<FixedOffset>) {
        let mut memo = self.memo.lock().await;
        let loading = self.live.history_loading().is_some();
        if self.live.city_watched() {
            let event = self.panels_for(&Scope::city(), now, &mut memo).await;
            self.live.publish_panels(event);
        } else {
            self.live.forget_panels();
        }
        let scopes = self.live.scopes_in_use();
        for scope in &scopes {
            let event = self.panels_for(scope, now, &mut memo).await;
            self.live.publish_scoped_panels(scope, event);
        }
        // Forget the slow panels of scopes nobody watched for an hour.
        let at = now.timestamp();
        memo.retain(|_, (computed, _)| at - *computed < 3600);
        // While history loads every figure moves: nothing computed now is
        // kept for later ticks, so none outlives the load (a topic ranking
        // kept for 30 s said 本时段暂无诉求 beside 今日受理 2,805).
        if loading {
            memo.clear();
        }
        self.metrics.ticks.fetch_add(1, Relaxed);
    }

    /// The `panels` event of one scope at `now`.
    pub async fn panels_for(
        &self,
        scope: &Scope,
        now: DateTime<FixedOffset>,
        memo: &mut Memo,
    ) -> Arc<str> {
        let at = now.timestamp();
        let (store, metrics) = (&*self.store, &*self.metrics);
        let data = compute(
            &self.dashboards,
            &self.vocab,
            at,
            self.tz,
            scope,
            memo,
            |q| async move {
                crate::store::ask(store, metrics, q, at)
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        let mut event = json!({"at": now.to_rfc3339(), "dashboards": data});
        // History still being loaded: today's figures and their
        // comparisons are partial, and the screen says so.
        if let Some(until) = self.live.history_loading() {
            event["loading_until"] = json!(crate::query::rfc3339(until, self.tz));
        }
        if !scope.is_city() {
            event["scope"] = json!(scope);
        }
        event.to_string().into()
    }

    /// Ticks every `every` at the `clock`'s time until `shutdown`. A tick
    /// that overruns the next is not queued: the next one starts on the
    /// following beat.
    pub async fn run(
        &self,
        clock: impl Fn() -> DateTime<FixedOffset>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut beat = tokio::time::interval(every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = beat.tick() => self.tick(clock()).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;
    use std::sync::Arc;

    fn vocab() -> Vocabulary {
        Vocabulary::from_enricher(&Arc::new(Enricher::builtin(b"k").unwrap()))
    }

    fn tz() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    #[test]
    fn builtin_dashboards_load_and_check() {
        let ds = load(Path::new("/nonexistent"), &vocab(), tz()).unwrap();
        assert!(ds.len() >= 2);
        assert_eq!(ds[0].name, "wall");
    }

    #[test]
    fn today_compares_with_yesterday_up_to_the_same_time() {
        let q: PanelQuery =
            serde_json::from_value(json!({"kind": "summary", "range": "today", "compare": true}))
                .unwrap();
        // 2025-06-01T10:00:00+08:00
        let now = 1_748_743_200;
        let (Query::Summary(c), Some(Query::Summary(p))) = q.queries(&vocab(), now, tz()).unwrap()
        else {
            panic!()
        };
        assert_eq!(rfc3339(c.from.unwrap(), tz()), "2025-06-01T00:00:00+08:00");
        assert_eq!(c.to, Some(now));
        assert_eq!(p.to, Some(now - 86_400));
        assert_eq!(p.from, Some(c.from.unwrap() - 86_400));
        // Within a minute too: yesterday up to the same second, not to the
        // end of its minute.
        let now = now + 37;
        let Some(Query::Summary(p)) = q.queries(&vocab(), now, tz()).unwrap().1 else {
            panic!()
        };
        assert_eq!(p.to, Some(now - 86_400));
    }

    #[test]
    fn a_backlog_compares_with_its_orders_as_they_stood_a_day_before() {
        let q: PanelQuery = serde_json::from_value(
            json!({"kind": "orders", "range": "30d", "compare": true, "compare_by": "1d"}),
        )
        .unwrap();
        let now = 1_748_743_200 + 1_234;
        let (Query::Orders(c), Some(Query::Orders(p))) = q.queries(&vocab(), now, tz()).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.as_of, None);
        assert_eq!(p.as_of, Some(now - 86_400));
        assert_eq!(
            (p.from, p.to),
            (c.from.map(|f| f - 86_400), Some(now - 86_400))
        );
        // Other kinds have no work orders to read as of a time.
        let q: PanelQuery = serde_json::from_value(
            json!({"kind": "top", "range": "today", "dim": "topic", "compare": true}),
        )
        .unwrap();
        assert!(matches!(
            q.queries(&vocab(), now, tz()).unwrap().1,
            Some(Query::Top { .. })
        ));
    }

    #[test]
    fn a_day_of_hours_is_24_buckets_ending_now() {
        let q: PanelQuery = serde_json::from_value(
            json!({"kind": "timeseries", "range": "24h", "interval": "1h", "group_by": "sentiment"}),
        )
        .unwrap();
        let now = 1_748_743_200 + 1_800;
        let (Query::Timeseries { filters, .. }, None) = q.queries(&vocab(), now, tz()).unwrap()
        else {
            panic!()
        };
        let from = filters.from.unwrap();
        assert_eq!(from % 3600, 0);
        assert_eq!((now - from + 3599) / 3600, 24);
    }

    #[tokio::test]
    async fn hot_words_leave_out_the_generic_ones() {
        let d: Dashboard = serde_json::from_value(json!({
            "name": "w", "title": "t", "panels": [
                {"id": "words", "type": "wordcloud", "title": "热词",
                 "query": {"kind": "top", "range": "today", "dim": "keyword", "limit": 2,
                           "skip_generic": true}},
                {"id": "all", "type": "rank", "title": "全部",
                 "query": {"kind": "top", "range": "today", "dim": "keyword", "limit": 2}}
            ]
        }))
        .unwrap();
        let mut asked = Vec::new();
        let mut memo = Memo::new();
        let data = compute(
            &[d],
            &vocab(),
            1_748_743_200,
            tz(),
            &Scope::city(),
            &mut memo,
            |q| {
                asked.push(q);
                async {
                    let row = |k: &str, count| crate::query::TopRow {
                        key: k.into(),
                        count,
                        negative: 0,
                    };
                    Ok(Answer::Top(vec![
                        row("民警", 90),
                        row("树枝", 40),
                        row("办理", 30),
                        row("黑车", 20),
                        row("信号灯", 10),
                    ]))
                }
            },
        )
        .await;
        let keys = |panel: &str| -> Vec<String> {
            data["w"][panel]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["key"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(keys("words"), ["树枝", "黑车"]);
        // The generic words are in the answer; only the panel leaves them out.
        assert_eq!(keys("all")[0], "民警");
        assert!(asked.iter().any(|q| matches!(
            q,
            Query::Top { limit, .. } if *limit == crate::query::MAX_TOP_LIMIT
        )));
    }

    #[tokio::test]
    async fn a_supervision_panel_shows_units_never_cases() {
        use crate::query::Filters;
        use crate::query::supervision::{CaseInput, CaseItem, Deadlines, Status, queue};
        let d: Dashboard = serde_json::from_value(json!({
            "name": "w", "title": "t", "panels": [
                {"id": "overdue", "type": "overdue", "title": "超期未化解",
                 "query": {"kind": "supervision", "range": "all", "limit": 1,
                           "filters": {"status": ["overdue"]}}}
            ]
        }))
        .unwrap();
        let now = 1_748_743_200;
        let mut asked = Vec::new();
        let data = compute(
            &[d],
            &vocab(),
            now,
            tz(),
            &Scope::city(),
            &mut Memo::new(),
            |q| {
                asked.push(q.clone());
                let Query::Supervision { status, limit, .. } = q else {
                    panic!("{q:?}")
                };
                let case = |id: &str, unit: &str| CaseItem {
                    id: id.into(),
                    ts: now - 100 * 3600,
                    unit: Some(unit.into()),
                    rating: Some(3),
                    text: "出警太慢，不满意".into(),
                    ..CaseItem::default()
                };
                let input = CaseInput {
                    items: vec![
                        case("a", "丛台派出所"),
                        case("b", "丛台派出所"),
                        case("c", "火磨派出所"),
                    ],
                    ..CaseInput::default()
                };
                let d = Deadlines {
                    dispatch: 3600,
                    callback: 3600,
                    sla: 3600,
                };
                async move {
                    Ok(Answer::Supervision(queue(
                        input,
                        d,
                        now,
                        status,
                        limit,
                        tz(),
                    )))
                }
            },
        )
        .await;
        // Every overdue case counted, none listed; the first `limit` units.
        assert!(matches!(
            &asked[..],
            [Query::Supervision {
                status: Status::Overdue,
                limit: 1,
                filters: Filters {
                    from: None,
                    to: None,
                    ..
                }
            }]
        ));
        let panel = &data["w"]["overdue"];
        assert_eq!(panel["overdue"], 3);
        assert!(panel.get("items").is_none(), "{panel}");
        assert!(!panel.to_string().contains("出警"), "{panel}");
        assert_eq!(
            panel["by_unit"],
            json!([{"unit": "丛台派出所", "count": 2, "overdue": 2,
            "escalate": 0, "stages": {"待派发": 2}}])
        );
    }

    #[tokio::test]
    async fn slow_panels_are_recomputed_every_so_often() {
        let d: Dashboard = serde_json::from_value(json!({
            "name": "w", "title": "t", "panels": [
                {"id": "slow", "type": "rank", "title": "s",
                 "query": {"kind": "top", "range": "today", "dim": "topic", "every": "30s"}},
                {"id": "fast", "type": "rank", "title": "f",
                 "query": {"kind": "top", "range": "today", "dim": "channel"}}
            ]
        }))
        .unwrap();
        let mut memo = Memo::new();
        let t0 = 1_748_743_200;
        let mut asked = Vec::new();
        for (now, count) in [(t0, 1), (t0 + 10, 2), (t0 + 29, 3), (t0 + 30, 4)] {
            let data = compute(
                std::slice::from_ref(&d),
                &vocab(),
                now,
                tz(),
                &Scope::city(),
                &mut memo,
                |q| {
                    asked.push((now, q));
                    async move {
                        Ok(Answer::Top(vec![crate::query::TopRow {
                            key: "praise".into(),
                            count,
                            negative: 0,
                        }]))
                    }
                },
            )
            .await;
            let shown = |p: &str| data["w"][p]["rows"][0]["count"].as_u64().unwrap();
            assert_eq!(shown("fast"), count);
            // Computed at t0, kept for 30 s, computed again at t0 + 30.
            assert_eq!(shown("slow"), if now < t0 + 30 { 1 } else { 4 }, "at {now}");
        }
        assert_eq!(asked.len(), 4 + 2);
    }

    #[tokio::test]
    async fn a_bureau_wall_asks_for_its_scope_within_the_screen_s() {
        let d: Dashboard = serde_json::from_value(json!({
            "name": "hs", "title": "t", "scope": {"districts": ["邯山区"]}, "panels": [
                {"id": "kpi", "type": "kpi", "title": "k", "query": {"kind": "summary", "range": "today"}}
            ]
        }))
        .unwrap();
        let vocab = vocab();
        let scope = |d: &[&str]| {
            Scope::new(
                &d.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>(),
                &[],
                &vocab,
            )
            .unwrap()
        };
        for (screen, asks) in [
            (Scope::city(), true),
            (scope(&["邯山区"]), true),
            (scope(&["丛台区"]), false),
        ] {
            let mut asked = Vec::new();
            let data = compute(
                std::slice::from_ref(&d),
                &vocab,
                1_748_743_200,
                tz(),
                &screen,
                &mut Memo::new(),
                |q| {
                    asked.push(q);
                    async { Ok(Answer::Summary(Default::default())) }
                },
            )
            .await;
            if asks {
                let [Query::Summary(f)] = asked.as_slice() else {
                    panic!("{asked:?}")
                };
                assert_eq!(f.district, ["邯山区"]);
            } else {
                assert!(asked.is_empty());
                assert!(data["hs"]["kpi"]["error"].is_string(), "{data}");
            }
        }
    }

    #[test]
    fn bad_panels_are_named() {
        let dir = std::env::temp_dir().join(format!("minyi-dash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("x.json"),
            r#"{"name":"x","title":"t","panels":[{"id":"a","type":"bar","title":"t","query":{"kind":"top","range":"today","dim":"weather"}}]}"#,
        )
        .unwrap();
        let e = load(&dir, &vocab(), tz()).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            e.contains("x.json") && e.contains("panel \"a\"") && e.contains("dim"),
            "{e}"
        );
    }
}
