//! Service configuration, with a zero-configuration default.

use std::net::SocketAddr;
use std::time::Duration;

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or_default();
                    let password = if userinfo.contains(':') { ":***" } else { "" };
                    format!(
                        "{scheme}://{user}{password}@{host}{}",
                        &rest[authority_end..]
                    )
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

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
    pub webhooks: WebhookConfig,
    /// How often expired trades are closed (and their holds released).
    pub sweep_interval: Duration,
    /// How long a connection may take to send a request's headers, and how long it may stay
    /// idle between requests: a slow or silent client is closed after it.
    pub header_read_timeout: Duration,
    /// How long a request's body may take to arrive once its headers have: a body that stops
    /// short or trickles in is answered 408 and its connection closed.
    pub body_read_timeout: Duration,
    /// Connections served at once; one beyond is closed on accept.
    pub max_connections: usize,
    /// Tokens issued per minute to one client id, and to one source address.
    pub tokens_per_client_minute: u32,
    pub tokens_per_address_minute: u32,
    /// Failed authentications (a wrong secret, an unknown or expired token) a client id or an
    /// address may make per minute before it is answered 429 without any work.
    pub failed_authentications_per_minute: u32,
}

/// Webhook delivery (the `[webhooks]` table of the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Allow targets on loopback, private and link-local addresses (off: such URLs are
    /// refused, and so are names that resolve to them at delivery time).
    pub allow_private_targets: bool,
    /// Failed deliveries in a row after which a subscription is disabled.
    pub max_consecutive_failures: u32,
    /// Full-jitter backoff: the n-th retry waits a random time up to
    /// min(retry_cap, retry_base × 2ⁿ⁻¹).
    pub retry_base_ms: u64,
    pub retry_cap_secs: u64,
    /// Per attempt.
    pub timeout_secs: u64,
    /// How often the dispatcher looks for due deliveries when nothing woke it.
    pub poll_ms: u64,
    /// How long delivered events stay in the delivery log (and the event log) before the
    /// hourly housekeeping forgets them; events still owed to a subscription (pending, or
    /// behind a disabled one) stay whatever their age.
    pub delivery_log_hours: u64,
    /// Whether this node runs a dispatcher. Every node of a cluster may (each delivery is
    /// leased by one at a time); off on a node that only serves the API, and in tests that
    /// drive [`crate::webhooks::Dispatcher::round`] themselves.
    pub dispatch: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            max_consecutive_failures: 20,
            retry_base_ms: 1_000,
            retry_cap_secs: 600,
            timeout_secs: 10,
            poll_ms: 1_000,
            delivery_log_hours: 7 * 24,
            dispatch: true,
        }
    }
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
            webhooks: WebhookConfig::default(),
            sweep_interval: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            tokens_per_client_minute: 30,
            tokens_per_address_minute: 600,
            failed_authentications_per_minute: 20,
        }
    }
}

/// The configuration file (TOML). Every key is optional; flags and `ROTA_*` variables win over
/// it, and it wins over the defaults. An unknown key is an error that names it.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub max_swap_items: Option<usize>,
    pub body_limit_bytes: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub idempotency_ttl_secs: Option<u64>,
    pub token_ttl_secs: Option<u64>,
    pub rate_limit_per_minute: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub log_format: Option<String>,
    pub webhooks: Option<WebhookConfig>,
    pub sweep_interval_secs: Option<u64>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub tokens_per_client_minute: Option<u32>,
    pub tokens_per_address_minute: Option<u32>,
    pub failed_authentications_per_minute: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
}

