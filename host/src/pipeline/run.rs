//! The orchestration of one run: loads what it needs, drives the stages and
//! records the outcome. Each stage lives in its own module.

use std::sync::Arc;
use std::time::Instant;

use crate::app::App;
use crate::jobs::CancelFlag;
use crate::metrics::StatusLabel;
use crate::model::{
    now, Checkpoint, ErrorInfo, JobMetrics, JobStatus, SyncConfig, SyncJob, SyncMode,
};
use crate::runtime::contract::{FileEntry, ListRequest};
use crate::store::{ConfigChange, Fence, PageRequest, Store, StoreError, UpsertOutcome};

use super::batch::Batcher;
use super::create::{candidate, ObjectOrigin};
use super::list::spawn_listing;
use super::lock::{Acquired, LockGuard};
use super::retry::{escape_glob, retry_failures, DlqOrigin};

/// Entries the host asks a plugin for per page.
const PAGE_SIZE: u32 = 1000;
/// Tries of one store write before the run fails.
const WRITE_ATTEMPTS: u32 = 3;

/// Runs a queued job to its end. Never panics on bad data: every failure
/// ends the job `FAILED` with the reason. Returns whether the job's final
/// state is stored (`false`: the store could not be reached; the job stays
/// open and resumes from its checkpoint when delivered again).
pub async fn run_job(app: &App, sync_job_id: &str) -> bool {
    let job = match app.store.get_job(sync_job_id).await {
        Ok(Some(job)) if !job.status.is_final() => job,
        Ok(Some(_)) => return true, // canceled while queued, or already done
        Ok(None) => {
            tracing::warn!(sync_job_id, "queued job no longer exists");
            return true;
        }
        Err(e) => {
            tracing::error!(sync_job_id, "cannot load queued job: {e}");
            return false;
        }
    };
    let cancel = app.jobs.start(sync_job_id);
    let started = Instant::now();
    let finished = execute(app, job, &cancel).await;
    app.jobs.finish(sync_job_id);
    if let Some(job) = finished {
        app.metrics
            .jobs
            .get_or_create(&StatusLabel {
                status: job.status.as_str().to_string(),
            })
            .inc();
        app.metrics
            .run_duration_seconds
            .observe(started.elapsed().as_secs_f64());
        app.jobs.publish(&job);
        tracing::info!(
            sync_job_id,
            status = job.status.as_str(),
            created = job.metrics.objects_created,
            updated = job.metrics.objects_updated,
            skipped = job.metrics.duplicates_skipped,
            failed = job.metrics.files_failed,
            "sync job finished"
        );
        true
    } else {
        false
    }
}

/// Why a run stopped early.
enum Stop {
    Canceled,
    Failed(ErrorInfo),
}

fn failure(kind: &str, message: impl Into<String>) -> Stop {
    Stop::Failed(ErrorInfo {
        kind: kind.to_string(),
        message: message.into(),
    })
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Fenced { .. } => failure("lock_lost", e.to_string()),
            other => failure("store_error", other.to_string()),
        }
    }
}

