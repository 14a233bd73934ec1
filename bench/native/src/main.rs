//! In-process measurements for `just bench` (bench/bench.py runs this):
//!
//! - `instantiate`: per-job plugin start on a warm cache, timed through the
//!   host's own runtime — `Plugin::open_listing` (a fresh store + instance
//!   from the pre-instantiated template, then the `open` call) and the first
//!   `next_page` of a 0-entry synthetic listing, as every sync job does.
//! - `s3-list`: the same bucket listed by the S3 WASM plugin through the
//!   host's runtime and by a native Rust client sending the same signed
//!   ListObjectsV2 requests (list-type=2, encoding-type=url, max-keys=1000,
//!   continuation tokens), one page after the other like the plugin;
//!   alternated twice, best of each.
//!
//! Each prints one JSON line on stdout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};
use tributary::runtime::contract::{Filters, ListRequest};
use tributary::runtime::{PluginRegistry, Runtime, RuntimeConfig};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn required(args: &[String], name: &str) -> anyhow::Result<String> {
    arg(args, name).with_context(|| format!("{name} is required"))
}

async fn registry(plugins_dir: &str) -> anyhow::Result<(Runtime, PluginRegistry, tempdir::Dir)> {
    let data = tempdir::Dir::new()?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(data.path.join("plugin-cache")),
        ..RuntimeConfig::default()
    })?;
    let registry = PluginRegistry::new();
    registry
        .load_dir(&runtime, PathBuf::from(plugins_dir).as_path())
        .await?;
    Ok((runtime, registry, data))
}

fn request(config: serde_json::Value, source_path: &str) -> ListRequest {
    ListRequest {
        config,
        source_path: source_path.into(),
        filters: Filters::default(),
        modified_since: None,
        resume_cursor: None,
        page_size_hint: 1000,
    }
}

async fn instantiate(args: &[String]) -> anyhow::Result<()> {
    let plugins_dir = required(args, "--plugins-dir")?;
    let iterations: usize = arg(args, "--iterations").map_or(Ok(1000), |s| s.parse())?;
    let (runtime, registry, _data) = registry(&plugins_dir).await?;
    let plugin = registry.get("synthetic").context("no synthetic plugin")?;
    let config = json!({"count": 0});
    let policy = runtime.policy_for(&plugin, &config)?;
    let req = request(config, "");
    let mut open_us = Vec::with_capacity(iterations);
    let mut first_page_us = Vec::with_capacity(iterations);
    for i in 0..iterations + 50 {
        let t0 = Instant::now();
        let mut listing = plugin.open_listing(&req, &policy).await?;
        let t1 = Instant::now();
        while listing.next_page().await?.is_some() {}
        drop(listing);
        let t2 = Instant::now();
        if i >= 50 {
            // the first 50 warm the allocator and the instance pool
            open_us.push((t1 - t0).as_secs_f64() * 1e6);
            first_page_us.push((t2 - t0).as_secs_f64() * 1e6);
        }
    }
    // Report medians of batches of 100 so the driver gets min/max over batches.
    let medians = |v: &[f64]| -> Vec<f64> {
        v.chunks(100)
            .map(|c| {
                let mut c = c.to_vec();
                c.sort_by(|a, b| a.partial_cmp(b).unwrap());
                c[c.len() / 2]
            })
            .collect()
    };
    println!(
        "{}",
        json!({"open_listing_us": medians(&open_us), "open_and_drain_us": medians(&first_page_us),
               "iterations": iterations})
    );
    Ok(())
}

async fn s3_list(args: &[String]) -> anyhow::Result<()> {
    let plugins_dir = required(args, "--plugins-dir")?;
    let endpoint = required(args, "--endpoint")?;
    let bucket = required(args, "--bucket")?;
    let access_key = required(args, "--access-key")?;
    let secret_key = required(args, "--secret-key")?;
    let expect: usize = required(args, "--expect")?.parse()?;
    let (runtime, registry, _data) = registry(&plugins_dir).await?;
    let plugin = registry.get("s3").context("no s3 plugin")?;
    let config = json!({
        "credentials": {"type": "access_key", "access_key_id": access_key, "secret_access_key": secret_key},
        "region": "us-east-1", "endpoint_url": endpoint,
    });
    let policy = runtime.policy_for(&plugin, &config)?;
    let req = request(config, &bucket);

    let native = NativeS3 {
        http: reqwest::Client::new(),
        endpoint: endpoint.trim_end_matches('/').to_string(),
        host: endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        access_key,
        secret_key,
    };
    // Alternated, best of two each: neither lister gets the emulator (a
    // node process with a JIT, for s3rver) colder than the other.
    let (mut wasm_s, mut native_s) = (f64::MAX, f64::MAX);
    for _ in 0..2 {
        let t0 = Instant::now();
        let mut listing = plugin.open_listing(&req, &policy).await?;
        let mut wasm_count = 0;
        while let Some(page) = listing.next_page().await? {
            wasm_count += page.entries.len();
        }
        wasm_s = wasm_s.min(t0.elapsed().as_secs_f64());
        if wasm_count != expect {
            bail!("the WASM plugin listed {wasm_count} of {expect}");
        }

        let t0 = Instant::now();
        let native_count = native.list_all(&bucket).await?;
        native_s = native_s.min(t0.elapsed().as_secs_f64());
        if native_count != expect {
            bail!("the native lister listed {native_count} of {expect}");
        }
    }
    println!(
        "{}",
        json!({"wasm_s": wasm_s, "native_s": native_s, "objects": expect})
    );
    Ok(())
}

