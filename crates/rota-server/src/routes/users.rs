//! Portal users through the API: admins create them (with a first one-time sign-in link);
//! supervisors issue new links to the agents of their unit (a new agent, a forgotten or locked
//! password). Neither goes through `Idempotency-Key`: a retried create answers 409
//! `ALREADY_EXISTS` and changes nothing, and every link request makes a fresh link, so no
//! recorded answer ever holds a sign-in secret.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rota_api::users::{NewUserBody, NewUserResponse, SignInLinkBody, UserBody};
use rota_core::auth::{Action, Role, User};
use rota_core::ids::UserId;
use rota_core::store::{DirectoryStore, UserStore};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::portal::sessions::create_link;
use crate::routes::parse_id;
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/users", post(create))
        .route("/api/v2/users/{userId}/sign-in-links", post(link))
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
    let business_unit = match (body.business_unit_id, body.agent_id) {
        (_, Some(agent)) => {
            let found = state.store.agent(agent).await.map_err(|e| match e {
                rota_core::store::StoreError::NotFound { .. } => {
                    ApiError::unprocessable("agentId", format!("no agent {agent}"))
                }
                other => other.into(),
            })?;
            if body
                .business_unit_id
                .is_some_and(|bu| bu != found.business_unit_id)
            {
                return Err(ApiError::unprocessable(
                    "businessUnitId",
                    "the agent belongs to another business unit",
                ));
            }
            Some(found.business_unit_id)
        }
        (Some(bu), None) => {
            state.store.business_unit(bu).await.map_err(|e| match e {
                rota_core::store::StoreError::NotFound { .. } => {
                    ApiError::unprocessable("businessUnitId", format!("no business unit {bu}"))
                }
                other => other.into(),
            })?;
            Some(bu)
        }
        (None, None) => None,
    };
    match business_unit {
        Some(bu) => caller.require(Action::CreateUsers, bu)?,
        None if caller.0.role == Role::Admin => {}
        None => {
            return Err(ApiError::Forbidden(format!(
                "client {} may not create users",
                caller.0.client_id
            )));
        }
    }
    let user = User::new(
        &body.username,
        body.display_name.as_deref().unwrap_or_default(),
        body.role,
        business_unit,
        body.agent_id,
    )
    .map_err(|e| {
        let field = match e {
            rota_core::auth::UserError::InvalidUsername => "username",
            rota_core::auth::UserError::AgentWithoutRecord
            | rota_core::auth::UserError::RecordWithoutAgent => "agentId",
            rota_core::auth::UserError::SupervisorWithoutUnit => "businessUnitId",
            rota_core::auth::UserError::NotAPersonRole => "role",
        };
        match e {
            rota_core::auth::UserError::InvalidUsername => {
                ApiError::validation(field, e.to_string())
            }
            _ => ApiError::unprocessable(field, e.to_string()),
        }
    })?;
    if user.display_name.chars().count() > 200 {
        return Err(ApiError::validation(
            "displayName",
            "at most 200 characters",
        ));
    }
    state.store.create_user(&user).await?;
    let (path, expires_at) = create_link(&state.store, user.id, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewUserResponse {
            user: UserBody::from(&user),
            sign_in_link: SignInLinkBody { path, expires_at },
        }),
    ))
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
    let user = state.store.user(id).await?;
    let allowed = match (user.role, user.business_unit) {
        (Role::Agent, Some(bu)) => {
            caller.require(Action::IssueSignInLinks, bu)?;
            true
        }
        _ => caller.0.role == Role::Admin,
    };
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "client {} may issue sign-in links to agents of its unit only",
            caller.0.client_id
        )));
    }
    let (path, expires_at) = create_link(&state.store, user.id, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignInLinkBody { path, expires_at }),
    ))
}