/// Returns the job's final record, or `None` if it could not be recorded.
async fn execute(app: &App, mut job: SyncJob, cancel: &CancelFlag) -> Option<SyncJob> {
    let store = app.store.clone();
    let config = match store.get_sync_config(&job.sync_config_id).await {
        Ok(Some(config)) => config,
        Ok(None) => {
            return finish_unlocked(
                app,
                job,
                failure("not_found", "the sync configuration was deleted"),
            )
            .await
        }
        Err(e) => {
            // Left open: the job is delivered again once the store answers.
            tracing::error!(sync_job_id = %job.sync_job_id, "cannot load the sync configuration: {e}");
            return None;
        }
    };
    job.worker_id = Some(app.settings.worker_id.clone());
    let lock = match LockGuard::acquire(
        store.clone(),
        &config.sync_config_id,
        &job.sync_job_id,
        &app.settings.worker_id,
        app.settings.lock_ttl,
    )
    .await
    {
        Ok(Acquired::Held(lock)) => lock,
        Ok(Acquired::Busy(holder)) => {
            job.status = JobStatus::Skipped;
            job.skipped_because_of_job_id = Some(holder.job_id.clone());
            job.error = Some(ErrorInfo {
                kind: "locked".into(),
                message: format!(
                    "another run ({}) holds this sync configuration's lock",
                    holder.job_id
                ),
            });
            job.finished_at = Some(now());
            return record(app, job, None).await;
        }
        Err(e) => return finish_unlocked(app, job, e.into()).await,
    };
    // While this worker waited for the lock, a previous holder of this same
    // job (a stopped host) may have moved its checkpoint on: go on from the
    // stored record.
    match store.get_job(&job.sync_job_id).await {
        Ok(Some(stored)) if stored.status.is_final() => {
            lock.release().await;
            return Some(stored);
        }
        Ok(Some(stored)) => {
            job = SyncJob {
                worker_id: job.worker_id,
                ..stored
            };
        }
        Ok(None) => {
            lock.release().await;
            tracing::warn!(sync_job_id = %job.sync_job_id, "the job was deleted before it ran");
            return None;
        }
        Err(e) => {
            lock.release().await;
            tracing::error!(sync_job_id = %job.sync_job_id, "cannot reload the job: {e}");
            return None;
        }
    }
    let fence = lock.fence();
    let mut run = Run::new(app, &config, &job);
    let outcome = run.execute(&mut job, &config, &fence, cancel, &lock).await;
    run.conclude(job, outcome, lock).await
}

/// Records a failure that happened before the lock was taken.
async fn finish_unlocked(app: &App, mut job: SyncJob, stop: Stop) -> Option<SyncJob> {
    if let Stop::Failed(error) = stop {
        tracing::error!(sync_job_id = %job.sync_job_id, "sync job failed: {}", error.message);
        job.error = Some(error);
    }
    job.status = JobStatus::Failed;
    job.finished_at = Some(now());
    record(app, job, None).await
}

async fn record(app: &App, job: SyncJob, fence: Option<&Fence>) -> Option<SyncJob> {
    match app.store.update_job(&job, fence).await {
        Ok(()) => Some(job),
        Err(e) => {
            tracing::error!(sync_job_id = %job.sync_job_id, "cannot record the job's end: {e}");
            None
        }
    }
}

/// State of one run between pages.
struct Run<'a> {
    app: &'a App,
    store: Arc<dyn Store>,
    metrics: JobMetrics,
    batcher: Batcher,
    /// The job resumed from a checkpoint: objects its previous process wrote
    /// after that checkpoint show up as unchanged and must be recognised as
    /// its own. Those form a run of keys right after the cursor, so the
    /// check stops after the first page that holds none of them.
    resumed: bool,
    /// Objects of this job found as unchanged on the current page.
    own_found_on_page: bool,
    /// The failed job this one continues (its objects after the checkpoint
    /// count as this job's own, like a resume of the same job).
    continues_job_id: Option<String>,
    /// `max_objects_per_run` stopped the listing early.
    limit_reached: bool,
}

impl<'a> Run<'a> {
    fn new(app: &'a App, config: &SyncConfig, job: &SyncJob) -> Self {
        Self {
            app,
            store: app.store.clone(),
            metrics: JobMetrics::default(),
            batcher: Batcher::new(
                config.batch_chunk_size,
                &config.bucket_id,
                &config.sync_config_id,
                &job.sync_job_id,
            ),
            resumed: job.checkpoint.is_some(),
            own_found_on_page: false,
            continues_job_id: job.resumed_from_job_id.clone(),
            limit_reached: false,
        }
    }

