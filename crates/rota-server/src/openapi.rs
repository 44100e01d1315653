//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types,
//! served at `/openapi.json`, and a rendered reference at `/docs`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use rota_api::problem::ErrorCode;
use serde_json::{Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::config::Config;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rota",
        description = "Workforce-management schedules for contact centers: weekly schedules of shifts, \
                       their version history, and a bulk shift-swap that conflicts only when a shift it \
                       touches changed. Every error is application/problem+json with a stable `code` and \
                       the `requestId`; see docs/API.md for the codes."
    ),
    components(schemas(
        rota_api::problem::Problem,
        rota_api::problem::ErrorCode,
        rota_api::swaps::SwapRequestBody,
        rota_api::swaps::SwapResponseBody,
        rota_core::schedule::Shift,
        rota_core::version::VersionChanges,
        rota_api::events::WebhookEvent,
        rota_api::headers::IdempotencyKey,
        rota_core::version::ScheduleVersionId,
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
        description = "The request breaks this document: a type, format, pattern, bound, required or unknown field",
        content_type = "application/problem+json"
    )]
    BadRequest(rota_api::problem::Problem),
    #[response(
        status = 401,
        description = "No valid bearer token",
        content_type = "application/problem+json"
    )]
    Unauthenticated(rota_api::problem::Problem),
    #[response(
        status = 403,
        description = "Outside the client's role or business unit",
        content_type = "application/problem+json"
    )]
    Forbidden(rota_api::problem::Problem),
    #[response(
        status = 404,
        description = "Not found, or outside the client's business unit",
        content_type = "application/problem+json"
    )]
    NotFound(rota_api::problem::Problem),
    #[response(
        status = 409,
        description = "What the request acts on changed, or its state does not allow it",
        content_type = "application/problem+json"
    )]
    Conflict(rota_api::problem::Problem),
    #[response(
        status = 412,
        description = "If-Match names another version",
        content_type = "application/problem+json"
    )]
    PreconditionFailed(rota_api::problem::Problem),
    #[response(
        status = 413,
        description = "Body too large",
        content_type = "application/problem+json"
    )]
    PayloadTooLarge(rota_api::problem::Problem),
    #[response(
        status = 422,
        description = "Matches the document but refused by a rule the operation states",
        content_type = "application/problem+json"
    )]
    Unprocessable(rota_api::problem::Problem),
    #[response(
        status = 429,
        description = "Rate limit exceeded, with Retry-After",
        content_type = "application/problem+json"
    )]
    RateLimited(rota_api::problem::Problem),
    #[response(
        status = 503,
        description = "Database unreachable or busy, with Retry-After",
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

/// The document as served: built once at start from the operations the router registered.
#[derive(Clone)]
pub struct Served {
    json: Arc<Value>,
    api: Arc<utoipa::openapi::OpenApi>,
}

impl Served {
    /// The document of `api` (the router's operations), with this node's own limits stated,
    /// and shaped so that the common client generators read every schema (see
    /// [`generator_friendly`]).
    pub fn new(config: &Config, api: utoipa::openapi::OpenApi) -> Result<Self, serde_json::Error> {
        let mut doc = serde_json::to_value(&api)?;
        if let Some(swaps) =
            doc.pointer_mut("/components/schemas/SwapRequestBody/properties/shiftSwaps")
        {
            swaps["maxItems"] = json!(config.max_swap_items);
        }
        name_problem_codes(&mut doc);
        generator_friendly(&mut doc);
        Ok(Self {
            json: Arc::new(doc),
            api: Arc::new(api),
        })
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(served: Served) -> Router<S> {
    let json = served.clone();
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { Json(json.json.as_ref().clone()) }),
        )
        .route("/docs", get(move || async move { docs(&served.api) }))
}

/// Every problem answer of the document names the codes it may carry: all the codes of its
/// status, from [`ErrorCode::status`], so a client (and the contract test) knows each reason a
/// request can be refused for.
fn name_problem_codes(doc: &mut Value) {
    walk(doc, &mut |node| {
        let Some(responses) = node.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        for (status, response) in responses.iter_mut() {
            let is_problem = response
                .pointer("/content")
                .and_then(Value::as_object)
                .is_some_and(|c| c.contains_key(rota_api::problem::CONTENT_TYPE));
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            if !is_problem {
                continue;
            }
            let codes: Vec<&str> = ErrorCode::ALL
                .iter()
                .filter(|c| c.status() == status)
                .map(|c| c.as_str())
                .collect();
            let said = response
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            response["description"] = json!(format!("{said}. Codes: {}.", codes.join(", ")));
        }
    });
}

