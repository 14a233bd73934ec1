use std::path::PathBuf;
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTableMetadata};
use tempfile::TempDir;

use super::tables::*;
use super::EmbeddedStore;
use crate::model::*;
use crate::runtime::contract::Filters;
use crate::store::sealing::Sealer;
use crate::store::*;

pub(crate) const MINUTE: Duration = Duration::from_secs(60);

pub(crate) fn sealer() -> Sealer {
    Sealer::from_key(&[9; 32])
}

fn db_path(dir: &TempDir) -> PathBuf {
    // A folder that does not exist yet: open creates it.
    dir.path().join("data").join("tributary.redb")
}

fn open(dir: &TempDir) -> EmbeddedStore {
    EmbeddedStore::open(&db_path(dir), sealer()).expect("open the store")
}

pub(crate) fn new_namespace(name: &str) -> Namespace {
    Namespace {
        namespace_id: new_id("ns"),
        namespace_name: name.into(),
        description: None,
        created_at: now(),
    }
}

pub(crate) fn new_bucket(namespace_id: &str, name: &str) -> Bucket {
    Bucket {
        bucket_id: new_id("bkt"),
        namespace_id: namespace_id.into(),
        bucket_name: name.into(),
        description: None,
        metadata: Metadata::new(),
        created_at: now(),
        updated_at: now(),
    }
}

pub(crate) fn new_connection(name: &str, secret: &str) -> Connection {
    Connection {
        connection_id: new_id("conn"),
        name: name.into(),
        provider_type: "s3".into(),
        provider_config: serde_json::json!({
            "credentials": {"type": "access_key", "access_key_id": "AK", "secret_access_key": secret},
            "region": "us-east-1",
        }),
        description: None,
        metadata: Metadata::new(),
        status: ConnectionStatus::Active,
        is_active: true,
        last_used_at: None,
        last_error: None,
        consecutive_failures: 0,
        created_at: now(),
        updated_at: now(),
    }
}

pub(crate) fn sync_config(bucket: &Bucket, connection_id: &str) -> SyncConfig {
    SyncConfig {
        sync_config_id: new_id("sync"),
        bucket_id: bucket.bucket_id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        connection_id: connection_id.into(),
        source_path: "src/".into(),
        sync_mode: SyncMode::Continuous,
        file_filters: Filters::default(),
        polling_interval_seconds: 300,
        batch_chunk_size: 100,
        skip_duplicates: true,
        max_objects_per_run: 0,
        reconcile_on_sync: true,
        metadata: Metadata::new(),
        status: SyncConfigStatus::Active,
        is_active: true,
        paused: false,
        pause_reason: None,
        paused_at: None,
        totals: SyncTotals::default(),
        consecutive_failures: 0,
        last_sync_at: None,
        next_sync_at: None,
        last_error: None,
        current_sync_run_id: None,
        sync_run_counter: 0,
        last_run_started_at: None,
        initial_run_done: false,
        created_at: now(),
        updated_at: now(),
    }
}

pub(crate) fn job(config: &SyncConfig) -> SyncJob {
    SyncJob {
        sync_job_id: new_id("job"),
        sync_config_id: config.sync_config_id.clone(),
        bucket_id: config.bucket_id.clone(),
        namespace_id: config.namespace_id.clone(),
        status: JobStatus::Pending,
        full_sync: false,
        trigger: JobTrigger::Manual,
        worker_id: None,
        created_at: now(),
        started_at: None,
        finished_at: None,
        metrics: JobMetrics::default(),
        error: None,
        skipped_because_of_job_id: None,
        cancel_requested: false,
        modified_since: None,
        checkpoint: None,
        only_keys: None,
        resumed_from_job_id: None,
    }
}

/// A candidate as the pipeline builds it: the key derives from the uri.
pub(crate) fn candidate(config: &SyncConfig, sync_job_id: &str, key: &str, etag: &str) -> Object {
    Object {
        object_id: new_id("obj"),
        bucket_id: config.bucket_id.clone(),
        key: key.into(),
        blobs: vec![Blob {
            property: "content".into(),
            blob_type: BlobType::Text,
            url: format!("s3://src/{key}"),
            details: BlobDetails {
                filename: key.rsplit('/').next().unwrap_or(key).into(),
                size_bytes: 10,
                mime_type: Some("text/plain".into()),
                hash: Some(etag.into()),
            },
        }],
        source: ObjectSource {
            provider_type: "s3".into(),
            connection_id: config.connection_id.clone(),
            sync_config_id: config.sync_config_id.clone(),
            uri: format!("s3://src/{key}"),
            etag: Some(etag.into()),
            last_modified: Some(now()),
        },
        metadata: Metadata::new(),
        version: 1,
        sync_job_id: sync_job_id.into(),
        batch_id: None,
        created_at: now(),
        updated_at: now(),
        last_seen_job_id: String::new(),
    }
}

pub(crate) fn dead_letter(
    config: &SyncConfig,
    key: &str,
    attempts: u32,
    sync_job_id: &str,
) -> DlqEntry {
    DlqEntry {
        entry_id: new_id("dlq"),
        bucket_id: config.bucket_id.clone(),
        sync_config_id: config.sync_config_id.clone(),
        uri: format!("s3://src/{key}"),
        key: key.into(),
        error: ErrorInfo {
            kind: "ProviderError".into(),
            message: "boom".into(),
        },
        attempts,
        sync_job_id: sync_job_id.into(),
        first_failed_at: now(),
        last_failed_at: now(),
    }
}

