//! What the store keeps that expires: idempotency keys past their keeping time, expired access
//! tokens, portal sessions and sign-in links, old webhook deliveries, and trades past their
//! expiry. The composition root runs [`App::housekeeping`] hourly and
//! [`App::expire_trades`] every sweep interval; both take the time from the app's clock, so
//! tests step an injected clock instead of waiting.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rota_core::store::{
    AuthStore, IdempotencyStore, StoreResult, TradeStore, UserStore, WebhookStore,
};

use crate::App;

/// What one round of housekeeping forgot, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub access_tokens: u64,
    pub sessions_and_links: u64,
    pub deliveries: u64,
}

impl App {
    /// One round: forgets what expired by now, and deliveries delivered longer ago than
    /// `delivery_log` (with the events no delivery refers to any more). A kind that fails is
    /// logged and left for the next round; the others still run.
    pub async fn housekeeping(&self, delivery_log: Duration) -> Purged {
        let now = self.clock.now();
        let log_start = now
            .checked_sub(SignedDuration::try_from(delivery_log).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MIN);
        Purged {
            idempotency_keys: logged(
                "expired idempotency keys",
                self.store.purge_idempotency(now).await,
            ),
            access_tokens: logged("expired access tokens", self.store.purge_tokens(now).await),
            sessions_and_links: logged(
                "expired portal sessions and sign-in links",
                self.store.purge_sessions(now).await,
            ),
            deliveries: logged(
                "old webhook deliveries",
                self.store.purge_deliveries(log_start).await,
            ),
        }
    }

    /// Closes trades past their expiry (releasing their holds); how many.
    pub async fn expire_trades(&self) -> StoreResult<usize> {
        Ok(self.store.expire_trades(self.clock.now()).await?.len())
    }
}

fn logged(what: &str, result: StoreResult<u64>) -> u64 {
    match result {
        Ok(n) => {
            if n > 0 {
                tracing::info!(purged = n, "{what}");
            }
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "purging {what} failed");
            0
        }
    }
}
