//! Creating a job for a sync configuration (manual trigger, schedule, resume,
//! DLQ retry) and canceling one.

use crate::app::App;
use crate::model::{new_id, now, JobMetrics, JobStatus, JobTrigger, SyncConfig, SyncJob};
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct TriggerOptions {
    pub full_sync: bool,
    pub trigger: JobTrigger,
    /// Restrict the run to these keys (retrying dead letters).
    pub only_keys: Option<Vec<String>>,
}

impl TriggerOptions {
    pub fn manual(full_sync: bool) -> Self {
        Self {
            full_sync,
            trigger: JobTrigger::Manual,
            only_keys: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("sync configuration {0} is paused; resume it first")]
    Paused(String),
    #[error("sync configuration {0} is not active")]
    Inactive(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores a `PENDING` job for `config` and queues it. Returns at once.
pub async fn trigger_sync(
    app: &App,
    config: &SyncConfig,
    options: TriggerOptions,
) -> Result<SyncJob, TriggerError> {
    if !config.is_active {
        return Err(TriggerError::Inactive(config.sync_config_id.clone()));
    }
    if config.paused {
        return Err(TriggerError::Paused(config.sync_config_id.clone()));
    }
    let job = SyncJob {
        sync_job_id: new_id("job"),
        sync_config_id: config.sync_config_id.clone(),
        bucket_id: config.bucket_id.clone(),
        namespace_id: config.namespace_id.clone(),
        status: JobStatus::Pending,
        full_sync: options.full_sync,
        trigger: options.trigger,
        worker_id: None,
        created_at: now(),
        started_at: None,
        finished_at: None,
        metrics: JobMetrics::default(),
        error: None,
        skipped_because_of_job_id: None,
        cancel_requested: false,
        modified_since: None,
        checkpoint: None,
        only_keys: options.only_keys,
    };
    app.store.create_job(&job).await?;
    app.jobs.enqueue(&job.sync_job_id);
    app.jobs.publish(&job);
    Ok(job)
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("sync job {0} not found")]
    NotFound(String),
    #[error("sync job {0} has already ended with status {1}")]
    AlreadyFinal(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cancels a job: a pending one ends `CANCELED` at once; a running one is
/// asked to stop and ends `CANCELED` after its current page.
pub async fn cancel_job(app: &App, sync_job_id: &str) -> Result<SyncJob, CancelError> {
    let mut job = app
        .store
        .get_job(sync_job_id)
        .await?
        .ok_or_else(|| CancelError::NotFound(sync_job_id.to_string()))?;
    if job.status.is_final() {
        return Err(CancelError::AlreadyFinal(
            job.sync_job_id,
            job.status.as_str(),
        ));
    }
    job.cancel_requested = true;
    if job.status == JobStatus::Pending {
        job.status = JobStatus::Canceled;
        job.finished_at = Some(now());
    }
    app.store.update_job(&job, None).await?;
    app.jobs.request_cancel(sync_job_id);
    app.jobs.publish(&job);
    Ok(job)
}
