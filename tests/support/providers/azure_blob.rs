//! Azurite, the Azure Storage emulator, for the connector tests: its Blob
//! service on a free loopback port over a private folder, holding one
//! container ([`TEST_BUCKET`]), killed when dropped.
//!
//! Blobs are written, deleted and listed through the real Blob REST API as
//! the emulator's development account, with a Shared Key signer of its own
//! here, independent of the plugin's. Writes go out on 32 threads: 3,000
//! uploads take about 10 s (Azurite is the bottleneck).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::blocking::RequestBuilder;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{in_parallel, percent_encode, tool, Provider, RemoteObject, TEST_BUCKET};

/// Azurite's built-in development account and its well-known (public) key.
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const API_VERSION: &str = "2023-11-03";
/// A running Azurite Blob service with one empty container; stopped when dropped.
pub struct Azurite {
    child: Child,
    port: u16,
    folder: tempfile::TempDir,
    key: Vec<u8>,
    http: reqwest::blocking::Client,
}

impl Azurite {
    /// Starts Azurite and creates the container, waiting until Azurite
    /// accepts a signed request.
    pub fn start() -> Azurite {
        let folder = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(folder.path().join("azurite.log")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(tool("azurite-blob"))
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(folder.path().join("data"))
            .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start azurite-blob");
        let azurite = Azurite {
            child,
            port,
            key: STANDARD
                .decode(ACCOUNT_KEY)
                .expect("the development key is base64"),
            folder,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let container = format!("/{TEST_BUCKET}");
        loop {
            let created = azurite
                .request(Method::PUT, &container, &[("restype", "container")], &[])
                .body(Vec::new())
                .send();
            match created {
                Ok(response) if response.status().as_u16() == 201 => break,
                Ok(response) => panic!(
                    "Azurite refused to create the container: {} {}",
                    response.status(),
                    response.text().unwrap_or_default()
                ),
                Err(_) => {
                    assert!(
                        Instant::now() < deadline,
                        "Azurite did not start:\n{}",
                        std::fs::read_to_string(azurite.folder.path().join("azurite.log"))
                            .unwrap_or_default()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        azurite
    }

    /// A request signed with Shared Key as the development account. `path`
    /// is below the account (`/container/blob`), already percent-encoded;
    /// `query` is not. Content-Type is never sent; Content-Length is signed
    /// from `body_len` (reqwest sets the header from the body).
    fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        extra_headers: &[(&str, &str)],
    ) -> RequestBuilder {
        self.signed(method, path, query, extra_headers, 0)
    }

    fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        extra_headers: &[(&str, &str)],
        body_len: usize,
    ) -> RequestBuilder {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut ms_headers: Vec<(String, String)> = vec![
            ("x-ms-date".into(), date),
            ("x-ms-version".into(), API_VERSION.into()),
        ];
        ms_headers.extend(
            extra_headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string())),
        );
        ms_headers.sort();
        let length = if body_len == 0 {
            String::new()
        } else {
            body_len.to_string()
        };
        // Verb, then Content-Encoding, -Language, -Length, -MD5, -Type, Date,
        // If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range.
        let mut to_sign = format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n");
        for (name, value) in &ms_headers {
            to_sign.push_str(&format!("{name}:{value}\n"));
        }
        // Path-style URL: the account is both the signer and the path's first segment.
        to_sign.push_str(&format!("/{ACCOUNT}/{ACCOUNT}{path}"));
        let mut sorted: Vec<&(&str, &str)> = query.iter().collect();
        sorted.sort();
        for (name, value) in sorted {
            to_sign.push_str(&format!("\n{name}:{value}"));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());

        let mut url = format!("{}/{ACCOUNT}{path}", self.endpoint());
        for (index, (name, value)) in query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(&format!("{name}={}", percent_encode(value, false)));
        }
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"));
        for (name, value) in ms_headers {
            request = request.header(name, value);
        }
        request
    }

    fn blob_path(key: &str) -> String {
        format!("/{TEST_BUCKET}/{}", percent_encode(key, true))
    }

    /// Sends `request`, failing the test with Azurite's answer unless it is
    /// `expected`; connection hiccups are retried a few times.
    fn expect(&self, what: &str, expected: u16, request: impl Fn() -> RequestBuilder) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match request().send() {
                Ok(response) if response.status().as_u16() == expected => return,
                Ok(response) => panic!(
                    "{what} → {}: {}",
                    response.status(),
                    response.text().unwrap_or_default()
                ),
                Err(error) if attempts < 3 => {
                    eprintln!("{what}: {error}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => panic!("{what}: {error}"),
            }
        }
    }
}

impl Provider for Azurite {
    fn provider_type(&self) -> &'static str {
        "azure_blob"
    }