pub(crate) async fn lock(store: &impl Store, sync_config_id: &str, ttl: Duration) -> LockLease {
    match store
        .try_lock(sync_config_id, &new_id("job"), "worker-1", ttl)
        .await
        .unwrap()
    {
        LockAttempt::Acquired(lease) => lease,
        LockAttempt::HeldBy(lease) => panic!("lock held by {lease:?}"),
    }
}

/// A bucket with one config, ready for a run.
pub(crate) async fn setup(store: &impl Store) -> (Bucket, SyncConfig) {
    let ns = new_namespace(&new_id("n"));
    store.create_namespace(&ns).await.unwrap();
    let bucket = new_bucket(&ns.namespace_id, "docs");
    store.create_bucket(&bucket).await.unwrap();
    let config = sync_config(&bucket, "conn_1");
    store.create_sync_config(&config).await.unwrap();
    (bucket, config)
}

pub(crate) fn all() -> PageRequest {
    PageRequest {
        offset: 0,
        limit: u64::MAX,
    }
}

pub(crate) fn keys(objects: &[Object]) -> Vec<&str> {
    objects.iter().map(|o| o.key.as_str()).collect()
}

pub(crate) fn is_already_exists(result: StoreResult<()>) -> bool {
    matches!(result, Err(StoreError::AlreadyExists { .. }))
}

pub(crate) fn is_fenced<T: std::fmt::Debug>(result: StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::Fenced { .. }))
}

fn table_len(store: &EmbeddedStore, table: Def) -> u64 {
    store
        .db
        .begin_read()
        .unwrap()
        .open_table(table)
        .unwrap()
        .len()
        .unwrap()
}

#[tokio::test]
async fn unique_names_are_refused() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);

    let ns = new_namespace("acme");
    store.create_namespace(&ns).await.unwrap();
    assert!(is_already_exists(
        store.create_namespace(&new_namespace("acme")).await
    ));
    assert_eq!(store.get_namespace("acme").await.unwrap(), Some(ns.clone()));
    assert_eq!(
        store.get_namespace(&ns.namespace_id).await.unwrap(),
        Some(ns.clone())
    );
    let other_ns = new_namespace("other");
    store.create_namespace(&other_ns).await.unwrap();
    assert_eq!(store.list_namespaces().await.unwrap().len(), 2);

    let first = new_connection("prod", "s");
    store.create_connection(&first).await.unwrap();
    assert!(is_already_exists(
        store.create_connection(&new_connection("prod", "t")).await
    ));
    let second = new_connection("staging", "u");
    store.create_connection(&second).await.unwrap();
    // Renaming onto a taken name is refused; onto a free one frees the old name.
    let mut renamed = second.clone();
    renamed.name = "prod".into();
    assert!(is_already_exists(store.update_connection(&renamed).await));
    renamed.name = "qa".into();
    store.update_connection(&renamed).await.unwrap();
    assert!(store.get_connection("staging").await.unwrap().is_none());
    assert_eq!(store.get_connection("qa").await.unwrap(), Some(renamed));
    store
        .create_connection(&new_connection("staging", "v"))
        .await
        .unwrap();

    let docs = new_bucket(&ns.namespace_id, "docs");
    store.create_bucket(&docs).await.unwrap();
    assert!(is_already_exists(
        store
            .create_bucket(&new_bucket(&ns.namespace_id, "docs"))
            .await
    ));
    // The same name in another namespace is fine.
    store
        .create_bucket(&new_bucket(&other_ns.namespace_id, "docs"))
        .await
        .unwrap();
    let images = new_bucket(&ns.namespace_id, "images");
    store.create_bucket(&images).await.unwrap();
    let mut clash = images.clone();
    clash.bucket_name = "docs".into();
    assert!(is_already_exists(store.update_bucket(&clash).await));
    let names: Vec<_> = store
        .list_buckets(&ns.namespace_id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.bucket_name)
        .collect();
    assert_eq!(names, ["docs", "images"]);

    let key = ApiKey {
        key_id: new_id("key"),
        name: "admin".into(),
        key_hash: "abc".into(),
        namespace_ids: vec![],
        permissions: vec![Permission::Admin],
        created_at: now(),
    };
    store.create_api_key(&key).await.unwrap();
    assert_eq!(
        store.find_api_key_by_hash("abc").await.unwrap(),
        Some(key.clone())
    );
    assert!(store.delete_api_key(&key.key_id).await.unwrap());
    assert!(store.find_api_key_by_hash("abc").await.unwrap().is_none());
    assert!(!store.delete_api_key(&key.key_id).await.unwrap());
}

