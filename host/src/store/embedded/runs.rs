//! What sync runs write: the per-config lock with its fencing tokens, jobs,
//! and dead letters.

use std::time::Duration;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::tables::*;
use crate::model::{now, DlqEntry, JobStatus, LockLease, SyncJob, Timestamp};
use crate::store::{Fence, LockAttempt, PageRequest, Paged, StoreError};

/// Passes only while the fence's token is the live lease of its config.
/// Called inside the write transaction it guards.
pub(super) fn check_fence(txn: &WriteTransaction, fence: &Fence) -> TxResult<()> {
    let locks = txn.open_table(LOCKS)?;
    let lease: Option<LockLease> = get_json(&locks, &fence.sync_config_id)?;
    match lease {
        Some(lease) if lease.token == fence.token && lease.expires_at >= now() => Ok(()),
        _ => Err(Fail::Store(StoreError::Fenced {
            sync_config_id: fence.sync_config_id.clone(),
            token: fence.token,
        })),
    }
}

fn expiry(from: Timestamp, ttl: Duration) -> Timestamp {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| from.checked_add_signed(ttl))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

pub(super) fn try_lock(
    txn: &WriteTransaction,
    sync_config_id: &str,
    job_id: &str,
    worker_id: &str,
    ttl: Duration,
) -> TxResult<LockAttempt> {
    let mut locks = txn.open_table(LOCKS)?;
    let at = now();
    if let Some(lease) = get_json::<_, LockLease>(&locks, sync_config_id)? {
        if lease.expires_at >= at {
            return Ok(LockAttempt::HeldBy(lease));
        }
    }
    let mut tokens = txn.open_table(LOCK_TOKENS)?;
    let token = tokens.get(sync_config_id)?.map_or(0, |t| t.value()) + 1;
    tokens.insert(sync_config_id, token)?;
    let lease = LockLease {
        sync_config_id: sync_config_id.to_owned(),
        job_id: job_id.to_owned(),
        worker_id: worker_id.to_owned(),
        token,
        acquired_at: at,
        expires_at: expiry(at, ttl),
    };
    put_json(&mut locks, sync_config_id, &lease)?;
    Ok(LockAttempt::Acquired(lease))
}

