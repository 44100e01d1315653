//! OAuth 2.0 client credentials (RFC 6749 §4.4): `POST /oauth/token` issues bearer tokens;
//! every `/api` route takes the caller from one. Secrets and tokens are random 256-bit
//! strings, stored only as SHA-256 hashes.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngExt;
use rota_core::auth::{Action, ApiClient, Principal, Role};
use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::store::AuthStore;
use serde::Serialize;

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::startup::AppState;

pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random secret or token: 32 bytes from a CSPRNG, base64url.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
}

/// Compares two secrets (or their hashes) in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A newly registered client and its secret, shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
    pub role: Role,
}

/// Registers a client: what `rota clients create` runs.
pub async fn create_client(
    store: &impl AuthStore,
    role: Role,
    business_unit: Option<BusinessUnitId>,
    agent: Option<AgentId>,
) -> Result<NewClient, rota_core::store::StoreError> {
    let client_id = format!("rota-{}", uuid::Uuid::now_v7().simple());
    let client_secret = generate_secret();
    store
        .create_client(&ApiClient {
            client_id: client_id.clone(),
            secret_hash: hash(&client_secret),
            role,
            business_unit,
            agent,
        })
        .await?;
    Ok(NewClient {
        client_id,
        client_secret,
        role,
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/oauth/token", post(token))
}

pub use rota_api::oauth::TokenResponse;

/// RFC 6749 §5.2: token endpoint errors have their own JSON shape.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(rota_api::oauth::OAuthError {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"rota\""),
        );
    }
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[utoipa::path(post, path = "/oauth/token", tag = "auth",
    request_body(content = rota_api::oauth::TokenRequest, content_type = "application/x-www-form-urlencoded", description = "grant_type=client_credentials, with client_id and client_secret as form fields or HTTP Basic"),
    responses((status = 200, description = "A bearer token", body = rota_api::oauth::TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type (RFC 6749 §5.2)", body = rota_api::oauth::OAuthError),
        (status = 401, description = "invalid_client (RFC 6749 §5.2)", body = rota_api::oauth::OAuthError),
        (status = 429, description = "Too many token requests from this client or address, with Retry-After", body = rota_api::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unreachable or busy, with Retry-After", body = rota_api::problem::Problem, content_type = "application/problem+json")))]
async fn token(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<rota_api::oauth::TokenRequest>, FormRejection>,
) -> Response {
    let address = peer.map(|p| p.0.0.ip());
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        // RFC 6749 §5.2: a missing parameter is `invalid_request`; a grant type this server
        // does not offer is `unsupported_grant_type`.
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required (client_credentials)",
            );
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
    }
    let basic = basic_credentials(&headers);
    if basic.is_some() && (form.client_id.is_some() || form.client_secret.is_some()) {
        // RFC 6749 §2.3: a client uses one authentication method per request.
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "authenticate one way: HTTP Basic or client_id and client_secret in the body, not both",
        );
    }
    let credentials = basic.or(form.client_id.zip(form.client_secret));
    let Some((client_id, secret)) = credentials else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client credentials are missing",
        );
    };
    // Throttled before any work: a client id or an address that keeps failing waits, and so
    // does one that asks for tokens faster than its quota.
    let keys = crate::sign_in::keys(Some(&client_id), address);
    if let Some(retry_after) = state.sign_in.blocked(&keys) {
        return ApiError::RateLimited { retry_after }.into_response();
    }
    if let Err(retry_after) = state.sign_in.issue(&client_id, address) {
        return ApiError::RateLimited { retry_after }.into_response();
    }
    let client = match state.store.client(&client_id).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(client) = client.filter(|c| same_secret(&c.secret_hash, &hash(&secret))) else {
        state.sign_in.failed(&keys);
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    };
    match state
        .store
        .live_tokens(&client.client_id, state.clock.now())
        .await
    {
        Ok(n) if n >= crate::sign_in::MAX_LIVE_TOKENS => {
            return ApiError::RateLimited { retry_after: 60 }.into_response();
        }
        Ok(_) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    let access_token = generate_secret();
    let ttl = state.config.token_ttl;
    let expires_at = state
        .clock
        .now()
        .checked_add(jiff::SignedDuration::from_secs(
            i64::try_from(ttl.as_secs()).unwrap_or(3600),
        ))
        .unwrap_or(jiff::Timestamp::MAX);
    if let Err(e) = state
        .store
        .store_token(&hash(&access_token), &client.client_id, expires_at)
        .await
    {
        return ApiError::from(e).into_response();
    }
    // Known here from the start: this node answers its own tokens without a database read,
    // even for an address that is being throttled for unknown ones.
    state
        .tokens
        .put(hash(&access_token), &client.principal(), expires_at);
    let mut response = Json(TokenResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: ttl.as_secs(),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A bearer token for `principal`, valid for `ttl`: how the portal's batch runner calls the API
/// as the person who started it. The principal's client row is made on first use, with a
/// secret nobody knows (it can never be asked for a token itself).
pub async fn token_for(
    state: &AppState,
    principal: &Principal,
    ttl: std::time::Duration,
) -> Result<String, rota_core::store::StoreError> {
    if state.store.client(&principal.client_id).await?.is_none() {
        let created = state
            .store
            .create_client(&ApiClient {
                client_id: principal.client_id.clone(),
                secret_hash: hash(&generate_secret()),
                role: principal.role,
                business_unit: principal.business_unit,
                agent: principal.agent,
            })
            .await;
        match created {
            // Made meanwhile by another request of the same person.
            Ok(()) | Err(rota_core::store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let token = generate_secret();
    let expires_at = state
        .clock
        .now()
        .checked_add(jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX))
        .unwrap_or(jiff::Timestamp::MAX);
    state
        .store
        .store_token(&hash(&token), &principal.client_id, expires_at)
        .await?;
    state.tokens.put(hash(&token), principal, expires_at);
    Ok(token)
}

/// The authenticated caller: a valid, unexpired bearer token, or 401.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// The token of an `Authorization: Bearer …` header; the scheme is case-insensitive (RFC 9110
/// §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Caller {
    /// 404 when `bu` is outside the caller's business unit (a resource there does not exist
    /// for them, and its unit is not named), 403 when the caller's role may not do `action`.
    pub fn require(&self, action: Action, bu: BusinessUnitId) -> Result<(), ApiError> {
        if self.0.may(action, bu) {
            Ok(())
        } else if self.0.business_unit.is_some_and(|own| own != bu) {
            Err(ApiError::NotFound(
                "no such resource in the client's business unit".into(),
            ))
        } else {
            Err(ApiError::Forbidden(format!(
                "client {} ({}) may not do this",
                self.0.client_id,
                self.0.role.as_str()
            )))
        }
    }

    pub fn is_agent(&self) -> bool {
        self.0.role == Role::Agent
    }
}

/// Tokens this node has seen, with their principal and expiry, so that a request does not read
/// its token from the database again. A token is taken from memory for [`KNOWN_FOR`] at most,
/// then read again: `rota clients revoke` (which deletes a client and its tokens) reaches every
/// node within that time. The expiry is checked against the same clock as the database lookup.
#[derive(Default)]
pub struct TokenCache(
    #[allow(clippy::type_complexity)]
    std::sync::Mutex<
        std::collections::HashMap<String, (Principal, jiff::Timestamp, std::time::Instant)>,
    >,
    /// Tokens found unknown lately, with when: asked again soon, they cost no database read.
    std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
);

/// How long a token found unknown is answered from memory. Short: a token issued by another
/// node a moment later is found after it.
const UNKNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a known token is answered from memory before it is read again.
pub const KNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Tokens kept at most; past this the cache starts empty again.
const MAX_CACHED_TOKENS: usize = 10_000;

impl TokenCache {
    fn get(&self, token_hash: &str, now: jiff::Timestamp) -> Option<Principal> {
        let tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens
            .get(token_hash)
            .filter(|(_, expires_at, seen)| *expires_at > now && seen.elapsed() < KNOWN_FOR)
            .map(|(principal, ..)| principal.clone())
    }

    fn is_unknown(&self, token_hash: &str) -> bool {
        let unknown = self
            .1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        unknown
            .get(token_hash)
            .is_some_and(|at| at.elapsed() < UNKNOWN_FOR)
    }

    fn forget_unknown(&self, token_hash: String) {
        let mut unknown = self
            .1
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if unknown.len() >= MAX_CACHED_TOKENS {
            unknown.retain(|_, at| at.elapsed() < UNKNOWN_FOR);
        }
        unknown.insert(token_hash, std::time::Instant::now());
    }

    fn put(&self, token_hash: String, principal: &Principal, expires_at: jiff::Timestamp) {
        let mut tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        tokens.insert(
            token_hash,
            (principal.clone(), expires_at, std::time::Instant::now()),
        );
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(|| ApiError::Unauthenticated("a bearer token is required".into()))?;
        let token_hash = hash(token);
        let now = state.clock.now();
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let keys = crate::sign_in::keys(None, address);
        let principal = match state.tokens.get(&token_hash, now) {
            Some(principal) => principal,
            None => {
                let unknown = || ApiError::InvalidToken("the token is unknown or expired".into());
                // An address that keeps sending unknown tokens, and a token just found
                // unknown, cost no database read.
                if let Some(retry_after) = state.sign_in.blocked(&keys) {
                    return Err(ApiError::RateLimited { retry_after });
                }
                if state.tokens.is_unknown(&token_hash) {
                    state.sign_in.failed(&keys);
                    return Err(unknown());
                }
                let Some((principal, expires_at)) = state.store.principal(&token_hash, now).await?
                else {
                    state.tokens.forget_unknown(token_hash);
                    state.sign_in.failed(&keys);
                    return Err(unknown());
                };
                state.tokens.put(token_hash, &principal, expires_at);
                principal
            }
        };
        let caller = Caller(principal);
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
