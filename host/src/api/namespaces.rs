//! `/v1/namespaces`: the partitions buckets live in. Creating and deleting
//! one needs `admin`; a key sees only the namespaces it may use.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Admin, Authorized, Read};
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError};
use super::extract::{Errors, ValidJson, ValidPath, Validate};
use super::DeletedResponse;
use crate::app::App;
use crate::model::{new_id, now, Namespace};

#[derive(Debug, Deserialize, ToSchema)]
pub struct NamespaceCreate {
    /// Unique; letters, digits, `-` and `_`.
    pub namespace_name: String,
    pub description: Option<String>,
}

impl Validate for NamespaceCreate {
    fn validate(&self, errors: &mut Errors) {
        errors.text(&["namespace_name"], Some(&self.namespace_name), 128);
        let name = self.namespace_name.trim();
        if !name.is_empty()
            && !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push(
                &["namespace_name".into()],
                "Use only letters, digits, `-` and `_`",
                "string_pattern_mismatch",
            );
        } else if name.starts_with("ns_") {
            errors.push(
                &["namespace_name".into()],
                "A name must not start with `ns_` (the id prefix)",
                "string_pattern_mismatch",
            );
        }
        errors.text(
            &["description"],
            self.description.as_deref().filter(|d| !d.is_empty()),
            1000,
        );
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceResponse {
    pub namespace_id: String,
    pub namespace_name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Namespace> for NamespaceResponse {
    fn from(ns: Namespace) -> Self {
        Self {
            namespace_id: ns.namespace_id,
            namespace_name: ns.namespace_name,
            description: ns.description,
            created_at: ns.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NamespacePath {
    pub namespace_id: String,
}

#[utoipa::path(
    post, path = "/v1/namespaces", tag = "Namespaces",
    request_body = NamespaceCreate,
    responses(
        (status = 200, description = "The new namespace", body = NamespaceResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn create_namespace(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    ValidJson(body): ValidJson<NamespaceCreate>,
) -> ApiResult<Json<NamespaceResponse>> {
    let name = body.namespace_name.trim().to_string();
    if app.store.get_namespace(&name).await?.is_some() {
        return Err(ApiError::already_exists(
            "namespace_name_taken",
            format!("A namespace named {name:?} already exists"),
        ));
    }
    let namespace = Namespace {
        namespace_id: new_id("ns"),
        namespace_name: name,
        description: body.description.filter(|d| !d.trim().is_empty()),
        created_at: now(),
    };
    app.store.create_namespace(&namespace).await?;
    Ok(Json(namespace.into()))
}

#[utoipa::path(
    get, path = "/v1/namespaces", tag = "Namespaces",
    responses((status = 200, description = "The namespaces this key may use", body = Vec<NamespaceResponse>))
)]
pub async fn list_namespaces(
    State(app): State<App>,
    auth: Authorized<Read>,
) -> ApiResult<Json<Vec<NamespaceResponse>>> {
    let namespaces = app.store.list_namespaces().await?;
    Ok(Json(
        namespaces
            .into_iter()
            .filter(|ns| auth.key.may_use_namespace(&ns.namespace_id))
            .map(NamespaceResponse::from)
            .collect(),
    ))
}

async fn visible_namespace(
    app: &App,
    key: &crate::model::ApiKey,
    id: &str,
) -> ApiResult<Namespace> {
    app.store
        .get_namespace(id)
        .await?
        .filter(|ns| key.may_use_namespace(&ns.namespace_id))
        .ok_or_else(|| ApiError::not_found("namespace", id))
}

#[utoipa::path(
    get, path = "/v1/namespaces/{namespace_id}", tag = "Namespaces",
    params(("namespace_id" = String, Path, description = "Namespace id or name")),
    responses(
        (status = 200, description = "The namespace", body = NamespaceResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
    )
)]
pub async fn get_namespace(
    State(app): State<App>,
    auth: Authorized<Read>,
    ValidPath(path): ValidPath<NamespacePath>,
) -> ApiResult<Json<NamespaceResponse>> {
    Ok(Json(
        visible_namespace(&app, &auth.key, &path.namespace_id)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    delete, path = "/v1/namespaces/{namespace_id}", tag = "Namespaces",
    params(("namespace_id" = String, Path, description = "Namespace id or name")),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "The namespace still holds buckets", body = ErrorResponse),
    )
)]
pub async fn delete_namespace(
    State(app): State<App>,
    auth: Authorized<Admin>,
    ValidPath(path): ValidPath<NamespacePath>,
) -> ApiResult<Json<DeletedResponse>> {
    let namespace = visible_namespace(&app, &auth.key, &path.namespace_id).await?;
    let buckets = app.store.list_buckets(&namespace.namespace_id).await?;
    if !buckets.is_empty() {
        return Err(ApiError::conflict(
            "namespace_not_empty",
            format!(
                "Namespace {} still holds {} bucket(s); delete them first",
                namespace.namespace_name,
                buckets.len()
            ),
        ));
    }
    if !app.store.delete_namespace(&namespace.namespace_id).await? {
        return Err(ApiError::not_found("namespace", &path.namespace_id));
    }
    Ok(Json(DeletedResponse::new(
        namespace.namespace_id,
        "Namespace deleted",
    )))
}
