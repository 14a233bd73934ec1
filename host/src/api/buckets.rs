//! `/v1/buckets`: the containers objects are synced into, one namespace each.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Read, Scoped, Write};
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{Errors, ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use super::DeletedResponse;
use crate::app::App;
use crate::model::{new_id, now, Bucket, JobStatus, Metadata};

#[derive(Debug, Deserialize, ToSchema)]
pub struct BucketCreate {
    /// Unique within the namespace.
    pub bucket_name: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

impl Validate for BucketCreate {
    fn validate(&self, errors: &mut Errors) {
        errors.text(&["bucket_name"], Some(&self.bucket_name), 255);
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BucketUpdate {
    pub bucket_name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
}

impl Validate for BucketUpdate {
    fn validate(&self, errors: &mut Errors) {
        errors.text(&["bucket_name"], self.bucket_name.as_deref(), 255);
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BucketListFilters {
    /// Buckets whose name contains this text (case-insensitive).
    pub bucket_name: Option<String>,
}

impl Validate for BucketListFilters {}

#[derive(Debug, Serialize, ToSchema)]
pub struct BucketResponse {
    pub bucket_id: String,
    pub namespace_id: String,
    pub bucket_name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Bucket> for BucketResponse {
    fn from(bucket: Bucket) -> Self {
        Self {
            bucket_id: bucket.bucket_id,
            namespace_id: bucket.namespace_id,
            bucket_name: bucket.bucket_name,
            description: bucket.description,
            metadata: bucket.metadata,
            created_at: bucket.created_at,
            updated_at: bucket.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct BucketPath {
    pub bucket_id: String,
}

/// The bucket if it exists in this namespace; 404 `bucket_not_found` otherwise.
pub async fn load_bucket(app: &App, namespace_id: &str, bucket_id: &str) -> ApiResult<Bucket> {
    app.store
        .get_bucket(bucket_id)
        .await?
        .filter(|b| b.namespace_id == namespace_id)
        .ok_or_else(|| ApiError::not_found("bucket", bucket_id))
}

async fn ensure_name_free(
    app: &App,
    namespace_id: &str,
    name: &str,
    except: Option<&str>,
) -> ApiResult<()> {
    let taken = app
        .store
        .list_buckets(namespace_id)
        .await?
        .into_iter()
        .any(|b| b.bucket_name == name && Some(b.bucket_id.as_str()) != except);
    if taken {
        return Err(ApiError::already_exists(
            "bucket_name_taken",
            format!("A bucket named {name:?} already exists in this namespace"),
        ));
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/v1/buckets", tag = "Buckets",
    request_body = BucketCreate,
    responses(
        (status = 200, description = "The new bucket", body = BucketResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn create_bucket(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidJson(body): ValidJson<BucketCreate>,
) -> ApiResult<Json<BucketResponse>> {
    let name = body.bucket_name.trim().to_string();
    ensure_name_free(&app, scope.namespace_id(), &name, None).await?;
    let at = now();
    let bucket = Bucket {
        bucket_id: new_id("bkt"),
        namespace_id: scope.namespace_id().to_string(),
        bucket_name: name,
        description: body.description,
        metadata: body.metadata.unwrap_or_default(),
        created_at: at,
        updated_at: at,
    };
    app.store.create_bucket(&bucket).await?;
    Ok(Json(bucket.into()))
}

#[utoipa::path(
    post, path = "/v1/buckets/list", tag = "Buckets",
    params(ListParams),
    request_body = Option<BucketListFilters>,
    responses(
        (status = 200, description = "A page of buckets", body = ListResponse<BucketResponse>),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_buckets(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(filters): ValidJson<BucketListFilters>,
) -> ApiResult<Json<ListResponse<BucketResponse>>> {
    let needle = filters.bucket_name.map(|n| n.to_lowercase());
    let mut buckets: Vec<Bucket> = app
        .store
        .list_buckets(scope.namespace_id())
        .await?
        .into_iter()
        .filter(|b| {
            needle
                .as_ref()
                .is_none_or(|n| b.bucket_name.to_lowercase().contains(n))
        })
        .collect();
    buckets.sort_by(|a, b| (a.created_at, &a.bucket_id).cmp(&(b.created_at, &b.bucket_id)));
    Ok(Json(ListResponse::from_all(
        buckets,
        params.page(),
        BucketResponse::from,
    )))
}

#[utoipa::path(
    get, path = "/v1/buckets/{bucket_id}", tag = "Buckets",
    params(("bucket_id" = String, Path, description = "Bucket id")),
    responses(
        (status = 200, description = "The bucket", body = BucketResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
    )
)]
pub async fn get_bucket(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<BucketPath>,
) -> ApiResult<Json<BucketResponse>> {
    Ok(Json(
        load_bucket(&app, scope.namespace_id(), &path.bucket_id)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    patch, path = "/v1/buckets/{bucket_id}", tag = "Buckets",
    params(("bucket_id" = String, Path, description = "Bucket id")),
    request_body = BucketUpdate,
    responses(
        (status = 200, description = "The updated bucket", body = BucketResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn update_bucket(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<BucketPath>,
    ValidJson(body): ValidJson<BucketUpdate>,
) -> ApiResult<Json<BucketResponse>> {
    let mut bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    if let Some(name) = body.bucket_name {
        let name = name.trim().to_string();
        ensure_name_free(&app, scope.namespace_id(), &name, Some(&bucket.bucket_id)).await?;
        bucket.bucket_name = name;
    }
    if let Some(description) = body.description {
        bucket.description = Some(description).filter(|d| !d.is_empty());
    }
    if let Some(metadata) = body.metadata {
        bucket.metadata = metadata;
    }
    bucket.updated_at = now();
    app.store.update_bucket(&bucket).await?;
    Ok(Json(bucket.into()))
}

#[utoipa::path(
    delete, path = "/v1/buckets/{bucket_id}", tag = "Buckets",
    params(("bucket_id" = String, Path, description = "Bucket id")),
    responses(
        (status = 200, description = "Deleted with its sync configurations, jobs, objects, batches and dead letters", body = DeletedResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "A sync of this bucket is pending or running", body = ErrorResponse),
    )
)]
pub async fn delete_bucket(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<BucketPath>,
) -> ApiResult<Json<DeletedResponse>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let running: Vec<String> = app
        .store
        .list_jobs_by_status(&[JobStatus::Pending, JobStatus::InProgress])
        .await?
        .into_iter()
        .filter(|job| job.bucket_id == bucket.bucket_id)
        .map(|job| job.sync_job_id)
        .collect();
    if !running.is_empty() {
        return Err(ApiError::conflict(
            "sync_running",
            "A sync of this bucket is pending or running; cancel it or wait for it to end",
        )
        .with_details(json!({ "sync_job_ids": running })));
    }
    if !app.store.delete_bucket(&bucket.bucket_id).await? {
        return Err(ApiError::not_found("bucket", &path.bucket_id));
    }
    Ok(Json(DeletedResponse::new(
        bucket.bucket_id,
        "Bucket deleted",
    )))
}
