//! `…/syncs/{sync_config_id}/dlq`: files that failed after their retries,
//! listing them, retrying them in a run of their own, and dropping them.

use std::collections::HashSet;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Read, Scoped, Write};
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError, LocPart};
use super::extract::{Errors, ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use super::syncs::{load_bucket_and_config, trigger_error, SyncConfigPath};
use super::DeletedResponse;
use crate::app::App;
use crate::jobs::{trigger_sync, TriggerOptions};
use crate::model::{DlqEntry, ErrorInfo, JobStatus, JobTrigger};
use crate::store::PageRequest;

#[derive(Debug, Serialize, ToSchema)]
pub struct DlqEntryResponse {
    pub entry_id: String,
    pub bucket_id: String,
    pub sync_config_id: String,
    pub uri: String,
    pub key: String,
    pub error: ErrorInfo,
    pub attempts: u32,
    pub sync_job_id: String,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

impl From<DlqEntry> for DlqEntryResponse {
    fn from(entry: DlqEntry) -> Self {
        Self {
            entry_id: entry.entry_id,
            bucket_id: entry.bucket_id,
            sync_config_id: entry.sync_config_id,
            uri: entry.uri,
            key: entry.key,
            error: entry.error,
            attempts: entry.attempts,
            sync_job_id: entry.sync_job_id,
            first_failed_at: entry.first_failed_at,
            last_failed_at: entry.last_failed_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DlqListFilters {}

impl Validate for DlqListFilters {}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DlqRetryRequest {
    /// Entries to retry; absent: all of them.
    pub entry_ids: Option<Vec<String>>,
}

impl Validate for DlqRetryRequest {
    fn validate(&self, errors: &mut Errors) {
        if self.entry_ids.as_ref().is_some_and(Vec::is_empty) {
            errors.push(
                &[LocPart::from("entry_ids")],
                "List should have at least 1 item (omit it to retry every entry)",
                "too_short",
            );
        }
    }
}

/// The run that retries the chosen entries (a full listing restricted to
/// their keys).
#[derive(Debug, Serialize, ToSchema)]
pub struct DlqRetryResponse {
    pub sync_job_id: String,
    pub sync_config_id: String,
    pub bucket_id: String,
    pub status: JobStatus,
    pub full_sync: bool,
    pub retried_entries: usize,
}

#[derive(Debug, Deserialize)]
pub struct DlqEntryPath {
    pub bucket_id: String,
    pub sync_config_id: String,
    pub entry_id: String,
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/list", tag = "Dead letters",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
        ListParams,
    ),
    request_body = Option<DlqListFilters>,
    responses(
        (status = 200, description = "A page of dead letters, oldest first", body = ListResponse<DlqEntryResponse>),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_dead_letters(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<SyncConfigPath>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(_filters): ValidJson<DlqListFilters>,
) -> ApiResult<Json<ListResponse<DlqEntryResponse>>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let page = params.page();
    let paged = app
        .store
        .list_dead_letters(&config.sync_config_id, page)
        .await?;
    Ok(Json(ListResponse::from_paged(
        paged,
        page,
        DlqEntryResponse::from,
    )))
}

async fn all_dead_letters(app: &App, sync_config_id: &str) -> ApiResult<Vec<DlqEntry>> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let chunk = app
            .store
            .list_dead_letters(
                sync_config_id,
                PageRequest {
                    offset,
                    limit: 1000,
                },
            )
            .await?;
        let read = chunk.items.len() as u64;
        all.extend(chunk.items);
        offset += read;
        if read == 0 || offset >= chunk.total {
            return Ok(all);
        }
    }
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/retry", tag = "Dead letters",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
    ),
    request_body(content = Option<DlqRetryRequest>, description = "Optional: `entry_ids` to retry some entries only"),
    responses(
        (status = 200, description = "A run restricted to the entries' keys was queued", body = DlqRetryResponse),
        (status = 400, description = "Nothing to retry, or the configuration is paused or inactive", body = ErrorResponse),
        (status = 404, description = "Unknown bucket, configuration or entry", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn retry_dead_letters(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<SyncConfigPath>,
    ValidJson(body): ValidJson<DlqRetryRequest>,
) -> ApiResult<Json<DlqRetryResponse>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let entries = all_dead_letters(&app, &config.sync_config_id).await?;
    let chosen: Vec<DlqEntry> = match &body.entry_ids {
        None => entries,
        Some(ids) => {
            let known: HashSet<&str> = entries.iter().map(|e| e.entry_id.as_str()).collect();
            if let Some(missing) = ids.iter().find(|id| !known.contains(id.as_str())) {
                return Err(ApiError::not_found("dlq_entry", missing));
            }
            let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
            entries
                .into_iter()
                .filter(|e| wanted.contains(e.entry_id.as_str()))
                .collect()
        }
    };
    if chosen.is_empty() {
        return Err(ApiError::bad_request(
            "nothing_to_retry",
            "The dead-letter queue of this sync configuration is empty",
        )
        .with_details(json!({ "id": config.sync_config_id, "resource": "sync_configuration" })));
    }
    let mut keys: Vec<String> = chosen.iter().map(|e| e.key.clone()).collect();
    keys.sort();
    keys.dedup();
    let options = TriggerOptions {
        full_sync: true,
        trigger: JobTrigger::Manual,
        only_keys: Some(keys),
    };
    let job = trigger_sync(&app, &config, options)
        .await
        .map_err(trigger_error)?;
    Ok(Json(DlqRetryResponse {
        sync_job_id: job.sync_job_id,
        sync_config_id: job.sync_config_id,
        bucket_id: job.bucket_id,
        status: job.status,
        full_sync: job.full_sync,
        retried_entries: chosen.len(),
    }))
}

#[utoipa::path(
    delete, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/{entry_id}", tag = "Dead letters",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
        ("entry_id" = String, Path, description = "Dead-letter entry id"),
    ),
    responses(
        (status = 200, description = "Dropped", body = DeletedResponse),
        (status = 404, description = "Unknown bucket, configuration or entry", body = ErrorResponse),
    )
)]
pub async fn delete_dead_letter(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<DlqEntryPath>,
) -> ApiResult<Json<DeletedResponse>> {
    let config_path = SyncConfigPath {
        bucket_id: path.bucket_id.clone(),
        sync_config_id: path.sync_config_id.clone(),
    };
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &config_path).await?;
    if !app
        .store
        .delete_dead_letter(&config.sync_config_id, &path.entry_id)
        .await?
    {
        return Err(ApiError::not_found("dlq_entry", &path.entry_id));
    }
    Ok(Json(DeletedResponse::new(
        path.entry_id,
        "Dead-letter entry deleted",
    )))
}