    async fn execute(
        &mut self,
        job: &mut SyncJob,
        config: &SyncConfig,
        fence: &Fence,
        cancel: &CancelFlag,
        lock: &LockGuard,
    ) -> Result<(), Stop> {
        let connection = self
            .store
            .get_connection(&config.connection_id)
            .await?
            .ok_or_else(|| {
                failure(
                    "not_found",
                    format!("connection {} no longer exists", config.connection_id),
                )
            })?;
        let plugin = self
            .app
            .plugins
            .get(&connection.provider_type)
            .ok_or_else(|| {
                failure(
                    "unknown_provider",
                    format!(
                        "no installed plugin provides {:?}",
                        connection.provider_type
                    ),
                )
            })?;
        let policy = self
            .app
            .runtime
            .policy_for(&plugin, &connection.provider_config)
            .map_err(|e| failure(e.kind(), e.to_string()))?;

        // Start (or resume) the job.
        if let Some(checkpoint) = job.checkpoint.clone() {
            self.metrics = checkpoint.metrics;
            let pending = self
                .not_yet_batched(&config.bucket_id, checkpoint.pending_batch)
                .await?;
            self.batcher.restore(pending);
        } else {
            job.modified_since = self.watermark(job, config);
        }
        job.status = JobStatus::InProgress;
        job.worker_id = Some(self.app.settings.worker_id.clone());
        job.started_at.get_or_insert_with(now);
        self.store.update_job(job, Some(fence)).await?;
        self.app.jobs.publish(job);
        self.mark_config_running(config, job).await?;

        let mut request = ListRequest {
            config: connection.provider_config.clone(),
            source_path: config.source_path.clone(),
            filters: config.file_filters.clone(),
            modified_since: job.modified_since.map(|t| t.timestamp_millis()),
            resume_cursor: job.checkpoint.as_ref().and_then(|c| c.cursor.clone()),
            page_size_hint: PAGE_SIZE,
        };
        if let Some(keys) = &job.only_keys {
            request.filters.include_patterns = keys.iter().map(|k| escape_glob(k)).collect();
        }
        let job_id = job.sync_job_id.clone();
        let origin = ObjectOrigin {
            bucket_id: &config.bucket_id,
            provider_type: &connection.provider_type,
            connection_id: &connection.connection_id,
            sync_config_id: &config.sync_config_id,
            sync_job_id: &job_id,
        };
        let dlq_origin = DlqOrigin {
            bucket_id: &config.bucket_id,
            sync_config_id: &config.sync_config_id,
            sync_job_id: &job_id,
        };

        let mut dead_letters_exist = self
            .store
            .list_dead_letters(
                &config.sync_config_id,
                PageRequest {
                    offset: 0,
                    limit: 1,
                },
            )
            .await?
            .total
            > 0;
        let mut pages = spawn_listing(
            plugin.clone(),
            policy.clone(),
            request.clone(),
            self.app.metrics.clone(),
            self.app.settings.retry_base_delay,
        );
        while let Some(page) = pages.recv().await {
            if cancel.is_canceled() {
                return Err(Stop::Canceled);
            }
            if lock.is_lost() {
                return Err(failure(
                    "lock_lost",
                    "the sync lock was taken over by another run",
                ));
            }
            let page = page.map_err(|e| failure(e.kind(), e.to_string()))?;
            self.metrics.pages += 1;
            self.metrics.files_discovered += (page.entries.len() + page.failures.len()) as u64;
            self.metrics.files_filtered_out += page.filtered.total();
            self.app
                .metrics
                .files_listed
                .inc_by(page.entries.len() as u64);

            let mut succeeded = self
                .write_entries(&origin, config, fence, page.entries)
                .await?;
            if !page.failures.is_empty() && !self.limit_reached {
                let outcome = retry_failures(
                    &plugin,
                    &policy,
                    &request,
                    page.failures,
                    &dlq_origin,
                    self.app.settings.retry_base_delay,
                )
                .await;
                self.metrics.retries += outcome.retries;
                succeeded.extend(
                    self.write_entries(&origin, config, fence, outcome.recovered)
                        .await?,
                );
                if !outcome.dead.is_empty() {
                    dead_letters_exist = true;
                    self.metrics.files_failed += outcome.dead.len() as u64;
                    self.app
                        .metrics
                        .dlq_entries
                        .inc_by(outcome.dead.len() as u64);
                    self.store.put_dead_letters(fence, outcome.dead).await?;
                }
            }
            // Files that succeed now leave the dead-letter queue.
            if dead_letters_exist && !succeeded.is_empty() {
                self.store.remove_dead_letters(fence, &succeeded).await?;
            }
            let batches = self.batcher.flush_full(&self.store, fence).await?;
            self.count_batches(batches);

            if self.limit_reached {
                break;
            }
            self.checkpoint(job, fence, page.cursor).await?;
            if !std::mem::take(&mut self.own_found_on_page) {
                // Past what the previous process wrote: no more look-ups.
                self.resumed = false;
            }
        }
        let listed_everything =
            !self.limit_reached && job.only_keys.is_none() && job.modified_since.is_none();
        if config.reconcile_on_sync && listed_everything {
            self.metrics.objects_deleted += self
                .store
                .delete_objects_not_seen_by(fence, &job.sync_job_id)
                .await?;
        }
        let batches = self.batcher.flush_rest(&self.store, fence).await?;
        self.count_batches(batches);
        Ok(())
    }

