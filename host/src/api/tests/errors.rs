//! Every error type's envelope, the 422 shape, auth and namespaces.

use axum::http::Method;
use serde_json::json;

use super::support::Harness;

#[tokio::test]
async fn missing_or_invalid_keys_get_401() {
    let h = Harness::new().await;
    let reply = h.call(Method::GET, "/v1/namespaces", None, None).await;
    reply.assert_error(401, "UnauthorizedError", Some("missing_api_key"));
    let reply = h
        .call(Method::GET, "/v1/namespaces", Some("trib_wrong"), None)
        .await;
    reply.assert_error(401, "UnauthorizedError", Some("invalid_api_key"));
    let request = axum::http::Request::builder()
        .uri("/v1/namespaces")
        .header("authorization", format!("Basic {}", h.admin))
        .body(axum::body::Body::empty())
        .unwrap();
    h.send(request).await.assert_error(
        401,
        "UnauthorizedError",
        Some("invalid_authorization_header"),
    );
    // Auth comes before input validation.
    let reply = h.raw(Method::POST, "/v1/buckets", None, "{not json").await;
    reply.assert_error(401, "UnauthorizedError", None);
}

#[tokio::test]
async fn missing_permissions_get_403() {
    let h = Harness::new().await;
    let reader = h.key(&["read"], &[]).await;
    let reply = h
        .call(
            Method::POST,
            "/v1/buckets",
            Some(&reader),
            Some(json!({"bucket_name": "b"})),
        )
        .await;
    let body = reply.assert_error(403, "ForbiddenError", Some("insufficient_permissions"));
    assert_eq!(body["error"]["details"]["required_permission"], "write");
    let writer = h.key(&["write"], &[]).await;
    h.call(
        Method::POST,
        "/v1/api-keys",
        Some(&writer),
        Some(json!({"name": "x", "permissions": ["read"]})),
    )
    .await
    .assert_error(403, "ForbiddenError", None);
    // Write implies read.
    h.call(Method::POST, "/v1/buckets/list", Some(&writer), None)
        .await
        .ok();
    h.call(
        Method::POST,
        "/v1/buckets",
        Some(&writer),
        Some(json!({"bucket_name": "b"})),
    )
    .await
    .ok();
}

#[tokio::test]
async fn unknown_routes_and_ids_get_404() {
    let h = Harness::new().await;
    h.get("/v1/nothing-here")
        .await
        .assert_error(404, "NotFoundError", Some("route_not_found"));
    h.call(Method::GET, "/nope", None, None).await.assert_error(
        404,
        "NotFoundError",
        Some("route_not_found"),
    );
    let body = h.get("/v1/buckets/bkt_missing").await.assert_error(
        404,
        "NotFoundError",
        Some("bucket_not_found"),
    );
    assert_eq!(
        body["error"]["details"],
        json!({"id": "bkt_missing", "resource": "bucket"})
    );
    let bucket = h.bucket("b").await;
    let body = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/sync_missing/trigger"),
            json!({}),
        )
        .await
        .assert_error(404, "NotFoundError", Some("sync_config_not_found"));
    assert_eq!(body["error"]["message"], "Sync config not found");
    h.get("/v1/syncs/job_missing").await.assert_error(
        404,
        "NotFoundError",
        Some("sync_job_not_found"),
    );
    h.get("/v1/organizations/connections/conn_missing")
        .await
        .assert_error(404, "NotFoundError", Some("connection_not_found"));
    h.get("/v1/plugins/plg_missing").await.assert_error(
        404,
        "NotFoundError",
        Some("plugin_not_found"),
    );
    h.get(&format!("/v1/buckets/{bucket}/objects/obj_missing"))
        .await
        .assert_error(404, "NotFoundError", Some("object_not_found"));
    h.get(&format!("/v1/buckets/{bucket}/batches/btch_missing"))
        .await
        .assert_error(404, "NotFoundError", Some("batch_not_found"));
    h.delete("/v1/api-keys/key_missing").await.assert_error(
        404,
        "NotFoundError",
        Some("api_key_not_found"),
    );
}

