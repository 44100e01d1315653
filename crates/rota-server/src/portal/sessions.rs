//! Signing in (password, or a one-time link from a supervisor or the CLI), signing out, and
//! setting a password. Passwords are argon2id; sessions live in the database.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use jiff::{SignedDuration, Timestamp};
use rota_core::auth::User;
use rota_core::ids::UserId;
use rota_core::store::{StoreResult, UserStore};
use serde::Deserialize;

use super::view::{self, Chrome};
use super::{COOKIE, OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::auth::{generate_secret, hash};
use crate::startup::AppState;

/// How long a session lasts from sign-in, whatever is done with it.
pub const SESSION_TTL: SignedDuration = SignedDuration::from_hours(12);
/// How long a one-time sign-in link stays usable.
pub const LINK_TTL: SignedDuration = SignedDuration::from_hours(24);
/// The shortest password the portal takes (NIST SP 800-63B asks at least 8; longer is kinder
/// to the hash).
const MIN_PASSWORD: usize = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/sign-in", get(sign_in_page).post(sign_in))
        .route("/portal/link/{token}", get(link_page))
        .route("/portal/link", post(redeem_link))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/password", get(password_page).post(set_password))
}

/// A one-time sign-in link for `user`, what `rota users link`, the users API and the demo
/// give out: its path on the service and until when it works. Only its hash is stored.
pub async fn create_link(
    store: &impl UserStore,
    user: UserId,
    now: Timestamp,
) -> StoreResult<(String, Timestamp)> {
    let token = generate_secret();
    let expires_at = now.checked_add(LINK_TTL).unwrap_or(Timestamp::MAX);
    store
        .create_sign_in_link(&hash(&token), user, expires_at)
        .await?;
    Ok((format!("/portal/link/{token}"), expires_at))
}

