//! btw: a scriptable runtime for BT Wholesale's ordering APIs (WHC hosted voice, porting, Ethernet).
//!
//! Layers, each depending only on those before it:
//! - [`api`]: the typed async BT REST client (knows nothing of scripts);
//! - [`engine`]: the Rhai engine and the script surface (`whc::`, `numbers::`, `order::`, …);
//! - [`runner`]: runs one script with parameters and classifies the outcome;
//! - [`app`] / [`cli`]: the commands.
//!
//! [`sandbox`] stands beside them: the embedded BT sandbox, which shares no types with the client
//! and meets it only over HTTP.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod runner;
pub mod sandbox;
