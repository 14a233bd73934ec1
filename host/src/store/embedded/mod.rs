//! The default store: one redb database file in the data folder. Owns the
//! table layout (`tables`) and runs every operation as one redb transaction on
//! a blocking thread; it must not know about the pipeline or the API.
//!
//! Each trait call is exactly one transaction, so a multi-record step (a page
//! of upserts, a batch with its objects, a bucket cascade, a fenced write and
//! its fence check) commits whole or not at all, durably.

mod catalog;
mod objects;
mod runs;
mod tables;
#[cfg(test)]
pub(crate) mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Builder, Database, Durability, ReadTransaction, ReadableDatabase, WriteTransaction};

use self::tables::{
    Fail, TxResult, ALL_RECORD_TABLES, API_KEYS, CONNECTIONS, JOB_COUNTS, LOCK_TOKENS, NAMESPACES,
    SYNC_CONFIGS,
};
use super::sealing::Sealer;
use super::{
    BatchFilter, ConfigChange, Fence, JobChange, LockAttempt, ObjectFilter, PageRequest, Paged,
    Store, StoreError, StoreResult, UpsertOutcome,
};
use crate::model::{
    ApiKey, Batch, Bucket, Connection, DlqEntry, JobStatus, LockLease, Namespace, Object,
    SyncConfig, SyncJob,
};

/// The field a stored connection's `provider_config` is replaced by.
const SEALED_FIELD: &str = "sealed";

/// redb's page cache. Its default (1 GiB) keeps every page the server ever
/// touched, so the server's memory grew with the database; B-tree inner pages
/// stay hot in this much, and the rest comes from the OS page cache.
const CACHE_BYTES: usize = 32 << 20;

