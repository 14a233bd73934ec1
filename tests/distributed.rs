//! Distributed mode end to end: several real `tributary serve` hosts on one
//! real Redis, with hosts killed, paused and Redis restarted mid-run.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tributary_e2e::flow::{batched_objects, objects, setup_sync};
use tributary_e2e::{redis_connection, tool, Backend, Server};

/// Sync config fields: no cap on objects per run (the default is 100,000).
fn unlimited() -> Value {
    json!({ "max_objects_per_run": 0 })
}

/// Short leases so that takeovers happen within seconds.
const FAST: &[&str] = &["--lock-ttl", "2"];

fn start_job(server: &Server, bucket: &str, sync: &str) -> String {
    let job = server.ok(
        "POST",
        &format!("/v1/buckets/{bucket}/syncs/{sync}/trigger"),
        None,
    );
    job["sync_job_id"].as_str().unwrap().to_string()
}

/// Waits until the job has created at least `created` objects.
fn wait_progress(server: &Server, job_id: &str, created: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let job = server.ok("GET", &format!("/v1/syncs/{job_id}"), None);
        if job["metrics"]["objects_created"].as_u64().unwrap_or(0) >= created {
            assert_eq!(job["status"], "IN_PROGRESS", "{job}");
            return job;
        }
        assert!(Instant::now() < deadline, "run did not progress: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every object exactly once, every object in exactly one batch.
fn assert_exact(server: &Server, bucket: &str, count: usize) {
    let all = objects(server, bucket);
    assert_eq!(all.len(), count);
    let keys: BTreeSet<&str> = all.iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), count, "duplicate keys");
    let ids: BTreeSet<String> = all
        .iter()
        .map(|o| o["object_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        batched_objects(server, bucket),
        ids,
        "batches must cover every object once"
    );
}

#[test]
fn twenty_triggers_over_two_hosts_make_one_run() {
    let backend = Backend::redis();
    let root = tempfile::tempdir().unwrap();
    let a = Server::start_on(&backend, root.path(), &[]);
    let b = Server::start_on(&backend, root.path(), &[]);
    let (bucket, sync, _) = setup_sync(&a, "synthetic", json!({ "count": 20_000 }), unlimited());
    let jobs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let host = if i % 2 == 0 { &a } else { &b };
                let (bucket, sync) = (&bucket, &sync);
                scope.spawn(move || start_job(host, bucket, sync))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let finished: Vec<Value> = jobs.iter().map(|id| b.wait_job(id)).collect();
    let workers: BTreeSet<&str> = finished
        .iter()
        .filter_map(|j| j["worker_id"].as_str())
        .collect();
    let working: Vec<&Value> = finished
        .iter()
        .filter(|j| j["metrics"]["objects_created"].as_u64() > Some(0))
        .collect();
    assert_eq!(
        working.len(),
        1,
        "exactly one run does the work: {finished:?}"
    );
    assert_eq!(working[0]["status"], "COMPLETED");
    assert_eq!(working[0]["metrics"]["objects_created"], 20_000);
    for job in &finished {
        assert!(
            matches!(job["status"].as_str(), Some("COMPLETED" | "SKIPPED")),
            "{job}"
        );
    }
    assert!(
        finished.iter().filter(|j| j["status"] == "SKIPPED").count() >= 10,
        "concurrent triggers are skipped: {finished:?}"
    );
    assert_eq!(workers.len(), 2, "both hosts took jobs: {workers:?}");
    assert_exact(&a, &bucket, 20_000);
}

#[test]
fn a_killed_host_s_job_is_finished_by_the_other() {
    let backend = Backend::redis();
    let root = tempfile::tempdir().unwrap();
    let mut hosts = [
        Server::start_on(&backend, root.path(), FAST),
        Server::start_on(&backend, root.path(), FAST),
    ];
    let (bucket, sync, _) = setup_sync(
        &hosts[0],
        "synthetic",
        json!({ "count": 200_000 }),
        unlimited(),
    );
    let job_id = start_job(&hosts[0], &bucket, &sync);
    let job = wait_progress(&hosts[0], &job_id, 30_000);
    let runner = job["worker_id"].as_str().unwrap().to_string();
    let victim = hosts
        .iter()
        .position(|h| runner.ends_with(&format!("-{}", h.pid().unwrap())))
        .unwrap_or_else(|| panic!("no host runs {runner}"));
    hosts[victim].kill();
    let survivor = &hosts[1 - victim];

    let job = survivor.wait_job(&job_id);
    assert_eq!(job["status"], "COMPLETED", "{job}\n{}", survivor.log());
    assert_ne!(job["worker_id"].as_str(), Some(runner.as_str()), "{job}");
    assert!(survivor
        .log()
        .contains("took over a job whose worker stopped"));
    let log = survivor.log();
    let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
    assert_eq!(job["metrics"]["objects_created"], 200_000, "{job}\n{tail}");
    assert_exact(survivor, &bucket, 200_000);
}

#[test]
fn a_run_that_lost_its_lock_cannot_write() {
    let backend = Backend::redis();
    let root = tempfile::tempdir().unwrap();
    // A long reclaim time: the paused host's job is not taken over, a new run takes the lock.
    let args = [
        "--lock-ttl",
        "1",
        "--job-reclaim-idle",
        "600",
        "--workers",
        "1",
    ];
    let paused = Server::start_on(&backend, root.path(), &args);
    let (bucket, sync, _) = setup_sync(
        &paused,
        "synthetic",
        json!({ "count": 100_000 }),
        unlimited(),
    );
    let first = start_job(&paused, &bucket, &sync);
    wait_progress(&paused, &first, 10_000);
    let pid = paused.pid().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());

    // The lease runs out while the host sleeps; another host's run takes the lock.
    std::thread::sleep(Duration::from_secs(3));
    let other = Server::start_on(&backend, root.path(), &args);
    let second = start_job(&other, &bucket, &sync);
    let done = other.wait_job(&second);
    assert_eq!(done["status"], "COMPLETED", "{done}");

    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let lost = other.wait_job(&first);
    assert_eq!(lost["status"], "FAILED", "{lost}");
    assert_eq!(lost["error"]["type"], "lock_lost", "{lost}");
    assert!(
        paused.log().contains("write refused") || paused.log().contains("lock lost"),
        "{}",
        paused.log()
    );
    // The new holder's results are whole and nothing was written twice.
    let created = lost["metrics"]["objects_created"].as_u64().unwrap()
        + done["metrics"]["objects_created"].as_u64().unwrap();
    assert_eq!(created, 100_000, "{lost}\n{done}");
    assert_exact(&other, &bucket, 100_000);
}