#[tokio::test]
async fn wrong_methods_get_405() {
    let h = Harness::new().await;
    h.delete("/v1/namespaces").await.assert_error(
        405,
        "MethodNotAllowedError",
        Some("method_not_allowed"),
    );
    h.get("/v1/buckets/list")
        .await
        .assert_error(405, "MethodNotAllowedError", None);
    h.call(Method::POST, "/healthz", None, None)
        .await
        .assert_error(405, "MethodNotAllowedError", None);
}

#[tokio::test]
async fn conflicts_get_409() {
    let h = Harness::new().await;
    h.bucket("same").await;
    h.post("/v1/buckets", json!({"bucket_name": "same"}))
        .await
        .assert_error(409, "AlreadyExistsError", Some("bucket_name_taken"));
    h.post("/v1/namespaces", json!({"namespace_name": "default"}))
        .await
        .assert_error(409, "AlreadyExistsError", Some("namespace_name_taken"));

    let (bucket, config) = h.sync_config(json!({})).await;
    let job = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
            json!({}),
        )
        .await
        .ok();
    let body = h
        .delete(&format!("/v1/buckets/{bucket}"))
        .await
        .assert_error(409, "ConflictError", Some("sync_running"));
    assert_eq!(
        body["error"]["details"]["sync_job_ids"],
        json!([job["sync_job_id"]])
    );
    h.delete(&format!("/v1/buckets/{bucket}/syncs/{config}"))
        .await
        .assert_error(409, "ConflictError", Some("sync_running"));
    // Once the job has ended, the bucket can go.
    let job_id = job["sync_job_id"].as_str().unwrap();
    h.post(&format!("/v1/syncs/{job_id}/cancel"), json!({}))
        .await
        .ok();
    h.delete(&format!("/v1/buckets/{bucket}")).await.ok();
    h.get(&format!("/v1/buckets/{bucket}"))
        .await
        .assert_error(404, "NotFoundError", None);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let h = Harness::new().await;
    let huge = format!("{{\"bucket_name\": \"{}\"}}", "x".repeat(17 << 20));
    h.raw(Method::POST, "/v1/buckets", Some(&h.admin), huge)
        .await
        .assert_error(413, "PayloadTooLargeError", Some("payload_too_large"));
    // The plugin upload route allows more than the general limit, up to 64 MiB.
    let reply = h
        .raw(
            Method::POST,
            "/v1/plugins",
            Some(&h.admin),
            vec![0u8; 17 << 20],
        )
        .await;
    reply.assert_error(400, "BadRequestError", Some("invalid_plugin"));
    h.raw(
        Method::POST,
        "/v1/plugins",
        Some(&h.admin),
        vec![0u8; (64 << 20) + 1],
    )
    .await
    .assert_error(413, "PayloadTooLargeError", None);
}

