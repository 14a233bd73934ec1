//! Property: whatever JSON (or not-JSON) a client POSTs or PATCHes to any
//! route, the API answers without a 500 (a panic would be one, through the
//! catch-panic layer) and every error is either the envelope or a 422.

use axum::http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Number, Value};

use super::support::Harness;

/// Field names of the API's bodies, so random objects often hit real fields.
const FIELDS: &[&str] = &[
    "name",
    "namespace_name",
    "description",
    "metadata",
    "permissions",
    "namespace_ids",
    "provider_type",
    "provider_config",
    "test_before_save",
    "root",
    "count",
    "credentials",
    "type",
    "bucket_name",
    "connection_id",
    "source_path",
    "sync_mode",
    "file_filters",
    "include_patterns",
    "exclude_patterns",
    "extensions",
    "min_size_bytes",
    "max_size_bytes",
    "modified_after",
    "modified_before",
    "mime_types",
    "polling_interval_seconds",
    "batch_chunk_size",
    "skip_duplicates",
    "max_objects_per_run",
    "reconcile_on_sync",
    "is_active",
    "status",
    "reason",
    "entry_ids",
    "key_prefix",
    "sync_config_id",
    "sync_job_id",
    "trigger",
];

const WORDS: &[&str] = &[
    "",
    " ",
    "local",
    "synthetic",
    "s3",
    "continuous",
    "initial_only",
    "read",
    "write",
    "admin",
    "ACTIVE",
    "PAUSED",
    "COMPLETED",
    "manual",
    "2024-01-01T00:00:00Z",
    "not-a-date",
    "/",
    "/tmp",
    "default",
    "conn_",
    "ns_x",
    "***REDACTED***",
    "💥",
    "\u{0}",
    "a/**/b*.jpg",
];

fn random_string(rng: &mut StdRng) -> String {
    if rng.random_bool(0.6) {
        return WORDS[rng.random_range(0..WORDS.len())].to_string();
    }
    let len = rng.random_range(0..40);
    (0..len).map(|_| rng.random::<char>()).collect()
}

fn random_number(rng: &mut StdRng) -> Value {
    match rng.random_range(0..8) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(i64::MIN),
        4 => json!(rng.random_range(-2000..2000)),
        5 => json!(rng.random_range(0..100_000_000u64)),
        6 => Number::from_f64(rng.random_range(-1e12..1e12)).map_or(Value::Null, Value::Number),
        _ => json!(0.5),
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    let leaf = depth >= 4 || rng.random_bool(0.4);
    match rng.random_range(0..if leaf { 4 } else { 6 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => random_number(rng),
        3 => Value::String(random_string(rng)),
        4 => {
            let len = rng.random_range(0..5);
            Value::Array((0..len).map(|_| random_value(rng, depth + 1)).collect())
        }
        _ => Value::Object(random_object(rng, depth + 1)),
    }
}

fn random_object(rng: &mut StdRng, depth: u32) -> Map<String, Value> {
    let len = rng.random_range(0..8);
    (0..len)
        .map(|_| {
            let key = if rng.random_bool(0.85) {
                FIELDS[rng.random_range(0..FIELDS.len())].to_string()
            } else {
                random_string(rng)
            };
            (key, random_value(rng, depth))
        })
        .collect()
}

/// A body: mostly objects, sometimes any JSON value, sometimes broken text.
fn random_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..10) {
        0 => random_value(rng, 0).to_string().into_bytes(),
        1 => {
            let text = Value::Object(random_object(rng, 0)).to_string();
            let cut = rng.random_range(0..=text.len());
            text.as_bytes()[..cut].to_vec()
        }
        2 => (0..rng.random_range(0..64))
            .map(|_| rng.random::<u8>())
            .collect(),
        _ => Value::Object(random_object(rng, 0))
            .to_string()
            .into_bytes(),
    }
}

/// A valid body with one to three fields removed, replaced or added, one
/// level deep at most: these reach past the first check of a route.
fn mutated(rng: &mut StdRng, template: &Value) -> Vec<u8> {
    let mut body = template.clone();
    for _ in 0..rng.random_range(1..=3) {
        let Some(object) = body.as_object_mut() else {
            break;
        };
        let keys: Vec<String> = object.keys().cloned().collect();
        let nested = keys
            .iter()
            .filter(|k| object[k.as_str()].is_object())
            .cloned()
            .collect::<Vec<_>>();
        let target = match (nested.is_empty(), rng.random_bool(0.3)) {
            (false, true) => object
                .get_mut(&nested[rng.random_range(0..nested.len())])
                .and_then(Value::as_object_mut)
                .expect("an object"),
            _ => object,
        };
        let existing: Vec<String> = target.keys().cloned().collect();
        let key = if !existing.is_empty() && rng.random_bool(0.7) {
            existing[rng.random_range(0..existing.len())].clone()
        } else {
            FIELDS[rng.random_range(0..FIELDS.len())].to_string()
        };
        if rng.random_bool(0.2) {
            target.remove(&key);
        } else {
            target.insert(key, random_value(rng, 2));
        }
    }
    body.to_string().into_bytes()
}

