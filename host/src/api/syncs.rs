//! `/v1/buckets/{bucket_id}/syncs`: sync configurations (what to sync from
//! which connection, how often, with which filters), pausing and resuming
//! them, and triggering a run.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Read, Scoped, Write};
use super::buckets::load_bucket;
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError, LocPart};
use super::extract::{Errors, ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use super::DeletedResponse;
use crate::app::App;
use crate::jobs::{trigger_sync, TriggerError, TriggerOptions};
use crate::model::{
    new_id, now, Bucket, JobStatus, JobTrigger, Metadata, SyncConfig, SyncConfigStatus, SyncMode,
    SyncTotals,
};
use crate::runtime::contract::Filters;

pub const DEFAULT_POLLING_INTERVAL_SECONDS: i64 = 300;
pub const DEFAULT_BATCH_CHUNK_SIZE: i64 = 100;
pub const DEFAULT_MAX_OBJECTS_PER_RUN: i64 = 100_000;

/// File filters as clients send them; all combined with AND.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FileFiltersInput {
    /// Globs on the key: `*` stays within a path segment, `**` crosses.
    pub include_patterns: Option<Vec<String>>,
    pub exclude_patterns: Option<Vec<String>>,
    /// e.g. `["jpg", "png"]`.
    pub extensions: Option<Vec<String>>,
    /// Inclusive.
    pub min_size_bytes: Option<i64>,
    /// Inclusive.
    pub max_size_bytes: Option<i64>,
    pub modified_after: Option<DateTime<Utc>>,
    pub modified_before: Option<DateTime<Utc>>,
    pub mime_types: Option<Vec<String>>,
}

impl FileFiltersInput {
    fn check(&self, errors: &mut Errors) {
        const ROOT: &str = "file_filters";
        let lists = [
            ("include_patterns", &self.include_patterns),
            ("exclude_patterns", &self.exclude_patterns),
            ("extensions", &self.extensions),
            ("mime_types", &self.mime_types),
        ];
        for (name, list) in lists {
            for (index, item) in list.iter().flatten().enumerate() {
                if item.trim().is_empty() {
                    errors.push(
                        &[ROOT.into(), name.into(), LocPart::Index(index)],
                        "String should have at least 1 character",
                        "string_too_short",
                    );
                }
            }
        }
        errors.range(
            &[ROOT, "min_size_bytes"],
            self.min_size_bytes,
            Some(0),
            None,
        );
        errors.range(
            &[ROOT, "max_size_bytes"],
            self.max_size_bytes,
            Some(0),
            None,
        );
        if let (Some(min), Some(max)) = (self.min_size_bytes, self.max_size_bytes) {
            if min >= 0 && max >= 0 && min > max {
                errors.push(
                    &[ROOT.into(), "min_size_bytes".into()],
                    "min_size_bytes must be less than or equal to max_size_bytes",
                    "value_error",
                );
            }
        }
        if let (Some(after), Some(before)) = (self.modified_after, self.modified_before) {
            if after > before {
                errors.push(
                    &[ROOT.into(), "modified_after".into()],
                    "modified_after must be earlier than or equal to modified_before",
                    "value_error",
                );
            }
        }
    }

    /// The filters the plugins apply (valid once [`Self::check`] passed).
    pub fn to_filters(&self) -> Filters {
        let list = |l: &Option<Vec<String>>| -> Vec<String> {
            l.iter().flatten().map(|s| s.trim().to_string()).collect()
        };
        Filters {
            include_patterns: list(&self.include_patterns),
            exclude_patterns: list(&self.exclude_patterns),
            extensions: list(&self.extensions),
            min_size_bytes: self.min_size_bytes.map(|v| v.max(0) as u64),
            max_size_bytes: self.max_size_bytes.map(|v| v.max(0) as u64),
            modified_after: self.modified_after.map(|t| t.timestamp_millis()),
            modified_before: self.modified_before.map(|t| t.timestamp_millis()),
            mime_types: list(&self.mime_types),
        }
    }
}

/// File filters as the API returns them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileFilters {
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub extensions: Vec<String>,
    pub min_size_bytes: Option<u64>,
    pub max_size_bytes: Option<u64>,
    pub modified_after: Option<DateTime<Utc>>,
    pub modified_before: Option<DateTime<Utc>>,
    pub mime_types: Vec<String>,
}

fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

