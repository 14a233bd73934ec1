//! The records Tributary keeps: namespaces, keys, connections, buckets, sync
//! configurations, jobs, objects, batches, dead letters and locks. Shared by
//! the API (as response bodies), the jobs and pipeline (as state) and the
//! stores (as what they persist). No I/O here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::runtime::contract::Filters;

pub type Timestamp = DateTime<Utc>;

/// A new id with its type prefix, e.g. `job_01j…`. Ids sort by creation
/// time, and the ids one process makes in the same millisecond sort in the
/// order they were made (a monotonic ULID), so "newest first" lists, which
/// order by id, are exact for two jobs triggered in one millisecond.
pub fn new_id(prefix: &str) -> String {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let ulid = GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .generate()
        // Only after 2^80 ids in one millisecond.
        .unwrap_or_else(|_| ulid::Ulid::new());
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

pub fn now() -> Timestamp {
    Utc::now()
}

/// Arbitrary user metadata.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Namespace {
    pub namespace_id: String,
    pub namespace_name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Write,
    Admin,
}

/// An API key; only the SHA-256 of its secret is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    pub key_id: String,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub key_hash: String,
    /// Namespaces the key may use; empty means every namespace.
    pub namespace_ids: Vec<String>,
    pub permissions: Vec<Permission>,
    pub created_at: DateTime<Utc>,
}

impl ApiKey {
    pub fn allows(&self, needed: Permission) -> bool {
        self.permissions.contains(&Permission::Admin)
            || self.permissions.contains(&needed)
            || (needed == Permission::Read && self.permissions.contains(&Permission::Write))
    }

    pub fn may_use_namespace(&self, namespace_id: &str) -> bool {
        self.namespace_ids.is_empty() || self.namespace_ids.iter().any(|n| n == namespace_id)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionStatus {
    Active,
    Suspended,
    Failed,
    Archived,
}

/// A storage connection. `provider_config` holds secrets in clear in memory;
/// stores encrypt it at rest and the API redacts it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Connection {
    pub connection_id: String,
    pub name: String,
    pub provider_type: String,
    pub provider_config: serde_json::Value,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub status: ConnectionStatus,
    pub is_active: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Bucket {
    pub bucket_id: String,
    pub namespace_id: String,
    pub bucket_name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    #[default]
    Continuous,
    InitialOnly,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncConfigStatus {
    Active,
    Paused,
    Error,
}

/// Running totals over every run of a sync configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SyncTotals {
    pub total_files_discovered: u64,
    pub total_files_synced: u64,
    pub total_files_failed: u64,
    pub total_bytes_synced: u64,
    pub batches_created: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SyncConfig {
    pub sync_config_id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub connection_id: String,
    pub source_path: String,
    pub sync_mode: SyncMode,
    pub file_filters: Filters,
    pub polling_interval_seconds: u32,
    pub batch_chunk_size: u32,
    pub skip_duplicates: bool,
    pub max_objects_per_run: u64,
    pub reconcile_on_sync: bool,
    pub metadata: Metadata,
    pub status: SyncConfigStatus,
    pub is_active: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub totals: SyncTotals,
    pub consecutive_failures: u32,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub current_sync_run_id: Option<String>,
    pub sync_run_counter: u64,
    /// Start of the last run that completed: the incremental watermark's base.
    pub last_run_started_at: Option<DateTime<Utc>>,
    /// Set once an `initial_only` config has had its run.
    pub initial_run_done: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    InProgress,
    Completed,
    CompletedWithErrors,
    Failed,
    Canceled,
    Skipped,
}

impl JobStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::InProgress)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
            Self::Skipped => "SKIPPED",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobTrigger {
    Manual,
    Schedule,
    Resume,
}

/// Counters of one sync run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct JobMetrics {
    pub files_discovered: u64,
    pub files_filtered_out: u64,
    pub objects_created: u64,
    pub objects_updated: u64,
    pub duplicates_skipped: u64,
    pub objects_deleted: u64,
    pub files_failed: u64,
    pub retries: u64,
    pub batches_created: u64,
    pub bytes_synced: u64,
    pub pages: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ErrorInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// Where an interrupted run resumes: the plugin cursor after the last fully
/// processed page, and the counters up to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub cursor: Option<String>,
    pub metrics: JobMetrics,
    /// Objects created or updated since the last flushed batch.
    pub pending_batch: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SyncJob {
    pub sync_job_id: String,
    pub sync_config_id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub status: JobStatus,
    pub full_sync: bool,
    pub trigger: JobTrigger,
    pub worker_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub metrics: JobMetrics,
    pub error: Option<ErrorInfo>,
    /// For `SKIPPED`: the job that held the lock.
    pub skipped_because_of_job_id: Option<String>,
    pub cancel_requested: bool,
    /// Files modified before this instant were skipped (incremental runs).
    pub modified_since: Option<DateTime<Utc>>,
    pub checkpoint: Option<Checkpoint>,
    /// Restrict the run to these keys (DLQ retries).
    pub only_keys: Option<Vec<String>>,
    /// The `FAILED` job whose checkpoint this job continues from.
    #[serde(default)]
    pub resumed_from_job_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlobType {
    Image,
    Video,
    Audio,
    Text,
    Pdf,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BlobDetails {
    pub filename: String,
    pub size_bytes: u64,
    pub mime_type: Option<String>,
    pub hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Blob {
    pub property: String,
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    pub url: String,
    pub details: BlobDetails,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ObjectSource {
    pub provider_type: String,
    pub connection_id: String,
    pub sync_config_id: String,
    pub uri: String,
    pub etag: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Object {
    pub object_id: String,
    pub bucket_id: String,
    pub key: String,
    pub blobs: Vec<Blob>,
    pub source: ObjectSource,
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    pub version: u64,
    pub sync_job_id: String,
    pub batch_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last job whose listing included this object (reconciliation).
    #[serde(default, skip_serializing)]
    pub last_seen_job_id: String,
}

impl Object {
    /// The change marker compared on re-sync: the etag, else size + mtime.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            self.source.etag.as_deref(),
            self.blobs.first().map_or(0, |b| b.details.size_bytes),
            self.source.last_modified,
        )
    }
}

/// Etag when there is one, else size and modification time.
pub fn fingerprint(etag: Option<&str>, size: u64, modified: Option<Timestamp>) -> String {
    match etag {
        Some(etag) => format!("etag:{etag}"),
        None => format!(
            "size:{size}:mtime:{}",
            modified.map_or(0, |m| m.timestamp_millis())
        ),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Batch {
    pub batch_id: String,
    pub bucket_id: String,
    pub sync_config_id: String,
    pub sync_job_id: String,
    pub object_ids: Vec<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DlqEntry {
    pub entry_id: String,
    pub bucket_id: String,
    pub sync_config_id: String,
    pub uri: String,
    pub key: String,
    pub error: ErrorInfo,
    pub attempts: u32,
    pub sync_job_id: String,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

/// A held sync-config lock. `token` is a fencing token: it only grows, and
/// every write of a run carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockLease {
    pub sync_config_id: String,
    pub job_id: String,
    pub worker_id: String,
    pub token: u64,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_made_in_one_millisecond_sort_in_the_order_they_were_made() {
        // Thousands of ids share a millisecond; each must still sort after
        // the one before, or newest-first lists would shuffle them.
        let ids: Vec<String> = (0..10_000).map(|_| new_id("job")).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
    }
}
