//! Integration tests: one binary, the sandbox on port 0, real HTTP over loopback.

mod common;

mod cli;
mod journey;
mod reliability;
mod sandbox_contract;
