//! The typed client SDK for the rota HTTP API: one method per endpoint, every failure a
//! [`ClientError`] carrying the server's problem body (code, request id) when there is one.
//!
//! - [`retry`]: the retry policy, its budget and rate-limit pacing.
//! - [`batch`]: the bulk swap runner (stale-intent checks, idempotent retries, per-swap report).
//!
//! HTTPS through rustls with the ring provider and the platform's certificate verifier.
#![forbid(unsafe_code)]

pub mod batch;
pub mod retry;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use rota_api::problem::Problem;
use rota_api::schedules::{Page, ScheduleBody};
use rota_api::swaps::{SwapRequestBody, SwapResponseBody};
use rota_core::directory::{Agent, AvailabilityDoc, BusinessUnit};
use rota_core::schedule::Schedule;
use rota_core::trade::{BusinessUnitSettings, Trade};
use rota_core::webhook::{Delivery, Subscription};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem body.
    #[error("{} {}: {}", .problem.status, .problem.code.as_str(), .problem.detail)]
    Problem {
        problem: Box<Problem>,
        headers: Box<HeaderMap>,
    },
    /// The server answered something that is not the expected JSON.
    #[error("unexpected {status} response: {body}")]
    Unexpected { status: StatusCode, body: String },
    /// No answer: connection refused, reset, timed out.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

impl ClientError {
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Problem { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// A successful answer: the body (`None` for 304), the status and the headers.
#[derive(Debug)]
pub struct Reply<T> {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Option<T>,
}

impl<T> Reply<T> {
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> Option<&str> {
        self.headers.get("etag").and_then(|v| v.to_str().ok())
    }

    /// The body, or an error for a bodiless answer (304).
    pub fn into_body(self) -> Result<T, ClientError> {
        let status = self.status;
        self.body.ok_or(ClientError::Unexpected {
            status,
            body: "no body".into(),
        })
    }
}

/// Extra headers for one call: request id (under any name), conditional headers.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub headers: Vec<(String, String)>,
}

impl CallOptions {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    bearer: Option<String>,
}

impl Client {
    /// `base_url` like `http://127.0.0.1:8080`.
    pub fn new(base_url: &str) -> Self {
        // reqwest is built without a crypto provider of its own: install ring once per process
        // (an error only means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::new(),
            base: base_url.trim_end_matches('/').to_owned(),
            bearer: None,
        }
    }

