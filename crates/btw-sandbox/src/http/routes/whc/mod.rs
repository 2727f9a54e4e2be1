//! `whc::`: the reseller's verify data, the validate-and-qualify company call and what a company
//! holds (product inventory).

mod inventory;
mod qualify;
mod verify;

use crate::state::SandboxState;
use axum::Router;

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .merge(verify::router())
        .merge(qualify::router())
        .merge(inventory::router())
}
