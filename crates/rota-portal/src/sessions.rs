//! Signing in (password, or a one-time link from a supervisor or the CLI), signing out, and
//! setting a password. Passwords are argon2id; sessions live in the database.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rota_app::RequestId;
use rota_app::users::{MIN_PASSWORD, NewSession, PasswordChange, SESSION_TTL, SignIn};
use serde::Deserialize;

use super::view::{self, Chrome};
use super::{COOKIE, OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::PortalState;

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/sign-in", get(sign_in_page).post(sign_in))
        .route("/portal/link/{token}", get(link_page))
        .route("/portal/link", post(redeem_link))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/password", get(password_page).post(set_password))
}

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

/// Sends the browser to `next` with the session's cookie.
fn with_session(headers: &HeaderMap, session: &NewSession, next: &str) -> Response {
    let mut response = Redirect::to(view::safe_next(next)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(headers, &session.token, SESSION_TTL.as_secs()),
    );
    response
}

async fn sign_in(
    State(state): State<PortalState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    request_id: RequestId,
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
    let signed_in = state
        .app
        .sign_in_with_password(
            &form.username,
            form.password.clone(),
            peer.map(|p| p.0.0.ip()),
        )
        .await
        .map_err(|e| PortalError::from_app(e, &request_id))?;
    Ok(match signed_in {
        SignIn::Started(session) => with_session(&headers, &session, &next),
        SignIn::Throttled { retry_after } => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed attempts from here; try again in {retry_after} s."),
        ),
        SignIn::Locked { minutes } => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "This password is locked for {minutes} more minute(s) after repeated failures. \
                 A supervisor can send you a sign-in link meanwhile."
            ),
        ),
        SignIn::Refused => again(
            StatusCode::UNAUTHORIZED,
            "The username or the password is wrong.".into(),
        ),
    })
}

fn cross_site(request_id: &RequestId) -> PortalError {
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
    State(state): State<PortalState>,
    headers: HeaderMap,
    request_id: RequestId,
    Form(form): Form<LinkForm>,
) -> PageResult {
    if !super::same_origin(&headers) {
        return Err(cross_site(&request_id));
    }
    let signed_in = state
        .app
        .sign_in_with_link(&form.token)
        .await
        .map_err(|e| PortalError::from_app(e, &request_id))?;
    let Some((user, session)) = signed_in else {
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
    Ok(with_session(&headers, &session, next))
}

#[derive(Deserialize)]
struct Nothing {}

async fn sign_out(headers: HeaderMap, posted: Posted<Nothing>) -> PageResult {
    if let Some(token) = super::session_token(&headers) {
        posted
            .state
            .app
            .end_session(token)
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
    /// Asked when the person has a password already: a session left open is not enough to
    /// change it.
    #[serde(default)]
    current: String,
    password: String,
    repeat: String,
}

async fn set_password(headers: HeaderMap, posted: Posted<PasswordForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        form,
        ..
    } = posted;
    let again = |problem: String| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage {
                first: visitor.user().password_hash.is_none(),
                csrf: visitor.session.csrf_token.clone(),
                chrome: visitor.chrome("Set your password"),
                problem: Some(problem),
            },
        )
    };
    let problem = if form.password.chars().count() < MIN_PASSWORD {
        Some(format!("Use at least {MIN_PASSWORD} characters."))
    } else if form.password != form.repeat {
        Some("The two passwords differ.".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Ok(again(problem));
    }
    // Every session of the user ends, this one too; this browser gets a new one.
    let changed = state
        .app
        .set_password(visitor.user(), &form.current, form.password)
        .await
        .or_page(&visitor)?;
    Ok(match changed {
        PasswordChange::Changed(session) => with_session(&headers, &session, "/portal"),
        PasswordChange::WrongCurrent => again("The current password is wrong.".into()),
        PasswordChange::Throttled { retry_after } => again(format!(
            "Too many wrong attempts; try again in {retry_after} s."
        )),
    })
}