/// A private redis-server with an append-only file, restartable on its port.
struct AofRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl AofRedis {
    fn start() -> AofRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = AofRedis {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.spawn();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(tool("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL and start again on the same files: what was acknowledged survives.
    fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        self.spawn();
    }
}

impl Drop for AofRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_redis_restart_mid_run_loses_and_duplicates_nothing() {
    let mut redis = AofRedis::start();
    let backend = Backend::Redis {
        url: redis.url(),
        prefix: "restart".into(),
    };
    let root = tempfile::tempdir().unwrap();
    let server = Server::start_on(&backend, root.path(), FAST);
    let (bucket, sync, _) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 60_000 }),
        unlimited(),
    );
    let job_id = start_job(&server, &bucket, &sync);
    wait_progress(&server, &job_id, 10_000);
    redis.restart();

    let job = server.wait_job(&job_id);
    match job["status"].as_str() {
        Some("COMPLETED") => {}
        Some("FAILED") => {
            let message = job["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("redis") || message.contains("store"),
                "{job}"
            );
            // The next run finishes from where it stopped.
            let again = start_job(&server, &bucket, &sync);
            let again = server.wait_job(&again);
            assert_eq!(again["status"], "COMPLETED", "{again}");
        }
        _ => panic!("unexpected end: {job}"),
    }
    // The host kept serving and reconnected.
    let (status, _) = server.call("GET", "/healthz", None);
    assert_eq!(status, 200);
    assert_exact(&server, &bucket, 60_000);
}

#[test]
fn a_downstream_consumer_sees_every_batch_once_across_a_host_restart() {
    let backend = Backend::redis();
    let Backend::Redis { url, prefix } = &backend else {
        unreachable!()
    };
    let stream = format!("{prefix}:batches");
    let mut consumer = redis_connection(url);
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("downstream")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut consumer)
        .unwrap();

    let root = tempfile::tempdir().unwrap();
    let mut server = Server::start_on(&backend, root.path(), FAST);
    let (bucket, sync, _) = setup_sync(
        &server,
        "synthetic",
        json!({ "count": 100_000 }),
        unlimited(),
    );
    let job_id = start_job(&server, &bucket, &sync);
    wait_progress(&server, &job_id, 30_000);
    server.restart();
    let job = server.wait_job(&job_id);
    assert_eq!(job["status"], "COMPLETED", "{job}\n{}", server.log());

    // Read the group as a consumer would.
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("downstream")
        .arg("reader-1")
        .arg("COUNT")
        .arg(100_000)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut consumer)
        .unwrap();
    let mut batch_ids = BTreeSet::new();
    let mut object_ids = BTreeSet::new();
    for entry in reply.keys.iter().flat_map(|k| &k.ids) {
        let field = |name: &str| -> String {
            redis::from_redis_value(entry.map.get(name).unwrap_or_else(|| panic!("no {name}")))
                .unwrap()
        };
        assert!(batch_ids.insert(field("batch_id")), "batch announced twice");
        assert_eq!(field("bucket_id"), bucket);
        let ids: Vec<String> = serde_json::from_str(&field("object_ids")).unwrap();
        assert_eq!(field("object_count"), ids.len().to_string());
        for id in ids {
            assert!(object_ids.insert(id), "object announced in two batches");
        }
    }
    assert_eq!(object_ids.len(), 100_000);
    assert_eq!(object_ids, batched_objects(&server, &bucket));
    assert_exact(&server, &bucket, 100_000);
}
