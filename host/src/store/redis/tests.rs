//! The Redis store against a real Redis (`REDIS_URL`, which `just test`
//! points at a private redis-server). Each test works under its own prefix.
//! Fixtures are shared with the embedded store's tests.

use std::time::Duration;

use ::redis::AsyncCommands;

use super::{RedisSettings, RedisStore};
use crate::model::*;
use crate::store::embedded::tests::{
    all, candidate, dead_letter, finishing_a_run_is_one_step, is_already_exists, is_fenced, job,
    keys, lock, new_bucket, new_connection, new_namespace, sealer, setup, MINUTE,
};
use crate::store::*;

async fn open() -> RedisStore {
    let url = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: run `just test` (it starts a private redis-server) or point it at a Redis you can write to",
    );
    let prefix = format!("trbunit-{}", new_id("t"));
    RedisStore::connect(&RedisSettings::new(&url, &prefix), sealer())
        .await
        .expect("connect to the test Redis")
}

#[tokio::test]
async fn unique_names_are_refused_and_renames_free_them() {
    let store = open().await;
    let ns = new_namespace("team");
    store.create_namespace(&ns).await.unwrap();
    assert!(is_already_exists(
        store.create_namespace(&new_namespace("team")).await
    ));
    assert_eq!(store.get_namespace("team").await.unwrap(), Some(ns.clone()));

    let first = new_bucket(&ns.namespace_id, "docs");
    store.create_bucket(&first).await.unwrap();
    assert!(is_already_exists(
        store
            .create_bucket(&new_bucket(&ns.namespace_id, "docs"))
            .await
    ));
    // Same name in another namespace is fine.
    let other = new_namespace("other");
    store.create_namespace(&other).await.unwrap();
    store
        .create_bucket(&new_bucket(&other.namespace_id, "docs"))
        .await
        .unwrap();

    let mut renamed = first.clone();
    renamed.bucket_name = "papers".into();
    store.update_bucket(&renamed).await.unwrap();
    store
        .create_bucket(&new_bucket(&ns.namespace_id, "docs"))
        .await
        .unwrap();
    let names: Vec<String> = store
        .list_buckets(&ns.namespace_id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.bucket_name)
        .collect();
    assert_eq!(names, ["docs", "papers"]);

    let connection = new_connection("s3-main", "sk-secret-123");
    store.create_connection(&connection).await.unwrap();
    assert!(is_already_exists(
        store
            .create_connection(&new_connection("s3-main", "x"))
            .await
    ));
    assert_eq!(
        store
            .get_connection("s3-main")
            .await
            .unwrap()
            .unwrap()
            .provider_config,
        connection.provider_config
    );
}

#[tokio::test]
async fn connection_secrets_are_sealed_in_redis() {
    let store = open().await;
    store
        .create_connection(&new_connection("c", "sk-very-secret-value"))
        .await
        .unwrap();
    let mut connection = store.connection().await.unwrap();
    let raw: Vec<String> = connection.hvals(store.keys.connections()).await.unwrap();
    assert_eq!(raw.len(), 1);
    assert!(!raw[0].contains("sk-very-secret-value"));
}