#[tokio::test]
async fn upsert_creates_skips_unchanged_and_updates() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);

    let first = candidate(&config, "job_1", "a.txt", "e1");
    let outcomes = store
        .upsert_objects(&fence, vec![first.clone()], true)
        .await
        .unwrap();
    let UpsertOutcome::Created(created) = &outcomes[0] else {
        panic!("expected Created, got {outcomes:?}");
    };
    assert_eq!(created.object_id, first.object_id);
    assert_eq!(created.version, 1);

    // Same fingerprint: unchanged, only marked seen.
    let again = candidate(&config, "job_2", "a.txt", "e1");
    let outcomes = store
        .upsert_objects(&fence, vec![again], true)
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![UpsertOutcome::Unchanged {
            object_id: first.object_id.clone(),
            batched: false,
        }]
    );
    let stored = store
        .get_object(&bucket.bucket_id, &first.object_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sync_job_id, "job_1");
    assert_eq!(stored.last_seen_job_id, "job_2");
    assert_eq!(stored.version, 1);

    // Another fingerprint: updated in place.
    let changed = candidate(&config, "job_3", "a.txt", "e2");
    let outcomes = store
        .upsert_objects(&fence, vec![changed.clone()], true)
        .await
        .unwrap();
    let UpsertOutcome::Updated(updated) = &outcomes[0] else {
        panic!("expected Updated, got {outcomes:?}");
    };
    assert_eq!(updated.object_id, first.object_id);
    assert_eq!(updated.created_at, first.created_at);
    assert_eq!(updated.version, 2);
    assert_eq!(updated.source.etag.as_deref(), Some("e2"));
    assert_eq!(updated.sync_job_id, "job_3");
    let stored = store
        .get_object(&bucket.bucket_id, &first.object_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&stored, updated);

    // Without skip_duplicates, an unchanged object is rewritten as an update.
    let same = candidate(&config, "job_4", "a.txt", "e2");
    let outcomes = store
        .upsert_objects(&fence, vec![same], false)
        .await
        .unwrap();
    let UpsertOutcome::Updated(rewritten) = &outcomes[0] else {
        panic!("expected Updated, got {outcomes:?}");
    };
    assert_eq!(rewritten.version, 3);
    assert_eq!(rewritten.object_id, first.object_id);

    // Should the key of a source ever change, the object moves in key order.
    let mut moved = candidate(&config, "job_5", "z/moved.txt", "e3");
    moved.source.uri = first.source.uri.clone();
    let outcomes = store
        .upsert_objects(&fence, vec![moved], true)
        .await
        .unwrap();
    assert!(matches!(&outcomes[0], UpsertOutcome::Updated(o) if o.version == 4));

    let listed = store
        .list_objects(&bucket.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items[0].version, 4);
    assert_eq!(listed.items[0].key, "z/moved.txt");
    assert_eq!(listed.items[0].object_id, first.object_id);
    for table in [OBJECTS, OBJECT_IDS, OBJECT_SOURCES, OBJECT_CONFIGS] {
        assert_eq!(table_len(&store, table), 1, "{table}");
    }
}

#[tokio::test]
async fn a_page_of_a_thousand_candidates_is_one_call() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);

    let page: Vec<_> = (0..1000)
        .map(|i| candidate(&config, "job_1", &format!("dir/{i:04}.txt"), "e"))
        .collect();
    let outcomes = store.upsert_objects(&fence, page, true).await.unwrap();
    assert_eq!(outcomes.len(), 1000);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, UpsertOutcome::Created(_))));

    let again: Vec<_> = (0..1000)
        .map(|i| candidate(&config, "job_2", &format!("dir/{i:04}.txt"), "e"))
        .collect();
    let outcomes = store.upsert_objects(&fence, again, true).await.unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, UpsertOutcome::Unchanged { .. })));

    let listed = store
        .list_objects(
            &bucket.bucket_id,
            &ObjectFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed.total, 1000);
    assert_eq!(listed.items.len(), 100);
    assert_eq!(listed.items[0].key, "dir/0000.txt");
    assert_eq!(table_len(&store, OBJECT_SOURCES), 1000);
}

