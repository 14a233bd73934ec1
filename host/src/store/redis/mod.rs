//! The distributed store: every record in one Redis, so any number of hosts
//! share catalog, jobs, objects, locks and batches.
//!
//! Reads are plain commands. Every write is one [`Change`]: a Lua script that
//! checks the run's fencing token and the values the write was computed from,
//! then applies all its commands, so multi-key steps (an idempotent page of
//! upserts, a batch with its objects and stream entry, a dead-letter move, a
//! job's state change) are atomic. Key names live in `keys`.

mod apply;
mod catalog;
mod keys;
mod objects;
mod runs;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Pool, Runtime};
use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use self::apply::backend;
use self::apply::{ApplyError, Change};
pub(crate) use self::keys::Keys;
use super::sealing::Sealer;
use super::{
    BatchFilter, ConfigChange, Fence, JobChange, LockAttempt, ObjectFilter, PageRequest, Paged,
    Store, StoreError, StoreResult, UpsertOutcome,
};
use crate::model::{
    ApiKey, Batch, Bucket, Connection, DlqEntry, JobStatus, LockLease, Namespace, Object,
    SyncConfig, SyncJob,
};

/// How a host reaches Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]` (or `rediss://` for TLS).
    pub url: String,
    /// Prefix of every key, so deployments can share one Redis.
    pub prefix: String,
    /// Stream every flushed batch is `XADD`ed to; `None`: `<prefix>:batches`.
    pub batch_stream: Option<String>,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl RedisSettings {
    pub fn new(url: &str, prefix: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            batch_stream: None,
            pool_size: 32,
        }
    }
}

/// [`Store`] on Redis.
pub struct RedisStore {
    pool: Pool,
    keys: Keys,
    sealer: Sealer,
    batch_stream: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects (and checks the connection with a `PING`).
    pub async fn connect(settings: &RedisSettings, sealer: Sealer) -> anyhow::Result<Self> {
        let mut config = deadpool_redis::Config::from_url(settings.url.clone());
        config.pool = Some(deadpool_redis::PoolConfig::new(settings.pool_size.max(1)));
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| anyhow::anyhow!("invalid Redis URL: {e}"))?;
        let keys = Keys::new(&settings.prefix);
        let store = Self {
            batch_stream: settings
                .batch_stream
                .clone()
                .unwrap_or_else(|| keys.default_batch_stream()),
            pool,
            keys,
            sealer,
        };
        let mut connection = store
            .connection()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?;
        Ok(store)
    }

    /// The stream flushed batches are announced on.
    pub fn batch_stream(&self) -> &str {
        &self.batch_stream
    }

    /// The pool, for the job queue and scheduler that share this Redis.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn connection(&self) -> StoreResult<deadpool_redis::Connection> {
        self.pool.get().await.map_err(backend)
    }

    /// Applies one change.
    async fn apply(&self, change: &Change) -> Result<(), ApplyError> {
        let mut connection = self.connection().await?;
        change.apply(&mut connection).await
    }

    async fn hget(&self, key: &str, field: &str) -> StoreResult<Option<String>> {
        let mut connection = self.connection().await?;
        connection.hget(key, field).await.map_err(backend)
    }

    /// Values of many fields of one hash, in order (`None` for missing ones).
    async fn hmget(&self, key: &str, fields: &[String]) -> StoreResult<Vec<Option<String>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection().await?;
        redis::cmd("HMGET")
            .arg(key)
            .arg(fields)
            .query_async(&mut connection)
            .await
            .map_err(backend)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
        field: &str,
    ) -> StoreResult<Option<T>> {
        self.hget(key, field)
            .await?
            .map(|text| from_json(&text))
            .transpose()
    }

    /// Every record of a hash, in field (id) order.
    async fn all_json<T: DeserializeOwned>(&self, key: &str) -> StoreResult<Vec<T>> {
        let mut connection = self.connection().await?;
        let mut entries: Vec<(String, String)> = connection.hgetall(key).await.map_err(backend)?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.iter().map(|(_, text)| from_json(text)).collect()
    }

    /// The connection as stored: its provider config replaced by the sealed text.
    fn seal(&self, connection: &Connection) -> StoreResult<Connection> {
        let plaintext = serde_json::to_vec(&connection.provider_config)
            .map_err(|e| StoreError::Backend(format!("seal the provider config: {e}")))?;
        let mut sealed = connection.clone();
        sealed.provider_config = serde_json::json!({ SEALED_FIELD: self.sealer.seal(&plaintext) });
        Ok(sealed)
    }

    fn unseal(&self, mut connection: Connection) -> StoreResult<Connection> {
        let sealed = connection
            .provider_config
            .get(SEALED_FIELD)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "connection {} has no sealed provider config",
                    connection.connection_id
                ))
            })?;
        let plaintext = self.sealer.open(sealed).map_err(|e| {
            StoreError::Backend(format!(
                "cannot open the provider config of connection {} (is TRIBUTARY_SECRET_KEY the same on every host?): {e}",
                connection.connection_id
            ))
        })?;
        connection.provider_config = serde_json::from_slice(&plaintext)
            .map_err(|e| StoreError::Backend(format!("sealed provider config: {e}")))?;
        Ok(connection)
    }
}

