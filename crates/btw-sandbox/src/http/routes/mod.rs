//! One router per resource, each file named after the script module it serves (`port.rs` serves
//! `port::`), plus the token endpoint and the admin endpoints.

pub(crate) mod address;
pub(crate) mod admin;
pub(crate) mod ethernet;
pub(crate) mod events;
pub(crate) mod faults;
pub(crate) mod numbers;
pub(crate) mod oauth;
pub(crate) mod order;
pub(crate) mod port;
pub(crate) mod subscriptions;
pub(crate) mod whc;