struct NativeS3 {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    access_key: String,
    secret_key: String,
}

const REGION: &str = "us-east-1";
/// `tributary_sdk::http::MAX_IN_FLIGHT`, the plugin's window.
const HEADS_IN_FLIGHT: usize = 16;

impl NativeS3 {
    /// Every key of the bucket, page after page (what the plugin does), parsing
    /// each page's keys, sizes, etags and modification times.
    async fn list_all(&self, bucket: &str) -> anyhow::Result<usize> {
        let path = format!("/{}", encode(bucket, false));
        let mut token: Option<String> = None;
        let mut count = 0;
        loop {
            let mut query = vec![
                ("list-type", "2".to_string()),
                ("encoding-type", "url".to_string()),
                ("prefix", String::new()),
                ("max-keys", "1000".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("continuation-token", t.clone()));
            }
            let body = self.get(&path, &query).await?;
            let doc = roxmltree::Document::parse(&body)?;
            let root = doc.root_element();
            let text = |node: roxmltree::Node, name: &str| {
                node.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .map(str::to_string)
            };
            let mut heads = Vec::new();
            for contents in root.children().filter(|n| n.has_tag_name("Contents")) {
                let key = text(contents, "Key").context("no Key")?;
                let _size: u64 = text(contents, "Size")
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0);
                let etag = text(contents, "ETag");
                if etag.is_none() {
                    // What the plugin does when a store's listing leaves the ETag
                    // out (s3s-fs, for files it did not receive itself): one HEAD.
                    heads.push(format!("{path}/{}", encode(&decode(&key), true)));
                }
                let _modified = text(contents, "LastModified")
                    .and_then(|m| chrono::DateTime::parse_from_rfc3339(&m).ok());
                std::hint::black_box(key);
                count += 1;
            }
            // In flight together, as many at once as the plugin's SDK allows.
            futures::stream::iter(heads.iter().map(|path| self.head(path)))
                .buffered(HEADS_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await?;
            token = text(root, "NextContinuationToken");
            if text(root, "IsTruncated").as_deref() != Some("true") {
                return Ok(count);
            }
            if token.is_none() {
                bail!("truncated listing without a token");
            }
        }
    }

    async fn head(&self, path: &str) -> anyhow::Result<()> {
        self.send(reqwest::Method::HEAD, path, &[])
            .await
            .map(|_| ())
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
        self.send(reqwest::Method::GET, path, query).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<String> {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (encode(k, false), encode(v, false)))
            .collect();
        pairs.sort();
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let now = chrono::Utc::now();
        let date = now.format("%Y%m%d").to_string();
        let date_time = now.format("%Y%m%dT%H%M%SZ").to_string();
        let payload = hex::encode(Sha256::digest(b""));
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{}\nx-amz-content-sha256:{payload}\n\
             x-amz-date:{date_time}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}",
            self.host
        );
        let scope = format!("{date}/{REGION}/s3/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = format!("AWS4{}", self.secret_key).into_bytes();
        for part in [date.as_str(), REGION, "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        let url = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let response = self
            .http
            .request(method, url)
            .header("x-amz-content-sha256", payload)
            .header("x-amz-date", date_time)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature={signature}",
                    self.access_key
                ),
            )
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("{path} -> {status}: {body}");
        }
        Ok(body)
    }
}

/// Percent-decoding of a key listed with `encoding-type=url`.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4 URI encoding: unreserved characters kept, `/` kept when `keep_slash`.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

mod tempdir {
    use std::path::PathBuf;

    /// A private folder removed on drop.
    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new() -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!(
                "tributary-bench-native-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&path)?;
            Ok(Self { path })
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("instantiate") => instantiate(&args).await,
        Some("s3-list") => s3_list(&args).await,
        _ => bail!("usage: tributary-bench-native instantiate|s3-list [options]"),
    }
}
