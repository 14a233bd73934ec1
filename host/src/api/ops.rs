//! Operations routes, without authentication: liveness, readiness,
//! Prometheus metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::{OpenApi as _, ToSchema};

use super::error::{ApiError, ApiResult, ErrorResponse};
use super::openapi::ApiDoc;
use crate::app::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ready`.
    pub status: String,
    /// `ok` when the store answers.
    pub store: String,
    /// Installed plugins.
    pub plugins: usize,
}

#[utoipa::path(
    get, path = "/healthz", tag = "Operations", security(()),
    responses((status = 200, description = "The process is up", body = HealthResponse))
)]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
    })
}

#[utoipa::path(
    get, path = "/readyz", tag = "Operations", security(()),
    responses(
        (status = 200, description = "The store answers and at least one plugin is installed", body = ReadinessResponse),
        (status = 503, description = "Not ready, with the reason", body = ErrorResponse),
    )
)]
pub async fn readyz(State(app): State<App>) -> ApiResult<Json<ReadinessResponse>> {
    let store = match app.store.list_namespaces().await {
        Ok(_) => None,
        Err(error) => {
            tracing::warn!("readiness: the store does not answer: {error}");
            Some("the store does not answer")
        }
    };
    let plugins = app.plugins.list().len();
    let problem = store.or((plugins == 0).then_some("no plugin is installed"));
    if let Some(problem) = problem {
        return Err(
            ApiError::unavailable(format!("Not ready: {problem}")).with_details(json!({
                "store": if store.is_some() { "unavailable" } else { "ok" },
                "plugins": plugins,
            })),
        );
    }
    Ok(Json(ReadinessResponse {
        status: "ready".into(),
        store: "ok".into(),
        plugins,
    }))
}

#[utoipa::path(
    get, path = "/metrics", tag = "Operations", security(()),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}

#[utoipa::path(
    get, path = "/openapi.json", tag = "Operations", security(()),
    responses((status = 200, description = "This API as an OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
