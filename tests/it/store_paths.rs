//! The SQLite store answers from per-minute and hourly rollups when it can
//! and from the items otherwise; both must give the same numbers. Filtering
//! by every topic code (each item has at least one: `other` when nothing
//! matched) selects every item but forces the items path, so each query is
//! asked both ways over random demo items and ranges that cut hours.

use crate::common;

use std::sync::Arc;

use minyi::enrich::Enricher;
use minyi::query::{Answer, Dim, Filters, Interval, Query, TopDim, Vocabulary};
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use minyi::store::{Store, WriteBatch};

fn all_topics(e: &Enricher) -> Vec<String> {
    e.topics().codes().to_vec()
}

/// The queries each test asks both ways: the summary, series by hour and
/// by day, and rankings by district, channel, unit and keyword. A series
/// without a range gets [`first`, `last`).
fn queries(f: &Filters, first: i64, last: i64) -> Vec<Query> {
    let series = |interval, group_by| Query::Timeseries {
        filters: Filters {
            from: Some(f.from.unwrap_or(first)),
            to: Some(f.to.unwrap_or(last)),
            ..f.clone()
        },
        interval,
        group_by: Some(group_by),
    };
    let top = |dim, limit| Query::Top {
        filters: f.clone(),
        dim,
        limit,
    };
    vec![
        Query::Summary(f.clone()),
        series(Interval::H1, Dim::Sentiment),
        series(Interval::D1, Dim::Channel),
        top(TopDim::District, 100),
        top(TopDim::Channel, 100),
        top(TopDim::Unit, 1000),
        top(TopDim::Keyword, 10_000),
    ]
}

/// Asks each query of `base` from the rollups and, forced by a filter on
/// every topic, from the items; returns how many ranking rows agreed.
async fn assert_paths_agree(
    store: &SqliteStore,
    enricher: &Enricher,
    base: &Filters,
    span: (i64, i64),
    now: i64,
) -> usize {
    assert_paths_agree_but(store, enricher, base, span, now, |_| false).await
}

/// [`assert_paths_agree`] but for the queries `skip` names.
async fn assert_paths_agree_but(
    store: &SqliteStore,
    enricher: &Enricher,
    base: &Filters,
    (first, last): (i64, i64),
    now: i64,
    skip: impl Fn(&Query) -> bool,
) -> usize {
    let forced = Filters {
        topic: all_topics(enricher),
        ..base.clone()
    };
    let mut ranked = 0;
    for (a, b) in queries(base, first, last)
        .into_iter()
        .zip(queries(&forced, first, last))
        .filter(|(a, _)| !skip(a))
    {
        let what = format!("{a:?}");
        let a = store.query(a, now).await.unwrap();
        let b = store.query(b, now).await.unwrap();
        match (&a, &b) {
            // Resolution is counted on either path its own way: compare
            // the counts both keep.
            (Answer::Summary(x), Answer::Summary(y)) => assert_eq!(
                (x.received, x.negative, x.rated, x.dissatisfied),
                (y.received, y.negative, y.rated, y.dissatisfied),
                "{what}"
            ),
            _ => assert_eq!(a, b, "{what}"),
        }
        if let Answer::Top(rows) = a {
            ranked += rows.len();
        }
    }
    ranked
}

fn items(enricher: &Enricher, n: usize, end: i64, seed: u64) -> Vec<minyi::model::EnrichedItem> {
    let now = enricher.now();
    minyi::demo::sample_values(enricher.gazetteer(), n, end, 3 * 86_400, seed)
        .iter()
        .filter_map(|v| enricher.enrich_value(v, now).ok())
        .collect()
}