    /// Files modified before this instant are left out of an incremental run.
    fn watermark(&self, job: &SyncJob, config: &SyncConfig) -> Option<crate::model::Timestamp> {
        if job.full_sync || job.only_keys.is_some() || config.reconcile_on_sync {
            return None;
        }
        let overlap =
            chrono::Duration::from_std(self.app.settings.incremental_overlap).unwrap_or_default();
        config.last_run_started_at.map(|t| t - overlap)
    }

    async fn mark_config_running(&self, config: &SyncConfig, job: &SyncJob) -> Result<(), Stop> {
        let job_id = job.sync_job_id.clone();
        let change = move |config: &mut SyncConfig| {
            // A resumed job is still the same run.
            if config.current_sync_run_id.as_deref() != Some(job_id.as_str()) {
                config.sync_run_counter += 1;
                config.current_sync_run_id = Some(job_id.clone());
                config.updated_at = now();
            }
        };
        self.store
            .modify_sync_config(&config.sync_config_id, Box::new(change))
            .await?;
        Ok(())
    }

    /// Upserts listed files (as many as `max_objects_per_run` still allows)
    /// and queues the created and updated ones for batching. Returns the keys
    /// written or found unchanged.
    async fn write_entries(
        &mut self,
        origin: &ObjectOrigin<'_>,
        config: &SyncConfig,
        fence: &Fence,
        entries: Vec<FileEntry>,
    ) -> Result<Vec<String>, Stop> {
        let mut done = Vec::with_capacity(entries.len());
        let mut rest = entries.as_slice();
        while !rest.is_empty() {
            let take = match config.max_objects_per_run {
                0 => rest.len(),
                limit => {
                    let written = self.metrics.objects_created + self.metrics.objects_updated;
                    if written >= limit {
                        self.limit_reached = true;
                        break;
                    }
                    ((limit - written) as usize).min(rest.len())
                }
            };
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            let candidates: Vec<_> = chunk.iter().map(|e| candidate(origin, e)).collect();
            let outcomes = self
                .upsert_with_retry(fence, candidates, config.skip_duplicates)
                .await?;
            for (entry, outcome) in chunk.iter().zip(outcomes) {
                self.count_outcome(&config.bucket_id, entry, outcome)
                    .await?;
                done.push(entry.key.clone());
            }
        }
        Ok(done)
    }

