//! `Idempotency-Key` on the wire: the header a client sends, and `Idempotent-Replayed: true` on
//! an answer replayed from its key. What a key means is the application's
//! ([`rota_app::idempotency`]).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rota_app::Outcome;
use serde::Serialize;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// A command's outcome as an HTTP answer.
pub trait Respond {
    /// The result as JSON with `status`, marked `Idempotent-Replayed` when it is a replay.
    fn respond(self, status: StatusCode) -> Response;
}

impl<T: Serialize> Respond for Outcome<T> {
    fn respond(self, status: StatusCode) -> Response {
        let mut response = (status, axum::Json(self.value)).into_response();
        mark_replayed(&mut response, self.replayed);
        response
    }
}

pub fn mark_replayed(response: &mut Response, replayed: bool) {
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
}
