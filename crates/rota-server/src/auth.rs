//! OAuth 2.0 client credentials (RFC 6749 §4.4): `POST /oauth/token` issues bearer tokens;
//! every `/api` route takes the caller from one. Secrets and tokens are random 256-bit
//! strings, stored only as SHA-256 hashes.

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rota_app::AppError;
pub use rota_app::Caller;

use crate::error::ApiError;
use crate::startup::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token))
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
    let issued = match state.app.issue_token(&client_id, &secret, address).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut response = Json(TokenResponse {
        access_token: issued.access_token,
        token_type: "bearer".into(),
        expires_in: issued.expires_in,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The token of an `Authorization: Bearer …` header; the scheme is case-insensitive (RFC 9110
/// §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))?;
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let caller = state.app.authenticate(token, address).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
