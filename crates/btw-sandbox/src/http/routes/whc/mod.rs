//! `whc::`: the reseller's verify data and the validate-and-qualify company call.

mod qualify;
mod verify;

use crate::state::SandboxState;
use axum::Router;

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .merge(verify::router())
        .merge(qualify::router())
}