fn random_query(rng: &mut StdRng) -> String {
    let params = [
        "limit",
        "offset",
        "cursor",
        "include_total",
        "full_sync",
        "namespace",
        "hours",
    ];
    let values = [
        "0",
        "1",
        "-5",
        "1000",
        "1001",
        "true",
        "maybe",
        "",
        "%FF",
        "default",
        "99999999999999999999",
    ];
    let count = rng.random_range(0..3);
    let pairs: Vec<String> = (0..count)
        .map(|_| {
            format!(
                "{}={}",
                params[rng.random_range(0..params.len())],
                values[rng.random_range(0..values.len())]
            )
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_never_cause_a_server_error() {
    let h = Harness::with_plugins().await;
    let (bucket, config) = h.sync_config(json!({})).await;
    let job = h
        .post(
            &format!("/v1/buckets/{bucket}/syncs/{config}/trigger"),
            json!({}),
        )
        .await
        .ok();
    let job = job["sync_job_id"].as_str().unwrap().to_string();
    let connection = h
        .get(&format!("/v1/buckets/{bucket}/syncs/{config}"))
        .await
        .ok()["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sync = format!("/v1/buckets/{bucket}/syncs/{config}");
    let root = h.local_root.display().to_string();
    let routes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/v1/namespaces".into(),
            json!({"namespace_name": "team"}),
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            json!({"name": "k", "permissions": ["read"]}),
        ),
        (
            Method::POST,
            "/v1/organizations/connections".into(),
            json!({"name": "c", "provider_type": "local", "provider_config": {"root": root}}),
        ),
        (
            Method::POST,
            "/v1/organizations/connections/list".into(),
            json!({"provider_type": "local"}),
        ),
        (
            Method::POST,
            format!("/v1/organizations/connections/{connection}/test"),
            json!({}),
        ),
        (
            Method::PATCH,
            format!("/v1/organizations/connections/{connection}"),
            json!({"description": "d", "provider_config": {"root": root}}),
        ),
        (
            Method::POST,
            "/v1/buckets".into(),
            json!({"bucket_name": "b", "metadata": {"a": 1}}),
        ),
        (
            Method::POST,
            "/v1/buckets/list".into(),
            json!({"bucket_name": "b"}),
        ),
        (
            Method::PATCH,
            format!("/v1/buckets/{bucket}"),
            json!({"description": "d"}),
        ),
        (
            Method::POST,
            format!("/v1/buckets/{bucket}/syncs"),
            json!({"connection_id": connection, "source_path": "", "polling_interval_seconds": 60,
                   "file_filters": {"min_size_bytes": 1, "max_size_bytes": 10, "extensions": ["jpg"]}}),
        ),
        (
            Method::POST,
            format!("/v1/buckets/{bucket}/syncs/list"),
            json!({"is_active": true}),
        ),
        (
            Method::PATCH,
            sync.clone(),
            json!({"batch_chunk_size": 10, "file_filters": {"mime_types": ["image/png"]}}),
        ),
        (
            Method::POST,
            format!("{sync}/pause"),
            json!({"reason": "r"}),
        ),
        (Method::POST, format!("{sync}/resume"), json!({})),
        (Method::POST, format!("{sync}/trigger"), json!({})),
        (
            Method::POST,
            format!("{sync}/jobs/list"),
            json!({"status": "PENDING"}),
        ),
        (Method::POST, format!("{sync}/dlq/list"), json!({})),
        (
            Method::POST,
            format!("{sync}/dlq/retry"),
            json!({"entry_ids": ["dlq_x"]}),
        ),
        (Method::POST, format!("/v1/syncs/{job}/cancel"), json!({})),
        (
            Method::POST,
            format!("/v1/buckets/{bucket}/objects/list"),
            json!({"key_prefix": "a"}),
        ),
        (
            Method::POST,
            format!("/v1/buckets/{bucket}/batches/list"),
            json!({"sync_job_id": job}),
        ),
        (Method::POST, "/v1/plugins".into(), json!({})),
        (
            Method::POST,
            "/v1/buckets/bkt_unknown/syncs".into(),
            json!({}),
        ),
        (
            Method::POST,
            "/v1/buckets/bkt_unknown/syncs/sync_unknown/trigger".into(),
            json!({}),
        ),
    ];
    let mut rng = StdRng::seed_from_u64(0x7215_2026);
    for round in 0..40 {
        for (method, path, template) in &routes {
            let body = if rng.random_bool(0.5) {
                mutated(&mut rng, template)
            } else {
                random_body(&mut rng)
            };
            let uri = format!("{path}{}", random_query(&mut rng));
            let reply = h
                .raw(method.clone(), &uri, Some(&h.admin), body.clone())
                .await;
            let shown = String::from_utf8_lossy(&body);
            assert!(
                reply.status.as_u16() < 500,
                "round {round}: {method} {uri} with {shown:?} gave {}: {}",
                reply.status,
                reply.text
            );
            if reply.status.is_client_error() {
                let answer = reply.json();
                if reply.status == 422 {
                    let detail = answer["detail"].as_array().expect("422 carries detail");
                    assert!(detail
                        .iter()
                        .all(|d| d["loc"].is_array() && d["msg"].is_string()));
                } else {
                    assert_eq!(answer["success"], false, "{answer}");
                    assert_eq!(answer["status"], reply.status.as_u16(), "{answer}");
                }
            }
            // Keep the fixtures usable: a random PATCH may deactivate or pause.
            if reply.status.is_success() && path == &sync {
                h.patch(&sync, json!({"is_active": true})).await.ok();
            }
        }
    }
}
