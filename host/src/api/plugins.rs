//! `/v1/plugins`: the installed connector plugins, and installing a new one
//! (or a new version) at run time from an uploaded component.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::auth::{Admin, Authorized, Read};
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{RawBody, ValidPath};
use crate::app::App;
use crate::runtime::{LoadError, Plugin};

/// The prefix of plugin ids in the API (`plg_s3`).
const ID_PREFIX: &str = "plg_";

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginResponse {
    /// `plg_` + the provider id.
    pub plugin_id: String,
    /// The `provider_type` connections use.
    pub provider_id: String,
    pub name: String,
    pub version: String,
    /// The connector contract version the component implements.
    pub wit_version: String,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    pub size_bytes: u64,
    /// JSON schema of a connection's `provider_config`; secrets carry `"x-secret": true`.
    #[schema(value_type = Object)]
    pub config_schema: Value,
    /// Hosts the plugin may call (plus a connection's own `endpoint_url`).
    pub allowed_hosts: Vec<String>,
    /// Sandbox capabilities beyond outbound HTTP, e.g. `read_local_files`.
    pub capabilities: Vec<String>,
}

impl From<&Plugin> for PluginResponse {
    fn from(plugin: &Plugin) -> Self {
        let capabilities = plugin
            .info
            .capabilities
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Self {
            plugin_id: format!("{ID_PREFIX}{}", plugin.id()),
            provider_id: plugin.id().to_string(),
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            wit_version: plugin.wit_version.clone(),
            sha256: plugin.digest.clone(),
            size_bytes: plugin.size_bytes,
            config_schema: plugin.info.config_schema.clone(),
            allowed_hosts: plugin.info.allowed_hosts.clone(),
            capabilities,
        }
    }
}

/// The bytes of a WebAssembly component (documentation only).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct ComponentBytes(Vec<u8>);

#[derive(Debug, Deserialize)]
pub struct PluginPath {
    pub plugin_id: String,
}

#[utoipa::path(
    get, path = "/v1/plugins", tag = "Plugins",
    responses((status = 200, description = "Installed plugins, by provider id", body = Vec<PluginResponse>))
)]
pub async fn list_plugins(
    State(app): State<App>,
    _auth: Authorized<Read>,
) -> Json<Vec<PluginResponse>> {
    Json(
        app.plugins
            .list()
            .iter()
            .map(|p| PluginResponse::from(p.as_ref()))
            .collect(),
    )
}

#[utoipa::path(
    get, path = "/v1/plugins/{plugin_id}", tag = "Plugins",
    params(("plugin_id" = String, Path, description = "Plugin id (`plg_s3`) or provider id (`s3`)")),
    responses(
        (status = 200, description = "The plugin", body = PluginResponse),
        (status = 404, description = "Not installed", body = ErrorResponse),
    )
)]
pub async fn get_plugin(
    State(app): State<App>,
    _auth: Authorized<Read>,
    ValidPath(path): ValidPath<PluginPath>,
) -> ApiResult<Json<PluginResponse>> {
    let provider = path
        .plugin_id
        .strip_prefix(ID_PREFIX)
        .unwrap_or(&path.plugin_id);
    let plugin = app
        .plugins
        .get(provider)
        .ok_or_else(|| ApiError::not_found("plugin", &path.plugin_id))?;
    Ok(Json(PluginResponse::from(plugin.as_ref())))
}

fn refusal_reason(error: &LoadError) -> &'static str {
    match error {
        LoadError::Read { .. } => "unreadable",
        LoadError::NotAComponent(_) => "not_a_component",
        LoadError::WrongWorld(_) => "wrong_world",
        LoadError::UnsupportedVersion(_) => "unsupported_version",
        LoadError::Compile(_) => "compile_failed",
        LoadError::Describe(_) => "describe_failed",
        LoadError::InvalidInfo(_) => "invalid_info",
    }
}

/// Upload a connector component (`application/wasm` or
/// `application/octet-stream`, up to 64 MiB). It is validated and compiled,
/// saved as `<plugins_dir>/<provider_id>.wasm`, and serves new calls at
/// once, replacing any plugin with the same provider id.
#[utoipa::path(
    post, path = "/v1/plugins", tag = "Plugins",
    request_body(
        description = "The component's bytes",
        content(
            (ComponentBytes = "application/wasm"),
            (ComponentBytes = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 200, description = "Installed", body = PluginResponse),
        (status = 400, description = "Refused (`invalid_plugin`), with the reason", body = ErrorResponse),
        (status = 413, description = "Larger than 64 MiB", body = ErrorResponse),
    )
)]
pub async fn upload_plugin(
    State(app): State<App>,
    _auth: Authorized<Admin>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<PluginResponse>> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_plugin",
            "The request body is empty: send the component's bytes",
        ));
    }
    let mut plugin = app.runtime.load(&bytes, None).await.map_err(|error| {
        ApiError::bad_request("invalid_plugin", format!("The plugin was refused: {error}"))
            .with_details(json!({ "reason": refusal_reason(&error) }))
    })?;
    let id = plugin.id().to_string();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::bad_request(
            "invalid_plugin",
            format!("The plugin's provider id {id:?} cannot name a file"),
        ));
    }
    let dir = app.settings.plugins_dir.clone();
    let target = dir.join(format!("{id}.wasm"));
    save_atomically(&dir, &target, &bytes).await.map_err(|e| {
        ApiError::internal(format!(
            "cannot save plugin {id} to {}: {e}",
            target.display()
        ))
    })?;
    plugin.source = Some(target);
    let installed: Arc<Plugin> = app.plugins.insert(plugin);
    tracing::info!(plugin = %id, version = %installed.info.version, "plugin installed by upload");
    Ok(Json(PluginResponse::from(installed.as_ref())))
}

/// Writes a temporary file next to `target`, then renames it over `target`.
async fn save_atomically(
    dir: &std::path::Path,
    target: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("plugin.wasm");
    let temporary = dir.join(format!(".{name}.upload-{}", rand::random::<u64>()));
    let written = async {
        let mut file = tokio::fs::File::create(&temporary).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&temporary, target).await
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&temporary).await;
    }
    written
}