impl From<Filters> for FileFilters {
    fn from(filters: Filters) -> Self {
        Self {
            include_patterns: filters.include_patterns,
            exclude_patterns: filters.exclude_patterns,
            extensions: filters.extensions,
            min_size_bytes: filters.min_size_bytes,
            max_size_bytes: filters.max_size_bytes,
            modified_after: filters.modified_after.and_then(from_millis),
            modified_before: filters.modified_before.and_then(from_millis),
            mime_types: filters.mime_types,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SyncConfigCreate {
    /// Connection id (or name).
    pub connection_id: String,
    /// Provider-specific: `my-bucket/prefix/` for s3, `container/prefix` for azure_blob.
    pub source_path: String,
    /// `continuous` (default) or `initial_only`.
    pub sync_mode: Option<SyncMode>,
    pub file_filters: Option<FileFiltersInput>,
    /// 30–900, default 300.
    #[schema(minimum = 30, maximum = 900)]
    pub polling_interval_seconds: Option<i64>,
    /// Objects per batch, 1–1000, default 100.
    #[schema(minimum = 1, maximum = 1000)]
    pub batch_chunk_size: Option<i64>,
    /// Default true.
    pub skip_duplicates: Option<bool>,
    /// Default 100000; 0 means unlimited.
    #[schema(minimum = 0)]
    pub max_objects_per_run: Option<i64>,
    /// Default false: when true, objects whose source file is gone are deleted.
    pub reconcile_on_sync: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

#[allow(clippy::too_many_arguments)]
fn check_settings(
    errors: &mut Errors,
    source_path: Option<&str>,
    filters: Option<&FileFiltersInput>,
    polling: Option<i64>,
    chunk: Option<i64>,
    max_objects: Option<i64>,
) {
    // May be empty: the root of a local connection.
    if source_path.is_some_and(|p| p.chars().count() > 2048) {
        errors.push(
            &["source_path".into()],
            "String should have at most 2048 characters",
            "string_too_long",
        );
    }
    errors.range(&["polling_interval_seconds"], polling, Some(30), Some(900));
    errors.range(&["batch_chunk_size"], chunk, Some(1), Some(1000));
    errors.range(&["max_objects_per_run"], max_objects, Some(0), None);
    if let Some(filters) = filters {
        filters.check(errors);
    }
}

impl Validate for SyncConfigCreate {
    fn validate(&self, errors: &mut Errors) {
        errors.text(&["connection_id"], Some(&self.connection_id), 255);
        check_settings(
            errors,
            Some(&self.source_path),
            self.file_filters.as_ref(),
            self.polling_interval_seconds,
            self.batch_chunk_size,
            self.max_objects_per_run,
        );
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SyncConfigUpdate {
    pub connection_id: Option<String>,
    pub source_path: Option<String>,
    pub sync_mode: Option<SyncMode>,
    /// Replaces the filters.
    pub file_filters: Option<FileFiltersInput>,
    #[schema(minimum = 30, maximum = 900)]
    pub polling_interval_seconds: Option<i64>,
    #[schema(minimum = 1, maximum = 1000)]
    pub batch_chunk_size: Option<i64>,
    pub skip_duplicates: Option<bool>,
    #[schema(minimum = 0)]
    pub max_objects_per_run: Option<i64>,
    pub reconcile_on_sync: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    /// An inactive configuration is neither scheduled nor triggerable.
    pub is_active: Option<bool>,
}

impl Validate for SyncConfigUpdate {
    fn validate(&self, errors: &mut Errors) {
        errors.text(&["connection_id"], self.connection_id.as_deref(), 255);
        check_settings(
            errors,
            self.source_path.as_deref(),
            self.file_filters.as_ref(),
            self.polling_interval_seconds,
            self.batch_chunk_size,
            self.max_objects_per_run,
        );
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SyncConfigListFilters {
    pub connection_id: Option<String>,
    pub status: Option<SyncConfigStatus>,
    pub is_active: Option<bool>,
}

impl Validate for SyncConfigListFilters {}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PauseRequest {
    /// Why it was paused (shown as `pause_reason`).
    pub reason: Option<String>,
}

impl Validate for PauseRequest {
    fn validate(&self, errors: &mut Errors) {
        if let Some(reason) = &self.reason {
            if reason.chars().count() > 1000 {
                errors.push(
                    &["reason".into()],
                    "String should have at most 1000 characters",
                    "string_too_long",
                );
            }
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncConfigResponse {
    pub sync_config_id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub connection_id: String,
    pub source_path: String,
    pub sync_mode: SyncMode,
    pub file_filters: FileFilters,
    pub polling_interval_seconds: u32,
    pub batch_chunk_size: u32,
    pub skip_duplicates: bool,
    pub max_objects_per_run: u64,
    pub reconcile_on_sync: bool,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    pub status: SyncConfigStatus,
    pub is_active: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    pub total_files_discovered: u64,
    pub total_files_synced: u64,
    pub total_files_failed: u64,
    pub total_bytes_synced: u64,
    pub batches_created: u64,
    pub consecutive_failures: u32,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Whether a run holds the configuration's lock now.
    pub locked: bool,
    pub locked_by_worker_id: Option<String>,
    pub locked_at: Option<DateTime<Utc>>,
    pub lock_expires_at: Option<DateTime<Utc>>,
    pub current_sync_run_id: Option<String>,
    pub sync_run_counter: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SyncConfigResponse {
    /// The response with the live lock view from the store.
    pub async fn load(app: &App, config: SyncConfig) -> ApiResult<Self> {
        let at = now();
        let lease = app
            .store
            .current_lock(&config.sync_config_id)
            .await?
            .filter(|lease| lease.expires_at > at);
        let SyncTotals {
            total_files_discovered,
            total_files_synced,
            total_files_failed,
            total_bytes_synced,
            batches_created,
        } = config.totals;
        Ok(Self {
            sync_config_id: config.sync_config_id,
            bucket_id: config.bucket_id,
            namespace_id: config.namespace_id,
            connection_id: config.connection_id,
            source_path: config.source_path,
            sync_mode: config.sync_mode,
            file_filters: config.file_filters.into(),
            polling_interval_seconds: config.polling_interval_seconds,
            batch_chunk_size: config.batch_chunk_size,
            skip_duplicates: config.skip_duplicates,
            max_objects_per_run: config.max_objects_per_run,
            reconcile_on_sync: config.reconcile_on_sync,
            metadata: config.metadata,
            status: config.status,
            is_active: config.is_active,
            paused: config.paused,
            pause_reason: config.pause_reason,
            paused_at: config.paused_at,
            total_files_discovered,
            total_files_synced,
            total_files_failed,
            total_bytes_synced,
            batches_created,
            consecutive_failures: config.consecutive_failures,
            last_sync_at: config.last_sync_at,
            next_sync_at: config.next_sync_at,
            last_error: config.last_error,
            locked: lease.is_some(),
            locked_by_worker_id: lease.as_ref().map(|l| l.worker_id.clone()),
            locked_at: lease.as_ref().map(|l| l.acquired_at),
            lock_expires_at: lease.as_ref().map(|l| l.expires_at),
            current_sync_run_id: config.current_sync_run_id,
            sync_run_counter: config.sync_run_counter,
            created_at: config.created_at,
            updated_at: config.updated_at,
        })
    }
}

/// A resumed configuration, with the run resuming started (if any).
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncConfigResumed {
    #[serde(flatten)]
    pub config: SyncConfigResponse,
    /// The incremental run started by resuming (`trigger: resume`); null when
    /// the configuration is inactive or an `initial_only` one already ran.
    pub sync_job_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TriggerParams {
    /// List every file, not only those modified since the last run (default false).
    pub full_sync: Option<bool>,
}

impl Validate for TriggerParams {}

/// The answer to a trigger: the job is stored and queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerResponse {
    pub sync_job_id: String,
    pub sync_config_id: String,
    pub bucket_id: String,
    /// Always `PENDING`.
    pub status: JobStatus,
    pub full_sync: bool,
}

#[derive(Debug, Deserialize)]
pub struct BucketPath {
    pub bucket_id: String,
}

#[derive(Debug, Deserialize)]
pub struct SyncConfigPath {
    pub bucket_id: String,
    pub sync_config_id: String,
}

/// The configuration if it belongs to this bucket; 404
/// `sync_config_not_found` otherwise.
pub async fn load_config(
    app: &App,
    bucket: &Bucket,
    sync_config_id: &str,
) -> ApiResult<SyncConfig> {
    app.store
        .get_sync_config(sync_config_id)
        .await?
        .filter(|c| c.bucket_id == bucket.bucket_id && c.namespace_id == bucket.namespace_id)
        .ok_or_else(|| {
            ApiError::not_found("sync_config", sync_config_id)
                .with_details(json!({ "id": sync_config_id, "resource": "sync_configuration" }))
        })
}

/// Bucket and configuration of a `…/syncs/{sync_config_id}` route.
pub async fn load_bucket_and_config(
    app: &App,
    namespace_id: &str,
    path: &SyncConfigPath,
) -> ApiResult<(Bucket, SyncConfig)> {
    let bucket = load_bucket(app, namespace_id, &path.bucket_id).await?;
    let config = load_config(app, &bucket, &path.sync_config_id).await?;
    Ok((bucket, config))
}

async fn resolve_connection_id(app: &App, id_or_name: &str) -> ApiResult<String> {
    app.store
        .get_connection(id_or_name.trim())
        .await?
        .map(|c| c.connection_id)
        .ok_or_else(|| ApiError::not_found("connection", id_or_name))
}

fn to_u32(value: Option<i64>, default: i64) -> u32 {
    u32::try_from(value.unwrap_or(default)).unwrap_or(u32::MAX)
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs", tag = "Bucket syncs",
    params(("bucket_id" = String, Path, description = "Bucket id")),
    request_body = SyncConfigCreate,
    responses(
        (status = 200, description = "The new sync configuration", body = SyncConfigResponse),
        (status = 404, description = "Unknown bucket or connection", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn create_sync_config(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<BucketPath>,
    ValidJson(body): ValidJson<SyncConfigCreate>,
) -> ApiResult<Json<SyncConfigResponse>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let connection_id = resolve_connection_id(&app, &body.connection_id).await?;
    let at = now();
    let config = SyncConfig {
        sync_config_id: new_id("sync"),
        bucket_id: bucket.bucket_id,
        namespace_id: bucket.namespace_id,
        connection_id,
        source_path: body.source_path.trim().to_string(),
        sync_mode: body.sync_mode.unwrap_or_default(),
        file_filters: body.file_filters.unwrap_or_default().to_filters(),
        polling_interval_seconds: to_u32(
            body.polling_interval_seconds,
            DEFAULT_POLLING_INTERVAL_SECONDS,
        ),
        batch_chunk_size: to_u32(body.batch_chunk_size, DEFAULT_BATCH_CHUNK_SIZE),
        skip_duplicates: body.skip_duplicates.unwrap_or(true),
        max_objects_per_run: body
            .max_objects_per_run
            .unwrap_or(DEFAULT_MAX_OBJECTS_PER_RUN)
            .max(0) as u64,
        reconcile_on_sync: body.reconcile_on_sync.unwrap_or(false),
        metadata: body.metadata.unwrap_or_default(),
        status: SyncConfigStatus::Active,
        is_active: true,
        paused: false,
        pause_reason: None,
        paused_at: None,
        totals: SyncTotals::default(),
        consecutive_failures: 0,
        last_sync_at: None,
        next_sync_at: None,
        last_error: None,
        current_sync_run_id: None,
        sync_run_counter: 0,
        last_run_started_at: None,
        initial_run_done: false,
        created_at: at,
        updated_at: at,
    };
    app.store.create_sync_config(&config).await?;
    Ok(Json(SyncConfigResponse::load(&app, config).await?))
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/list", tag = "Bucket syncs",
    params(("bucket_id" = String, Path, description = "Bucket id"), ListParams),
    request_body = Option<SyncConfigListFilters>,
    responses(
        (status = 200, description = "A page of sync configurations", body = ListResponse<SyncConfigResponse>),
        (status = 404, description = "Unknown bucket", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_sync_configs(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<BucketPath>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(filters): ValidJson<SyncConfigListFilters>,
) -> ApiResult<Json<ListResponse<SyncConfigResponse>>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let mut configs: Vec<SyncConfig> = app
        .store
        .list_sync_configs(&bucket.bucket_id)
        .await?
        .into_iter()
        .filter(|c| c.namespace_id == bucket.namespace_id)
        .filter(|c| {
            filters
                .connection_id
                .as_ref()
                .is_none_or(|id| &c.connection_id == id)
        })
        .filter(|c| filters.status.is_none_or(|s| c.status == s))
        .filter(|c| filters.is_active.is_none_or(|a| c.is_active == a))
        .collect();
    configs
        .sort_by(|a, b| (a.created_at, &a.sync_config_id).cmp(&(b.created_at, &b.sync_config_id)));
    let page = ListResponse::from_all(configs, params.page(), |c| c);
    let mut results = Vec::with_capacity(page.results.len());
    for config in page.results {
        results.push(SyncConfigResponse::load(&app, config).await?);
    }
    Ok(Json(ListResponse {
        results,
        pagination: page.pagination,
        total: page.total,
    }))
}

#[utoipa::path(
    get, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}", tag = "Bucket syncs",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
    ),
    responses(
        (status = 200, description = "The sync configuration", body = SyncConfigResponse),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
    )
)]
pub async fn get_sync_config(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<SyncConfigPath>,
) -> ApiResult<Json<SyncConfigResponse>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    Ok(Json(SyncConfigResponse::load(&app, config).await?))
}

#[utoipa::path(
    patch, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}", tag = "Bucket syncs",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
    ),
    request_body = SyncConfigUpdate,
    responses(
        (status = 200, description = "The updated sync configuration", body = SyncConfigResponse),
        (status = 404, description = "Unknown bucket, configuration or connection", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn update_sync_config(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<SyncConfigPath>,
    ValidJson(body): ValidJson<SyncConfigUpdate>,
) -> ApiResult<Json<SyncConfigResponse>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let connection_id = match &body.connection_id {
        Some(connection) => Some(resolve_connection_id(&app, connection).await?),
        None => None,
    };
    let filters = body.file_filters.as_ref().map(|f| f.to_filters());
    let change = move |config: &mut SyncConfig| {
        if let Some(connection_id) = &connection_id {
            config.connection_id = connection_id.clone();
        }
        if let Some(source_path) = &body.source_path {
            config.source_path = source_path.trim().to_string();
        }
        if let Some(mode) = body.sync_mode {
            config.sync_mode = mode;
        }
        if let Some(filters) = &filters {
            config.file_filters = filters.clone();
        }
        if let Some(polling) = body.polling_interval_seconds {
            config.polling_interval_seconds =
                to_u32(Some(polling), DEFAULT_POLLING_INTERVAL_SECONDS);
        }
        if let Some(chunk) = body.batch_chunk_size {
            config.batch_chunk_size = to_u32(Some(chunk), DEFAULT_BATCH_CHUNK_SIZE);
        }
        if let Some(skip) = body.skip_duplicates {
            config.skip_duplicates = skip;
        }
        if let Some(max) = body.max_objects_per_run {
            config.max_objects_per_run = max.max(0) as u64;
        }
        if let Some(reconcile) = body.reconcile_on_sync {
            config.reconcile_on_sync = reconcile;
        }
        if let Some(metadata) = &body.metadata {
            config.metadata = metadata.clone();
        }
        if let Some(active) = body.is_active {
            config.is_active = active;
        }
        config.updated_at = now();
    };
    let config = modify(&app, &config.sync_config_id, change).await?;
    Ok(Json(SyncConfigResponse::load(&app, config).await?))
}

/// Ids of the config's jobs that are pending or running.
async fn active_jobs(app: &App, sync_config_id: &str) -> ApiResult<Vec<String>> {
    Ok(app
        .store
        .list_jobs_by_status(&[JobStatus::Pending, JobStatus::InProgress])
        .await?
        .into_iter()
        .filter(|job| job.sync_config_id == sync_config_id)
        .map(|job| job.sync_job_id)
        .collect())
}

#[utoipa::path(
    delete, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}", tag = "Bucket syncs",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
    ),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
        (status = 409, description = "A run is pending or in progress", body = ErrorResponse),
    )
)]
pub async fn delete_sync_config(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<SyncConfigPath>,
) -> ApiResult<Json<DeletedResponse>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let running = active_jobs(&app, &config.sync_config_id).await?;
    if !running.is_empty() {
        return Err(ApiError::conflict(
            "sync_running",
            "A run of this sync configuration is pending or in progress; cancel it or wait for it to end",
        )
        .with_details(json!({ "sync_job_ids": running })));
    }
    if !app.store.delete_sync_config(&config.sync_config_id).await? {
        return Err(ApiError::not_found("sync_config", &path.sync_config_id));
    }
    Ok(Json(DeletedResponse::new(
        config.sync_config_id,
        "Sync configuration deleted",
    )))
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/pause", tag = "Bucket syncs",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
    ),
    request_body(content = Option<PauseRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Paused: a running job finishes, nothing new is scheduled", body = SyncConfigResponse),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
    )
)]
pub async fn pause_sync_config(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<SyncConfigPath>,
    ValidJson(body): ValidJson<PauseRequest>,
) -> ApiResult<Json<SyncConfigResponse>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    let change = move |config: &mut SyncConfig| {
        let at = now();
        if !config.paused {
            config.paused_at = Some(at);
        }
        config.paused = true;
        config.status = SyncConfigStatus::Paused;
        config.pause_reason = reason.clone();
        config.updated_at = at;
    };
    let config = modify(&app, &config.sync_config_id, change).await?;
    Ok(Json(SyncConfigResponse::load(&app, config).await?))
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/resume", tag = "Bucket syncs",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
    ),
    responses(
        (status = 200, description = "Resumed; an incremental run is queued", body = SyncConfigResumed),
        (status = 404, description = "Unknown bucket or configuration", body = ErrorResponse),
    )
)]
pub async fn resume_sync_config(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<SyncConfigPath>,
) -> ApiResult<Json<SyncConfigResumed>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let was_paused = config.paused;
    let change = |config: &mut SyncConfig| {
        config.paused = false;
        config.pause_reason = None;
        config.paused_at = None;
        if config.status == SyncConfigStatus::Paused {
            config.status = SyncConfigStatus::Active;
        }
        config.updated_at = now();
    };
    let config = modify(&app, &config.sync_config_id, change).await?;
    let runs_again = config.sync_mode == SyncMode::Continuous || !config.initial_run_done;
    let mut sync_job_id = None;
    if was_paused && config.is_active && runs_again {
        let options = TriggerOptions {
            full_sync: false,
            trigger: JobTrigger::Resume,
            only_keys: None,
        };
        let job = trigger_sync(&app, &config, options)
            .await
            .map_err(trigger_error)?;
        sync_job_id = Some(job.sync_job_id);
    }
    Ok(Json(SyncConfigResumed {
        config: SyncConfigResponse::load(&app, config).await?,
        sync_job_id,
    }))
}

