//! Cloud storage emulators for the connector tests: each module starts one
//! real emulator (installed by `scripts/install/`), on a free loopback port,
//! with a private data folder, and stops it when dropped. They all answer the
//! same [`Provider`] questions, so one scenario suite runs against each.

pub mod azure_blob;
pub mod gcs;
pub mod s3;

pub use crate::{tool, tools_dir};

/// The bucket (or container) every emulator here holds, unless its
/// provider overrides [`Provider::source_path`].
pub const TEST_BUCKET: &str = "tributary-test";

/// One object as the emulator itself reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    pub key: String,
    pub size: u64,
    /// As the provider's listing gives it, surrounding quotes stripped.
    pub etag: String,
}

/// A running emulator holding one bucket (or container) for a test.
pub trait Provider {
    /// The plugin's provider id (`s3`, `gcs`, `azure_blob`).
    fn provider_type(&self) -> &'static str;
    /// A `provider_config` for a connection that can list the bucket, with
    /// `endpoint_url` pointing at `endpoint` (the emulator itself, or a proxy
    /// in front of it).
    fn connection_config(&self, endpoint: &str) -> serde_json::Value;
    /// The same with a wrong secret; the secret is returned too, so tests can
    /// check it never shows up in responses.
    fn wrong_credentials_config(&self, endpoint: &str) -> (serde_json::Value, String);
    /// The sync `source_path` that lists the whole test bucket (or
    /// container).
    fn source_path(&self) -> String {
        TEST_BUCKET.to_string()
    }
    /// The emulator's own address, e.g. `http://127.0.0.1:4567`.
    fn endpoint(&self) -> String;
    /// Uploads (or overwrites) objects.
    fn put_objects(&self, objects: &[(String, Vec<u8>)]);
    fn delete_objects(&self, keys: &[String]);
    /// Every object of the bucket, as the emulator lists it.
    fn list(&self) -> Vec<RemoteObject>;
}

/// Threads that seed or clean an emulator at once.
const SEED_THREADS: usize = 32;

/// Runs `work` on every item from [`SEED_THREADS`] threads (seeding thousands
/// of objects one request at a time is the slow part of these tests).
pub(crate) fn in_parallel<T: Sync>(items: &[T], work: impl Fn(&T) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..SEED_THREADS.min(items.len()) {
            scope.spawn(|| {
                while let Some(item) =
                    items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    work(item);
                }
            });
        }
    });
}

/// Everything but RFC 3986's unreserved `A-Z a-z 0-9 - . _ ~` (and `/` in
/// paths, with `keep_slash`) as `%XX`: what SigV4 signs and every provider's
/// paths and queries accept.
pub(crate) fn percent_encode(text: &str, keep_slash: bool) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            b'/' if keep_slash => "/".to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
