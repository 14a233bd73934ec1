//! Who is calling and what they may touch. The [`authenticate`] layer turns
//! `Authorization: Bearer <key>` into a [`Caller`] (401 otherwise); the
//! [`Authorized`] and [`Scoped`] extractors check a permission (403) and, for
//! bucket- and sync-scoped routes, resolve the namespace (404 when unknown or
//! not the key's). Only the SHA-256 of a key is ever looked up or stored.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::app::App;
use crate::model::{ApiKey, Namespace, Permission};

/// The namespace used when a request names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The header naming the namespace (id or name).
pub const NAMESPACE_HEADER: &str = "x-namespace";

/// The authenticated key of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey);

/// Hex SHA-256 of a key's secret: what the store keeps and looks up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Layer function: authenticates every `/v1` request before its handler runs.
pub async fn authenticate(State(app): State<App>, mut request: Request, next: Next) -> Response {
    match caller_of(&app, request.headers()).await {
        Ok(key) => {
            request.extensions_mut().insert(Caller(key));
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

async fn caller_of(app: &App, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing_api_key",
                "Missing API key: send it as `Authorization: Bearer <key>`",
            )
        })?;
    let secret = value
        .to_str()
        .ok()
        .and_then(|text| {
            let (scheme, secret) = text.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
        })
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_authorization_header",
                "The Authorization header must be `Bearer <key>`",
            )
        })?;
    app.store
        .find_api_key_by_hash(&hash_secret(secret))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_api_key", "Invalid API key"))
}

/// A permission level, as a type: `Authorized<Write>`.
pub trait Level: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// Needs `read` (or better).
pub struct Read;
/// Needs `write` (or `admin`).
pub struct Write;
/// Needs `admin`.
pub struct Admin;

impl Level for Read {
    const PERMISSION: Permission = Permission::Read;
}
impl Level for Write {
    const PERMISSION: Permission = Permission::Write;
}
impl Level for Admin {
    const PERMISSION: Permission = Permission::Admin;
}

fn permission_name(permission: Permission) -> &'static str {
    match permission {
        Permission::Read => "read",
        Permission::Write => "write",
        Permission::Admin => "admin",
    }
}

fn authorized_key(parts: &Parts, needed: Permission) -> Result<ApiKey, ApiError> {
    let Caller(key) = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("missing_api_key", "Missing API key"))?;
    if !key.allows(needed) {
        let needed = permission_name(needed);
        return Err(ApiError::forbidden(
            "insufficient_permissions",
            format!("This API key lacks the `{needed}` permission"),
        )
        .with_details(serde_json::json!({ "required_permission": needed })));
    }
    Ok(key)
}

/// A caller holding permission `L`.
pub struct Authorized<L: Level> {
    pub key: ApiKey,
    level: PhantomData<fn() -> L>,
}

impl<L: Level> FromRequestParts<App> for Authorized<L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &App) -> Result<Self, Self::Rejection> {
        Ok(Self {
            key: authorized_key(parts, L::PERMISSION)?,
            level: PhantomData,
        })
    }
}

/// A caller holding permission `L`, working in the namespace the request
/// names (`X-Namespace`, else `?namespace=`, else `default`).
pub struct Scoped<L: Level> {
    pub key: ApiKey,
    pub namespace: Namespace,
    level: PhantomData<fn() -> L>,
}

impl<L: Level> Scoped<L> {
    pub fn namespace_id(&self) -> &str {
        &self.namespace.namespace_id
    }
}

impl<L: Level> FromRequestParts<App> for Scoped<L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let key = authorized_key(parts, L::PERMISSION)?;
        let requested = requested_namespace(parts)?;
        let namespace = app
            .store
            .get_namespace(&requested)
            .await?
            .filter(|ns| key.may_use_namespace(&ns.namespace_id))
            .ok_or_else(|| ApiError::not_found("namespace", &requested))?;
        Ok(Self {
            key,
            namespace,
            level: PhantomData,
        })
    }
}

fn requested_namespace(parts: &Parts) -> Result<String, ApiError> {
    if let Some(value) = parts.headers.get(NAMESPACE_HEADER) {
        let value = value.to_str().map_err(|_| {
            ApiError::bad_request(
                "invalid_namespace_header",
                "The X-Namespace header is not valid text",
            )
        })?;
        if !value.trim().is_empty() {
            return Ok(value.trim().to_string());
        }
    }
    let from_query = parts.uri.query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name == "namespace" && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_string())
    });
    Ok(from_query.unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()))
}
