//! The ClickHouse store against a real ClickHouse server (Debian's
//! 18.16 here): migrations idempotent, writes idempotent, alert state, and
//! the same answers as the SQLite store for the same demo timeline — items,
//! work orders, revisits and call-backs — over every query shape the API
//! and the panels ask.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use minyi::enrich::Enricher;
use minyi::model::{EnrichedItem, Rating, SentimentLabel};
use minyi::query::{Answer, Dim, Filters, Interval, Metric, OrdersBy, Query, Rank, TopDim};
use minyi::store::clickhouse::ClickHouseStore;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use minyi::store::{Store, WriteBatch};
use minyi::workorder::{WorkOrderEvent, parse_event};

const SETTINGS: QuerySettings = QuerySettings {
    tz_offset: 8 * 3600,
    sla_seconds: 5 * 86_400,
    dispatch_seconds: 24 * 3600,
    callback_seconds: 48 * 3600,
};

pub(crate) fn schema() -> Vec<(String, String)> {
    minyi::pipelines::clickhouse_schema_from(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pipelines/clickhouse"
    )))
    .unwrap()
}

/// A fresh database on `server` named after `name`, every step of the
/// schema applied, and its name.
pub(crate) async fn migrated(
    server: &common::ClickHouse,
    name: &str,
    settings: QuerySettings,
) -> (ClickHouseStore, String) {
    let db = server.database(name);
    let ch = ClickHouseStore::connect_db(&server.url, &db, settings)
        .await
        .unwrap();
    ch.migrate(&schema()).await.unwrap();
    (ch, db)
}

