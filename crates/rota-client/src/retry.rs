//! The one retry policy of the SDK, and the budget that keeps a batch from amplifying a storm.
//!
//! - 409 `VERSION_CONFLICT`: retry soon (a short, near-constant delay that grows slowly with
//!   repeated conflicts) after re-deciding which items are still worth sending — a conflict is
//!   news about the schedule, not about load.
//! - 429 and 503: wait `Retry-After` exactly, capped; without it, exponential backoff with full
//!   jitter (AWS architecture blog, "Exponential Backoff And Jitter").
//! - Connection errors, timeouts and other 5xx: the same backoff, re-sending with the same
//!   `Idempotency-Key`, so a request that committed before its answer was lost is replayed.
//! - Any other 4xx: never retried.
//! - Every retry spends from a [`RetryBudget`]; an empty budget stops retrying.
//! - An outage (no connection, 503) is waited out instead ([`Retrier::decide_outage`]): it
//!   spends neither attempts nor budget, which are for conflicts and faults of the request,
//!   until it has lasted [`RetryPolicy::outage_limit`].

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What an attempt came back with, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 409 VERSION_CONFLICT.
    Conflict,
    /// 429, with its `Retry-After` if any.
    Throttled { retry_after: Option<Duration> },
    /// 503, with its `Retry-After` if any.
    Unavailable { retry_after: Option<Duration> },
    /// No answer: refused, reset, timed out.
    Transport,
    /// Another 5xx.
    Server,
    /// Another 4xx: the request itself is wrong.
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then send again (for a conflict: re-decide the items first).
    RetryAfter(Duration),
    /// Stop: report the failure.
    GiveUp(GiveUpReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    NotRetryable,
    AttemptsExhausted,
    BudgetExhausted,
    /// The service stayed unreachable or unavailable longer than the policy waits.
    OutageTooLong,
}

/// The policy's settings; the defaults suit a weekly batch.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Base of the exponential backoff (the user's `retry_delay_ms`).
    pub base: Duration,
    /// Ceiling of any backoff delay.
    pub cap: Duration,
    /// Ceiling on a server's `Retry-After`.
    pub retry_after_cap: Duration,
    /// Delay before re-sending after a conflict; grows by half of itself per further conflict.
    pub conflict_delay: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// How long a request waits out an outage (no connection, 503) before it gives up.
    pub outage_limit: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
            retry_after_cap: Duration::from_secs(60),
            conflict_delay: Duration::from_millis(20),
            max_attempts: 8,
            outage_limit: Duration::from_secs(300),
        }
    }
}

/// Retries allowed across a whole batch: at most `ratio` of the requests sent, plus `floor`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudget {
    ratio: f64,
    floor: u64,
    requests: u64,
    retries: u64,
}

impl RetryBudget {
    pub fn new(ratio: f64, floor: u64) -> Self {
        Self {
            ratio,
            floor,
            requests: 0,
            retries: 0,
        }
    }

    /// Counts a first attempt.
    pub fn record_request(&mut self) {
        self.requests += 1;
    }

    /// Spends one retry if the budget allows it.
    pub fn try_spend(&mut self) -> bool {
        let allowed = self.floor as f64 + self.ratio * self.requests as f64;
        if (self.retries as f64) < allowed {
            self.retries += 1;
            true
        } else {
            false
        }
    }

    pub fn retries(&self) -> u64 {
        self.retries
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(0.2, 10)
    }
}

/// The policy with its random source; seed it for reproducible delays.
#[derive(Debug, Clone)]
pub struct Retrier {
    pub policy: RetryPolicy,
    rng: ChaCha8Rng,
}

