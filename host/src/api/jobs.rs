//! Sync jobs: one (`GET /v1/syncs/{id}`), a configuration's history
//! (`…/jobs/list`), canceling, and a live view over server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;

use super::auth::{Read, Scoped, Write};
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use super::syncs::{load_bucket_and_config, SyncConfigPath};
use crate::app::App;
use crate::jobs::{cancel_job, CancelError};
use crate::model::{ErrorInfo, JobMetrics, JobStatus, JobTrigger, SyncJob};
use crate::store::PageRequest;

/// How often a live view re-reads the job from the store, in case its
/// progress is published elsewhere (another host) or was missed.
const EVENTS_POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct JobResponse {
    pub sync_job_id: String,
    pub sync_config_id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub status: JobStatus,
    pub full_sync: bool,
    pub trigger: JobTrigger,
    pub worker_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub metrics: JobMetrics,
    /// Why the job failed.
    pub error: Option<ErrorInfo>,
    /// For `SKIPPED`: the job that held the configuration's lock.
    pub locked_by_job_id: Option<String>,
    pub cancel_requested: bool,
    /// Incremental runs skipped files modified before this instant.
    pub modified_since: Option<DateTime<Utc>>,
    /// Set when the run is restricted to some keys (a dead-letter retry).
    pub only_keys_count: Option<usize>,
    /// The failed job whose checkpoint this run continues from.
    pub resumed_from_job_id: Option<String>,
}