#[tokio::test]
async fn bad_input_gets_422_with_a_precise_loc() {
    let h = Harness::new().await;
    h.raw(
        Method::POST,
        "/v1/buckets",
        Some(&h.admin),
        "{\"bucket_name\": ",
    )
    .await
    .assert_invalid(json!(["body"]), "json_invalid");
    h.post("/v1/buckets", json!({"bucket_name": 5}))
        .await
        .assert_invalid(json!(["body", "bucket_name"]), "type_error");
    h.post("/v1/buckets", json!({"description": "no name"}))
        .await
        .assert_invalid(json!(["body", "bucket_name"]), "missing");
    h.post("/v1/buckets", json!({"bucket_name": "  "}))
        .await
        .assert_invalid(json!(["body", "bucket_name"]), "string_too_short");
    h.post("/v1/buckets", json!([1, 2]))
        .await
        .assert_invalid(json!(["body"]), "dict_type");

    let (bucket, config) = h.sync_config(json!({})).await;
    let syncs = format!("/v1/buckets/{bucket}/syncs");
    let connection = h.get(&format!("{syncs}/{config}")).await.ok()["connection_id"].clone();
    let base = json!({"connection_id": connection, "source_path": "data/"});
    let with = |extra: serde_json::Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    h.post(&syncs, with(json!({"polling_interval_seconds": 10})))
        .await
        .assert_invalid(
            json!(["body", "polling_interval_seconds"]),
            "greater_than_equal",
        );
    h.post(&syncs, with(json!({"polling_interval_seconds": 901})))
        .await
        .assert_invalid(
            json!(["body", "polling_interval_seconds"]),
            "less_than_equal",
        );
    h.post(&syncs, with(json!({"batch_chunk_size": 0})))
        .await
        .assert_invalid(json!(["body", "batch_chunk_size"]), "greater_than_equal");
    h.post(&syncs, with(json!({"batch_chunk_size": 1001})))
        .await
        .assert_invalid(json!(["body", "batch_chunk_size"]), "less_than_equal");
    h.post(&syncs, with(json!({"max_objects_per_run": -1})))
        .await
        .assert_invalid(json!(["body", "max_objects_per_run"]), "greater_than_equal");
    h.post(
        &syncs,
        with(json!({"file_filters": {"min_size_bytes": 10, "max_size_bytes": 5}})),
    )
    .await
    .assert_invalid(
        json!(["body", "file_filters", "min_size_bytes"]),
        "value_error",
    );
    h.post(
        &syncs,
        with(json!({"file_filters": {"min_size_bytes": "big"}})),
    )
    .await
    .assert_invalid(
        json!(["body", "file_filters", "min_size_bytes"]),
        "type_error",
    );
    h.post(
        &syncs,
        with(json!({"file_filters": {"modified_after": "yesterday"}})),
    )
    .await
    .assert_invalid(
        json!(["body", "file_filters", "modified_after"]),
        "value_error",
    );
    h.post(
        &syncs,
        with(json!({"file_filters": {"include_patterns": ["*.jpg", 3]}})),
    )
    .await
    .assert_invalid(
        json!(["body", "file_filters", "include_patterns", 1]),
        "type_error",
    );
    h.post(&syncs, with(json!({"sync_mode": "sometimes"})))
        .await
        .assert_invalid(json!(["body", "sync_mode"]), "enum");
    h.post(&syncs, json!({"source_path": "x"}))
        .await
        .assert_invalid(json!(["body", "connection_id"]), "missing");

    h.post(
        &format!("{syncs}/{config}/trigger?full_sync=maybe"),
        json!({}),
    )
    .await
    .assert_invalid(json!(["query", "full_sync"]), "bool_parsing");
    h.post("/v1/buckets/list?limit=0", json!({}))
        .await
        .assert_invalid(json!(["query", "limit"]), "greater_than_equal");
    h.post("/v1/buckets/list?limit=1001", json!({}))
        .await
        .assert_invalid(json!(["query", "limit"]), "less_than_equal");
    h.post("/v1/buckets/list?limit=ten", json!({}))
        .await
        .assert_invalid(json!(["query", "limit"]), "int_parsing");
    h.post("/v1/buckets/list?cursor=garbage", json!({}))
        .await
        .assert_invalid(json!(["query", "cursor"]), "value_error");
    h.get(&format!(
        "/v1/analytics/buckets/{bucket}/sync-performance?hours=0"
    ))
    .await
    .assert_invalid(json!(["query", "hours"]), "greater_than_equal");
}

