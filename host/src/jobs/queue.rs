//! A host's side of the job queue: hands jobs to the dispatch (in process or
//! Redis streams), and keeps what is local to this process: cancel flags of
//! the jobs running here and a broadcast of job progress for live views (SSE).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::dispatch::{Delivery, JobDispatch, LocalDispatch};
use crate::model::SyncJob;

/// A running job's cancel request, checked by the pipeline between pages.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A snapshot of a job after a change (start, page, end).
#[derive(Debug, Clone)]
pub struct JobEvent {
    pub job: SyncJob,
}

struct Inner {
    dispatch: Arc<dyn JobDispatch>,
    running: Mutex<HashMap<String, CancelFlag>>,
    events: broadcast::Sender<JobEvent>,
}

/// Cheap to clone; every clone is the same queue.
#[derive(Clone)]
pub struct JobQueue {
    inner: Arc<Inner>,
}

impl Default for JobQueue {
    /// In process, for one host.
    fn default() -> Self {
        Self::new(Arc::new(LocalDispatch::default()))
    }
}

impl JobQueue {
    pub fn new(dispatch: Arc<dyn JobDispatch>) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                dispatch,
                running: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    /// Queues a stored `PENDING` job for a worker (here or on another host).
    pub async fn enqueue(&self, sync_job_id: &str) -> anyhow::Result<()> {
        self.inner.dispatch.dispatch(sync_job_id).await
    }

    /// The next job for this host's workers; waits while there is none.
    pub async fn next(&self) -> Delivery {
        self.inner.dispatch.next().await
    }

    /// The delivered job's final state is stored.
    pub async fn finished(&self, delivery: &Delivery) {
        self.inner.dispatch.finished(delivery).await
    }

    /// The delivered job stopped without a stored final state: it will be
    /// delivered again and resume from its checkpoint.
    pub async fn abandoned(&self, delivery: &Delivery) {
        self.inner.dispatch.abandoned(delivery).await
    }

    /// Registers a job as running here and returns its cancel flag.
    pub fn start(&self, sync_job_id: &str) -> CancelFlag {
        let flag = CancelFlag::default();
        self.inner
            .running
            .lock()
            .expect("running jobs lock")
            .insert(sync_job_id.to_string(), flag.clone());
        flag
    }

    /// The job no longer runs in this process.
    pub fn finish(&self, sync_job_id: &str) {
        self.inner
            .running
            .lock()
            .expect("running jobs lock")
            .remove(sync_job_id);
    }

    /// Asks a job running in this process to stop; `false` if it is not
    /// running here.
    pub fn request_cancel(&self, sync_job_id: &str) -> bool {
        match self
            .inner
            .running
            .lock()
            .expect("running jobs lock")
            .get(sync_job_id)
        {
            Some(flag) => {
                flag.cancel();
                true
            }
            None => false,
        }
    }

    pub fn publish(&self, job: &SyncJob) {
        // No subscriber is fine: nobody is watching.
        let _ = self.inner.events.send(JobEvent { job: job.clone() });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }
}
