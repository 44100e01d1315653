//! Rate limits per OAuth client: a token bucket (GCRA, governor) of `rate_limit_per_minute`
//! with a burst of `rate_limit_burst`. Every `/api` response tells the client where it stands
//! (`X-RateLimit-*` and the IETF `RateLimit`/`RateLimit-Policy` fields), so a well-behaved
//! client can pace itself and rarely meet a 429; a 429 carries `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::startup::AppState;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The limiter of this process. On SQLite (one node) the quota is kept in memory; on
/// PostgreSQL, where several nodes share the database, it is kept in the database
/// (`PgStore::take_quota`), so a client's quota holds across nodes.
pub struct RateLimits {
    limiter: Limiter,
    clock: DefaultClock,
    quota: Quota,
    per_minute: u32,
}

impl RateLimits {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
            quota,
            per_minute: per_minute.get(),
        }
    }

    /// Seconds until a bucket with `remaining` tokens is full again.
    fn reset_after(&self, remaining: u32) -> u64 {
        let missing = self.quota.burst_size().get().saturating_sub(remaining);
        (self.quota.replenish_interval() * missing)
            .as_secs_f64()
            .ceil() as u64
    }

    fn headers(&self, headers: &mut HeaderMap, remaining: u32, reset: u64) {
        put_headers(headers, "per-client", self.per_minute, remaining, reset);
    }
}

/// The rate-limit fields of an answer under the quota `policy` of `per_minute`.
fn put_headers(headers: &mut HeaderMap, policy: &str, per_minute: u32, remaining: u32, reset: u64) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("x-ratelimit-limit", per_minute.to_string());
    put("x-ratelimit-remaining", remaining.to_string());
    put("x-ratelimit-reset", reset.to_string());
    put(
        "ratelimit-policy",
        format!("\"{policy}\";q={per_minute};w=60"),
    );
    put("ratelimit", format!("\"{policy}\";r={remaining};t={reset}"));
}

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // The caller is cached in the request, so the handler does not authenticate again.
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(c) => c,
        Err(e) => {
            // Locked out for failed authentications: the answer says which quota it met and
            // when it frees up, in the same fields as every other /api answer.
            let locked_for = match &e {
                ApiError::App(rota_app::AppError::RateLimited { retry_after }) => {
                    Some(*retry_after)
                }
                _ => None,
            };
            let mut response = e.into_response();
            if let Some(reset) = locked_for {
                put_headers(
                    response.headers_mut(),
                    "failed-authentications",
                    state.config.failed_authentications_per_minute,
                    0,
                    reset,
                );
            }
            return response;
        }
    };
    let request = Request::from_parts(parts, body);
    let limits = &state.rate_limits;
    // One bucket per client: in memory on SQLite (one node), in the database on PostgreSQL,
    // where several nodes share it. A database that cannot take the bucket's write (read-only
    // after a failover, unreachable) leaves the node to limit on its own meanwhile, so reads
    // go on.
    let local = || {
        limits
            .limiter
            .check_key(&caller.0.client_id)
            .map(|snapshot| snapshot.remaining_burst_capacity())
            .map_err(|not_until| not_until.wait_time_from(limits.clock.now()))
    };
    let shared = state
        .app
        .take_shared_quota(
            &caller.0.client_id,
            limits.quota.replenish_interval(),
            limits.quota.burst_size().get(),
        )
        .await;
    let taken = match shared {
        Some(Ok(taken)) => taken,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "the shared rate limit is out of reach; limiting on this node");
            local()
        }
        None => local(),
    };
    match taken {
        Ok(remaining) => {
            let mut response = next.run(request).await;
            limits.headers(
                response.headers_mut(),
                remaining,
                limits.reset_after(remaining),
            );
            response
        }
        Err(wait) => {
            let retry_after = wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
            let mut response =
                ApiError::from(rota_app::AppError::RateLimited { retry_after }).into_response();
            limits.headers(response.headers_mut(), 0, limits.reset_after(0));
            response
        }
    }
}