/// The field a stored connection's `provider_config` is replaced by.
const SEALED_FIELD: &str = "sealed";

/// A page bound as Redis takes it (a signed 64-bit count).
fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encode a record: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("decode a record: {e}")))
}

#[async_trait]
impl Store for RedisStore {
    async fn create_namespace(&self, namespace: &Namespace) -> StoreResult<()> {
        catalog::namespaces(self)
            .create(
                self,
                &namespace.namespace_id,
                &namespace.namespace_name,
                namespace,
            )
            .await
    }

    async fn get_namespace(&self, id_or_name: &str) -> StoreResult<Option<Namespace>> {
        catalog::namespaces(self).find(self, id_or_name).await
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<Namespace>> {
        self.all_json(&self.keys.namespaces()).await
    }

    async fn delete_namespace(&self, namespace_id: &str) -> StoreResult<bool> {
        catalog::namespaces(self)
            .delete(self, namespace_id, |n: &Namespace| n.namespace_name.clone())
            .await
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        catalog::api_keys(self)
            .create(self, &key.key_id, &key.key_hash, key)
            .await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        catalog::api_keys(self).by_name(self, key_hash).await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.all_json(&self.keys.api_keys()).await
    }

    async fn delete_api_key(&self, key_id: &str) -> StoreResult<bool> {
        catalog::api_keys(self)
            .delete(self, key_id, |k: &ApiKey| k.key_hash.clone())
            .await
    }

    async fn create_connection(&self, connection: &Connection) -> StoreResult<()> {
        let sealed = self.seal(connection)?;
        catalog::connections(self)
            .create(self, &sealed.connection_id, &sealed.name, &sealed)
            .await
    }

    async fn get_connection(&self, id_or_name: &str) -> StoreResult<Option<Connection>> {
        catalog::connections(self)
            .find(self, id_or_name)
            .await?
            .map(|c| self.unseal(c))
            .transpose()
    }

    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        self.all_json(&self.keys.connections())
            .await?
            .into_iter()
            .map(|c| self.unseal(c))
            .collect()
    }

    async fn update_connection(&self, connection: &Connection) -> StoreResult<()> {
        let sealed = self.seal(connection)?;
        catalog::connections(self)
            .put(
                self,
                &sealed.connection_id,
                &sealed.name,
                &sealed,
                |c: &Connection| c.name.clone(),
            )
            .await
    }

    async fn delete_connection(&self, connection_id: &str) -> StoreResult<bool> {
        catalog::connections(self)
            .delete(self, connection_id, |c: &Connection| c.name.clone())
            .await
    }

    async fn create_bucket(&self, bucket: &Bucket) -> StoreResult<()> {
        catalog::buckets(self, &bucket.namespace_id)
            .create(self, &bucket.bucket_id, &bucket.bucket_name, bucket)
            .await
    }

    async fn get_bucket(&self, bucket_id: &str) -> StoreResult<Option<Bucket>> {
        self.get_json(&self.keys.buckets(), bucket_id).await
    }

    async fn list_buckets(&self, namespace_id: &str) -> StoreResult<Vec<Bucket>> {
        catalog::list_buckets(self, namespace_id).await
    }

    async fn update_bucket(&self, bucket: &Bucket) -> StoreResult<()> {
        catalog::buckets(self, &bucket.namespace_id)
            .put(
                self,
                &bucket.bucket_id,
                &bucket.bucket_name,
                bucket,
                |b: &Bucket| b.bucket_name.clone(),
            )
            .await
    }

    async fn delete_bucket(&self, bucket_id: &str) -> StoreResult<bool> {
        catalog::delete_bucket(self, bucket_id).await
    }

    async fn create_sync_config(&self, config: &SyncConfig) -> StoreResult<()> {
        catalog::put_sync_config(self, config).await
    }

    async fn get_sync_config(&self, sync_config_id: &str) -> StoreResult<Option<SyncConfig>> {
        self.get_json(&self.keys.sync_configs(), sync_config_id)
            .await
    }

    async fn list_sync_configs(&self, bucket_id: &str) -> StoreResult<Vec<SyncConfig>> {
        catalog::list_sync_configs(self, bucket_id).await
    }

    async fn list_all_sync_configs(&self) -> StoreResult<Vec<SyncConfig>> {
        self.all_json(&self.keys.sync_configs()).await
    }

    async fn update_sync_config(&self, config: &SyncConfig) -> StoreResult<()> {
        catalog::put_sync_config(self, config).await
    }

