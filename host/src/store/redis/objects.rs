//! Objects and batches: the idempotent page upsert, listings, reconciliation
//! and batch flushing (with its stream entry for downstream consumers).
//!
//! An object is its record plus index entries, always written together: the
//! key-ordered set, the dedup index on its source, the per-config set and
//! seen mark, and its batch. Its record is stored without `batch_id` and
//! `last_seen_job_id`, which live in their own hashes so that marking a page
//! seen or a batch flushed does not rewrite records.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::apply::{backend, with_retries, Change};
use super::keys::{member, prefix_range};
use super::{bound, from_json, to_json, RedisStore};
use crate::model::{Batch, Object, SyncConfig};
use crate::store::{
    BatchFilter, Fence, ObjectFilter, PageRequest, Paged, StoreResult, UpsertOutcome,
};

/// The dedup index field of an object: its connection and source URI.
fn source_field(object: &Object) -> String {
    member(&[&object.source.connection_id, &object.source.uri])
}

fn key_member(object: &Object) -> String {
    member(&[&object.key, &object.object_id])
}

/// The record as stored: without the fields kept in their own hashes.
fn stored_json(object: &Object) -> StoreResult<String> {
    let mut bare = object.clone();
    bare.batch_id = None;
    bare.last_seen_job_id = String::new();
    to_json(&bare)
}

/// Adds every write of `object` (its record and index entries) to `change`.
fn write(store: &RedisStore, change: &mut Change, object: &Object) -> StoreResult<()> {
    let keys = &store.keys;
    let bucket = &object.bucket_id;
    let config = &object.source.sync_config_id;
    change
        .command([
            "HSET",
            &keys.objects(bucket),
            &object.object_id,
            &stored_json(object)?,
        ])
        .command(["ZADD", &keys.object_keys(bucket), "0", &key_member(object)])
        .command([
            "HSET",
            &keys.object_sources(bucket),
            &source_field(object),
            &object.object_id,
        ])
        .command([
            "ZADD",
            &keys.config_objects(config),
            "0",
            &key_member(object),
        ])
        .command([
            "HSET",
            &keys.config_seen(config),
            &object.object_id,
            &object.last_seen_job_id,
        ]);
    Ok(())
}

/// Adds the removal of the index entries `stored` has and `replacement` (if
/// any) will not overwrite.
fn unindex(store: &RedisStore, change: &mut Change, stored: &Object, replacement: Option<&Object>) {
    let keys = &store.keys;
    let same_key = replacement.is_some_and(|r| r.key == stored.key);
    let same_config =
        replacement.is_some_and(|r| r.source.sync_config_id == stored.source.sync_config_id);
    if !same_key {
        change.command([
            "ZREM",
            &keys.object_keys(&stored.bucket_id),
            &key_member(stored),
        ]);
    }
    if !(same_key && same_config) {
        change.command([
            "ZREM",
            &keys.config_objects(&stored.source.sync_config_id),
            &key_member(stored),
        ]);
    }
    if !same_config {
        change.command([
            "HDEL",
            &keys.config_seen(&stored.source.sync_config_id),
            &stored.object_id,
        ]);
    }
    // A new version needs a new batch.
    change.command([
        "HDEL",
        &keys.object_batches(&stored.bucket_id),
        &stored.object_id,
    ]);
}

/// Adds the removal of `stored` and all its index entries; `source_owner` is
/// the object id its source currently points at.
fn remove(
    store: &RedisStore,
    change: &mut Change,
    stored: &Object,
    stored_text: &str,
    source_owner: Option<&str>,
) {
    let objects = store.keys.objects(&stored.bucket_id);
    change
        .expect(&objects, &stored.object_id, Some(stored_text))
        .command(["HDEL", &objects, &stored.object_id]);
    unindex(store, change, stored, None);
    if source_owner == Some(stored.object_id.as_str()) {
        let sources = store.keys.object_sources(&stored.bucket_id);
        change
            .expect(&sources, &source_field(stored), source_owner)
            .command(["HDEL", &sources, &source_field(stored)]);
    }
}

/// Stored records by id, with their text (the compare-and-set value).
async fn load_many(
    store: &RedisStore,
    bucket_id: &str,
    ids: &[String],
) -> StoreResult<HashMap<String, (String, Object)>> {
    let texts = store.hmget(&store.keys.objects(bucket_id), ids).await?;
    let mut found = HashMap::with_capacity(ids.len());
    for (id, text) in ids.iter().zip(texts) {
        if let Some(text) = text {
            let object: Object = from_json(&text)?;
            found.insert(id.clone(), (text, object));
        }
    }
    Ok(found)
}

