//! The in-process queue of the embedded mode: an unbounded channel of job
//! ids. Jobs left unfinished by a previous process are re-queued at start by
//! `jobs::recovery`.

use async_trait::async_trait;
use tokio::sync::{mpsc, Mutex};

use super::{Delivery, JobDispatch};

pub struct LocalDispatch {
    sender: mpsc::UnboundedSender<String>,
    receiver: Mutex<mpsc::UnboundedReceiver<String>>,
}

impl Default for LocalDispatch {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: Mutex::new(receiver),
        }
    }
}

#[async_trait]
impl JobDispatch for LocalDispatch {
    async fn dispatch(&self, sync_job_id: &str) -> anyhow::Result<()> {
        // The receiver lives as long as the queue, so sending cannot fail.
        let _ = self.sender.send(sync_job_id.to_owned());
        Ok(())
    }

    async fn next(&self) -> Delivery {
        match self.receiver.lock().await.recv().await {
            Some(sync_job_id) => Delivery {
                sync_job_id,
                receipt: None,
            },
            // The sender is held by `self`: the channel never closes.
            None => std::future::pending().await,
        }
    }

    async fn finished(&self, _delivery: &Delivery) {}

    async fn abandoned(&self, _delivery: &Delivery) {}
}
