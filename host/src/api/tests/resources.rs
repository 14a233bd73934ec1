//! Namespaces, API keys, connections (with redaction), plugins, operations
//! routes and the first-start bootstrap.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};

use super::support::{plugins_dist, Harness};
use crate::api::auth::hash_secret;
use crate::api::bootstrap::{bootstrap, ADMIN_KEY_FILE};
use crate::api::provider_schema::REDACTED;

#[tokio::test]
async fn namespaces_are_created_listed_and_deleted() {
    let h = Harness::new().await;
    let created = h
        .post(
            "/v1/namespaces",
            json!({"namespace_name": "media", "description": "pictures"}),
        )
        .await
        .ok();
    let id = created["namespace_id"].as_str().unwrap();
    assert!(id.starts_with("ns_"));
    assert_eq!(h.get("/v1/namespaces/media").await.ok()["namespace_id"], id);
    assert_eq!(
        h.get(&format!("/v1/namespaces/{id}")).await.ok()["namespace_name"],
        "media"
    );
    let names: Vec<Value> = h
        .get("/v1/namespaces")
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace_name"].clone())
        .collect();
    assert!(
        names.contains(&json!("default")) && names.contains(&json!("media")),
        "{names:?}"
    );
    h.post("/v1/namespaces", json!({"namespace_name": "bad name!"}))
        .await
        .assert_invalid(json!(["body", "namespace_name"]), "string_pattern_mismatch");
    h.delete(&format!("/v1/namespaces/{id}")).await.ok();
    h.get("/v1/namespaces/media").await.assert_error(
        404,
        "NotFoundError",
        Some("namespace_not_found"),
    );
}

