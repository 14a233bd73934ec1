//! Everything Tributary keeps, behind one trait. `embedded` is the default
//! (one database file under the data folder); a Redis implementation serves
//! many hosts. The pipeline and the API only ever see [`Store`].
//!
//! Writes made by a sync run carry a [`Fence`] (the run's lock token); a
//! store refuses them with [`StoreError::Fenced`] once another run holds the
//! lock, so a run that lost its lock can never write.

pub mod embedded;
pub mod redis;
pub mod sealing;

use std::time::Duration;

use async_trait::async_trait;

use crate::model::{
    ApiKey, Batch, Bucket, Connection, DlqEntry, JobStatus, LockLease, Namespace, Object,
    SyncConfig, SyncJob,
};

/// What a failed store operation means to its caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name is taken (`what` names the field, e.g. "connection name").
    #[error("{what} {value:?} already exists")]
    AlreadyExists { what: &'static str, value: String },
    /// The write came from a run whose lock has been taken over.
    #[error("write refused: the sync lock of {sync_config_id} is no longer held by token {token}")]
    Fenced { sync_config_id: String, token: u64 },
    /// The backend failed (I/O, corruption, connection).
    #[error("store backend error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The lock token a run's writes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub sync_config_id: String,
    pub token: u64,
}

impl From<&LockLease> for Fence {
    fn from(lease: &LockLease) -> Self {
        Self {
            sync_config_id: lease.sync_config_id.clone(),
            token: lease.token,
        }
    }
}

/// Offset paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: 100,
        }
    }
}

/// One page of a list, with the total count of matching records.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// What an idempotent upsert did with one candidate object.
#[derive(Debug, Clone, PartialEq)]
pub enum UpsertOutcome {
    /// No object had this source: stored as given.
    Created(Object),
    /// An object had this source with another fingerprint: replaced, version + 1,
    /// same id and `created_at`.
    Updated(Object),
    /// An object had this source with the same fingerprint: left as it was
    /// (apart from being marked seen by this job). `batched` says whether it
    /// is in a batch: one that is not was written by a run that stopped
    /// before flushing it, and the run that finds it batches it.
    Unchanged { object_id: String, batched: bool },
}

/// An edit of a sync config, applied inside the store's atomic step. A store
/// may apply it more than once (to a fresher copy after a concurrent write),
/// so it must only depend on the config it is given.
pub type ConfigChange = Box<dyn Fn(&mut SyncConfig) + Send + Sync>;

/// An edit of a job, applied like a [`ConfigChange`].
pub type JobChange = Box<dyn Fn(&mut SyncJob) + Send + Sync>;

/// Filters of the objects list.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub sync_config_id: Option<String>,
    pub key_prefix: Option<String>,
}

/// Filters of the batches list.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    pub sync_config_id: Option<String>,
    pub sync_job_id: Option<String>,
}

