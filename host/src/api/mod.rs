//! The REST API (`/v1/…`, see the API contract): routes, authentication, the
//! error envelope and the OpenAPI document. Handlers are thin: they check
//! input, call the store or `jobs`, and shape responses; they never run a sync.

pub mod analytics;
pub mod api_keys;
pub mod auth;
pub mod batches;
pub mod bootstrap;
pub mod buckets;
pub mod connections;
pub mod dlq;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod namespaces;
pub mod objects;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod plugins;
pub mod provider_schema;
pub mod syncs;

#[cfg(test)]
mod tests;

use std::any::Any;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::{OpenApi as _, ToSchema};
use utoipa_scalar::{Scalar, Servable as _};

pub use bootstrap::bootstrap;
pub use error::{ApiError, ApiResult};

use crate::app::App;
use error::ErrorKind;

/// Largest request body in general.
pub const BODY_LIMIT: usize = 16 << 20;
/// Largest plugin upload.
pub const PLUGIN_BODY_LIMIT: usize = 64 << 20;

/// The answer to a successful delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    pub success: bool,
    /// Id of what was deleted.
    pub id: String,
    pub message: String,
}

impl DeletedResponse {
    pub fn new(id: String, message: &str) -> Self {
        Self {
            success: true,
            id,
            message: message.to_string(),
        }
    }
}

/// Every route of the API, with its layers.
pub fn router(app: App) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/namespaces",
            post(namespaces::create_namespace).get(namespaces::list_namespaces),
        )
        .route(
            "/v1/namespaces/{namespace_id}",
            get(namespaces::get_namespace).delete(namespaces::delete_namespace),
        )
        .route(
            "/v1/api-keys",
            post(api_keys::create_api_key).get(api_keys::list_api_keys),
        )
        .route(
            "/v1/api-keys/{key_id}",
            axum::routing::delete(api_keys::delete_api_key),
        )
        .route(
            "/v1/organizations/connections",
            post(connections::create_connection),
        )
        .route(
            "/v1/organizations/connections/list",
            post(connections::list_connections),
        )
        .route(
            "/v1/organizations/connections/{connection_id_or_name}",
            get(connections::get_connection)
                .patch(connections::update_connection)
                .delete(connections::delete_connection),
        )
        .route(
            "/v1/organizations/connections/{connection_id_or_name}/test",
            post(connections::test_connection),
        )
        .route("/v1/buckets", post(buckets::create_bucket))
        .route("/v1/buckets/list", post(buckets::list_buckets))
        .route(
            "/v1/buckets/{bucket_id}",
            get(buckets::get_bucket)
                .patch(buckets::update_bucket)
                .delete(buckets::delete_bucket),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs",
            post(syncs::create_sync_config),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/list",
            post(syncs::list_sync_configs),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}",
            get(syncs::get_sync_config)
                .patch(syncs::update_sync_config)
                .delete(syncs::delete_sync_config),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/pause",
            post(syncs::pause_sync_config),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/resume",
            post(syncs::resume_sync_config),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/trigger",
            post(syncs::trigger_sync_config),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/jobs/list",
            post(jobs::list_jobs),
        )
        .route("/v1/syncs/{sync_job_id}", get(jobs::get_job))
        .route("/v1/syncs/{sync_job_id}/cancel", post(jobs::cancel))
        .route("/v1/syncs/{sync_job_id}/events", get(jobs::job_events))
        .route(
            "/v1/buckets/{bucket_id}/objects/list",
            post(objects::list_objects),
        )
        .route(
            "/v1/buckets/{bucket_id}/objects/{object_id}",
            get(objects::get_object).delete(objects::delete_object),
        )
        .route(
            "/v1/buckets/{bucket_id}/batches/list",
            post(batches::list_batches),
        )
        .route(
            "/v1/buckets/{bucket_id}/batches/{batch_id}",
            get(batches::get_batch),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/list",
            post(dlq::list_dead_letters),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/retry",
            post(dlq::retry_dead_letters),
        )
        .route(
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/{entry_id}",
            axum::routing::delete(dlq::delete_dead_letter),
        )
        .route(
            "/v1/plugins",
            get(plugins::list_plugins)
                .post(plugins::upload_plugin)
                .layer(DefaultBodyLimit::max(PLUGIN_BODY_LIMIT)),
        )
        .route("/v1/plugins/{plugin_id}", get(plugins::get_plugin))
        .route(
            "/v1/analytics/buckets/{bucket_id}/sync-performance",
            get(analytics::sync_performance),
        )
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::authenticate,
        ));

    let operations = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi_json))
        .merge(Router::from(Scalar::with_url(
            "/docs",
            openapi::ApiDoc::openapi(),
        )));

    Router::new()
        .merge(v1)
        .merge(operations)
        .fallback(not_found)
        // Applies to the routes added so far: keep it after every route.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("No route for {}", uri.path()))
        .with_code("route_not_found")
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!("Method {method} is not allowed on {}", uri.path()),
    )
    .with_code("method_not_allowed")
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal(format!("a request handler panicked: {detail}")).into_response()
}
