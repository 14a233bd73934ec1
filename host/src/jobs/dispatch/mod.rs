//! Handing queued jobs to workers: in process for one host (`local`), or
//! through a Redis stream with one consumer group for many (`streams`).
//!
//! A worker takes a [`Delivery`], runs the job, and reports it `finished`
//! once the job's final state is stored; a delivery that is never finished
//! (its host died, or the store was unreachable at the end) is handed out
//! again, and the run resumes from its checkpoint.

mod local;
mod streams;

pub use local::LocalDispatch;
pub use streams::{StreamDispatch, StreamSettings};

use async_trait::async_trait;

/// One hand-over of a job to this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sync_job_id: String,
    /// The queue's own id of this hand-over (a stream entry id), if any.
    pub receipt: Option<String>,
}

#[async_trait]
pub trait JobDispatch: Send + Sync + 'static {
    /// Queues a stored `PENDING` job for some worker, here or elsewhere.
    async fn dispatch(&self, sync_job_id: &str) -> anyhow::Result<()>;
    /// The next job for this host; waits while there is none.
    async fn next(&self) -> Delivery;
    /// The job's final state is stored: the delivery is done.
    async fn finished(&self, delivery: &Delivery);
    /// The run stopped without storing a final state: let the delivery be
    /// handed out again (after the queue's idle time).
    async fn abandoned(&self, delivery: &Delivery);
}
