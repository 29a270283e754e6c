//! The SQLite store answers from per-minute and hourly rollups when it can
//! and from the items otherwise; both must give the same numbers. Filtering
//! by every topic code (each item has at least one: `other` when nothing
//! matched) selects every item but forces the items path, so each query is
//! asked both ways over random demo items and ranges that cut hours.

mod common;

use std::sync::Arc;

use minyi::enrich::Enricher;
use minyi::query::{Answer, Dim, Filters, Interval, Query, TopDim, Vocabulary};
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use minyi::store::{Store, WriteBatch};

fn all_topics(e: &Enricher) -> Vec<String> {
    e.topics().codes().to_vec()
}

#[tokio::test]
async fn rollups_and_items_agree() {
    let dir = common::TempDir::new("paths");
    let enricher = Arc::new(Enricher::builtin(b"paths-key-0123456789").unwrap());
    let _vocab = Vocabulary::from_enricher(&enricher);
    let store = SqliteStore::open(&dir.0, QuerySettings::default()).unwrap();
    let end = 1_764_000_000; // a whole hour
    let values = minyi::demo::sample_values(enricher.gazetteer(), 3000, end, 3 * 86_400, 5);
    let now = enricher.now();
    let items: Vec<_> = values
        .iter()
        .filter_map(|v| enricher.enrich_value(v, now).ok())
        .collect();
    assert!(items.len() > 2900);
    for chunk in items.chunks(500) {
        store
            .write(WriteBatch {
                items: chunk.to_vec(),
                events: Vec::new(),
            })
            .await
            .unwrap();
    }
    let every_topic = all_topics(&enricher);
    let ranges = [
        (None, None),
        (Some(end - 2 * 86_400 + 1234), Some(end - 3600 * 5 + 77)),
        (Some(end - 86_400), Some(end)),
        (Some(end - 3000), Some(end - 600)),
    ];
    let mut rng = fastrand::Rng::with_seed(9);
    for (from, to) in ranges {
        for _ in 0..4 {
            let mut base = Filters::default().with_range(from, to);
            match rng.usize(..4) {
                0 => base.sentiment = vec![minyi::model::SentimentLabel::Negative],
                1 => base.district = vec!["丛台区".into()],
                2 => base.channel = vec!["hotline_12345".into(), "wechat".into()],
                _ => {}
            }
            let forced = Filters {
                topic: every_topic.clone(),
                ..base.clone()
            };
            let ask = |f: Filters, kind: usize| match kind {
                0 => Query::Summary(f),
                1 => Query::Timeseries {
                    filters: Filters {
                        from: Some(f.from.unwrap_or(end - 3 * 86_400)),
                        to: Some(f.to.unwrap_or(end)),
                        ..f
                    },
                    interval: Interval::H1,
                    group_by: Some(Dim::Sentiment),
                },
                2 => Query::Timeseries {
                    filters: Filters {
                        from: Some(f.from.unwrap_or(end - 3 * 86_400)),
                        to: Some(f.to.unwrap_or(end)),
                        ..f
                    },
                    interval: Interval::D1,
                    group_by: Some(Dim::Channel),
                },
                3 => Query::Top {
                    filters: f,
                    dim: TopDim::District,
                    limit: 100,
                },
                _ => Query::Top {
                    filters: f,
                    dim: TopDim::Channel,
                    limit: 100,
                },
            };
            for kind in 0..5 {
                let a = store.query(ask(base.clone(), kind), end).await.unwrap();
                let b = store.query(ask(forced.clone(), kind), end).await.unwrap();
                match (&a, &b) {
                    (Answer::Summary(x), Answer::Summary(y)) => {
                        assert_eq!(x.received, y.received, "{base:?}");
                        assert_eq!(
                            (x.negative, x.rated, x.dissatisfied, x.dissatisfied_resolved),
                            (y.negative, y.rated, y.dissatisfied, y.dissatisfied_resolved),
                            "{base:?}"
                        );
                    }
                    _ => assert_eq!(a, b, "query kind {kind}, {base:?}"),
                }
            }
        }
    }
    // Sanity: the data is there and resolution was counted somewhere.
    let Answer::Summary(all) = store
        .query(Query::Summary(Filters::default()), end)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(all.received > 2900 && all.dissatisfied > 0, "{all:?}");
}

