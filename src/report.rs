//! 分析研判: the centre's daily, weekly and monthly reports for the
//! leadership — the period's volumes and KPIs against the previous period,
//! district and unit rankings, top topics and incidents, emerging terms,
//! the period's alerts, overdue work orders by unit, and typical items
//! cited by id (masked text).
//!
//! In: a [`Period`] on the centre's clock, the caller's scope (a bureau's
//! analyst gets its district's report), the store (through the typed query
//! model, so both stores give the same report) and the period's alerts.
//! Out: a [`Report`], rendered as JSON, Markdown (for the robots) or HTML
//! (printable on A4, charts as inline SVG). [`due`] decides which scheduled
//! reports are to be sent now; the server sends them once per period.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, TimeZone};
use serde::Serialize;

use crate::alerts::engine::Alert;
use crate::alerts::notify::plain;
use crate::metrics::Metrics;
use crate::query::{
    Answer, Dim, Filters, Incident, KeyCounts, Metric, Query, Rank, Scope, Summary, TopDim,
    Vocabulary, rfc3339,
};
use crate::store::{Store, StoreError};

/// Daily, weekly (Monday to Sunday) or monthly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "daily" => Some(Kind::Daily),
            "weekly" => Some(Kind::Weekly),
            "monthly" => Some(Kind::Monthly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
            Kind::Monthly => "monthly",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Daily => "日报",
            Kind::Weekly => "周报",
            Kind::Monthly => "月报",
        }
    }
}

/// One period on the centre's clock: `[from, to)`, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: Kind,
    /// Its first day.
    pub start: NaiveDate,
    pub from: i64,
    pub to: i64,
}

fn midnight(day: NaiveDate, tz: FixedOffset) -> i64 {
    tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("a fixed offset maps every local time once")
        .timestamp()
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first")
}

fn next_month(day: NaiveDate) -> NaiveDate {
    let first = first_of_month(day);
    (first + Duration::days(32)).with_day(1).expect("a first")
}

impl Period {
    /// The period of `kind` that holds `date`.
    pub fn of(kind: Kind, date: NaiveDate, tz: FixedOffset) -> Period {
        let (start, end) = match kind {
            Kind::Daily => (date, date + Duration::days(1)),
            Kind::Weekly => {
                let monday =
                    date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
                (monday, monday + Duration::days(7))
            }
            Kind::Monthly => (first_of_month(date), next_month(date)),
        };
        Period {
            kind,
            start,
            from: midnight(start, tz),
            to: midnight(end, tz),
        }
    }

    /// The period just before this one.
    pub fn previous(&self, tz: FixedOffset) -> Period {
        Period::of(self.kind, self.start - Duration::days(1), tz)
    }

    /// The newest period of `kind` that has ended at `now` (unix seconds).
    pub fn last_ended(kind: Kind, now: i64, tz: FixedOffset) -> Period {
        let today = chrono::DateTime::from_timestamp(now, 0)
            .expect("a time in range")
            .with_timezone(&tz)
            .date_naive();
        Period::of(kind, today, tz).previous(tz)
    }

    /// How people name it: 2026-12-01, 2026年第49周（12月1日–12月7日）, 2026年12月.
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Daily => self.start.format("%Y-%m-%d").to_string(),
            Kind::Weekly => {
                let end = self.start + Duration::days(6);
                format!(
                    "{}年第{}周（{}月{}日–{}月{}日）",
                    self.start.iso_week().year(),
                    self.start.iso_week().week(),
                    self.start.month(),
                    self.start.day(),
                    end.month(),
                    end.day()
                )
            }
            Kind::Monthly => format!("{}年{}月", self.start.year(), self.start.month()),
        }
    }

    /// A key naming it, unique per kind: what a schedule remembers as sent.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.start.format("%Y-%m-%d"))
    }
}

/// A period as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Span {
    /// RFC 3339 on the centre's clock, `to` exclusive.
    pub from: String,
    pub to: String,
    pub label: String,
}

/// One district or unit of a ranking: the period's counts and rates.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RankEntry {
    pub key: String,
    pub name: String,
    pub received: u64,
    /// Received in the previous period.
    pub previous_received: u64,
    pub negative: u64,
    /// 负面占比.
    pub negative_share: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub completion_rate: Option<f64>,
    pub dissatisfied_resolved_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rankings {
    /// By items received, most first.
    pub districts: Vec<RankEntry>,
    pub units: Vec<RankEntry>,
    /// Items the gazetteer placed in no district.
    pub without_district: u64,
}

/// A topic or term of the period against the previous one.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Trend {
    pub key: String,
    pub name: String,
    pub count: u64,
    pub previous: u64,
}

