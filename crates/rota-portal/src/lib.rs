//! The portal: server-rendered pages for agents and supervisors, another edge over the same
//! commands as the API (a page never takes another path to the store).
//!
//! - [`sessions`]: sign-in by password or one-time link, sign-out, setting a password.
//! - [`agent`]: my week, what changed since I looked, pickup, release.
//! - [`trades`]: the agent's trades: offer, take, withdraw.
//! - [`availability`]: the agent's weekly windows and dated exceptions.
//! - [`time_off`]: the agent's requests and balances; the supervisor's queue of them.
//! - [`batches`]: a bulk swap batch from an uploaded file, its progress and its report.
//! - [`coverage`]: the coverage strip under the week grid.
//! - [`supervisor`]: the week grid, publishing, the trade queue.
//! - [`history`]: the version history and each version's diff.
//! - [`webhooks`]: subscriptions, their delivery log, off and on.
//! - [`view`]: how times, shifts and outcomes read on a page.
//!
//! Every page needs a session (a cookie naming a row of `sessions`, so any node serves it);
//! every state-changing form goes through [`Posted`], which checks the form's CSRF token
//! against the session's and the request's origin, and runs the command under the form's own
//! idempotency key. Pages answer with the security headers of [`security_headers`].

#![forbid(unsafe_code)]

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use rota_core::auth::{Role, Session, User};
use serde::de::DeserializeOwned;

use rota_app::{App, AppError, Caller, Command, RequestId};

pub mod agent;
pub mod availability;
pub mod batches;
pub mod coverage;
pub mod history;
pub mod sessions;
pub mod supervisor;
pub mod time_off;
pub mod trades;
pub mod view;
pub mod webhooks;

/// The session cookie. Scoped to the portal's paths: the API never reads it, so a forged
/// cross-site request to the API carries no credentials.
pub const COOKIE: &str = "rota_session";

const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
const CSS: &str = include_str!("../assets/portal.css");

/// What every page shares.
#[derive(Clone)]
pub struct PortalState {
    pub app: App,
    /// The service's own address over loopback (`http://127.0.0.1:PORT`): where the batch page's
    /// runner sends its requests, through the same API (rate limits, keys, retries) as
    /// `rota batch`.
    pub own_url: Arc<str>,
}

/// The portal's pages, with their security headers and compression.
pub fn router(state: PortalState) -> Router {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/assets/htmx.min.js", get(htmx))
        .route("/portal/assets/portal.css", get(css))
        .merge(sessions::router())
        .merge(agent::router())
        .merge(trades::router())
        .merge(availability::router())
        .merge(time_off::router())
        .merge(webhooks::router())
        .merge(batches::router())
        .merge(supervisor::router())
        .merge(history::router())
        .layer(axum::middleware::map_response(security_headers))
        // Pages compress well (the grid of 2,000 agents is mostly repeated markup).
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// What every page answer carries: a Content-Security-Policy without inline script or style
/// (scripts and styles come from the binary), no framing, no sniffing, no referrer beyond the
/// origin, and no caching of pages that show a person's schedule.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            axum::http::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cross-origin-opener-policy", "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS.as_bytes())
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Where each role starts.
async fn home(visitor: Visitor) -> Response {
    let user = &visitor.session.user;
    match (user.role, user.business_unit) {
        (Role::Agent, _) => Redirect::to("/portal/me").into_response(),
        (_, Some(bu)) => Redirect::to(&format!("/portal/units/{bu}/week")).into_response(),
        _ => Redirect::to("/portal/units").into_response(),
    }
}

/// A signed-in person on this request: their session, and the caller the API's rules see.
#[derive(Clone)]
pub struct Visitor {
    pub session: Session,
    pub caller: Caller,
    pub request_id: RequestId,
}

impl Visitor {
    pub fn user(&self) -> &User {
        &self.session.user
    }

    /// The navigation and the sign-out form of every page.
    pub fn chrome(&self, title: impl Into<String>) -> view::Chrome {
        view::Chrome::signed_in(title.into(), self)
    }
}

/// The request's id, as the service's request-id layer set it.
fn request_id(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId::new(uuid::Uuid::now_v7().to_string()))
}

impl FromRequestParts<PortalState> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &PortalState,
    ) -> Result<Self, Self::Rejection> {
        Ok(request_id(parts))
    }
}

