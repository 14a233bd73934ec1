//! Sync configurations, triggering, jobs and their live view, dead letters,
//! objects, batches and analytics.

use std::time::Duration;

use axum::http::Method;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use super::support::Harness;
use crate::model::{
    new_id, now, Batch, Blob, BlobDetails, BlobType, DlqEntry, ErrorInfo, JobStatus, Metadata,
    Object, ObjectSource,
};

#[tokio::test]
async fn trigger_answers_with_the_pending_job() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let url = format!("/v1/buckets/{bucket}/syncs/{config}/trigger");
    let reply = h
        .post(&format!("{url}?full_sync=true"), json!({}))
        .await
        .ok();
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "bucket_id",
            "full_sync",
            "status",
            "sync_config_id",
            "sync_job_id"
        ]
    );
    assert_eq!(reply["status"], "PENDING");
    assert_eq!(reply["full_sync"], true);
    assert_eq!(reply["bucket_id"], bucket.as_str());
    assert_eq!(reply["sync_config_id"], config.as_str());
    let job_id = reply["sync_job_id"].as_str().unwrap().to_string();
    assert!(job_id.starts_with("job_"));

    // Stored and queued for a worker.
    let queued = tokio::time::timeout(Duration::from_secs(1), h.app.jobs.next())
        .await
        .unwrap();
    assert_eq!(queued.sync_job_id, job_id);
    let job = h.get(&format!("/v1/syncs/{job_id}")).await.ok();
    assert_eq!(job["status"], "PENDING");
    assert_eq!(job["trigger"], "manual");
    assert_eq!(job["full_sync"], true);
    assert_eq!(job["metrics"]["files_discovered"], 0);
    assert!(job["error"].is_null());
    assert!(job["locked_by_job_id"].is_null());

    let plain = h.post(&url, json!({})).await.ok();
    assert_eq!(plain["full_sync"], false);

    // A writer may trigger; a reader may not.
    let reader = h.key(&["read"], &[]).await;
    h.call(Method::POST, &url, Some(&reader), None)
        .await
        .assert_error(403, "ForbiddenError", None);
    let writer = h.key(&["write"], &[]).await;
    h.call(Method::POST, &url, Some(&writer), None).await.ok();

    // Another bucket's config is not found through this bucket.
    let other = h.bucket("other").await;
    h.post(
        &format!("/v1/buckets/{other}/syncs/{config}/trigger"),
        json!({}),
    )
    .await
    .assert_error(404, "NotFoundError", Some("sync_config_not_found"));
    h.post(
        &format!("/v1/buckets/bkt_nope/syncs/{config}/trigger"),
        json!({}),
    )
    .await
    .assert_error(404, "NotFoundError", Some("bucket_not_found"));

    let jobs = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/jobs/list"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(jobs["total"], 3);
    assert_eq!(jobs["results"][0]["trigger"], "manual");
    let filtered = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/jobs/list"),
            json!({"status": "COMPLETED"}),
        )
        .await
        .ok();
    assert_eq!(filtered["total"], 0);
}

