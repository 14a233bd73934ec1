//! The sync engine end to end: the real binary, its HTTP API, real plugin
//! components, and each store: every scenario runs once on the embedded
//! store and once in distributed mode on Redis.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tributary_e2e::flow::{objects, setup_sync, setup_sync_tested, trigger};
use tributary_e2e::{on_both_stores, Backend, Server};

on_both_stores!(
    local_folder_sync_creates_objects_batches_and_is_idempotent,
    failing_files_are_retried_then_dead_lettered_and_recover_on_retry,
    concurrent_triggers_run_once_and_the_rest_are_skipped,
    a_killed_server_resumes_the_run_from_its_checkpoint,
    api_errors_use_the_envelope,
    secrets_never_appear_in_responses_or_logs,
    a_running_job_can_be_canceled,
    an_initial_only_config_runs_once_by_itself,
    a_listing_that_keeps_failing_ends_failed_after_bounded_retries,
    reconciliation_deletes_objects_whose_files_are_gone,
);

fn write_file(root: &Path, key: &str, contents: &[u8]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

fn local_folder_sync_creates_objects_batches_and_is_idempotent(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    for i in 0..2_500 {
        write_file(
            root.path(),
            &format!("set{}/dir{}/file{i:05}.txt", i % 5, i % 13),
            format!("content {i}").as_bytes(),
        );
    }
    let server = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(&server, "local", json!({ "root": root.path() }), json!({}));

    // First run: everything is new.
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let m = &job["metrics"];
    assert_eq!(m["files_discovered"], 2_500);
    assert_eq!(m["objects_created"], 2_500);
    assert_eq!(m["duplicates_skipped"], 0);
    assert_eq!(m["batches_created"], 25);
    let all = objects(&server, &bucket);
    assert_eq!(all.len(), 2_500);
    let object_ids: BTreeSet<String> = all
        .iter()
        .map(|o| o["object_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(object_ids.len(), 2_500);
    let keys: BTreeSet<&str> = all.iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert!(keys.contains("set0/dir0/file00000.txt"));
    let sample = &all[0];
    assert_eq!(sample["blobs"][0]["type"], "text");
    assert_eq!(sample["source"]["provider_type"], "local");

    // 25 batches of 100, disjoint, covering every object.
    let batches = server.list_all(&format!("/v1/buckets/{bucket}/batches/list"), json!({}));
    assert_eq!(batches.len(), 25);
    let mut batched = BTreeSet::new();
    for batch in &batches {
        let ids = batch["object_ids"].as_array().unwrap();
        assert_eq!(ids.len(), 100);
        for id in ids {
            assert!(
                batched.insert(id.as_str().unwrap().to_string()),
                "object in two batches: {id}"
            );
        }
    }
    assert_eq!(batched, object_ids);

    // Second run: nothing changed.
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["metrics"]["objects_created"], 0);
    assert_eq!(job["metrics"]["objects_updated"], 0);
    assert_eq!(job["metrics"]["duplicates_skipped"], 2_500);
    assert_eq!(job["metrics"]["batches_created"], 0);

    // Modify 10 files, add 5.
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..10 {
        write_file(
            root.path(),
            &format!("set{}/dir{}/file{i:05}.txt", i % 5, i % 13),
            format!("changed content {i}").as_bytes(),
        );
    }
    for i in 0..5 {
        write_file(root.path(), &format!("new/file{i}.txt"), b"new");
    }
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["metrics"]["objects_created"], 5, "{job}");
    assert_eq!(job["metrics"]["objects_updated"], 10, "{job}");
    assert_eq!(job["metrics"]["batches_created"], 1);
    let changed = server.list_all(
        &format!("/v1/buckets/{bucket}/objects/list"),
        json!({ "key_prefix": "set0/dir0/file00000.txt" }),
    );
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["version"], 2);

    // A full sync lists everything and still creates nothing twice.
    let job = trigger(&server, &bucket, &sync, true);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["metrics"]["files_discovered"], 2_505);
    assert_eq!(job["metrics"]["objects_created"], 0);
    assert_eq!(job["metrics"]["duplicates_skipped"], 2_505);
    assert_eq!(objects(&server, &bucket).len(), 2_505);

    // The config's totals add up over the runs.
    let config = server.ok("GET", &format!("/v1/buckets/{bucket}/syncs/{sync}"), None);
    assert_eq!(config["total_files_synced"], 2_515);
    assert_eq!(config["batches_created"], 26);
    assert_eq!(config["sync_run_counter"], 4);
}

