//! The API flow most end-to-end tests share: a connection, bucket and sync
//! config in one call; triggering and waiting; reading objects and batches.

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::Server;

/// Creates a connection, a bucket and a sync config; returns (bucket_id, sync_config_id, connection_id).
pub fn setup_sync(
    server: &Server,
    provider: &str,
    config: Value,
    sync: Value,
) -> (String, String, String) {
    setup_sync_tested(server, provider, config, sync, true)
}

/// `setup_sync` with a choice of testing the connection before saving it.
pub fn setup_sync_tested(
    server: &Server,
    provider: &str,
    config: Value,
    sync: Value,
    test_before_save: bool,
) -> (String, String, String) {
    let name = format!(
        "{provider}-{}",
        std::process::id() as u128 * 1000 + rand_suffix()
    );
    let connection = server.ok(
        "POST",
        "/v1/organizations/connections",
        Some(json!({
            "name": name,
            "provider_type": provider,
            "provider_config": config,
            "test_before_save": test_before_save,
        })),
    );
    let connection_id = connection["connection_id"].as_str().unwrap().to_string();
    let bucket = server.ok(
        "POST",
        "/v1/buckets",
        Some(json!({ "bucket_name": format!("b-{name}") })),
    );
    let bucket_id = bucket["bucket_id"].as_str().unwrap().to_string();
    let mut body = json!({ "connection_id": connection_id, "source_path": "" });
    body.as_object_mut()
        .unwrap()
        .extend(sync.as_object().unwrap().clone());
    let sync = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket_id}/syncs"),
        Some(body),
    );
    let sync_id = sync["sync_config_id"].as_str().unwrap().to_string();
    (bucket_id, sync_id, connection_id)
}

pub fn rand_suffix() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1000
}

pub fn trigger(server: &Server, bucket: &str, sync: &str, full: bool) -> Value {
    let job = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger?full_sync={full}"),
        None,
    );
    assert_eq!(job["status"], "PENDING");
    assert_eq!(job["full_sync"], full);
    server.wait_job(job["sync_job_id"].as_str().unwrap())
}

pub fn objects(server: &Server, bucket: &str) -> Vec<Value> {
    server.list_all(&format!("/v1/buckets/{bucket}/objects/list"), json!({}))
}

/// Every batch of a bucket; asserts that no object is in two batches and
/// returns the ids of the batched objects.
pub fn batched_objects(server: &Server, bucket: &str) -> BTreeSet<String> {
    let batches = server.list_all(&format!("/v1/buckets/{bucket}/batches/list"), json!({}));
    let mut batched = BTreeSet::new();
    for batch in &batches {
        for id in batch["object_ids"].as_array().unwrap() {
            assert!(
                batched.insert(id.as_str().unwrap().to_string()),
                "object in two batches: {id}"
            );
        }
    }
    batched
}