/// Closing a run writes the final job, the config's edit and the lock's
/// release together, and a run whose lease was taken over closes nothing.
/// Shared with the Redis store's tests.
pub(crate) async fn finishing_a_run_is_one_step(store: &impl Store) {
    let (_, config) = setup(store).await;
    let id = &config.sync_config_id;
    let stale = lock(store, id, Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let holder = lock(store, id, MINUTE).await;
    let mut run = job(&config);
    store.create_job(&run).await.unwrap();
    run.status = JobStatus::Failed;
    let count_failure = || -> ConfigChange { Box::new(|c| c.consecutive_failures += 1) };

    assert!(is_fenced(
        store.finish_run(&run, &stale, count_failure()).await
    ));
    assert_eq!(
        run_state(store, &run).await,
        (JobStatus::Pending, 0, Some(holder.token)),
        "a refused close wrote something"
    );

    store
        .finish_run(&run, &holder, count_failure())
        .await
        .unwrap();
    assert_eq!(run_state(store, &run).await, (JobStatus::Failed, 1, None));
    // The lock is free for the next run at once.
    assert!(lock(store, id, MINUTE).await.token > holder.token);
}

/// The stored job's status, its config's failure count and the lock's token.
async fn run_state(store: &impl Store, run: &SyncJob) -> (JobStatus, u32, Option<u64>) {
    let job = store.get_job(&run.sync_job_id).await.unwrap().unwrap();
    let config = store.get_sync_config(&run.sync_config_id).await.unwrap();
    let lock = store.current_lock(&run.sync_config_id).await.unwrap();
    (
        job.status,
        config.unwrap().consecutive_failures,
        lock.map(|l| l.token),
    )
}

#[tokio::test]
async fn finishing_a_run_is_atomic() {
    let dir = TempDir::new().unwrap();
    finishing_a_run_is_one_step(&open(&dir)).await;
}

#[tokio::test]
async fn a_run_that_lost_its_lock_cannot_write() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let id = &config.sync_config_id;

    let old = lock(&store, id, Duration::from_millis(50)).await;
    let old_fence = Fence::from(&old);
    let held = store
        .try_lock(id, "job_x", "worker-2", MINUTE)
        .await
        .unwrap();
    assert_eq!(held, LockAttempt::HeldBy(old.clone()));
    let run = job(&config);
    store.create_job(&run).await.unwrap();

    tokio::time::sleep(Duration::from_millis(120)).await;
    // Expired but not yet taken over: already refused (strict fencing).
    assert!(is_fenced(
        store
            .upsert_objects(&old_fence, vec![candidate(&config, "j", "a", "e")], true)
            .await
    ));
    let new = lock(&store, id, MINUTE).await;
    assert!(new.token > old.token);

    let mut finished = run.clone();
    finished.status = JobStatus::Completed;
    assert!(is_fenced(
        store
            .upsert_objects(&old_fence, vec![candidate(&config, "j", "a", "e")], true)
            .await
    ));
    assert!(is_fenced(
        store.update_job(&finished, Some(&old_fence)).await
    ));
    let batch = Batch {
        batch_id: new_id("btch"),
        bucket_id: bucket.bucket_id.clone(),
        sync_config_id: id.clone(),
        sync_job_id: run.sync_job_id.clone(),
        object_ids: vec![],
        status: "PENDING".into(),
        created_at: now(),
    };
    assert!(is_fenced(
        store
            .create_batches(&old_fence, std::slice::from_ref(&batch))
            .await
    ));
    assert!(is_fenced(
        store
            .put_dead_letters(&old_fence, vec![dead_letter(&config, "a", 3, "j")])
            .await
    ));
    assert!(is_fenced(
        store.remove_dead_letters(&old_fence, &["a".into()]).await
    ));
    assert!(is_fenced(
        store.delete_objects_not_seen_by(&old_fence, "j").await
    ));

    // Nothing was written.
    let objects = store
        .list_objects(&bucket.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(objects.total, 0);
    assert_eq!(store.get_job(&run.sync_job_id).await.unwrap(), Some(run));
    assert!(store
        .get_batch(&bucket.bucket_id, &batch.batch_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.list_dead_letters(id, all()).await.unwrap().total, 0);

    // The new holder writes fine; the old one still cannot release or renew.
    let new_fence = Fence::from(&new);
    store
        .upsert_objects(&new_fence, vec![candidate(&config, "j", "a", "e")], true)
        .await
        .unwrap();
    store.update_job(&finished, Some(&new_fence)).await.unwrap();
    assert!(!store.release_lock(&old).await.unwrap());
    assert!(!store.renew_lock(&old, MINUTE).await.unwrap());
    assert_eq!(store.current_lock(id).await.unwrap(), Some(new));
}

#[tokio::test]
async fn fencing_tokens_keep_growing_across_reopen() {
    let dir = TempDir::new().unwrap();
    let id = "sync_a";
    let mut tokens = Vec::new();
    {
        let store = open(&dir);
        let first = lock(&store, id, MINUTE).await;
        assert!(store.release_lock(&first).await.unwrap());
        let second = lock(&store, id, MINUTE).await;
        tokens.extend([first.token, second.token]);
        // Another config has its own counter.
        assert_eq!(lock(&store, "sync_b", MINUTE).await.token, 1);
    }
    let store = open(&dir);
    // The lease of `second` survived the restart.
    assert!(matches!(
        store.try_lock(id, "job", "w", MINUTE).await.unwrap(),
        LockAttempt::HeldBy(lease) if lease.token == tokens[1]
    ));
    let held = store.current_lock(id).await.unwrap().unwrap();
    assert!(store.release_lock(&held).await.unwrap());
    tokens.push(lock(&store, id, MINUTE).await.token);
    assert_eq!(tokens, [1, 2, 3]);
}

#[tokio::test]
async fn renew_and_release_need_the_current_token() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let lease = lock(&store, "sync_a", Duration::from_secs(5)).await;

    let mut wrong = lease.clone();
    wrong.token += 1;
    assert!(!store.renew_lock(&wrong, MINUTE).await.unwrap());
    assert!(!store.release_lock(&wrong).await.unwrap());
    let mut other_job = lease.clone();
    other_job.job_id = "job_other".into();
    assert!(!store.renew_lock(&other_job, MINUTE).await.unwrap());
    assert_eq!(
        store.current_lock("sync_a").await.unwrap(),
        Some(lease.clone())
    );

    assert!(store.renew_lock(&lease, MINUTE).await.unwrap());
    let renewed = store.current_lock("sync_a").await.unwrap().unwrap();
    assert_eq!(renewed.token, lease.token);
    assert!(renewed.expires_at > lease.expires_at);

    assert!(store.release_lock(&lease).await.unwrap());
    assert!(store.current_lock("sync_a").await.unwrap().is_none());
    assert!(!store.release_lock(&lease).await.unwrap());
    assert!(!store.renew_lock(&lease, MINUTE).await.unwrap());
}

#[tokio::test]
async fn records_survive_closing_and_reopening() {
    let dir = TempDir::new().unwrap();
    let (bucket, config, object_id, run) = {
        let store = open(&dir);
        let (bucket, config) = setup(&store).await;
        let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
        let object = candidate(&config, "job_1", "kept.txt", "e");
        store
            .upsert_objects(&fence, vec![object.clone()], true)
            .await
            .unwrap();
        let run = job(&config);
        store.create_job(&run).await.unwrap();
        (bucket, config, object.object_id, run)
    };
    let store = open(&dir);
    let object = store
        .get_object(&bucket.bucket_id, &object_id)
        .await
        .unwrap()
        .expect("the object survives a reopen");
    assert_eq!(object.key, "kept.txt");
    assert_eq!(object.last_seen_job_id, "job_1");
    assert_eq!(
        store.get_bucket(&bucket.bucket_id).await.unwrap(),
        Some(bucket)
    );
    assert_eq!(
        store.get_sync_config(&config.sync_config_id).await.unwrap(),
        Some(config)
    );
    assert_eq!(store.get_job(&run.sync_job_id).await.unwrap(), Some(run));
    // The dedup index survived too.
    let fence = Fence::from(
        &store
            .current_lock(&object.source.sync_config_id)
            .await
            .unwrap()
            .unwrap(),
    );
    let outcome = store
        .upsert_objects(
            &fence,
            vec![candidate(&store_config(&object), "job_2", "kept.txt", "e")],
            true,
        )
        .await
        .unwrap();
    assert!(
        matches!(&outcome[0], UpsertOutcome::Unchanged { object_id: id, .. } if *id == object_id)
    );
}

/// Just enough of a config to build candidates for an object's source.
fn store_config(object: &Object) -> SyncConfig {
    let mut config = sync_config(&new_bucket("ns", "b"), &object.source.connection_id);
    config.bucket_id = object.bucket_id.clone();
    config.sync_config_id = object.source.sync_config_id.clone();
    config
}

#[tokio::test]
async fn connection_secrets_never_reach_the_file() {
    let dir = TempDir::new().unwrap();
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let rotated = "rotated-9f8e7d6c5b4a-SECRET";
    let conn = new_connection("prod", secret);
    {
        let store = open(&dir);
        store.create_connection(&conn).await.unwrap();
        assert_eq!(
            store.get_connection("prod").await.unwrap(),
            Some(conn.clone())
        );
        let mut updated = conn.clone();
        updated.provider_config["credentials"]["secret_access_key"] = rotated.into();
        store.update_connection(&updated).await.unwrap();
        assert_eq!(
            store.list_connections().await.unwrap(),
            vec![updated.clone()]
        );
    }
    let raw = std::fs::read(db_path(&dir)).unwrap();
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("prod"), "the file holds the records");
    assert!(
        !contains(secret),
        "the first secret is in the file in clear"
    );
    assert!(
        !contains(rotated),
        "the rotated secret is in the file in clear"
    );

    // Another key cannot open them.
    let store = EmbeddedStore::open(&db_path(&dir), Sealer::from_key(&[1; 32])).unwrap();
    assert!(matches!(
        store.get_connection(&conn.connection_id).await,
        Err(StoreError::Backend(message)) if message.starts_with("get_connection")
    ));
}

