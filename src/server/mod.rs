//! `minyi serve`: the embedded all-in-one. One process: HTTP ingest and the
//! demo feed → enrichment on the rayon pool → the SQLite store → the query
//! API, the wall screens' live push, the web assets.
//!
//! Shutdown (SIGTERM / Ctrl-C) is one [`CancellationToken`] seen by every
//! task: intake stops (new ingest requests get 503, the demo feed stops),
//! in-flight requests finish and their batches commit, live streams end,
//! then the store's writer drains its queue and the process exits. Data
//! acknowledged before is on disk and served after a restart.

pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;
mod export;
pub mod guard;
pub mod listen;
pub mod sse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::FixedOffset;
use tokio_util::sync::CancellationToken;
use tower_http::services::ServeDir;

use crate::alerts::engine::{self, Engine};
use crate::config::Checked;
use crate::dashboards::{self, Ticker};
use crate::enrich::Enricher;
use crate::ingest::Ingestor;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::query::{Answer, Query, Scope, Vocabulary};
use crate::store::clickhouse::ClickHouseStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{QuerySettings, Store, StoreError};
use auth::Auth;

/// Everything a handler can reach.
pub struct AppState {
    pub auth: Auth,
    pub vocab: Vocabulary,
    pub enricher: Arc<Enricher>,
    pub store: Arc<dyn Store>,
    pub ingest: Arc<Ingestor>,
    pub live: Arc<Live>,
    pub metrics: Arc<Metrics>,
    /// The dashboards and their ticker.
    pub panels: Arc<Ticker>,
    pub tz: FixedOffset,
    pub tick: Duration,
    pub shutdown: CancellationToken,
    /// Maps configured as GeoJSON (`<dashboards_dir>/geo/<name>.json`).
    pub geo: Vec<String>,
    pub dashboards_dir: PathBuf,
    /// Web assets from disk instead of the built-in ones.
    pub web_dir: Option<PathBuf>,
    /// Host and Origin checks against other sites' pages.
    pub guard: guard::Guard,
    /// Connection, timeout and shutdown bounds.
    pub limits: listen::Limits,
    pub alerts: Arc<Engine>,
    pub alert_every: Duration,
    pub demo_rate: f64,
    pub demo_backfill: bool,
    /// The access audit.
    pub auditor: Arc<crate::privacy::Auditor>,
    pub retention_days: u32,
    pub audit_retention_days: u32,
    /// How far the incident tracker got (the alert engine waits for it).
    pub incidents: Arc<crate::tracker::Progress>,
    /// `public_url` ("" when none): the base of links sent to robots.
    pub public_url: String,
    /// Scheduled reports (`[[report]]`).
    pub reports: Vec<crate::report::Schedule>,
    /// Reports built at once (a month's takes seconds of store time: many
    /// asked together wait their turn instead of starving the walls).
    pub report_builds: tokio::sync::Semaphore,
}

impl AsRef<Auth> for Arc<AppState> {
    fn as_ref(&self) -> &Auth {
        &self.auth
    }
}