fn failing_files_are_retried_then_dead_lettered_and_recover_on_retry(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), &[]);
    let failing: Vec<String> = [3u64, 50, 99, 150, 200, 333, 499]
        .iter()
        .map(|i| format!("file/{:04}/{i:09}.bin", i / 10_000))
        .collect();
    let (bucket, sync, connection) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 500, "fail_keys": failing }),
        json!({}),
    );
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED_WITH_ERRORS", "{job}");
    assert_eq!(job["metrics"]["objects_created"], 493);
    assert_eq!(job["metrics"]["files_failed"], 7);
    assert_eq!(
        job["metrics"]["retries"], 21,
        "each failed file is retried 3 times"
    );

    let dead = server.list_all(
        &format!("/v1/buckets/{bucket}/syncs/{sync}/dlq/list"),
        json!({}),
    );
    assert_eq!(dead.len(), 7);
    let dead_keys: BTreeSet<&str> = dead.iter().map(|d| d["key"].as_str().unwrap()).collect();
    assert_eq!(dead_keys, failing.iter().map(String::as_str).collect());
    for entry in &dead {
        assert_eq!(entry["attempts"], 3, "{entry}");
        assert_eq!(entry["error"]["type"], "transient", "{entry}");
    }

    // The fault clears; retrying the dead letters turns them into objects.
    server.ok(
        "PATCH",
        &format!("/v1/organizations/connections/{connection}"),
        Some(json!({ "provider_config": { "count": 500 } })),
    );
    let retry = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/dlq/retry"),
        Some(json!({})),
    );
    let job = server.wait_job(retry["sync_job_id"].as_str().unwrap());
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["metrics"]["objects_created"], 7, "{job}");
    assert_eq!(objects(&server, &bucket).len(), 500);
    let dead = server.list_all(
        &format!("/v1/buckets/{bucket}/syncs/{sync}/dlq/list"),
        json!({}),
    );
    assert!(dead.is_empty(), "{dead:?}");
}

fn concurrent_triggers_run_once_and_the_rest_are_skipped(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(&server, "synthetic", json!({ "count": 30_000 }), json!({}));
    let job_ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    let job = server.ok(
                        "POST",
                        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger"),
                        None,
                    );
                    job["sync_job_id"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let jobs: Vec<Value> = job_ids.iter().map(|id| server.wait_job(id)).collect();
    let ran: Vec<&Value> = jobs.iter().filter(|j| j["status"] == "COMPLETED").collect();
    let skipped: Vec<&Value> = jobs.iter().filter(|j| j["status"] == "SKIPPED").collect();
    assert_eq!(ran.len(), 1, "{jobs:?}");
    assert_eq!(skipped.len(), 19, "{jobs:?}");
    let winner = ran[0]["sync_job_id"].as_str().unwrap();
    assert_eq!(ran[0]["metrics"]["objects_created"], 30_000);
    for job in skipped {
        assert_eq!(job["metrics"]["files_discovered"], 0);
        assert_eq!(job["locked_by_job_id"], winner, "{job}");
    }
    assert_eq!(objects(&server, &bucket).len(), 30_000);
}

fn a_killed_server_resumes_the_run_from_its_checkpoint(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let mut server = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 200_000 }),
        json!({ "max_objects_per_run": 0 }),
    );
    let job = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger"),
        None,
    );
    let job_id = job["sync_job_id"].as_str().unwrap().to_string();

    // Kill it once the run is well under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let job = server.ok("GET", &format!("/v1/syncs/{job_id}"), None);
        let created = job["metrics"]["objects_created"].as_u64().unwrap_or(0);
        if created >= 30_000 {
            assert_eq!(job["status"], "IN_PROGRESS", "{job}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run did not progress: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    server.restart();

    let job = server.wait_job(&job_id);
    assert_eq!(job["status"], "COMPLETED", "{job}\n{}", server.log());
    assert_eq!(job["metrics"]["objects_created"], 200_000, "{job}");
    let resumed_by = match backend {
        Backend::Embedded => "re-queueing an unfinished job",
        Backend::Redis { .. } => "took over a job whose worker stopped",
    };
    assert!(server.log().contains(resumed_by), "{}", server.log());
    assert_eq!(objects(&server, &bucket).len(), 200_000);
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
    assert_eq!(batched.len(), 200_000);
}

fn api_errors_use_the_envelope(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), &[]);
    let (status, body) = server.call("GET", "/v1/no-such-route", None);
    assert_eq!(status, 404);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["type"], "NotFoundError");

    let (status, body) = server.call(
        "POST",
        "/v1/buckets/bkt_missing/syncs/sync_missing/trigger",
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["status"], 404);

    let (bucket, sync, _) = setup_sync(&server, "synthetic", json!({ "count": 1 }), json!({}));
    let (status, body) = server.call(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger?full_sync=maybe"),
        None,
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "full_sync"]));

    let unauthenticated = reqwest::blocking::Client::new()
        .get(format!("{}/v1/buckets/{bucket}", server.base))
        .send()
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
}