impl Retrier {
    pub fn new(policy: RetryPolicy, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => ChaCha8Rng::seed_from_u64(seed),
            None => ChaCha8Rng::from_rng(&mut rand::rng()),
        };
        Self { policy, rng }
    }

    /// Full jitter, drawn from this retrier's own (seedable) source.
    fn backoff(&mut self, retry: u32) -> Duration {
        let rng = &mut self.rng;
        rota_core::backoff::full_jitter(self.policy.base, self.policy.cap, retry, |max| {
            rng.random_range(0..=max)
        })
    }

    /// What to do after `failure` on attempt number `attempt` (1 for the first).
    pub fn decide(&mut self, attempt: u32, failure: Failure, budget: &mut RetryBudget) -> Decision {
        if failure == Failure::Client {
            return Decision::GiveUp(GiveUpReason::NotRetryable);
        }
        if attempt >= self.policy.max_attempts {
            return Decision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        if !budget.try_spend() {
            return Decision::GiveUp(GiveUpReason::BudgetExhausted);
        }
        let retry = attempt - 1;
        let delay = match failure {
            Failure::Conflict => {
                let base = self.policy.conflict_delay;
                let grown = base + base.mul_f64(0.5 * f64::from(retry));
                // A little jitter (±10%) so clients that conflicted together do not retry together.
                grown.mul_f64(self.rng.random_range(0.9..=1.1))
            }
            Failure::Throttled {
                retry_after: Some(d),
            }
            | Failure::Unavailable {
                retry_after: Some(d),
            } => d.min(self.policy.retry_after_cap),
            Failure::Throttled { retry_after: None }
            | Failure::Unavailable { retry_after: None }
            | Failure::Transport
            | Failure::Server => self.backoff(retry),
            Failure::Client => Duration::ZERO,
        };
        Decision::RetryAfter(delay)
    }
}

impl Failure {
    /// Whether the failure says the service is down or refusing work for now, not that this
    /// request met something: no connection, or 503.
    pub fn is_outage(self) -> bool {
        matches!(self, Self::Transport | Self::Unavailable { .. })
    }
}

impl Retrier {
    /// What to do in an outage that has lasted `elapsed` so far, after `waits` waits in it: wait
    /// (`Retry-After`, capped, or backoff with full jitter), spending neither attempts nor
    /// budget, until the outage has lasted [`RetryPolicy::outage_limit`].
    pub fn decide_outage(&mut self, failure: Failure, waits: u32, elapsed: Duration) -> Decision {
        if elapsed >= self.policy.outage_limit {
            return Decision::GiveUp(GiveUpReason::OutageTooLong);
        }
        let delay = match failure {
            Failure::Unavailable {
                retry_after: Some(d),
            } => d.min(self.policy.retry_after_cap),
            _ => self.backoff(waits),
        };
        Decision::RetryAfter(delay.min(self.policy.outage_limit - elapsed))
    }
}