/// The cookie's value, if the request has one.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

impl FromRequestParts<PortalState> for Visitor {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Self, PortalError> {
        if let Some(visitor) = parts.extensions.get::<Visitor>() {
            return Ok(visitor.clone());
        }
        let request_id = request_id(parts);
        let sign_in = || PortalError::SignIn {
            next: parts
                .uri
                .path_and_query()
                .map_or("/portal", |p| p.as_str())
                .to_owned(),
        };
        let Some(token) = session_token(&parts.headers) else {
            return Err(sign_in());
        };
        let session = state
            .app
            .session(token)
            .await
            .map_err(|e| PortalError::from_app(e, &request_id))?;
        let Some(session) = session else {
            return Err(sign_in());
        };
        let caller = Caller(session.user.principal());
        let visitor = Visitor {
            session,
            caller,
            request_id,
        };
        parts.extensions.insert(visitor.clone());
        Ok(visitor)
    }
}

/// The business unit named by a supervisor page's path, when the visitor may do `action`
/// there: 404 outside their scope (it does not exist for them) or for no such unit, 403 for
/// what their role may not do.
pub async fn unit(
    state: &PortalState,
    visitor: &Visitor,
    raw: &str,
    action: rota_core::auth::Action,
) -> Result<rota_core::directory::BusinessUnit, PortalError> {
    use rota_core::store::DirectoryStore;
    let not_found = || PortalError::not_found(visitor, format!("no business unit {raw}"));
    let id: rota_core::ids::BusinessUnitId = raw.parse().map_err(|_| not_found())?;
    visitor
        .caller
        .require(action, id, ("business unit", id))
        .or_page(visitor)?;
    state
        .app
        .store()
        .business_unit(id)
        .await
        .map_err(|_| not_found())
}

/// Whether a request names no other site as its origin (browsers send `Origin` with every
/// POST; a request without one is not a cross-site form).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, rest)| Some(rest) == host)
}

/// Every form carries these besides its own fields.
#[derive(serde::Deserialize)]
struct FormGuard {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// A state-changing form from a signed-in person: the session, the CSRF check, the command
/// that will run (under the form's idempotency key), and the form's fields.
pub struct Posted<T> {
    pub state: PortalState,
    pub visitor: Visitor,
    pub cmd: Command,
    pub form: T,
}

/// The largest form the portal takes (a bulk review of 500 trades fits).
const FORM_LIMIT: usize = 64 * 1024;

impl<T: DeserializeOwned> FromRequest<PortalState> for Posted<T> {
    type Rejection = PortalError;

    async fn from_request(request: Request, state: &PortalState) -> Result<Self, PortalError> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let refused = |detail: &str| {
            PortalError::page(
                &visitor,
                StatusCode::FORBIDDEN,
                "This form was refused",
                detail.to_owned(),
            )
        };
        // A browser sends Origin with every POST; one from another site is refused before
        // the body is read (the CSRF token below is the defence that does not rely on it).
        if !same_origin(&parts.headers) {
            return Err(refused("the form came from another site"));
        }
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| refused("the form is larger than the portal accepts"))?;
        let guard: FormGuard = serde_html_form::from_bytes(&bytes)
            .map_err(|_| refused("the form could not be read"))?;
        if !rota_app::secrets::same_secret(&guard.csrf, &visitor.session.csrf_token) {
            return Err(refused(
                "the form's security token is missing or out of date; reload the page and try again",
            ));
        }
        let form: T = serde_html_form::from_bytes(&bytes).map_err(|e| {
            PortalError::page(
                &visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The form has a mistake",
                e.to_string(),
            )
        })?;
        // Each page renders a fresh key, so a form sent twice applies once; joined with the
        // path it was sent to, so that one rendered form with a button per shift gives each
        // button's action a key of its own.
        let key = guard
            .idempotency_key
            .map(|k| format!("{k}@{}", parts.uri.path()));
        let cmd = Command::new(
            state.app.clone(),
            visitor.caller.clone(),
            visitor.request_id.to_string(),
            key,
            parts.method.as_str(),
            parts.uri.path(),
        );
        Ok(Self {
            state: state.clone(),
            visitor,
            cmd,
            form,
        })
    }
}