#[tokio::test]
async fn sync_configs_get_defaults_and_convert_filters() {
    let h = Harness::new().await;
    let (bucket, config) = h
        .sync_config(json!({
            "file_filters": {
                "include_patterns": ["photos/**/*.jpg"],
                "min_size_bytes": 1,
                "max_size_bytes": 1,
                "modified_after": "2024-01-01T00:00:00Z",
                "modified_before": "2024-06-01T12:30:00+02:00"
            },
            "metadata": {"team": "x"}
        }))
        .await;
    let reply = h
        .get(&format!("/v1/buckets/{bucket}/syncs/{config}"))
        .await
        .ok();
    assert_eq!(reply["sync_mode"], "continuous");
    assert_eq!(reply["polling_interval_seconds"], 300);
    assert_eq!(reply["batch_chunk_size"], 100);
    assert_eq!(reply["skip_duplicates"], true);
    assert_eq!(reply["max_objects_per_run"], 100000);
    assert_eq!(reply["reconcile_on_sync"], false);
    assert_eq!(reply["status"], "ACTIVE");
    assert_eq!(reply["is_active"], true);
    assert_eq!(reply["paused"], false);
    assert_eq!(reply["locked"], false);
    assert_eq!(
        reply["namespace_id"],
        h.get("/v1/namespaces/default").await.ok()["namespace_id"]
    );
    assert_eq!(reply["total_files_synced"], 0);
    assert_eq!(reply["sync_run_counter"], 0);
    assert_eq!(reply["metadata"], json!({"team": "x"}));
    assert_eq!(
        reply["file_filters"]["include_patterns"],
        json!(["photos/**/*.jpg"])
    );
    let after = reply["file_filters"]["modified_after"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(after)
            .unwrap()
            .timestamp_millis(),
        1_704_067_200_000
    );
    let stored = h.app.store.get_sync_config(&config).await.unwrap().unwrap();
    assert_eq!(stored.file_filters.modified_after, Some(1_704_067_200_000));
    assert_eq!(stored.file_filters.modified_before, Some(1_717_237_800_000));
    assert_eq!(stored.file_filters.min_size_bytes, Some(1));

    // PATCH changes only what it names.
    let patched = h
        .patch(
            &format!("/v1/buckets/{bucket}/syncs/{config}"),
            json!({"polling_interval_seconds": 30, "sync_mode": "initial_only"}),
        )
        .await
        .ok();
    assert_eq!(patched["polling_interval_seconds"], 30);
    assert_eq!(patched["sync_mode"], "initial_only");
    assert_eq!(patched["batch_chunk_size"], 100);
    assert_eq!(patched["file_filters"]["min_size_bytes"], 1);

    // Lists filter by status.
    let list = format!("/v1/buckets/{bucket}/syncs/list");
    assert_eq!(h.post(&list, json!({})).await.ok()["total"], 1);
    assert_eq!(
        h.post(&list, json!({"status": "PAUSED"})).await.ok()["total"],
        0
    );
    h.post(
        &format!("/v1/buckets/{bucket}/syncs/{config}/pause"),
        json!({}),
    )
    .await
    .ok();
    assert_eq!(
        h.post(&list, json!({"status": "PAUSED"})).await.ok()["total"],
        1
    );

    // An unknown connection is refused.
    h.post(
        &format!("/v1/buckets/{bucket}/syncs"),
        json!({"connection_id": "conn_nope", "source_path": "x"}),
    )
    .await
    .assert_error(404, "NotFoundError", Some("connection_not_found"));

    h.delete(&format!("/v1/buckets/{bucket}/syncs/{config}"))
        .await
        .ok();
    h.get(&format!("/v1/buckets/{bucket}/syncs/{config}"))
        .await
        .assert_error(404, "NotFoundError", Some("sync_config_not_found"));
}

#[tokio::test]
async fn lists_page_with_totals_and_cursors() {
    let h = Harness::new().await;
    for i in 0..5 {
        h.bucket(&format!("b{i}")).await;
    }
    let first = h.post("/v1/buckets/list?limit=2", json!({})).await.ok();
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert_eq!(first["total"], 5);
    assert_eq!(
        first["pagination"],
        json!({
            "total": 5, "page": 1, "page_size": 2, "total_pages": 3,
            "next_page": 2, "previous_page": null,
            "next_cursor": first["pagination"]["next_cursor"].clone(),
        })
    );
    let cursor = first["pagination"]["next_cursor"].as_str().unwrap();
    let second = h
        .post(
            &format!("/v1/buckets/list?limit=2&cursor={cursor}"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(second["pagination"]["page"], 2);
    assert_eq!(second["pagination"]["previous_page"], 1);
    assert_ne!(
        second["results"][0]["bucket_id"],
        first["results"][0]["bucket_id"]
    );
    let last = h
        .post("/v1/buckets/list?limit=2&offset=4", json!({}))
        .await
        .ok();
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert_eq!(last["pagination"]["next_page"], Value::Null);
    assert_eq!(last["pagination"]["next_cursor"], Value::Null);
    let everything = h
        .post("/v1/buckets/list?include_total=true", json!({}))
        .await
        .ok();
    assert_eq!(everything["results"].as_array().unwrap().len(), 5);
    let named = h
        .post("/v1/buckets/list", json!({"bucket_name": "B3"}))
        .await
        .ok();
    assert_eq!(named["total"], 1);
}

#[tokio::test]
async fn cancel_ends_a_pending_job_once() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let job = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
            json!({}),
        )
        .await
        .ok();
    let id = job["sync_job_id"].as_str().unwrap();
    let canceled = h
        .post(&format!("/v1/syncs/{id}/cancel"), json!({}))
        .await
        .ok();
    assert_eq!(canceled["status"], "CANCELED");
    assert!(canceled["finished_at"].is_string());
    h.post(&format!("/v1/syncs/{id}/cancel"), json!({}))
        .await
        .assert_error(409, "ConflictError", Some("job_already_finished"));
    // Another namespace does not see it.
    h.post("/v1/namespaces", json!({"namespace_name": "elsewhere"}))
        .await
        .ok();
    h.get(&format!("/v1/syncs/{id}?namespace=elsewhere"))
        .await
        .assert_error(404, "NotFoundError", Some("sync_job_not_found"));
}

