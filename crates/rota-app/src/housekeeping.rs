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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use jiff::{SignedDuration, Timestamp};
    use rota_core::auth::{Role, User};
    use rota_core::clock::FixedClock;
    use rota_core::store::UserStore;
    use rota_store::{Durability, SqliteStore, Store};

    use super::*;
    use crate::Settings;

    pub(crate) fn settings() -> Settings {
        Settings {
            idempotency_ttl: Duration::from_secs(24 * 3600),
            claim_lease: Duration::from_secs(61),
            max_swap_items: 500,
            token_ttl: Duration::from_secs(3600),
            allow_private_webhook_targets: false,
            tokens_per_client_minute: 30,
            tokens_per_address_minute: 600,
            failed_authentications_per_minute: 20,
        }
    }

    #[tokio::test]
    async fn expired_sessions_and_links_are_purged_when_their_time_comes_and_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rota.db").display());
        let store = Store::Sqlite(
            SqliteStore::connect(&url, Durability::Normal)
                .await
                .unwrap(),
        );
        let start: Timestamp = "2026-11-30T08:00:00Z".parse().unwrap();
        let clock = Arc::new(FixedClock::new(start));
        let app = App::new(store.clone(), clock.clone(), settings());
        let user = User::new("admin.one", "Admin One", Role::Admin, None, None).unwrap();
        store.create_user(&user).await.unwrap();
        let session = app.start_session(&user).await.unwrap();
        crate::users::create_link(&store, user.id, start)
            .await
            .unwrap();
        let at = |hours| {
            start
                .checked_add(SignedDuration::from_hours(hours))
                .unwrap()
        };
        let log = Duration::from_secs(3600);

        // Both live: nothing is forgotten, and the session still signs in.
        assert_eq!(app.housekeeping(log).await.sessions_and_links, 0);
        assert!(app.session(&session.token).await.unwrap().is_some());
        // The session ends after 12 hours, the link after 24: each is purged in its turn.
        clock.set(at(13));
        assert_eq!(app.housekeeping(log).await.sessions_and_links, 1);
        assert!(app.session(&session.token).await.unwrap().is_none());
        clock.set(at(25));
        assert_eq!(app.housekeeping(log).await.sessions_and_links, 1);
        assert_eq!(app.housekeeping(log).await.sessions_and_links, 0);
    }
}
