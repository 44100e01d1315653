//! The typed client SDK for the rota HTTP API: one method per endpoint, every failure a
//! [`ClientError`] carrying the server's problem body (code, request id) when there is one.
//!
//! - [`ops`]: every operation (method and path template) the SDK calls.
//! - `api`: a method per operation, typed with rota-api's wire types and rota-core's ids.
//! - [`retry`]: the retry policy, its budget and rate-limit pacing.
//! - `users`: portal users and their sign-in links.
//! - [`batch`]: the bulk swap runner (stale-intent checks, idempotent retries, per-swap report).
//! - [`batch_input`]: a batch's swaps from CSV, JSON or JSON Lines, checked row by row.
//!
//! HTTPS through rustls with the ring provider and the platform's certificate verifier.
#![forbid(unsafe_code)]

mod api;
pub mod batch;
pub mod batch_input;
pub mod ops;
pub mod retry;
mod time_off;
mod users;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use rota_api::problem::Problem;
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

    /// Sends any request: the escape hatch the typed methods are built on, and what tests of
    /// malformed input use.
    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The bearer token the client sends, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

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
