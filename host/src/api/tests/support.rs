//! One API over a fresh store in a temporary folder, and helpers to call it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt as _;

use crate::api::{bootstrap, router};
use crate::app::{App, Settings};
use crate::jobs::JobQueue;
use crate::metrics::Metrics;
use crate::model::{new_id, now, Connection, ConnectionStatus, LockLease, Metadata};
use crate::runtime::{PluginRegistry, Runtime, RuntimeConfig, SandboxLimits};
use crate::store::embedded::EmbeddedStore;
use crate::store::sealing::Sealer;
use crate::store::{Fence, LockAttempt};

/// Where `just setup` puts the default plugins.
pub fn plugins_dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist")
}

pub struct Harness {
    pub app: App,
    router: Router,
    /// The bootstrap admin key.
    pub admin: String,
    /// A folder local connections may read.
    pub local_root: PathBuf,
    /// Holds the store, data and plugins folders until the test ends.
    _dir: TempDir,
}

/// A response, its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// Asserts the error envelope, its status, type and (if given) code.
    pub fn assert_error(&self, status: u16, kind: &str, code: Option<&str>) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code, "{body}");
        }
        body
    }

    /// Asserts a 422 whose first problem is at `loc` with `kind`.
    pub fn assert_invalid(&self, loc: Value, kind: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.text
        );
        let body = self.json();
        let detail = body["detail"]
            .as_array()
            .unwrap_or_else(|| panic!("no detail: {body}"));
        assert!(
            detail
                .iter()
                .any(|d| d["loc"] == loc && d["type"] == kind && d["msg"].is_string()),
            "expected {loc} / {kind} in {body}"
        );
    }

    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        self.json()
    }
}

impl Harness {
    /// No plugins installed.
    pub async fn new() -> Self {
        Self::build(false).await
    }

    /// With the local and synthetic plugins of `plugins/dist` installed.
    pub async fn with_plugins() -> Self {
        Self::build(true).await
    }

    async fn build(with_plugins: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let local_root = dir.path().join("files");
        std::fs::create_dir_all(&local_root).unwrap();
        let store = EmbeddedStore::open(
            &dir.path().join("db/tributary.redb"),
            Sealer::from_key(&[1; 32]),
        )
        .unwrap();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: None,
            limits: SandboxLimits {
                call_timeout: Duration::from_secs(20),
                memory_bytes: 64 << 20,
                ..SandboxLimits::default()
            },
            local_roots: vec![local_root.clone()],
        })
        .unwrap();
        let plugins = PluginRegistry::new();
        if with_plugins {
            let dist = plugins_dist();
            assert!(
                dist.join("local.wasm").exists(),
                "{} is missing: run `just setup` first",
                dist.display()
            );
            // Only these two, whatever else `just setup` built.
            for name in ["local", "synthetic"] {
                plugins
                    .load_file(&runtime, &dist.join(format!("{name}.wasm")))
                    .await
                    .unwrap();
            }
        }
        let settings = Settings {
            plugins_dir: dir.path().join("plugins"),
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let app = App {
            store: Arc::new(store),
            runtime: Arc::new(runtime),
            plugins: Arc::new(plugins),
            jobs: JobQueue::default(),
            metrics: Arc::new(Metrics::new()),
            settings: Arc::new(settings),
        };
        let admin = bootstrap(&app, None)
            .await
            .unwrap()
            .expect("first start creates a key");
        Self {
            router: router(app.clone()),
            app,
            admin,
            local_root,
            _dir: dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A request with an optional key and a raw body.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = request
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, uri, key, body).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, Some(&self.admin), None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(&self.admin), Some(body))
            .await
    }

    pub async fn patch(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::PATCH, uri, Some(&self.admin), Some(body))
            .await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, Some(&self.admin), None)
            .await
    }

    /// A key with these permissions (and namespaces), via the API.
    pub async fn key(&self, permissions: &[&str], namespaces: &[&str]) -> String {
        let reply = self
            .post(
                "/v1/api-keys",
                json!({ "name": "test key", "permissions": permissions, "namespace_ids": namespaces }),
            )
            .await;
        reply.ok()["key"].as_str().unwrap().to_string()
    }

    pub async fn bucket(&self, name: &str) -> String {
        let reply = self
            .post("/v1/buckets", json!({ "bucket_name": name }))
            .await;
        reply.ok()["bucket_id"].as_str().unwrap().to_string()
    }

    /// A connection written straight to the store (no plugin needed).
    pub async fn stored_connection(&self, name: &str, config: Value) -> String {
        let at = now();
        let connection = Connection {
            connection_id: new_id("conn"),
            name: name.to_string(),
            provider_type: "local".to_string(),
            provider_config: config,
            description: None,
            metadata: Metadata::new(),
            status: ConnectionStatus::Active,
            is_active: true,
            last_used_at: None,
            last_error: None,
            consecutive_failures: 0,
            created_at: at,
            updated_at: at,
        };
        self.app.store.create_connection(&connection).await.unwrap();
        connection.connection_id
    }

    /// A bucket with one sync configuration; returns (bucket, config).
    pub async fn sync_config(&self, extra: Value) -> (String, String) {
        let bucket = self.bucket(&format!("bucket-{}", new_id("t"))).await;
        let root = self.local_root.display().to_string();
        let connection = self
            .stored_connection(&format!("conn-{}", new_id("t")), json!({ "root": root }))
            .await;
        let mut body = json!({ "connection_id": connection, "source_path": "" });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let reply = self
            .post(&format!("/v1/buckets/{bucket}/syncs"), body)
            .await;
        let config = reply.ok()["sync_config_id"].as_str().unwrap().to_string();
        (bucket, config)
    }

    /// Takes the config's run lock, as a worker would, for seeding records.
    pub async fn fence(&self, sync_config_id: &str, job_id: &str) -> (LockLease, Fence) {
        match self
            .app
            .store
            .try_lock(
                sync_config_id,
                job_id,
                "test-worker",
                Duration::from_secs(60),
            )
            .await
            .unwrap()
        {
            LockAttempt::Acquired(lease) => {
                let fence = Fence::from(&lease);
                (lease, fence)
            }
            LockAttempt::HeldBy(lease) => panic!("lock held by {lease:?}"),
        }
    }
}
