//! btw: a scriptable runtime for BT Wholesale's ordering APIs (WHC hosted voice, porting, Ethernet).
//!
//! Layers, each depending only on those before it:
//! - `time` (UK local time) and [`store`] (SQLite or PostgreSQL);
//! - [`api`]: the typed async BT REST client (knows nothing of scripts); [`schedule`]: the job
//!   model; [`callbacks`]: the notification listener;
//! - [`engine`]: the Rhai engine and the script surface (`whc::`, `numbers::`, `order::`, …);
//! - [`runner`]: runs one script with parameters and classifies the outcome;
//! - `session` (one connection per command), [`repl`], [`serve`] (the daemon);
//! - [`cli`] (every argument) and [`commands`] (one file per command).
//!
//! The embedded BT sandbox is its own crate, `btw_sandbox`, which shares no types with the client
//! and meets it only over HTTP; btw uses it only to start it.

// Failures carry their location and source line for the user; they are built once per failed
// run, never on a hot path, so their size does not matter and boxing them would only add noise.
#![allow(clippy::result_large_err)]
#![forbid(unsafe_code)]

pub mod alerts;
pub mod api;
pub(crate) mod bench;
pub mod callbacks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod jobs;
pub mod ledger;
pub mod metrics;
pub mod recipe;
pub mod repl;
pub mod runner;
pub(crate) mod sandbox_service;
pub mod schedule;
pub mod secrets;
pub mod serve;
pub(crate) mod session;
pub mod status;
pub mod store;
pub(crate) mod time;
pub(crate) mod watch;
