//! `minyi ingest` and `minyi migrate`: the process around the consumer
//! ([`crate::kafka::ingest`]) — topics, schema check, the metrics endpoint,
//! signals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::config::Checked;
use crate::kafka::ingest::IngestOptions;
use crate::metrics::IngestMetrics;
use crate::store::clickhouse::ClickHouseStore;

pub struct IngestArgs {
    pub brokers: String,
    pub clickhouse: String,
    pub database: String,
    pub group: String,
    pub listen: SocketAddr,
}

/// `minyi migrate`: prints each step applied.
pub async fn migrate(url: &str, database: &str, checked: &Checked) -> anyhow::Result<()> {
    let store = ClickHouseStore::connect_db(
        url,
        database,
        crate::store::QuerySettings::from_config(checked),
    )
    .await?;
    let steps = crate::pipelines::clickhouse_schema(checked.pipelines_dir.as_deref())?;
    let applied = store.migrate(&steps).await?;
    let (major, minor) = store.version();
    if applied.is_empty() {
        tracing::info!("ClickHouse {major}.{minor} at {url}: schema up to date");
    }
    for name in applied {
        tracing::info!("ClickHouse {major}.{minor} at {url}: applied {name}");
    }
    Ok(())
}

/// `minyi ingest`: runs until SIGTERM / Ctrl-C, then writes what is
/// pending and leaves the group.
pub fn ingest(args: IngestArgs, checked: Checked) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(IngestMetrics::default());
    let store = runtime.block_on(async {
        let store = ClickHouseStore::connect_db(
            &args.clickhouse,
            &args.database,
            crate::store::QuerySettings::from_config(&checked),
        )
        .await?;
        if !store.schema_ready().await? {
            anyhow::bail!(
                "no minyi tables in database {:?} at {}: run `minyi migrate --clickhouse {}` first",
                args.database,
                args.clickhouse,
                args.clickhouse
            );
        }
        crate::kafka::ensure_topics(&args.brokers, checked.kafka_partitions)
            .await
            .context("creating the topics")?;
        Ok(store)
    })?;
    let enricher = Arc::new(
        crate::enrich::Enricher::from_config(&checked).context("loading the pipeline files")?,
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let m = metrics.clone();
    let app = Router::new()
        .route("/metrics", get(move || async move { m.render() }))
        .route("/healthz", get(|| async { "ok" }));
    let stop = shutdown.clone();
    runtime.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    runtime.spawn(on_signal(shutdown.clone()));
    println!(
        "minyi ingest: consuming {} and {} at {} as group {}; ClickHouse {} database {}; metrics on http://{addr}/metrics",
        crate::kafka::FEEDBACK_TOPIC,
        crate::kafka::EVENTS_TOPIC,
        args.brokers,
        args.group,
        args.clickhouse,
        args.database
    );
    let opts = IngestOptions {
        brokers: args.brokers,
        group: args.group,
        batch_rows: checked.ingest_batch_rows,
        batch_bytes: checked.ingest_batch_bytes,
        batch_wait: checked.ingest_batch_wait,
    };
    let handle = runtime.handle().clone();
    let m = metrics.clone();
    let result = std::thread::Builder::new()
        .name("minyi-consumer".into())
        .spawn(move || crate::kafka::ingest::run(opts, store, enricher, m, handle, shutdown))?
        .join()
        .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))?;
    result?;
    tracing::info!(
        "stopped; {} items, {} events stored, {} messages dead-lettered",
        metrics.items_stored.load(Relaxed),
        metrics.events_stored.load(Relaxed),
        metrics.dead_lettered.load(Relaxed)
    );
    Ok(())
}

async fn on_signal(shutdown: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: writing the pending batch");
    shutdown.cancel();
}
