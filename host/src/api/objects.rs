//! `/v1/buckets/{bucket_id}/objects`: what syncs created, one per source file.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Read, Scoped, Write};
use super::buckets::load_bucket;
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use super::DeletedResponse;
use crate::app::App;
use crate::model::{Blob, BlobType, Metadata, Object, ObjectSource};
use crate::store::ObjectFilter;

/// The file behind an object's blob.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlobDetailsResponse {
    pub filename: String,
    pub size_bytes: u64,
    pub mime_type: Option<String>,
    /// The provider's etag.
    pub hash: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlobResponse {
    /// Always `content`.
    pub property: String,
    /// `image`, `video`, `audio`, `text`, `pdf` or `other`.
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    /// The provider URI, e.g. `s3://bucket/key`.
    pub url: String,
    pub details: BlobDetailsResponse,
}

impl From<Blob> for BlobResponse {
    fn from(blob: Blob) -> Self {
        Self {
            property: blob.property,
            blob_type: blob.blob_type,
            url: blob.url,
            details: BlobDetailsResponse {
                filename: blob.details.filename,
                size_bytes: blob.details.size_bytes,
                mime_type: blob.details.mime_type,
                hash: blob.details.hash,
            },
        }
    }
}

/// Where an object came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectSourceResponse {
    pub provider_type: String,
    pub connection_id: String,
    pub sync_config_id: String,
    pub uri: String,
    pub etag: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
}

impl From<ObjectSource> for ObjectSourceResponse {
    fn from(source: ObjectSource) -> Self {
        Self {
            provider_type: source.provider_type,
            connection_id: source.connection_id,
            sync_config_id: source.sync_config_id,
            uri: source.uri,
            etag: source.etag,
            last_modified: source.last_modified,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectResponse {
    pub object_id: String,
    pub bucket_id: String,
    pub key: String,
    pub blobs: Vec<BlobResponse>,
    pub source: ObjectSourceResponse,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    pub version: u64,
    pub sync_job_id: String,
    pub batch_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Object> for ObjectResponse {
    fn from(object: Object) -> Self {
        Self {
            object_id: object.object_id,
            bucket_id: object.bucket_id,
            key: object.key,
            blobs: object.blobs.into_iter().map(BlobResponse::from).collect(),
            source: object.source.into(),
            metadata: object.metadata,
            version: object.version,
            sync_job_id: object.sync_job_id,
            batch_id: object.batch_id,
            created_at: object.created_at,
            updated_at: object.updated_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ObjectListFilters {
    pub sync_config_id: Option<String>,
    /// Objects whose key starts with this.
    pub key_prefix: Option<String>,
}

impl Validate for ObjectListFilters {}

#[derive(Debug, Deserialize)]
pub struct BucketPath {
    pub bucket_id: String,
}

#[derive(Debug, Deserialize)]
pub struct ObjectPath {
    pub bucket_id: String,
    pub object_id: String,
}

#[utoipa::path(
    post, path = "/v1/buckets/{bucket_id}/objects/list", tag = "Objects",
    params(("bucket_id" = String, Path, description = "Bucket id"), ListParams),
    request_body = Option<ObjectListFilters>,
    responses(
        (status = 200, description = "A page of objects in key order", body = ListResponse<ObjectResponse>),
        (status = 404, description = "Unknown bucket", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_objects(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<BucketPath>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(filters): ValidJson<ObjectListFilters>,
) -> ApiResult<Json<ListResponse<ObjectResponse>>> {
    let bucket = load_bucket(&app, scope.namespace_id(), &path.bucket_id).await?;
    let filter = ObjectFilter {
        sync_config_id: filters.sync_config_id,
        key_prefix: filters.key_prefix.filter(|p| !p.is_empty()),
    };
    let page = params.page();
    let paged = app
        .store
        .list_objects(&bucket.bucket_id, &filter, page)
        .await?;
    Ok(Json(ListResponse::from_paged(
        paged,
        page,
        ObjectResponse::from,
    )))
}

async fn load_object(app: &App, namespace_id: &str, path: &ObjectPath) -> ApiResult<Object> {
    let bucket = load_bucket(app, namespace_id, &path.bucket_id).await?;
    app.store
        .get_object(&bucket.bucket_id, &path.object_id)
        .await?
        .ok_or_else(|| ApiError::not_found("object", &path.object_id))
}

#[utoipa::path(
    get, path = "/v1/buckets/{bucket_id}/objects/{object_id}", tag = "Objects",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("object_id" = String, Path, description = "Object id"),
    ),
    responses(
        (status = 200, description = "The object", body = ObjectResponse),
        (status = 404, description = "Unknown bucket or object", body = ErrorResponse),
    )
)]
pub async fn get_object(
    State(app): State<App>,
    scope: Scoped<Read>,
    ValidPath(path): ValidPath<ObjectPath>,
) -> ApiResult<Json<ObjectResponse>> {
    Ok(Json(
        load_object(&app, scope.namespace_id(), &path).await?.into(),
    ))
}

#[utoipa::path(
    delete, path = "/v1/buckets/{bucket_id}/objects/{object_id}", tag = "Objects",
    params(
        ("bucket_id" = String, Path, description = "Bucket id"),
        ("object_id" = String, Path, description = "Object id"),
    ),
    responses(
        (status = 200, description = "Deleted (a later sync recreates it if its file is still there)", body = DeletedResponse),
        (status = 404, description = "Unknown bucket or object", body = ErrorResponse),
    )
)]
pub async fn delete_object(
    State(app): State<App>,
    scope: Scoped<Write>,
    ValidPath(path): ValidPath<ObjectPath>,
) -> ApiResult<Json<DeletedResponse>> {
    let object = load_object(&app, scope.namespace_id(), &path).await?;
    if !app
        .store
        .delete_object(&object.bucket_id, &object.object_id)
        .await?
    {
        return Err(ApiError::not_found("object", &path.object_id));
    }
    Ok(Json(DeletedResponse::new(
        object.object_id,
        "Object deleted",
    )))
}