#[tokio::test]
async fn events_stream_the_current_state_then_changes_until_the_end() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let job = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
            json!({}),
        )
        .await
        .ok();
    let id = job["sync_job_id"].as_str().unwrap().to_string();
    let request = axum::http::Request::builder()
        .uri(format!("/v1/syncs/{id}/events"))
        .header("authorization", format!("Bearer {}", h.admin))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = crate::api::router(h.app.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();

    // The current state comes first.
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let first = String::from_utf8(first.into_data().unwrap().to_vec()).unwrap();
    assert!(first.contains("event: progress"), "{first}");
    assert!(first.contains("\"status\":\"PENDING\""), "{first}");

    // A progress update, then the end.
    let mut running = h.app.store.get_job(&id).await.unwrap().unwrap();
    running.status = JobStatus::InProgress;
    running.started_at = Some(now());
    running.metrics.files_discovered = 7;
    h.app.store.update_job(&running, None).await.unwrap();
    h.app.jobs.publish(&running);
    let mut finished = running.clone();
    finished.status = JobStatus::Completed;
    finished.finished_at = Some(now());
    h.app.store.update_job(&finished, None).await.unwrap();
    h.app.jobs.publish(&finished);

    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("the stream ends after the final state")
        .unwrap()
        .to_bytes();
    let rest = String::from_utf8(rest.to_vec()).unwrap();
    let progress = rest.find("\"files_discovered\":7").expect(&rest);
    let end = rest.find("event: final").expect(&rest);
    assert!(progress < end, "{rest}");
    assert!(rest[end..].contains("\"status\":\"COMPLETED\""), "{rest}");
}

#[tokio::test]
async fn events_of_a_finished_job_end_at_once() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let job = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
            json!({}),
        )
        .await
        .ok();
    let id = job["sync_job_id"].as_str().unwrap();
    h.post(&format!("/v1/syncs/{id}/cancel"), json!({}))
        .await
        .ok();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        h.get(&format!("/v1/syncs/{id}/events")),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text.matches("event:").count(), 1, "{}", reply.text);
    assert!(reply.text.contains("event: final"), "{}", reply.text);
}

fn dead_letter(bucket: &str, config: &str, job: &str, key: &str) -> DlqEntry {
    DlqEntry {
        entry_id: new_id("dlq"),
        bucket_id: bucket.to_string(),
        sync_config_id: config.to_string(),
        uri: format!("file:///data/{key}"),
        key: key.to_string(),
        error: ErrorInfo {
            kind: "transient".into(),
            message: "the disk hiccuped".into(),
        },
        attempts: 4,
        sync_job_id: job.to_string(),
        first_failed_at: now(),
        last_failed_at: now(),
    }
}

