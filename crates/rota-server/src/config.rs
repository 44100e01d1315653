//! Service configuration, with a zero-configuration default.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Swap items accepted in one request (TOO_MANY_ITEMS above).
    pub max_swap_items: usize,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// How long an idempotency key and its result are kept.
    pub idempotency_ttl: Duration,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Requests per minute per OAuth client, and the burst above that pace.
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://rota.db".into(),
            max_swap_items: 500,
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            token_ttl: Duration::from_secs(60 * 60),
            rate_limit_per_minute: 300,
            rate_limit_burst: 100,
        }
    }
}
