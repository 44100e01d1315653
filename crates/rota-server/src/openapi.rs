//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types,
//! served at `/openapi.json`, and a rendered reference at `/docs`.

use axum::Json;
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::startup::AppState;
use crate::{auth, routes, telemetry};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rota",
        description = "Workforce-management schedules for contact centers: weekly schedules of shifts, \
                       their version history, and a bulk shift-swap that conflicts only when a shift it \
                       touches changed. Every error is application/problem+json with a stable `code` and \
                       the `requestId`; see docs/API.md for the codes."
    ),
    paths(
        auth::token,
        routes::health::healthz,
        routes::health::readyz,
        telemetry::render,
        routes::directory::list_business_units,
        routes::directory::list_agents,
        routes::directory::set_availability,
        routes::schedules::find,
        routes::schedules::import,
        routes::schedules::read,
        routes::schedules::versions,
        routes::schedules::as_of,
        routes::schedules::publish,
        routes::schedules::edit_shift,
        routes::swaps::shift_swaps,
        routes::trades::my_schedule,
        routes::trades::pickup,
        routes::trades::release,
        routes::trades::create,
        routes::trades::list,
        routes::trades::read,
        routes::trades::match_trade,
        routes::trades::match_check,
        routes::trades::cancel,
        routes::trades::review,
        routes::webhooks::create,
        routes::webhooks::list,
        routes::webhooks::read,
        routes::webhooks::update,
        routes::webhooks::remove,
        routes::webhooks::deliveries,
        routes::webhooks::read_settings,
        routes::webhooks::write_settings,
        routes::coverage::set_requirements,
        routes::coverage::coverage,
        routes::coverage::list_held,
        routes::coverage::read_held,
        routes::coverage::decide_held,
        routes::time_off::create,
        routes::time_off::list,
        routes::time_off::read,
        routes::time_off::decide,
        routes::time_off::cancel,
        routes::time_off::balances,
        routes::time_off::set_balance,
        routes::time_off::set_allowances,
        routes::time_off::allowances,
        routes::users::create,
        routes::users::link,
    ),
    components(schemas(
        rota_api::problem::Problem,
        rota_api::problem::ErrorCode,
        rota_api::swaps::SwapRequestBody,
        rota_api::swaps::SwapResponseBody,
        rota_core::schedule::Shift,
        rota_core::version::VersionChanges,
        rota_api::events::WebhookEvent,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "swaps", description = "The bulk shift swap"),
        (name = "self-service", description = "Agents: my schedule, picking up open shifts, releasing shifts"),
        (name = "trades", description = "Shift trades: offer, match, cancel, supervisor review"),
        (name = "webhooks", description = "Webhook subscriptions, the delivery log, and business unit settings"),
        (name = "schedules", description = "Schedules, versions, publishing and supervisor edits"),
        (name = "coverage", description = "Staffing requirements, coverage per skill and interval, and the changes its guard held for a supervisor"),
        (name = "time-off", description = "Time-off requests, the approval policy and supervisors' decisions, balances, allowances and the waitlist"),
        (name = "directory", description = "Business units, agents and availability"),
        (name = "auth", description = "OAuth 2.0 client credentials"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The problem answers every `/api` operation can give (docs/API.md says when each occurs).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description for the document, never constructed
pub enum Problems {
    #[response(
        status = 400,
        description = "Malformed input (VALIDATION_FAILED)",
        content_type = "application/problem+json"
    )]
    BadRequest(rota_api::problem::Problem),
    #[response(
        status = 401,
        description = "No valid bearer token (UNAUTHENTICATED)",
        content_type = "application/problem+json"
    )]
    Unauthenticated(rota_api::problem::Problem),
    #[response(
        status = 403,
        description = "Outside the client's role or business unit (FORBIDDEN)",
        content_type = "application/problem+json"
    )]
    Forbidden(rota_api::problem::Problem),
    #[response(
        status = 404,
        description = "Not found (NOT_FOUND)",
        content_type = "application/problem+json"
    )]
    NotFound(rota_api::problem::Problem),
    #[response(
        status = 409,
        description = "VERSION_CONFLICT or IDEMPOTENCY_IN_PROGRESS",
        content_type = "application/problem+json"
    )]
    Conflict(rota_api::problem::Problem),
    #[response(
        status = 412,
        description = "If-Match names another version (PRECONDITION_FAILED)",
        content_type = "application/problem+json"
    )]
    PreconditionFailed(rota_api::problem::Problem),
    #[response(
        status = 413,
        description = "Body too large (PAYLOAD_TOO_LARGE)",
        content_type = "application/problem+json"
    )]
    PayloadTooLarge(rota_api::problem::Problem),
    #[response(
        status = 422,
        description = "RULE_VIOLATION, UNKNOWN_VERSION, TOO_MANY_ITEMS or IDEMPOTENCY_KEY_REUSED",
        content_type = "application/problem+json"
    )]
    Unprocessable(rota_api::problem::Problem),
    #[response(
        status = 429,
        description = "Rate limit exceeded (RATE_LIMITED), with Retry-After",
        content_type = "application/problem+json"
    )]
    RateLimited(rota_api::problem::Problem),
    #[response(
        status = 503,
        description = "Database unreachable or busy (SERVICE_UNAVAILABLE), with Retry-After",
        content_type = "application/problem+json"
    )]
    Unavailable(rota_api::problem::Problem),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/docs", get(docs))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A self-contained reference (no scripts from elsewhere): every operation with its
/// description, parameters and answers, rendered from the same document.
async fn docs() -> Html<String> {
    let doc = ApiDoc::openapi();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>rota API</title><style>\
         body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}\
         h2{border-bottom:1px solid #ccc}code{background:#f4f4f4;padding:0 .2rem}\
         .op{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #36c}.m{font-weight:bold;text-transform:uppercase}\
         </style></head><body>",
    );
    html.push_str(&format!(
        "<h1>{} {}</h1><p>{}</p><p>The machine-readable document is at <a href=\"/openapi.json\"><code>/openapi.json</code></a>.</p>",
        escape(&doc.info.title),
        escape(&doc.info.version),
        escape(doc.info.description.as_deref().unwrap_or_default())
    ));
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            html.push_str(&format!(
                "<div class=\"op\"><p><span class=\"m\">{method}</span> <code>{}</code></p>",
                escape(path)
            ));
            if let Some(d) = op.description.as_deref().or(op.summary.as_deref()) {
                html.push_str(&format!("<p>{}</p>", escape(d)));
            }
            if let Some(params) = &op.parameters {
                html.push_str("<ul>");
                for p in params {
                    html.push_str(&format!(
                        "<li><code>{}</code> ({}){}</li>",
                        escape(&p.name),
                        serde_json::to_value(&p.parameter_in)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        p.description
                            .as_deref()
                            .map(|d| format!(": {}", escape(d)))
                            .unwrap_or_default()
                    ));
                }
                html.push_str("</ul>");
            }
            html.push_str("<ul>");
            for (status, response) in &op.responses.responses {
                let description = match response {
                    utoipa::openapi::RefOr::T(r) => r.description.clone(),
                    utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
                };
                html.push_str(&format!(
                    "<li><b>{}</b> {}</li>",
                    escape(status),
                    escape(&description)
                ));
            }
            html.push_str("</ul></div>");
        }
    }
    html.push_str("</body></html>");
    Html(html)
}
