//! What the commands' tests share: the service on port 0 over a store, on a fixed clock.

use std::net::SocketAddr;

/// Serves `store` on a free loopback port with the clock at `now`, until the guard drops.
pub async fn serve(
    store: &rota_store::Store,
    now: jiff::Timestamp,
) -> (SocketAddr, tokio_util::sync::DropGuard) {
    let config = rota_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..rota_server::Config::default()
    };
    let clock = std::sync::Arc::new(rota_core::clock::FixedClock::new(now));
    let app = rota_server::Application::with_store(config, store.clone(), clock)
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    (addr, stop.drop_guard())
}
