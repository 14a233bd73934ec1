//! The worker pool: N tasks that take queued jobs and run them through the
//! pipeline. A panic in a run fails that job, never the worker. A delivery is
//! finished only once the job's end is stored; otherwise it is handed out
//! again and the job resumes.

use crate::app::App;
use crate::model::{now, ErrorInfo, JobStatus};
use crate::pipeline::run_job;

/// Starts `count` workers on the current runtime.
pub fn spawn(app: &App, count: usize) {
    for index in 0..count.max(1) {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                let delivery = app.jobs.next().await;
                let job_id = delivery.sync_job_id.clone();
                let run = {
                    let app = app.clone();
                    let job_id = job_id.clone();
                    tokio::spawn(async move { run_job(&app, &job_id).await })
                };
                let recorded = match run.await {
                    Ok(recorded) => recorded,
                    Err(e) => {
                        tracing::error!(worker = index, %job_id, "sync run crashed: {e}");
                        app.jobs.finish(&job_id);
                        fail_crashed(&app, &job_id, &e.to_string()).await
                    }
                };
                if recorded {
                    app.jobs.finished(&delivery).await;
                } else {
                    app.jobs.abandoned(&delivery).await;
                }
            }
        });
    }
}

/// Records a crashed run as `FAILED`; `false` if that could not be stored.
async fn fail_crashed(app: &App, job_id: &str, message: &str) -> bool {
    let message = format!("the run stopped unexpectedly: {message}");
    let change = move |job: &mut crate::model::SyncJob| {
        if job.status.is_final() {
            return;
        }
        job.status = JobStatus::Failed;
        job.finished_at = Some(now());
        job.error = Some(ErrorInfo {
            kind: "internal".into(),
            message: message.clone(),
        });
    };
    match app.store.modify_job(job_id, Box::new(change)).await {
        Ok(Some(job)) => {
            app.jobs.publish(&job);
            // Its lock expires by TTL: the heartbeat task died with the run.
            true
        }
        Ok(None) => true,
        Err(e) => {
            tracing::error!(job_id, "cannot record the crash: {e}");
            false
        }
    }
}
