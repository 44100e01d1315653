//! Portal users through the API: admins create them (with a first one-time sign-in link);
//! supervisors issue new links to the agents of their unit (a new agent, a forgotten or locked
//! password). Neither goes through `Idempotency-Key`: a retried create answers 409
//! `ALREADY_EXISTS` and changes nothing, and every link request makes a fresh link, so no
//! recorded answer ever holds a sign-in secret.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rota_api::users::{NewUserBody, NewUserResponse, SignInLinkBody};
use rota_core::ids::UserId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::parse_id;
use crate::startup::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(link))
}

/// Creates a portal user and their first one-time sign-in link (24 hours; the person chooses a
/// password after using it).
#[utoipa::path(operation_id = "create_user", post, path = "/api/v2/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, description = "The user and their first sign-in link", body = NewUserResponse), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<NewUserResponse>), ApiError> {
    let created = state.app.create_user(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A new one-time sign-in link for a user: admins for anyone, supervisors for the agents of
/// their business unit. Earlier links stay valid until used or expired.
#[utoipa::path(post, path = "/api/v2/users/{userId}/sign-in-links", tag = "users",
    params(("userId" = uuid::Uuid, Path, description = "User id")),
    responses((status = 201, description = "A sign-in link", body = SignInLinkBody), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SignInLinkBody>), ApiError> {
    let id: UserId = parse_id("userId", &id)?;
    let link = state.app.issue_sign_in_link(&caller, id).await?;
    Ok((StatusCode::CREATED, Json(link)))
}