impl From<SyncJob> for JobResponse {
    fn from(job: SyncJob) -> Self {
        Self {
            sync_job_id: job.sync_job_id,
            sync_config_id: job.sync_config_id,
            bucket_id: job.bucket_id,
            namespace_id: job.namespace_id,
            status: job.status,
            full_sync: job.full_sync,
            trigger: job.trigger,
            worker_id: job.worker_id,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            metrics: job.metrics,
            error: job.error,
            locked_by_job_id: job.skipped_because_of_job_id,
            cancel_requested: job.cancel_requested,
            modified_since: job.modified_since,
            only_keys_count: job.only_keys.map(|keys| keys.len()),
            resumed_from_job_id: job.resumed_from_job_id,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct JobListFilters {
    pub status: Option<JobStatus>,
    pub trigger: Option<JobTrigger>,
}

impl Validate for JobListFilters {}

#[derive(Debug, Deserialize)]
pub struct JobPath {
    pub sync_job_id: String,
}

/// The job if it exists in this namespace; 404 `sync_job_not_found` otherwise.
pub async fn load_job(app: &App, namespace_id: &str, sync_job_id: &str) -> ApiResult<SyncJob> {
    app.store
        .get_job(sync_job_id)
        .await?
        .filter(|job| job.namespace_id == namespace_id)
        .ok_or_else(|| ApiError::not_found("sync_job", sync_job_id))
}

#[utoipa::path(
    get, path = "/v1/syncs/{sync_job_id}", tag = "Sync jobs",
    params(("sync_job_id" = String, Path, description = "Sync job id")),
    responses(
        (status = 200, description = "The job", body = JobResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
    )
)]
pub async fn get_job(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<JobPath>,
) -> ApiResult<Json<JobResponse>> {
    Ok(Json(
        load_job(&app, scope.namespace_id(), &path.sync_job_id)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/jobs/list", tag = "Sync jobs",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
        ListParams,
    ),
    request_body = Option<JobListFilters>,
    responses(
        (status = 200, description = "A page of the configuration's jobs, newest first", body = ListResponse<JobResponse>),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_jobs(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<SyncConfigPath>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(filters): ValidJson<JobListFilters>,
) -> ApiResult<Json<ListResponse<JobResponse>>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let page = params.page();
    if filters.status.is_none() && filters.trigger.is_none() {
        let paged = app.store.list_jobs(&config.sync_config_id, page).await?;
        return Ok(Json(ListResponse::from_paged(
            paged,
            page,
            JobResponse::from,
        )));
    }
    let mut matching = Vec::new();
    let mut offset = 0;
    loop {
        let chunk = app
            .store
            .list_jobs(
                &config.sync_config_id,
                PageRequest {
                    offset,
                    limit: 1000,
                },
            )
            .await?;
        let read = chunk.items.len() as u64;
        matching.extend(chunk.items.into_iter().filter(|job| {
            filters.status.is_none_or(|s| job.status == s)
                && filters.trigger.is_none_or(|t| job.trigger == t)
        }));
        offset += read;
        if read == 0 || offset >= chunk.total {
            break;
        }
    }
    Ok(Json(ListResponse::from_all(
        matching,
        page,
        JobResponse::from,
    )))
}

#[utoipa::path(
    post, path = "/v1/syncs/{sync_job_id}/cancel", tag = "Sync jobs",
    params(("sync_job_id" = String, Path, description = "Sync job id")),
    responses(
        (status = 200, description = "A pending job is canceled at once; a running one stops after its current page", body = JobResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "The job has already ended", body = ErrorResponse),
    )
)]
pub async fn cancel(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<JobPath>,
) -> ApiResult<Json<JobResponse>> {
    let job = load_job(&app, scope.namespace_id(), &path.sync_job_id).await?;
    match cancel_job(&app, &job.sync_job_id).await {
        Ok(job) => Ok(Json(job.into())),
        Err(CancelError::NotFound(id)) => Err(ApiError::not_found("sync_job", &id)),
        Err(CancelError::AlreadyFinal(id, status)) => Err(ApiError::conflict(
            "job_already_finished",
            format!("The job has already ended with status {status}"),
        )
        .with_details(json!({ "id": id, "status": status }))),
        Err(CancelError::Store(e)) => Err(e.into()),
    }
}

/// Server-sent events of one job: its current state first, then an event
/// per change (`progress`), and the final state (`final`) before the stream
/// ends. Each event's data is a [`JobResponse`].
#[utoipa::path(
    get, path = "/v1/syncs/{sync_job_id}/events", tag = "Sync jobs",
    params(("sync_job_id" = String, Path, description = "Sync job id")),
    responses(
        (status = 200, description = "A text/event-stream of job states", content_type = "text/event-stream", body = JobResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
    )
)]
pub async fn job_events(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<JobPath>,
) -> ApiResult<Response> {
    // Subscribe before reading the state, so no change falls in between.
    let events = app.jobs.subscribe();
    let job = load_job(&app, scope.namespace_id(), &path.sync_job_id).await?;
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(follow_job(app, job, events, sender));
    Ok(Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn job_event(job: &JobResponse, sequence: u64) -> Result<Event, Infallible> {
    let name = if job.status.is_final() {
        "final"
    } else {
        "progress"
    };
    let data = serde_json::to_string(job).unwrap_or_else(|_| "{}".to_string());
    Ok(Event::default()
        .event(name)
        .id(sequence.to_string())
        .data(data))
}

async fn follow_job(
    app: App,
    job: SyncJob,
    mut events: tokio::sync::broadcast::Receiver<crate::jobs::JobEvent>,
    sender: mpsc::Sender<Result<Event, Infallible>>,
) {
    let job_id = job.sync_job_id.clone();
    let mut last = JobResponse::from(job);
    let mut sequence = 0;
    if sender.send(job_event(&last, sequence)).await.is_err() || last.status.is_final() {
        return;
    }
    let mut poll = tokio::time::interval(EVENTS_POLL_INTERVAL);
    poll.tick().await;
    let mut broadcast_open = true;
    loop {
        let step = tokio::select! {
            received = events.recv(), if broadcast_open => match received {
                Ok(event) if event.job.sync_job_id == job_id => Step::Changed(Box::new(event.job)),
                Ok(_) => Step::Nothing,
                Err(RecvError::Lagged(_)) => reload(&app, &job_id).await,
                Err(RecvError::Closed) => {
                    broadcast_open = false;
                    reload(&app, &job_id).await
                }
            },
            _ = poll.tick() => reload(&app, &job_id).await,
            () = sender.closed() => return,
        };
        let candidate = match step {
            Step::Nothing => continue,
            Step::Gone => return,
            Step::Changed(job) => JobResponse::from(*job),
        };
        if candidate == last {
            continue;
        }
        sequence += 1;
        let done = candidate.status.is_final();
        last = candidate;
        if sender.send(job_event(&last, sequence)).await.is_err() || done {
            return;
        }
    }
}

/// What the live view learned in one turn.
enum Step {
    Nothing,
    Changed(Box<SyncJob>),
    /// The job was deleted (with its bucket): end the stream.
    Gone,
}

async fn reload(app: &App, sync_job_id: &str) -> Step {
    match app.store.get_job(sync_job_id).await {
        Ok(Some(job)) => Step::Changed(Box::new(job)),
        Ok(None) => Step::Gone,
        Err(error) => {
            tracing::warn!(job = sync_job_id, "live view cannot read the job: {error}");
            Step::Nothing
        }
    }
}
