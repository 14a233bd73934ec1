//! Misbehaving plugins fail with their own clear error within budget, and
//! the same host then serves the next call normally. Uses the real
//! `misbehaving` component (`just test-plugins` builds it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tributary::runtime::contract::{Filters, ListRequest};
use tributary::runtime::{Plugin, PluginError, Runtime, RuntimeConfig, SandboxLimits};

const BUDGET: Duration = Duration::from_secs(2);

async fn misbehaving() -> (Runtime, Plugin) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist-test/misbehaving.wasm");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `just test-plugins` first", path.display()));
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        limits: SandboxLimits {
            call_timeout: BUDGET,
            memory_bytes: 64 << 20,
            ..SandboxLimits::default()
        },
        local_roots: vec![],
    })
    .unwrap();
    let plugin = runtime.load(&bytes, Some(path)).await.unwrap();
    (runtime, plugin)
}

async fn validate(
    runtime: &Runtime,
    plugin: &Plugin,
    behavior: &str,
) -> (Result<String, PluginError>, Duration) {
    validate_with(runtime, plugin, serde_json::json!({ "behavior": behavior })).await
}

async fn validate_with(
    runtime: &Runtime,
    plugin: &Plugin,
    config: serde_json::Value,
) -> (Result<String, PluginError>, Duration) {
    let policy = runtime.policy_for(plugin, &config).unwrap();
    let started = Instant::now();
    let result = plugin.validate(&config, &policy).await;
    (result, started.elapsed())
}

async fn assert_still_serving(runtime: &Runtime, plugin: &Plugin) {
    let (result, _) = validate(runtime, plugin, "well_behaved").await;
    assert!(result.is_ok(), "the next call failed: {result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_plugin_is_stopped_at_its_budget() {
    let (runtime, plugin) = misbehaving().await;
    let (result, elapsed) = validate(&runtime, &plugin, "spin").await;
    let err = result.unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("time budget"), "{err}");
    assert!(
        elapsed >= BUDGET && elapsed < BUDGET + Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocating_plugin_hits_its_memory_cap() {
    let (runtime, plugin) = misbehaving().await;
    let (result, elapsed) = validate(&runtime, &plugin, "allocate").await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, PluginError::MemoryLimit { limit_mib: 64, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("memory limit of 64 MiB"), "{err}");
    assert!(elapsed < BUDGET, "{elapsed:?}");
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_an_undeclared_host_is_refused() {
    let (runtime, plugin) = misbehaving().await;
    let (result, elapsed) = validate(&runtime, &plugin, "forbidden_host").await;
    let err = result.unwrap_err();
    match &err {
        PluginError::HostNotAllowed { reason, .. } => {
            assert!(reason.contains("forbidden.example.net"), "{reason}");
            assert!(
                reason.contains("not among the plugin's allowed hosts"),
                "{reason}"
            );
        }
        other => panic!("expected HostNotAllowed, got {other:?}"),
    }
    assert!(elapsed < BUDGET, "{elapsed:?}");
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_name_that_resolves_to_loopback_is_never_connected() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (runtime, plugin) = misbehaving().await;
    let config = serde_json::json!({ "behavior": "loopback_by_name", "port": port });
    let (result, elapsed) = validate_with(&runtime, &plugin, config).await;
    match result.unwrap_err() {
        PluginError::HostNotAllowed { reason, .. } => {
            assert!(
                reason.contains("localhost resolves to the non-public address"),
                "{reason}"
            );
            assert!(reason.contains("endpoint_url"), "{reason}");
        }
        other => panic!("expected HostNotAllowed, got {other:?}"),
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the plugin reached the loopback listener"
    );
    assert!(elapsed < BUDGET, "{elapsed:?}");
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_plugin_is_reported_as_crashed() {
    let (runtime, plugin) = misbehaving().await;
    let (result, elapsed) = validate(&runtime, &plugin, "trap").await;
    let err = result.unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err:?}");
    assert!(err.to_string().contains("crashed"), "{err}");
    assert!(elapsed < BUDGET, "{elapsed:?}");
    assert_still_serving(&runtime, &plugin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_spins_fails_without_blocking_other_calls() {
    let (runtime, plugin) = misbehaving().await;
    let config = serde_json::json!({ "behavior": "spin" });
    let policy = runtime.policy_for(&plugin, &config).unwrap();
    let request = ListRequest {
        config: config.clone(),
        source_path: String::new(),
        filters: Filters::default(),
        modified_since: None,
        resume_cursor: None,
        page_size_hint: 100,
    };
    // While one instance spins, another call on the same runtime completes.
    let spinning = async {
        match plugin.open_listing(&request, &policy).await {
            Ok(mut listing) => listing.next_page().await.map(|_| ()),
            Err(e) => Err(e),
        }
    };
    let (spun, _) = tokio::join!(spinning, async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_still_serving(&runtime, &plugin).await;
    });
    assert!(matches!(spun, Err(PluginError::Timeout { .. })), "{spun:?}");
}
