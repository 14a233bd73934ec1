//! The values a connector exchanges with the host, as plain Rust types.
//!
//! Each type mirrors a record of the `tributary:connector` contract; the SDK converts
//! them to and from the generated bindings, which authors never see.

use crate::error::ConnectorError;

/// A point in time: milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// Page size used when the host's `page_size_hint` is 0.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// What a connector says about itself. The host reads it once, when it loads the component.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderInfo {
    /// Stable provider id that connections name in `provider_type` (`s3`, `local`, …):
    /// lowercase ASCII letters, digits and `_`.
    pub id: String,
    /// Human-readable name, e.g. "Amazon S3".
    pub name: String,
    /// The connector's own version (semver); `env!("CARGO_PKG_VERSION")` is a good value.
    pub version: String,
    /// JSON Schema (draft 2020-12) of the connection's `provider_config`. Properties
    /// marked `"x-secret": true` are encrypted at rest and redacted by the API.
    pub config_schema: String,
    /// Hosts the connector may call over HTTP, e.g. `*.amazonaws.com` (`*.` matches any
    /// number of leading labels). The host also allows a connection's own `endpoint_url`.
    pub allowed_hosts: Vec<String>,
    /// Sandbox capabilities beyond outbound HTTP.
    pub capabilities: Vec<Capability>,
}

/// Extra sandbox capabilities a connector may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Read-only access to the directory named by the connection config's `root` field,
    /// mounted at `/` inside the sandbox.
    ReadLocalFiles,
}

/// File filters as the host sends them, all combined with AND. Empty lists and `None`
/// mean "no constraint". Compile them with [`FilterSet::new`](crate::filter::FilterSet::new).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    /// Globs a key must match (any of them).
    pub include_patterns: Vec<String>,
    /// Globs a key must not match (none of them).
    pub exclude_patterns: Vec<String>,
    /// File extensions without the dot, compared case-insensitively.
    pub extensions: Vec<String>,
    /// Smallest size accepted, inclusive.
    pub min_size_bytes: Option<u64>,
    /// Largest size accepted, inclusive.
    pub max_size_bytes: Option<u64>,
    /// Only files modified at or after this instant.
    pub modified_after: Option<Timestamp>,
    /// Only files modified at or before this instant.
    pub modified_before: Option<Timestamp>,
    /// Accepted MIME types; `type/*` matches a whole family.
    pub mime_types: Vec<String>,
}

/// Everything a connector needs to list one sync run's files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListRequest {
    /// The connection's `provider_config` as JSON, secrets decrypted. Parse it with
    /// [`parse_config`](crate::config::parse_config).
    pub config: String,
    /// Where to list, in the provider's own terms (`bucket/prefix/` for S3, a sub-path
    /// for `local`).
    pub source_path: String,
    /// Filters the connector applies before returning entries.
    pub filters: Filters,
    /// Incremental runs: only files modified at or after this instant.
    pub modified_since: Option<Timestamp>,
    /// Resume after the page whose `cursor` this is; `None` starts from the beginning.
    pub resume_cursor: Option<String>,
    /// How many entries the host would like per page (0: no preference).
    pub page_size_hint: u32,
}

impl ListRequest {
    /// The page size to use: the host's hint, or [`DEFAULT_PAGE_SIZE`] when it is 0.
    pub fn page_size(&self) -> usize {
        match self.page_size_hint {
            0 => DEFAULT_PAGE_SIZE,
            hint => hint as usize,
        }
    }
}

/// One file found by a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileEntry {
    /// Key relative to the bucket, container or root, with `/` separators.
    pub key: String,
    /// Provider URI of the file, e.g. `s3://bucket/photos/cat.jpg`.
    pub uri: String,
    /// Size in bytes.
    pub size: u64,
    /// The provider's entity tag without quotes, if it has one.
    pub etag: Option<String>,
    /// Last modification time.
    pub last_modified: Option<Timestamp>,
    /// MIME type, when the provider reports one or the extension tells
    /// (see [`mime_from_extension`](crate::filter::mime_from_extension)).
    pub content_type: Option<String>,
    /// User metadata attached to the file.
    pub metadata: Vec<(String, String)>,
}

/// A problem with one file that does not fail the whole page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// Key of the file, as in [`FileEntry::key`].
    pub key: String,
    /// Provider URI of the file.
    pub uri: String,
    /// What went wrong: `Transient` is retried by the host, others go to the
    /// dead-letter queue at once.
    pub error: ConnectorError,
}

/// How many files the filters dropped, by the first filter that rejected them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilteredCounts {
    /// Dropped by the include or exclude patterns.
    pub by_pattern: u64,
    /// Dropped by the extension list.
    pub by_extension: u64,
    /// Dropped by the size bounds.
    pub by_size: u64,
    /// Dropped by the modified window or the incremental watermark.
    pub by_modified: u64,
    /// Dropped by the MIME type list.
    pub by_mime_type: u64,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// Files that passed the filters.
    pub entries: Vec<FileEntry>,
    /// Files that could not be read or described.
    pub failures: Vec<FileFailure>,
    /// Opaque position to resume after this page; `None` on the last page.
    pub cursor: Option<String>,
    /// What the filters dropped on this page.
    pub filtered: FilteredCounts,
}