#[tokio::test]
async fn api_keys_show_their_secret_once_and_never_their_hash() {
    let h = Harness::new().await;
    let created = h
        .post(
            "/v1/api-keys",
            json!({"name": "ci", "permissions": ["read", "write", "read"], "namespace_ids": ["default"]}),
        )
        .await
        .ok();
    let secret = created["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("trib_"));
    assert_eq!(created["permissions"], json!(["read", "write"]));
    let stored = h
        .app
        .store
        .find_api_key_by_hash(&hash_secret(&secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.key_id, created["key_id"].as_str().unwrap());
    assert!(created["namespace_ids"][0]
        .as_str()
        .unwrap()
        .starts_with("ns_"));

    let listed = h.get("/v1/api-keys").await;
    assert!(!listed.text.contains(&secret));
    assert!(!listed.text.contains(&stored.key_hash));
    assert_eq!(listed.ok().as_array().unwrap().len(), 2);

    h.call(Method::POST, "/v1/buckets/list", Some(&secret), None)
        .await
        .ok();
    h.post(
        "/v1/api-keys",
        json!({"name": "x", "permissions": ["superuser"]}),
    )
    .await
    .assert_invalid(json!(["body", "permissions", 0]), "enum");
    h.post(
        "/v1/api-keys",
        json!({"name": "x", "permissions": ["read"], "namespace_ids": ["nope"]}),
    )
    .await
    .assert_error(404, "NotFoundError", Some("namespace_not_found"));

    h.delete(&format!("/v1/api-keys/{}", stored.key_id))
        .await
        .ok();
    h.call(Method::POST, "/v1/buckets/list", Some(&secret), None)
        .await
        .assert_error(401, "UnauthorizedError", Some("invalid_api_key"));
    let admin_id = h.app.store.list_api_keys().await.unwrap()[0].key_id.clone();
    h.delete(&format!("/v1/api-keys/{admin_id}"))
        .await
        .assert_error(409, "ConflictError", Some("last_admin_key"));
}

#[tokio::test]
async fn bootstrap_creates_the_default_namespace_and_one_admin_key() {
    let h = Harness::new().await;
    let path = h.app.settings.data_dir.join(ADMIN_KEY_FILE);
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.trim(), h.admin);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(h
        .app
        .store
        .get_namespace("default")
        .await
        .unwrap()
        .is_some());
    // A second start changes nothing.
    assert_eq!(bootstrap(&h.app, None).await.unwrap(), None);
    assert_eq!(h.app.store.list_api_keys().await.unwrap().len(), 1);
    // The operator's key is added when the store does not know it.
    bootstrap(&h.app, Some("operator-chosen-key".into()))
        .await
        .unwrap();
    h.call(
        Method::GET,
        "/v1/namespaces",
        Some("operator-chosen-key"),
        None,
    )
    .await
    .ok();
}

#[tokio::test]
async fn bootstrap_uses_the_operator_key_on_first_start() {
    let h = Harness::new().await;
    // A fresh store: reuse the harness's services with a new one.
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::embedded::EmbeddedStore::open(
        &dir.path().join("db"),
        crate::store::sealing::Sealer::from_key(&[2; 32]),
    )
    .unwrap();
    let mut app = h.app.clone();
    app.store = std::sync::Arc::new(store);
    app.settings = std::sync::Arc::new(crate::app::Settings {
        data_dir: dir.path().join("data"),
        ..(*h.app.settings).clone()
    });
    let secret = bootstrap(&app, Some("  my-admin-key  ".into()))
        .await
        .unwrap();
    assert_eq!(secret.as_deref(), Some("my-admin-key"));
    let stored = app
        .store
        .find_api_key_by_hash(&hash_secret("my-admin-key"))
        .await
        .unwrap();
    assert!(stored.is_some());
}

fn local_config(h: &Harness) -> Value {
    json!({
        "root": h.local_root.display().to_string(),
        "password": "hunter2-very-secret",
        "extra": {"api_token": "tok-very-secret", "region": "eu"}
    })
}

#[tokio::test]
async fn connections_are_validated_tested_and_redacted() {
    let h = Harness::with_plugins().await;
    let connections = "/v1/organizations/connections";
    let secrets = ["hunter2-very-secret", "tok-very-secret"];
    let no_secret = |text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "a secret leaked: {text}");
        }
    };

    let created = h
        .post(
            connections,
            json!({"name": "disk", "provider_type": "local", "provider_config": local_config(&h),
                   "description": "test folder", "metadata": {"owner": "me"}}),
        )
        .await;
    no_secret(&created.text);
    let created = created.ok();
    let id = created["connection_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("conn_"));
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["is_active"], true);
    assert_eq!(created["provider_config"]["password"], REDACTED);
    assert_eq!(created["provider_config"]["extra"]["api_token"], REDACTED);
    assert_eq!(created["provider_config"]["extra"]["region"], "eu");
    assert_eq!(
        created["provider_config"]["root"],
        h.local_root.display().to_string()
    );
    assert!(created["last_used_at"].is_string());

    for reply in [
        h.get(&format!("{connections}/{id}")).await,
        h.get(&format!("{connections}/disk")).await,
        h.post(&format!("{connections}/list"), json!({})).await,
        h.post(&format!("{connections}/{id}/test"), json!({})).await,
    ] {
        no_secret(&reply.text);
        reply.ok();
    }
    let tested = h
        .post(&format!("{connections}/{id}/test"), json!({}))
        .await
        .ok();
    assert_eq!(tested["success"], true, "{tested}");
    assert!(tested["message"].is_string() && tested["details"].is_object());
    let listed = h
        .post(
            &format!("{connections}/list"),
            json!({"provider_type": "local"}),
        )
        .await
        .ok();
    assert_eq!(listed["total"], 1);

    // Sending the redacted config back keeps the stored secrets.
    let patched = h
        .patch(
            &format!("{connections}/{id}"),
            json!({"provider_config": created["provider_config"].clone(), "description": "renamed"}),
        )
        .await;
    no_secret(&patched.text);
    assert_eq!(patched.ok()["description"], "renamed");
    let stored = h.app.store.get_connection(&id).await.unwrap().unwrap();
    assert_eq!(stored.provider_config["password"], "hunter2-very-secret");
    assert_eq!(
        stored.provider_config["extra"]["api_token"],
        "tok-very-secret"
    );

    // Refusals.
    h.post(
        connections,
        json!({"name": "disk", "provider_type": "local", "provider_config": local_config(&h)}),
    )
    .await
    .assert_error(409, "AlreadyExistsError", Some("connection_name_taken"));
    let body = h
        .post(
            connections,
            json!({"name": "s3", "provider_type": "s3", "provider_config": {}}),
        )
        .await
        .assert_error(400, "BadRequestError", Some("unknown_provider_type"));
    assert_eq!(
        body["error"]["details"]["installed"],
        json!(["local", "synthetic"])
    );
    h.post(
        connections,
        json!({"name": "bad", "provider_type": "local", "provider_config": {"root": 5}}),
    )
    .await
    .assert_invalid(json!(["body", "provider_config", "root"]), "string_type");
    h.post(
        connections,
        json!({"name": "bad", "provider_type": "local", "provider_config": {}}),
    )
    .await
    .assert_invalid(json!(["body", "provider_config", "root"]), "missing");
    h.post(
        connections,
        json!({"name": "bad", "provider_type": "synthetic", "provider_config": {"count": -1, "bogus": true}}),
    )
    .await
    .assert_invalid(json!(["body", "provider_config", "count"]), "greater_than_equal");
    let outside = h
        .post(
            connections,
            json!({"name": "outside", "provider_type": "local",
                   "provider_config": {"root": "/", "password": "hunter2-very-secret"}}),
        )
        .await;
    no_secret(&outside.text);
    outside.assert_error(400, "BadRequestError", Some("connection_not_allowed"));
    // Without the test, an unreachable config is saved; testing it reports why.
    let untested = h
        .post(
            connections,
            json!({"name": "later", "provider_type": "local", "test_before_save": false,
                   "provider_config": {"root": "/", "password": "hunter2-very-secret"}}),
        )
        .await
        .ok();
    let later = untested["connection_id"].as_str().unwrap();
    let failed = h
        .post(&format!("{connections}/{later}/test"), json!({}))
        .await;
    no_secret(&failed.text);
    let failed = failed.ok();
    assert_eq!(failed["success"], false);
    assert_eq!(failed["details"]["code"], "connection_not_allowed");
    let after = h.get(&format!("{connections}/{later}")).await.ok();
    assert_eq!(after["status"], "FAILED");
    assert_eq!(after["consecutive_failures"], 1);

    // A connection in use cannot be deleted.
    let bucket = h.bucket("b").await;
    let config = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs"),
            json!({"connection_id": "disk", "source_path": ""}),
        )
        .await
        .ok();
    assert_eq!(config["connection_id"], id.as_str());
    h.delete(&format!("{connections}/{id}")).await.assert_error(
        409,
        "ConflictError",
        Some("connection_in_use"),
    );
    h.delete(&format!("{connections}/{later}")).await.ok();
    h.get(&format!("{connections}/{later}")).await.assert_error(
        404,
        "NotFoundError",
        Some("connection_not_found"),
    );
    // Writing connections needs admin.
    let writer = h.key(&["write"], &[]).await;
    h.call(
        Method::DELETE,
        &format!("{connections}/{id}"),
        Some(&writer),
        None,
    )
    .await
    .assert_error(403, "ForbiddenError", None);
}