impl AppState {
    /// Builds the state over a store. `listen` decides whether running
    /// without tokens is allowed.
    pub fn new(
        checked: &Checked,
        enricher: Arc<Enricher>,
        store: Arc<dyn Store>,
        listen: SocketAddr,
        shutdown: CancellationToken,
    ) -> Result<AppState, ServeError> {
        let vocab = Vocabulary::from_enricher(&enricher);
        let auth = Auth::new(&checked.tokens, listen, &vocab).map_err(|e| match e {
            // A scope the gazetteer does not know is the config file's error.
            e @ auth::AuthError::BadScope { .. } => {
                ServeError::Config(crate::config::ConfigError::Invalid {
                    file: checked.file.clone(),
                    message: e.to_string(),
                })
            }
            e => ServeError::Auth(e),
        })?;
        if checked.dev_key && !listen.ip().is_loopback() {
            return Err(ServeError::DevKeyBeyondLoopback(listen));
        }
        let dashboards = dashboards::load(&checked.dashboards_dir, &vocab, checked.timezone)?;
        let live = Arc::new(Live::default());
        let metrics = Arc::new(Metrics::default());
        let target_names: Vec<String> = checked.targets.iter().map(|t| t.name.clone()).collect();
        let rules = crate::alerts::rules::parse(&checked.alert_rules, &vocab, &target_names)
            .map_err(ServeError::Alerts)?;
        let notifier = crate::alerts::notify::Notifier::start(&checked.targets, metrics.clone());
        let routing = crate::alerts::routes::Routing::new(&checked.routes, &checked.mutes, &vocab)
            .map_err(|message| crate::config::ConfigError::Invalid {
                file: checked.file.clone(),
                message,
            })?;
        let incidents = Arc::new(crate::tracker::Progress::default());
        let alerts = Arc::new(
            Engine::new(
                rules,
                notifier,
                checked.alert_group_wait,
                engine::Context {
                    store: store.clone(),
                    vocab: vocab.clone(),
                    tz: checked.timezone,
                    live: live.clone(),
                    metrics: metrics.clone(),
                    incidents: Some(incidents.clone()),
                    public_url: checked.public_url.clone(),
                },
            )
            .with_routing(routing),
        );
        let auditor = Arc::new(crate::privacy::Auditor::new(store.clone(), metrics.clone()));
        let panels = Arc::new(Ticker {
            dashboards,
            vocab: vocab.clone(),
            tz: checked.timezone,
            store: store.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
            memo: Default::default(),
        });
        Ok(AppState {
            auth,
            vocab,
            ingest: Arc::new(Ingestor {
                enricher: enricher.clone(),
                store: store.clone(),
                live: live.clone(),
                metrics: metrics.clone(),
            }),
            enricher,
            store,
            live,
            metrics,
            panels,
            tz: checked.timezone,
            tick: checked.tick,
            shutdown,
            geo: geo_maps(&checked.dashboards_dir),
            dashboards_dir: checked.dashboards_dir.clone(),
            web_dir: checked.web_dir.clone(),
            limits: listen::Limits {
                max_connections: checked.max_connections,
                header_timeout: checked.header_timeout,
                body_timeout: checked.body_timeout,
                shutdown_deadline: checked.shutdown_deadline,
            },
            guard: guard::Guard {
                allowed_hosts: checked.allowed_hosts.clone(),
                allowed_origins: checked.allowed_origins.clone(),
            },
            alerts,
            alert_every: checked.alert_every,
            demo_rate: checked.demo_rate,
            demo_backfill: checked.demo_backfill,
            auditor,
            retention_days: checked.retention_days,
            audit_retention_days: checked.audit_retention_days,
            incidents,
            public_url: checked.public_url.clone(),
            reports: checked
                .reports
                .iter()
                .map(|r| crate::report::Schedule {
                    kind: crate::report::Kind::parse(&r.period).expect("checked by the config"),
                    at_minute: r.at_minute,
                    targets: r.targets.clone(),
                })
                .collect(),
            report_builds: tokio::sync::Semaphore::new(REPORT_BUILDS),
        })
    }

    /// Asks the store at the current time for the caller's `scope` (the
    /// one way a handler reaches the store's answers, so no endpoint can
    /// answer beyond its caller's scope): the query's filters are narrowed
    /// to the scope first, and one naming a place outside it is a 403.
    /// Counts the query and its time.
    pub async fn query(&self, scope: &Scope, query: Query) -> Result<Answer, api::ApiError> {
        let query = scope.restrict_query(query)?;
        let now = self.enricher.now().timestamp();
        Ok(crate::store::ask(&*self.store, &self.metrics, query, now).await?)
    }

    pub fn render(&self, query: &Query, answer: &Answer) -> serde_json::Value {
        dashboards::render(query, answer, &self.vocab, self.tz)
    }

    /// Computes every panel once now and pushes the result to all screens.
    pub async fn tick(&self) {
        self.panels.tick(self.enricher.now()).await;
    }
}

/// Computes the panels every `tick` until shutdown.
pub async fn run_ticker(state: Arc<AppState>) {
    let clock = || state.enricher.now();
    state
        .panels
        .run(clock, state.tick, state.shutdown.clone())
        .await;
}

/// Evaluates the alert rules every `alert_every` until shutdown, after
/// restoring the alert state of the store.
pub async fn run_alerts(state: Arc<AppState>) {
    let clock = || state.enricher.now().timestamp();
    state
        .alerts
        .run(clock, state.alert_every, state.shutdown.clone())
        .await;
}