/// A refused trigger as the API answers it.
pub fn trigger_error(error: TriggerError) -> ApiError {
    match error {
        TriggerError::Paused(id) => ApiError::bad_request(
            "sync_paused",
            "Sync configuration is paused; resume it before triggering a run",
        )
        .with_details(json!({ "id": id, "resource": "sync_configuration" })),
        TriggerError::Inactive(id) => ApiError::bad_request(
            "sync_inactive",
            "Sync configuration is not active; activate it before triggering a run",
        )
        .with_details(json!({ "id": id, "resource": "sync_configuration" })),
        TriggerError::Queue(message) => ApiError::unavailable(message),
        TriggerError::Store(e) => e.into(),
    }
}

/// Manually trigger a sync execution: stores a `PENDING` job and queues it.
/// Track it with `GET /v1/syncs/{sync_job_id}`.
#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/trigger", tag = "Bucket syncs",
    operation_id = "trigger_sync_configuration_v1_buckets__bucket_id__syncs__sync_config_id__trigger_post",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("sync_config_id" = String, Path, description = "Sync configuration id"),
        TriggerParams,
    ),
    responses(
        (status = 200, description = "The job was created and queued", body = TriggerResponse),
        (status = 400, description = "The configuration is paused (`sync_paused`) or inactive (`sync_inactive`)", body = ErrorResponse),
        (status = 401, description = "Unauthorized", body = ErrorResponse),
        (status = 403, description = "Forbidden", body = ErrorResponse),
        (status = 404, description = "Unknown bucket (`bucket_not_found`) or configuration (`sync_config_not_found`)", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
        (status = 500, description = "Internal server error", body = ErrorResponse),
    )
)]
pub async fn trigger_sync_config(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<SyncConfigPath>,
    ValidQuery(params): ValidQuery<TriggerParams>,
) -> ApiResult<Json<TriggerResponse>> {
    let (_, config) = load_bucket_and_config(&app, scope.namespace_id(), &path).await?;
    let full_sync = params.full_sync.unwrap_or(false);
    let job = trigger_sync(&app, &config, TriggerOptions::manual(full_sync))
        .await
        .map_err(trigger_error)?;
    Ok(Json(TriggerResponse {
        sync_job_id: job.sync_job_id,
        sync_config_id: job.sync_config_id,
        bucket_id: job.bucket_id,
        status: job.status,
        full_sync: job.full_sync,
    }))
}

/// Read-modify-write of a config in one store step, so a run finishing at
/// the same moment cannot lose (or undo) this change.
async fn modify(
    app: &App,
    sync_config_id: &str,
    change: impl Fn(&mut SyncConfig) + Send + Sync + 'static,
) -> ApiResult<SyncConfig> {
    app.store
        .modify_sync_config(sync_config_id, Box::new(change))
        .await?
        .ok_or_else(|| ApiError::not_found("sync_config", sync_config_id))
}
