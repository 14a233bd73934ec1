//! What sync runs write: the per-config lock with its fencing tokens, jobs
//! and dead letters.

use std::time::Duration;

use redis::AsyncCommands;

use super::apply::{backend, with_retries, Change};
use super::keys::prefix_range;
use super::{bound, catalog, from_json, to_json, RedisStore};
use crate::model::{DlqEntry, JobStatus, LockLease, SyncJob, Timestamp};
use crate::store::{ConfigChange, Fence, JobChange, LockAttempt, PageRequest, Paged, StoreResult};

// Locks.

/// Takes the lock if free: the token comes from `INCR` (so it only grows),
/// the lease is `SET NX PX` in the same script.
const TRY_LOCK: &str = r#"
local lease = redis.call('GET', KEYS[1])
if lease then return {0, lease, redis.call('PTTL', KEYS[1])} end
local token = redis.call('INCR', KEYS[2])
lease = token .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], lease, 'NX', 'PX', ARGV[2])
return {1, lease, tonumber(ARGV[2])}
"#;

/// Extends the lease if it still carries the token (compare-and-pexpire).
const RENEW_LOCK: &str = r#"
local lease = redis.call('GET', KEYS[1])
if lease and string.match(lease, '^(%d+)|') == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Deletes the lease if it still carries the token (compare-and-delete).
const RELEASE_LOCK: &str = r#"
local lease = redis.call('GET', KEYS[1])
if lease and string.match(lease, '^(%d+)|') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

fn script(
    source: &'static str,
    cell: &'static std::sync::OnceLock<redis::Script>,
) -> &'static redis::Script {
    cell.get_or_init(|| redis::Script::new(source))
}

/// Reads a stored lease `token|job_id|worker_id|acquired_ms` with its TTL.
fn parse_lease(sync_config_id: &str, text: &str, ttl_ms: i64) -> StoreResult<LockLease> {
    let bad = || crate::store::StoreError::Backend(format!("malformed lock lease {text:?}"));
    let mut parts = text.splitn(4, '|');
    let token = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    let job_id = parts.next().ok_or_else(bad)?.to_owned();
    let worker_id = parts.next().ok_or_else(bad)?.to_owned();
    let acquired_ms: i64 = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    let now = chrono::Utc::now();
    Ok(LockLease {
        sync_config_id: sync_config_id.to_owned(),
        job_id,
        worker_id,
        token,
        acquired_at: Timestamp::from_timestamp_millis(acquired_ms).unwrap_or(now),
        expires_at: now + chrono::Duration::milliseconds(ttl_ms.max(0)),
    })
}

