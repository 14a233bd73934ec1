//! Stage 5: grouping created and updated objects into batches of
//! `batch_chunk_size` for downstream processing. Full batches are stored as
//! soon as they fill; the last partial one at the end of the run.

use std::sync::Arc;

use crate::model::{new_id, now, Batch};
use crate::store::{Fence, Store, StoreResult};

pub struct Batcher {
    chunk: usize,
    bucket_id: String,
    sync_config_id: String,
    sync_job_id: String,
    pending: Vec<String>,
}

impl Batcher {
    pub fn new(chunk: u32, bucket_id: &str, sync_config_id: &str, sync_job_id: &str) -> Self {
        Self {
            chunk: chunk.max(1) as usize,
            bucket_id: bucket_id.to_string(),
            sync_config_id: sync_config_id.to_string(),
            sync_job_id: sync_job_id.to_string(),
            pending: Vec::new(),
        }
    }

    /// Restores ids that were waiting when the run was checkpointed.
    pub fn restore(&mut self, pending: Vec<String>) {
        self.pending = pending;
    }

    /// The job whose objects this batcher groups.
    pub fn job_id(&self) -> &String {
        &self.sync_job_id
    }

    /// Ids not yet in a stored batch (saved with each checkpoint).
    pub fn pending(&self) -> &[String] {
        &self.pending
    }

    pub fn push(&mut self, object_id: String) {
        self.pending.push(object_id);
    }

    /// Stores every full batch (in one write); returns how many were stored.
    pub async fn flush_full(&mut self, store: &Arc<dyn Store>, fence: &Fence) -> StoreResult<u64> {
        let full = self.pending.len() / self.chunk * self.chunk;
        let ids: Vec<String> = self.pending.drain(..full).collect();
        self.store_batches(store, fence, ids).await
    }

    /// Stores everything left, the last batch possibly partial.
    pub async fn flush_rest(&mut self, store: &Arc<dyn Store>, fence: &Fence) -> StoreResult<u64> {
        let ids = std::mem::take(&mut self.pending);
        self.store_batches(store, fence, ids).await
    }

    async fn store_batches(
        &self,
        store: &Arc<dyn Store>,
        fence: &Fence,
        ids: Vec<String>,
    ) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let batches: Vec<Batch> = ids
            .chunks(self.chunk)
            .map(|object_ids| Batch {
                batch_id: new_id("btch"),
                bucket_id: self.bucket_id.clone(),
                sync_config_id: self.sync_config_id.clone(),
                sync_job_id: self.sync_job_id.clone(),
                object_ids: object_ids.to_vec(),
                status: "PENDING".into(),
                created_at: now(),
            })
            .collect();
        store.create_batches(fence, &batches).await?;
        Ok(batches.len() as u64)
    }
}
