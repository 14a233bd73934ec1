//! At start, in embedded mode: jobs a previous process of this host left
//! `PENDING` or `IN_PROGRESS` are queued again; a running one resumes from
//! its checkpoint. (With Redis, the stream's pending entries do this.)

use crate::app::App;
use crate::model::JobStatus;

/// Re-queues unfinished jobs; returns how many.
pub async fn requeue_unfinished(app: &App) -> anyhow::Result<usize> {
    let jobs = app
        .store
        .list_jobs_by_status(&[JobStatus::Pending, JobStatus::InProgress])
        .await?;
    for job in &jobs {
        tracing::info!(
            sync_job_id = %job.sync_job_id,
            status = job.status.as_str(),
            resume = job.checkpoint.is_some(),
            "re-queueing an unfinished job"
        );
        app.jobs.enqueue(&job.sync_job_id).await?;
    }
    Ok(jobs.len())
}