/// An alert of the period, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertBrief {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub started_at: String,
    /// Still firing at the end of the period (or now).
    pub firing: bool,
    pub observed: f64,
    pub expected: f64,
    /// `observed` and `expected` are shares of negative items (a
    /// `negative_share` rule), not counts.
    pub share: bool,
    /// The incident it consisted of.
    pub incident: Option<String>,
}

impl AlertBrief {
    /// What it observed against what was expected, in its unit:
    /// `12 条，常态 3.5` or `负面占比 74%，常态 20%`.
    fn figure(&self) -> String {
        if self.share {
            format!(
                "负面占比 {:.0}%，常态 {:.0}%",
                self.observed * 100.0,
                self.expected * 100.0
            )
        } else {
            format!("{} 条，常态 {:.1}", self.observed, self.expected)
        }
    }
}

/// The supervision cases (督办台账) of the period's items still open past
/// their stage's deadline, by unit.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Overdue {
    /// The unit ("" when neither the order nor the item names one).
    pub key: String,
    pub name: String,
    /// Cases past their deadline.
    pub overdue: u64,
    /// Cases not 化解.
    pub open: u64,
    /// Cases answered 不满意 again: to be escalated.
    pub escalate: u64,
}

/// A typical item, cited by id.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Cited {
    pub id: String,
    pub received_at: String,
    pub channel: String,
    pub district: Option<String>,
    /// Masked, as stored.
    pub text: String,
    /// Why it is cited: 热点事件, 不满意评价, 表扬.
    pub why: String,
}

/// 分析研判: one period's report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// daily, weekly or monthly.
    pub kind: String,
    /// 民意日报 · 2026-12-01（全市）.
    pub title: String,
    /// The place it covers (全市, or the caller's scope).
    pub place: String,
    /// The period has not ended yet: its figures are so far (截至 …).
    pub partial: bool,
    pub period: Span,
    pub previous: Span,
    pub summary: Summary,
    pub previous_summary: Summary,
    /// The revisit SMS sent in the period: answered (回复率), and still
    /// unanswered seven days after sending.
    pub revisits: crate::query::RevisitCounts,
    pub previous_revisits: crate::query::RevisitCounts,
    pub rankings: Rankings,
    /// The ten largest topics.
    pub topics: Vec<Trend>,
    /// The largest incidents (同一事件) of the period, at most five.
    pub incidents: Vec<Incident>,
    /// Words that rose most against the previous period (at least five
    /// items and twice as many), at most ten.
    pub emerging: Vec<Trend>,
    pub alerts: Vec<AlertBrief>,
    pub overdue: Vec<Overdue>,
    /// Three to eight typical items (fewer when the period has fewer).
    pub cited: Vec<Cited>,
    pub generated_at: String,
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scope(#[from] crate::query::OutOfScope),
}

/// What a report is read from.
pub struct Sources<'a> {
    pub store: &'a dyn Store,
    pub metrics: &'a Metrics,
    pub vocab: &'a Vocabulary,
    pub tz: FixedOffset,
    /// The caller's place: every query is narrowed to it.
    pub scope: &'a Scope,
    /// The alerts that may concern the period (the engine's history): those
    /// that started in it are listed.
    pub alerts: Vec<Alert>,
    /// Unix seconds.
    pub now: i64,
}