pub(super) async fn upsert(
    store: &RedisStore,
    fence: &Fence,
    candidates: Vec<Object>,
    skip_duplicates: bool,
) -> StoreResult<Vec<UpsertOutcome>> {
    let Some(bucket_id) = candidates.first().map(|c| c.bucket_id.clone()) else {
        return Ok(Vec::new());
    };
    if let Some(other) = candidates.iter().find(|c| c.bucket_id != bucket_id) {
        return Err(backend(format!(
            "one upsert call holds objects of two buckets ({bucket_id}, {})",
            other.bucket_id
        )));
    }
    let (bucket_id, candidates) = (&bucket_id, &candidates);
    with_retries("upsert objects", || async move {
        let sources = store.keys.object_sources(bucket_id);
        let fields: Vec<String> = candidates.iter().map(source_field).collect();
        let owners = store.hmget(&sources, &fields).await?;
        let ids: Vec<String> = owners.iter().flatten().cloned().collect();
        let stored = load_many(store, bucket_id, &ids).await?;
        let batched: std::collections::HashSet<&String> = store
            .hmget(&store.keys.object_batches(bucket_id), &ids)
            .await?
            .iter()
            .zip(&ids)
            .filter_map(|(batch, id)| batch.as_ref().map(|_| id))
            .collect();

        let mut change = Change::fenced(store.keys.lock(&fence.sync_config_id), fence);
        // What this page has written so far, by source (a source listed twice
        // on one page is an update of the first).
        let mut current: HashMap<&str, Object> = HashMap::new();
        let mut checked = std::collections::HashSet::new();
        let mut outcomes = Vec::with_capacity(candidates.len());
        for ((candidate, field), owner) in candidates.iter().zip(&fields).zip(&owners) {
            let mut candidate = candidate.clone();
            candidate.last_seen_job_id = candidate.sync_job_id.clone();
            if checked.insert(field.as_str()) {
                change.expect(&sources, field, owner.as_deref());
                if let Some((text, _)) = owner.as_ref().and_then(|id| stored.get(id)) {
                    change.expect(
                        &store.keys.objects(bucket_id),
                        owner.as_deref().unwrap_or_default(),
                        Some(text),
                    );
                }
            }
            let existing = match current.get(field.as_str()) {
                Some(object) => Some(object.clone()),
                None => owner
                    .as_ref()
                    .and_then(|id| stored.get(id))
                    .map(|(_, o)| o.clone()),
            };
            let Some(existing) = existing else {
                write(store, &mut change, &candidate)?;
                current.insert(field, candidate.clone());
                outcomes.push(UpsertOutcome::Created(candidate));
                continue;
            };
            if skip_duplicates && existing.fingerprint() == candidate.fingerprint() {
                change.command([
                    "HSET",
                    &store.keys.config_seen(&existing.source.sync_config_id),
                    &existing.object_id,
                    &candidate.sync_job_id,
                ]);
                outcomes.push(UpsertOutcome::Unchanged {
                    batched: batched.contains(&existing.object_id),
                    object_id: existing.object_id,
                });
                continue;
            }
            let updated = Object {
                object_id: existing.object_id.clone(),
                created_at: existing.created_at,
                version: existing.version + 1,
                ..candidate
            };
            unindex(store, &mut change, &existing, Some(&updated));
            write(store, &mut change, &updated)?;
            current.insert(field, updated.clone());
            outcomes.push(UpsertOutcome::Updated(updated));
        }
        store.apply(&change).await.map(|()| outcomes)
    })
    .await
}

/// Fills in the fields kept outside the records.
async fn hydrate(store: &RedisStore, bucket_id: &str, ids: &[String]) -> StoreResult<Vec<Object>> {
    let mut stored = load_many(store, bucket_id, ids).await?;
    let batches = store
        .hmget(&store.keys.object_batches(bucket_id), ids)
        .await?;
    let mut objects = Vec::with_capacity(ids.len());
    let mut by_config: HashMap<String, Vec<usize>> = HashMap::new();
    for (id, batch) in ids.iter().zip(batches) {
        if let Some((_, mut object)) = stored.remove(id) {
            object.batch_id = batch;
            by_config
                .entry(object.source.sync_config_id.clone())
                .or_default()
                .push(objects.len());
            objects.push(object);
        }
    }
    for (config, positions) in by_config {
        let ids: Vec<String> = positions
            .iter()
            .map(|&i| objects[i].object_id.clone())
            .collect();
        let seen = store.hmget(&store.keys.config_seen(&config), &ids).await?;
        for (&i, seen) in positions.iter().zip(seen) {
            objects[i].last_seen_job_id = seen.unwrap_or_default();
        }
    }
    Ok(objects)
}

pub(super) async fn get(
    store: &RedisStore,
    bucket_id: &str,
    object_id: &str,
) -> StoreResult<Option<Object>> {
    Ok(hydrate(store, bucket_id, &[object_id.to_owned()])
        .await?
        .pop())
}

