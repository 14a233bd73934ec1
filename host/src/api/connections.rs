//! `/v1/organizations/connections`: storage connections, organisation-wide.
//! Writing needs `admin`. A config is checked against its plugin's schema and
//! (by default) tested against the provider before it is saved; responses
//! never carry a secret.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::auth::{Admin, Authorized, Read, Write};
use super::error::{ApiError, ApiResult, ErrorResponse, HttpValidationError, LocPart};
use super::extract::{Errors, ValidJson, ValidPath, ValidQuery, Validate};
use super::pagination::{ListParams, ListResponse};
use super::provider_schema::{self, redact, restore_redacted, scrub};
use super::DeletedResponse;
use crate::app::App;
use crate::model::{new_id, now, Connection, ConnectionStatus, Metadata};
use crate::runtime::contract::ConnectorError;
use crate::runtime::{Plugin, PluginError};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConnectionCreate {
    /// Unique across the organisation.
    pub name: String,
    /// A provider id an installed plugin declares (`s3`, `gcs`, `azure_blob`, `local`, …).
    pub provider_type: String,
    /// Validated against the plugin's JSON schema.
    #[schema(value_type = Object)]
    pub provider_config: Value,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    /// Check the credentials against the provider before saving (default true).
    pub test_before_save: Option<bool>,
}

fn validate_name(errors: &mut Errors, name: Option<&str>) {
    errors.text(&["name"], name, 255);
    if name.is_some_and(|n| n.trim().starts_with("conn_")) {
        errors.push(
            &["name".into()],
            "A name must not start with `conn_` (the id prefix)",
            "string_pattern_mismatch",
        );
    }
}

fn validate_config_shape(errors: &mut Errors, config: Option<&Value>) {
    if config.is_some_and(|c| !c.is_object()) {
        errors.push(
            &["provider_config".into()],
            "Input should be a valid dictionary",
            "dict_type",
        );
    }
}

