//! The HTTP layer: a router per resource (named after the script module it serves), the shared
//! extractors, and the gateway and fault middleware, each with its own state.

mod clock_layer;
mod extract;
mod fault_layer;
mod fields;
mod gateway;
mod order_body;
mod routes;
mod states;

use crate::faults::Faults;
use crate::state::SandboxState;
use axum::Router;
use fault_layer::FaultLayer;
use std::sync::Arc;

/// The sandbox's routes, gateway and fallbacks over `state`, behind the fault middleware.
pub(crate) fn router(state: SandboxState, faults: Arc<Faults>) -> Router {
    Router::new()
        .merge(routes::oauth::router())
        .merge(routes::whc::router())
        .merge(routes::numbers::router())
        .merge(routes::address::router())
        .merge(routes::order::router())
        .merge(routes::port::router())
        .merge(routes::events::router())
        .merge(routes::subscriptions::router())
        .merge(routes::ethernet::router())
        .merge(routes::admin::router())
        .merge(routes::faults::router(faults.clone()))
        .fallback(gateway::not_found)
        .method_not_allowed_fallback(gateway::method_not_allowed)
        .layer(axum::middleware::from_fn(fields::layer))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gateway::gateway,
        ))
        // Outermost, so that faults hit even the token call and gateway errors.
        .layer(axum::middleware::from_fn_with_state(
            FaultLayer {
                faults,
                sandbox: state.clone(),
            },
            fault_layer::layer,
        ))
        // Around everything, so the journal, the gateway and faults all read the request's clock.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            clock_layer::layer,
        ))
        .with_state(state)
}
