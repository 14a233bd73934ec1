//! The connector contract as the rest of the host sees it: plain Rust types,
//! independent of which WIT version a plugin was built against.
//!
//! Each binding module in `bindings/` converts its generated types to and from
//! these, so the pipeline never touches generated code.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// What a plugin says about itself; read once at load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub version: String,
    /// JSON Schema of the connection's `provider_config`.
    pub config_schema: serde_json::Value,
    pub allowed_hosts: Vec<String>,
    pub capabilities: Vec<Capability>,
}

/// Sandbox capabilities beyond outbound HTTP.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Read-only access to the connection's `root` folder.
    ReadLocalFiles,
}

/// File filters, combined with AND; empty means no constraint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Filters {
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub extensions: Vec<String>,
    pub min_size_bytes: Option<u64>,
    pub max_size_bytes: Option<u64>,
    pub modified_after: Option<Timestamp>,
    pub modified_before: Option<Timestamp>,
    pub mime_types: Vec<String>,
}

/// One listing's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    /// The connection's provider config, secrets decrypted.
    pub config: serde_json::Value,
    pub source_path: String,
    pub filters: Filters,
    pub modified_since: Option<Timestamp>,
    pub resume_cursor: Option<String>,
    pub page_size_hint: u32,
}

/// One file found by a listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub key: String,
    pub uri: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<Timestamp>,
    pub content_type: Option<String>,
    pub metadata: Vec<(String, String)>,
}

/// A per-file problem reported inside a page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileFailure {
    pub key: String,
    pub uri: String,
    pub error: ConnectorError,
}

/// What the filters dropped, by the first filter that rejected a file.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FilteredCounts {
    pub by_pattern: u64,
    pub by_extension: u64,
    pub by_size: u64,
    pub by_modified: u64,
    pub by_mime_type: u64,
}

impl FilteredCounts {
    pub fn total(&self) -> u64 {
        self.by_pattern + self.by_extension + self.by_size + self.by_modified + self.by_mime_type
    }

    pub fn add(&mut self, other: &FilteredCounts) {
        self.by_pattern += other.by_pattern;
        self.by_extension += other.by_extension;
        self.by_size += other.by_size;
        self.by_modified += other.by_modified;
        self.by_mime_type += other.by_mime_type;
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub entries: Vec<FileEntry>,
    pub failures: Vec<FileFailure>,
    /// Where to resume after this page; `None` on the last page.
    pub cursor: Option<String>,
    pub filtered: FilteredCounts,
}

/// An error the connector itself reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConnectorError {
    #[error("invalid provider config: {message}")]
    InvalidConfig { message: String },
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("throttled by the provider: {message}")]
    Throttled {
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("transient provider error: {message}")]
    Transient { message: String },
    #[error("{message}")]
    Fatal { message: String },
}

impl ConnectorError {
    /// Whether trying the same thing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient { .. })
    }

    /// Stable machine-readable name, as used in API error payloads.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::Throttled { .. } => "throttled",
            Self::Transient { .. } => "transient",
            Self::Fatal { .. } => "fatal",
        }
    }
}
