//! `/v1/analytics/buckets/{bucket_id}/sync-performance`: recent runs of a
//! bucket's sync configurations, with durations and throughput, read from
//! their jobs.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Read, Scoped};
use super::buckets::load_bucket;
use super::error::{ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{Errors, ValidPath, ValidQuery, Validate};
use super::syncs::load_config;
use crate::app::App;
use crate::model::{now, JobStatus, SyncJob};
use crate::store::PageRequest;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PerformanceParams {
    /// Only this configuration's runs.
    pub sync_config_id: Option<String>,
    /// Runs created in the last `hours`, 1–8760 (default 168).
    #[param(minimum = 1, maximum = 8760)]
    pub hours: Option<i64>,
    /// At most this many runs, newest first, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl Validate for PerformanceParams {
    fn validate(&self, errors: &mut Errors) {
        errors.range(&["hours"], self.hours, Some(1), Some(8760));
        errors.range(&["limit"], self.limit, Some(1), Some(1000));
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRun {
    /// The job id.
    pub sync_run_id: String,
    pub sync_config_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_seconds: f64,
    pub files_discovered: u64,
    /// Objects created or updated.
    pub files_synced: u64,
    pub files_failed: u64,
    pub bytes_synced: u64,
    /// Megabits per second over the run.
    pub throughput_mbps: f64,
    pub status: JobStatus,
    pub provider_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PerformanceSummary {
    pub total_runs: u64,
    /// Runs that ended `COMPLETED` or `COMPLETED_WITH_ERRORS`.
    pub successful_runs: u64,
    pub failed_runs: u64,
    /// Successful runs among the runs that ended (0–1).
    pub success_rate: f64,
    pub total_files_discovered: u64,
    pub total_files_synced: u64,
    pub total_files_failed: u64,
    pub total_bytes_synced: u64,
    pub avg_duration_seconds: f64,
    pub avg_throughput_mbps: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncPerformanceResponse {
    pub bucket_id: String,
    pub sync_config_id: Option<String>,
    pub hours: i64,
    pub runs: Vec<SyncRun>,
    pub summary: PerformanceSummary,
}

#[derive(Debug, Deserialize)]
pub struct BucketPath {
    pub bucket_id: String,
}

fn run_of(job: &SyncJob, provider_type: Option<String>, at: DateTime<Utc>) -> SyncRun {
    let m = &job.metrics;
    let duration_seconds = if m.duration_ms > 0 {
        m.duration_ms as f64 / 1000.0
    } else {
        match job.started_at {
            Some(start) => {
                let end = job.finished_at.unwrap_or(at);
                ((end - start).num_milliseconds().max(0) as f64) / 1000.0
            }
            None => 0.0,
        }
    };
    let throughput_mbps = if duration_seconds > 0.0 {
        (m.bytes_synced as f64 * 8.0 / 1_000_000.0) / duration_seconds
    } else {
        0.0
    };
    SyncRun {
        sync_run_id: job.sync_job_id.clone(),
        sync_config_id: job.sync_config_id.clone(),
        started_at: job.started_at,
        duration_seconds,
        files_discovered: m.files_discovered,
        files_synced: m.objects_created + m.objects_updated,
        files_failed: m.files_failed,
        bytes_synced: m.bytes_synced,
        throughput_mbps,
        status: job.status,
        provider_type,
    }
}

fn summarize(runs: &[SyncRun]) -> PerformanceSummary {
    let successful = runs
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                JobStatus::Completed | JobStatus::CompletedWithErrors
            )
        })
        .count() as u64;
    let failed = runs
        .iter()
        .filter(|r| r.status == JobStatus::Failed)
        .count() as u64;
    let ended = runs.iter().filter(|r| r.status.is_final()).count() as u64;
    let count = runs.len().max(1) as f64;
    PerformanceSummary {
        total_runs: runs.len() as u64,
        successful_runs: successful,
        failed_runs: failed,
        success_rate: if ended > 0 {
            successful as f64 / ended as f64
        } else {
            0.0
        },
        total_files_discovered: runs.iter().map(|r| r.files_discovered).sum(),
        total_files_synced: runs.iter().map(|r| r.files_synced).sum(),
        total_files_failed: runs.iter().map(|r| r.files_failed).sum(),
        total_bytes_synced: runs.iter().map(|r| r.bytes_synced).sum(),
        avg_duration_seconds: runs.iter().map(|r| r.duration_seconds).sum::<f64>() / count,
        avg_throughput_mbps: runs.iter().map(|r| r.throughput_mbps).sum::<f64>() / count,
    }
}

#[utoipa::path(
    get, path = "/v1/analytics/buckets/{bucket_id}/sync-performance", tag = "Analytics",
    params(("bucket_id" = String, Path, description = "Bucket id"), PerformanceParams),
    responses(
        (status = 200, description = "Recent runs and their summary", body = SyncPerformanceResponse),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn sync_performance(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<BucketPath>,
    ValidQuery(params): ValidQuery<PerformanceParams>,
) -> ApiResult<Json<SyncPerformanceResponse>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let configs = match params.sync_config_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => vec![load_config(&app, &bucket, id).await?],
        None => app.store.list_sync_configs(&bucket.bucket_id).await?,
    };
    let hours = params.hours.unwrap_or(168);
    let limit = params.limit.unwrap_or(100).clamp(1, 1000) as usize;
    let at = now();
    let cutoff = at - Duration::hours(hours);
    let mut providers: HashMap<String, Option<String>> = HashMap::new();
    let mut runs = Vec::new();
    for config in &configs {
        if !providers.contains_key(&config.connection_id) {
            let provider = app
                .store
                .get_connection(&config.connection_id)
                .await?
                .map(|c| c.provider_type);
            providers.insert(config.connection_id.clone(), provider);
        }
        let provider = providers.get(&config.connection_id).cloned().flatten();
        // Jobs come newest first: stop at the first one older than the window,
        // or once this config alone has `limit` of them.
        let mut offset = 0;
        let mut taken = 0;
        'pages: loop {
            let chunk = app
                .store
                .list_jobs(&config.sync_config_id, PageRequest { offset, limit: 200 })
                .await?;
            let read = chunk.items.len() as u64;
            for job in chunk.items {
                if job.created_at < cutoff || taken >= limit {
                    break 'pages;
                }
                runs.push((job.created_at, run_of(&job, provider.clone(), at)));
                taken += 1;
            }
            offset += read;
            if read == 0 || offset >= chunk.total {
                break;
            }
        }
    }
    runs.sort_by_key(|run| std::cmp::Reverse(run.0));
    let runs: Vec<SyncRun> = runs.into_iter().take(limit).map(|(_, run)| run).collect();
    let summary = summarize(&runs);
    Ok(Json(SyncPerformanceResponse {
        bucket_id: bucket.bucket_id,
        sync_config_id: params.sync_config_id,
        hours,
        runs,
        summary,
    }))
}
