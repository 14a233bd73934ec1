//! fake-gcs-server (the Cloud Storage JSON API, in memory) on a free
//! loopback port with one bucket ([`TEST_BUCKET`]), behind a
//! [`TokenServer`] that issues access tokens for a test service account and
//! forwards only requests that carry one (fake-gcs-server itself ignores
//! credentials). Connections use the service-account flow against that
//! front, whose address is both `endpoint_url` and `token_uri` (the plugin
//! sandbox lets a connection reach loopback only at its own endpoint);
//! seeding and reading back talk to the emulator directly.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{in_parallel, percent_encode, tool, Provider, RemoteObject, TEST_BUCKET};
use crate::oauth::{TestServiceAccount, TokenServer};

/// A running fake-gcs-server with its token endpoint front; both stopped
/// when dropped.
pub struct FakeGcs {
    child: Child,
    /// fake-gcs-server's own URL (no authentication).
    emulator: String,
    front: TokenServer,
    log: tempfile::NamedTempFile,
    http: reqwest::blocking::Client,
}

impl FakeGcs {
    /// Starts fake-gcs-server and its front, and creates the test bucket.
    pub fn start() -> FakeGcs {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(tool("fake-gcs-server"))
            .args(["-scheme", "http", "-host", "127.0.0.1"])
            .args(["-port", &port.to_string(), "-backend", "memory"])
            .args(["-log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start fake-gcs-server");
        let emulator = format!("http://127.0.0.1:{port}");
        let front = TokenServer::start(TestServiceAccount::shared(), Some(&emulator));
        let gcs = FakeGcs {
            child,
            emulator,
            front,
            log,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while gcs
            .http
            .get(format!("{}/storage/v1/b", gcs.emulator))
            .send()
            .map_or(true, |response| !response.status().is_success())
        {
            assert!(
                Instant::now() < deadline,
                "fake-gcs-server did not start:\n{}",
                std::fs::read_to_string(gcs.log.path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let created = gcs
            .http
            .post(format!("{}/storage/v1/b", gcs.emulator))
            .json(&json!({ "name": TEST_BUCKET }))
            .send()
            .unwrap();
        assert!(
            created.status().is_success(),
            "create the bucket: {created:?}"
        );
        gcs
    }

    /// The token endpoint in front of the emulator: how many tokens it
    /// issued, what it refused.
    pub fn token_server(&self) -> &TokenServer {
        &self.front
    }

    /// A connection config for `account`'s key, its `token_uri` at
    /// `endpoint` (where the front, or a proxy to it, answers).
    pub fn config_for(&self, account: &TestServiceAccount, endpoint: &str) -> Value {
        let endpoint = endpoint.trim_end_matches('/');
        json!({
            "endpoint_url": endpoint,
            "bucket": TEST_BUCKET,
            "credentials": account.key_file(&format!("{endpoint}/token")),
        })
    }

    fn object_url(&self, key: &str) -> String {
        format!(
            "{}/storage/v1/b/{TEST_BUCKET}/o/{}",
            self.emulator,
            percent_encode(key, false)
        )
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider for FakeGcs {
    fn provider_type(&self) -> &'static str {
        "gcs"
    }

    fn connection_config(&self, endpoint: &str) -> Value {
        self.config_for(TestServiceAccount::shared(), endpoint)
    }

    fn wrong_credentials_config(&self, endpoint: &str) -> (Value, String) {
        let impostor = TestServiceAccount::impostor();
        (
            self.config_for(impostor, endpoint),
            impostor.private_key_fragment(),
        )
    }

    /// The front: token endpoint and (authenticated) emulator at one address.
    fn endpoint(&self) -> String {
        self.front.url()
    }

    fn put_objects(&self, objects: &[(String, Vec<u8>)]) {
        in_parallel(objects, |(key, contents)| {
            let response = self
                .http
                .post(format!(
                    "{}/upload/storage/v1/b/{TEST_BUCKET}/o?uploadType=media&name={}",
                    self.emulator,
                    percent_encode(key, false)
                ))
                .header("content-type", "application/octet-stream")
                .body(contents.clone())
                .send()
                .unwrap();
            assert!(
                response.status().is_success(),
                "upload {key:?}: {response:?}"
            );
        });
    }

    fn delete_objects(&self, keys: &[String]) {
        in_parallel(keys, |key| {
            let response = self.http.delete(self.object_url(key)).send().unwrap();
            assert!(
                response.status().is_success(),
                "delete {key:?}: {response:?}"
            );
        });
    }

    fn list(&self) -> Vec<RemoteObject> {
        let mut objects = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/storage/v1/b/{TEST_BUCKET}/o?maxResults=1000",
                self.emulator
            );
            if let Some(token) = &page_token {
                url.push_str(&format!("&pageToken={}", percent_encode(token, false)));
            }
            let page: Value = self.http.get(url).send().unwrap().json().unwrap();
            for item in page["items"].as_array().into_iter().flatten() {
                objects.push(RemoteObject {
                    key: item["name"].as_str().unwrap().to_string(),
                    size: item["size"].as_str().unwrap().parse().unwrap(),
                    etag: item["etag"].as_str().unwrap().to_string(),
                });
            }
            match page["nextPageToken"].as_str() {
                Some(token) if !token.is_empty() => page_token = Some(token.to_string()),
                _ => return objects,
            }
        }
    }
}