fn millis(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

pub(super) async fn try_lock(
    store: &RedisStore,
    sync_config_id: &str,
    job_id: &str,
    worker_id: &str,
    ttl: Duration,
) -> StoreResult<LockAttempt> {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    let owner = format!(
        "{job_id}|{worker_id}|{}",
        chrono::Utc::now().timestamp_millis()
    );
    let mut connection = store.connection().await?;
    let (acquired, lease, ttl_ms): (i64, String, i64) = script(TRY_LOCK, &SCRIPT)
        .key(store.keys.lock(sync_config_id))
        .key(store.keys.lock_tokens(sync_config_id))
        .arg(owner)
        .arg(millis(ttl))
        .invoke_async(&mut connection)
        .await
        .map_err(backend)?;
    let lease = parse_lease(sync_config_id, &lease, ttl_ms)?;
    Ok(if acquired == 1 {
        LockAttempt::Acquired(lease)
    } else {
        LockAttempt::HeldBy(lease)
    })
}

pub(super) async fn renew_lock(
    store: &RedisStore,
    lease: &LockLease,
    ttl: Duration,
) -> StoreResult<bool> {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    let mut connection = store.connection().await?;
    let renewed: i64 = script(RENEW_LOCK, &SCRIPT)
        .key(store.keys.lock(&lease.sync_config_id))
        .arg(lease.token)
        .arg(millis(ttl))
        .invoke_async(&mut connection)
        .await
        .map_err(backend)?;
    Ok(renewed == 1)
}

pub(super) async fn release_lock(store: &RedisStore, lease: &LockLease) -> StoreResult<bool> {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    let mut connection = store.connection().await?;
    let released: i64 = script(RELEASE_LOCK, &SCRIPT)
        .key(store.keys.lock(&lease.sync_config_id))
        .arg(lease.token)
        .invoke_async(&mut connection)
        .await
        .map_err(backend)?;
    Ok(released == 1)
}

pub(super) async fn current_lock(
    store: &RedisStore,
    sync_config_id: &str,
) -> StoreResult<Option<LockLease>> {
    let key = store.keys.lock(sync_config_id);
    let mut connection = store.connection().await?;
    let (lease, ttl_ms): (Option<String>, i64) = redis::pipe()
        .get(&key)
        .pttl(&key)
        .query_async(&mut connection)
        .await
        .map_err(backend)?;
    lease
        .map(|lease| parse_lease(sync_config_id, &lease, ttl_ms))
        .transpose()
}

// Jobs.

/// Adds the writes of `new` (replacing the stored `old`) to `change`: the
/// record, the status sets and the config's job list. A stored cancel
/// request is kept.
fn write_job(
    store: &RedisStore,
    change: &mut Change,
    old: Option<&str>,
    new: &SyncJob,
) -> StoreResult<()> {
    let jobs = store.keys.jobs();
    let mut new = new.clone();
    if let Some(old) = old {
        let old: SyncJob = from_json(old)?;
        new.cancel_requested |= old.cancel_requested;
        if old.status != new.status {
            change.command([
                "SREM",
                &store.keys.jobs_in_status(old.status.as_str()),
                &new.sync_job_id,
            ]);
        }
    }
    change
        .expect(&jobs, &new.sync_job_id, old)
        .command(["HSET", &jobs, &new.sync_job_id, &to_json(&new)?])
        .command([
            "SADD",
            &store.keys.jobs_in_status(new.status.as_str()),
            &new.sync_job_id,
        ])
        .command([
            "ZADD",
            &store.keys.config_jobs(&new.sync_config_id),
            "0",
            &new.sync_job_id,
        ]);
    Ok(())
}

pub(super) async fn put_job(
    store: &RedisStore,
    job: &SyncJob,
    fence: Option<&Fence>,
) -> StoreResult<()> {
    with_retries("write a job", || async move {
        let old = store.hget(&store.keys.jobs(), &job.sync_job_id).await?;
        let mut change = match fence {
            Some(fence) => Change::fenced(store.keys.lock(&fence.sync_config_id), fence),
            None => Change::new(),
        };
        write_job(store, &mut change, old.as_deref(), job)?;
        store.apply(&change).await
    })
    .await
}

/// The final job record, the config edit and the lease's release, as one
/// fenced script: the fence check makes the `DEL` a compare-and-delete.
pub(super) async fn finish_run(
    store: &RedisStore,
    job: &SyncJob,
    lease: &LockLease,
    edit: ConfigChange,
) -> StoreResult<()> {
    let edit = &edit;
    let lock_key = store.keys.lock(&lease.sync_config_id);
    let lock_key = &lock_key;
    with_retries("finish a run", || async move {
        let old_job = store.hget(&store.keys.jobs(), &job.sync_job_id).await?;
        let old_config = catalog::read_sync_config(store, &job.sync_config_id).await?;
        let mut change = Change::fenced(lock_key.clone(), &Fence::from(lease));
        write_job(store, &mut change, old_job.as_deref(), job)?;
        if let Some(old_config) = &old_config {
            let mut config = old_config.1.clone();
            edit(&mut config);
            catalog::write_sync_config(store, &mut change, Some(old_config), &config)?;
        }
        change.command(["DEL", lock_key]);
        store.apply(&change).await
    })
    .await
}

pub(super) async fn modify_job(
    store: &RedisStore,
    sync_job_id: &str,
    edit: JobChange,
) -> StoreResult<Option<SyncJob>> {
    let edit = &edit;
    with_retries("edit a job", || async move {
        let Some(old) = store.hget(&store.keys.jobs(), sync_job_id).await? else {
            return Ok(None);
        };
        let mut job: SyncJob = from_json(&old)?;
        edit(&mut job);
        let mut change = Change::new();
        write_job(store, &mut change, Some(&old), &job)?;
        store.apply(&change).await.map(|()| Some(job))
    })
    .await
}

/// Newest first.
pub(super) async fn list_jobs(
    store: &RedisStore,
    sync_config_id: &str,
    page: PageRequest,
) -> StoreResult<Paged<SyncJob>> {
    let key = store.keys.config_jobs(sync_config_id);
    let mut connection = store.connection().await?;
    let (total, ids): (u64, Vec<String>) = redis::pipe()
        .zcard(&key)
        .cmd("ZRANGE")
        .arg(&key)
        .arg(bound(page.offset))
        .arg(bound(page.offset.saturating_add(page.limit)).saturating_sub(1))
        .arg("REV")
        .query_async(&mut connection)
        .await
        .map_err(backend)?;
    let ids = if page.limit == 0 { Vec::new() } else { ids };
    let records = store.hmget(&store.keys.jobs(), &ids).await?;
    let items = records
        .iter()
        .flatten()
        .map(|text| from_json(text))
        .collect::<StoreResult<_>>()?;
    Ok(Paged { items, total })
}

/// Oldest first.
pub(super) async fn list_jobs_by_status(
    store: &RedisStore,
    statuses: &[JobStatus],
) -> StoreResult<Vec<SyncJob>> {
    let mut ids = Vec::new();
    let mut connection = store.connection().await?;
    for status in statuses {
        let members: Vec<String> = connection
            .smembers(store.keys.jobs_in_status(status.as_str()))
            .await
            .map_err(backend)?;
        ids.extend(members);
    }
    drop(connection);
    ids.sort();
    ids.dedup();
    let records = store.hmget(&store.keys.jobs(), &ids).await?;
    let mut jobs: Vec<SyncJob> = records
        .iter()
        .flatten()
        .map(|text| from_json(text))
        .collect::<StoreResult<_>>()?;
    // The sets are updated with the record, but filter in case of a reader
    // between two hosts' writes.
    jobs.retain(|job| statuses.contains(&job.status));
    jobs.sort_by(|a, b| (a.created_at, &a.sync_job_id).cmp(&(b.created_at, &b.sync_job_id)));
    Ok(jobs)
}

/// Removes a deleted config's jobs and dead letters (its record is gone already).
pub(super) async fn forget_config(store: &RedisStore, sync_config_id: &str) -> StoreResult<()> {
    let config_jobs = store.keys.config_jobs(sync_config_id);
    let mut connection = store.connection().await?;
    let ids: Vec<String> = connection
        .zrange(&config_jobs, 0, -1)
        .await
        .map_err(backend)?;
    drop(connection);
    for chunk in ids.chunks(500) {
        let records = store.hmget(&store.keys.jobs(), chunk).await?;
        let mut change = Change::new();
        for (id, record) in chunk.iter().zip(records) {
            if let Some(record) = record {
                let job: SyncJob = from_json(&record)?;
                change.command(["SREM", &store.keys.jobs_in_status(job.status.as_str()), id]);
            }
            change.command(["HDEL", &store.keys.jobs(), id]);
        }
        store.apply(&change).await.map_err(into_store_error)?;
    }
    let mut connection = store.connection().await?;
    let _: () = redis::pipe()
        .unlink(&config_jobs)
        .unlink(store.keys.dead_letters(sync_config_id))
        .unlink(store.keys.dead_letter_ids(sync_config_id))
        .unlink(store.keys.dead_letter_order(sync_config_id))
        .query_async(&mut connection)
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) fn into_store_error(error: super::ApplyError) -> crate::store::StoreError {
    match error {
        super::ApplyError::Store(e) => e,
        super::ApplyError::Conflict => backend("a concurrent write conflicted"),
    }
}

// Dead letters.

pub(super) async fn put_dead_letters(
    store: &RedisStore,
    fence: &Fence,
    entries: Vec<DlqEntry>,
) -> StoreResult<()> {
    let entries = &entries;
    with_retries("write dead letters", || async move {
        let sync_config_id = &fence.sync_config_id;
        let records = store.keys.dead_letters(sync_config_id);
        let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
        let existing = store.hmget(&records, &keys).await?;
        let mut change = Change::fenced(store.keys.lock(sync_config_id), fence);
        for (entry, old) in entries.iter().zip(existing) {
            let mut entry = entry.clone();
            change.expect(&records, &entry.key, old.as_deref());
            match &old {
                Some(old) => {
                    let old: DlqEntry = from_json(old)?;
                    entry.entry_id = old.entry_id;
                    entry.first_failed_at = old.first_failed_at;
                }
                None => {
                    change
                        .command([
                            "HSET",
                            &store.keys.dead_letter_ids(sync_config_id),
                            &entry.entry_id,
                            &entry.key,
                        ])
                        .command([
                            "ZADD",
                            &store.keys.dead_letter_order(sync_config_id),
                            "0",
                            &entry.entry_id,
                        ]);
                }
            }
            change.command(["HSET", &records, &entry.key, &to_json(&entry)?]);
        }
        store.apply(&change).await
    })
    .await
}

/// Adds the removal of a stored entry to `change`.
fn remove_entry(
    store: &RedisStore,
    change: &mut Change,
    sync_config_id: &str,
    stored: &str,
    entry: &DlqEntry,
) {
    change
        .expect(
            &store.keys.dead_letters(sync_config_id),
            &entry.key,
            Some(stored),
        )
        .command(["HDEL", &store.keys.dead_letters(sync_config_id), &entry.key])
        .command([
            "HDEL",
            &store.keys.dead_letter_ids(sync_config_id),
            &entry.entry_id,
        ])
        .command([
            "ZREM",
            &store.keys.dead_letter_order(sync_config_id),
            &entry.entry_id,
        ]);
}

pub(super) async fn remove_dead_letters(
    store: &RedisStore,
    fence: &Fence,
    keys: &[String],
) -> StoreResult<()> {
    with_retries("remove dead letters", || async move {
        let sync_config_id = &fence.sync_config_id;
        let existing = store
            .hmget(&store.keys.dead_letters(sync_config_id), keys)
            .await?;
        let mut change = Change::fenced(store.keys.lock(sync_config_id), fence);
        for stored in existing.iter().flatten() {
            let entry: DlqEntry = from_json(stored)?;
            remove_entry(store, &mut change, sync_config_id, stored, &entry);
        }
        store.apply(&change).await
    })
    .await
}

/// Oldest first (entry ids sort by creation).
pub(super) async fn list_dead_letters(
    store: &RedisStore,
    sync_config_id: &str,
    page: PageRequest,
) -> StoreResult<Paged<DlqEntry>> {
    let order = store.keys.dead_letter_order(sync_config_id);
    let (min, max) = prefix_range("");
    let mut connection = store.connection().await?;
    let (total, ids): (u64, Vec<String>) = redis::pipe()
        .zcard(&order)
        .cmd("ZRANGEBYLEX")
        .arg(&order)
        .arg(min)
        .arg(max)
        .arg("LIMIT")
        .arg(bound(page.offset))
        .arg(bound(page.limit))
        .query_async(&mut connection)
        .await
        .map_err(backend)?;
    drop(connection);
    let keys: Vec<String> = store
        .hmget(&store.keys.dead_letter_ids(sync_config_id), &ids)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let records = store
        .hmget(&store.keys.dead_letters(sync_config_id), &keys)
        .await?;
    let items = records
        .iter()
        .flatten()
        .map(|text| from_json(text))
        .collect::<StoreResult<_>>()?;
    Ok(Paged { items, total })
}

pub(super) async fn delete_dead_letter(
    store: &RedisStore,
    sync_config_id: &str,
    entry_id: &str,
) -> StoreResult<bool> {
    with_retries("delete a dead letter", || async move {
        let Some(key) = store
            .hget(&store.keys.dead_letter_ids(sync_config_id), entry_id)
            .await?
        else {
            return Ok(false);
        };
        let Some(stored) = store
            .hget(&store.keys.dead_letters(sync_config_id), &key)
            .await?
        else {
            return Ok(false);
        };
        let entry: DlqEntry = from_json(&stored)?;
        let mut change = Change::new();
        remove_entry(store, &mut change, sync_config_id, &stored, &entry);
        store.apply(&change).await.map(|()| true)
    })
    .await
}