/// The state documents recording which scheduled reports went out.
const REPORT_SENT: &str = "report";
/// Reports built at the same time, at most.
const REPORT_BUILDS: usize = 2;
/// How long after start the scheduled reports are first looked at.
const REPORT_SETTLE: Duration = Duration::from_secs(30);

/// Builds the report of `period` for `scope`: the store's answers and the
/// alerts the engine remembers.
pub async fn build_report(
    state: &AppState,
    scope: &Scope,
    period: crate::report::Period,
) -> Result<crate::report::Report, api::ApiError> {
    let _turn = state
        .report_builds
        .acquire()
        .await
        .map_err(|_| api::ApiError::ShuttingDown)?;
    let now = state.enricher.now().timestamp();
    let days = ((now - period.from) / 86_400 + 2).clamp(1, 400);
    let alerts = state.alerts.history(now, days, 10_000, scope).await?;
    let sources = crate::report::Sources {
        store: &*state.store,
        metrics: &state.metrics,
        vocab: &state.vocab,
        tz: state.tz,
        scope,
        alerts,
        now,
    };
    crate::report::build(period, &sources)
        .await
        .map_err(|e| match e {
            crate::report::ReportError::Store(e) => e.into(),
            crate::report::ReportError::Scope(e) => e.into(),
        })
}

/// Sends the scheduled reports (`[[report]]`) when they are due, once per
/// period: a report is recorded as sent in the store's state table when it
/// is queued, so a restart neither repeats nor loses it (one missed while
/// the server was down goes out when it is back). Checks every minute,
/// from half a minute after start.
pub async fn run_reports(state: Arc<AppState>) {
    if state.reports.is_empty() {
        return;
    }
    // Not in the first half minute: a server just started may still be
    // taking in the day (a backfill, a queue catching up).
    let first = tokio::time::Instant::now() + REPORT_SETTLE;
    let mut beat = tokio::time::interval_at(first, Duration::from_secs(60));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = beat.tick() => {}
        }
        let now = state.enricher.now().timestamp();
        let sent: std::collections::HashSet<String> =
            match state.store.state_load(REPORT_SENT, now - 40 * 86_400).await {
                Ok(docs) => docs
                    .iter()
                    .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    .filter_map(|d| d["key"].as_str().map(str::to_owned))
                    .collect(),
                Err(e) => {
                    tracing::warn!("reports: reading which were sent: {e}");
                    continue;
                }
            };
        for (i, period) in crate::report::due(&state.reports, now, state.tz, |k| sent.contains(k)) {
            let report = match build_report(&state, &Scope::city(), period).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("reports: building {}: {e}", period.key());
                    continue;
                }
            };
            let link = format!(
                "{}/api/v1/reports/{}?date={}&format=html",
                state.public_url,
                period.kind.as_str(),
                period.start.format("%Y-%m-%d")
            );
            let message = crate::alerts::notify::Message {
                title: report.title.clone(),
                lines: crate::report::markdown(&report, crate::report::Detail::Brief)
                    .lines()
                    .skip(1)
                    .map(str::to_owned)
                    .collect(),
                link: (!state.public_url.is_empty()).then_some(link),
                alerts: serde_json::json!([]),
            };
            for t in &state.reports[i].targets {
                state.alerts.send(t, message.clone());
            }
            let key = format!("{}@{i}", period.key());
            let doc = serde_json::json!({"key": key, "sent_at": now}).to_string();
            if let Err(e) = state
                .store
                .state_save(REPORT_SENT, key.clone(), doc, now)
                .await
            {
                tracing::warn!("reports: recording {key} as sent: {e}");
            }
            tracing::info!("reports: sent {key}");
        }
    }
}

