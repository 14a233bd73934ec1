//! `/v1/buckets/{bucket_id}/batches`: groups of created or updated objects,
//! as they were handed downstream.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Read, Scoped};
use super::buckets::load_bucket;
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use crate::app::App;
use crate::model::Batch;
use crate::store::BatchFilter;

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub batch_id: String,
    pub bucket_id: String,
    pub sync_config_id: String,
    pub sync_job_id: String,
    pub object_ids: Vec<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<Batch> for BatchResponse {
    fn from(batch: Batch) -> Self {
        Self {
            batch_id: batch.batch_id,
            bucket_id: batch.bucket_id,
            sync_config_id: batch.sync_config_id,
            sync_job_id: batch.sync_job_id,
            object_ids: batch.object_ids,
            status: batch.status,
            created_at: batch.created_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BatchListFilters {
    pub sync_config_id: Option<String>,
    pub sync_job_id: Option<String>,
}

impl Validate for BatchListFilters {}

#[derive(Debug, Deserialize)]
pub struct BucketPath {
    pub bucket_id: String,
}

#[derive(Debug, Deserialize)]
pub struct BatchPath {
    pub bucket_id: String,
    pub batch_id: String,
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/batches/list", tag = "Batches",
    params(("bucket_id" = String, Path, description = "Bucket id"), ListParams),
    request_body = Option<BatchListFilters>,
    responses(
        (status = 200, description = "A page of batches, oldest first", body = ListResponse<BatchResponse>),
        (status = 404, description = "Unknown bucket", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_batches(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<BucketPath>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(filters): ValidJson<BatchListFilters>,
) -> ApiResult<Json<ListResponse<BatchResponse>>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let filter = BatchFilter {
        sync_config_id: filters.sync_config_id,
        sync_job_id: filters.sync_job_id,
    };
    let page = params.page();
    let paged = app
        .store
        .list_batches(&bucket.bucket_id, &filter, page)
        .await?;
    Ok(Json(ListResponse::from_paged(
        paged,
        page,
        BatchResponse::from,
    )))
}

#[utoipa::path(
    get, path = "/v1/buckets/{bucket_id}/batches/{batch_id}", tag = "Batches",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("batch_id" = String, Path, description = "Batch id"),
    ),
    responses(
        (status = 200, description = "The batch", body = BatchResponse),
        (status = 404, description = "Unknown bucket or batch", body = ErrorResponse),
    )
)]
pub async fn get_batch(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<BatchPath>,
) -> ApiResult<Json<BatchResponse>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let batch = app
        .store
        .get_batch(&bucket.bucket_id, &path.batch_id)
        .await?
        .ok_or_else(|| ApiError::not_found("batch", &path.batch_id))?;
    Ok(Json(batch.into()))
}
