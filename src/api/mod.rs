//! The BT Wholesale REST client: typed, async, and ignorant of Rhai.
//!
//! `client` owns the HTTP plumbing (tracking header, bearer token, retries, timeouts);
//! each API family lives in its own file and only builds requests and reads responses.
//!
//! One name per operation: each family's file is named after its script module (`port.rs` serves
//! `port::`), and a method is named after the script function it serves, with the module in
//! front where the bare name would be ambiguous on [`BtClient`] (`port_earliest_date` for
//! `port::earliest_date`, `ethernet_order` for `ethernet::order`; `whc::`'s names are unique as
//! they are). Ledger steps and error messages name operations by [`Operation`].

mod auth;
mod client;
mod error;
pub mod limiter;
mod operation;
pub mod raw;
pub mod recorder;
mod request;
mod retry;
pub(crate) mod snake;
mod token;
mod wire_path;

pub mod address;
pub mod ethernet;
pub mod numbers;
pub mod order;
pub mod port;
mod sandbox_admin;
pub mod whc;

pub use auth::{Credentials, Secret};
pub use client::{BtClient, ClientOptions};
pub use error::{ApiError, BtError};
pub use limiter::{Limiter, RateLimit};
pub use operation::Operation;
pub use request::Page;
pub use retry::RetryPolicy;
pub use sandbox_admin::SandboxListener;