/// Stores the audit entries of the requests every second until shutdown,
/// then the last ones.
pub async fn run_audit(state: Arc<AppState>) {
    state.auditor.run(state.shutdown.clone()).await;
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("alert rules: {0}")]
    Alerts(String),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "refusing to listen on {0} with the development contact key: anyone could reverse a contact \
         hash by hashing phone numbers; set MINYI_HMAC_KEY (or hmac_key) to a secret of 16 bytes or more"
    )]
    DevKeyBeyondLoopback(SocketAddr),
    #[error(transparent)]
    Dashboards(#[from] dashboards::DashboardError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipelines::PipelineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole app: the API, the web assets (built in, or from `web_dir`),
/// and the maps a centre configured as GeoJSON under `<dashboards_dir>/geo`.
pub fn app(state: Arc<AppState>) -> Router {
    let geo = ServeDir::new(state.dashboards_dir.join("geo"));
    let walls = state
        .panels
        .dashboards
        .iter()
        .map(|d| d.name.clone())
        .collect();
    let web = assets::routes(state.web_dir.as_deref(), walls);
    let guard = axum::middleware::from_fn_with_state(state.clone(), guard::middleware);
    // Outside the guard: refused requests are audited too.
    let audit = axum::middleware::from_fn_with_state(state.clone(), audit::middleware);
    let state_limits = state.limits;
    api::routes(state)
        // Not an operation, so not in the document: a mistyped API path,
        // before the web's fallback takes it.
        .route("/api/{*rest}", axum::routing::any(api::no_such_route))
        .nest_service("/geo", geo)
        .merge(web)
        .layer(guard)
        .layer(audit)
        .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
            state_limits.body_timeout,
        ))
        .layer(axum::middleware::from_fn(api::log_requests))
}

/// The maps available under `<dashboards_dir>/geo` (`name.json` → `name`).
pub fn geo_maps(dashboards_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dashboards_dir.join("geo"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub demo: bool,
    pub checked: Checked,
}

/// `minyi serve`: the SQLite store under `data`, the demo feed if asked.
pub async fn serve(opts: ServeOptions, shutdown: CancellationToken) -> Result<(), ServeError> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(
        &opts.data,
        QuerySettings::from_config(&opts.checked),
    )?);
    let what = format!(
        "{} ({})",
        opts.data.display(),
        if opts.demo {
            "demo feed on"
        } else {
            "demo feed off"
        }
    );
    let demo = opts.demo;
    run(
        "serve",
        opts.listen,
        &opts.checked,
        // Row numbers never go back.
        (store, Duration::ZERO),
        &what,
        shutdown,
        move |state, tasks| {
            if demo {
                tasks.spawn(crate::demo::run(
                    state.ingest.clone(),
                    state.tz,
                    state.demo_rate,
                    state.demo_backfill,
                    state.shutdown.clone(),
                ));
            }
        },
    )
    .await
}

pub struct ApiOptions {
    pub listen: SocketAddr,
    /// ClickHouse HTTP address, e.g. `http://127.0.0.1:8123`.
    pub clickhouse: String,
    pub database: String,
    pub checked: Checked,
}

/// `minyi api`: the same API, screens and alerts over ClickHouse, which
/// `minyi ingest` fills; the live ticker follows the newly stored rows.
pub async fn api(opts: ApiOptions, shutdown: CancellationToken) -> Result<(), ServeError> {
    let settings = QuerySettings::from_config(&opts.checked);
    let ch = ClickHouseStore::connect_db(&opts.clickhouse, &opts.database, settings).await?;
    if !ch.schema_ready().await? {
        return Err(ServeError::Store(StoreError::ClickHouse(format!(
            "no minyi tables in database {:?} at {}: run `minyi migrate --clickhouse {}` first",
            opts.database, opts.clickhouse, opts.clickhouse
        ))));
    }
    let what = format!("ClickHouse {} database {}", opts.clickhouse, opts.database);
    let tail_store = ch.clone();
    let store: Arc<dyn Store> = Arc::new(ch);
    run(
        "api",
        opts.listen,
        &opts.checked,
        (store, crate::tracker::CLICKHOUSE_SETTLE),
        &what,
        shutdown,
        move |state, tasks| {
            let enricher = state.enricher.clone();
            tasks.spawn(crate::live::follow_clickhouse(
                state.live.clone(),
                tail_store,
                move || enricher.now(),
                state.shutdown.clone(),
            ));
        },
    )
    .await
}