/// The rollup path reads whole hours from the hourly tables as far as the
/// writer has folded them and everything else from the minutes (see
/// `rollup_folded`); it must agree with the items wherever the fold
/// stands: hours folded after their items were written, items arriving
/// late for folded hours, and hours not folded at all (in the future).
#[tokio::test]
async fn rollups_and_items_agree_across_folded_hours() {
    let dir = common::TempDir::new("folded");
    let enricher = Arc::new(Enricher::builtin(b"folded-key-0123456789").unwrap());
    let end = 1_764_000_000; // a whole hour, in the past
    let future = 4_102_444_800; // 2100-01-01: never a finished hour here
    SqliteStore::open(&dir.0, QuerySettings::default())
        .unwrap()
        .close()
        .await
        .unwrap();
    // As if the writer had last folded a day and a half before `end`.
    let folded_at = end - 36 * 3600;
    rusqlite::Connection::open(dir.0.join("minyi.db"))
        .unwrap()
        .execute(
            "UPDATE rollup_folded SET through = ?1 WHERE rollup = 'hourly'",
            [folded_at],
        )
        .unwrap();
    let store = SqliteStore::open(&dir.0, QuerySettings::default()).unwrap();
    let now = enricher.now();
    let enrich = |end: i64, n: usize, seed: u64| -> Vec<_> {
        minyi::demo::sample_values(enricher.gazetteer(), n, end, 3 * 86_400, seed)
            .iter()
            .filter_map(|v| enricher.enrich_value(v, now).ok())
            .collect()
    };
    // The first batch goes to the minutes only for its hours after
    // `folded_at`, which the writer then folds; the later ones arrive late
    // for folded hours and go to both. The future items are never folded.
    let items: Vec<_> = enrich(end, 2000, 5)
        .into_iter()
        .chain(enrich(future, 1000, 6))
        .collect();
    for chunk in items.chunks(700) {
        store
            .write(WriteBatch {
                items: chunk.to_vec(),
                events: Vec::new(),
            })
            .await
            .unwrap();
    }
    let through: i64 = rusqlite::Connection::open(dir.0.join("minyi.db"))
        .unwrap()
        .query_row(
            "SELECT through FROM rollup_folded WHERE rollup = 'hourly'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(through > end && through < future, "{through}");

    let every_topic = all_topics(&enricher);
    let ranges = [
        (None, None),
        (Some(end - 2 * 86_400 + 1234), Some(end - 3600 * 5 + 77)),
        (Some(folded_at - 7200 - 59), Some(folded_at + 7200 + 61)),
        (Some(end - 86_400), Some(future)),
        (Some(future - 2 * 86_400 - 17), Some(future - 3600 * 3 + 5)),
        (Some(future - 3000), Some(future - 600)),
    ];
    let mut compared = 0;
    for (from, to) in ranges {
        for filter in 0..3 {
            let mut base = Filters::default().with_range(from, to);
            match filter {
                1 => base.sentiment = vec![minyi::model::SentimentLabel::Negative],
                2 => base.district = vec!["丛台区".into(), "峰峰矿区".into()],
                _ => {}
            }
            let forced = Filters {
                topic: every_topic.clone(),
                ..base.clone()
            };
            let ask = |f: Filters, kind: usize| match kind {
                0 => Query::Summary(f),
                1 => Query::Timeseries {
                    filters: Filters {
                        from: Some(f.from.unwrap_or(end - 3 * 86_400)),
                        to: Some(f.to.unwrap_or(future)),
                        ..f
                    },
                    interval: Interval::D1,
                    group_by: Some(Dim::Sentiment),
                },
                2 => Query::Top {
                    filters: f,
                    dim: TopDim::District,
                    limit: 100,
                },
                3 => Query::Top {
                    filters: f,
                    dim: TopDim::Unit,
                    limit: 1000,
                },
                _ => Query::Top {
                    filters: f,
                    dim: TopDim::Keyword,
                    limit: 10_000,
                },
            };
            for kind in 0..5 {
                let a = store.query(ask(base.clone(), kind), end).await.unwrap();
                let b = store.query(ask(forced.clone(), kind), end).await.unwrap();
                match (&a, &b) {
                    (Answer::Summary(x), Answer::Summary(y)) => assert_eq!(
                        (x.received, x.negative, x.rated, x.dissatisfied),
                        (y.received, y.negative, y.rated, y.dissatisfied),
                        "{base:?}"
                    ),
                    _ => assert_eq!(a, b, "query kind {kind}, {base:?}"),
                }
                if let Answer::Top(rows) = a {
                    compared += rows.len();
                }
            }
        }
    }
    assert!(compared > 1000, "only {compared} ranking rows compared");
    store.close().await.unwrap();
}