fn secrets_never_appear_in_responses_or_logs(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), &[]);
    let secret = "tok-6f1d2c9a-secret-value";
    let (bucket, sync, connection) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 50, "api_token": secret }),
        json!({}),
    );
    let mut seen = Vec::new();
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    seen.push(job);
    seen.push(server.ok(
        "GET",
        &format!("/v1/organizations/connections/{connection}"),
        None,
    ));
    seen.push(server.ok(
        "POST",
        "/v1/organizations/connections/list",
        Some(json!({})),
    ));
    seen.push(server.ok(
        "POST",
        &format!("/v1/organizations/connections/{connection}/test"),
        None,
    ));
    seen.push(Value::Array(objects(&server, &bucket)));
    let connection_view = &seen[1];
    assert_eq!(connection_view["provider_config"]["count"], 50);
    assert_ne!(connection_view["provider_config"]["api_token"], secret);

    // A rejected credential: the test and the run fail with a clear message, still without the secret.
    let bad = "invalid-7a1e-secret";
    let (status, body) = server.call(
        "POST",
        "/v1/organizations/connections",
        Some(json!({ "name": "bad-token", "provider_type": "synthetic", "provider_config": { "count": 5, "api_token": bad } })),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_credentials", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API token was rejected"),
        "{body}"
    );
    seen.push(body);
    let (b2, s2, _) = setup_sync_tested(
        &server,
        "synthetic",
        json!({ "count": 5, "api_token": bad }),
        json!({}),
        false,
    );
    let failed = trigger(&server, &b2, &s2, false);
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API token was rejected"),
        "{failed}"
    );
    seen.push(failed);

    let everything = format!("{seen:?}{}", server.log());
    assert!(!everything.contains(secret), "the secret leaked");
    assert!(!everything.contains(bad), "the rejected secret leaked");
    let stored = server.stored_bytes();
    assert!(!stored.is_empty());
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is stored in clear"
    );
}

fn a_running_job_can_be_canceled(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 500_000 }),
        json!({ "max_objects_per_run": 0 }),
    );
    let job = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger"),
        None,
    );
    let job_id = job["sync_job_id"].as_str().unwrap();
    loop {
        let job = server.ok("GET", &format!("/v1/syncs/{job_id}"), None);
        if job["metrics"]["objects_created"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server.ok("POST", &format!("/v1/syncs/{job_id}/cancel"), None);
    let job = server.wait_job(job_id);
    assert_eq!(job["status"], "CANCELED", "{job}");
    let created = job["metrics"]["objects_created"].as_u64().unwrap();
    assert!(created > 0 && created < 500_000, "{job}");
    // The lock is free again: the next run proceeds.
    let next = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger"),
        None,
    );
    server.ok(
        "POST",
        &format!("/v1/syncs/{}/cancel", next["sync_job_id"].as_str().unwrap()),
        None,
    );
}