/// Runs the server over `store` until `shutdown` is cancelled, then shuts
/// down in order. `extra` starts the tasks of the variant (demo feed,
/// ClickHouse follower). `settle`: how long the store's order of storing
/// may show an item after a newer one (the incident tracker's
/// [`crate::tracker::Tracker::settle`]).
async fn run(
    command: &str,
    listen: SocketAddr,
    checked: &Checked,
    (store, settle): (Arc<dyn Store>, Duration),
    what: &str,
    shutdown: CancellationToken,
    extra: impl FnOnce(&Arc<AppState>, &mut tokio::task::JoinSet<()>),
) -> Result<(), ServeError> {
    let enricher = Arc::new(crate::enrich::Enricher::from_config(checked)?);
    let state = Arc::new(AppState::new(
        checked,
        enricher,
        store.clone(),
        listen,
        shutdown.clone(),
    )?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(run_ticker(state.clone()));
    tasks.spawn(run_alerts(state.clone()));
    tasks.spawn(run_reports(state.clone()));
    tasks.spawn(run_audit(state.clone()));
    tasks.spawn(crate::privacy::run_retention(
        state.store.clone(),
        state.metrics.clone(),
        state.retention_days,
        state.audit_retention_days,
        {
            let enricher = state.enricher.clone();
            move || enricher.now().timestamp()
        },
        shutdown.clone(),
    ));
    tasks.spawn(
        crate::tracker::Tracker {
            words: Arc::new(crate::incident::Vocabulary::new(state.enricher.clone())),
            store: state.store.clone(),
            live: state.live.clone(),
            window_hours: checked.incident_window_hours,
            repeat_days: checked.repeat_window_days,
            progress: state.incidents.clone(),
            settle,
        }
        .run(shutdown.clone()),
    );
    extra(&state, &mut tasks);

    // The first line is for scripts (the address, e.g. with --listen :0);
    // a closed stdout must not stop the server.
    let mut banner =
        format!("minyi {command}: listening on http://{addr}\n  wall screen:  http://{addr}/\n");
    for d in state.panels.dashboards.iter().skip(1) {
        banner.push_str(&format!("  wall screen:  http://{addr}/wall/{}\n", d.name));
    }
    banner.push_str(&format!(
        "  explorer:     http://{addr}/explore\n  supervision:  http://{addr}/supervision\n  live stream:  http://{addr}/api/v1/live\n  data:         {what}\n"
    ));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    if let Some(dir) = &checked.web_dir
        && !dir.join("wall.html").exists()
    {
        tracing::warn!(
            "web_dir {}: no wall.html there — the API works, the wall screen page does not",
            dir.display()
        );
    }

    listen::serve(listener, app(state.clone()), shutdown.clone(), state.limits).await;
    // The server has stopped taking requests and finished those in flight
    // (or dropped what was left at the deadline); stop the ticker and the
    // feeds, then let the writer drain.
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    store.close().await?;
    tracing::info!("stopped; all acknowledged data is stored");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{WriteBatch, WriteOutcome};
    use futures_util::FutureExt;
    use futures_util::future::BoxFuture;
    use std::sync::atomic::AtomicU64;
    use std::sync::atomic::Ordering::Relaxed;

    /// Answers every query with an empty answer and counts them.
    #[derive(Default)]
    struct CountingStore(AtomicU64);

    impl Store for CountingStore {
        fn write(&self, batch: WriteBatch) -> BoxFuture<'static, Result<WriteOutcome, StoreError>> {
            let n = batch.items.len();
            async move {
                Ok(WriteOutcome {
                    new_items: vec![true; n],
                    new_events: 0,
                })
            }
            .boxed()
        }

        fn query(&self, q: Query, _now: i64) -> BoxFuture<'static, Result<Answer, StoreError>> {
            self.0.fetch_add(1, Relaxed);
            let answer = match q {
                Query::Summary(_) => Answer::Summary(Default::default()),
                Query::Orders(_) => Answer::Orders(Default::default()),
                Query::Timeseries { .. } => Answer::Timeseries(crate::query::Timeseries {
                    buckets: Vec::new(),
                    series: Vec::new(),
                }),
                Query::Top { .. } => Answer::Top(Vec::new()),
                Query::Rank(_) => Answer::Rank(crate::query::Ranking {
                    rows: Vec::new(),
                    unknown: None,
                }),
                Query::Feedback { .. } => Answer::Feedback {
                    items: Vec::new(),
                    next: None,
                },
                Query::Incidents { .. } => Answer::Incidents(Vec::new()),
                Query::Revisits(_) => Answer::Revisits(Default::default()),
                Query::Supervision { status, limit, .. } => {
                    Answer::Supervision(crate::query::supervision::queue(
                        Default::default(),
                        crate::store::QuerySettings::default().deadlines(),
                        0,
                        status,
                        limit,
                        crate::config::default_timezone(),
                    ))
                }
                Query::Extent => Answer::Extent {
                    oldest: None,
                    newest: None,
                },
            };
            async move { Ok(answer) }.boxed()
        }

        fn state_load(
            &self,
            _kind: &'static str,
            _since: i64,
        ) -> BoxFuture<'static, Result<Vec<String>, StoreError>> {
            async { Ok(Vec::new()) }.boxed()
        }

        fn state_save(
            &self,
            _kind: &'static str,
            _id: String,
            _doc: String,
            _at: i64,
        ) -> BoxFuture<'static, Result<(), StoreError>> {
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

    #[test]
    fn a_scope_the_gazetteer_does_not_know_is_a_config_error_naming_it() {
        let mut checked = crate::config::Config::default().validate(None).unwrap();
        checked.file = "minyi.toml".into();
        checked.tokens = vec![crate::config::ApiToken {
            name: "分局大屏".into(),
            role: crate::config::Role::Viewer,
            sha256: [1; 32],
            districts: vec!["邯山区".into(), "火星区".into()],
            units: Vec::new(),
        }];
        let err = AppState::new(
            &checked,
            Arc::new(Enricher::builtin(b"k").unwrap()),
            Arc::new(CountingStore::default()),
            "127.0.0.1:0".parse().unwrap(),
            CancellationToken::new(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.starts_with("minyi.toml: token[0].districts:") && err.contains("火星区"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_alert_loop_evaluates_every_alert_every_until_shutdown() {
        let checked = crate::config::Config::default().validate(None).unwrap();
        let enricher = Arc::new(Enricher::builtin(b"k").unwrap());
        let store = Arc::new(CountingStore::default());
        let shutdown = CancellationToken::new();
        let state = Arc::new(
            AppState::new(
                &checked,
                enricher,
                store,
                "127.0.0.1:0".parse().unwrap(),
                shutdown.clone(),
            )
            .unwrap(),
        );
        let alerts = tokio::spawn(run_alerts(state.clone()));
        // Immediately, then every 5 s: 0, 5, 10, 15, 20.
        tokio::time::sleep(Duration::from_millis(20_100)).await;
        assert_eq!(state.metrics.alert_evaluations.load(Relaxed), 5);
        shutdown.cancel();
        alerts.await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(state.metrics.alert_evaluations.load(Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ticker_beats_at_the_configured_tick_and_stops_on_shutdown() {
        let checked = crate::config::Config::default().validate(None).unwrap();
        let enricher = Arc::new(Enricher::builtin(b"k").unwrap());
        let store = Arc::new(CountingStore::default());
        let shutdown = CancellationToken::new();
        let state = Arc::new(
            AppState::new(
                &checked,
                enricher,
                store.clone(),
                "127.0.0.1:0".parse().unwrap(),
                shutdown.clone(),
            )
            .unwrap(),
        );
        let mut panels = state.live.subscribe_panels();
        let ticker = tokio::spawn(run_ticker(state.clone()));
        // The first beat is immediate, then one per 2 s. The first computes
        // the panels recomputed only every so often (`every`) too; the
        // beats after it within that time ask the same queries each.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(state.metrics.ticks.load(Relaxed), 1);
        let first = store.0.load(Relaxed);
        tokio::time::sleep(Duration::from_millis(10_000)).await;
        assert_eq!(state.metrics.ticks.load(Relaxed), 6);
        let rest = store.0.load(Relaxed) - first;
        let per_tick = rest / 5;
        assert!(per_tick > 0 && rest % 5 == 0 && first >= per_tick);
        assert!(panels.has_changed().unwrap());
        let data: serde_json::Value =
            serde_json::from_str(panels.borrow_and_update().as_deref().unwrap()).unwrap();
        assert!(
            data["dashboards"]["wall"]["trend"]["buckets"].is_array(),
            "{data}"
        );
        shutdown.cancel();
        ticker.await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            state.metrics.ticks.load(Relaxed),
            6,
            "no beat after shutdown"
        );
    }
}