impl Validate for ConnectionCreate {
    fn validate(&self, errors: &mut Errors) {
        validate_name(errors, Some(&self.name));
        errors.text(&["provider_type"], Some(&self.provider_type), 64);
        validate_config_shape(errors, Some(&self.provider_config));
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConnectionUpdate {
    pub name: Option<String>,
    /// Replaces the config; values equal to the redaction marker keep their
    /// stored value.
    #[schema(value_type = Option<Object>)]
    pub provider_config: Option<Value>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Metadata>,
    pub is_active: Option<bool>,
    /// Test a changed config before saving (default true).
    pub test_before_save: Option<bool>,
}

impl Validate for ConnectionUpdate {
    fn validate(&self, errors: &mut Errors) {
        validate_name(errors, self.name.as_deref());
        validate_config_shape(errors, self.provider_config.as_ref());
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ConnectionListFilters {
    pub provider_type: Option<String>,
    pub status: Option<ConnectionStatus>,
    pub is_active: Option<bool>,
}

impl Validate for ConnectionListFilters {}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionResponse {
    pub connection_id: String,
    pub name: String,
    pub provider_type: String,
    /// The config with every secret replaced by `***REDACTED***`.
    #[schema(value_type = Object)]
    pub provider_config: Value,
    pub description: Option<String>,
    pub status: ConnectionStatus,
    pub is_active: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
}

impl ConnectionResponse {
    pub fn new(app: &App, connection: Connection) -> Self {
        let plugin = app.plugins.get(&connection.provider_type);
        let (provider_config, secrets) = redact(
            plugin.as_ref().map(|p| &p.info.config_schema),
            &connection.provider_config,
        );
        Self {
            connection_id: connection.connection_id,
            name: connection.name,
            provider_type: connection.provider_type,
            provider_config,
            description: connection.description,
            status: connection.status,
            is_active: connection.is_active,
            last_used_at: connection.last_used_at,
            last_error: connection.last_error.map(|e| scrub(&e, &secrets)),
            consecutive_failures: connection.consecutive_failures,
            created_at: connection.created_at,
            updated_at: connection.updated_at,
            metadata: connection.metadata,
        }
    }
}

/// Outcome of a connection test; 200 whether it passed or not.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTestResponse {
    pub success: bool,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug, Deserialize)]
pub struct ConnectionPath {
    pub connection_id_or_name: String,
}

/// The installed plugin for a provider type, or 400 `unknown_provider_type`.
fn plugin_for(app: &App, provider_type: &str) -> ApiResult<std::sync::Arc<Plugin>> {
    app.plugins.get(provider_type).ok_or_else(|| {
        let installed: Vec<String> = app
            .plugins
            .list()
            .iter()
            .map(|p| p.id().to_string())
            .collect();
        ApiError::bad_request(
            "unknown_provider_type",
            format!("No installed plugin provides provider type {provider_type:?}"),
        )
        .with_details(json!({ "provider_type": provider_type, "installed": installed }))
    })
}

/// 422 unless `config` satisfies the plugin's schema.
fn check_config(plugin: &Plugin, config: &Value) -> ApiResult<()> {
    let base = [LocPart::from("body"), LocPart::from("provider_config")];
    let errors = provider_schema::validate(&plugin.info.config_schema, config, &base);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Asks the plugin to check the config against the provider.
async fn run_test(app: &App, plugin: &Plugin, config: &Value) -> Result<String, PluginError> {
    let policy = app.runtime.policy_for(plugin, config)?;
    plugin.validate(config, &policy).await
}

fn failure_code(error: &PluginError) -> &'static str {
    match error {
        PluginError::Connector(ConnectorError::Unauthorized { .. }) => "invalid_credentials",
        PluginError::Connector(ConnectorError::InvalidConfig { .. }) => "invalid_provider_config",
        PluginError::Connector(ConnectorError::NotFound { .. }) => "source_not_found",
        PluginError::Sandbox(_) => "connection_not_allowed",
        PluginError::HostNotAllowed { .. } => "host_not_allowed",
        _ => "connection_test_failed",
    }
}

/// 400 for a failed test before saving, the plugin's message without secrets.
fn test_failure(error: &PluginError, config: &Value, plugin: &Plugin) -> ApiError {
    let (_, secrets) = redact(Some(&plugin.info.config_schema), config);
    ApiError::bad_request(
        failure_code(error),
        format!(
            "Connection test failed: {}",
            scrub(&error.to_string(), &secrets)
        ),
    )
    .with_details(json!({ "error_type": error.kind(), "provider_type": plugin.id() }))
}

async fn load_connection(app: &App, id_or_name: &str) -> ApiResult<Connection> {
    app.store
        .get_connection(id_or_name)
        .await?
        .ok_or_else(|| ApiError::not_found("connection", id_or_name))
}

async fn ensure_name_free(app: &App, name: &str, except_id: Option<&str>) -> ApiResult<()> {
    match app.store.get_connection(name).await? {
        Some(existing) if Some(existing.connection_id.as_str()) != except_id => {
            Err(ApiError::already_exists(
                "connection_name_taken",
                format!("A connection named {name:?} already exists"),
            ))
        }
        _ => Ok(()),
    }
}

#[utoipa::path(
    post, path = "/v1/organizations/connections", tag = "Storage connections",
    request_body = ConnectionCreate,
    responses(
        (status = 200, description = "The new connection (secrets redacted)", body = ConnectionResponse),
        (status = 400, description = "Unknown provider type, or the test failed", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn create_connection(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    ValidJson(body): ValidJson<ConnectionCreate>,
) -> ApiResult<Json<ConnectionResponse>> {
    let plugin = plugin_for(&app, body.provider_type.trim())?;
    check_config(&plugin, &body.provider_config)?;
    let name = body.name.trim().to_string();
    ensure_name_free(&app, &name, None).await?;
    let tested = body.test_before_save.unwrap_or(true);
    if tested {
        run_test(&app, &plugin, &body.provider_config)
            .await
            .map_err(|e| test_failure(&e, &body.provider_config, &plugin))?;
    }
    let at = now();
    let connection = Connection {
        connection_id: new_id("conn"),
        name,
        provider_type: plugin.id().to_string(),
        provider_config: body.provider_config,
        description: body.description,
        metadata: body.metadata.unwrap_or_default(),
        status: ConnectionStatus::Active,
        is_active: true,
        last_used_at: tested.then_some(at),
        last_error: None,
        consecutive_failures: 0,
        created_at: at,
        updated_at: at,
    };
    app.store.create_connection(&connection).await?;
    Ok(Json(ConnectionResponse::new(&app, connection)))
}

#[utoipa::path(
    post, path = "/v1/organizations/connections/list", tag = "Storage connections",
    params(ListParams),
    request_body = Option<ConnectionListFilters>,
    responses(
        (status = 200, description = "A page of connections", body = ListResponse<ConnectionResponse>),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn list_connections(
    State(app): State<App>,
    _auth: Authorized<Read>,
    ValidQuery(params): ValidQuery<ListParams>,
    ValidJson(filters): ValidJson<ConnectionListFilters>,
) -> ApiResult<Json<ListResponse<ConnectionResponse>>> {
    let mut connections: Vec<Connection> = app
        .store
        .list_connections()
        .await?
        .into_iter()
        .filter(|c| {
            filters
                .provider_type
                .as_ref()
                .is_none_or(|p| &c.provider_type == p)
        })
        .filter(|c| filters.status.is_none_or(|s| c.status == s))
        .filter(|c| filters.is_active.is_none_or(|a| c.is_active == a))
        .collect();
    connections
        .sort_by(|a, b| (a.created_at, &a.connection_id).cmp(&(b.created_at, &b.connection_id)));
    Ok(Json(ListResponse::from_all(
        connections,
        params.page(),
        |c| ConnectionResponse::new(&app, c),
    )))
}

#[utoipa::path(
    get, path = "/v1/organizations/connections/{connection_id_or_name}", tag = "Storage connections",
    params(("connection_id_or_name" = String, Path, description = "Connection id or name")),
    responses(
        (status = 200, description = "The connection (secrets redacted)", body = ConnectionResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
    )
)]
pub async fn get_connection(
    State(app): State<App>,
    _auth: Authorized<Read>,
    ValidPath(path): ValidPath<ConnectionPath>,
) -> ApiResult<Json<ConnectionResponse>> {
    let connection = load_connection(&app, &path.connection_id_or_name).await?;
    Ok(Json(ConnectionResponse::new(&app, connection)))
}

#[utoipa::path(
    patch, path = "/v1/organizations/connections/{connection_id_or_name}", tag = "Storage connections",
    params(("connection_id_or_name" = String, Path, description = "Connection id or name")),
    request_body = ConnectionUpdate,
    responses(
        (status = 200, description = "The updated connection (secrets redacted)", body = ConnectionResponse),
        (status = 400, description = "The test of the new config failed", body = ErrorResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
        (status = 422, description = "Validation error", body = HttpValidationError),
    )
)]
pub async fn update_connection(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    ValidPath(path): ValidPath<ConnectionPath>,
    ValidJson(body): ValidJson<ConnectionUpdate>,
) -> ApiResult<Json<ConnectionResponse>> {
    let mut connection = load_connection(&app, &path.connection_id_or_name).await?;
    if let Some(mut config) = body.provider_config {
        restore_redacted(&mut config, &connection.provider_config);
        if config != connection.provider_config {
            let plugin = plugin_for(&app, &connection.provider_type)?;
            check_config(&plugin, &config)?;
            if body.test_before_save.unwrap_or(true) {
                run_test(&app, &plugin, &config)
                    .await
                    .map_err(|e| test_failure(&e, &config, &plugin))?;
                connection.last_used_at = Some(now());
                connection.last_error = None;
                connection.consecutive_failures = 0;
                if connection.status == ConnectionStatus::Failed {
                    connection.status = ConnectionStatus::Active;
                }
            }
            connection.provider_config = config;
        }
    }
    if let Some(name) = body.name {
        let name = name.trim().to_string();
        ensure_name_free(&app, &name, Some(&connection.connection_id)).await?;
        connection.name = name;
    }
    if let Some(description) = body.description {
        connection.description = Some(description).filter(|d| !d.is_empty());
    }
    if let Some(metadata) = body.metadata {
        connection.metadata = metadata;
    }
    if let Some(active) = body.is_active {
        connection.is_active = active;
    }
    connection.updated_at = now();
    app.store.update_connection(&connection).await?;
    Ok(Json(ConnectionResponse::new(&app, connection)))
}

#[utoipa::path(
    delete, path = "/v1/organizations/connections/{connection_id_or_name}", tag = "Storage connections",
    params(("connection_id_or_name" = String, Path, description = "Connection id or name")),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 409, description = "Sync configurations still use it", body = ErrorResponse),
    )
)]
pub async fn delete_connection(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    ValidPath(path): ValidPath<ConnectionPath>,
) -> ApiResult<Json<DeletedResponse>> {
    let connection = load_connection(&app, &path.connection_id_or_name).await?;
    let users: Vec<String> = app
        .store
        .list_all_sync_configs()
        .await?
        .into_iter()
        .filter(|c| c.connection_id == connection.connection_id)
        .map(|c| c.sync_config_id)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::conflict(
            "connection_in_use",
            format!(
                "{} sync configuration(s) still use this connection",
                users.len()
            ),
        )
        .with_details(json!({ "sync_config_ids": users })));
    }
    if !app
        .store
        .delete_connection(&connection.connection_id)
        .await?
    {
        return Err(ApiError::not_found(
            "connection",
            &path.connection_id_or_name,
        ));
    }
    Ok(Json(DeletedResponse::new(
        connection.connection_id,
        "Connection deleted",
    )))
}