/// An app over a fresh, migrated database `db` of `server` (the centre's
/// zone, +08:00) with `tokens`: the API tests' ClickHouse twin of
/// `common::test_app_scoped`.
pub(crate) async fn app(
    server: &crate::common::ClickHouse,
    db: &str,
    tokens: Vec<minyi::config::ApiToken>,
) -> crate::common::TestApp {
    let ch = ClickHouseStore::connect_db(
        &server.url,
        db,
        minyi::store::QuerySettings {
            tz_offset: 8 * 3600,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    ch.migrate(&schema()).await.unwrap();
    crate::common::test_app_tokens(
        std::sync::Arc::new(ch),
        crate::common::TempDir::new(&format!("{db}-clickhouse")),
        tokens,
    )
}

/// The queries both stores must answer alike, over `[start, end)`; `unit`
/// is one the work orders were dispatched to.
pub(crate) fn queries(start: i64, end: i64, unit: &str) -> Vec<Query> {
    let ranges = [
        (None, None),
        (Some(start + 1234), Some(end - 3600 * 5 + 77)),
        (Some(end - 86_400), Some(end)),
        (Some(end - 3000), Some(end - 600)),
    ];
    let filters = |f: Filters| -> Vec<Filters> {
        vec![
            f.clone(),
            Filters {
                sentiment: vec![SentimentLabel::Negative],
                ..f.clone()
            },
            Filters {
                district: vec!["丛台区".into(), "磁县".into()],
                ..f.clone()
            },
            Filters {
                channel: vec!["hotline_12345".into(), "sms_revisit".into()],
                rating: vec![Rating::Dissatisfied, Rating::Satisfied],
                ..f.clone()
            },
            Filters {
                topic: vec!["attitude".into()],
                ..f.clone()
            },
            Filters {
                topic: vec!["attitude".into(), "response".into()],
                district: vec!["丛台区".into()],
                ..f.clone()
            },
            Filters {
                q: vec![vec!["派出所".into()]],
                ..f.clone()
            },
            // One character or another (`骗|慢`), and two words (`民警 态度`).
            Filters {
                q: vec![vec!["骗".into(), "慢".into()]],
                ..f.clone()
            },
            Filters {
                q: vec![vec!["民警".into()], vec!["态度".into()]],
                sentiment: vec![SentimentLabel::Negative],
                ..f.clone()
            },
            Filters {
                unit: vec![unit.to_owned()],
                ..f.clone()
            },
            Filters {
                has_text: Some(false),
                ..f.clone()
            },
            Filters {
                has_text: Some(true),
                district: vec!["丛台区".into()],
                ..f.clone()
            },
        ]
    };
    let mut out = Vec::new();
    for (from, to) in ranges {
        for f in filters(Filters::default().with_range(from, to)) {
            out.push(Query::Summary(f.clone()));
            out.push(Query::Orders(f.clone()));
            out.push(Query::Revisits(f.clone()));
            // The supervision queue: every case with its stage, deadline
            // and age at the time asked.
            out.push(Query::Supervision {
                filters: f.clone(),
                status: minyi::query::supervision::Status::All,
                limit: minyi::query::supervision::MAX_LIMIT,
            });
            for dim in [
                TopDim::Channel,
                TopDim::Topic,
                TopDim::District,
                TopDim::Unit,
                TopDim::Keyword,
            ] {
                out.push(Query::Top {
                    filters: f.clone(),
                    dim,
                    limit: 100,
                });
            }
            // A rank carries every count of each key (items, ratings,
            // orders), here and in the first day of the timeline.
            for dim in [Dim::District, Dim::Unit, Dim::Topic, Dim::Channel] {
                out.push(Query::Rank(Rank {
                    filters: f.clone(),
                    dim,
                    metric: Metric::CompletionRate,
                    min_volume: 3,
                    ascending: false,
                    compare: Some((start, start + 86_400)),
                    by_change: dim == Dim::District,
                }));
            }
            let bounded = Filters {
                from: Some(f.from.unwrap_or(start)),
                to: Some(f.to.unwrap_or(end)),
                ..f
            };
            for (interval, group_by) in [
                (Interval::H1, None),
                (Interval::H1, Some(Dim::Sentiment)),
                (Interval::D1, Some(Dim::Channel)),
                (Interval::H1, Some(Dim::Topic)),
                (Interval::M5, Some(Dim::District)),
                (Interval::H1, Some(Dim::Unit)),
            ] {
                if (bounded.to.unwrap() - bounded.from.unwrap()) / interval.seconds() > 2000 {
                    continue;
                }
                out.push(Query::Timeseries {
                    filters: bounded.clone(),
                    interval,
                    group_by,
                });
            }
        }
    }
    // Work orders as they stood at earlier times (what a wall compares its
    // 在办工单 with): fewer created, fewer resolved.
    for as_of in [start + 86_400, (start + end) / 2 + 17, end - 3600] {
        let then = Filters {
            as_of: Some(as_of),
            ..Filters::default()
        };
        out.push(Query::Summary(then.clone()));
        for f in filters(then.with_range(Some(start), Some(end))) {
            out.push(Query::Orders(f));
        }
    }
    // Orders due in a window: created one SLA before it (the timeline's
    // orders are due five days after it).
    let sla = SETTINGS.sla_seconds;
    for (from, to) in ranges {
        let due = Filters {
            orders_by: OrdersBy::Due,
            ..Filters::default()
        }
        .with_range(from.map(|f| f + sla), to.map(|t| t + sla));
        for f in filters(due) {
            out.push(Query::Summary(f.clone()));
            out.push(Query::Orders(f.clone()));
            out.push(Query::Rank(Rank {
                filters: f,
                dim: Dim::District,
                metric: Metric::SatisfactionRate,
                min_volume: 0,
                ascending: true,
                compare: None,
                by_change: false,
            }));
        }
    }
    out.push(Query::Extent);
    out
}

/// The demo's items (enriched) and work-order events of `[start, end)`
/// at `rate` × its live rate, the events in time order, as they happen.
pub(crate) fn demo_timeline(
    rate: f64,
    start: i64,
    end: i64,
    seed: u64,
) -> (Vec<EnrichedItem>, Vec<WorkOrderEvent>) {
    let enricher = Enricher::builtin(b"conformance-key-0123").unwrap();
    let timeline = minyi::demo::timeline(enricher.gazetteer(), rate, start, end, seed);
    let now = enricher.now();
    let items = timeline
        .items
        .iter()
        .filter_map(|v| enricher.enrich_value(v, now).ok())
        .collect();
    let mut events: Vec<_> = timeline
        .events
        .iter()
        .filter_map(|v| parse_event(v, now).ok())
        .collect();
    events.sort_by_key(|e| e.at);
    (items, events)
}

async fn write_items(store: &dyn Store, items: &[EnrichedItem]) {
    for chunk in items.chunks(700) {
        let out = store
            .write(WriteBatch {
                items: chunk.to_vec(),
                events: Vec::new(),
            })
            .await
            .unwrap();
        assert!(out.new_items.iter().all(|n| *n));
    }
}

async fn write_events(store: &dyn Store, events: &[WorkOrderEvent]) {
    for chunk in events.chunks(300) {
        store
            .write(WriteBatch {
                items: Vec::new(),
                events: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
}

/// Stores events the way minyi did before `003_order_states.sql`: the
/// event columns only, each (order, event, time) once.
async fn write_events_before_order_states(ch: &ClickHouseStore, events: &[WorkOrderEvent]) {
    let mut seen = HashSet::new();
    let events: Vec<_> = events
        .iter()
        .filter(|e| seen.insert((&e.order_id, e.event, e.at.timestamp())))
        .collect();
    let marks = vec!["(?, ?, ?, ?, ?, ?)"; events.len()].join(", ");
    let mut q = ch.client().query(&format!(
        "INSERT INTO workorder_events (order_id, event, at, feedback_id, unit, rating) VALUES {marks}"
    ));
    for e in events {
        q = q
            .bind(&e.order_id)
            .bind(e.event.as_str())
            .bind(u32::try_from(e.at.timestamp()).unwrap())
            .bind(e.feedback_id.as_deref().unwrap_or(""))
            .bind(e.unit.as_deref().unwrap_or(""))
            .bind(e.rating.map_or(0, |r| r.number()));
    }
    q.execute().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn clickhouse_answers_like_sqlite() {
    let server = common::ClickHouse::start_logging_queries();
    let db = server.database("conformance");
    let ch = ClickHouseStore::connect_db(&server.url, &db, SETTINGS)
        .await
        .unwrap();
    // Step 1 of the schema first: step 2 upgrades a store that has items.
    let schema = schema();
    let applied = ch.migrate(&schema[..1]).await.unwrap();
    assert_eq!(applied, ["001_schema.sql"]);

    let dir = common::TempDir::new("conformance");
    let sqlite = SqliteStore::open(&dir.0, SETTINGS).unwrap();
    let end = 1_764_000_000; // a whole hour
    let start = end - 2 * 86_400;
    // As they happen: an order's events span batches (and the upgrade).
    let (items, events) = demo_timeline(0.06, start, end, 7);
    assert!(items.len() > 3000, "{}", items.len());
    assert!(events.len() > 500, "{}", events.len());
    assert!(
        items.iter().any(|i| i.rating == Some(Rating::Dissatisfied)),
        "the timeline has dissatisfied ratings"
    );
    write_items(&sqlite, &items).await;
    let (early, late) = items.split_at(2100);
    write_items(&ch, early).await;
    let applied = ch.migrate(&schema[..2]).await.unwrap();
    assert_eq!(applied, ["002_hourly_rollups.sql"]);
    write_items(&ch, late).await;
    // Step 3 folds the orders stored before it; the ones whose events span
    // the upgrade are moved on from the folded state by ingest.
    let (early, _) = events.split_at(events.len() / 2);
    write_events_before_order_states(&ch, early).await;
    let applied = ch.migrate(&schema).await.unwrap();
    // Step 5 makes the items stored before it searchable; step 6 adds
    // the incidents' table, step 7 the repeat marks', step 8 orders state
    // documents saved within a second, step 9 keys work orders by item,
    // step 10 tells the tracker what each insert stored (filled for the
    // items stored before it: the tracker still finds every one), step 11
    // keeps when a kept resolution happened.
    assert_eq!(
        applied,
        [
            "003_order_states.sql",
            "004_privacy.sql",
            "005_search.sql",
            "006_incidents.sql",
            "007_repeats.sql",
            "008_state_order.sql",
            "009_order_items.sql",
            "010_stored_batches.sql",
            "011_resolved_at.sql"
        ]
    );
    assert!(
        ch.migrate(&schema).await.unwrap().is_empty(),
        "a second run applies nothing"
    );
    let all: HashSet<String> = items.iter().map(|i| i.id.clone()).collect();
    let (found, _) = stored_in_pages(&ch, 0, 997).await;
    assert_eq!(found.len(), all.len(), "each stored item once");
    assert_eq!(found.into_iter().collect::<HashSet<_>>(), all);
    // Answers must not wait for merges: a state and its retraction may sit
    // in different parts for as long as the server likes.
    ch.client()
        .query("SYSTEM STOP MERGES order_states")
        .execute()
        .await
        .unwrap();
    let stores: [&dyn Store; 2] = [&sqlite, &ch];
    for store in stores {
        write_events(store, &events).await;
        // Re-posting changes nothing.
        let again = store
            .write(WriteBatch {
                items: items[..50].to_vec(),
                events: events[..50].to_vec(),
            })
            .await
            .unwrap();
        assert!(again.new_items.iter().all(|n| !*n));
        assert_eq!(again.new_events, 0);
    }

    let mut units: Vec<&str> = events.iter().filter_map(|e| e.unit.as_deref()).collect();
    units.sort();
    let unit = units
        .chunk_by(|a, b| a == b)
        .max_by_key(|c| c.len())
        .expect("orders are dispatched")[0];
    let queries = queries(start, end, unit);
    let asked = queries.len();

    // Three tiers: a bureau's scope narrows the queries before either
    // store sees them, and the 不满意化解率 league table is computed in
    // `store::ask` from each store's answers: alike on both.
    let metrics = minyi::metrics::Metrics::default();
    let bureau = minyi::query::Scope {
        districts: vec!["丛台区".into()],
        units: Vec::new(),
    };
    let mut resolved_somewhere = false;
    for (scope, dim) in [
        (minyi::query::Scope::city(), Dim::District),
        (bureau.clone(), Dim::Unit),
        (bureau.clone(), Dim::Channel),
    ] {
        let f = Filters::default().with_range(Some(start), Some(end));
        for q in [
            Query::Rank(Rank {
                filters: f.clone(),
                dim,
                metric: Metric::DissatisfiedResolvedRate,
                min_volume: 1,
                ascending: false,
                compare: Some((start, start + 86_400)),
                by_change: false,
            }),
            Query::Summary(f.clone()),
            Query::Top {
                filters: f.clone(),
                dim: TopDim::Keyword,
                limit: 50,
            },
        ] {
            let q = scope.restrict_query(q).unwrap();
            let a = minyi::store::ask(&sqlite, &metrics, q.clone(), end)
                .await
                .unwrap();
            let b = minyi::store::ask(&ch, &metrics, q.clone(), end)
                .await
                .unwrap_or_else(|e| panic!("{q:?}: {e}"));
            assert_eq!(a, b, "{q:?}");
            if let Answer::Rank(r) = &a {
                resolved_somewhere |= r.rows.iter().any(|row| row.value.is_some_and(|v| v > 0.0));
            }
        }
    }
    assert!(resolved_somewhere, "some 不满意 was resolved");

    let mut checked_resolved = false;
    let mut checked_due = false;
    let mut checked_textless = false;
    let mut checked_rank = false;
    let mut checked_search = false;
    // A summary read from the items (a search or a text filter) with
    // resolved dissatisfied items: counts and 不满意化解 in one read.
    let mut checked_resolved_read = false;
    let mut checked_revisits = false;
    let mut checked_queue = false;
    let mut checked_as_of = false;
    for q in queries {
        let a = sqlite.query(q.clone(), end).await.unwrap();
        let b = ch
            .query(q.clone(), end)
            .await
            .unwrap_or_else(|e| panic!("{q:?}: {e}"));
        assert_eq!(a, b, "{q:?}");
        match (&q, &a) {
            (Query::Summary(f), Answer::Summary(s)) => {
                checked_resolved |= s.dissatisfied_resolved > 0 && s.orders_resolved > 0;
                checked_textless |= f.has_text == Some(false) && s.received > 0;
                checked_search |= f.q.len() == 2 && s.received > 0;
                checked_resolved_read |=
                    (!f.q.is_empty() || f.has_text.is_some()) && s.dissatisfied_resolved > 0;
            }
            (Query::Rank(_), Answer::Rank(r)) => {
                checked_rank |= r.unknown.is_some()
                    && r.rows.iter().any(|row| {
                        row.counts.orders_resolved > 0 && row.previous.is_some() && row.ranked
                    });
            }
            (Query::Revisits(_), Answer::Revisits(r)) => {
                checked_revisits |= r.total.replied > 0 && r.total.sent > r.total.replied;
            }
            (Query::Supervision { .. }, Answer::Supervision(queue)) => {
                // Open and 化解 cases, some with a work order, some late.
                let stages: std::collections::BTreeSet<_> =
                    queue.items.iter().map(|c| c.stage).collect();
                checked_queue |= stages.len() >= 3
                    && stages.contains(&minyi::query::supervision::Stage::Resolved)
                    && queue.items.iter().any(|c| c.order_id.is_some())
                    && queue.overdue > 0;
            }
            (Query::Orders(f), Answer::Orders(o)) if f.as_of.is_some_and(|t| t % 60 == 0) => {
                // The same orders (created before `as_of`) as they stand
                // now: the same number, more of them resolved since.
                let up_to = Filters {
                    as_of: None,
                    to: f.as_of,
                    ..f.clone()
                };
                let Answer::Orders(now) = sqlite.query(Query::Orders(up_to), end).await.unwrap()
                else {
                    panic!()
                };
                assert_eq!(o.orders_created, now.orders_created, "{q:?}");
                checked_as_of |= o.orders_resolved > 0 && o.orders_resolved < now.orders_resolved;
            }
            (Query::Orders(f), Answer::Orders(o)) => {
                checked_due |= f.orders_by == OrdersBy::Due
                    && f.from.is_some()
                    && o.orders_resolved > 0
                    && o.orders_open > 0;
            }
            _ => {}
        }
    }
    assert!(
        checked_resolved,
        "some answer had resolved items and orders"
    );
    assert!(
        checked_due,
        "some window had resolved and open orders due in it"
    );
    assert!(checked_textless, "some answer counted items without text");
    assert!(
        checked_revisits,
        "some revisit funnel had answered and unanswered sendings"
    );
    assert!(
        checked_rank,
        "some rank had keys with orders and the unknown row"
    );
    assert!(checked_search, "some search of two words found items");
    assert!(
        checked_resolved_read,
        "some summary read from the items had resolved dissatisfied items"
    );
    assert!(
        checked_queue,
        "some supervision queue had open and 化解 cases, orders and late ones"
    );
    assert!(
        checked_as_of,
        "some orders as they stood earlier were resolved since"
    );
    eprintln!("{asked} queries answered alike by SQLite and ClickHouse");

    // Item lists: the same items, newest first, paged by cursor.
    let list = |store: &'static str, answer: Answer| match answer {
        Answer::Feedback { items, next } => (
            items
                .into_iter()
                .map(|i| (i.received_at, i.id, i.work_orders))
                .collect::<Vec<_>>(),
            next.is_some(),
            store,
        ),
        other => panic!("{other:?}"),
    };
    let f = Filters {
        district: vec!["磁县".into()],
        ..Filters::default()
    };
    let q = Query::Feedback {
        filters: f.clone(),
        limit: 1000,
        cursor: None,
    };
    let (mut a, _, _) = list("sqlite", sqlite.query(q.clone(), end).await.unwrap());
    let (mut b, _, _) = list("clickhouse", ch.query(q, end).await.unwrap());
    assert!(!a.is_empty());
    assert!(
        b.windows(2).all(|p| p[0].0 >= p[1].0),
        "newest first across the windows read back"
    );
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(
        a.iter().any(|(_, _, orders)| !orders.is_empty()),
        "some listed items have work orders"
    );
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let answer = ch
            .query(
                Query::Feedback {
                    filters: f.clone(),
                    limit: 37,
                    cursor,
                },
                end,
            )
            .await
            .unwrap();
        let Answer::Feedback { items, next } = answer else {
            panic!()
        };
        paged.extend(
            items
                .into_iter()
                .map(|i| (i.received_at, i.id, i.work_orders)),
        );
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    paged.sort();
    assert_eq!(paged, a, "paging by cursor visits every item once");

    // Deployments run a current ClickHouse (docker-compose.yml): every
    // query above, again there, over the same data.
    server.replay_on_current_release(&db);
}

/// The status and body of a GET, with `token` as its bearer.
async fn csv_of(
    app: &common::TestApp,
    uri: &str,
    token: Option<&str>,
) -> (axum::http::StatusCode, String) {
    let mut req = axum::http::Request::get(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let (status, body) = common::call(app, req.body(axum::body::Body::empty()).unwrap()).await;
    (status, String::from_utf8(body).unwrap())
}

/// An open app (no tokens) over a fresh migrated database `name` of
/// `server`, and the database's name.
async fn open_app(server: &common::ClickHouse, name: &str) -> (common::TestApp, String) {
    let (ch, db) = migrated(server, name, SETTINGS).await;
    let app = common::test_app_over(
        std::sync::Arc::new(ch),
        common::TempDir::new(&format!("clickhouse-{name}")),
        &[],
    );
    (app, db)
}

/// The search semantics of `serve_api.rs`, through the API on ClickHouse.
#[tokio::test(flavor = "multi_thread")]
async fn search_finds_what_ctrl_f_finds_on_clickhouse() {
    let server = common::ClickHouse::start_logging_queries();
    let (app, db) = open_app(&server, "search").await;
    crate::serve_api::search_finds_what_ctrl_f_finds(&app).await;
    server.replay_on_current_release(&db);
}

/// Exports on ClickHouse, a joined query a window: every match once, in the list's
/// order (its pages walk the same items), and the same rows as SQLite's
/// for the same items with their work orders, incidents and repeat marks;
/// a district's token exports its district only.
#[tokio::test(flavor = "multi_thread")]
async fn exports_by_joined_windows_are_the_lists_items() {
    let server = common::ClickHouse::start_logging_queries();
    let (ch_app, db) = open_app(&server, "export").await;
    let sqlite_app = common::test_app(&[]);
    // Nothing stored: the header alone.
    let (s, body) = csv_of(&ch_app, "/api/v1/feedback?format=csv", None).await;
    assert_eq!(s, axum::http::StatusCode::OK);
    assert_eq!(body.lines().count(), 1);
    let n = crate::serve_api::load_many_attached(&ch_app).await;
    assert_eq!(crate::serve_api::load_many_attached(&sqlite_app).await, n);
    crate::serve_api::exports_hold_every_match_once(&ch_app, n).await;
    let from = "from=2025-06-01T00:00:00%2B08:00";
    for uri in [
        format!("/api/v1/feedback?format=csv&{from}"),
        // No range; the widest range there is.
        "/api/v1/feedback?format=csv".to_owned(),
        "/api/v1/feedback?format=csv&from=1970-01-01T00:00:00Z&to=9999-12-31T00:00:00Z".to_owned(),
        format!(
            "/api/v1/feedback?format=csv&{from}&to=2025-06-01T02:00:00%2B08:00&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA"
        ),
        format!(
            "/api/v1/feedback?format=csv&{from}&q=%E7%BA%A2%E7%BB%BF%E7%81%AF&incident=i-00000000000000b2"
        ),
        format!("/api/v1/feedback?format=csv&{from}&repeat=true"),
    ] {
        // The same rows; within one second each store orders by its own
        // sequence (SQLite's row number, a hash of the id here).
        let rows = |(status, text): (axum::http::StatusCode, String)| {
            assert_eq!(status, axum::http::StatusCode::OK, "{uri}");
            let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
            lines[1..].sort();
            lines
        };
        let ch_rows = rows(csv_of(&ch_app, &uri, None).await);
        let sqlite_rows = rows(csv_of(&sqlite_app, &uri, None).await);
        assert!(ch_rows.len() > 2, "{uri}: rows");
        assert_eq!(ch_rows, sqlite_rows, "{uri}");
        if !uri.contains('&') || uri.ends_with(from) {
            // What is attached: two orders in order, an incident, a mark.
            let all = ch_rows.join("\n");
            assert!(all.contains("WO-C、WO-D,在办、在办,"), "{all:.3000}");
            assert!(all.contains("WO-A,已办结,"));
            assert!(all.contains("i-00000000000000a1"));
        }
    }
    // A district's token exports its district only, on this path too.
    let scoped = app(
        &server,
        &db,
        vec![common::api_token(
            minyi::config::Role::Analyst,
            "congtai",
            &["丛台区"],
            &[],
        )],
    )
    .await;
    let congtai = Some("congtai");
    let (s, own) = csv_of(
        &scoped,
        &format!("/api/v1/feedback?format=csv&{from}"),
        congtai,
    )
    .await;
    assert_eq!(s, axum::http::StatusCode::OK);
    let (_, district) = csv_of(
        &ch_app,
        &format!("/api/v1/feedback?format=csv&{from}&district=%E4%B8%9B%E5%8F%B0%E5%8C%BA"),
        None,
    )
    .await;
    assert_eq!(
        own.lines().count(),
        n / 4 + 1,
        "丛台区's rows and the header"
    );
    assert_eq!(own, district);
    let (s, _) = csv_of(
        &scoped,
        &format!("/api/v1/feedback?format=csv&{from}&district=%E9%82%AF%E5%B1%B1%E5%8C%BA"),
        congtai,
    )
    .await;
    assert_eq!(s, axum::http::StatusCode::FORBIDDEN);
    server.replay_on_current_release(&db);
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_state_keeps_the_newest_document() {
    let server = common::ClickHouse::start();
    let (ch, _) = migrated(&server, "state", SETTINGS).await;
    ch.state_save("alert", "a1".into(), "{\"v\":1}".into(), 100)
        .await
        .unwrap();
    ch.state_save("alert", "a1".into(), "{\"v\":2}".into(), 200)
        .await
        .unwrap();
    ch.state_save("alert", "a2".into(), "{\"v\":3}".into(), 50)
        .await
        .unwrap();
    ch.state_save("silence", "s1".into(), "{}".into(), 300)
        .await
        .unwrap();
    let mut docs = ch.state_load("alert", 0).await.unwrap();
    docs.sort();
    assert_eq!(docs, ["{\"v\":2}", "{\"v\":3}"]);
    assert_eq!(ch.state_load("alert", 150).await.unwrap(), ["{\"v\":2}"]);
    assert_eq!(ch.state_load("silence", 0).await.unwrap().len(), 1);
    // Versions saved within one second: the last written wins.
    for v in 0..20 {
        ch.state_save("tracker", "p".into(), format!("{{\"v\":{v}}}"), 400)
            .await
            .unwrap();
    }
    assert_eq!(ch.state_load("tracker", 0).await.unwrap(), ["{\"v\":19}"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_a_clear_error() {
    let port = common::free_port();
    let err = match ClickHouseStore::connect(&format!("http://127.0.0.1:{port}"), SETTINGS).await {
        Ok(_) => panic!("nothing listens there"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cannot reach"), "{err}");
}

/// Erasure and retention on both stores over the same timeline: every
/// query answers alike afterwards, the summary's counts and KPIs are those
/// of before, and the item lists show the same items redacted. The audit
/// appends, reads by token and drops old entries.
#[tokio::test(flavor = "multi_thread")]
async fn erasure_and_retention_keep_the_answers_alike() {
    let server = common::ClickHouse::start();
    let (ch, _) = migrated(&server, "privacy", SETTINGS).await;
    let dir = common::TempDir::new("privacy");
    let sqlite = SqliteStore::open(&dir.0, SETTINGS).unwrap();
    let end = 1_764_000_000;
    let start = end - 2 * 86_400;
    let (items, events) = demo_timeline(0.03, start, end, 11);
    let stores: [&dyn Store; 2] = [&sqlite, &ch];
    for store in stores {
        write_items(store, &items).await;
        write_events(store, &events).await;
    }
    let unit = events
        .iter()
        .find_map(|e| e.unit.clone())
        .expect("orders are dispatched");
    let queries = queries(start, end, &unit);
    let summary = Query::Summary(Filters::default());
    let before = sqlite.query(summary.clone(), end).await.unwrap();
    let Answer::Summary(s) = &before else {
        panic!()
    };
    assert!(s.dissatisfied_resolved > 0, "{s:?}");

    // Erase: three people by contact, and the satisfied follow-ups of
    // resolved cases by id (their dissatisfied items must stay resolved).
    // The newest, so the first page of the lists shows them.
    let contacts: Vec<String> = items
        .iter()
        .rev()
        .filter_map(|i| i.contact_hash.clone())
        .take(3)
        .collect();
    assert_eq!(contacts.len(), 3);
    let follow_ups: Vec<String> = items
        .iter()
        .filter(|i| {
            i.rating.is_some_and(Rating::is_satisfied)
                && i.case_ref.as_deref().is_some_and(|c| {
                    items.iter().any(|d| {
                        d.rating == Some(Rating::Dissatisfied) && d.case_ref.as_deref() == Some(c)
                    })
                })
        })
        .map(|i| i.id.clone())
        .take(5)
        .collect();
    assert_eq!(follow_ups.len(), 5);
    let mut targets: Vec<minyi::store::Erase> = contacts
        .iter()
        .map(|c| minyi::store::Erase::Contact(c.clone()))
        .collect();
    targets.extend(
        follow_ups
            .iter()
            .map(|id| minyi::store::Erase::Item(id.clone())),
    );
    for target in &targets {
        let a = sqlite.erase(target.clone()).await.unwrap();
        let b = ch.erase(target.clone()).await.unwrap();
        assert!(a >= 1, "{target:?}");
        assert_eq!(a, b, "{target:?}");
        assert_eq!(ch.erase(target.clone()).await.unwrap(), 0, "erased before");
    }
    // Retention: everything of the first day loses its content.
    let limit = start + 86_400;
    let a = sqlite.expire(Some(limit), 0).await.unwrap();
    let b = ch.expire(Some(limit), 0).await.unwrap();
    assert!(a.items > 1000, "{a:?}");
    assert_eq!(a.items, b.items);

    assert_eq!(sqlite.query(summary.clone(), end).await.unwrap(), before);
    assert_eq!(ch.query(summary, end).await.unwrap(), before);
    let expired_day = Query::Top {
        filters: Filters::default().with_range(Some(start), Some(limit)),
        dim: TopDim::Keyword,
        limit: 30,
    };
    assert!(
        matches!(sqlite.query(expired_day.clone(), end).await.unwrap(), Answer::Top(rows) if rows.len() == 30),
        "the hot words of an expired day are still counted"
    );
    for q in queries.into_iter().chain([expired_day]) {
        // Known limit: the hot words of expired periods come from the
        // rollups alone — by sentiment over whole hours in both stores
        // (and by district in SQLite's); what reads the items (ClickHouse
        // by district, either by topic or rating, a range's edge minutes)
        // no longer sees the keywords retention removed.
        if let Query::Top {
            dim: TopDim::Keyword,
            filters: f,
            ..
        } = &q
        {
            let overlaps = f.from.is_none_or(|from| from < limit);
            let rollups_only = f.district.is_empty()
                && f.topic.is_empty()
                && f.rating.is_empty()
                && f.q.is_empty()
                && f.from.is_none_or(|from| from % 3600 == 0);
            if overlaps && !rollups_only {
                continue;
            }
        }
        let a = sqlite.query(q.clone(), end).await.unwrap();
        let b = ch.query(q.clone(), end).await.unwrap();
        assert_eq!(a, b, "{q:?}");
    }
    let page = Query::Feedback {
        filters: Filters::default(),
        limit: 1000,
        cursor: None,
    };
    let redactions = |answer: Answer| match answer {
        Answer::Feedback { items, .. } => {
            let mut out: Vec<(String, Option<String>, String)> = items
                .into_iter()
                .map(|i| (i.id, i.redacted, i.text))
                .collect();
            out.sort();
            out
        }
        other => panic!("{other:?}"),
    };
    let a = redactions(sqlite.query(page.clone(), end).await.unwrap());
    assert_eq!(a, redactions(ch.query(page, end).await.unwrap()));
    assert!(
        a.iter()
            .any(|(_, r, t)| r.as_deref() == Some("erased") && t.is_empty())
    );
    let old = Query::Feedback {
        filters: Filters::default().with_range(None, Some(limit)),
        limit: 1000,
        cursor: None,
    };
    let old = redactions(ch.query(old, end).await.unwrap());
    assert!(!old.is_empty());
    assert!(
        old.iter().all(|(_, r, t)| r.is_some() && t.is_empty()),
        "every item of the first day is expired or erased"
    );

    // The audit: appended, read by token and time, old entries dropped.
    let entry = |at: i64, token: &str| minyi::store::AuditEntry {
        at,
        token: token.into(),
        role: "analyst".into(),
        method: "GET".into(),
        path: "/api/v1/feedback".into(),
        query: "q=民警".into(),
        status: 200,
        items: Some(20),
    };
    ch.audit_append(vec![
        entry(100, "研判民警张某"),
        entry(end, "研判民警张某"),
        entry(end + 5, "分局大屏"),
    ])
    .await
    .unwrap();
    let read = |token: Option<&str>| minyi::store::AuditQuery {
        from: 0,
        to: end + 10,
        token: token.map(str::to_owned),
        limit: 10,
    };
    assert_eq!(ch.audit_read(read(None)).await.unwrap().len(), 3);
    assert_eq!(
        ch.audit_read(read(Some("研判民警张某"))).await.unwrap(),
        [entry(100, "研判民警张某"), entry(end, "研判民警张某")]
    );
    let dropped = ch.expire(None, 1000).await.unwrap();
    assert_eq!(dropped.audit, 1);
    assert_eq!(ch.audit_read(read(None)).await.unwrap().len(), 2);
}

/// Every item [`Store::stored_since`] gives from the start, `limit` a
/// call, with the batch each came in (by `batch_of`), and where it ended.
async fn stored_in_pages(
    store: &dyn Store,
    since: i64,
    limit: usize,
) -> (Vec<String>, minyi::store::StoredAfter) {
    let mut after = minyi::store::StoredAfter::default();
    let mut ids = Vec::new();
    loop {
        let page = store
            .stored_since(after.clone(), since, limit)
            .await
            .unwrap();
        assert!(page.len() <= limit, "{} > {limit}", page.len());
        let Some(last) = page.last() else { break };
        after = last.after.clone();
        ids.extend(page.into_iter().map(|i| i.id));
    }
    (ids, after)
}

/// The incident tracker follows the items in the order they were stored:
/// both stores give every item once, batch after batch, whatever the
/// page size, the times of the items (an archive stored after newer items)
/// or the window asked; a poll after the last item gives nothing; the
/// window read on start is the same set, ending at the last item stored.
#[tokio::test(flavor = "multi_thread")]
async fn the_tracker_reads_items_in_the_order_they_were_stored() {
    let server = common::ClickHouse::start();
    let (ch, _) = migrated(&server, "stored_order", SETTINGS).await;
    let dir = common::TempDir::new("stored_order");
    let sqlite = SqliteStore::open(&dir.0, SETTINGS).unwrap();
    let end = 1_764_000_000;
    let start = end - 2 * 86_400;
    let (mut items, _) = demo_timeline(0.01, start, end, 5);
    assert!(items.len() > 500, "{}", items.len());
    // Stored out of time order, in batches of uneven size.
    let mut rng = fastrand::Rng::with_seed(9);
    rng.shuffle(&mut items);
    let mut batch_of = std::collections::HashMap::new();
    let mut batches = Vec::new();
    let mut rest = &items[..];
    while !rest.is_empty() {
        let (batch, more) = rest.split_at(rng.usize(1..90).min(rest.len()));
        for i in batch {
            batch_of.insert(i.id.clone(), batches.len());
        }
        batches.push(batch.to_vec());
        rest = more;
    }
    let mid = start + 86_400;
    let recent: HashSet<String> = items
        .iter()
        .filter(|i| i.received_at.timestamp() >= mid)
        .map(|i| i.id.clone())
        .collect();
    let stores: [&dyn Store; 2] = [&sqlite, &ch];
    for store in stores {
        for batch in &batches {
            write_items(store, batch).await;
        }
        for (since, limit) in [(0, 13), (0, 64), (0, 5000), (mid, 17), (mid, 5000)] {
            let (ids, after) = stored_in_pages(store, since, limit).await;
            let order: Vec<usize> = ids.iter().map(|id| batch_of[id]).collect();
            assert!(
                order.windows(2).all(|w| w[0] <= w[1]),
                "since {since}, {limit} a page: out of the order of storing"
            );
            let set: HashSet<String> = ids.iter().cloned().collect();
            assert_eq!(set.len(), ids.len(), "since {since}, {limit} a page: twice");
            let want = if since == 0 {
                items.iter().map(|i| i.id.clone()).collect()
            } else {
                recent.clone()
            };
            assert_eq!(set, want, "since {since}, {limit} a page");
            assert!(
                store
                    .stored_since(after, since, limit)
                    .await
                    .unwrap()
                    .is_empty(),
                "nothing after the last"
            );
        }
        let (window, after) = store.stored_window(mid, mid).await.unwrap();
        let set: HashSet<String> = window.iter().map(|i| i.id.clone()).collect();
        assert_eq!(set.len(), window.len());
        assert_eq!(set, recent);
        let (_, last) = stored_in_pages(store, mid, 5000).await;
        assert_eq!(after, last, "the window ends at the last item stored");

        // Read from the start, whole from `mid`: the older items come as
        // repeat context (those with a contact, without their text), the
        // window's whole, and the end is the same.
        let (all, end_all) = store.stored_window(0, mid).await.unwrap();
        let (_, end) = stored_in_pages(store, 0, 5000).await;
        assert_eq!(end_all, end, "the end counts the items left out too");
        let with_contact: HashSet<String> = items
            .iter()
            .filter(|i| i.received_at.timestamp() < mid && i.contact_hash.is_some())
            .map(|i| i.id.clone())
            .collect();
        assert!(!with_contact.is_empty() && with_contact.len() < items.len() - recent.len());
        let (old, new): (Vec<_>, Vec<_>) = all.iter().partition(|i| i.at < mid * 1000);
        let old_ids: HashSet<String> = old.iter().map(|i| i.id.clone()).collect();
        assert_eq!(old_ids, with_contact);
        assert!(
            old.iter()
                .all(|i| i.text.is_empty() && i.contact.is_some() && i.district.is_none())
        );
        let new_ids: HashSet<String> = new.iter().map(|i| i.id.clone()).collect();
        assert_eq!(new_ids, recent);
        assert!(new.iter().any(|i| !i.text.is_empty()));
        let whole: HashMap<&String, &minyi::store::StoredItem> =
            window.iter().map(|i| (&i.id, i)).collect();
        assert!(
            new.iter().all(|i| whole[&i.id].text == i.text),
            "whole from mid"
        );
    }
}