    /// The same client, sending `token` as its bearer token.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// Client-credentials grant: a token for `client_id` (sent with HTTP Basic).
    pub async fn token(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<rota_api::oauth::TokenResponse, ClientError> {
        let response = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
            status,
            body: e.to_string(),
        })
    }

    /// Sends any request: the escape hatch the typed methods are built on, and what tests of
    /// malformed input use.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        options: &CallOptions,
    ) -> Result<reqwest::Response, ClientError> {
        // Every mutating request carries an Idempotency-Key: the caller's, or a fresh one, so
        // that whoever re-sends the same request object cannot apply it twice.
        let mutating = matches!(method, Method::POST | Method::PUT | Method::PATCH);
        let keyed = options
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("idempotency-key"));
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if mutating && !keyed {
            request = request.header("idempotency-key", uuid::Uuid::now_v7().to_string());
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in &options.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                request = request.header(n, v);
            }
        }
        if let Some((bytes, content_type)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        Ok(request.send().await?)
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        options: &CallOptions,
    ) -> Result<Reply<T>, ClientError> {
        let body = body
            .map(|b| serde_json::to_vec(b).map(|v| (v, "application/json")))
            .transpose()
            .map_err(|e| ClientError::Unexpected {
                status: StatusCode::BAD_REQUEST,
                body: e.to_string(),
            })?;
        decode(self.send_raw(method, path, body, options).await?).await
    }

    pub async fn health(&self) -> Result<Reply<serde_json::Value>, ClientError> {
        self.health_with(&CallOptions::default()).await
    }

    pub async fn health_with(
        &self,
        options: &CallOptions,
    ) -> Result<Reply<serde_json::Value>, ClientError> {
        self.call::<(), _>(Method::GET, "/healthz", None, options)
            .await
    }

    pub async fn ready(&self) -> Result<Reply<serde_json::Value>, ClientError> {
        self.call::<(), _>(Method::GET, "/readyz", None, &CallOptions::default())
            .await
    }

    pub async fn business_units(&self) -> Result<Reply<Page<BusinessUnit>>, ClientError> {
        self.call::<(), _>(
            Method::GET,
            "/api/v2/wfm/business-units",
            None,
            &CallOptions::default(),
        )
        .await
    }

    pub async fn agents(
        &self,
        business_unit: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Reply<Page<Agent>>, ClientError> {
        let path = format!(
            "/api/v2/wfm/business-units/{business_unit}/agents?offset={offset}&limit={limit}"
        );
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    pub async fn set_availability(
        &self,
        agent: &str,
        doc: &AvailabilityDoc,
    ) -> Result<Reply<Agent>, ClientError> {
        let path = format!("/api/v2/wfm/agents/{agent}/availability");
        self.call(Method::PUT, &path, Some(doc), &CallOptions::default())
            .await
    }

    /// The schedule with a page of its shifts; `If-None-Match` in `options` may answer 304.
    pub async fn schedule(
        &self,
        id: &str,
        query: &str,
        options: &CallOptions,
    ) -> Result<Reply<ScheduleBody>, ClientError> {
        let path = format!(
            "/api/v2/wfm/schedules/{id}{}",
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        self.call::<(), _>(Method::GET, &path, None, options).await
    }

    /// `GET …/versions[?query]`: a page of versions, or with `since=` the changes after one.
    pub async fn versions(
        &self,
        id: &str,
        query: &str,
    ) -> Result<Reply<serde_json::Value>, ClientError> {
        let path = format!("/api/v2/wfm/schedules/{id}/versions?{query}");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    pub async fn schedule_as_of(
        &self,
        id: &str,
        version_id: &str,
    ) -> Result<Reply<serde_json::Value>, ClientError> {
        let path = format!("/api/v2/wfm/schedules/{id}/versions/{version_id}");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    pub async fn publish(
        &self,
        id: &str,
        options: &CallOptions,
    ) -> Result<Reply<Schedule>, ClientError> {
        let path = format!("/api/v2/wfm/schedules/{id}/publish");
        self.call::<(), _>(Method::POST, &path, None, options).await
    }

    pub async fn shift_swaps(
        &self,
        body: &SwapRequestBody,
        options: &CallOptions,
    ) -> Result<Reply<SwapResponseBody>, ClientError> {
        self.call(
            Method::POST,
            "/api/v2/wfm/schedules/shift-swaps",
            Some(body),
            options,
        )
        .await
    }

    /// A supervisor edit: `body` is `{"expectedVersion": n, "change": {...}}`.
    pub async fn edit_shift(
        &self,
        shift: &str,
        body: &serde_json::Value,
        options: &CallOptions,
    ) -> Result<Reply<SwapResponseBody>, ClientError> {
        let path = format!("/api/v2/wfm/shifts/{shift}/edits");
        self.call(Method::POST, &path, Some(body), options).await
    }

    /// An agent's week: `{scheduleId, scheduleVersionId, weekStart, shifts, openShifts}`.
    pub async fn my_schedule(&self, week: &str) -> Result<Reply<serde_json::Value>, ClientError> {
        let path = format!("/api/v2/wfm/agents/me/schedule?weekDate={week}");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    /// An agent picks up an open shift.
    pub async fn pickup(&self, shift: &str) -> Result<Reply<SwapResponseBody>, ClientError> {
        let path = format!("/api/v2/wfm/agents/me/shifts/{shift}/pickup");
        self.call::<(), _>(Method::POST, &path, None, &CallOptions::default())
            .await
    }

    /// An agent releases their shift.
    pub async fn release(&self, shift: &str) -> Result<Reply<SwapResponseBody>, ClientError> {
        let path = format!("/api/v2/wfm/agents/me/shifts/{shift}/release");
        self.call::<(), _>(Method::POST, &path, None, &CallOptions::default())
            .await
    }

    /// Offers a shift: `{"shiftId", "targetAgentId"?, "acceptableIntervals"?, "expiresAt"}`.
    pub async fn create_trade(
        &self,
        body: &serde_json::Value,
    ) -> Result<Reply<Trade>, ClientError> {
        self.call(
            Method::POST,
            "/api/v2/wfm/trades",
            Some(body),
            &CallOptions::default(),
        )
        .await
    }

    pub async fn trade(&self, id: &str) -> Result<Reply<Trade>, ClientError> {
        let path = format!("/api/v2/wfm/trades/{id}");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    /// `query`: `state=…&businessUnitId=…`, or empty.
    pub async fn trades(&self, query: &str) -> Result<Reply<Page<Trade>>, ClientError> {
        let path = format!("/api/v2/wfm/trades?{query}");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    /// Matches a trade: `{"version", "shiftId"?}`.
    pub async fn match_trade(
        &self,
        id: &str,
        body: &serde_json::Value,
    ) -> Result<Reply<Trade>, ClientError> {
        let path = format!("/api/v2/wfm/trades/{id}/match");
        self.call(Method::POST, &path, Some(body), &CallOptions::default())
            .await
    }

    pub async fn cancel_trade(&self, id: &str, version: u32) -> Result<Reply<Trade>, ClientError> {
        let path = format!("/api/v2/wfm/trades/{id}/cancel");
        let body = serde_json::json!({ "version": version });
        self.call(Method::POST, &path, Some(&body), &CallOptions::default())
            .await
    }

    /// A supervisor's reviews: `{"reviews": [{"tradeId", "version", "decision", "reason"?}]}`;
    /// answers `{"results": [...]}` in request order.
    pub async fn review_trades(
        &self,
        body: &serde_json::Value,
    ) -> Result<Reply<serde_json::Value>, ClientError> {
        self.call(
            Method::POST,
            "/api/v2/wfm/trades/reviews",
            Some(body),
            &CallOptions::default(),
        )
        .await
    }

    pub async fn set_settings(
        &self,
        business_unit: &str,
        settings: &BusinessUnitSettings,
    ) -> Result<Reply<BusinessUnitSettings>, ClientError> {
        let path = format!("/api/v2/wfm/business-units/{business_unit}/settings");
        self.call(Method::PUT, &path, Some(settings), &CallOptions::default())
            .await
    }

    /// Subscribes `{"url", "events", "secret"?}`; answers the subscription with its secret.
    pub async fn create_webhook(
        &self,
        business_unit: &str,
        body: &serde_json::Value,
    ) -> Result<Reply<serde_json::Value>, ClientError> {
        let path = format!("/api/v2/wfm/business-units/{business_unit}/webhooks");
        self.call(Method::POST, &path, Some(body), &CallOptions::default())
            .await
    }

    pub async fn webhook(&self, id: &str) -> Result<Reply<Subscription>, ClientError> {
        let path = format!("/api/v2/wfm/webhooks/{id}");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }

    /// `{"url"?, "events"?, "enabled"?}`.
    pub async fn update_webhook(
        &self,
        id: &str,
        body: &serde_json::Value,
    ) -> Result<Reply<Subscription>, ClientError> {
        let path = format!("/api/v2/wfm/webhooks/{id}");
        self.call(Method::PATCH, &path, Some(body), &CallOptions::default())
            .await
    }

    pub async fn webhook_deliveries(&self, id: &str) -> Result<Reply<Page<Delivery>>, ClientError> {
        let path = format!("/api/v2/wfm/webhooks/{id}/deliveries?limit=1000");
        self.call::<(), _>(Method::GET, &path, None, &CallOptions::default())
            .await
    }
}

/// Turns a response into a reply or the error its problem body describes.
pub async fn decode<T: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<Reply<T>, ClientError> {
    let status = response.status();
    let headers = response.headers().clone();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Reply {
            status,
            headers,
            body: None,
        });
    }
    let bytes = response.bytes().await?;
    if status.is_success() {
        let body = serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
            status,
            body: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
        })?;
        return Ok(Reply {
            status,
            headers,
            body: Some(body),
        });
    }
    match serde_json::from_slice::<Problem>(&bytes) {
        Ok(problem) => Err(ClientError::Problem {
            problem: Box::new(problem),
            headers: Box::new(headers),
        }),
        Err(_) => Err(ClientError::Unexpected {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn https_base_urls_are_supported() {
        // Nothing listens on port 9: the failure must be the connection, not the scheme.
        let err = Client::new("https://127.0.0.1:9")
            .health()
            .await
            .unwrap_err();
        match err {
            ClientError::Transport(e) => assert!(e.is_connect(), "{e:?}"),
            other => panic!("{other}"),
        }
    }
}