/// Two shapes that are valid JSON Schema but that client generators (openapi-python-client,
/// openapi-generator) refuse, rewritten into equivalent ones they read; the wire is unchanged.
///
/// - A struct with a flattened tagged enum (`{index, ...outcome}`) derives as `allOf` over a
///   `$ref` to a `oneOf`: it becomes a `oneOf` of the enum's variants, each with the struct's
///   own properties added.
/// - An optional parameter derives as nullable (`oneOf: [null, T]`); a parameter is absent or
///   present, never null (that is what `required: false` says), so its schema becomes `T`; and
///   a parameter's `$ref` to a plain string schema is written out in place (generators look up
///   references among models and enums only).
/// - A `u32` derives as `int32` with minimum 0, but holds up to 4294967295 (and the server
///   takes that): it is stated as `int64` with that maximum.
/// - A property typed by another schema and carrying the default of a `#[serde(default)]`
///   field derives as `oneOf: [$ref]` with `default`: it becomes the `$ref`, and the default
///   moves into its description.
pub fn generator_friendly(doc: &mut Value) {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let variants_of = |reference: &str| -> Option<Vec<Value>> {
        let name = reference.strip_prefix("#/components/schemas/")?;
        let variants = schemas.get(name)?.get("oneOf")?.as_array()?;
        variants
            .iter()
            .all(|v| v.get("type") == Some(&json!("object")))
            .then(|| variants.clone())
    };
    walk(doc, &mut |node| {
        let Some(object) = node.as_object_mut() else {
            return;
        };
        if object.get("format") == Some(&json!("int32"))
            && object.get("minimum") == Some(&json!(0))
            && !object.contains_key("maximum")
        {
            object.insert("format".into(), json!("int64"));
            object.insert("maximum".into(), json!(u32::MAX));
        }
        if let Some(Value::Array(parts)) = object.get("allOf")
            && parts.len() == 2
        {
            let enum_part = parts.iter().position(|p| {
                p.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(variants_of)
                    .is_some()
            });
            if let Some(i) = enum_part
                && parts[1 - i].get("type") == Some(&json!("object"))
            {
                let reference = parts[i]["$ref"].as_str().unwrap_or_default();
                let own = parts[1 - i].clone();
                let variants = variants_of(reference).unwrap_or_default();
                let merged: Vec<Value> = variants
                    .into_iter()
                    .map(|mut v| {
                        if let (Some(props), Some(own_props)) = (
                            v.get_mut("properties").and_then(Value::as_object_mut),
                            own.get("properties").and_then(Value::as_object),
                        ) {
                            for (k, p) in own_props {
                                props.insert(k.clone(), p.clone());
                            }
                        }
                        if let (Some(required), Some(own_required)) = (
                            v.get_mut("required").and_then(Value::as_array_mut),
                            own.get("required").and_then(Value::as_array),
                        ) {
                            required.extend(own_required.iter().cloned());
                        }
                        v
                    })
                    .collect();
                object.remove("allOf");
                object.insert("oneOf".into(), Value::Array(merged));
            }
        }
        if object.contains_key("in")
            && let Some(schema) = object.get_mut("schema")
            && let Some(Value::Array(parts)) = schema.get("oneOf")
            && parts.len() == 2
            && let Some(other) = parts.iter().find(|p| p.get("type") != Some(&json!("null")))
        {
            *schema = other.clone();
        }
        if object.contains_key("in")
            && let Some(schema) = object.get_mut("schema")
            && let Some(found) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .and_then(|name| schemas.get(name))
                .filter(|s| s.get("type") == Some(&json!("string")) && s.get("enum").is_none())
        {
            *schema = found.clone();
        }
        let single_ref = match object.get("oneOf") {
            Some(Value::Array(parts)) if parts.len() == 1 => parts[0].get("$ref").cloned(),
            _ => None,
        };
        if let Some(reference) = single_ref
            && let Some(default) = object.remove("default")
        {
            object.remove("oneOf");
            object.insert("$ref".into(), reference);
            let said = object
                .get("description")
                .and_then(Value::as_str)
                .map(|d| format!("{d} "))
                .unwrap_or_default();
            object.insert(
                "description".into(),
                json!(format!("{said}Omitted, it is `{default}`.")),
            );
        }
    });
}

fn walk(node: &mut Value, f: &mut impl FnMut(&mut Value)) {
    f(node);
    match node {
        Value::Object(map) => map.values_mut().for_each(|v| walk(v, f)),
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, f)),
        _ => {}
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A self-contained reference (no scripts from elsewhere): every operation with its
/// description, parameters and answers, rendered from the same document.
fn docs(doc: &utoipa::openapi::OpenApi) -> Html<String> {
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
