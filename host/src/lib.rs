//! Tributary: syncs files from storage providers into buckets of objects.
//! Every provider connector is a sandboxed WebAssembly component.
//!
//! The modules follow the path of a sync: `api` → `jobs` → `pipeline` →
//! `runtime` (plugins) and `store`. This crate is also the `tributary` binary;
//! `cli` holds its commands.

pub mod api;
pub mod app;
pub mod cli;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod runtime;
pub mod store;