    async fn modify_sync_config(
        &self,
        sync_config_id: &str,
        change: ConfigChange,
    ) -> StoreResult<Option<SyncConfig>> {
        catalog::modify_sync_config(self, sync_config_id, change).await
    }

    async fn delete_sync_config(&self, sync_config_id: &str) -> StoreResult<bool> {
        catalog::delete_sync_config(self, sync_config_id).await
    }

    async fn create_job(&self, job: &SyncJob) -> StoreResult<()> {
        runs::put_job(self, job, None).await
    }

    async fn get_job(&self, sync_job_id: &str) -> StoreResult<Option<SyncJob>> {
        self.get_json(&self.keys.jobs(), sync_job_id).await
    }

    async fn list_jobs(
        &self,
        sync_config_id: &str,
        page: PageRequest,
    ) -> StoreResult<Paged<SyncJob>> {
        runs::list_jobs(self, sync_config_id, page).await
    }

    async fn list_jobs_by_status(&self, statuses: &[JobStatus]) -> StoreResult<Vec<SyncJob>> {
        runs::list_jobs_by_status(self, statuses).await
    }

    async fn update_job(&self, job: &SyncJob, fence: Option<&Fence>) -> StoreResult<()> {
        runs::put_job(self, job, fence).await
    }

    async fn modify_job(
        &self,
        sync_job_id: &str,
        change: JobChange,
    ) -> StoreResult<Option<SyncJob>> {
        runs::modify_job(self, sync_job_id, change).await
    }

    async fn upsert_objects(
        &self,
        fence: &Fence,
        candidates: Vec<Object>,
        skip_duplicates: bool,
    ) -> StoreResult<Vec<UpsertOutcome>> {
        objects::upsert(self, fence, candidates, skip_duplicates).await
    }

    async fn get_object(&self, bucket_id: &str, object_id: &str) -> StoreResult<Option<Object>> {
        objects::get(self, bucket_id, object_id).await
    }

    async fn list_objects(
        &self,
        bucket_id: &str,
        filter: &ObjectFilter,
        page: PageRequest,
    ) -> StoreResult<Paged<Object>> {
        objects::list(self, bucket_id, filter, page).await
    }

    async fn delete_object(&self, bucket_id: &str, object_id: &str) -> StoreResult<bool> {
        objects::delete(self, bucket_id, object_id).await
    }

    async fn delete_objects_not_seen_by(
        &self,
        fence: &Fence,
        sync_job_id: &str,
    ) -> StoreResult<u64> {
        objects::delete_not_seen_by(self, fence, sync_job_id).await
    }

    async fn create_batches(&self, fence: &Fence, batches: &[Batch]) -> StoreResult<()> {
        objects::create_batches(self, fence, batches).await
    }

    async fn get_batch(&self, bucket_id: &str, batch_id: &str) -> StoreResult<Option<Batch>> {
        self.get_json(&self.keys.batches(bucket_id), batch_id).await
    }

    async fn list_batches(
        &self,
        bucket_id: &str,
        filter: &BatchFilter,
        page: PageRequest,
    ) -> StoreResult<Paged<Batch>> {
        objects::list_batches(self, bucket_id, filter, page).await
    }

    async fn put_dead_letters(&self, fence: &Fence, entries: Vec<DlqEntry>) -> StoreResult<()> {
        runs::put_dead_letters(self, fence, entries).await
    }

    async fn remove_dead_letters(&self, fence: &Fence, keys: &[String]) -> StoreResult<()> {
        runs::remove_dead_letters(self, fence, keys).await
    }

    async fn list_dead_letters(
        &self,
        sync_config_id: &str,
        page: PageRequest,
    ) -> StoreResult<Paged<DlqEntry>> {
        runs::list_dead_letters(self, sync_config_id, page).await
    }

    async fn delete_dead_letter(&self, sync_config_id: &str, entry_id: &str) -> StoreResult<bool> {
        runs::delete_dead_letter(self, sync_config_id, entry_id).await
    }

    async fn try_lock(
        &self,
        sync_config_id: &str,
        job_id: &str,
        worker_id: &str,
        ttl: Duration,
    ) -> StoreResult<LockAttempt> {
        runs::try_lock(self, sync_config_id, job_id, worker_id, ttl).await
    }

    async fn renew_lock(&self, lease: &LockLease, ttl: Duration) -> StoreResult<bool> {
        runs::renew_lock(self, lease, ttl).await
    }

    async fn release_lock(&self, lease: &LockLease) -> StoreResult<bool> {
        runs::release_lock(self, lease).await
    }

    async fn finish_run(
        &self,
        job: &SyncJob,
        lease: &LockLease,
        change: ConfigChange,
    ) -> StoreResult<()> {
        runs::finish_run(self, job, lease, change).await
    }

    async fn current_lock(&self, sync_config_id: &str) -> StoreResult<Option<LockLease>> {
        runs::current_lock(self, sync_config_id).await
    }
}