#[utoipa::path(
    post, path = "/v1/organizations/connections/{connection_id_or_name}/test", tag = "Storage connections",
    params(("connection_id_or_name" = String, Path, description = "Connection id or name")),
    responses(
        (status = 200, description = "The outcome, passed or not", body = ConnectionTestResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
    )
)]
pub async fn test_connection(
    State(app): State<App>,
    _auth: Authorized<Write>,
    ValidPath(path): ValidPath<ConnectionPath>,
) -> ApiResult<Json<ConnectionTestResponse>> {
    let mut connection = load_connection(&app, &path.connection_id_or_name).await?;
    let Some(plugin) = app.plugins.get(&connection.provider_type) else {
        return Ok(Json(ConnectionTestResponse {
            success: false,
            message: format!(
                "No installed plugin provides provider type {:?}",
                connection.provider_type
            ),
            details: json!({ "provider_type": connection.provider_type, "error_type": "unknown_provider" }),
        }));
    };
    let started = Instant::now();
    let outcome = run_test(&app, &plugin, &connection.provider_config).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (_, secrets) = redact(
        Some(&plugin.info.config_schema),
        &connection.provider_config,
    );
    let at = now();
    connection.last_used_at = Some(at);
    connection.updated_at = at;
    let keeps_status = matches!(
        connection.status,
        ConnectionStatus::Suspended | ConnectionStatus::Archived
    );
    let response = match outcome {
        Ok(message) => {
            connection.last_error = None;
            connection.consecutive_failures = 0;
            if !keeps_status {
                connection.status = ConnectionStatus::Active;
            }
            ConnectionTestResponse {
                success: true,
                message: scrub(&message, &secrets),
                details: json!({ "provider_type": plugin.id(), "duration_ms": duration_ms }),
            }
        }
        Err(error) => {
            let message = scrub(&error.to_string(), &secrets);
            connection.last_error = Some(message.clone());
            connection.consecutive_failures = connection.consecutive_failures.saturating_add(1);
            if !keeps_status {
                connection.status = ConnectionStatus::Failed;
            }
            ConnectionTestResponse {
                success: false,
                message,
                details: json!({
                    "provider_type": plugin.id(),
                    "duration_ms": duration_ms,
                    "error_type": error.kind(),
                    "code": failure_code(&error),
                }),
            }
        }
    };
    app.store.update_connection(&connection).await?;
    Ok(Json(response))
}
