//! What the SQL stores share: a WHERE clause builder over bound values
//! (each store binds its own value type), and the choice of which rollup
//! answers a query exactly — the same choice in SQLite and ClickHouse, so
//! both stores give the same answers (`tests/it/clickhouse_store.rs`).

use crate::query::{Dim, Filters, KeyCounts, Series, Timeseries, bucket_start};

/// A WHERE clause under construction.
pub struct Where<V> {
    pub terms: Vec<String>,
    pub params: Vec<V>,
}

impl<V> Default for Where<V> {
    fn default() -> Self {
        Where {
            terms: Vec::new(),
            params: Vec::new(),
        }
    }
}

impl<V> Where<V> {
    pub fn push(&mut self, term: &str, values: impl IntoIterator<Item = V>) {
        self.terms.push(term.to_owned());
        self.params.extend(values);
    }

    /// `col IN (?, …)` for a non-empty list.
    pub fn any_of(&mut self, col: &str, values: Vec<V>) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.push(&format!("{col} IN ({marks})"), values);
    }

    pub fn sql(&self) -> String {
        if self.terms.is_empty() {
            "1".to_owned()
        } else {
            self.terms.join(" AND ")
        }
    }
}

/// Whether the rollups answer exactly: no keyword search, no condition on
/// the text or the incident or a repeat mark, and at most one topic unless the answer is per topic anyway.
pub fn rollups_answer(f: &Filters, by_topic: bool) -> bool {
    f.q.is_empty()
        && f.has_text.is_none()
        && f.incident.is_empty()
        && f.contact.is_none()
        && f.repeat.is_none()
        && (f.topic.len() <= 1 || by_topic)
}

/// Whether the keyword rollups answer: filtered by district and sentiment at most.
pub fn keyword_rollup_answers(f: &Filters) -> bool {
    f.q.is_empty()
        && f.has_text.is_none()
        && f.incident.is_empty()
        && f.contact.is_none()
        && f.repeat.is_none()
        && f.topic.is_empty()
        && f.rating.is_empty()
        && f.channel.is_empty()
        && f.unit.is_empty()
}

pub fn floor_hour(t: i64) -> i64 {
    t.div_euclid(3600) * 3600
}

pub fn ceil_hour(t: i64) -> i64 {
    floor_hour(t + 3599)
}

/// The whole hours inside [from, to) that the hourly tables may answer,
/// or None when there are none. Unbounded ends reach to all stored hours.
pub fn hour_span(f: &Filters) -> Option<(Option<i64>, Option<i64>)> {
    let first = f.from.map(ceil_hour);
    let end = f.to.map(floor_hour);
    match (first, end) {
        (Some(a), Some(b)) if a >= b => None,
        span => Some(span),
    }
}

/// Time conditions on `col` for [from, to) minus the hour span: the
/// minute-precise edges.
pub fn edges_where<V: From<i64>>(
    w: &mut Where<V>,
    col: &str,
    f: &Filters,
    span: Option<(Option<i64>, Option<i64>)>,
) {
    let Some((first, end)) = span else {
        if let Some(from) = f.from {
            w.push(&format!("{col} >= ?"), [V::from(from)]);
        }
        if let Some(to) = f.to {
            w.push(&format!("{col} < ?"), [V::from(to)]);
        }
        return;
    };
    // Before the first whole hour, and from the end of the last one.
    let mut parts = Vec::new();
    let mut values = Vec::new();
    if let (Some(from), Some(first)) = (f.from, first) {
        parts.push(format!("({col} >= ? AND {col} < ?)"));
        values.extend([V::from(from), V::from(first)]);
    }
    if let (Some(end), Some(to)) = (end, f.to) {
        parts.push(format!("({col} >= ? AND {col} < ?)"));
        values.extend([V::from(end), V::from(to)]);
    }
    if parts.is_empty() {
        w.push("0", []);
    } else {
        w.push(&format!("({})", parts.join(" OR ")), values);
    }
}

pub fn hours_where<V: From<i64>>(w: &mut Where<V>, col: &str, span: (Option<i64>, Option<i64>)) {
    if let Some(first) = span.0 {
        w.push(&format!("{col} >= ?"), [V::from(first)]);
    }
    if let Some(end) = span.1 {
        w.push(&format!("{col} < ?"), [V::from(end)]);
    }
}

