//! `/v1/api-keys`: creating (secret shown once), listing and deleting keys.
//! Admin only. The store keeps only each secret's SHA-256.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{hash_secret, Admin, Authorized};
use super::bootstrap::generate_secret;
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{Errors, ValidJson, ValidPath, Validate};
use super::DeletedResponse;
use crate::app::App;
use crate::model::{new_id, now, ApiKey, Permission};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiKeyCreate {
    pub name: String,
    /// Namespaces (ids or names) the key may use; empty or absent: all.
    #[serde(default)]
    pub namespace_ids: Vec<String>,
    /// `read`, `write`, `admin`.
    pub permissions: Vec<Permission>,
}

impl Validate for ApiKeyCreate {
    fn validate(&self, errors: &mut Errors) {
        errors.text(&["name"], Some(&self.name), 128);
        if self.permissions.is_empty() {
            errors.push(
                &["permissions".into()],
                "List should have at least 1 item",
                "too_short",
            );
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub key_id: String,
    pub name: String,
    pub namespace_ids: Vec<String>,
    pub permissions: Vec<Permission>,
    pub created_at: DateTime<Utc>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(key: ApiKey) -> Self {
        Self {
            key_id: key.key_id,
            name: key.name,
            namespace_ids: key.namespace_ids,
            permissions: key.permissions,
            created_at: key.created_at,
        }
    }
}

/// A new key, with its secret: shown this once only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub info: ApiKeyResponse,
    /// The secret to send as `Authorization: Bearer <key>`.
    pub key: String,
}

#[derive(Debug, Deserialize)]
pub struct ApiKeyPath {
    pub key_id: String,
}

#[utoipa::path(
    post, path = "/v1/api-keys", tag = "API keys",
    request_body = ApiKeyCreate,
    responses(
        (status = 200, description = "The key, with its secret (shown once)", body = ApiKeyCreated),
        (status = 404, description = "Unknown namespace", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn create_api_key(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    ValidJson(body): ValidJson<ApiKeyCreate>,
) -> ApiResult<Json<ApiKeyCreated>> {
    let mut namespace_ids = Vec::new();
    for requested in &body.namespace_ids {
        let namespace = app
            .store
            .get_namespace(requested)
            .await?
            .ok_or_else(|| ApiError::not_found("namespace", requested))?;
        if !namespace_ids.contains(&namespace.namespace_id) {
            namespace_ids.push(namespace.namespace_id);
        }
    }
    let mut permissions = body.permissions;
    permissions.sort();
    permissions.dedup();
    let secret = generate_secret();
    let key = ApiKey {
        key_id: new_id("key"),
        name: body.name.trim().to_string(),
        key_hash: hash_secret(&secret),
        namespace_ids,
        permissions,
        created_at: now(),
    };
    app.store.create_api_key(&key).await?;
    Ok(Json(ApiKeyCreated {
        info: key.into(),
        key: secret,
    }))
}

#[utoipa::path(
    get, path = "/v1/api-keys", tag = "API keys",
    responses((status = 200, description = "Every key (never the secrets)", body = Vec<ApiKeyResponse>))
)]
pub async fn list_api_keys(
    State(app): State<App>,
    _auth: Authorized<Admin>,
) -> ApiResult<Json<Vec<ApiKeyResponse>>> {
    let keys = app.store.list_api_keys().await?;
    Ok(Json(keys.into_iter().map(ApiKeyResponse::from).collect()))
}

#[utoipa::path(
    delete, path = "/v1/api-keys/{key_id}", tag = "API keys",
    params(("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "The last admin key cannot be deleted", body = ErrorResponse),
    )
)]
pub async fn delete_api_key(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    ValidPath(path): ValidPath<ApiKeyPath>,
) -> ApiResult<Json<DeletedResponse>> {
    let keys = app.store.list_api_keys().await?;
    let Some(key) = keys.iter().find(|k| k.key_id == path.key_id) else {
        return Err(ApiError::not_found("api_key", &path.key_id));
    };
    let is_admin = |k: &ApiKey| k.permissions.contains(&Permission::Admin);
    if is_admin(key) && keys.iter().filter(|k| is_admin(k)).count() == 1 {
        return Err(ApiError::conflict(
            "last_admin_key",
            "This is the last admin key; create another admin key before deleting it",
        ));
    }
    if !app.store.delete_api_key(&path.key_id).await? {
        return Err(ApiError::not_found("api_key", &path.key_id));
    }
    Ok(Json(DeletedResponse::new(path.key_id, "API key deleted")))
}