/// What a page answers when it cannot do what was asked: always a page, never a bare code.
pub enum PortalError {
    /// No session: to the sign-in page, coming back here after.
    SignIn { next: String },
    Page {
        status: StatusCode,
        title: String,
        detail: String,
        request_id: String,
        /// The navigation of the person who asked, when someone is signed in.
        chrome: Option<Box<view::Chrome>>,
    },
    /// A form from a page that no longer shows what is true: what changed, by whom, and
    /// where things stand now.
    Stale(Box<view::StalePage>),
}

impl PortalError {
    /// An error page for a signed-in person, with their navigation.
    pub fn page(
        visitor: &Visitor,
        status: StatusCode,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        let title = title.into();
        Self::Page {
            status,
            chrome: Some(Box::new(visitor.chrome(title.clone()))),
            title,
            detail: detail.into(),
            request_id: visitor.request_id.to_string(),
        }
    }

    /// The page for an application error: the one place the portal maps them, in people's
    /// words (the cause chain of an internal error goes to the log).
    pub fn from_app(e: AppError, request_id: &RequestId) -> Self {
        let code = e.code();
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(chain) = e.cause_chain() {
            tracing::error!(request_id = %request_id, cause = %chain, "internal error");
        }
        let detail = match &e {
            AppError::Internal(_) => {
                format!("Something went wrong on our side; quote request id {request_id}.")
            }
            // The rules broken, each in its own words.
            AppError::RuleViolation { items, .. } => {
                let reasons: Vec<String> = items
                    .iter()
                    .flat_map(|item| match &item.outcome {
                        rota_core::command::ItemOutcome::Rejected { violations }
                        | rota_core::command::ItemOutcome::Held { violations, .. } => {
                            violations.iter().map(view::violation).collect()
                        }
                        _ => Vec::new(),
                    })
                    .collect();
                if reasons.is_empty() {
                    e.to_string()
                } else {
                    reasons.join("; ")
                }
            }
            other => other.to_string(),
        };
        let title = match status {
            StatusCode::NOT_FOUND => "Not found".to_owned(),
            StatusCode::FORBIDDEN => "Not allowed".to_owned(),
            StatusCode::CONFLICT => "Someone changed this first".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY => "That breaks a rule".to_owned(),
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts".to_owned(),
            s if s.is_server_error() => "The service could not do this now".to_owned(),
            _ => format!("Refused ({})", code.as_str()),
        };
        Self::Page {
            status,
            title,
            detail,
            request_id: request_id.to_string(),
            chrome: None,
        }
    }

    /// 404 for what the path names that does not exist (or not for this visitor).
    pub fn not_found(visitor: &Visitor, what: impl Into<String>) -> Self {
        Self::page(visitor, StatusCode::NOT_FOUND, "Not found", what)
    }

    pub fn not_allowed(visitor: &Visitor, what: &str) -> Self {
        Self::page(
            visitor,
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!("{} may not {what}.", visitor.user().display_name),
        )
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => {
                let next = view::safe_next(&next);
                Redirect::to(&format!(
                    "/portal/sign-in?next={}",
                    view::encode_query(next)
                ))
                .into_response()
            }
            Self::Page {
                status,
                title,
                detail,
                request_id,
                chrome,
            } => render(
                status,
                &view::ErrorPage {
                    chrome: chrome.map_or_else(|| view::Chrome::anonymous(title.clone()), |c| *c),
                    title,
                    detail,
                    request_id,
                },
            ),
            Self::Stale(page) => render(StatusCode::CONFLICT, page.as_ref()),
        }
    }
}

/// A template as a page with `status`; a template that fails to render is a 500 page.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page could not be shown.</p>"),
            )
                .into_response()
        }
    }
}

/// Results of portal handlers.
pub type PageResult = Result<Response, PortalError>;

/// `?` on an application or store error inside a handler of `visitor`.
pub trait OrPage<T> {
    fn or_page(self, visitor: &Visitor) -> Result<T, PortalError>;
}

impl<T, E: Into<AppError>> OrPage<T> for Result<T, E> {
    fn or_page(self, visitor: &Visitor) -> Result<T, PortalError> {
        self.map_err(
            |e| match PortalError::from_app(e.into(), &visitor.request_id) {
                PortalError::Page {
                    status,
                    title,
                    detail,
                    ..
                } => PortalError::page(visitor, status, title, detail),
                other => other,
            },
        )
    }
}