/// In key order, from the bucket's key set or the config's.
pub(super) async fn list(
    store: &RedisStore,
    bucket_id: &str,
    filter: &ObjectFilter,
    page: PageRequest,
) -> StoreResult<Paged<Object>> {
    let set = match &filter.sync_config_id {
        Some(config) => store.keys.config_objects(config),
        None => store.keys.object_keys(bucket_id),
    };
    let (min, max) = prefix_range(filter.key_prefix.as_deref().unwrap_or(""));
    let mut connection = store.connection().await?;
    let (total, members): (u64, Vec<String>) = redis::pipe()
        .cmd("ZLEXCOUNT")
        .arg(&set)
        .arg(&min)
        .arg(&max)
        .cmd("ZRANGEBYLEX")
        .arg(&set)
        .arg(&min)
        .arg(&max)
        .arg("LIMIT")
        .arg(bound(page.offset))
        .arg(bound(page.limit))
        .query_async(&mut connection)
        .await
        .map_err(backend)?;
    drop(connection);
    let ids: Vec<String> = members
        .iter()
        .filter_map(|m| m.rsplit_once('\0').map(|(_, id)| id.to_owned()))
        .collect();
    let mut items = hydrate(store, bucket_id, &ids).await?;
    // A config's set may name objects another config has since taken over.
    if let Some(config) = &filter.sync_config_id {
        items.retain(|o| o.source.sync_config_id == *config);
    }
    Ok(Paged { items, total })
}

pub(super) async fn delete(
    store: &RedisStore,
    bucket_id: &str,
    object_id: &str,
) -> StoreResult<bool> {
    with_retries("delete an object", || async move {
        let Some((text, object)) = load_many(store, bucket_id, &[object_id.to_owned()])
            .await?
            .remove(object_id)
        else {
            return Ok(false);
        };
        let owner = store
            .hget(
                &store.keys.object_sources(bucket_id),
                &source_field(&object),
            )
            .await?;
        let mut change = Change::new();
        remove(store, &mut change, &object, &text, owner.as_deref());
        store.apply(&change).await.map(|()| true)
    })
    .await
}