/// Extends the lease if it is still the stored one (same token and job), even
/// if it lapsed meanwhile: nobody took it over.
pub(super) fn renew_lock(
    txn: &WriteTransaction,
    lease: &LockLease,
    ttl: Duration,
) -> TxResult<bool> {
    let mut locks = txn.open_table(LOCKS)?;
    match get_json::<_, LockLease>(&locks, &lease.sync_config_id)? {
        Some(mut stored) if stored.token == lease.token && stored.job_id == lease.job_id => {
            stored.expires_at = expiry(now(), ttl);
            put_json(&mut locks, &lease.sync_config_id, &stored)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Compare-and-delete on the token.
pub(super) fn release_lock(txn: &WriteTransaction, lease: &LockLease) -> TxResult<bool> {
    let mut locks = txn.open_table(LOCKS)?;
    match get_json::<_, LockLease>(&locks, &lease.sync_config_id)? {
        Some(stored) if stored.token == lease.token => {
            locks.remove(lease.sync_config_id.as_str())?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The live lease; an expired one is nobody's.
pub(super) fn current_lock(
    txn: &ReadTransaction,
    sync_config_id: &str,
) -> TxResult<Option<LockLease>> {
    let lease: Option<LockLease> = get_json(&txn.open_table(LOCKS)?, sync_config_id)?;
    Ok(lease.filter(|lease| lease.expires_at >= now()))
}

fn status_key(status: JobStatus, sync_job_id: &str) -> String {
    key(&[status.as_str(), sync_job_id])
}

/// The number of jobs of a config: counted (once) when a store written
/// before [`JOB_COUNTS`] existed has no entry yet.
fn job_count<C, J>(counts: &C, jobs: &J, sync_config_id: &str) -> TxResult<u64>
where
    C: ReadableTable<&'static str, u64>,
    J: ReadableTable<&'static str, &'static [u8]>,
{
    if let Some(count) = counts.get(sync_config_id)? {
        return Ok(count.value());
    }
    let mut count = 0;
    scan(jobs, &prefix(&[sync_config_id]), false, |_, _| {
        count += 1;
        Ok(Flow::Continue)
    })?;
    Ok(count)
}

/// The job tables of a write transaction.
pub(super) struct JobTables<'txn> {
    jobs: RecordTable<'txn>,
    ids: RecordTable<'txn>,
    statuses: RecordTable<'txn>,
    counts: redb::Table<'txn, &'static str, u64>,
}

impl<'txn> JobTables<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> TxResult<Self> {
        Ok(Self {
            jobs: txn.open_table(JOBS)?,
            ids: txn.open_table(JOB_IDS)?,
            statuses: txn.open_table(JOB_STATUSES)?,
            counts: txn.open_table(JOB_COUNTS)?,
        })
    }

    /// Adds `delta` (±1) to the job count of a config.
    fn count(&mut self, sync_config_id: &str, delta: i64) -> TxResult<()> {
        let count = job_count(&self.counts, &self.jobs, sync_config_id)?;
        self.counts
            .insert(sync_config_id, count.saturating_add_signed(delta))?;
        Ok(())
    }

    /// Writes the whole job, moving its index entries if needed. A stored
    /// cancel request is kept.
    pub(super) fn put(&mut self, job: &SyncJob) -> TxResult<()> {
        let mut merged = None;
        let old_config = get_text(&self.ids, &job.sync_job_id)?;
        if old_config.as_deref() != Some(job.sync_config_id.as_str()) {
            // Counted before the write, while the scan fallback still sees
            // the config's jobs as they were.
            self.count(&job.sync_config_id, 1)?;
            if let Some(old_config) = &old_config {
                self.count(old_config, -1)?;
            }
        }
        if let Some(old_config) = old_config {
            let old_key = key(&[&old_config, &job.sync_job_id]);
            if let Some(old) = get_json::<_, SyncJob>(&self.jobs, &old_key)? {
                self.statuses
                    .remove(status_key(old.status, &old.sync_job_id).as_str())?;
                if old.cancel_requested && !job.cancel_requested {
                    merged = Some(SyncJob {
                        cancel_requested: true,
                        ..job.clone()
                    });
                }
            }
            if old_config != job.sync_config_id {
                self.jobs.remove(old_key.as_str())?;
            }
        }
        let job = merged.as_ref().unwrap_or(job);
        put_json(
            &mut self.jobs,
            &key(&[&job.sync_config_id, &job.sync_job_id]),
            job,
        )?;
        put_text(&mut self.ids, &job.sync_job_id, &job.sync_config_id)?;
        put_text(
            &mut self.statuses,
            &status_key(job.status, &job.sync_job_id),
            "",
        )
    }

    /// Removes every job of a config.
    pub(super) fn remove_config(&mut self, sync_config_id: &str) -> TxResult<u64> {
        let Self {
            jobs,
            ids,
            statuses,
            counts,
        } = self;
        counts.remove(sync_config_id)?;
        remove_prefix(jobs, &prefix(&[sync_config_id]), |_, value| {
            let job: SyncJob = from_json(value)?;
            ids.remove(job.sync_job_id.as_str())?;
            statuses.remove(status_key(job.status, &job.sync_job_id).as_str())?;
            Ok(())
        })
    }
}

pub(super) fn update_job(
    txn: &WriteTransaction,
    job: &SyncJob,
    fence: Option<&Fence>,
) -> TxResult<()> {
    if let Some(fence) = fence {
        check_fence(txn, fence)?;
    }
    JobTables::open(txn)?.put(job)
}

pub(super) fn modify_job(
    txn: &WriteTransaction,
    sync_job_id: &str,
    change: crate::store::JobChange,
) -> TxResult<Option<SyncJob>> {
    let mut tables = JobTables::open(txn)?;
    let Some(mut job) = load_job(&tables.jobs, &tables.ids, sync_job_id)? else {
        return Ok(None);
    };
    change(&mut job);
    tables.put(&job)?;
    Ok(Some(job))
}

fn load_job<T: ReadableTable<&'static str, &'static [u8]>>(
    jobs: &T,
    ids: &T,
    sync_job_id: &str,
) -> TxResult<Option<SyncJob>> {
    match get_text(ids, sync_job_id)? {
        Some(config) => get_json(jobs, &key(&[&config, sync_job_id])),
        None => Ok(None),
    }
}

pub(super) fn get_job(txn: &ReadTransaction, sync_job_id: &str) -> TxResult<Option<SyncJob>> {
    load_job(
        &txn.open_table(JOBS)?,
        &txn.open_table(JOB_IDS)?,
        sync_job_id,
    )
}

/// Newest first.
pub(super) fn list_jobs(
    txn: &ReadTransaction,
    sync_config_id: &str,
    request: PageRequest,
) -> TxResult<Paged<SyncJob>> {
    let jobs = txn.open_table(JOBS)?;
    let total = job_count(&txn.open_table(JOB_COUNTS)?, &jobs, sync_config_id)?;
    // Newest first: only as far as the window reaches.
    let (mut seen, mut items) = (0u64, Vec::new());
    scan(&jobs, &prefix(&[sync_config_id]), true, |_, value| {
        if seen >= request.offset.saturating_add(request.limit) {
            return Ok(Flow::Stop);
        }
        if seen >= request.offset {
            items.push(from_json(value)?);
        }
        seen += 1;
        Ok(Flow::Continue)
    })?;
    Ok(Paged { items, total })
}

/// Oldest first.
pub(super) fn list_jobs_by_status(
    txn: &ReadTransaction,
    statuses: &[JobStatus],
) -> TxResult<Vec<SyncJob>> {
    let index = txn.open_table(JOB_STATUSES)?;
    let jobs = txn.open_table(JOBS)?;
    let ids = txn.open_table(JOB_IDS)?;
    let mut found = Vec::new();
    for status in statuses {
        let scope = prefix(&[status.as_str()]);
        let mut job_ids = Vec::new();
        scan(&index, &scope, false, |index_key, _| {
            job_ids.push(index_key[scope.len()..].to_owned());
            Ok(Flow::Continue)
        })?;
        for job_id in job_ids {
            if let Some(job) = load_job(&jobs, &ids, &job_id)? {
                found.push(job);
            }
        }
    }
    found.sort_by(|a, b| (a.created_at, &a.sync_job_id).cmp(&(b.created_at, &b.sync_job_id)));
    found.dedup_by(|a, b| a.sync_job_id == b.sync_job_id);
    Ok(found)
}

/// The two dead-letter tables of a write transaction.
pub(super) struct DeadLetterTables<'txn> {
    entries: RecordTable<'txn>,
    ids: RecordTable<'txn>,
}

impl<'txn> DeadLetterTables<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> TxResult<Self> {
        Ok(Self {
            entries: txn.open_table(DEAD_LETTERS)?,
            ids: txn.open_table(DEAD_LETTER_IDS)?,
        })
    }

    /// Inserts, or updates keeping the existing id and `first_failed_at`.
    fn put(&mut self, mut entry: DlqEntry) -> TxResult<()> {
        let entry_key = key(&[&entry.sync_config_id, &entry.key]);
        match get_json::<_, DlqEntry>(&self.entries, &entry_key)? {
            Some(existing) => {
                entry.entry_id = existing.entry_id;
                entry.first_failed_at = existing.first_failed_at;
            }
            None => put_text(
                &mut self.ids,
                &key(&[&entry.sync_config_id, &entry.entry_id]),
                &entry.key,
            )?,
        }
        put_json(&mut self.entries, &entry_key, &entry)
    }

    /// Removes the entry of this key; `false` if there was none.
    fn remove_key(&mut self, sync_config_id: &str, entry_key: &str) -> TxResult<bool> {
        let record = key(&[sync_config_id, entry_key]);
        let Some(existing) = get_json::<_, DlqEntry>(&self.entries, &record)? else {
            return Ok(false);
        };
        self.entries.remove(record.as_str())?;
        self.ids
            .remove(key(&[sync_config_id, &existing.entry_id]).as_str())?;
        Ok(true)
    }

    /// Removes every entry of a config.
    pub(super) fn remove_config(&mut self, sync_config_id: &str) -> TxResult<u64> {
        let scope = prefix(&[sync_config_id]);
        remove_prefix(&mut self.ids, &scope, |_, _| Ok(()))?;
        remove_prefix(&mut self.entries, &scope, |_, _| Ok(()))
    }
}

