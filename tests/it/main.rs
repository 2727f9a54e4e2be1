//! Integration tests: one binary, the sandbox on port 0, real HTTP over loopback.

mod common;

mod batch;
mod callbacks;
mod cli;
mod ethernet;
mod examples;
mod explore;
mod hostile;
mod journey;
mod porting;
mod raw;
mod reliability;
mod repl;
mod sandbox_contract;
mod sandbox_ethernet;
mod sandbox_faults;
mod sandbox_porting;
mod schedule;
mod serve;
