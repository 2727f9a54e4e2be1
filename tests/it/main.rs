//! Integration tests: one binary, the sandbox on port 0, real HTTP over loopback.

mod common;

mod alert_triggers;
mod batch;
mod callbacks;
mod cli;
mod console;
mod daemon_crash;
mod daemon_inbox;
mod daemon_jobs;
mod daemon_recipes;
mod daemon_soak;
mod daemon_store;
mod daemon_support;
mod ethernet;
mod examples;
mod explore;
mod hostile;
mod journey;
mod lazy_listener;
mod pg_store;
mod porting;
mod raw;
mod reliability;
mod repl;
mod sandbox_contract;
mod sandbox_ethernet;
mod sandbox_ethernet_docs;
mod sandbox_faults;
mod sandbox_porting;
mod sandbox_service;
mod sandbox_whc_docs;
mod schedule;
mod serve;
mod several_daemons;
mod whc_changes;