#[tokio::test]
async fn paused_or_inactive_configs_cannot_be_triggered() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let url = format!("/v1/buckets/{bucket}/syncs/{config}");
    let paused = h
        .post(&format!("{url}/pause"), json!({"reason": "maintenance"}))
        .await
        .ok();
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["status"], "PAUSED");
    assert_eq!(paused["pause_reason"], "maintenance");
    assert!(paused["paused_at"].is_string());
    let body = h
        .post(&format!("{url}/trigger"), json!({}))
        .await
        .assert_error(400, "BadRequestError", Some("sync_paused"));
    assert_eq!(body["error"]["details"]["id"], config.as_str());

    let resumed = h.post(&format!("{url}/resume"), json!({})).await.ok();
    assert_eq!(resumed["paused"], false);
    assert_eq!(resumed["status"], "ACTIVE");
    let job_id = resumed["sync_job_id"]
        .as_str()
        .expect("resuming queues a run");
    let job = h.get(&format!("/v1/syncs/{job_id}")).await.ok();
    assert_eq!(job["trigger"], "resume");
    assert_eq!(job["full_sync"], false);

    h.patch(&url, json!({"is_active": false})).await.ok();
    h.post(&format!("{url}/trigger"), json!({}))
        .await
        .assert_error(400, "BadRequestError", Some("sync_inactive"));
}

#[tokio::test]
async fn namespaces_scope_buckets_and_syncs() {
    let h = Harness::new().await;
    let team = h
        .post("/v1/namespaces", json!({"namespace_name": "team-a"}))
        .await
        .ok();
    let team_id = team["namespace_id"].as_str().unwrap().to_string();
    let in_default = h.bucket("shared-name").await;

    // By header (name or id), by query, and the default otherwise.
    let by_header = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/buckets")
        .header("authorization", format!("Bearer {}", h.admin))
        .header("x-namespace", "team-a")
        .body(axum::body::Body::from(
            json!({"bucket_name": "shared-name"}).to_string(),
        ))
        .unwrap();
    let in_team = h.send(by_header).await.ok();
    assert_eq!(in_team["namespace_id"], team_id.as_str());
    let in_team = in_team["bucket_id"].as_str().unwrap().to_string();
    h.get(&format!("/v1/buckets/{in_team}?namespace={team_id}"))
        .await
        .ok();
    h.get(&format!("/v1/buckets/{in_team}")).await.assert_error(
        404,
        "NotFoundError",
        Some("bucket_not_found"),
    );
    h.get(&format!("/v1/buckets/{in_default}?namespace=team-a"))
        .await
        .assert_error(404, "NotFoundError", Some("bucket_not_found"));
    h.get(&format!("/v1/buckets/{in_default}?namespace=nowhere"))
        .await
        .assert_error(404, "NotFoundError", Some("namespace_not_found"));

    // A key limited to team-a sees nothing else.
    let limited = h.key(&["write"], &["team-a"]).await;
    h.call(
        Method::GET,
        &format!("/v1/buckets/{in_default}"),
        Some(&limited),
        None,
    )
    .await
    .assert_error(404, "NotFoundError", Some("namespace_not_found"));
    h.call(
        Method::GET,
        &format!("/v1/buckets/{in_team}?namespace=team-a"),
        Some(&limited),
        None,
    )
    .await
    .ok();
    let visible = h
        .call(Method::GET, "/v1/namespaces", Some(&limited), None)
        .await
        .ok();
    assert_eq!(visible.as_array().unwrap().len(), 1, "{visible}");

    // A namespace with buckets cannot be deleted.
    h.delete("/v1/namespaces/team-a").await.assert_error(
        409,
        "ConflictError",
        Some("namespace_not_empty"),
    );
}

#[tokio::test]
async fn internal_errors_do_not_leak_details() {
    let error =
        crate::api::ApiError::internal("redb exploded at /secret/path with password=hunter2");
    let response = axum::response::IntoResponse::into_response(error);
    assert_eq!(response.status(), 500);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["type"], "InternalServerError");
    assert_eq!(body["error"]["message"], "Internal server error");
    assert!(!body.to_string().contains("hunter2"));
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_envelope() {
    use axum::routing::get;
    use tower::ServiceExt as _;
    let router = axum::Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("boom with password=hunter2");
                }
                "unreachable"
            }),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::api::panic_response,
        ));
    let request = axum::http::Request::builder()
        .uri("/boom")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 500);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["status"], 500);
    assert_eq!(body["error"]["type"], "InternalServerError");
    assert!(!body.to_string().contains("hunter2"));
}