    async fn upsert_with_retry(
        &mut self,
        fence: &Fence,
        candidates: Vec<crate::model::Object>,
        skip_duplicates: bool,
    ) -> Result<Vec<UpsertOutcome>, Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .store
                .upsert_objects(fence, candidates.clone(), skip_duplicates)
                .await
            {
                Ok(outcomes) => return Ok(outcomes),
                Err(StoreError::Backend(message)) if attempt < WRITE_ATTEMPTS => {
                    self.metrics.retries += 1;
                    let delay = self.app.settings.retry_base_delay * 2u32.pow(attempt - 1);
                    tracing::warn!("object write failed ({message}); retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn count_outcome(
        &mut self,
        bucket_id: &str,
        entry: &FileEntry,
        outcome: UpsertOutcome,
    ) -> Result<(), Stop> {
        match outcome {
            UpsertOutcome::Created(object) => {
                self.metrics.objects_created += 1;
                self.metrics.bytes_synced += entry.size;
                self.app.metrics.objects_created.inc();
                self.batcher.push(object.object_id);
            }
            UpsertOutcome::Updated(object) => {
                self.metrics.objects_updated += 1;
                self.metrics.bytes_synced += entry.size;
                self.app.metrics.objects_updated.inc();
                self.batcher.push(object.object_id);
            }
            UpsertOutcome::Unchanged { object_id, batched } => {
                // After a resume, the page after the checkpoint is listed
                // again: what this job already wrote is its own work, not a
                // duplicate, and still needs a batch if it has none.
                if self.resumed {
                    if let Some(object) = self.store.get_object(bucket_id, &object_id).await? {
                        let own = object.sync_job_id == *self.batcher.job_id()
                            || self.continues_job_id.as_ref() == Some(&object.sync_job_id);
                        if own {
                            self.own_found_on_page = true;
                            if object.version == 1 {
                                self.metrics.objects_created += 1;
                            } else {
                                self.metrics.objects_updated += 1;
                            }
                            self.metrics.bytes_synced += entry.size;
                            if object.batch_id.is_none()
                                && !self.batcher.pending().contains(&object_id)
                            {
                                self.batcher.push(object_id);
                            }
                            return Ok(());
                        }
                    }
                }
                self.metrics.duplicates_skipped += 1;
                self.app.metrics.duplicates_skipped.inc();
                // Stored by a run that stopped before its batch was flushed
                // (it lost its lock, or failed): downstream has not seen it.
                if !batched && !self.batcher.pending().contains(&object_id) {
                    self.batcher.push(object_id);
                }
            }
        }
        Ok(())
    }

    /// Ids from a checkpoint that did not make it into a stored batch.
    async fn not_yet_batched(
        &self,
        bucket_id: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, Stop> {
        let mut pending = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(object) = self.store.get_object(bucket_id, &id).await? {
                if object.batch_id.is_none() {
                    pending.push(id);
                }
            }
        }
        Ok(pending)
    }

    fn count_batches(&mut self, batches: u64) {
        self.metrics.batches_created += batches;
        self.app.metrics.batches.inc_by(batches);
    }

    /// Saves where to resume and the counters so far; sees cancel requests
    /// made through the store (from any host).
    async fn checkpoint(
        &mut self,
        job: &mut SyncJob,
        fence: &Fence,
        cursor: Option<String>,
    ) -> Result<(), Stop> {
        if let Ok(Some(stored)) = self.store.get_job(&job.sync_job_id).await {
            if stored.cancel_requested {
                return Err(Stop::Canceled);
            }
        }
        job.metrics = self.metrics.clone();
        job.checkpoint = Some(Checkpoint {
            cursor,
            metrics: self.metrics.clone(),
            pending_batch: self.batcher.pending().to_vec(),
        });
        self.store.update_job(job, Some(fence)).await?;
        self.app.jobs.publish(job);
        Ok(())
    }

    /// Records the end of the run on the job and the config and releases the
    /// lock, in one store step.
    async fn conclude(
        mut self,
        mut job: SyncJob,
        outcome: Result<(), Stop>,
        lock: LockGuard,
    ) -> Option<SyncJob> {
        let finished = now();
        let started = job.started_at.unwrap_or(finished);
        self.metrics.duration_ms = (finished - started).num_milliseconds().max(0) as u64;
        job.metrics = self.metrics.clone();
        job.finished_at = Some(finished);
        job.status = match &outcome {
            Ok(()) if self.metrics.files_failed > 0 => JobStatus::CompletedWithErrors,
            Ok(()) => JobStatus::Completed,
            Err(Stop::Canceled) => JobStatus::Canceled,
            Err(Stop::Failed(error)) => {
                tracing::error!(sync_job_id = %job.sync_job_id, "sync job failed: {}", error.message);
                job.error = Some(error.clone());
                JobStatus::Failed
            }
        };
        if job.status != JobStatus::Failed {
            // A failed job keeps its checkpoint: it shows where the run stopped.
            job.checkpoint = None;
        }
        let lease = lock.into_lease();
        let totals = self.config_totals(&job);
        match self.store.finish_run(&job, &lease, totals).await {
            Ok(()) => Some(job),
            Err(e @ StoreError::Fenced { .. }) => {
                if let Ok(Some(holder)) = self.store.current_lock(&job.sync_config_id).await {
                    if holder.job_id == job.sync_job_id {
                        // This same job was taken over by another worker: it is theirs now.
                        tracing::warn!(sync_job_id = %job.sync_job_id, "the job was taken over by another worker");
                        return None;
                    }
                }
                // Another run holds the config now: this one's data writes are
                // refused, but its own job record is still its own to close.
                job.status = JobStatus::Failed;
                job.error = Some(ErrorInfo {
                    kind: "lock_lost".into(),
                    message: e.to_string(),
                });
                tracing::error!(sync_job_id = %job.sync_job_id, "sync job lost its lock: {e}");
                if let Err(e) = self.store.update_job(&job, None).await {
                    tracing::error!(sync_job_id = %job.sync_job_id, "cannot record the job's end: {e}");
                    return None;
                }
                // The config's totals belong to the run that holds the lock.
                Some(job)
            }
            Err(e) => {
                // Left open: the job is delivered again once the store answers.
                tracing::error!(sync_job_id = %job.sync_job_id, "cannot record the job's end: {e}");
                if let Err(e) = self.store.release_lock(&lease).await {
                    tracing::error!(sync_config_id = %lease.sync_config_id, "releasing the lock failed: {e}");
                }
                None
            }
        }
    }

    /// What the finished `job` adds to its config: totals, last and next run,
    /// failure count and, after a complete run, the incremental watermark.
    fn config_totals(&self, job: &SyncJob) -> ConfigChange {
        let job = job.clone();
        let moves_watermark = job.only_keys.is_none() && !self.limit_reached;
        Box::new(move |config: &mut SyncConfig| {
            let m = &job.metrics;
            let t = &mut config.totals;
            t.total_files_discovered += m.files_discovered;
            t.total_files_synced += m.objects_created + m.objects_updated;
            t.total_files_failed += m.files_failed;
            t.total_bytes_synced += m.bytes_synced;
            t.batches_created += m.batches_created;
            let finished = job.finished_at.unwrap_or_else(now);
            config.last_sync_at = Some(finished);
            config.current_sync_run_id = None;
            config.initial_run_done = true;
            config.next_sync_at = match config.sync_mode {
                SyncMode::Continuous => Some(
                    finished + chrono::Duration::seconds(config.polling_interval_seconds as i64),
                ),
                SyncMode::InitialOnly => None,
            };
            match job.status {
                JobStatus::Failed => {
                    config.consecutive_failures += 1;
                    config.last_error = job.error.as_ref().map(|e| e.message.clone());
                }
                _ => {
                    config.consecutive_failures = 0;
                    config.last_error = None;
                    // Only a run that saw every changed file moves the watermark.
                    if moves_watermark && job.status != JobStatus::Canceled {
                        config.last_run_started_at = job.started_at;
                    }
                }
            }
            config.updated_at = now();
        })
    }
}
