//! Throttled sign-in: how many tokens a client id and a source address may be issued per
//! minute (governor's GCRA, like the API's rate limits), and how many failed authentications
//! (a wrong secret, an unknown client, an unknown or expired bearer token) a client id or an
//! address may make per window before it is answered 429 without any work: no secret hashed
//! and compared, no database read. Per node, like the API's limits on SQLite.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Keys whose failures are remembered at most; past this the oldest windows are forgotten.
const MAX_FAILURE_KEYS: usize = 100_000;
/// Tokens a client may hold alive at once: a client that asks for a token per request is told
/// to reuse the one it has.
pub const MAX_LIVE_TOKENS: u64 = 100;

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

pub struct SignInGuard {
    issue_per_client: Limiter,
    issue_per_address: Limiter,
    clock: DefaultClock,
    /// Failed authentications a key may make per window.
    failures_per_window: u32,
    /// Per key: when its window began and its failures in it.
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

fn limiter(per_minute: u32) -> Limiter {
    let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(n).allow_burst(n))
}

/// The keys a sign-in attempt counts against.
pub fn keys(client: Option<&str>, address: Option<IpAddr>) -> Vec<String> {
    client
        .map(|c| format!("client:{c}"))
        .into_iter()
        .chain(address.map(|a| format!("address:{a}")))
        .collect()
}

/// The keys a portal password attempt counts against: its username and its address, apart from
/// the token endpoint's (a flood of wrong passwords does not slow an integration's token
/// requests from the same address, behind a NAT or a proxy).
pub fn password_keys(username: &str, address: Option<IpAddr>) -> Vec<String> {
    std::iter::once(format!("user:{}", username.trim().to_ascii_lowercase()))
        .chain(address.map(|a| format!("portal-address:{a}")))
        .collect()
}

impl SignInGuard {
    pub fn new(
        tokens_per_client_minute: u32,
        tokens_per_address_minute: u32,
        failures_per_minute: u32,
    ) -> Self {
        Self {
            issue_per_client: limiter(tokens_per_client_minute),
            issue_per_address: limiter(tokens_per_address_minute),
            clock: DefaultClock::default(),
            failures_per_window: failures_per_minute.max(1),
            failures: Mutex::default(),
        }
    }

    /// Seconds to wait if any of `keys` has failed too often in its window.
    pub fn blocked(&self, keys: &[String]) -> Option<u64> {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.wait(&failures, keys)
    }

    fn wait(&self, failures: &HashMap<String, (Instant, u32)>, keys: &[String]) -> Option<u64> {
        keys.iter()
            .filter_map(|k| failures.get(k))
            .filter(|(start, n)| *n >= self.failures_per_window && start.elapsed() < FAILURE_WINDOW)
            .map(|(start, _)| {
                FAILURE_WINDOW
                    .saturating_sub(start.elapsed())
                    .as_secs_f64()
                    .ceil() as u64
            })
            .max()
            .map(|s| s.max(1))
    }

    /// Counts a failed authentication against each of `keys`.
    pub fn failed(&self, keys: &[String]) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::count(&mut failures, keys);
    }

    fn count(failures: &mut HashMap<String, (Instant, u32)>, keys: &[String]) {
        if failures.len() >= MAX_FAILURE_KEYS {
            failures.retain(|_, (start, _)| start.elapsed() < FAILURE_WINDOW);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((Instant::now(), 0));
            if entry.0.elapsed() >= FAILURE_WINDOW {
                *entry = (Instant::now(), 0);
            }
            entry.1 += 1;
        }
    }

    /// Admits an attempt that is expensive to check (a password's verification), counting it
    /// against each of `keys` before it is checked, in the same step as the check of the
    /// window: concurrent attempts cannot all pass before any of them has failed. `Err` holds
    /// the seconds to wait. An admitted attempt that succeeds is taken back with
    /// [`SignInGuard::forgive`].
    pub fn admit(&self, keys: &[String]) -> Result<(), u64> {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(wait) = self.wait(&failures, keys) {
            return Err(wait);
        }
        Self::count(&mut failures, keys);
        Ok(())
    }

    /// Takes back an admitted attempt that succeeded.
    pub fn forgive(&self, keys: &[String]) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            if let Some(entry) = failures.get_mut(key) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    /// Takes one token issuance from the client's and the address's quotas; seconds to wait
    /// if either is spent.
    pub fn issue(&self, client: &str, address: Option<IpAddr>) -> Result<(), u64> {
        let wait = |e: governor::NotUntil<<DefaultClock as Clock>::Instant>| {
            e.wait_time_from(self.clock.now())
                .as_secs_f64()
                .ceil()
                .max(1.0) as u64
        };
        self.issue_per_client
            .check_key(&format!("client:{client}"))
            .map_err(wait)?;
        if let Some(address) = address {
            self.issue_per_address
                .check_key(&format!("address:{address}"))
                .map_err(wait)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_keeps_failing_is_blocked_and_others_are_not() {
        let guard = SignInGuard::new(1000, 1000, 20);
        let bad = keys(Some("c1"), Some("192.0.2.7".parse().unwrap()));
        let good = keys(Some("c2"), Some("198.51.100.9".parse().unwrap()));
        for _ in 0..20 - 1 {
            guard.failed(&bad);
        }
        assert_eq!(guard.blocked(&bad), None);
        guard.failed(&bad);
        let wait = guard.blocked(&bad).unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(guard.blocked(&good), None);
        // The same address with another client id is blocked too: it is the address that failed.
        assert!(
            guard
                .blocked(&keys(Some("c3"), Some("192.0.2.7".parse().unwrap())))
                .is_some()
        );
    }

    #[test]
    fn issuance_is_limited_per_client_and_per_address() {
        let guard = SignInGuard::new(3, 5, 20);
        let here: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            guard.issue("c1", here).unwrap();
        }
        assert!(
            guard.issue("c1", here).is_err(),
            "the client's quota is spent"
        );
        guard.issue("c2", here).unwrap();
        guard.issue("c3", here).unwrap();
        assert!(
            guard.issue("c4", here).is_err(),
            "the address's quota is spent"
        );
        guard
            .issue("c4", Some("192.0.2.2".parse().unwrap()))
            .unwrap();
    }
}
