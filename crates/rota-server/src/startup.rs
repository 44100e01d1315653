//! The single start-up path for the binary and the tests: build, then run until stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use rota_core::clock::{Clock, SystemClock};
use rota_store::Store;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
use crate::{request_id, routes};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Injectable so that tests can run any week; the system clock in production.
    pub clock: Arc<dyn Clock>,
    pub rate_limits: Arc<crate::rate_limit::RateLimits>,
    /// Wakes the webhook dispatcher after a change, so deliveries leave at once.
    pub wake_dispatcher: Arc<Notify>,
    /// Idempotency keys held by requests of this process.
    pub in_flight: Arc<crate::idempotency::InFlight>,
    /// Bearer tokens this node has resolved.
    pub tokens: Arc<crate::auth::TokenCache>,
    /// Token issuance and failed authentication, throttled.
    pub sign_in: Arc<crate::sign_in::SignInGuard>,
    /// This node's own address over loopback (`http://127.0.0.1:PORT`): where the portal's
    /// batch runner sends its requests, through the same API as `rota batch`.
    pub own_url: Arc<str>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    clock: Arc<dyn Clock>,
    config: Config,
    wake_dispatcher: Arc<Notify>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let store = Store::connect(&config.database_url).await.map_err(|e| {
            format!(
                "cannot open the database {}: {e}",
                crate::config::redacted(&config.database_url)
            )
        })?;
        Self::with_store(config, store, Arc::new(SystemClock)).await
    }

    /// Builds on an existing store and clock (tests share one with the server they start).
    pub async fn with_store(
        config: Config,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let bound = listener.local_addr()?;
        let own_url: Arc<str> = if bound.ip().is_unspecified() {
            let loopback: std::net::IpAddr = if bound.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            format!("http://{}", SocketAddr::new(loopback, bound.port())).into()
        } else {
            format!("http://{bound}").into()
        };
        let state_store = store.clone();
        let wake_dispatcher = Arc::new(Notify::new());
        let state = AppState {
            wake_dispatcher: Arc::clone(&wake_dispatcher),
            store,
            config: Arc::new(config.clone()),
            clock: Arc::clone(&clock),
            rate_limits: Arc::new(crate::rate_limit::RateLimits::new(
                config.rate_limit_per_minute,
                config.rate_limit_burst,
            )),
            in_flight: Arc::default(),
            own_url,
            tokens: Arc::default(),
            sign_in: Arc::new(crate::sign_in::SignInGuard::new(
                config.tokens_per_client_minute,
                config.tokens_per_address_minute,
                config.failed_authentications_per_minute,
            )),
        };
        crate::telemetry::init();
        let router = routes::router()
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::rate_limit::middleware,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                wake_after_change,
            ))
            .layer(axum::middleware::from_fn(crate::telemetry::middleware))
            .with_state(state)
            .layer(DefaultBodyLimit::max(config.body_limit_bytes))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                config.request_timeout,
            ))
            .layer(axum::middleware::from_fn(request_id::middleware));
        Ok(Self {
            listener,
            router,
            store: state_store,
            clock,
            config,
            wake_dispatcher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests and closes the
    /// database connections.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let purge = tokio::spawn(housekeeping(
            self.store.clone(),
            Arc::clone(&self.clock),
            std::time::Duration::from_secs(self.config.webhooks.delivery_log_hours * 60 * 60),
            shutdown.clone(),
        ));
        let sweep = tokio::spawn(expire_trades(
            self.store.clone(),
            Arc::clone(&self.clock),
            self.config.sweep_interval,
            Arc::clone(&self.wake_dispatcher),
            shutdown.clone(),
        ));
        // Retries and leases are wall-clock matters: the dispatcher keeps real time even
        // when the domain clock is set to another day (tests, simulations).
        let dispatch = if self.config.webhooks.dispatch {
            let dispatcher = crate::webhooks::Dispatcher::new(
                self.store.clone(),
                Arc::new(SystemClock),
                self.config.webhooks.clone(),
                Arc::clone(&self.wake_dispatcher),
            )
            .map_err(std::io::Error::other)?;
            Some(tokio::spawn(dispatcher.run(shutdown.clone())))
        } else {
            None
        };
        let served = serve(
            self.listener,
            self.router,
            self.config.header_read_timeout,
            self.config.max_connections,
            shutdown,
        )
        .await;
        purge.abort();
        sweep.abort();
        // The dispatcher stops at shutdown; an attempt in flight is recorded or, if cut
        // short, its lease lapses and it is delivered again (receivers de-duplicate).
        if let Some(dispatch) = dispatch {
            let _ = dispatch.await;
        }
        self.store.close().await;
        served
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown`, then drains the connections' requests in
/// flight. A connection must send each request's headers within `header_read_timeout` of the
/// last answer (or of connecting), so slow and idle clients do not hold connections; at most
/// `max_connections` are served at once, and one beyond is closed on accept. (hyper-util's
/// automatic HTTP/1-or-2 connection first reads the HTTP/2 preface with no timeout at all, so a
/// client that connects and says nothing would hold its connection: HTTP/1.1 only.)
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    header_read_timeout: std::time::Duration,
    max_connections: usize,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors and the like: the next accept may succeed.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(
                max_connections,
                "connection refused: the server is at its connection cap"
            );
            drop(stream);
            continue;
        };
        // The peer's address, for what is throttled per source address (sign-in).
        let service = hyper_util::service::TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or times out ends its connection; nothing to report.
            let _ = connection.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// Wakes the webhook dispatcher after a request that may have changed something.
async fn wake_after_change(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = !request.method().is_safe();
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        state.wake_dispatcher.notify_one();
    }
    response
}

/// Closes trades past their expiry (releasing their holds), until shutdown.
async fn expire_trades(
    store: Store,
    clock: Arc<dyn Clock>,
    every: std::time::Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    use rota_core::store::TradeStore;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => match store.expire_trades(clock.now()).await {
                Ok(expired) if !expired.is_empty() => {
                    tracing::info!(expired = expired.len(), "trades expired");
                    wake.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiring trades failed"),
            },
        }
    }
}

/// Hourly until shutdown: forgets idempotency keys past their keeping time, expired access
/// tokens, and deliveries delivered longer ago than `delivery_log` (with the events no
/// delivery refers to any more).
async fn housekeeping(
    store: Store,
    clock: Arc<dyn Clock>,
    delivery_log: std::time::Duration,
    shutdown: CancellationToken,
) {
    use rota_core::store::{AuthStore, IdempotencyStore, WebhookStore};
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60 * 60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = clock.now();
        let log_start = now
            .checked_sub(
                jiff::SignedDuration::try_from(delivery_log).unwrap_or(jiff::SignedDuration::MAX),
            )
            .unwrap_or(jiff::Timestamp::MIN);
        let purged = [
            (
                "expired idempotency keys",
                store.purge_idempotency(now).await,
            ),
            ("expired access tokens", store.purge_tokens(now).await),
            (
                "old webhook deliveries",
                store.purge_deliveries(log_start).await,
            ),
        ];
        for (what, result) in purged {
            match result {
                Ok(n) if n > 0 => tracing::info!(purged = n, "{what}"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging {what} failed"),
            }
        }
    }
}
