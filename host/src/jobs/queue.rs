//! The in-process job queue: job ids waiting for a worker, cancel flags of
//! running jobs, and a broadcast of job progress for live views (SSE).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

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
    sender: mpsc::UnboundedSender<String>,
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    running: Mutex<HashMap<String, CancelFlag>>,
    events: broadcast::Sender<JobEvent>,
}

/// Cheap to clone; every clone is the same queue.
#[derive(Clone)]
pub struct JobQueue {
    inner: Arc<Inner>,
}

impl Default for JobQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl JobQueue {
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                sender,
                receiver: tokio::sync::Mutex::new(receiver),
                running: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    /// Queues a stored `PENDING` job for a worker.
    pub fn enqueue(&self, sync_job_id: &str) {
        // The receiver lives as long as the queue, so sending cannot fail.
        let _ = self.inner.sender.send(sync_job_id.to_string());
    }

    /// The next queued job id; waits while the queue is empty.
    pub async fn next(&self) -> Option<String> {
        self.inner.receiver.lock().await.recv().await
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