    fn connection_config(&self, endpoint: &str) -> Value {
        config(endpoint, ACCOUNT_KEY)
    }

    fn wrong_credentials_config(&self, endpoint: &str) -> (Value, String) {
        // A well-formed key of the right length that is not the account's.
        let wrong = STANDARD.encode(format!("wrong-key-{:0>54}", std::process::id()).as_bytes());
        (config(endpoint, &wrong), wrong)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn put_objects(&self, objects: &[(String, Vec<u8>)]) {
        in_parallel(objects, |(key, contents)| {
            let path = Self::blob_path(key);
            self.expect(&format!("uploading {key:?}"), 201, || {
                self.signed(
                    Method::PUT,
                    &path,
                    &[],
                    &[("x-ms-blob-type", "BlockBlob")],
                    contents.len(),
                )
                .body(contents.clone())
            });
        });
    }

    fn delete_objects(&self, keys: &[String]) {
        in_parallel(keys, |key| {
            let path = Self::blob_path(key);
            self.expect(&format!("deleting {key:?}"), 202, || {
                self.request(Method::DELETE, &path, &[], &[])
            });
        });
    }

    fn list(&self) -> Vec<RemoteObject> {
        let container = format!("/{TEST_BUCKET}");
        let mut marker: Option<String> = None;
        let mut listed = Vec::new();
        loop {
            let mut query = vec![("restype", "container"), ("comp", "list")];
            if let Some(marker) = &marker {
                query.push(("marker", marker));
            }
            let response = self
                .request(Method::GET, &container, &query, &[])
                .send()
                .unwrap();
            let status = response.status();
            let body = response.text().unwrap();
            assert!(status.is_success(), "List Blobs → {status}: {body}");
            let document = roxmltree::Document::parse(&body).unwrap();
            let root = document.root_element();
            let child_text = |node: roxmltree::Node, name: &str| {
                node.children()
                    .find(|child| child.has_tag_name(name))
                    .map(|child| child.text().unwrap_or_default().to_string())
            };
            let blobs = root.children().filter(|n| n.has_tag_name("Blobs"));
            for blob in blobs.flat_map(|b| b.children().filter(|n| n.has_tag_name("Blob"))) {
                let properties = blob
                    .children()
                    .find(|n| n.has_tag_name("Properties"))
                    .unwrap();
                listed.push(RemoteObject {
                    key: child_text(blob, "Name").unwrap(),
                    size: child_text(properties, "Content-Length")
                        .unwrap()
                        .parse()
                        .unwrap(),
                    etag: child_text(properties, "Etag")
                        .unwrap()
                        .trim_matches('"')
                        .to_string(),
                });
            }
            marker = child_text(root, "NextMarker").filter(|marker| !marker.is_empty());
            if marker.is_none() {
                return listed;
            }
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plugin's config for the development account behind `endpoint`
/// (Azurite's path-style account URL). The container comes from the source
/// path, [`TEST_BUCKET`].
fn config(endpoint: &str, key: &str) -> Value {
    json!({
        "account_name": ACCOUNT,
        "account_key": key,
        "endpoint_url": format!("{}/{ACCOUNT}", endpoint.trim_end_matches('/')),
    })
}
