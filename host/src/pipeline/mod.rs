//! One sync run, stage by stage: `lock` → `list` (plugin pages through a
//! bounded channel) → `create` (object candidates, idempotent upsert) →
//! `retry` (failed files, dead letters) → `batch` → checkpoint after each
//! page → totals, metrics, final status, lock released. The pipeline talks to
//! a [`Store`](crate::store::Store) and a [`Plugin`](crate::runtime::Plugin)
//! and does not know which ones.

pub mod batch;
pub mod create;
pub mod list;
pub mod lock;
pub mod retry;
mod run;

pub use run::run_job;