/// An argon2id hash of `password` in PHC form (the crate's defaults: OWASP's 19 MiB, two
/// passes), computed off the async threads.
pub async fn hash_password(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn verify_password(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        // A user without a password (or no such user) costs a verification all the same, so
        // the answer's timing does not tell which usernames exist.
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.to_owned());
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// The argon2id hash of a random password nobody knows, for the timing of unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Un8c+R7iXhdJ0HgyEZdBqRHunbKvGBvJMrt4ckzfeo";

#[derive(Template)]
#[template(path = "portal/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    username: String,
    problem: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in_page(Query(q): Query<NextQuery>) -> Response {
    render(
        StatusCode::OK,
        &SignInPage {
            chrome: Chrome::anonymous("Sign in".into()),
            next: view::safe_next(q.next.as_deref().unwrap_or("/portal")).to_owned(),
            username: String::new(),
            problem: None,
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Whether the request reached us over loopback only (a developer's machine, the demo, the
/// tests): the one case where the cookie may travel without TLS.
fn loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

fn session_cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if loopback(headers) { "" } else { "; Secure" };
    let cookie = format!(
        "{COOKIE}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Starts a session for `user` and sends the browser to `next` with its cookie.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    next: &str,
) -> StoreResult<Response> {
    let token = generate_secret();
    let expires_at = state
        .clock
        .now()
        .checked_add(SESSION_TTL)
        .unwrap_or(Timestamp::MAX);
    state
        .store
        .create_session(&hash(&token), user.id, &generate_secret(), expires_at)
        .await?;
    let mut response = Redirect::to(view::safe_next(next)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(headers, &token, SESSION_TTL.as_secs()),
    );
    Ok(response)
}

async fn sign_in(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    request_id: crate::request_id::RequestId,
    Form(form): Form<SignInForm>,
) -> PageResult {
    // A sign-in posted from another site would sign this browser in as someone else.
    if !super::same_origin(&headers) {
        return Err(cross_site(&request_id));
    }
    let next = form.next.as_deref().unwrap_or("/portal").to_owned();
    let again = |status, problem: String| {
        render(
            status,
            &SignInPage {
                chrome: Chrome::anonymous("Sign in".into()),
                next: view::safe_next(&next).to_owned(),
                username: form.username.clone(),
                problem: Some(problem),
            },
        )
    };
    let store_error = |e| PortalError::from_api(crate::error::ApiError::from(e), &request_id);
    // The same throttle as the token endpoint: per username and per address.
    let keys = crate::sign_in::keys(
        Some(&format!(
            "user:{}",
            form.username.trim().to_ascii_lowercase()
        )),
        peer.map(|p| p.0.0.ip()),
    );
    if let Some(retry_after) = state.sign_in.blocked(&keys) {
        return Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed attempts from here; try again in {retry_after} s."),
        ));
    }
    let user = state
        .store
        .user_by_name(&form.username)
        .await
        .map_err(store_error)?;
    let now = state.clock.now();
    if let Some(user) = &user {
        let failures = state
            .store
            .sign_in_failures(user.id)
            .await
            .map_err(store_error)?;
        if let Some(until) = failures.locked_until.filter(|until| *until > now) {
            let minutes = (until.duration_since(now).as_secs() + 59) / 60;
            return Ok(again(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "This password is locked for {minutes} more minute(s) after repeated failures. \
                     A supervisor can send you a sign-in link meanwhile."
                ),
            ));
        }
    }
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    if !verify_password(form.password.clone(), phc).await {
        state.sign_in.failed(&keys);
        if let Some(user) = &user {
            state
                .store
                .record_sign_in_failure(user.id, now)
                .await
                .map_err(store_error)?;
        }
        return Ok(again(
            StatusCode::UNAUTHORIZED,
            "The username or the password is wrong.".into(),
        ));
    }
    // Verified, so the user exists.
    let Some(user) = user else {
        return Ok(again(
            StatusCode::UNAUTHORIZED,
            "The username or the password is wrong.".into(),
        ));
    };
    state
        .store
        .clear_sign_in_failures(user.id)
        .await
        .map_err(store_error)?;
    start_session(&state, &headers, &user, &next)
        .await
        .map_err(store_error)
}

fn cross_site(request_id: &crate::request_id::RequestId) -> PortalError {
    PortalError::Page {
        status: StatusCode::FORBIDDEN,
        title: "This form was refused".into(),
        detail: "the form came from another site".into(),
        request_id: request_id.to_string(),
        chrome: None,
    }
}

#[derive(Template)]
#[template(path = "portal/link.html")]
struct LinkPage {
    chrome: Chrome,
    token: String,
}

/// A link opens a page with one button, so that a mail scanner or a link preview fetching
/// the URL does not use it up.
async fn link_page(Path(token): Path<String>) -> Response {
    render(
        StatusCode::OK,
        &LinkPage {
            chrome: Chrome::anonymous("Sign in".into()),
            token,
        },
    )
}

#[derive(Deserialize)]
struct LinkForm {
    token: String,
}

async fn redeem_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    request_id: crate::request_id::RequestId,
    Form(form): Form<LinkForm>,
) -> PageResult {
    if !super::same_origin(&headers) {
        return Err(cross_site(&request_id));
    }
    let store_error = |e| PortalError::from_api(crate::error::ApiError::from(e), &request_id);
    let user = state
        .store
        .redeem_sign_in_link(&hash(&form.token), state.clock.now())
        .await
        .map_err(store_error)?;
    let Some(user) = user else {
        return Err(PortalError::Page {
            status: StatusCode::GONE,
            title: "This sign-in link no longer works".into(),
            detail: "It was used already or has expired. Ask for a new one.".into(),
            request_id: request_id.to_string(),
            chrome: None,
        });
    };
    let next = if user.password_hash.is_none() {
        "/portal/password"
    } else {
        "/portal"
    };
    start_session(&state, &headers, &user, next)
        .await
        .map_err(store_error)
}

#[derive(Deserialize)]
struct Nothing {}

async fn sign_out(headers: HeaderMap, posted: Posted<Nothing>) -> PageResult {
    let state = &posted.cmd.state;
    if let Some(token) = super::session_token(&headers) {
        state
            .store
            .end_session(&hash(token))
            .await
            .or_page(&posted.visitor)?;
    }
    let mut response = Redirect::to("/portal/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&headers, "", 0));
    Ok(response)
}

#[derive(Template)]
#[template(path = "portal/password.html")]
struct PasswordPage {
    chrome: Chrome,
    csrf: String,
    first: bool,
    problem: Option<String>,
}

async fn password_page(visitor: Visitor) -> Response {
    render(
        StatusCode::OK,
        &PasswordPage {
            first: visitor.user().password_hash.is_none(),
            csrf: visitor.session.csrf_token.clone(),
            chrome: visitor.chrome("Set your password"),
            problem: None,
        },
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
    repeat: String,
}

async fn set_password(headers: HeaderMap, posted: Posted<PasswordForm>) -> PageResult {
    let Posted { visitor, cmd, form } = posted;
    let problem = if form.password.chars().count() < MIN_PASSWORD {
        Some(format!("Use at least {MIN_PASSWORD} characters."))
    } else if form.password != form.repeat {
        Some("The two passwords differ.".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage {
                first: visitor.user().password_hash.is_none(),
                csrf: visitor.session.csrf_token.clone(),
                chrome: visitor.chrome("Set your password"),
                problem: Some(problem),
            },
        ));
    }
    let phc = hash_password(form.password).await.map_err(|e| {
        PortalError::from_api(
            crate::error::ApiError::Internal(e.into()),
            &visitor.request_id,
        )
    })?;
    // Every session of the user ends, this one too; this browser gets a new one.
    cmd.state
        .store
        .set_password(visitor.user().id, &phc)
        .await
        .or_page(&visitor)?;
    start_session(&cmd.state, &headers, visitor.user(), "/portal")
        .await
        .or_page(&visitor)
}
