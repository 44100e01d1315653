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

/// What every API handler shares: the application, and what only the API edge has.
#[derive(Clone)]
pub struct AppState {
    pub app: rota_app::App,
    pub config: Arc<Config>,
    pub rate_limits: Arc<crate::rate_limit::RateLimits>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    app: rota_app::App,
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
        let wake_dispatcher = Arc::new(Notify::new());
        let app = rota_app::App::new(store, Arc::clone(&clock), settings(&config));
        let state = AppState {
            app: app.clone(),
            config: Arc::new(config.clone()),
            rate_limits: Arc::new(crate::rate_limit::RateLimits::new(
                config.rate_limit_per_minute,
                config.rate_limit_burst,
            )),
        };
        let portal = rota_portal::router(rota_portal::PortalState {
            app: app.clone(),
            own_url,
        });
        crate::telemetry::init();
        let router = routes::router(state)?
            .merge(portal)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&wake_dispatcher),
                wake_after_change,
            ))
            .layer(DefaultBodyLimit::max(config.body_limit_bytes))
            .layer(axum::middleware::from_fn_with_state(
                crate::body::BodyDeadline(config.body_read_timeout),
                crate::body::middleware,
            ))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                config.request_timeout,
            ))
            // Outside the timeout, so that a request cut short by it is logged and counted
            // with the status its client saw.
            .layer(axum::middleware::from_fn(crate::telemetry::middleware))
            .layer(axum::middleware::from_fn(request_id::middleware));
        Ok(Self {
            listener,
            router,
            app,
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
            self.app.clone(),
            std::time::Duration::from_secs(self.config.webhooks.delivery_log_hours * 60 * 60),
            shutdown.clone(),
        ));
        let sweep = tokio::spawn(expire_trades(
            self.app.clone(),
            self.config.sweep_interval,
            Arc::clone(&self.wake_dispatcher),
            shutdown.clone(),
        ));
        // Retries and leases are wall-clock matters: the dispatcher keeps real time even
        // when the domain clock is set to another day (tests, simulations).
        let dispatch = if self.config.webhooks.dispatch {
            let dispatcher = crate::webhooks::Dispatcher::new(
                self.app.store().clone(),
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
        self.app.store().close().await;
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

/// What the application is told by the service's configuration.
fn settings(config: &Config) -> rota_app::Settings {
    rota_app::Settings {
        idempotency_ttl: config.idempotency_ttl,
        // A claim outlives the request's own timeout, so it lapses only for a request that
        // died.
        claim_lease: config.request_timeout * 2 + std::time::Duration::from_secs(1),
        max_swap_items: config.max_swap_items,
        token_ttl: config.token_ttl,
        allow_private_webhook_targets: config.webhooks.allow_private_targets,
        tokens_per_client_minute: config.tokens_per_client_minute,
        tokens_per_address_minute: config.tokens_per_address_minute,
        failed_authentications_per_minute: config.failed_authentications_per_minute,
    }
}

/// Wakes the webhook dispatcher after a request (of either edge) that may have changed
/// something.
async fn wake_after_change(
    axum::extract::State(wake): axum::extract::State<Arc<Notify>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = !request.method().is_safe();
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        wake.notify_one();
    }
    response
}

/// Closes trades past their expiry (releasing their holds), until shutdown.
async fn expire_trades(
    app: rota_app::App,
    every: std::time::Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => match app.expire_trades().await {
                Ok(expired) if expired > 0 => {
                    tracing::info!(expired, "trades expired");
                    wake.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiring trades failed"),
            },
        }
    }
}

/// Hourly until shutdown: [`rota_app::App::housekeeping`].
async fn housekeeping(
    app: rota_app::App,
    delivery_log: std::time::Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60 * 60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        app.housekeeping(delivery_log).await;
    }
}