impl FileConfig {
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source: Box::new(source),
        })
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The configuration: `overrides` (flags and environment, already merged by the caller)
    /// over this file over the defaults.
    pub fn resolve(self, overrides: FileConfig) -> Config {
        let d = Config::default();
        let secs = Duration::from_secs;
        Config {
            listen: overrides.listen.or(self.listen).unwrap_or(d.listen),
            database_url: overrides
                .database_url
                .or(self.database_url)
                .unwrap_or(d.database_url),
            max_swap_items: overrides
                .max_swap_items
                .or(self.max_swap_items)
                .unwrap_or(d.max_swap_items),
            body_limit_bytes: overrides
                .body_limit_bytes
                .or(self.body_limit_bytes)
                .unwrap_or(d.body_limit_bytes),
            request_timeout: overrides
                .request_timeout_secs
                .or(self.request_timeout_secs)
                .map_or(d.request_timeout, secs),
            idempotency_ttl: overrides
                .idempotency_ttl_secs
                .or(self.idempotency_ttl_secs)
                .map_or(d.idempotency_ttl, secs),
            token_ttl: overrides
                .token_ttl_secs
                .or(self.token_ttl_secs)
                .map_or(d.token_ttl, secs),
            rate_limit_per_minute: overrides
                .rate_limit_per_minute
                .or(self.rate_limit_per_minute)
                .unwrap_or(d.rate_limit_per_minute),
            rate_limit_burst: overrides
                .rate_limit_burst
                .or(self.rate_limit_burst)
                .unwrap_or(d.rate_limit_burst),
            webhooks: overrides.webhooks.or(self.webhooks).unwrap_or(d.webhooks),
            sweep_interval: overrides
                .sweep_interval_secs
                .or(self.sweep_interval_secs)
                .map_or(d.sweep_interval, secs),
            header_read_timeout: overrides
                .header_read_timeout_secs
                .or(self.header_read_timeout_secs)
                .map_or(d.header_read_timeout, secs),
            body_read_timeout: overrides
                .body_read_timeout_secs
                .or(self.body_read_timeout_secs)
                .map_or(d.body_read_timeout, secs),
            max_connections: overrides
                .max_connections
                .or(self.max_connections)
                .unwrap_or(d.max_connections),
            tokens_per_client_minute: overrides
                .tokens_per_client_minute
                .or(self.tokens_per_client_minute)
                .unwrap_or(d.tokens_per_client_minute),
            tokens_per_address_minute: overrides
                .tokens_per_address_minute
                .or(self.tokens_per_address_minute)
                .unwrap_or(d.tokens_per_address_minute),
            failed_authentications_per_minute: overrides
                .failed_authentications_per_minute
                .or(self.failed_authentications_per_minute)
                .unwrap_or(d.failed_authentications_per_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// examples/rota.toml names every key of the file, each at its default: a key added here
    /// without its line there (or a default changed on one side only) fails this test.
    #[test]
    fn the_example_file_names_every_key_at_its_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rota.toml");
        let file = FileConfig::load(std::path::Path::new(path)).unwrap();
        let shown = format!("{file:?}");
        assert!(
            !shown.contains("None"),
            "a key is missing from {path}: {shown}"
        );
        let from_file = format!("{:?}", file.resolve(FileConfig::default()));
        assert_eq!(from_file, format!("{:?}", Config::default()));
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let file = FileConfig::parse(
            "database_url = \"sqlite://x.db\"\nmax_swap_items = 50\nrate_limit_burst = 7\n",
        )
        .unwrap();
        let flags = FileConfig {
            max_swap_items: Some(10),
            ..FileConfig::default()
        };
        let config = file.resolve(flags);
        assert_eq!(config.max_swap_items, 10);
        assert_eq!(config.database_url, "sqlite://x.db");
        assert_eq!(config.rate_limit_burst, 7);
        assert_eq!(config.rate_limit_per_minute, 300);
        let file = FileConfig::parse("[webhooks]\nallow_private_targets = true\n").unwrap();
        let config = file.resolve(FileConfig::default());
        assert!(config.webhooks.allow_private_targets);
        assert_eq!(config.webhooks.max_consecutive_failures, 20);
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_it() {
        let err = FileConfig::parse("batch_size = 50\n").unwrap_err();
        assert!(err.to_string().contains("batch_size"), "{err}");
    }
}
