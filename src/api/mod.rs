//! The BT Wholesale REST client: typed, async, and ignorant of Rhai.
//!
//! `client` owns the HTTP plumbing (tracking header, bearer token, retries, timeouts);
//! each API family lives in its own file and only builds requests and reads responses.

mod auth;
mod client;
mod error;
mod operation;
mod request;
mod retry;
pub(crate) mod snake;
mod token;

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
pub use operation::Operation;
pub use request::Page;
pub use retry::RetryPolicy;