async fn write(store: &SqliteStore, items: &[minyi::model::EnrichedItem], batch: usize) {
    for chunk in items.chunks(batch) {
        store
            .write(WriteBatch {
                items: chunk.to_vec(),
                events: Vec::new(),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn rollups_and_items_agree() {
    let dir = common::TempDir::new("paths");
    let enricher = Arc::new(Enricher::builtin(b"paths-key-0123456789").unwrap());
    let _vocab = Vocabulary::from_enricher(&enricher);
    let store = SqliteStore::open(&dir.0, QuerySettings::default()).unwrap();
    let end = 1_764_000_000; // a whole hour
    let items = items(&enricher, 3000, end, 5);
    assert!(items.len() > 2900);
    write(&store, &items, 500).await;
    let ranges = [
        (None, None),
        (Some(end - 2 * 86_400 + 1234), Some(end - 3600 * 5 + 77)),
        (Some(end - 86_400), Some(end)),
        (Some(end - 3000), Some(end - 600)),
    ];
    let mut rng = fastrand::Rng::with_seed(9);
    let mut ranked = 0;
    for (from, to) in ranges {
        for _ in 0..4 {
            let mut base = Filters::default().with_range(from, to);
            match rng.usize(..4) {
                0 => base.sentiment = vec![minyi::model::SentimentLabel::Negative],
                1 => base.district = vec!["丛台区".into()],
                2 => base.channel = vec!["hotline_12345".into(), "wechat".into()],
                _ => {}
            }
            ranked +=
                assert_paths_agree(&store, &enricher, &base, (end - 3 * 86_400, end), end).await;
        }
    }
    assert!(ranked > 1000, "only {ranked} ranking rows compared");
    // Ranges to the second (a window compared with one that ends now):
    // the minute table answers for the whole minutes, the items for the
    // seconds outside them. The keyword ranking is left out: its minute
    // table reads whole minutes only (a word cloud's edges).
    let first = end - 3 * 86_400;
    let items_at = |from: i64, to: i64| {
        items
            .iter()
            .filter(|i| (from..to).contains(&i.received_at.timestamp()))
            .count() as u64
    };
    for (from, to) in [
        (end - 2 * 86_400 + 1234, end - 3600 * 5 + 77),
        (end - 86_400 + 59, end - 1),
        (end - 3000 + 1, end - 2950),
        (end - 7199, end - 3601),
    ] {
        let base = Filters {
            from: Some(from),
            to: Some(to),
            ..Filters::default()
        };
        let Answer::Summary(s) = store
            .query(Query::Summary(base.clone()), end)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(s.received, items_at(from, to), "summary of [{from}, {to})");
        assert_paths_agree_but(&store, &enricher, &base, (first, end), end, |q| {
            matches!(
                q,
                Query::Top {
                    dim: TopDim::Keyword,
                    ..
                }
            )
        })
        .await;
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
/// late for folded hours, and hours not folded at all (still to come).
#[tokio::test]
async fn rollups_and_items_agree_across_folded_hours() {
    let dir = common::TempDir::new("folded");
    let enricher = Arc::new(Enricher::builtin(b"folded-key-0123456789").unwrap());
    let end = 1_764_000_000; // a whole hour, in the past
    // Three days from the next hour: hours that cannot finish during the test.
    let later = (chrono::Utc::now().timestamp() / 3600 + 1) * 3600 + 3 * 86_400;
    SqliteStore::open(&dir.0, QuerySettings::default())
        .unwrap()
        .close()
        .await
        .unwrap();
    // As if the writer had last folded a day and a half before `end`.
    let folded_at = end - 36 * 3600;
    let db = dir.0.join("minyi.db");
    let set_folded = rusqlite::Connection::open(&db).unwrap().execute(
        "UPDATE rollup_folded SET through = ?1 WHERE rollup = 'hourly'",
        [folded_at],
    );
    assert_eq!(set_folded.unwrap(), 1);
    let store = SqliteStore::open(&dir.0, QuerySettings::default()).unwrap();
    // The first batch goes to the minutes only for its hours after
    // `folded_at`, which the writer then folds; the later ones arrive late
    // for folded hours and go to both. The items still to come are never
    // folded.
    let past = items(&enricher, 2000, end, 5);
    write(&store, &past, 700).await;
    write(&store, &items(&enricher, 1000, later, 6), 700).await;
    let through: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT through FROM rollup_folded WHERE rollup = 'hourly'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(through > end && through < later - 3 * 86_400, "{through}");
    // Hourly rows after the watermark are never read: a writer that could
    // not read it writes every hour to both tables (`HourFolding::load`),
    // and those hours are still read from the minutes. These would show as
    // extra counts on the rollup path.
    let stray = later - 86_400;
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (dim, key) in [
        ("total", ""),
        ("district", "丛台区"),
        ("channel", "hotline_12345"),
    ] {
        conn.execute(
            "INSERT INTO rollup_hour VALUES (?1, ?2, ?3, 'negative', 0, 1000, 0)",
            rusqlite::params![stray, dim, key],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO rollup_keyword_hour VALUES (?1, '民警', '丛台区', 'negative', 1000)",
        [stray],
    )
    .unwrap();
    drop(conn);

    let ranges = [
        (None, None),
        (Some(end - 2 * 86_400 + 1234), Some(end - 3600 * 5 + 77)),
        (Some(folded_at - 7200 - 59), Some(folded_at + 7200 + 61)),
        (Some(end - 86_400), Some(later)),
        (Some(later - 2 * 86_400 - 17), Some(later - 3600 * 3 + 5)),
        (Some(later - 3000), Some(later - 600)),
    ];
    let mut ranked = 0;
    for (from, to) in ranges {
        for filter in 0..3 {
            let mut base = Filters::default().with_range(from, to);
            match filter {
                1 => base.sentiment = vec![minyi::model::SentimentLabel::Negative],
                2 => base.district = vec!["丛台区".into(), "峰峰矿区".into()],
                _ => {}
            }
            ranked +=
                assert_paths_agree(&store, &enricher, &base, (end - 3 * 86_400, later), end).await;
        }
    }
    assert!(ranked > 1000, "only {ranked} ranking rows compared");
    store.close().await.unwrap();
}

/// Once an hour is over the writer folds its minutes into the hourly
/// tables a step at a time between write groups. Items arriving for that
/// hour meanwhile — for minutes the fold has passed and for minutes it has
/// not — and erasures must leave the hour's counts equal to its items'.
#[tokio::test]
async fn an_hour_folded_a_minute_at_a_time_keeps_what_arrives_meanwhile() {
    use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
    let dir = common::TempDir::new("stepwise");
    let enricher = Arc::new(Enricher::builtin(b"stepwise-key-0123456789").unwrap());
    let hour = 1_764_000_000 - 86_400; // a whole hour, in the past
    SqliteStore::open(&dir.0, QuerySettings::default())
        .unwrap()
        .close()
        .await
        .unwrap();
    let db = dir.0.join("minyi.db");
    let marks = |db: &std::path::Path| -> (i64, Option<i64>) {
        let conn = rusqlite::Connection::open(db).unwrap();
        let read = |row: &str| -> Option<i64> {
            conn.query_row(
                "SELECT through FROM rollup_folded WHERE rollup = ?1",
                [row],
                |r| r.get(0),
            )
            .ok()
        };
        (read("hourly").unwrap(), read("folding"))
    };
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE rollup_folded SET through = ?1 WHERE rollup = 'hourly'",
            [hour - 3600],
        )
        .unwrap();
    let clock = Arc::new(AtomicI64::new(hour + 1800));
    let folding = minyi::store::sqlite::Folding {
        step_secs: 60,
        budget: std::time::Duration::ZERO,
        clock: {
            let clock = clock.clone();
            Arc::new(move || clock.load(Relaxed))
        },
    };
    let store = SqliteStore::open_with(&dir.0, QuerySettings::default(), folding).unwrap();
    let sample = |n, seed| -> Vec<minyi::model::EnrichedItem> {
        let now = enricher.now();
        minyi::demo::sample_values(enricher.gazetteer(), n, hour + 3600, 3600, seed)
            .iter()
            .filter_map(|v| enricher.enrich_value(v, now).ok())
            .collect()
    };
    // The hour is not over: its items go to the minutes only.
    let first = sample(1500, 1);
    write(&store, &first, 500).await;
    assert_eq!(marks(&db), (hour - 3600, None));
    // Now it is: each write group (of 20 late items of the hour) is
    // followed by one fold step of a minute.
    clock.store(hour + 3600 + 10, Relaxed);
    write(&store, &sample(600, 2), 20).await;
    let (folded, cursor) = marks(&db);
    let cursor = cursor.expect("the fold has started");
    assert_eq!(folded, hour - 3600, "the hour is not whole yet");
    assert!(cursor > hour + 600 && cursor < hour + 3000, "{cursor}");
    // Erasures of items on both sides of the cursor take their hot words
    // out of the counts they are in.
    for item in first.iter().step_by(40) {
        store
            .erase(minyi::store::Erase::Item(item.id.clone()))
            .await
            .unwrap();
    }
    write(&store, &sample(900, 3), 20).await;
    assert_eq!(marks(&db), (hour, Some(hour + 3600)), "the hour is folded");
    for (from, to) in [
        (None, None),
        (Some(hour - 7200), Some(hour + 7200)),
        (Some(hour), Some(hour + 3600)),
        (Some(hour + 1234), Some(hour + 3600)),
    ] {
        for filter in 0..2 {
            let mut base = Filters::default().with_range(from, to);
            if filter == 1 {
                base.sentiment = vec![minyi::model::SentimentLabel::Negative];
            }
            let compared = assert_paths_agree(
                &store,
                &enricher,
                &base,
                (hour - 7200, hour + 7200),
                hour + 3600 + 10,
            )
            .await;
            assert!(compared > 10, "{compared}");
        }
    }
    // And the hourly tables are what the rollup path read: a whole hour
    // with every item of it.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let total: i64 = conn
        .query_row(
            "SELECT sum(n) FROM rollup_hour WHERE hour = ?1 AND dim = 'total'",
            [hour],
            |r| r.get(0),
        )
        .unwrap();
    let items: i64 = conn
        .query_row(
            "SELECT count(*) FROM items WHERE ts >= ?1 AND ts < ?1 + 3600",
            [hour],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(total, items);
    assert!(items > 2900, "{items}");
    store.close().await.unwrap();
}
