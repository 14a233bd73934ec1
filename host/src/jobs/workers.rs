//! The worker pool: N tasks that take queued jobs and run them through the
//! pipeline. A panic in a run fails that job, never the worker.

use crate::app::App;
use crate::model::{now, ErrorInfo, JobStatus};
use crate::pipeline::run_job;

/// Starts `count` workers on the current runtime.
pub fn spawn(app: &App, count: usize) {
    for index in 0..count.max(1) {
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(job_id) = app.jobs.next().await {
                let run = {
                    let app = app.clone();
                    let job_id = job_id.clone();
                    tokio::spawn(async move { run_job(&app, &job_id).await })
                };
                if let Err(e) = run.await {
                    tracing::error!(worker = index, %job_id, "sync run crashed: {e}");
                    fail_crashed(&app, &job_id, &e.to_string()).await;
                    app.jobs.finish(&job_id);
                }
            }
        });
    }
}

async fn fail_crashed(app: &App, job_id: &str, message: &str) {
    let Ok(Some(mut job)) = app.store.get_job(job_id).await else {
        return;
    };
    if job.status.is_final() {
        return;
    }
    job.status = JobStatus::Failed;
    job.finished_at = Some(now());
    job.error = Some(ErrorInfo {
        kind: "internal".into(),
        message: format!("the run stopped unexpectedly: {message}"),
    });
    if let Err(e) = app.store.update_job(&job, None).await {
        tracing::error!(job_id, "cannot record the crash: {e}");
    }
    app.jobs.publish(&job);
    // Its lock expires by TTL: the heartbeat task died with the run.
}