#[tokio::test]
async fn plugins_are_listed_and_installed_by_upload() {
    let h = Harness::new().await;
    assert_eq!(h.get("/v1/plugins").await.ok(), json!([]));
    let body = h
        .raw(
            Method::POST,
            "/v1/plugins",
            Some(&h.admin),
            b"not wasm at all".to_vec(),
        )
        .await
        .assert_error(400, "BadRequestError", Some("invalid_plugin"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\\0asm"),
        "{body}"
    );
    h.raw(
        Method::POST,
        "/v1/plugins",
        Some(&h.admin),
        Vec::<u8>::new(),
    )
    .await
    .assert_error(400, "BadRequestError", Some("invalid_plugin"));
    let writer = h.key(&["write"], &[]).await;
    h.raw(Method::POST, "/v1/plugins", Some(&writer), b"x".to_vec())
        .await
        .assert_error(403, "ForbiddenError", None);

    let bytes =
        std::fs::read(plugins_dist().join("synthetic.wasm")).expect("run `just setup` first");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/plugins")
        .header("authorization", format!("Bearer {}", h.admin))
        .header("content-type", "application/wasm")
        .body(Body::from(bytes.clone()))
        .unwrap();
    let installed = h.send(request).await.ok();
    assert_eq!(installed["plugin_id"], "plg_synthetic");
    assert_eq!(installed["provider_id"], "synthetic");
    assert!(installed["config_schema"]["properties"]["count"].is_object());
    assert_eq!(installed["sha256"].as_str().unwrap().len(), 64);
    assert!(installed["wit_version"].is_string());
    let saved = h.app.settings.plugins_dir.join("synthetic.wasm");
    assert_eq!(std::fs::read(&saved).unwrap(), bytes);
    assert!(h.app.plugins.get("synthetic").is_some());
    assert_eq!(
        h.get("/v1/plugins/plg_synthetic").await.ok()["name"],
        installed["name"]
    );
    assert_eq!(
        h.get("/v1/plugins/synthetic").await.ok()["plugin_id"],
        "plg_synthetic"
    );
    assert_eq!(h.get("/v1/plugins").await.ok().as_array().unwrap().len(), 1);
    // Usable at once.
    h.post(
        "/v1/organizations/connections",
        json!({"name": "synth", "provider_type": "synthetic", "provider_config": {"count": 3}}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn operations_routes_answer_without_a_key() {
    let h = Harness::new().await;
    let health = h.call(Method::GET, "/healthz", None, None).await.ok();
    assert_eq!(health["status"], "ok");
    // No plugin yet: not ready.
    h.call(Method::GET, "/readyz", None, None)
        .await
        .assert_error(503, "ServiceUnavailableError", Some("service_unavailable"));
    let metrics = h.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(metrics.text.contains("tributary_"), "{}", metrics.text);
    let docs = h.call(Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("api-reference"));
}

#[tokio::test]
async fn readiness_needs_a_plugin() {
    let h = Harness::with_plugins().await;
    let ready = h.call(Method::GET, "/readyz", None, None).await.ok();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["plugins"], 2);
    let plugins = h.get("/v1/plugins").await.ok();
    let ids: Vec<&str> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plugin_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["plg_local", "plg_synthetic"]);
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let h = Harness::new().await;
    let doc = h.call(Method::GET, "/openapi.json", None, None).await.ok();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/v1/namespaces", &["get", "post"][..]),
        ("/v1/namespaces/{namespace_id}", &["get", "delete"]),
        ("/v1/api-keys", &["get", "post"]),
        ("/v1/api-keys/{key_id}", &["delete"]),
        ("/v1/organizations/connections", &["post"]),
        ("/v1/organizations/connections/list", &["post"]),
        (
            "/v1/organizations/connections/{connection_id_or_name}",
            &["get", "patch", "delete"],
        ),
        (
            "/v1/organizations/connections/{connection_id_or_name}/test",
            &["post"],
        ),
        ("/v1/buckets", &["post"]),
        ("/v1/buckets/list", &["post"]),
        ("/v1/buckets/{bucket_id}", &["get", "patch", "delete"]),
        ("/v1/buckets/{bucket_id}/syncs", &["post"]),
        ("/v1/buckets/{bucket_id}/syncs/list", &["post"]),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}",
            &["get", "patch", "delete"],
        ),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/pause",
            &["post"],
        ),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/resume",
            &["post"],
        ),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/trigger",
            &["post"],
        ),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/jobs/list",
            &["post"],
        ),
        ("/v1/syncs/{sync_job_id}", &["get"]),
        ("/v1/syncs/{sync_job_id}/cancel", &["post"]),
        ("/v1/syncs/{sync_job_id}/events", &["get"]),
        ("/v1/buckets/{bucket_id}/objects/list", &["post"]),
        (
            "/v1/buckets/{bucket_id}/objects/{object_id}",
            &["get", "delete"],
        ),
        ("/v1/buckets/{bucket_id}/batches/list", &["post"]),
        ("/v1/buckets/{bucket_id}/batches/{batch_id}", &["get"]),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/list",
            &["post"],
        ),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/retry",
            &["post"],
        ),
        (
            "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/{entry_id}",
            &["delete"],
        ),
        ("/v1/plugins", &["get", "post"]),
        ("/v1/plugins/{plugin_id}", &["get"]),
        (
            "/v1/analytics/buckets/{bucket_id}/sync-performance",
            &["get"],
        ),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
    ];
    for (path, methods) in expected {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
    }
    assert_eq!(doc["paths"].as_object().unwrap().len(), expected.len());
    let trigger = &doc["paths"]["/v1/buckets/{bucket_id}/syncs/{sync_config_id}/trigger"]["post"];
    let params: Vec<&str> = trigger["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "bucket_id",
        "sync_config_id",
        "full_sync",
        "X-Namespace",
        "namespace",
    ] {
        assert!(params.contains(&name), "{name} missing from {params:?}");
    }
    assert!(trigger["responses"]["422"].is_object());
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "ErrorResponse",
        "HTTPValidationError",
        "TriggerResponse",
        "SyncConfigCreate",
        "JobResponse",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