fn an_initial_only_config_runs_once_by_itself(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    // Settings from a config file (flags the harness passes still win).
    let config_file = root.path().join("tributary.toml");
    std::fs::write(&config_file, "scheduler_tick = 0.2\nworkers = 2\n").unwrap();
    let server = Server::start_on(
        &backend,
        root.path(),
        &["--config", config_file.to_str().unwrap()],
    );
    let (bucket, sync, _) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 120 }),
        json!({ "sync_mode": "initial_only" }),
    );
    let jobs_path = format!("/v1/buckets/{bucket}/syncs/{sync}/jobs/list");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let job = loop {
        let jobs = server.list_all(&jobs_path, json!({}));
        if let Some(job) = jobs.first() {
            break job.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler never ran it"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["trigger"], "schedule");
    let job = server.wait_job(job["sync_job_id"].as_str().unwrap());
    assert_eq!(job["status"], "COMPLETED", "{job}");
    std::thread::sleep(Duration::from_secs(1)); // several more ticks
    assert_eq!(server.list_all(&jobs_path, json!({})).len(), 1);
    assert_eq!(objects(&server, &bucket).len(), 120);
}

/// The README's quick start, run as written (pointed at this test's server).
/// The README's quick start is the embedded default.
#[test]
fn the_readme_quick_start_works() {
    let readme =
        std::fs::read_to_string(tributary_e2e::workspace_root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Quick start").expect("quick start section")..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];

    let work = tempfile::tempdir().unwrap();
    let sync_root = work.path().join("data/sync-root");
    std::fs::create_dir_all(&sync_root).unwrap();
    let server = Server::start(&sync_root);
    std::fs::copy(
        server.data_dir.join("admin.key"),
        work.path().join("data/admin.key"),
    )
    .unwrap();
    let script = script
        .replace("http://127.0.0.1:8080", &server.base)
        .replace(
            "just tributary",
            &tributary_e2e::binary().display().to_string(),
        );
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("TRIBUTARY_SERVER", &server.base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(": COMPLETED"), "{stdout}");
    assert!(stdout.contains("\"objects_created\": 3"), "{stdout}");
    for key in ["photos/img1.jpg", "photos/img2.jpg", "photos/img3.jpg"] {
        assert!(stdout.contains(key), "{key} missing from {stdout}");
    }
    assert!(
        !stdout.contains("notes/n1.txt"),
        "the include filter let notes through"
    );
}

fn a_listing_that_keeps_failing_ends_failed_after_bounded_retries(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 5_000, "transient_error_on_page": 2, "fail_transient_times": 100 }),
        json!({}),
    );
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["type"], "transient", "{job}");
    // The pages before the failing one were kept.
    assert_eq!(job["metrics"]["objects_created"], 2_000, "{job}");
    let config = server.ok("GET", &format!("/v1/buckets/{bucket}/syncs/{sync}"), None);
    assert_eq!(config["consecutive_failures"], 1);
    assert!(
        config["last_error"].as_str().unwrap().contains("transient"),
        "{config}"
    );
}

fn reconciliation_deletes_objects_whose_files_are_gone(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    for i in 0..20 {
        write_file(root.path(), &format!("docs/f{i:02}.txt"), b"x");
    }
    let server = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(
        &server,
        "local",
        json!({ "root": root.path() }),
        json!({ "reconcile_on_sync": true }),
    );
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["metrics"]["objects_created"], 20, "{job}");
    for i in [3, 7, 11] {
        std::fs::remove_file(root.path().join(format!("docs/f{i:02}.txt"))).unwrap();
    }
    let job = trigger(&server, &bucket, &sync, false);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["metrics"]["objects_deleted"], 3, "{job}");
    let keys: BTreeSet<String> = objects(&server, &bucket)
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 17);
    assert!(!keys.contains("docs/f07.txt"));
}