impl Sources<'_> {
    async fn ask(&self, q: Query) -> Result<Answer, ReportError> {
        let q = self.scope.restrict_query(q)?;
        Ok(crate::store::ask(self.store, self.metrics, q, self.now).await?)
    }

    async fn revisits(&self, f: Filters) -> Result<crate::query::RevisitCounts, ReportError> {
        match self.ask(Query::Revisits(f)).await? {
            Answer::Revisits(r) => Ok(r.total),
            _ => Ok(Default::default()),
        }
    }

    async fn summary(&self, f: Filters) -> Result<Summary, ReportError> {
        match self.ask(Query::Summary(f)).await? {
            Answer::Summary(s) => Ok(s),
            _ => Ok(Summary::default()),
        }
    }

    async fn top(
        &self,
        f: Filters,
        dim: TopDim,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, ReportError> {
        match self
            .ask(Query::Top {
                filters: f,
                dim,
                limit,
            })
            .await?
        {
            Answer::Top(rows) => Ok(rows.into_iter().map(|r| (r.key, r.count)).collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// Every value of `dim` with its counts, 不满意化解率's included; the
    /// items without a value as the row keyed "".
    async fn counts(&self, f: Filters, dim: Dim) -> Result<Vec<KeyCounts>, ReportError> {
        let q = Query::Rank(Rank {
            filters: f,
            dim,
            metric: Metric::DissatisfiedResolvedRate,
            min_volume: 0,
            ascending: false,
            compare: None,
            by_change: false,
        });
        match self.ask(q).await? {
            Answer::Rank(r) => Ok(r
                .rows
                .into_iter()
                .chain(r.unknown)
                .map(|row| row.counts)
                .collect()),
            _ => Ok(Vec::new()),
        }
    }

    async fn items(
        &self,
        f: Filters,
        limit: usize,
    ) -> Result<Vec<crate::query::FeedbackRow>, ReportError> {
        match self
            .ask(Query::Feedback {
                filters: f,
                limit,
                cursor: None,
            })
            .await?
        {
            Answer::Feedback { items, .. } => Ok(items),
            _ => Ok(Vec::new()),
        }
    }
}

fn rate(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn span(p: &Period, tz: FixedOffset) -> Span {
    Span {
        from: rfc3339(p.from, tz),
        to: rfc3339(p.to, tz),
        label: p.label(),
    }
}

fn range(p: &Period) -> Filters {
    Filters::default().with_range(Some(p.from), Some(p.to))
}

/// Builds the report of `period`.
pub async fn build(period: Period, src: &Sources<'_>) -> Result<Report, ReportError> {
    let tz = src.tz;
    // A period not over yet is compared with the same stretch of the one
    // before (today until 00:43 with yesterday until 00:43), not with the
    // whole of it: 43 minutes against a day read −58,885.
    let partial = src.now < period.to;
    let before = match period.previous(tz) {
        b if partial => Period {
            to: b.from + (src.now - period.from).max(0),
            ..b
        },
        b => b,
    };
    let summary = src.summary(range(&period)).await?;
    // Its work orders as they stood as long before now: 办结率 of two
    // periods that had as long to finish.
    let previous_summary = src
        .summary(Filters {
            as_of: crate::query::compared_as_of(Some(period.to), before.to, src.now),
            ..range(&before)
        })
        .await?;
    let revisits = src.revisits(range(&period)).await?;
    let previous_revisits = src.revisits(range(&before)).await?;

    // Rankings: every district and unit with its rates, by volume.
    let mut rankings = Rankings {
        districts: Vec::new(),
        units: Vec::new(),
        without_district: 0,
    };
    for dim in [Dim::District, Dim::Unit] {
        let now = src.counts(range(&period), dim).await?;
        let then = src.counts(range(&before), dim).await?;
        let mut list: Vec<RankEntry> = Vec::new();
        for c in now {
            if c.key.is_empty() {
                if dim == Dim::District {
                    rankings.without_district = c.count;
                }
                continue;
            }
            list.push(RankEntry {
                name: src.vocab.name(dim, &c.key),
                previous_received: then.iter().find(|p| p.key == c.key).map_or(0, |p| p.count),
                received: c.count,
                negative: c.negative,
                negative_share: rate(c.negative, c.count),
                satisfaction_rate: rate(c.satisfied, c.rated),
                completion_rate: rate(c.orders_resolved, c.orders_created),
                dissatisfied_resolved_rate: rate(c.dissatisfied_resolved, c.dissatisfied),
                key: c.key,
            });
        }
        list.sort_by(|a, b| b.received.cmp(&a.received).then_with(|| a.key.cmp(&b.key)));
        match dim {
            Dim::District => rankings.districts = list,
            _ => rankings.units = list,
        }
    }

    // Topics and the words that rose.
    let then_topics = src
        .top(range(&before), TopDim::Topic, crate::query::MAX_TOP_LIMIT)
        .await?;
    let topics: Vec<Trend> = src
        .top(range(&period), TopDim::Topic, 10)
        .await?
        .into_iter()
        .map(|(key, count)| Trend {
            name: src.vocab.name(Dim::Topic, &key),
            previous: then_topics
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(0, |(_, n)| *n),
            count,
            key,
        })
        .collect();
    // A word missing from the previous period's (full) list of the most
    // frequent is counted there on its own: it may have been just below.
    let then_words = src
        .top(range(&before), TopDim::Keyword, crate::query::MAX_TOP_LIMIT)
        .await?;
    let full = then_words.len() >= crate::query::MAX_TOP_LIMIT;
    let mut emerging = Vec::new();
    let mut looked_up = 0;
    for (key, count) in src
        .top(range(&period), TopDim::Keyword, crate::query::MAX_TOP_LIMIT)
        .await?
    {
        if count < 5 {
            continue;
        }
        let previous = match then_words.iter().find(|(k, _)| *k == key) {
            Some((_, n)) => *n,
            None if !full => 0,
            None if looked_up < 20 => {
                looked_up += 1;
                let mut f = range(&before);
                f.q = vec![vec![key.clone()]];
                src.top(f, TopDim::Keyword, crate::query::MAX_TOP_LIMIT)
                    .await?
                    .into_iter()
                    .find(|(k, _)| *k == key)
                    .map_or(0, |(_, n)| n)
            }
            None => continue,
        };
        if count >= 2 * previous {
            emerging.push(Trend {
                name: key.clone(),
                previous,
                count,
                key,
            });
        }
    }
    emerging.sort_by(|a, b| {
        (b.count - b.previous)
            .cmp(&(a.count - a.previous))
            .then_with(|| a.key.cmp(&b.key))
    });
    emerging.truncate(10);

    let incidents = match src
        .ask(Query::Incidents {
            filters: range(&period),
            limit: 5,
            by_count: true,
        })
        .await?
    {
        Answer::Incidents(list) => list,
        _ => Vec::new(),
    };

    // Overdue cases by unit: the supervision queue of the period's items.
    let mut overdue = Vec::new();
    if let Answer::Supervision(queue) = src
        .ask(Query::Supervision {
            filters: range(&period),
            status: crate::query::supervision::Status::Open,
            limit: 1,
        })
        .await?
    {
        overdue = queue
            .by_unit
            .into_iter()
            .filter(|u| u.overdue > 0)
            .map(|u| {
                let key = u.unit.unwrap_or_default();
                Overdue {
                    name: if key.is_empty() {
                        "单位不明".to_owned()
                    } else {
                        src.vocab.name(Dim::Unit, &key)
                    },
                    key,
                    overdue: u.overdue,
                    open: u.count,
                    escalate: u.escalate,
                }
            })
            .collect();
    }
    overdue.sort_by(|a, b| b.overdue.cmp(&a.overdue).then_with(|| a.key.cmp(&b.key)));

    let cited = cite(&period, &incidents, src).await?;

    let mut alerts: Vec<AlertBrief> = src
        .alerts
        .iter()
        .filter(|a| a.started_at >= period.from && a.started_at < period.to)
        .map(|a| AlertBrief {
            id: a.id.clone(),
            title: a.title.clone(),
            severity: a.severity.clone(),
            started_at: rfc3339(a.started_at, tz),
            firing: a.resolved_at.is_none_or(|t| t >= period.to),
            observed: a.observed,
            expected: a.expected,
            share: a.detector == "negative_share",
            incident: a.incident.clone(),
        })
        .collect();
    alerts.sort_by(|a, b| a.started_at.cmp(&b.started_at));

    let place = if src.scope.is_city() {
        "全市".to_owned()
    } else {
        src.scope.label()
    };
    let so_far = if partial {
        format!("（截至 {}，未完）", local(&rfc3339(src.now, tz)))
    } else {
        String::new()
    };
    Ok(Report {
        kind: period.kind.as_str().to_owned(),
        title: format!(
            "民意{} · {}（{place}）{so_far}",
            period.kind.name(),
            period.label()
        ),
        partial,
        place,
        period: span(&period, tz),
        previous: Span {
            label: if partial {
                format!("{} 同时段", before.label())
            } else {
                before.label()
            },
            ..span(&before, tz)
        },
        summary,
        previous_summary,
        revisits,
        previous_revisits,
        rankings,
        topics,
        incidents,
        emerging,
        alerts,
        overdue,
        cited,
        generated_at: rfc3339(src.now, tz),
    })
}

/// Typical items: one of each of the three largest incidents, up to three
/// rated 不满意, up to two of praise — each with text, each once, at most
/// eight.
async fn cite(
    period: &Period,
    incidents: &[Incident],
    src: &Sources<'_>,
) -> Result<Vec<Cited>, ReportError> {
    let mut out: Vec<Cited> = Vec::new();
    let take = |items: Vec<crate::query::FeedbackRow>, why: &str, out: &mut Vec<Cited>| {
        for i in items {
            if out.len() < 8 && !out.iter().any(|c| c.id == i.id) {
                out.push(Cited {
                    id: i.id,
                    received_at: i.received_at,
                    channel: src.vocab.name(Dim::Channel, &i.channel),
                    district: i.district,
                    text: i.text,
                    why: why.to_owned(),
                });
            }
        }
    };
    let with_text = || {
        let mut f = range(period);
        f.has_text = Some(true);
        f
    };
    for inc in incidents.iter().take(3) {
        let mut f = with_text();
        f.incident = vec![inc.id.clone()];
        let items = src.items(f, 1).await?;
        take(items, &format!("热点事件（{}条）", inc.count), &mut out);
    }
    let mut f = with_text();
    f.rating = vec![crate::model::Rating::Dissatisfied];
    take(src.items(f, 3).await?, "不满意评价", &mut out);
    let mut f = with_text();
    f.topic = vec!["praise".to_owned()];
    f.sentiment = vec![crate::model::SentimentLabel::Positive];
    take(src.items(f, 2).await?, "表扬", &mut out);
    if out.len() < 3 {
        // A quiet period: its newest items stand for it.
        take(src.items(with_text(), 3).await?, "本期诉求", &mut out);
    }
    Ok(out)
}

// --- rendering ----------------------------------------------------------------

fn pct(r: Option<f64>) -> String {
    r.map_or("—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `now` against `then`: 较上期 +12（上期 1,100）.
fn versus(now: u64, then: u64) -> String {
    let d = now as i64 - then as i64;
    format!(
        "较上期 {}{}（上期 {}）",
        if d >= 0 { "+" } else { "−" },
        count(d.unsigned_abs()),
        count(then)
    )
}

/// A rate against the previous period's: 较上期 +2.1个百分点（上期 90.0%）.
fn rate_versus(now: Option<f64>, then: Option<f64>) -> String {
    match (now, then) {
        (Some(a), Some(b)) => {
            let d = (a - b) * 100.0;
            format!(
                "较上期 {}{:.1}个百分点（上期 {}）",
                if d < 0.0 { "−" } else { "+" },
                d.abs(),
                pct(Some(b))
            )
        }
        _ => "上期无数据".to_owned(),
    }
}

/// The KPI lines, shared by Markdown and HTML.
fn kpi_lines(r: &Report) -> Vec<(String, String, String)> {
    let (s, p) = (&r.summary, &r.previous_summary);
    vec![
        (
            "受理量".into(),
            count(s.received),
            versus(s.received, p.received),
        ),
        (
            "负面".into(),
            format!(
                "{}（{}）",
                count(s.negative),
                pct(rate(s.negative, s.received))
            ),
            versus(s.negative, p.negative),
        ),
        (
            "满意率".into(),
            pct(s.satisfaction_rate),
            rate_versus(s.satisfaction_rate, p.satisfaction_rate),
        ),
        (
            "办结率".into(),
            pct(s.completion_rate),
            rate_versus(s.completion_rate, p.completion_rate),
        ),
        (
            "不满意化解率".into(),
            pct(s.dissatisfied_resolved_rate),
            rate_versus(s.dissatisfied_resolved_rate, p.dissatisfied_resolved_rate),
        ),
        (
            "超期工单".into(),
            count(s.overdue),
            versus(s.overdue, p.overdue),
        ),
        (
            "回访回复率".into(),
            format!(
                "{}（发出 {}，超7天未回复 {}）",
                pct(r.revisits.reply_rate),
                count(r.revisits.sent),
                count(r.revisits.unanswered)
            ),
            rate_versus(r.revisits.reply_rate, r.previous_revisits.reply_rate),
        ),
        (
            "重复诉求率".into(),
            pct(s.repeat_rate),
            rate_versus(s.repeat_rate, p.repeat_rate),
        ),
    ]
}

fn rank_line(e: &RankEntry) -> String {
    format!(
        "{} 受理 {}（上期 {}）· 负面 {} · 满意率 {} · 办结率 {} · 化解率 {}",
        e.name,
        count(e.received),
        count(e.previous_received),
        pct(e.negative_share),
        pct(e.satisfaction_rate),
        pct(e.completion_rate),
        pct(e.dissatisfied_resolved_rate)
    )
}

/// How much of the report the Markdown holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Ten rows of each ranking, every section (`format=md`).
    Full,
    /// What fits a robot's message (WeCom: 4,000 bytes): the KPIs, five
    /// districts, three incidents, the alerts, three cited items; the
    /// link to the whole report goes with it.
    Brief,
}

/// Markdown: lists, no tables (WeCom renders none); every text from
/// outside (citizens' words, terms) made inert.
pub fn markdown(r: &Report, detail: Detail) -> String {
    let brief = detail == Detail::Brief;
    let rows = if brief { 5 } else { 10 };
    let mut out = format!(
        "# {}\n\n统计时段：{} 至 {}\n\n## 总体\n",
        plain(&r.title),
        local(&r.period.from),
        local(&r.period.to)
    );
    for (name, value, change) in kpi_lines(r) {
        out.push_str(&format!("- {name}：{value}，{change}\n"));
    }
    for (title, list) in [("地区", &r.rankings.districts), ("单位", &r.rankings.units)] {
        if list.is_empty() || (brief && title == "单位") {
            continue;
        }
        out.push_str(&format!(
            "\n## {title}排名（按受理量，前{}）\n",
            if brief { "五" } else { "十" }
        ));
        for (i, e) in list.iter().take(rows).enumerate() {
            out.push_str(&format!("{}. {}\n", i + 1, plain(&rank_line(e))));
        }
    }
    if !r.topics.is_empty() && !brief {
        out.push_str("\n## 主要类别\n");
        for t in &r.topics {
            out.push_str(&format!(
                "- {} {}，{}\n",
                plain(&t.name),
                count(t.count),
                versus(t.count, t.previous)
            ));
        }
    }
    if !r.incidents.is_empty() {
        out.push_str("\n## 热点事件\n");
        for i in r.incidents.iter().take(if brief { 3 } else { 5 }) {
            out.push_str(&format!(
                "- {} 条 · {}个渠道 · {}：{}\n",
                i.count,
                i.channels.len(),
                plain(i.district.as_deref().unwrap_or("地区不明")),
                plain(&i.title)
            ));
        }
    }
    if !r.emerging.is_empty() && !brief {
        out.push_str("\n## 新出现的词\n");
        let words: Vec<String> = r
            .emerging
            .iter()
            .map(|t| format!("{} {}（上期 {}）", plain(&t.name), t.count, t.previous))
            .collect();
        out.push_str(&format!("{}\n", words.join("、")));
    }
    out.push_str("\n## 预警\n");
    if r.alerts.is_empty() {
        out.push_str("本期无预警\n");
    }
    for a in &r.alerts {
        out.push_str(&format!(
            "- {} {}（{}）{}\n",
            local(&a.started_at),
            plain(&a.title),
            a.figure(),
            if a.firing { "，未恢复" } else { "" }
        ));
    }
    if !r.overdue.is_empty() {
        out.push_str("\n## 超期未化解（按单位）\n");
        for o in r.overdue.iter().take(rows) {
            out.push_str(&format!(
                "- {} 超期 {}，未化解 {}，需升级 {}\n",
                plain(&o.name),
                o.overdue,
                o.open,
                o.escalate
            ));
        }
    }
    if !r.cited.is_empty() {
        out.push_str("\n## 典型诉求\n");
        for c in r.cited.iter().take(if brief { 3 } else { 8 }) {
            out.push_str(&format!(
                "- [{}] {}（{}）：{}\n",
                plain(&c.id),
                c.why,
                c.channel,
                plain(&c.text)
            ));
        }
    }
    out
}

/// An RFC 3339 time of the report as people read it: `2026-12-01 08:00`.
fn local(t: &str) -> String {
    t.get(..16)
        .map_or_else(|| t.to_owned(), |s| s.replace('T', " "))
}

/// Text for HTML: `<`, `>`, `&`, quotes escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Horizontal bars, this period beside the previous one, as inline SVG.
fn bars(rows: &[(String, u64, u64)]) -> String {
    let max = rows.iter().map(|r| r.1.max(r.2)).max().unwrap_or(0).max(1) as f64;
    let (label_w, bar_w, row_h) = (130.0, 470.0, 22.0);
    let height = row_h * rows.len() as f64 + 8.0;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 680 {height}" role="img">"##
    );
    for (i, (name, now, then)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let w = *now as f64 / max * bar_w;
        let pw = *then as f64 / max * bar_w;
        svg.push_str(&format!(
            r##"<text x="{}" y="{}" text-anchor="end" font-size="12">{}</text><rect x="{label_w}" y="{}" width="{pw:.1}" height="4" fill="#b8c2cc"/><rect x="{label_w}" y="{}" width="{w:.1}" height="12" fill="#1f6fb2"/><text x="{:.1}" y="{}" font-size="11">{}</text>"##,
            label_w - 6.0,
            y + 12.0,
            esc(name),
            y + 14.0,
            y,
            label_w + w + 4.0,
            y + 11.0,
            count(*now)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A printable page (A4, CJK fonts), charts as inline SVG.
pub fn html(r: &Report) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>{}</h1><p class=\"meta\">统计时段：{} 至 {}（上期：{}）· 生成于 {} · 图中蓝条为本期，灰线为上期</p>",
        esc(&r.title),
        esc(&local(&r.period.from)),
        esc(&local(&r.period.to)),
        esc(&r.previous.label),
        esc(&local(&r.generated_at))
    ));
    body.push_str("<section class=\"kpis\">");
    for (name, value, change) in kpi_lines(r) {
        body.push_str(&format!(
            "<div class=\"kpi\"><div class=\"n\">{}</div><div class=\"v\">{}</div><div class=\"c\">{}</div></div>",
            esc(&name),
            esc(&value),
            esc(&change)
        ));
    }
    body.push_str("</section>");
    for (title, list) in [("地区", &r.rankings.districts), ("单位", &r.rankings.units)] {
        if list.is_empty() {
            continue;
        }
        body.push_str(&format!("<h2>{title}排名</h2>"));
        let top: Vec<(String, u64, u64)> = list
            .iter()
            .take(12)
            .map(|e| (e.name.clone(), e.received, e.previous_received))
            .collect();
        body.push_str(&bars(&top));
        body.push_str("<table><thead><tr><th>名次</th><th>名称</th><th>受理</th><th>上期</th><th>负面占比</th><th>满意率</th><th>办结率</th><th>不满意化解率</th></tr></thead><tbody>");
        for (i, e) in list.iter().take(20).enumerate() {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                esc(&e.name),
                count(e.received),
                count(e.previous_received),
                pct(e.negative_share),
                pct(e.satisfaction_rate),
                pct(e.completion_rate),
                pct(e.dissatisfied_resolved_rate)
            ));
        }
        body.push_str("</tbody></table>");
    }
    if !r.topics.is_empty() {
        body.push_str("<h2>主要类别</h2>");
        let rows: Vec<(String, u64, u64)> = r
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.count, t.previous))
            .collect();
        body.push_str(&bars(&rows));
    }
    if !r.incidents.is_empty() {
        body.push_str("<h2>热点事件</h2><table><thead><tr><th>条数</th><th>渠道数</th><th>地区</th><th>事件（代表内容，已脱敏）</th></tr></thead><tbody>");
        for i in &r.incidents {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.count,
                i.channels.len(),
                esc(i.district.as_deref().unwrap_or("—")),
                esc(&i.title)
            ));
        }
        body.push_str("</tbody></table>");
    }
    if !r.emerging.is_empty() {
        let words: Vec<String> = r
            .emerging
            .iter()
            .map(|t| format!("{} {}（上期 {}）", esc(&t.name), t.count, t.previous))
            .collect();
        body.push_str(&format!("<h2>新出现的词</h2><p>{}</p>", words.join("、")));
    }
    body.push_str("<h2>预警</h2>");
    if r.alerts.is_empty() {
        body.push_str("<p>本期无预警</p>");
    } else {
        body.push_str("<ul>");
        for a in &r.alerts {
            body.push_str(&format!(
                "<li>{} {}（{}）{}</li>",
                esc(&a.started_at),
                esc(&a.title),
                a.figure(),
                if a.firing { "，未恢复" } else { "" }
            ));
        }
        body.push_str("</ul>");
    }
    if !r.overdue.is_empty() {
        body.push_str("<h2>超期未化解（按单位）</h2><table><thead><tr><th>单位</th><th>超期</th><th>未化解</th><th>需升级</th></tr></thead><tbody>");
        for o in r.overdue.iter().take(20) {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&o.name),
                o.overdue,
                o.open,
                o.escalate
            ));
        }
        body.push_str("</tbody></table>");
    }
    if !r.cited.is_empty() {
        body.push_str("<h2>典型诉求</h2><ol class=\"cited\">");
        for c in &r.cited {
            body.push_str(&format!(
                "<li><span class=\"id\">[{}]</span> <span class=\"why\">{}·{}</span> {}</li>",
                esc(&c.id),
                esc(&c.why),
                esc(&c.channel),
                esc(&c.text)
            ));
        }
        body.push_str("</ol>");
    }
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>
@page {{ size: A4; margin: 14mm 12mm; }}
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; color: #1b2733; font-size: 12px; line-height: 1.5; max-width: 186mm; margin: 0 auto; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
h2 {{ font-size: 15px; margin: 16px 0 6px; border-bottom: 2px solid #1f6fb2; padding-bottom: 2px; break-after: avoid; }}
.meta {{ color: #5b6b7b; margin: 0 0 10px; }}
.kpis {{ display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }}
.kpi {{ border: 1px solid #c9d3dd; border-radius: 4px; padding: 6px 8px; break-inside: avoid; }}
.kpi .n {{ color: #5b6b7b; }} .kpi .v {{ font-size: 18px; font-weight: 700; }} .kpi .c {{ color: #5b6b7b; font-size: 11px; }}
table {{ width: 100%; border-collapse: collapse; margin: 4px 0; }}
th, td {{ border-bottom: 1px solid #dde3e9; padding: 3px 4px; text-align: left; }}
tr {{ break-inside: avoid; }}
svg {{ display: block; margin: 4px 0; }} svg text {{ font-family: inherit; fill: #1b2733; }}
.cited li {{ margin: 3px 0; break-inside: avoid; }} .cited .id {{ color: #5b6b7b; font-family: monospace; }} .cited .why {{ color: #1f6fb2; }}
</style></head><body>{body}</body></html>
"#,
        title = esc(&r.title)
    )
}

/// A scheduled report: `[[report]] period, at, targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub kind: Kind,
    /// Minutes after midnight on the centre's clock, on the first day
    /// after the period.
    pub at_minute: u32,
    pub targets: Vec<String>,
}

/// The periods whose reports are due at `now`: for each schedule, the
/// newest period that has ended, once the day after it has reached `at`,
/// unless `sent` (by [`Period::key`]) already has it. A schedule that
/// missed its time (the server was down) sends when it comes back, once.
pub fn due(
    schedules: &[Schedule],
    now: i64,
    tz: FixedOffset,
    sent: impl Fn(&str) -> bool,
) -> Vec<(usize, Period)> {
    schedules
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let p = Period::last_ended(s.kind, now, tz);
            let at = p.to + i64::from(s.at_minute) * 60;
            (now >= at && !sent(&format!("{}@{}", p.key(), i))).then_some((i, p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> FixedOffset {
        crate::config::default_timezone()
    }

    #[test]
    fn an_alert_reads_in_its_unit() {
        let brief = |share, observed, expected| AlertBrief {
            id: "a".into(),
            title: "鸡泽县负面占比上升".into(),
            severity: "warning".into(),
            started_at: "2026-12-04T00:10:00+08:00".into(),
            firing: true,
            observed,
            expected,
            share,
            incident: None,
        };
        assert_eq!(
            brief(true, 0.7428571428571429, 0.2).figure(),
            "负面占比 74%，常态 20%"
        );
        assert_eq!(brief(false, 12.0, 3.46).figure(), "12 条，常态 3.5");
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_follow_the_centres_calendar() {
        let d = Period::of(Kind::Daily, day("2026-12-01"), tz());
        assert_eq!(rfc3339(d.from, tz()), "2026-12-01T00:00:00+08:00");
        assert_eq!(d.to - d.from, 86_400);
        assert_eq!(d.previous(tz()).label(), "2026-11-30");
        // 2026-12-02 is a Wednesday: its week runs from Monday 11-30.
        let w = Period::of(Kind::Weekly, day("2026-12-02"), tz());
        assert_eq!(w.start, day("2026-11-30"));
        assert_eq!(w.label(), "2026年第49周（11月30日–12月6日）");
        assert_eq!(w.previous(tz()).start, day("2026-11-23"));
        let m = Period::of(Kind::Monthly, day("2026-03-31"), tz());
        assert_eq!((m.start, m.to - m.from), (day("2026-03-01"), 31 * 86_400));
        assert_eq!(m.previous(tz()).start, day("2026-02-01"));
        assert_eq!(m.previous(tz()).to, m.from);
        assert_eq!(
            Period::of(Kind::Monthly, day("2026-12-15"), tz()).label(),
            "2026年12月"
        );
        assert_eq!(
            Period::of(Kind::Monthly, day("2026-12-15"), tz()).to,
            midnight(day("2027-01-01"), tz())
        );
    }

    #[test]
    fn a_schedule_sends_each_period_once_after_its_time() {
        let s = [Schedule {
            kind: Kind::Daily,
            at_minute: 8 * 60,
            targets: vec!["duty".into()],
        }];
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
        let none = |_: &str| false;
        assert!(due(&s, at("2026-12-02T07:59:00+08:00"), tz(), none).is_empty());
        let d = due(&s, at("2026-12-02T08:00:00+08:00"), tz(), none);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].1.label(), "2026-12-01");
        // Sent: nothing more that day, whatever restarts happen.
        let key = format!("{}@0", d[0].1.key());
        assert!(due(&s, at("2026-12-02T15:00:00+08:00"), tz(), |k| k == key).is_empty());
        // The next day brings the next report.
        let next = due(&s, at("2026-12-03T09:00:00+08:00"), tz(), |k| k == key);
        assert_eq!(next[0].1.label(), "2026-12-02");
    }

    #[test]
    fn html_escapes_what_citizens_wrote() {
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(versus(90, 100), "较上期 −10（上期 100）");
    }
}
