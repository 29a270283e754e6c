//! The accept loop of `minyi serve` and `minyi api`, with the bounds a
//! server reachable by careless and hostile clients needs:
//!
//! - at most `max_connections` open connections: one more is closed at
//!   once, so a crowd of half-open connections cannot exhaust the process;
//! - a client must send its request headers within `header_timeout` (a
//!   slow or stalled client is disconnected; the body has its own timeout,
//!   [`tower_http::timeout::RequestBodyDeadlineLayer`] in [`super::app`]);
//! - on shutdown the listener closes, each connection finishes what it is
//!   doing (committed batches stay committed), and whatever is still open
//!   after `shutdown_deadline` — a client that stopped reading its event
//!   stream, a request body that never ends — is dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Bounds of the HTTP server (config: `max_connections`,
/// `header_timeout_seconds`, `body_timeout_seconds`, `shutdown_seconds`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub shutdown_deadline: Duration,
}

/// Serves `app` on `listener` until `shutdown`, then drains as above.
/// Returns how many connections were dropped at the deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    limits: Limits,
) -> usize {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut refused = 0u64;
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    "{refused} connections refused so far: {} open, the limit (max_connections)",
                    limits.max_connections
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let open = limits.max_connections - permits.available_permits();
    tokio::select! {
        _ = graceful.shutdown() => 0,
        _ = tokio::time::sleep(limits.shutdown_deadline) => {
            let left = limits.max_connections - permits.available_permits();
            tracing::warn!(
                "shutdown deadline ({:?}) passed: dropping {left} of {open} connections still open",
                limits.shutdown_deadline
            );
            left
        }
    }
}