#[tokio::test]
async fn deleting_a_bucket_deletes_everything_in_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let (other_bucket, other_config) = setup(&store).await;

    let lease = lock(&store, &config.sync_config_id, MINUTE).await;
    let fence = Fence::from(&lease);
    let run = job(&config);
    store.create_job(&run).await.unwrap();
    let outcomes = store
        .upsert_objects(
            &fence,
            (0..5)
                .map(|i| candidate(&config, &run.sync_job_id, &format!("{i}"), "e"))
                .collect(),
            true,
        )
        .await
        .unwrap();
    let object_ids: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            UpsertOutcome::Created(object) => object.object_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let batch = Batch {
        batch_id: new_id("btch"),
        bucket_id: bucket.bucket_id.clone(),
        sync_config_id: config.sync_config_id.clone(),
        sync_job_id: run.sync_job_id.clone(),
        object_ids: object_ids.clone(),
        status: "PUBLISHED".into(),
        created_at: now(),
    };
    store
        .create_batches(&fence, std::slice::from_ref(&batch))
        .await
        .unwrap();
    let stored = store
        .get_object(&bucket.bucket_id, &object_ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.batch_id.as_deref(), Some(batch.batch_id.as_str()));
    store
        .put_dead_letters(
            &fence,
            vec![dead_letter(&config, "bad", 3, &run.sync_job_id)],
        )
        .await
        .unwrap();

    // The other bucket's records, which must survive.
    let other_fence = Fence::from(&lock(&store, &other_config.sync_config_id, MINUTE).await);
    let other_run = job(&other_config);
    store.create_job(&other_run).await.unwrap();
    store
        .upsert_objects(
            &other_fence,
            vec![candidate(&other_config, &other_run.sync_job_id, "0", "e")],
            true,
        )
        .await
        .unwrap();
    store
        .put_dead_letters(
            &other_fence,
            vec![dead_letter(&other_config, "bad", 1, &other_run.sync_job_id)],
        )
        .await
        .unwrap();

    assert!(store.delete_bucket(&bucket.bucket_id).await.unwrap());
    assert!(!store.delete_bucket(&bucket.bucket_id).await.unwrap());

    assert!(store.get_bucket(&bucket.bucket_id).await.unwrap().is_none());
    assert!(store
        .get_sync_config(&config.sync_config_id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .list_sync_configs(&bucket.bucket_id)
        .await
        .unwrap()
        .is_empty());
    assert!(store.get_job(&run.sync_job_id).await.unwrap().is_none());
    assert!(store
        .current_lock(&config.sync_config_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .list_dead_letters(&config.sync_config_id, all())
            .await
            .unwrap()
            .total,
        0
    );
    let objects = store
        .list_objects(&bucket.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(objects.total, 0);
    assert!(store
        .get_batch(&bucket.bucket_id, &batch.batch_id)
        .await
        .unwrap()
        .is_none());
    let pending = store
        .list_jobs_by_status(&[JobStatus::Pending])
        .await
        .unwrap();
    assert_eq!(pending, vec![other_run.clone()]);
    // The name is free again.
    store
        .create_bucket(&new_bucket(&bucket.namespace_id, "docs"))
        .await
        .unwrap();

    // Every index holds exactly what the other bucket left.
    for table in [OBJECTS, OBJECT_IDS, OBJECT_SOURCES, OBJECT_CONFIGS] {
        assert_eq!(table_len(&store, table), 1, "{table}");
    }
    for table in [
        JOBS,
        JOB_IDS,
        JOB_STATUSES,
        DEAD_LETTERS,
        DEAD_LETTER_IDS,
        LOCKS,
    ] {
        assert_eq!(table_len(&store, table), 1, "{table}");
    }
    assert_eq!(table_len(&store, BATCHES), 0);
    assert_eq!(
        store
            .list_sync_configs(&other_bucket.bucket_id)
            .await
            .unwrap(),
        vec![other_config]
    );
}

#[tokio::test]
async fn lists_page_and_filter_by_key_prefix_and_config() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let mut second = sync_config(&bucket, "conn_2");
    second.sync_config_id = new_id("sync");
    store.create_sync_config(&second).await.unwrap();
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
    let second_fence = Fence::from(&lock(&store, &second.sync_config_id, MINUTE).await);

    // Inserted out of order; listed in key order.
    let first_keys: Vec<String> = (0..20)
        .rev()
        .map(|i| format!("{}/{i:02}", if i % 2 == 0 { "a" } else { "b" }))
        .collect();
    let page: Vec<_> = first_keys
        .iter()
        .map(|k| candidate(&config, "j1", k, "e"))
        .collect();
    store.upsert_objects(&fence, page, true).await.unwrap();
    let page: Vec<_> = ["a/05x", "a0", "c/1"]
        .iter()
        .map(|k| candidate(&second, "j2", k, "e"))
        .collect();
    store
        .upsert_objects(&second_fence, page, true)
        .await
        .unwrap();

    let list = |filter: ObjectFilter, offset, limit| {
        let store = &store;
        let bucket_id = bucket.bucket_id.clone();
        async move {
            store
                .list_objects(&bucket_id, &filter, PageRequest { offset, limit })
                .await
                .unwrap()
        }
    };

    let everything = list(ObjectFilter::default(), 0, 1000).await;
    assert_eq!(everything.total, 23);
    let mut sorted: Vec<&str> = keys(&everything.items);
    sorted.sort_unstable();
    assert_eq!(keys(&everything.items), sorted);

    let window = list(ObjectFilter::default(), 10, 5).await;
    assert_eq!(window.total, 23);
    assert_eq!(keys(&window.items), sorted[10..15].to_vec());
    let tail = list(ObjectFilter::default(), 20, 5).await;
    assert_eq!(tail.items.len(), 3);
    let beyond = list(ObjectFilter::default(), 50, 5).await;
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 23);

    let prefix_a = ObjectFilter {
        key_prefix: Some("a/".into()),
        ..Default::default()
    };
    let page = list(prefix_a.clone(), 0, 3).await;
    assert_eq!(page.total, 11);
    assert_eq!(keys(&page.items), ["a/00", "a/02", "a/04"]);
    let page = list(prefix_a, 3, 3).await;
    assert_eq!(keys(&page.items), ["a/05x", "a/06", "a/08"]);

    let first_only = ObjectFilter {
        sync_config_id: Some(config.sync_config_id.clone()),
        ..Default::default()
    };
    let page = list(first_only.clone(), 0, 100).await;
    assert_eq!(page.total, 20);
    assert!(page
        .items
        .iter()
        .all(|o| o.source.sync_config_id == config.sync_config_id && o.last_seen_job_id == "j1"));
    let page = list(
        ObjectFilter {
            key_prefix: Some("a/0".into()),
            ..first_only
        },
        1,
        2,
    )
    .await;
    assert_eq!(page.total, 5);
    assert_eq!(keys(&page.items), ["a/02", "a/04"]);
    let page = list(
        ObjectFilter {
            sync_config_id: Some(second.sync_config_id.clone()),
            key_prefix: Some("a".into()),
        },
        0,
        10,
    )
    .await;
    assert_eq!(keys(&page.items), ["a/05x", "a0"]);
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn reconciliation_deletes_only_the_unseen_objects_of_that_config() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let mut other = sync_config(&bucket, "conn_2");
    other.sync_config_id = new_id("sync");
    store.create_sync_config(&other).await.unwrap();
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
    let other_fence = Fence::from(&lock(&store, &other.sync_config_id, MINUTE).await);

    let first_run: Vec<_> = ["x", "y", "z"]
        .iter()
        .map(|k| candidate(&config, "job_1", k, "e"))
        .collect();
    store.upsert_objects(&fence, first_run, true).await.unwrap();
    store
        .upsert_objects(
            &other_fence,
            vec![candidate(&other, "job_o", "w", "e")],
            true,
        )
        .await
        .unwrap();
    // The second run sees x unchanged and y changed; z is gone.
    store
        .upsert_objects(
            &fence,
            vec![
                candidate(&config, "job_2", "x", "e"),
                candidate(&config, "job_2", "y", "e2"),
            ],
            true,
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .delete_objects_not_seen_by(&fence, "job_2")
            .await
            .unwrap(),
        1
    );
    let left = store
        .list_objects(&bucket.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(keys(&left.items), ["w", "x", "y"]);
    assert_eq!(
        store
            .delete_objects_not_seen_by(&fence, "job_2")
            .await
            .unwrap(),
        0
    );
    for table in [OBJECTS, OBJECT_IDS, OBJECT_SOURCES, OBJECT_CONFIGS] {
        assert_eq!(table_len(&store, table), 3, "{table}");
    }

    // A run that saw nothing removes everything of its config, nothing else.
    assert_eq!(
        store
            .delete_objects_not_seen_by(&fence, "job_3")
            .await
            .unwrap(),
        2
    );
    let left = store
        .list_objects(&bucket.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(keys(&left.items), ["w"]);

    // z comes back as a new object (its dedup entry went with it).
    let outcomes = store
        .upsert_objects(&fence, vec![candidate(&config, "job_4", "z", "e")], true)
        .await
        .unwrap();
    assert!(matches!(outcomes[0], UpsertOutcome::Created(_)));
}

#[tokio::test]
async fn dead_letters_are_unique_per_key_and_keep_their_first_failure() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (_, config) = setup(&store).await;
    let id = &config.sync_config_id;
    let fence = Fence::from(&lock(&store, id, MINUTE).await);

    let first = dead_letter(&config, "a.txt", 3, "job_1");
    // Entry ids sort by creation to the millisecond.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let other = dead_letter(&config, "b.txt", 1, "job_1");
    store
        .put_dead_letters(&fence, vec![first.clone(), other.clone()])
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut again = dead_letter(&config, "a.txt", 7, "job_2");
    again.error.message = "still failing".into();
    store
        .put_dead_letters(&fence, vec![again.clone()])
        .await
        .unwrap();

    let listed = store.list_dead_letters(id, all()).await.unwrap();
    assert_eq!(listed.total, 2);
    let entry = &listed.items[0];
    assert_eq!(entry.entry_id, first.entry_id);
    assert_eq!(entry.first_failed_at, first.first_failed_at);
    assert_eq!(entry.last_failed_at, again.last_failed_at);
    assert_eq!(entry.attempts, 7);
    assert_eq!(entry.sync_job_id, "job_2");
    assert_eq!(entry.error.message, "still failing");
    assert_eq!(listed.items[1].entry_id, other.entry_id);

    let window = store
        .list_dead_letters(
            id,
            PageRequest {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((window.total, window.items.len()), (2, 1));
    assert_eq!(window.items[0].key, "b.txt");

    store
        .remove_dead_letters(&fence, &["a.txt".into(), "never-failed".into()])
        .await
        .unwrap();
    let listed = store.list_dead_letters(id, all()).await.unwrap();
    assert_eq!(listed.items, vec![other.clone()]);
    assert!(!store.delete_dead_letter(id, &first.entry_id).await.unwrap());
    assert!(store.delete_dead_letter(id, &other.entry_id).await.unwrap());
    assert_eq!(store.list_dead_letters(id, all()).await.unwrap().total, 0);
    assert_eq!(table_len(&store, DEAD_LETTER_IDS), 0);
}

#[tokio::test]
async fn jobs_list_newest_first_and_by_status() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (_, config) = setup(&store).await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let run = job(&config);
        store.create_job(&run).await.unwrap();
        runs.push(run);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let page = store
        .list_jobs(
            &config.sync_config_id,
            PageRequest {
                offset: 1,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(page.items, vec![runs[3].clone(), runs[2].clone()]);

    let mut running = runs[1].clone();
    running.status = JobStatus::InProgress;
    store.update_job(&running, None).await.unwrap();
    let mut done = runs[4].clone();
    done.status = JobStatus::Completed;
    store.update_job(&done, None).await.unwrap();

    let open_jobs = store
        .list_jobs_by_status(&[JobStatus::InProgress, JobStatus::Pending])
        .await
        .unwrap();
    let ids: Vec<_> = open_jobs.iter().map(|j| j.sync_job_id.as_str()).collect();
    assert_eq!(
        ids,
        [&runs[0], &runs[1], &runs[2], &runs[3]].map(|r| r.sync_job_id.as_str())
    );
    assert_eq!(open_jobs[1].status, JobStatus::InProgress);
    assert_eq!(
        store
            .list_jobs_by_status(&[JobStatus::Completed])
            .await
            .unwrap(),
        vec![done]
    );
    assert_eq!(table_len(&store, JOB_STATUSES), 5);

    // The count is kept, not scanned; a store without one (written before
    // counts existed) counts once and goes on from there.
    let txn = store.db.begin_write().unwrap();
    txn.open_table(JOB_COUNTS)
        .unwrap()
        .remove(config.sync_config_id.as_str())
        .unwrap();
    txn.commit().unwrap();
    store.create_job(&job(&config)).await.unwrap();
    let newest = store
        .list_jobs(
            &config.sync_config_id,
            PageRequest {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(newest.total, 6);
    assert_eq!(newest.items.len(), 1);
    store
        .delete_sync_config(&config.sync_config_id)
        .await
        .unwrap();
    assert_eq!(table_len(&store, JOBS), 0);
    assert_eq!(
        store
            .db
            .begin_read()
            .unwrap()
            .open_table(JOB_COUNTS)
            .unwrap()
            .len()
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn batches_mark_their_objects_and_list_oldest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let (bucket, config) = setup(&store).await;
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
    let outcomes = store
        .upsert_objects(
            &fence,
            (0..4)
                .map(|i| candidate(&config, "job_1", &format!("{i}"), "e"))
                .collect(),
            true,
        )
        .await
        .unwrap();
    let ids: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            UpsertOutcome::Created(object) => object.object_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();

    let mut batches = Vec::new();
    for (n, chunk) in ids.chunks(2).enumerate() {
        let batch = Batch {
            batch_id: new_id("btch"),
            bucket_id: bucket.bucket_id.clone(),
            sync_config_id: config.sync_config_id.clone(),
            sync_job_id: format!("job_{n}"),
            object_ids: chunk.to_vec(),
            status: "PUBLISHED".into(),
            created_at: now(),
        };
        store
            .create_batches(&fence, std::slice::from_ref(&batch))
            .await
            .unwrap();
        batches.push(batch);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for (n, id) in ids.iter().enumerate() {
        let object = store
            .get_object(&bucket.bucket_id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(object.batch_id.as_ref(), Some(&batches[n / 2].batch_id));
    }
    let objects = store
        .list_objects(&bucket.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert!(objects.items.iter().all(|o| o.batch_id.is_some()));
    // Batching wrote one row per object, not the records.
    assert_eq!(table_len(&store, OBJECT_BATCHES), 4);

    // Seen again unchanged: already batched. Changed: a new version that is
    // in no batch yet.
    let again = store
        .upsert_objects(
            &fence,
            vec![
                candidate(&config, "job_2", "0", "e"),
                candidate(&config, "job_2", "1", "changed"),
            ],
            true,
        )
        .await
        .unwrap();
    assert!(matches!(
        &again[0],
        UpsertOutcome::Unchanged { batched: true, .. }
    ));
    assert!(matches!(&again[1], UpsertOutcome::Updated(o) if o.batch_id.is_none()));
    let updated = store
        .get_object(&bucket.bucket_id, &ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.version, updated.batch_id), (2, None));
    assert_eq!(table_len(&store, OBJECT_BATCHES), 3);

    let listed = store
        .list_batches(&bucket.bucket_id, &BatchFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(listed.items, batches);
    let filtered = store
        .list_batches(
            &bucket.bucket_id,
            &BatchFilter {
                sync_job_id: Some("job_1".into()),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(
        (filtered.total, filtered.items),
        (1, vec![batches[1].clone()])
    );
}

#[tokio::test]
async fn concurrent_config_edits_are_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(&dir));
    let (_, config) = setup(&*store).await;
    let edits: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let id = config.sync_config_id.clone();
            tokio::spawn(async move {
                let change: ConfigChange = if i % 2 == 0 {
                    Box::new(|c| c.sync_run_counter += 1)
                } else {
                    Box::new(|c| c.totals.batches_created += 2)
                };
                store
                    .modify_sync_config(&id, change)
                    .await
                    .unwrap()
                    .unwrap();
            })
        })
        .collect();
    for edit in edits {
        edit.await.unwrap();
    }
    let stored = store
        .get_sync_config(&config.sync_config_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sync_run_counter, 25);
    assert_eq!(stored.totals.batches_created, 50);
    let missing = store
        .modify_sync_config("sync_missing", Box::new(|c| c.paused = true))
        .await
        .unwrap();
    assert!(missing.is_none());
}