pub(super) fn put_dead_letters(
    txn: &WriteTransaction,
    fence: &Fence,
    entries: Vec<DlqEntry>,
) -> TxResult<()> {
    check_fence(txn, fence)?;
    let mut tables = DeadLetterTables::open(txn)?;
    for entry in entries {
        tables.put(entry)?;
    }
    Ok(())
}

pub(super) fn remove_dead_letters(
    txn: &WriteTransaction,
    fence: &Fence,
    keys: &[String],
) -> TxResult<()> {
    check_fence(txn, fence)?;
    let mut tables = DeadLetterTables::open(txn)?;
    for entry_key in keys {
        tables.remove_key(&fence.sync_config_id, entry_key)?;
    }
    Ok(())
}

/// Oldest first (entry ids sort by creation).
pub(super) fn list_dead_letters(
    txn: &ReadTransaction,
    sync_config_id: &str,
    request: PageRequest,
) -> TxResult<Paged<DlqEntry>> {
    let entries = txn.open_table(DEAD_LETTERS)?;
    let (window, total) = page(
        &txn.open_table(DEAD_LETTER_IDS)?,
        &prefix(&[sync_config_id]),
        false,
        request.offset,
        request.limit,
    )?;
    let mut items = Vec::with_capacity(window.len());
    for (_, entry_key) in window {
        let record = key(&[sync_config_id, &text(&entry_key)?]);
        if let Some(entry) = get_json(&entries, &record)? {
            items.push(entry);
        }
    }
    Ok(Paged { items, total })
}

pub(super) fn delete_dead_letter(
    txn: &WriteTransaction,
    sync_config_id: &str,
    entry_id: &str,
) -> TxResult<bool> {
    let mut tables = DeadLetterTables::open(txn)?;
    match get_text(&tables.ids, &key(&[sync_config_id, entry_id]))? {
        Some(entry_key) => tables.remove_key(sync_config_id, &entry_key),
        None => Ok(false),
    }
}