/// A dense time series from `(bucket start, key, count)` rows: every
/// bucket of [from, to), one series per key (`total` when ungrouped),
/// largest total first, ties by key.
pub fn timeseries_from_rows(
    f: &Filters,
    width: i64,
    tz_offset: i64,
    group_by: Option<Dim>,
    rows: impl IntoIterator<Item = (i64, String, u64)>,
) -> Timeseries {
    let (from, to) = (f.from.unwrap_or(0), f.to.unwrap_or(0));
    let first = bucket_start(from, width, tz_offset);
    let buckets: Vec<i64> = (0..)
        .map(|k| first + k * width)
        .take_while(|b| *b < to)
        .collect();
    let mut series: Vec<Series> = Vec::new();
    for (b, key, n) in rows {
        let key = if group_by.is_none() {
            "total".to_owned()
        } else {
            key
        };
        let Ok(slot) = buckets.binary_search(&b) else {
            continue;
        };
        let idx = match series.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => {
                series.push(Series {
                    key,
                    data: vec![0; buckets.len()],
                });
                series.len() - 1
            }
        };
        series[idx].data[slot] += n;
    }
    series.sort_by(|a, b| {
        let total = |s: &Series| s.data.iter().sum::<u64>();
        total(b).cmp(&total(a)).then_with(|| a.key.cmp(&b.key))
    });
    Timeseries { buckets, series }
}

/// Which tables a rollup-path query reads: whole hours from `rollup_hour`
/// when the query involves at most one of channel, topic, district and
/// unit (filtered or grouped by) and `hours_ok` (buckets of whole hours on
/// an hour-aligned clock); the minute-precise edges, and everything else,
/// from `rollup_minute`.
pub struct RollupPlan<'f> {
    /// The whole hours `rollup_hour` answers; None: minutes only.
    pub span: Option<(Option<i64>, Option<i64>)>,
    /// The `dim` rows of `rollup_hour` to read (`total` when none is involved).
    pub hour_dim: &'static str,
    /// The filter values of that dimension (`key IN …`; empty: all keys).
    pub hour_keys: &'f [String],
}

pub fn rollup_plan(f: &Filters, key: Option<Dim>, hours_ok: bool) -> RollupPlan<'_> {
    let mut used: Vec<(Dim, &[String])> = [
        (Dim::Channel, f.channel.as_slice()),
        (Dim::Topic, f.topic.as_slice()),
        (Dim::District, f.district.as_slice()),
        (Dim::Unit, f.unit.as_slice()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    if let Some(k) = key.filter(|k| *k != Dim::Sentiment && !used.iter().any(|(d, _)| d == k)) {
        used.push((k, &[]));
    }
    let span = (hours_ok && used.len() <= 1)
        .then(|| hour_span(f))
        .flatten();
    RollupPlan {
        span,
        hour_dim: used.first().map_or("total", |(d, _)| d.as_str()),
        hour_keys: used.first().map_or(&[], |(_, v)| v),
    }
}

/// The counts of a rank per key: items (count, negative, rated,
/// satisfied) and work orders (created, resolved), each as the store read
/// them, merged by key and ordered by key.
pub fn key_counts(
    items: impl IntoIterator<Item = (String, [u64; 4])>,
    orders: impl IntoIterator<Item = (String, [u64; 2])>,
) -> Vec<KeyCounts> {
    let mut by_key: std::collections::BTreeMap<String, KeyCounts> = Default::default();
    for (key, [count, negative, rated, satisfied]) in items {
        let c = by_key.entry(key.clone()).or_insert_with(|| KeyCounts {
            key,
            ..KeyCounts::default()
        });
        c.count += count;
        c.negative += negative;
        c.rated += rated;
        c.satisfied += satisfied;
    }
    for (key, [created, resolved]) in orders {
        let c = by_key.entry(key.clone()).or_insert_with(|| KeyCounts {
            key,
            ..KeyCounts::default()
        });
        c.orders_created += created;
        c.orders_resolved += resolved;
    }
    by_key.into_values().collect()
}