#[tokio::test]
async fn dead_letters_are_listed_retried_and_dropped() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let dlq = format!("/v1/buckets/{bucket}/syncs/{config}/dlq");
    h.post(&format!("{dlq}/retry"), json!({}))
        .await
        .assert_error(400, "BadRequestError", Some("nothing_to_retry"));

    let (lease, fence) = h.fence(&config, "job_seed").await;
    let entries: Vec<DlqEntry> = ["a.txt", "b.txt", "c.txt"]
        .iter()
        .map(|key| dead_letter(&bucket, &config, "job_seed", key))
        .collect();
    h.app.store.put_dead_letters(&fence, entries).await.unwrap();
    h.app.store.release_lock(&lease).await.unwrap();

    let listed = h.post(&format!("{dlq}/list?limit=2"), json!({})).await.ok();
    assert_eq!(listed["total"], 3);
    assert_eq!(listed["results"].as_array().unwrap().len(), 2);
    let entry = &listed["results"][0];
    for field in [
        "entry_id",
        "uri",
        "key",
        "error",
        "attempts",
        "sync_job_id",
        "first_failed_at",
        "last_failed_at",
    ] {
        assert!(!entry[field].is_null(), "{field} missing in {entry}");
    }
    assert_eq!(entry["error"]["type"], "transient");
    let first_id = entry["entry_id"].as_str().unwrap().to_string();
    let first_key = entry["key"].as_str().unwrap().to_string();

    let retried = h
        .post(&format!("{dlq}/retry"), json!({"entry_ids": [first_id]}))
        .await
        .ok();
    assert_eq!(retried["retried_entries"], 1);
    assert_eq!(retried["status"], "PENDING");
    assert_eq!(retried["full_sync"], true);
    let job = h
        .app
        .store
        .get_job(retried["sync_job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.only_keys, Some(vec![first_key]));
    assert!(job.full_sync);

    let all = h.post(&format!("{dlq}/retry"), json!({})).await.ok();
    assert_eq!(all["retried_entries"], 3);
    h.post(&format!("{dlq}/retry"), json!({"entry_ids": ["dlq_nope"]}))
        .await
        .assert_error(404, "NotFoundError", Some("dlq_entry_not_found"));
    h.post(&format!("{dlq}/retry"), json!({"entry_ids": []}))
        .await
        .assert_invalid(json!(["body", "entry_ids"]), "too_short");

    h.delete(&format!("{dlq}/{first_id}")).await.ok();
    h.delete(&format!("{dlq}/{first_id}")).await.assert_error(
        404,
        "NotFoundError",
        Some("dlq_entry_not_found"),
    );
    assert_eq!(
        h.post(&format!("{dlq}/list"), json!({})).await.ok()["total"],
        2
    );
}

fn object(bucket: &str, config: &str, connection: &str, job: &str, key: &str) -> Object {
    let at = now();
    Object {
        object_id: new_id("obj"),
        bucket_id: bucket.to_string(),
        key: key.to_string(),
        blobs: vec![Blob {
            property: "content".into(),
            blob_type: BlobType::Image,
            url: format!("file:///data/{key}"),
            details: BlobDetails {
                filename: key.to_string(),
                size_bytes: 1024,
                mime_type: Some("image/jpeg".into()),
                hash: Some("etag-1".into()),
            },
        }],
        source: ObjectSource {
            provider_type: "local".into(),
            connection_id: connection.to_string(),
            sync_config_id: config.to_string(),
            uri: format!("file:///data/{key}"),
            etag: Some("etag-1".into()),
            last_modified: Some(at),
        },
        metadata: Metadata::new(),
        version: 1,
        sync_job_id: job.to_string(),
        batch_id: None,
        created_at: at,
        updated_at: at,
        last_seen_job_id: job.to_string(),
    }
}

#[tokio::test]
async fn objects_and_batches_are_listed_read_and_deleted() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let connection = h
        .get(&format!("/v1/buckets/{bucket}/syncs/{config}"))
        .await
        .ok()["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (lease, fence) = h.fence(&config, "job_seed").await;
    let objects: Vec<Object> = ["photos/a.jpg", "photos/b.jpg", "docs/c.jpg"]
        .iter()
        .map(|key| object(&bucket, &config, &connection, "job_seed", key))
        .collect();
    let ids: Vec<String> = objects.iter().map(|o| o.object_id.clone()).collect();
    h.app
        .store
        .upsert_objects(&fence, objects, true)
        .await
        .unwrap();
    let batch = Batch {
        batch_id: new_id("btch"),
        bucket_id: bucket.clone(),
        sync_config_id: config.clone(),
        sync_job_id: "job_seed".into(),
        object_ids: ids.clone(),
        status: "PENDING".into(),
        created_at: now(),
    };
    h.app
        .store
        .create_batches(&fence, std::slice::from_ref(&batch))
        .await
        .unwrap();
    h.app.store.release_lock(&lease).await.unwrap();

    let objects_url = format!("/v1/buckets/{bucket}/objects");
    let listed = h.post(&format!("{objects_url}/list"), json!({})).await.ok();
    assert_eq!(listed["total"], 3);
    let photos = h
        .post(
            &format!("{objects_url}/list"),
            json!({"key_prefix": "photos/"}),
        )
        .await
        .ok();
    assert_eq!(photos["total"], 2);
    let one = h.get(&format!("{objects_url}/{}", ids[0])).await.ok();
    assert_eq!(one["blobs"][0]["type"], "image");
    assert_eq!(one["blobs"][0]["property"], "content");
    assert_eq!(one["blobs"][0]["details"]["hash"], "etag-1");
    assert_eq!(one["source"]["provider_type"], "local");
    assert_eq!(one["version"], 1);
    assert!(one.get("last_seen_job_id").is_none());

    let batches = h
        .post(&format!("/v1/buckets/{bucket}/batches/list"), json!({}))
        .await
        .ok();
    assert_eq!(batches["total"], 1);
    let fetched = h
        .get(&format!("/v1/buckets/{bucket}/batches/{}", batch.batch_id))
        .await
        .ok();
    assert_eq!(fetched["object_ids"].as_array().unwrap().len(), 3);
    assert_eq!(fetched["sync_job_id"], "job_seed");

    h.delete(&format!("{objects_url}/{}", ids[0])).await.ok();
    h.get(&format!("{objects_url}/{}", ids[0]))
        .await
        .assert_error(404, "NotFoundError", Some("object_not_found"));
    // Not visible through another bucket.
    let other = h.bucket("other").await;
    h.get(&format!("/v1/buckets/{other}/objects/{}", ids[1]))
        .await
        .assert_error(404, "NotFoundError", Some("object_not_found"));
}

#[tokio::test]
async fn analytics_summarise_recent_runs() {
    let h = Harness::new().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let job = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
            json!({}),
        )
        .await
        .ok();
    let mut stored = h
        .app
        .store
        .get_job(job["sync_job_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    stored.status = JobStatus::Completed;
    stored.started_at = Some(now());
    stored.finished_at = Some(now());
    stored.metrics.files_discovered = 10;
    stored.metrics.objects_created = 8;
    stored.metrics.objects_updated = 1;
    stored.metrics.bytes_synced = 2_000_000;
    stored.metrics.duration_ms = 2000;
    h.app.store.update_job(&stored, None).await.unwrap();
    h.post(
        &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
        json!({}),
    )
    .await
    .ok();

    let url = format!("/v1/analytics/buckets/{bucket}/sync-performance?sync_config_id={config}");
    let report = h.get(&url).await.ok();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let done = runs.iter().find(|r| r["status"] == "COMPLETED").unwrap();
    assert_eq!(done["files_synced"], 9);
    assert_eq!(done["duration_seconds"], 2.0);
    assert_eq!(done["throughput_mbps"], 8.0);
    assert_eq!(done["provider_type"], "local");
    assert_eq!(report["summary"]["total_runs"], 2);
    assert_eq!(report["summary"]["successful_runs"], 1);
    assert_eq!(report["summary"]["success_rate"], 1.0);
    let limited = h.get(&format!("{url}&limit=1")).await.ok();
    assert_eq!(limited["runs"].as_array().unwrap().len(), 1);
}