/// Paces requests from the rate-limit headers: while the bucket has more tokens than there are
/// requests in flight, go on; below that, wait the time one token takes to come back
/// (`limit_per_minute` from `X-RateLimit-Limit`), so the batch slows to the sustained rate
/// instead of running the bucket dry and meeting 429s.
pub fn pace(remaining: u64, limit_per_minute: u64, in_flight: u64) -> Duration {
    if remaining > in_flight.max(1) {
        Duration::ZERO
    } else {
        Duration::from_secs(60) / u32::try_from(limit_per_minute.max(1)).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_delays_stay_within_the_full_jitter_bounds() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let mut r = Retrier::new(policy, Some(42));
        let mut budget = RetryBudget::new(1.0, 10_000);
        for attempt in 1..8 {
            let ceiling =
                (Duration::from_millis(100) * 2u32.pow(attempt - 1)).min(Duration::from_secs(2));
            let mut seen_max = Duration::ZERO;
            for _ in 0..200 {
                let Decision::RetryAfter(d) = r.decide(attempt, Failure::Server, &mut budget)
                else {
                    panic!()
                };
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
                seen_max = seen_max.max(d);
            }
            // Full jitter spreads over the whole range, not just near zero.
            assert!(
                seen_max > ceiling / 2,
                "attempt {attempt}: max {seen_max:?}"
            );
        }
    }

    #[test]
    fn an_outage_is_waited_out_without_spending_attempts_or_budget_until_its_limit() {
        let policy = RetryPolicy {
            outage_limit: Duration::from_secs(120),
            ..RetryPolicy::default()
        };
        let mut r = Retrier::new(policy, Some(1));
        let unavailable = Failure::Unavailable {
            retry_after: Some(Duration::from_secs(1)),
        };
        assert!(unavailable.is_outage() && Failure::Transport.is_outage());
        assert!(!Failure::Conflict.is_outage() && !Failure::Server.is_outage());
        // Far more waits than attempts or budget would allow, all granted inside the limit.
        let mut elapsed = Duration::ZERO;
        for waits in 0..100 {
            let Decision::RetryAfter(d) = r.decide_outage(unavailable, waits, elapsed) else {
                panic!("gave up after {waits} waits at {elapsed:?}");
            };
            assert_eq!(d, Duration::from_secs(1));
            elapsed += d;
        }
        // Backoff without Retry-After stays under the cap and the time left.
        let Decision::RetryAfter(d) =
            r.decide_outage(Failure::Transport, 30, Duration::from_secs(110))
        else {
            panic!()
        };
        assert!(d <= Duration::from_secs(10), "{d:?}");
        assert_eq!(
            r.decide_outage(Failure::Transport, 0, Duration::from_secs(120)),
            Decision::GiveUp(GiveUpReason::OutageTooLong)
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let delays = |seed| {
            let mut r = Retrier::new(RetryPolicy::default(), Some(seed));
            let mut b = RetryBudget::new(1.0, 100);
            (1..6)
                .map(|a| r.decide(a, Failure::Transport, &mut b))
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(7), delays(7));
        assert_ne!(delays(7), delays(8));
    }

    #[test]
    fn retry_after_is_honoured_exactly_and_capped() {
        let mut r = Retrier::new(RetryPolicy::default(), Some(1));
        let mut b = RetryBudget::default();
        let wait = |s| Some(Duration::from_secs(s));
        assert_eq!(
            r.decide(
                1,
                Failure::Throttled {
                    retry_after: wait(3)
                },
                &mut b
            ),
            Decision::RetryAfter(Duration::from_secs(3))
        );
        assert_eq!(
            r.decide(
                1,
                Failure::Unavailable {
                    retry_after: wait(600)
                },
                &mut b
            ),
            Decision::RetryAfter(Duration::from_secs(60))
        );
    }

    #[test]
    fn conflicts_retry_soon_and_escalate_slowly() {
        let mut r = Retrier::new(RetryPolicy::default(), Some(3));
        let mut b = RetryBudget::default();
        let Decision::RetryAfter(first) = r.decide(1, Failure::Conflict, &mut b) else {
            panic!()
        };
        let Decision::RetryAfter(fourth) = r.decide(4, Failure::Conflict, &mut b) else {
            panic!()
        };
        assert!(first <= Duration::from_millis(22), "{first:?}");
        assert!(
            fourth > first && fourth <= Duration::from_millis(56),
            "{fourth:?}"
        );
    }

    #[test]
    fn client_errors_are_never_retried_and_attempts_run_out() {
        let mut r = Retrier::new(RetryPolicy::default(), Some(3));
        let mut b = RetryBudget::default();
        assert_eq!(
            r.decide(1, Failure::Client, &mut b),
            Decision::GiveUp(GiveUpReason::NotRetryable)
        );
        assert_eq!(
            r.decide(8, Failure::Server, &mut b),
            Decision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
        assert_eq!(b.retries(), 0);
    }

    #[test]
    fn an_exhausted_budget_stops_retries() {
        let mut r = Retrier::new(RetryPolicy::default(), Some(3));
        // 20% of 10 requests plus a floor of 2: four retries in all.
        let mut b = RetryBudget::new(0.2, 2);
        for _ in 0..10 {
            b.record_request();
        }
        for _ in 0..4 {
            assert!(matches!(
                r.decide(1, Failure::Transport, &mut b),
                Decision::RetryAfter(_)
            ));
        }
        assert_eq!(
            r.decide(1, Failure::Transport, &mut b),
            Decision::GiveUp(GiveUpReason::BudgetExhausted)
        );
        b.record_request();
        b.record_request();
        b.record_request();
        b.record_request();
        b.record_request();
        assert!(matches!(
            r.decide(1, Failure::Transport, &mut b),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn pacing_slows_to_the_sustained_rate_when_the_bucket_runs_low() {
        assert_eq!(pace(100, 300, 4), Duration::ZERO);
        assert_eq!(pace(4, 300, 4), Duration::from_millis(200));
        assert_eq!(pace(0, 60, 1), Duration::from_secs(1));
    }
}
