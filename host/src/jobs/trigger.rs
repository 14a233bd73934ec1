//! Creating a job for a sync configuration (manual trigger, schedule, resume,
//! DLQ retry) and canceling one.

use crate::app::App;
use crate::model::{
    new_id, now, Checkpoint, ErrorInfo, JobMetrics, JobStatus, JobTrigger, SyncConfig, SyncJob,
};
use crate::store::{PageRequest, StoreError};

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
    #[error("the job queue is unavailable: {0}")]
    Queue(String),
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
    let mut job = SyncJob {
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
        resumed_from_job_id: None,
    };
    if let Some(failed) = resumable_failure(app, config, &job).await? {
        continue_from(&mut job, failed);
    }
    app.store.create_job(&job).await?;
    if let Err(e) = app.jobs.enqueue(&job.sync_job_id).await {
        // Not queued means never run: say so on the job rather than leave it pending.
        let message = format!("the job could not be queued: {e}");
        let failed = app
            .store
            .modify_job(
                &job.sync_job_id,
                Box::new(move |job| {
                    job.status = JobStatus::Failed;
                    job.finished_at = Some(now());
                    job.error = Some(ErrorInfo {
                        kind: "queue_unavailable".into(),
                        message: message.clone(),
                    });
                }),
            )
            .await;
        if let Err(store_error) = failed {
            tracing::error!(sync_job_id = %job.sync_job_id, "cannot record the queueing failure: {store_error}");
        }
        return Err(TriggerError::Queue(e.to_string()));
    }
    app.jobs.publish(&job);
    Ok(job)
}

/// The config's newest job, when it failed part-way and the new job can go
/// on from its checkpoint: an incremental run of the whole source whose
/// config does not reconcile (reconciling needs one run that saw everything).
async fn resumable_failure(
    app: &App,
    config: &SyncConfig,
    job: &SyncJob,
) -> Result<Option<SyncJob>, StoreError> {
    if job.full_sync || job.only_keys.is_some() || config.reconcile_on_sync {
        return Ok(None);
    }
    let newest = app
        .store
        .list_jobs(
            &config.sync_config_id,
            PageRequest {
                offset: 0,
                limit: 1,
            },
        )
        .await?
        .items
        .pop();
    Ok(newest.filter(|last| {
        last.status == JobStatus::Failed
            && last.only_keys.is_none()
            && last.checkpoint.as_ref().is_some_and(|c| c.cursor.is_some())
    }))
}

/// Makes `job` continue where `failed` stopped: its listing position, its
/// not-yet-batched objects and its incremental window.
fn continue_from(job: &mut SyncJob, failed: SyncJob) {
    let checkpoint = failed.checkpoint.unwrap_or_default();
    job.checkpoint = Some(Checkpoint {
        metrics: JobMetrics::default(),
        ..checkpoint
    });
    job.full_sync = failed.full_sync;
    job.modified_since = failed.modified_since;
    job.resumed_from_job_id = Some(failed.sync_job_id);
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
    // One atomic step: a checkpoint written at the same moment by the host
    // running the job can neither lose the request nor be undone by it.
    let change = |job: &mut SyncJob| {
        if job.status.is_final() {
            return;
        }
        job.cancel_requested = true;
        if job.status == JobStatus::Pending {
            job.status = JobStatus::Canceled;
            job.finished_at = Some(now());
        }
    };
    let before = app
        .store
        .get_job(sync_job_id)
        .await?
        .ok_or_else(|| CancelError::NotFound(sync_job_id.to_string()))?;
    if before.status.is_final() {
        return Err(CancelError::AlreadyFinal(
            before.sync_job_id,
            before.status.as_str(),
        ));
    }
    let job = app
        .store
        .modify_job(sync_job_id, Box::new(change))
        .await?
        .ok_or_else(|| CancelError::NotFound(sync_job_id.to_string()))?;
    if !job.cancel_requested {
        // It ended between the two reads.
        return Err(CancelError::AlreadyFinal(
            job.sync_job_id,
            job.status.as_str(),
        ));
    }
    app.jobs.request_cancel(sync_job_id);
    app.jobs.publish(&job);
    Ok(job)
}
