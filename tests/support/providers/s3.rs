//! s3s-fs, the S3 emulator that checks SigV4 signatures, on a free loopback
//! port over a private folder that holds one bucket ([`TEST_BUCKET`]).
//!
//! s3s-fs stores an object as the plain file `<dir>/<bucket>/<key>` and,
//! for an object it did not receive itself, takes the MD5 of the file as its
//! ETag (sidecar files only exist for objects PUT through its API), so
//! objects are seeded by writing files: thousands in milliseconds. What the
//! emulator reports is read back through its own API — signed ListObjectsV2
//! pages, plus a HEAD per object for the ETag its listings leave out — with
//! a SigV4 signer of its own here, independent of the plugin's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{percent_encode, tool, Provider, RemoteObject, TEST_BUCKET};

const ACCESS_KEY: &str = "tributary-e2e-key";
const SECRET_KEY: &str = "e2e-secret-3f9c1d7a";
const REGION: &str = "us-east-1";

/// A running s3s-fs with one empty bucket; stopped when dropped.
pub struct S3Emulator {
    child: Child,
    address: String,
    root: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl S3Emulator {
    /// Starts s3s-fs and waits until it answers a signed request.
    pub fn start() -> S3Emulator {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join(TEST_BUCKET)).unwrap();
        let log = std::fs::File::create(root.path().join("s3s-fs.log")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(tool("s3s-fs"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start s3s-fs");
        let emulator = S3Emulator {
            child,
            address: format!("127.0.0.1:{port}"),
            root,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match emulator.request("GET", "/", &[]).send() {
                Ok(response) if response.status().is_success() => break,
                Ok(response) => panic!("s3s-fs refused a signed request: {}", response.status()),
                Err(_) => {
                    assert!(
                        Instant::now() < deadline,
                        "s3s-fs did not start:\n{}",
                        std::fs::read_to_string(emulator.root.path().join("s3s-fs.log"))
                            .unwrap_or_default()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        emulator
    }

    fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join("data").join(TEST_BUCKET).join(key)
    }

    /// A request signed with the emulator's credentials; `path` is already
    /// URI-encoded, `query` is not.
    fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> reqwest::blocking::RequestBuilder {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(name, value)| (percent_encode(name, false), percent_encode(value, false)))
            .collect();
        pairs.sort();
        let query = pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let now = chrono::Utc::now();
        let date = now.format("%Y%m%d").to_string();
        let date_time = now.format("%Y%m%dT%H%M%SZ").to_string();
        let payload = hex(&Sha256::digest(b""));
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{}\nx-amz-content-sha256:{payload}\n\
             x-amz-date:{date_time}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}",
            self.address
        );
        let scope = format!("{date}/{REGION}/s3/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = format!("AWS4{SECRET_KEY}").into_bytes();
        for part in [date.as_str(), REGION, "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, to_sign.as_bytes()));
        let url = if query.is_empty() {
            format!("http://{}{path}", self.address)
        } else {
            format!("http://{}{path}?{query}", self.address)
        };
        self.http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("x-amz-content-sha256", payload)
            .header("x-amz-date", date_time)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope},\
                     SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature={signature}"
                ),
            )
    }

    /// Every key and size of the bucket, page by page.
    fn list_keys(&self) -> Vec<(String, u64)> {
        let path = format!("/{TEST_BUCKET}");
        let mut token: Option<String> = None;
        let mut listed = Vec::new();
        loop {
            let mut query = vec![("list-type", "2"), ("max-keys", "1000")];
            if let Some(token) = &token {
                query.push(("continuation-token", token));
            }
            let response = self.request("GET", &path, &query).send().unwrap();
            let status = response.status();
            let body = response.text().unwrap();
            assert!(status.is_success(), "ListObjectsV2 → {status}: {body}");
            let document = roxmltree::Document::parse(&body).unwrap();
            let root = document.root_element();
            let child_text = |node: roxmltree::Node, name: &str| {
                node.children()
                    .find(|child| child.has_tag_name(name))
                    .map(|child| child.text().unwrap_or_default().to_string())
            };
            for contents in root.children().filter(|n| n.has_tag_name("Contents")) {
                let key = child_text(contents, "Key").unwrap();
                let size = child_text(contents, "Size").unwrap().parse().unwrap();
                listed.push((key, size));
            }
            token = child_text(root, "NextContinuationToken");
            if child_text(root, "IsTruncated").as_deref() != Some("true") {
                return listed;
            }
            assert!(token.is_some(), "a truncated listing without a token");
        }
    }
}

impl Provider for S3Emulator {
    fn provider_type(&self) -> &'static str {
        "s3"
    }

    fn connection_config(&self, endpoint: &str) -> Value {
        config(endpoint, SECRET_KEY)
    }

    fn wrong_credentials_config(&self, endpoint: &str) -> (Value, String) {
        let wrong = format!("wrong-secret-{}", std::process::id());
        (config(endpoint, &wrong), wrong)
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn put_objects(&self, objects: &[(String, Vec<u8>)]) {
        for (key, contents) in objects {
            let path = self.object_path(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
    }

    fn delete_objects(&self, keys: &[String]) {
        for key in keys {
            std::fs::remove_file(self.object_path(key)).unwrap();
        }
    }

    fn list(&self) -> Vec<RemoteObject> {
        self.list_keys()
            .into_iter()
            .map(|(key, size)| {
                let path = format!("/{TEST_BUCKET}/{}", percent_encode(&key, true));
                let response = self.request("HEAD", &path, &[]).send().unwrap();
                assert!(
                    response.status().is_success(),
                    "HEAD {key:?} → {}",
                    response.status()
                );
                let etag = response.headers()["etag"].to_str().unwrap();
                RemoteObject {
                    etag: etag.trim_matches('"').to_string(),
                    key,
                    size,
                }
            })
            .collect()
    }
}

impl Drop for S3Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(endpoint: &str, secret: &str) -> Value {
    json!({
        "credentials": {
            "type": "access_key",
            "access_key_id": ACCESS_KEY,
            "secret_access_key": secret,
        },
        "region": REGION,
        "endpoint_url": endpoint,
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