/// [`Store`] on a redb database file.
pub struct EmbeddedStore {
    db: Arc<Database>,
    sealer: Sealer,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens the database at `path`, creating it (and its folder) if missing.
    /// Connection configs are sealed with `sealer` at rest. Blocks briefly:
    /// call it at start-up.
    pub fn open(path: &Path, sealer: Sealer) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let db = Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| {
                anyhow::anyhow!("cannot open the store database {}: {e}", path.display())
            })?;
        // Create every table once, so read transactions can always open them.
        let txn = db.begin_write()?;
        for table in ALL_RECORD_TABLES {
            txn.open_table(*table)?;
        }
        txn.open_table(LOCK_TOKENS)?;
        txn.open_table(JOB_COUNTS)?;
        txn.commit()?;
        Ok(Self {
            db: Arc::new(db),
            sealer,
        })
    }

    /// Runs `work` in one write transaction on a blocking thread; commits only
    /// if it succeeds, and returns once the commit is on disk.
    async fn write<T, F>(&self, operation: &'static str, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> TxResult<T> + Send + 'static,
    {
        self.write_with(Durability::Immediate, operation, work)
            .await
    }

    /// [`Self::write`] for a run's page writes (objects, batches), which reach
    /// the disk with the next durable commit — at the latest the page's
    /// checkpoint, right after them — instead of each paying its own sync.
    /// A crash before that loses the page's writes together with its
    /// checkpoint: the resumed run lists the page again and writes it again,
    /// exactly as after a crash between the writes.
    async fn write_page<T, F>(&self, operation: &'static str, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> TxResult<T> + Send + 'static,
    {
        self.write_with(Durability::None, operation, work).await
    }

    async fn write_with<T, F>(
        &self,
        durability: Durability,
        operation: &'static str,
        work: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> TxResult<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || -> TxResult<T> {
            let mut txn = db.begin_write()?;
            txn.set_durability(durability)
                .map_err(|e| Fail::Backend(e.to_string()))?;
            let out = work(&txn)?;
            txn.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("{operation}: the store task failed: {e}")))?
        .map_err(|fail| fail.into_store_error(operation))
    }

    /// Runs `work` in one read transaction on the calling thread. For point
    /// look-ups — a few B-tree descents, microseconds on cached pages — a
    /// hop to a blocking thread and back costs more than the read itself
    /// (it was most of a trigger's time under load).
    fn lookup<T, F>(&self, operation: &'static str, work: F) -> StoreResult<T>
    where
        F: FnOnce(&ReadTransaction) -> TxResult<T>,
    {
        self.db
            .begin_read()
            .map_err(Fail::from)
            .and_then(|txn| work(&txn))
            .map_err(|fail| fail.into_store_error(operation))
    }

    /// Runs `work` in one read transaction (a consistent snapshot) on a
    /// blocking thread: for scans, whose length depends on the data.
    async fn read<T, F>(&self, operation: &'static str, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> TxResult<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || -> TxResult<T> { work(&db.begin_read()?) })
            .await
            .map_err(|e| StoreError::Backend(format!("{operation}: the store task failed: {e}")))?
            .map_err(|fail| fail.into_store_error(operation))
    }

    /// The connection as stored: its provider config replaced by the sealed text.
    fn seal(&self, connection: &Connection) -> StoreResult<Connection> {
        let plaintext = serde_json::to_vec(&connection.provider_config)
            .map_err(|e| StoreError::Backend(format!("seal the provider config: {e}")))?;
        let mut sealed = connection.clone();
        sealed.provider_config = serde_json::json!({ SEALED_FIELD: self.sealer.seal(&plaintext) });
        Ok(sealed)
    }
}

/// The connection as stored, with its provider config opened.
fn unseal(sealer: &Sealer, mut connection: Connection) -> TxResult<Connection> {
    let sealed = connection
        .provider_config
        .get(SEALED_FIELD)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            Fail::Backend(format!(
                "connection {} has no sealed provider config",
                connection.connection_id
            ))
        })?;
    let plaintext = sealer.open(sealed).map_err(|e| {
        Fail::Backend(format!(
            "cannot open the provider config of connection {}: {e}",
            connection.connection_id
        ))
    })?;
    connection.provider_config = serde_json::from_slice(&plaintext)?;
    Ok(connection)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_namespace(&self, namespace: &Namespace) -> StoreResult<()> {
        let namespace = namespace.clone();
        self.write("create_namespace", move |txn| {
            catalog::create_namespace(txn, &namespace)
        })
        .await
    }

    async fn get_namespace(&self, id_or_name: &str) -> StoreResult<Option<Namespace>> {
        self.lookup("get_namespace", |txn| {
            catalog::get_namespace(txn, id_or_name)
        })
    }

    async fn list_namespaces(&self) -> StoreResult<Vec<Namespace>> {
        self.read("list_namespaces", |txn| catalog::all(txn, NAMESPACES))
            .await
    }

    async fn delete_namespace(&self, namespace_id: &str) -> StoreResult<bool> {
        let namespace_id = namespace_id.to_owned();
        self.write("delete_namespace", move |txn| {
            catalog::delete_namespace(txn, &namespace_id)
        })
        .await
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        self.write("create_api_key", move |txn| {
            catalog::create_api_key(txn, &key)
        })
        .await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.lookup("find_api_key_by_hash", |txn| {
            catalog::find_api_key_by_hash(txn, key_hash)
        })
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read("list_api_keys", |txn| catalog::all(txn, API_KEYS))
            .await
    }

    async fn delete_api_key(&self, key_id: &str) -> StoreResult<bool> {
        let key_id = key_id.to_owned();
        self.write("delete_api_key", move |txn| {
            catalog::delete_api_key(txn, &key_id)
        })
        .await
    }

    async fn create_connection(&self, connection: &Connection) -> StoreResult<()> {
        let sealed = self.seal(connection)?;
        self.write("create_connection", move |txn| {
            catalog::create_connection(txn, &sealed)
        })
        .await
    }

    async fn get_connection(&self, id_or_name: &str) -> StoreResult<Option<Connection>> {
        self.lookup("get_connection", |txn| {
            catalog::get_connection(txn, id_or_name)?
                .map(|connection| unseal(&self.sealer, connection))
                .transpose()
        })
    }

    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        let sealer = self.sealer.clone();
        self.read("list_connections", move |txn| {
            catalog::all(txn, CONNECTIONS)?
                .into_iter()
                .map(|connection| unseal(&sealer, connection))
                .collect()
        })
        .await
    }

    async fn update_connection(&self, connection: &Connection) -> StoreResult<()> {
        let sealed = self.seal(connection)?;
        self.write("update_connection", move |txn| {
            catalog::update_connection(txn, &sealed)
        })
        .await
    }

    async fn delete_connection(&self, connection_id: &str) -> StoreResult<bool> {
        let connection_id = connection_id.to_owned();
        self.write("delete_connection", move |txn| {
            catalog::delete_connection(txn, &connection_id)
        })
        .await
    }

    async fn create_bucket(&self, bucket: &Bucket) -> StoreResult<()> {
        let bucket = bucket.clone();
        self.write("create_bucket", move |txn| {
            catalog::create_bucket(txn, &bucket)
        })
        .await
    }

    async fn get_bucket(&self, bucket_id: &str) -> StoreResult<Option<Bucket>> {
        self.lookup("get_bucket", |txn| catalog::get_bucket(txn, bucket_id))
    }

    async fn list_buckets(&self, namespace_id: &str) -> StoreResult<Vec<Bucket>> {
        let namespace_id = namespace_id.to_owned();
        self.read("list_buckets", move |txn| {
            catalog::list_buckets(txn, &namespace_id)
        })
        .await
    }

    async fn update_bucket(&self, bucket: &Bucket) -> StoreResult<()> {
        let bucket = bucket.clone();
        self.write("update_bucket", move |txn| {
            catalog::update_bucket(txn, &bucket)
        })
        .await
    }

    async fn delete_bucket(&self, bucket_id: &str) -> StoreResult<bool> {
        let bucket_id = bucket_id.to_owned();
        self.write("delete_bucket", move |txn| {
            catalog::delete_bucket(txn, &bucket_id)
        })
        .await
    }

    async fn create_sync_config(&self, config: &SyncConfig) -> StoreResult<()> {
        let config = config.clone();
        self.write("create_sync_config", move |txn| {
            catalog::create_sync_config(txn, &config)
        })
        .await
    }

    async fn get_sync_config(&self, sync_config_id: &str) -> StoreResult<Option<SyncConfig>> {
        self.lookup("get_sync_config", |txn| {
            catalog::get_sync_config(txn, sync_config_id)
        })
    }

    async fn list_sync_configs(&self, bucket_id: &str) -> StoreResult<Vec<SyncConfig>> {
        let bucket_id = bucket_id.to_owned();
        self.read("list_sync_configs", move |txn| {
            catalog::list_sync_configs(txn, &bucket_id)
        })
        .await
    }

    async fn list_all_sync_configs(&self) -> StoreResult<Vec<SyncConfig>> {
        self.read("list_all_sync_configs", |txn| {
            catalog::all(txn, SYNC_CONFIGS)
        })
        .await
    }

    async fn update_sync_config(&self, config: &SyncConfig) -> StoreResult<()> {
        let config = config.clone();
        self.write("update_sync_config", move |txn| {
            catalog::update_sync_config(txn, &config)
        })
        .await
    }

    async fn modify_sync_config(
        &self,
        sync_config_id: &str,
        change: ConfigChange,
    ) -> StoreResult<Option<SyncConfig>> {
        let sync_config_id = sync_config_id.to_owned();
        self.write("modify_sync_config", move |txn| {
            catalog::modify_sync_config(txn, &sync_config_id, change)
        })
        .await
    }

    async fn delete_sync_config(&self, sync_config_id: &str) -> StoreResult<bool> {
        let sync_config_id = sync_config_id.to_owned();
        self.write("delete_sync_config", move |txn| {
            catalog::delete_sync_config(txn, &sync_config_id)
        })
        .await
    }

    async fn create_job(&self, job: &SyncJob) -> StoreResult<()> {
        let job = job.clone();
        self.write("create_job", move |txn| runs::update_job(txn, &job, None))
            .await
    }

    async fn get_job(&self, sync_job_id: &str) -> StoreResult<Option<SyncJob>> {
        self.lookup("get_job", |txn| runs::get_job(txn, sync_job_id))
    }

    async fn list_jobs(
        &self,
        sync_config_id: &str,
        page: PageRequest,
    ) -> StoreResult<Paged<SyncJob>> {
        let sync_config_id = sync_config_id.to_owned();
        self.read("list_jobs", move |txn| {
            runs::list_jobs(txn, &sync_config_id, page)
        })
        .await
    }

    async fn list_jobs_by_status(&self, statuses: &[JobStatus]) -> StoreResult<Vec<SyncJob>> {
        let statuses = statuses.to_vec();
        self.read("list_jobs_by_status", move |txn| {
            runs::list_jobs_by_status(txn, &statuses)
        })
        .await
    }

    async fn update_job(&self, job: &SyncJob, fence: Option<&Fence>) -> StoreResult<()> {
        let job = job.clone();
        let fence = fence.cloned();
        self.write("update_job", move |txn| {
            runs::update_job(txn, &job, fence.as_ref())
        })
        .await
    }

    async fn modify_job(
        &self,
        sync_job_id: &str,
        change: JobChange,
    ) -> StoreResult<Option<SyncJob>> {
        let sync_job_id = sync_job_id.to_owned();
        self.write("modify_job", move |txn| {
            runs::modify_job(txn, &sync_job_id, change)
        })
        .await
    }

    async fn upsert_objects(
        &self,
        fence: &Fence,
        candidates: Vec<Object>,
        skip_duplicates: bool,
    ) -> StoreResult<Vec<UpsertOutcome>> {
        let fence = fence.clone();
        self.write_page("upsert_objects", move |txn| {
            objects::upsert(txn, &fence, candidates, skip_duplicates)
        })
        .await
    }

    async fn get_object(&self, bucket_id: &str, object_id: &str) -> StoreResult<Option<Object>> {
        self.lookup("get_object", |txn| objects::get(txn, bucket_id, object_id))
    }

    async fn list_objects(
        &self,
        bucket_id: &str,
        filter: &ObjectFilter,
        page: PageRequest,
    ) -> StoreResult<Paged<Object>> {
        let (bucket_id, filter) = (bucket_id.to_owned(), filter.clone());
        self.read("list_objects", move |txn| {
            objects::list(txn, &bucket_id, &filter, page)
        })
        .await
    }

    async fn delete_object(&self, bucket_id: &str, object_id: &str) -> StoreResult<bool> {
        let (bucket_id, object_id) = (bucket_id.to_owned(), object_id.to_owned());
        self.write("delete_object", move |txn| {
            objects::delete(txn, &bucket_id, &object_id)
        })
        .await
    }

    async fn delete_objects_not_seen_by(
        &self,
        fence: &Fence,
        sync_job_id: &str,
    ) -> StoreResult<u64> {
        let (fence, sync_job_id) = (fence.clone(), sync_job_id.to_owned());
        self.write("delete_objects_not_seen_by", move |txn| {
            objects::delete_not_seen_by(txn, &fence, &sync_job_id)
        })
        .await
    }

    async fn create_batches(&self, fence: &Fence, batches: &[Batch]) -> StoreResult<()> {
        let (fence, batches) = (fence.clone(), batches.to_vec());
        self.write_page("create_batches", move |txn| {
            batches
                .iter()
                .try_for_each(|batch| objects::create_batch(txn, &fence, batch))
        })
        .await
    }

    async fn get_batch(&self, bucket_id: &str, batch_id: &str) -> StoreResult<Option<Batch>> {
        self.lookup("get_batch", |txn| {
            objects::get_batch(txn, bucket_id, batch_id)
        })
    }

    async fn list_batches(
        &self,
        bucket_id: &str,
        filter: &BatchFilter,
        page: PageRequest,
    ) -> StoreResult<Paged<Batch>> {
        let (bucket_id, filter) = (bucket_id.to_owned(), filter.clone());
        self.read("list_batches", move |txn| {
            objects::list_batches(txn, &bucket_id, &filter, page)
        })
        .await
    }

    async fn put_dead_letters(&self, fence: &Fence, entries: Vec<DlqEntry>) -> StoreResult<()> {
        let fence = fence.clone();
        self.write("put_dead_letters", move |txn| {
            runs::put_dead_letters(txn, &fence, entries)
        })
        .await
    }

    async fn remove_dead_letters(&self, fence: &Fence, keys: &[String]) -> StoreResult<()> {
        let (fence, keys) = (fence.clone(), keys.to_vec());
        self.write("remove_dead_letters", move |txn| {
            runs::remove_dead_letters(txn, &fence, &keys)
        })
        .await
    }

    async fn list_dead_letters(
        &self,
        sync_config_id: &str,
        page: PageRequest,
    ) -> StoreResult<Paged<DlqEntry>> {
        let sync_config_id = sync_config_id.to_owned();
        self.read("list_dead_letters", move |txn| {
            runs::list_dead_letters(txn, &sync_config_id, page)
        })
        .await
    }

    async fn delete_dead_letter(&self, sync_config_id: &str, entry_id: &str) -> StoreResult<bool> {
        let (sync_config_id, entry_id) = (sync_config_id.to_owned(), entry_id.to_owned());
        self.write("delete_dead_letter", move |txn| {
            runs::delete_dead_letter(txn, &sync_config_id, &entry_id)
        })
        .await
    }

    async fn try_lock(
        &self,
        sync_config_id: &str,
        job_id: &str,
        worker_id: &str,
        ttl: Duration,
    ) -> StoreResult<LockAttempt> {
        let (sync_config_id, job_id, worker_id) = (
            sync_config_id.to_owned(),
            job_id.to_owned(),
            worker_id.to_owned(),
        );
        self.write("try_lock", move |txn| {
            runs::try_lock(txn, &sync_config_id, &job_id, &worker_id, ttl)
        })
        .await
    }

    async fn renew_lock(&self, lease: &LockLease, ttl: Duration) -> StoreResult<bool> {
        let lease = lease.clone();
        self.write("renew_lock", move |txn| runs::renew_lock(txn, &lease, ttl))
            .await
    }

    async fn release_lock(&self, lease: &LockLease) -> StoreResult<bool> {
        let lease = lease.clone();
        self.write("release_lock", move |txn| runs::release_lock(txn, &lease))
            .await
    }

    async fn finish_run(
        &self,
        job: &SyncJob,
        lease: &LockLease,
        change: ConfigChange,
    ) -> StoreResult<()> {
        let job = job.clone();
        let lease = lease.clone();
        self.write("finish_run", move |txn| {
            runs::update_job(txn, &job, Some(&Fence::from(&lease)))?;
            catalog::modify_sync_config(txn, &job.sync_config_id, change)?;
            runs::release_lock(txn, &lease).map(drop)
        })
        .await
    }

    async fn current_lock(&self, sync_config_id: &str) -> StoreResult<Option<LockLease>> {
        self.lookup("current_lock", |txn| {
            runs::current_lock(txn, sync_config_id)
        })
    }
}
