//! The fault middleware: delays, injected failures and lost responses, by the rules of
//! [`crate::faults`]. Its state is the rules plus the sandbox (to journal what it answered itself).

use super::gateway::{valid_tracking_header, ADMIN_PREFIX, TRACKING_HEADER};
use crate::faults::{Decision, Drop, Effect, Faults};
use crate::state::SandboxState;
use crate::world::RequestEntry;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the fault middleware runs on.
#[derive(Clone)]
pub(crate) struct FaultLayer {
    pub faults: Arc<Faults>,
    pub sandbox: SandboxState,
}

/// A response body that fails at once: hyper then closes the connection without writing the
/// (still buffered) head, so the client sees a transport error rather than a status.
struct LostBody;

impl HttpBody for LostBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox fault: response dropped",
        ))))
    }
}

fn lost_response() -> Response {
    Response::new(Body::new(LostBody))
}

fn is_admin(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/__sandbox/")
}

/// Journals a request the gateway never saw (answered or dropped here).
fn journal(state: &SandboxState, req: &Request, status: u16) {
    let tracking = req
        .headers()
        .get(TRACKING_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_tracking_header(v))
        .map(str::to_string);
    let entry_method = req.method().to_string();
    let path: String = req.uri().path().chars().take(1024).collect();
    state.with_world(|w| {
        let at = w.now();
        w.record_request(RequestEntry {
            at,
            method: entry_method,
            path,
            status,
            tracking_header: tracking,
        })
    });
}

/// The fault middleware (`axum::middleware::from_fn_with_state`), outermost in the router.
pub(crate) async fn layer(
    State(FaultLayer {
        faults,
        sandbox: state,
    }): State<FaultLayer>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if is_admin(path) {
        // Reset clears the faults too; done here so that the admin routes need not know of them.
        let is_reset = req.method() == Method::POST && path == "/__sandbox/reset";
        let response = next.run(req).await;
        if is_reset && response.status().is_success() {
            faults.clear();
        }
        return response;
    }
    let decision = faults.decide(req.method().as_str(), path, &mut rand::rng());
    let Some(Decision { delay, effect }) = decision else {
        return next.run(req).await;
    };
    match effect {
        Effect::Status(e) => {
            tokio::time::sleep(delay).await;
            journal(&state, &req, e.status.as_u16());
            e.into_response()
        }
        Effect::Drop(Drop::Before) => {
            tokio::time::sleep(delay).await;
            journal(&state, &req, 0);
            lost_response()
        }
        Effect::Drop(Drop::After) => {
            let response = next.run(req).await;
            tokio::time::sleep(delay).await;
            std::mem::drop(response);
            lost_response()
        }
        Effect::Pass => {
            // Processed first, answered late: a client that gives up meanwhile has still had its
            // request carried out, which is what "killed while waiting" tests need.
            let response = next.run(req).await;
            tokio::time::sleep(delay).await;
            response
        }
    }
}
