//! A request's body must arrive within its time. A body that stops short or trickles in is
//! the client's fault: it is answered `408 REQUEST_TIMEOUT` (not the handling timeout's 503,
//! which a batch would wait out as an outage) and its connection is closed, so nobody holds a
//! connection by sending a byte a second.
//!
//! The body is not buffered here: it is read as before, by the handler's extractor and only
//! after authentication, so an unauthenticated caller still cannot make the server hold
//! bodies. The deadline is a wrapper around it whose read fails once the time is up; whatever
//! the extractor then answers, this layer answers 408.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;

use crate::error::ApiError;

/// How long a body may take to arrive once its request's headers have.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

pub async fn middleware(
    State(BodyDeadline(limit)): State<BodyDeadline>,
    request: Request,
    next: Next,
) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|inner| {
        Body::new(Deadlined {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: Arc::clone(&expired),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let mut response = ApiError::BodyTimeout.into_response();
    // The rest of the body may still be on its way: the connection cannot carry another
    // request after it.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A body whose next frame fails once its deadline has passed.
struct Deadlined {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct Expired;

impl http_body::Body for Deadlined {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.store(true, Ordering::Release);
                Poll::Ready(Some(Err(Expired.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
