//! The run clock a request names (`X-Sandbox-Clock`): checked, noted as used (created at the
//! shared now when new), and set for everything the request does with the world.

use crate::error::{ApiError, FieldError};
use crate::state::{SandboxState, REQUEST_CLOCK};
use crate::world::clock::valid_clock_id;
use crate::CLOCK_HEADER;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The header as documented (HTTP header names are case-insensitive).
const HEADER_NAME: &str = "X-Sandbox-Clock";

/// The clock a header value names, or the 400/29 that refuses it.
pub(crate) fn clock_of(
    value: Option<&axum::http::HeaderValue>,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.to_str().map(str::trim) {
        Ok(id) if valid_clock_id(id) => Ok(Some(id.to_string())),
        _ => Err(ApiError::schema(vec![FieldError::new(
            HEADER_NAME,
            "must name a clock: 1 to 64 characters, each a letter, digit, '.', '_', ':' or '-'",
        )])),
    }
}

/// The clock middleware (`axum::middleware::from_fn_with_state`), outermost in the router.
pub(crate) async fn layer(State(state): State<SandboxState>, req: Request, next: Next) -> Response {
    let clock = match clock_of(req.headers().get(CLOCK_HEADER)) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(id) = &clock {
        state.with_world(|w| {
            w.use_clock(id, chrono::Utc::now());
        });
    }
    REQUEST_CLOCK.scope(clock, next.run(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn header_values() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(clock_of(None).unwrap(), None);
        assert_eq!(
            clock_of(Some(&v(" run-1 "))).unwrap().as_deref(),
            Some("run-1")
        );
        let e = clock_of(Some(&v("no/slash"))).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "29"));
        assert!(clock_of(Some(&v(""))).is_err());
        assert!(clock_of(Some(&v(&"x".repeat(65)))).is_err());
    }
}