/// Reconciliation: removes the objects of the fence's config whose seen mark
/// is not `sync_job_id`, one fenced step per scanned chunk.
pub(super) async fn delete_not_seen_by(
    store: &RedisStore,
    fence: &Fence,
    sync_job_id: &str,
) -> StoreResult<u64> {
    let sync_config_id = &fence.sync_config_id;
    let Some(config) = store
        .get_json::<SyncConfig>(&store.keys.sync_configs(), sync_config_id)
        .await?
    else {
        return Ok(0);
    };
    // Refused up front when the fence is stale, even with nothing to delete.
    store
        .apply(&Change::fenced(store.keys.lock(sync_config_id), fence))
        .await
        .map_err(super::runs::into_store_error)?;
    let seen_key = store.keys.config_seen(sync_config_id);
    let mut deleted = 0u64;
    let mut cursor: u64 = 0;
    loop {
        let mut connection = store.connection().await?;
        let (next, pairs): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
            .arg(&seen_key)
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        drop(connection);
        let unseen: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(_, seen)| seen != sync_job_id)
            .collect();
        if !unseen.is_empty() {
            let (unseen, seen_key) = (&unseen, &seen_key);
            let bucket_id = &config.bucket_id;
            deleted += with_retries("reconcile objects", || async move {
                let ids: Vec<String> = unseen.iter().map(|(id, _)| id.clone()).collect();
                let seen_now = store.hmget(seen_key, &ids).await?;
                let stored = load_many(store, bucket_id, &ids).await?;
                let mut change = Change::fenced(store.keys.lock(sync_config_id), fence);
                let mut count = 0u64;
                for (id, seen) in ids.iter().zip(seen_now) {
                    let Some(seen) = seen.filter(|s| s != sync_job_id) else {
                        continue;
                    };
                    change.expect(seen_key, id, Some(&seen));
                    match stored.get(id) {
                        Some((text, object)) => {
                            let owner = store
                                .hget(&store.keys.object_sources(bucket_id), &source_field(object))
                                .await?;
                            remove(store, &mut change, object, text, owner.as_deref());
                            count += 1;
                        }
                        // A mark without its object: drop the mark.
                        None => {
                            change.command(["HDEL", seen_key, id]);
                        }
                    }
                }
                store.apply(&change).await.map(|()| count)
            })
            .await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Stores the batches, sets `batch_id` on their objects and announces each on
/// the batch stream, all in one fenced step.
pub(super) async fn create_batches(
    store: &RedisStore,
    fence: &Fence,
    batches: &[Batch],
) -> StoreResult<()> {
    if batches.is_empty() {
        return Ok(());
    }
    let mut change = Change::fenced(store.keys.lock(&fence.sync_config_id), fence);
    for batch in batches {
        let keys = &store.keys;
        change
            .command([
                "HSET",
                &keys.batches(&batch.bucket_id),
                &batch.batch_id,
                &to_json(batch)?,
            ])
            .command([
                "ZADD",
                &keys.batch_order(&batch.bucket_id),
                "0",
                &batch.batch_id,
            ]);
        for object_id in &batch.object_ids {
            change.command([
                "HSET",
                &keys.object_batches(&batch.bucket_id),
                object_id,
                &batch.batch_id,
            ]);
        }
        change.command(stream_entry(store.batch_stream(), batch)?);
    }
    store
        .apply(&change)
        .await
        .map_err(super::runs::into_store_error)
}

/// `XADD` of one batch; the fields are documented in docs/distributed.md.
fn stream_entry(stream: &str, batch: &Batch) -> StoreResult<Vec<String>> {
    Ok(vec![
        "XADD".into(),
        stream.into(),
        "*".into(),
        "batch_id".into(),
        batch.batch_id.clone(),
        "bucket_id".into(),
        batch.bucket_id.clone(),
        "sync_config_id".into(),
        batch.sync_config_id.clone(),
        "sync_job_id".into(),
        batch.sync_job_id.clone(),
        "object_count".into(),
        batch.object_ids.len().to_string(),
        "object_ids".into(),
        to_json(&batch.object_ids)?,
        "created_at".into(),
        batch.created_at.to_rfc3339(),
    ])
}

/// Oldest first (batch ids sort by creation).
pub(super) async fn list_batches(
    store: &RedisStore,
    bucket_id: &str,
    filter: &BatchFilter,
    page: PageRequest,
) -> StoreResult<Paged<Batch>> {
    let order = store.keys.batch_order(bucket_id);
    let records = store.keys.batches(bucket_id);
    let (min, max) = prefix_range("");
    if filter.sync_config_id.is_none() && filter.sync_job_id.is_none() {
        let mut connection = store.connection().await?;
        let (total, ids): (u64, Vec<String>) = redis::pipe()
            .zcard(&order)
            .cmd("ZRANGEBYLEX")
            .arg(&order)
            .arg(&min)
            .arg(&max)
            .arg("LIMIT")
            .arg(bound(page.offset))
            .arg(bound(page.limit))
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        drop(connection);
        let items = store
            .hmget(&records, &ids)
            .await?
            .iter()
            .flatten()
            .map(|text| from_json(text))
            .collect::<StoreResult<_>>()?;
        return Ok(Paged { items, total });
    }
    // Filtered: walk the bucket's batches in chunks.
    const CHUNK: u64 = 1000;
    let mut items = Vec::new();
    let mut total = 0u64;
    let mut offset = 0u64;
    loop {
        let mut connection = store.connection().await?;
        let ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(&order)
            .arg(&min)
            .arg(&max)
            .arg("LIMIT")
            .arg(offset)
            .arg(CHUNK)
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        drop(connection);
        for text in store.hmget(&records, &ids).await?.iter().flatten() {
            let batch: Batch = from_json(text)?;
            let matches = filter
                .sync_config_id
                .as_ref()
                .is_none_or(|id| *id == batch.sync_config_id)
                && filter
                    .sync_job_id
                    .as_ref()
                    .is_none_or(|id| *id == batch.sync_job_id);
            if matches {
                if total >= page.offset && total - page.offset < page.limit {
                    items.push(batch);
                }
                total += 1;
            }
        }
        if (ids.len() as u64) < CHUNK {
            return Ok(Paged { items, total });
        }
        offset += CHUNK;
    }
}

/// Drops every object and batch key of a deleted bucket.
pub(super) async fn forget_bucket(store: &RedisStore, bucket_id: &str) -> StoreResult<()> {
    let keys = &store.keys;
    let mut connection = store.connection().await?;
    let _: () = connection
        .unlink(&[
            keys.objects(bucket_id),
            keys.object_keys(bucket_id),
            keys.object_sources(bucket_id),
            keys.object_batches(bucket_id),
            keys.batches(bucket_id),
            keys.batch_order(bucket_id),
        ])
        .await
        .map_err(backend)?;
    Ok(())
}

/// Drops the per-config object sets of a config whose bucket is deleted.
pub(super) async fn forget_config(store: &RedisStore, sync_config_id: &str) -> StoreResult<()> {
    let mut connection = store.connection().await?;
    let _: () = connection
        .unlink(&[
            store.keys.config_objects(sync_config_id),
            store.keys.config_seen(sync_config_id),
        ])
        .await
        .map_err(backend)?;
    Ok(())
}