/// Outcome of a lock attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum LockAttempt {
    Acquired(LockLease),
    /// Someone else holds it; their lease.
    HeldBy(LockLease),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Namespaces. Names are unique.
    async fn create_namespace(&self, namespace: &Namespace) -> StoreResult<()>;
    /// By id or by name.
    async fn get_namespace(&self, id_or_name: &str) -> StoreResult<Option<Namespace>>;
    async fn list_namespaces(&self) -> StoreResult<Vec<Namespace>>;
    async fn delete_namespace(&self, namespace_id: &str) -> StoreResult<bool>;

    // API keys, found by the hash of their secret.
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    async fn delete_api_key(&self, key_id: &str) -> StoreResult<bool>;

    // Connections (organisation-wide). Names are unique; configs are sealed at rest.
    async fn create_connection(&self, connection: &Connection) -> StoreResult<()>;
    /// By id or by name.
    async fn get_connection(&self, id_or_name: &str) -> StoreResult<Option<Connection>>;
    async fn list_connections(&self) -> StoreResult<Vec<Connection>>;
    async fn update_connection(&self, connection: &Connection) -> StoreResult<()>;
    async fn delete_connection(&self, connection_id: &str) -> StoreResult<bool>;

    // Buckets. Names are unique within a namespace.
    async fn create_bucket(&self, bucket: &Bucket) -> StoreResult<()>;
    async fn get_bucket(&self, bucket_id: &str) -> StoreResult<Option<Bucket>>;
    async fn list_buckets(&self, namespace_id: &str) -> StoreResult<Vec<Bucket>>;
    async fn update_bucket(&self, bucket: &Bucket) -> StoreResult<()>;
    /// Deletes the bucket with its sync configs, jobs, objects, batches and dead letters.
    async fn delete_bucket(&self, bucket_id: &str) -> StoreResult<bool>;

    // Sync configurations.
    async fn create_sync_config(&self, config: &SyncConfig) -> StoreResult<()>;
    async fn get_sync_config(&self, sync_config_id: &str) -> StoreResult<Option<SyncConfig>>;
    async fn list_sync_configs(&self, bucket_id: &str) -> StoreResult<Vec<SyncConfig>>;
    /// Every config of every bucket (the scheduler's view).
    async fn list_all_sync_configs(&self) -> StoreResult<Vec<SyncConfig>>;
    /// Overwrites the whole record. For read-modify-write use
    /// [`Store::modify_sync_config`], which cannot lose a concurrent change.
    async fn update_sync_config(&self, config: &SyncConfig) -> StoreResult<()>;
    /// Applies `change` to the stored config in one atomic step and returns
    /// the result; `None` if the config does not exist.
    async fn modify_sync_config(
        &self,
        sync_config_id: &str,
        change: ConfigChange,
    ) -> StoreResult<Option<SyncConfig>>;
    async fn delete_sync_config(&self, sync_config_id: &str) -> StoreResult<bool>;

    // Jobs.
    async fn create_job(&self, job: &SyncJob) -> StoreResult<()>;
    async fn get_job(&self, sync_job_id: &str) -> StoreResult<Option<SyncJob>>;
    /// Newest first.
    async fn list_jobs(
        &self,
        sync_config_id: &str,
        page: PageRequest,
    ) -> StoreResult<Paged<SyncJob>>;
    /// Jobs in any of these states, oldest first (recovery after a restart).
    async fn list_jobs_by_status(&self, statuses: &[JobStatus]) -> StoreResult<Vec<SyncJob>>;
    /// Writes the whole job. With a fence, refused if the fence is stale. A
    /// stored cancel request survives (a run's checkpoint cannot undo it).
    async fn update_job(&self, job: &SyncJob, fence: Option<&Fence>) -> StoreResult<()>;
    /// Applies `change` to the stored job in one atomic step and returns the
    /// result; `None` if the job does not exist.
    async fn modify_job(
        &self,
        sync_job_id: &str,
        change: JobChange,
    ) -> StoreResult<Option<SyncJob>>;

    // Objects. One call per page: the whole page is one atomic write.
    /// Upserts candidates keyed on (bucket, connection, source uri), comparing
    /// [`Object::fingerprint`]; with `skip_duplicates` false an unchanged
    /// object is rewritten as an update. Every candidate is marked seen by
    /// its `sync_job_id`.
    async fn upsert_objects(
        &self,
        fence: &Fence,
        candidates: Vec<Object>,
        skip_duplicates: bool,
    ) -> StoreResult<Vec<UpsertOutcome>>;
    async fn get_object(&self, bucket_id: &str, object_id: &str) -> StoreResult<Option<Object>>;
    /// In key order.
    async fn list_objects(
        &self,
        bucket_id: &str,
        filter: &ObjectFilter,
        page: PageRequest,
    ) -> StoreResult<Paged<Object>>;
    async fn delete_object(&self, bucket_id: &str, object_id: &str) -> StoreResult<bool>;
    /// Reconciliation: deletes the objects of a sync config that the job did
    /// not see. Returns how many were deleted.
    async fn delete_objects_not_seen_by(
        &self,
        fence: &Fence,
        sync_job_id: &str,
    ) -> StoreResult<u64>;

    // Batches. Creating them also sets `batch_id` on their objects; all
    // batches of one call are one atomic write.
    async fn create_batches(&self, fence: &Fence, batches: &[Batch]) -> StoreResult<()>;
    async fn get_batch(&self, bucket_id: &str, batch_id: &str) -> StoreResult<Option<Batch>>;
    /// Oldest first.
    async fn list_batches(
        &self,
        bucket_id: &str,
        filter: &BatchFilter,
        page: PageRequest,
    ) -> StoreResult<Paged<Batch>>;

    // Dead letters, unique per (sync config, key).
    /// Inserts or updates entries (an existing one keeps its id and
    /// `first_failed_at`).
    async fn put_dead_letters(&self, fence: &Fence, entries: Vec<DlqEntry>) -> StoreResult<()>;
    /// Removes the entries of these keys (they have since succeeded).
    async fn remove_dead_letters(&self, fence: &Fence, keys: &[String]) -> StoreResult<()>;
    /// Oldest first.
    async fn list_dead_letters(
        &self,
        sync_config_id: &str,
        page: PageRequest,
    ) -> StoreResult<Paged<DlqEntry>>;
    async fn delete_dead_letter(&self, sync_config_id: &str, entry_id: &str) -> StoreResult<bool>;

    // The per-config run lock, with fencing tokens that only grow.
    async fn try_lock(
        &self,
        sync_config_id: &str,
        job_id: &str,
        worker_id: &str,
        ttl: Duration,
    ) -> StoreResult<LockAttempt>;
    /// Extends a held lease; `false` if it is no longer held by this token.
    async fn renew_lock(&self, lease: &LockLease, ttl: Duration) -> StoreResult<bool>;
    /// Releases by compare-and-delete on the token; `false` if not held.
    async fn release_lock(&self, lease: &LockLease) -> StoreResult<bool>;
    /// Closes a run in one atomic step: writes the job's final record,
    /// applies `change` to its sync config (when that still exists) and
    /// releases `lease`. So whoever sees the job final also sees the config's
    /// totals and a free lock. Refused as [`StoreError::Fenced`], writing
    /// nothing, once `lease` is no longer the live one.
    async fn finish_run(
        &self,
        job: &SyncJob,
        lease: &LockLease,
        change: ConfigChange,
    ) -> StoreResult<()>;
    async fn current_lock(&self, sync_config_id: &str) -> StoreResult<Option<LockLease>>;
}
