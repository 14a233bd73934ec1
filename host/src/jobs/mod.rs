//! Sync jobs between the API and the pipeline: creating them (`trigger`),
//! queueing them (`queue`, handed out by `dispatch` in process or through
//! Redis streams), running them on a pool of workers
//! (`workers`), firing scheduled runs (`scheduler`) and picking up jobs a
//! previous process left unfinished (`recovery`).

pub mod dispatch;
mod queue;
pub mod recovery;
pub mod scheduler;
mod trigger;
pub mod workers;

pub use queue::{CancelFlag, JobEvent, JobQueue};
pub use trigger::{cancel_job, trigger_sync, CancelError, TriggerError, TriggerOptions};