#[tokio::test]
async fn upsert_creates_skips_unchanged_and_updates() {
    let store = open().await;
    let (_, config) = setup(&store).await;
    let lease = lock(&store, &config.sync_config_id, MINUTE).await;
    let fence = Fence::from(&lease);
    let first = vec![
        candidate(&config, "job_1", "a.txt", "e1"),
        candidate(&config, "job_1", "b.txt", "e1"),
    ];
    let outcomes = store.upsert_objects(&fence, first, true).await.unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, UpsertOutcome::Created(_))));

    // Same page twice: one unchanged, one changed, one new, and a source
    // listed twice on the page (the second is an update of the first).
    let second = vec![
        candidate(&config, "job_2", "a.txt", "e1"),
        candidate(&config, "job_2", "b.txt", "e2"),
        candidate(&config, "job_2", "c.txt", "e1"),
        candidate(&config, "job_2", "c.txt", "e9"),
    ];
    let outcomes = store.upsert_objects(&fence, second, true).await.unwrap();
    assert!(matches!(outcomes[0], UpsertOutcome::Unchanged { .. }));
    let UpsertOutcome::Updated(b) = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(b.version, 2);
    assert!(matches!(outcomes[2], UpsertOutcome::Created(_)));
    assert!(matches!(outcomes[3], UpsertOutcome::Updated(_)));

    let listed = store
        .list_objects(&config.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(keys(&listed.items), ["a.txt", "b.txt", "c.txt"]);
    assert_eq!(listed.total, 3);
    assert!(listed.items.iter().all(|o| o.last_seen_job_id == "job_2"));
    let prefixed = store
        .list_objects(
            &config.bucket_id,
            &ObjectFilter {
                sync_config_id: Some(config.sync_config_id.clone()),
                key_prefix: Some("b".into()),
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(keys(&prefixed.items), ["b.txt"]);
    assert_eq!(prefixed.total, 1);

    // skip_duplicates off rewrites unchanged objects as updates.
    let again = vec![candidate(&config, "job_3", "a.txt", "e1")];
    let outcomes = store.upsert_objects(&fence, again, false).await.unwrap();
    assert!(matches!(&outcomes[0], UpsertOutcome::Updated(o) if o.version == 2));
}

#[tokio::test]
async fn a_run_that_lost_its_lock_cannot_write() {
    let store = open().await;
    let (_, config) = setup(&store).await;
    let old = lock(&store, &config.sync_config_id, Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = lock(&store, &config.sync_config_id, MINUTE).await;
    assert!(new.token > old.token, "tokens only grow");
    assert!(!store.renew_lock(&old, MINUTE).await.unwrap());
    assert!(!store.release_lock(&old).await.unwrap());

    let stale = Fence::from(&old);
    let mut run = job(&config);
    store.create_job(&run).await.unwrap();
    run.status = JobStatus::InProgress;
    assert!(is_fenced(store.update_job(&run, Some(&stale)).await));
    assert!(is_fenced(
        store
            .upsert_objects(&stale, vec![candidate(&config, "j", "x", "e")], true)
            .await
    ));
    assert!(is_fenced(
        store
            .put_dead_letters(&stale, vec![dead_letter(&config, "x", 3, "j")])
            .await
    ));
    let batch = Batch {
        batch_id: new_id("batch"),
        bucket_id: config.bucket_id.clone(),
        sync_config_id: config.sync_config_id.clone(),
        sync_job_id: "j".into(),
        object_ids: vec![],
        status: "created".into(),
        created_at: now(),
    };
    assert!(is_fenced(store.create_batches(&stale, &[batch]).await));
    assert!(is_fenced(
        store.delete_objects_not_seen_by(&stale, "j").await
    ));
    // Nothing of it was stored.
    let listed = store
        .list_objects(&config.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(listed.total, 0);
    // The holder writes fine, and releases by compare-and-delete.
    store
        .update_job(&run, Some(&Fence::from(&new)))
        .await
        .unwrap();
    assert_eq!(
        store
            .current_lock(&config.sync_config_id)
            .await
            .unwrap()
            .map(|l| l.token),
        Some(new.token)
    );
    assert!(store.release_lock(&new).await.unwrap());
    assert_eq!(
        store.current_lock(&config.sync_config_id).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn finishing_a_run_is_atomic() {
    finishing_a_run_is_one_step(&open().await).await;
}

#[tokio::test]
async fn batches_mark_objects_and_are_announced_on_the_stream() {
    let store = open().await;
    let (_, config) = setup(&store).await;
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
    let outcomes = store
        .upsert_objects(
            &fence,
            (0..3)
                .map(|i| candidate(&config, "job_1", &format!("k{i}"), "e"))
                .collect(),
            true,
        )
        .await
        .unwrap();
    let ids: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            UpsertOutcome::Created(o) => o.object_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let batch = Batch {
        batch_id: new_id("batch"),
        bucket_id: config.bucket_id.clone(),
        sync_config_id: config.sync_config_id.clone(),
        sync_job_id: "job_1".into(),
        object_ids: ids.clone(),
        status: "created".into(),
        created_at: now(),
    };
    store
        .create_batches(&fence, std::slice::from_ref(&batch))
        .await
        .unwrap();
    let object = store
        .get_object(&config.bucket_id, &ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(object.batch_id.as_deref(), Some(batch.batch_id.as_str()));
    // Seen again: unchanged and known to be batched.
    let again = store
        .upsert_objects(&fence, vec![candidate(&config, "job_2", "k0", "e")], true)
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![UpsertOutcome::Unchanged {
            object_id: ids[0].clone(),
            batched: true
        }]
    );
    let listed = store
        .list_batches(
            &config.bucket_id,
            &BatchFilter {
                sync_job_id: Some("job_1".into()),
                ..BatchFilter::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(listed.items, vec![batch.clone()]);

    let mut connection = store.connection().await.unwrap();
    let entries: ::redis::streams::StreamRangeReply =
        connection.xrange_all(store.batch_stream()).await.unwrap();
    assert_eq!(entries.ids.len(), 1);
    let entry = &entries.ids[0];
    let field = |name: &str| -> String { ::redis::from_redis_value(&entry.map[name]).unwrap() };
    assert_eq!(field("batch_id"), batch.batch_id);
    assert_eq!(field("object_count"), "3");
    assert_eq!(
        serde_json::from_str::<Vec<String>>(&field("object_ids")).unwrap(),
        ids
    );
}

#[tokio::test]
async fn reconciliation_and_dead_letters() {
    let store = open().await;
    let (_, config) = setup(&store).await;
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
    store
        .upsert_objects(
            &fence,
            ["a", "b", "c"]
                .iter()
                .map(|k| candidate(&config, "job_1", k, "e"))
                .collect(),
            true,
        )
        .await
        .unwrap();
    store
        .upsert_objects(&fence, vec![candidate(&config, "job_2", "b", "e")], true)
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_objects_not_seen_by(&fence, "job_2")
            .await
            .unwrap(),
        2
    );
    let left = store
        .list_objects(&config.bucket_id, &ObjectFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(keys(&left.items), ["b"]);
    // The source index was cleared too: "a" comes back as new.
    let back = store
        .upsert_objects(&fence, vec![candidate(&config, "job_3", "a", "e")], true)
        .await
        .unwrap();
    assert!(matches!(back[0], UpsertOutcome::Created(_)));

    let first = dead_letter(&config, "x", 3, "job_1");
    store
        .put_dead_letters(&fence, vec![first.clone()])
        .await
        .unwrap();
    store
        .put_dead_letters(
            &fence,
            vec![
                dead_letter(&config, "x", 3, "job_2"),
                dead_letter(&config, "y", 3, "job_2"),
            ],
        )
        .await
        .unwrap();
    let listed = store
        .list_dead_letters(&config.sync_config_id, all())
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    let x = listed.items.iter().find(|e| e.key == "x").unwrap();
    assert_eq!(x.entry_id, first.entry_id, "keeps its id");
    assert_eq!(x.first_failed_at, first.first_failed_at);
    assert_eq!(x.sync_job_id, "job_2");
    store
        .remove_dead_letters(&fence, &["x".into()])
        .await
        .unwrap();
    let listed = store
        .list_dead_letters(&config.sync_config_id, all())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(store
        .delete_dead_letter(&config.sync_config_id, &listed.items[0].entry_id)
        .await
        .unwrap());
    assert_eq!(
        store
            .list_dead_letters(&config.sync_config_id, all())
            .await
            .unwrap()
            .total,
        0
    );
}

#[tokio::test]
async fn jobs_keep_cancel_requests_and_list_by_status() {
    let store = open().await;
    let (_, config) = setup(&store).await;
    let fence = Fence::from(&lock(&store, &config.sync_config_id, MINUTE).await);
    let mut run = job(&config);
    store.create_job(&run).await.unwrap();
    let canceled = store
        .modify_job(&run.sync_job_id, Box::new(|j| j.cancel_requested = true))
        .await
        .unwrap()
        .unwrap();
    assert!(canceled.cancel_requested);
    // A checkpoint written from an older copy does not undo it.
    run.status = JobStatus::InProgress;
    store.update_job(&run, Some(&fence)).await.unwrap();
    let stored = store.get_job(&run.sync_job_id).await.unwrap().unwrap();
    assert!(stored.cancel_requested);
    assert_eq!(stored.status, JobStatus::InProgress);

    let other = job(&config);
    store.create_job(&other).await.unwrap();
    let open_jobs = store
        .list_jobs_by_status(&[JobStatus::Pending, JobStatus::InProgress])
        .await
        .unwrap();
    assert_eq!(open_jobs.len(), 2);
    let pending = store
        .list_jobs_by_status(&[JobStatus::Pending])
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].sync_job_id, other.sync_job_id);
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
    assert_eq!(newest.total, 2);
    assert_eq!(newest.items[0].sync_job_id, other.sync_job_id);
}

#[tokio::test]
async fn concurrent_config_edits_are_never_lost() {
    let store = std::sync::Arc::new(open().await);
    let (bucket, config) = setup(&*store).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        let id = config.sync_config_id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .modify_sync_config(&id, Box::new(|c| c.sync_run_counter += 1))
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = store
        .get_sync_config(&config.sync_config_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sync_run_counter, 40);

    // Deleting the bucket removes what is in it.
    assert!(store.delete_bucket(&bucket.bucket_id).await.unwrap());
    assert_eq!(
        store.get_sync_config(&config.sync_config_id).await.unwrap(),
        None
    );
    assert!(store
        .list_sync_configs(&bucket.bucket_id)
        .await
        .unwrap()
        .is_empty());
}
