//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations: served at `/openapi.json` and browsable at `/docs`.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::{Modify, OpenApi};

use super::{
    analytics, api_keys, batches, buckets, connections, dlq, jobs, namespaces, objects, ops,
    plugins, syncs,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tributary API",
        description = "Syncs files from storage providers into buckets of objects. Every provider connector is a sandboxed WebAssembly plugin.",
    ),
    paths(
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi_json,
        namespaces::create_namespace,
        namespaces::list_namespaces,
        namespaces::get_namespace,
        namespaces::delete_namespace,
        api_keys::create_api_key,
        api_keys::list_api_keys,
        api_keys::delete_api_key,
        connections::create_connection,
        connections::list_connections,
        connections::get_connection,
        connections::update_connection,
        connections::delete_connection,
        connections::test_connection,
        buckets::create_bucket,
        buckets::list_buckets,
        buckets::get_bucket,
        buckets::update_bucket,
        buckets::delete_bucket,
        syncs::create_sync_config,
        syncs::list_sync_configs,
        syncs::get_sync_config,
        syncs::update_sync_config,
        syncs::delete_sync_config,
        syncs::pause_sync_config,
        syncs::resume_sync_config,
        syncs::trigger_sync_config,
        jobs::get_job,
        jobs::list_jobs,
        jobs::cancel,
        jobs::job_events,
        objects::list_objects,
        objects::get_object,
        objects::delete_object,
        batches::list_batches,
        batches::get_batch,
        dlq::list_dead_letters,
        dlq::retry_dead_letters,
        dlq::delete_dead_letter,
        plugins::list_plugins,
        plugins::get_plugin,
        plugins::upload_plugin,
        analytics::sync_performance,
    ),
    components(schemas(super::error::ErrorResponse, super::error::HttpValidationError)),
    modifiers(&Security, &NamespaceParameters),
    tags(
        (name = "Namespaces"),
        (name = "API keys"),
        (name = "Storage connections"),
        (name = "Buckets"),
        (name = "Bucket syncs"),
        (name = "Sync jobs"),
        (name = "Objects"),
        (name = "Batches"),
        (name = "Dead letters"),
        (name = "Plugins"),
        (name = "Analytics"),
        (name = "Operations"),
    )
)]
pub struct ApiDoc;

/// Bearer API keys on every `/v1` route.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer <key>`"))
                    .build(),
            ),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}

/// The namespace header and query parameter of bucket- and sync-scoped routes.
struct NamespaceParameters;

fn is_scoped(path: &str) -> bool {
    ["/v1/buckets", "/v1/syncs", "/v1/analytics"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

impl Modify for NamespaceParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let text = || ObjectBuilder::new().schema_type(Type::String).build();
        let header = ParameterBuilder::new()
            .name("X-Namespace")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("Namespace id or name (default: `default`)"))
            .schema(Some(text()))
            .build();
        let query = ParameterBuilder::new()
            .name("namespace")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "Namespace id or name, when the X-Namespace header is absent",
            ))
            .schema(Some(text()))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !is_scoped(path) {
                continue;
            }
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                parameters.push(header.clone());
                parameters.push(query.clone());
            }
        }
    }
}
