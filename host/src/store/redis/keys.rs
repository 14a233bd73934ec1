//! Every Redis key the store uses, in one place, all under the operator's
//! prefix so several deployments (or test runs) can share one Redis.
//!
//! Composite members of sorted sets join their parts with NUL, which sorts
//! before every other character: `key\0object_id` lists in key order and a
//! key prefix selects one lexicographic range.

/// Key names under a prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut out = self.prefix.clone();
        for part in parts {
            out.push(':');
            out.push_str(part);
        }
        out
    }

    // Catalog: one hash of records and one hash of unique names per kind.

    /// `namespace_id → Namespace`
    pub(crate) fn namespaces(&self) -> String {
        self.key(&["namespaces"])
    }
    /// `namespace_name → namespace_id`
    pub(crate) fn namespace_names(&self) -> String {
        self.key(&["namespace_names"])
    }
    /// `key_id → ApiKey`
    pub(crate) fn api_keys(&self) -> String {
        self.key(&["api_keys"])
    }
    /// `key_hash → key_id`
    pub(crate) fn api_key_hashes(&self) -> String {
        self.key(&["api_key_hashes"])
    }
    /// `connection_id → Connection` (provider config sealed)
    pub(crate) fn connections(&self) -> String {
        self.key(&["connections"])
    }
    /// `name → connection_id`
    pub(crate) fn connection_names(&self) -> String {
        self.key(&["connection_names"])
    }
    /// `bucket_id → Bucket`
    pub(crate) fn buckets(&self) -> String {
        self.key(&["buckets"])
    }
    /// `bucket_name → bucket_id`, one hash per namespace.
    pub(crate) fn bucket_names(&self, namespace_id: &str) -> String {
        self.key(&["bucket_names", namespace_id])
    }
    /// `sync_config_id → SyncConfig`
    pub(crate) fn sync_configs(&self) -> String {
        self.key(&["sync_configs"])
    }
    /// Sorted set of the bucket's sync config ids.
    pub(crate) fn bucket_sync_configs(&self, bucket_id: &str) -> String {
        self.key(&["bucket_sync_configs", bucket_id])
    }

    // Jobs.

    /// `sync_job_id → SyncJob`
    pub(crate) fn jobs(&self) -> String {
        self.key(&["jobs"])
    }
    /// Sorted set of a config's job ids (ids sort by creation).
    pub(crate) fn config_jobs(&self, sync_config_id: &str) -> String {
        self.key(&["config_jobs", sync_config_id])
    }
    /// Set of the ids of jobs in one status.
    pub(crate) fn jobs_in_status(&self, status: &str) -> String {
        self.key(&["jobs_in_status", status])
    }

    // Locks.

    /// The live lease: `token|job_id|worker_id|acquired_ms`, with a TTL.
    pub(crate) fn lock(&self, sync_config_id: &str) -> String {
        self.key(&["lock", sync_config_id])
    }
    /// The last fencing token issued (`INCR`); never deleted.
    pub(crate) fn lock_tokens(&self, sync_config_id: &str) -> String {
        self.key(&["lock_token", sync_config_id])
    }

    // Objects of a bucket.

    /// `object_id → Object` (without `batch_id` and `last_seen_job_id`).
    pub(crate) fn objects(&self, bucket_id: &str) -> String {
        self.key(&["objects", bucket_id])
    }
    /// Sorted set `key\0object_id`: the key-ordered listing.
    pub(crate) fn object_keys(&self, bucket_id: &str) -> String {
        self.key(&["object_keys", bucket_id])
    }
    /// `connection_id\0uri → object_id`: the dedup index.
    pub(crate) fn object_sources(&self, bucket_id: &str) -> String {
        self.key(&["object_sources", bucket_id])
    }
    /// `object_id → batch_id`
    pub(crate) fn object_batches(&self, bucket_id: &str) -> String {
        self.key(&["object_batches", bucket_id])
    }
    /// Sorted set `key\0object_id` of one config's objects.
    pub(crate) fn config_objects(&self, sync_config_id: &str) -> String {
        self.key(&["config_objects", sync_config_id])
    }
    /// `object_id → last_seen_job_id` of one config's objects.
    pub(crate) fn config_seen(&self, sync_config_id: &str) -> String {
        self.key(&["config_seen", sync_config_id])
    }

    // Batches of a bucket.

    /// `batch_id → Batch`
    pub(crate) fn batches(&self, bucket_id: &str) -> String {
        self.key(&["batches", bucket_id])
    }
    /// Sorted set of batch ids (ids sort by creation).
    pub(crate) fn batch_order(&self, bucket_id: &str) -> String {
        self.key(&["batch_order", bucket_id])
    }

    // Dead letters of a config.

    /// `key → DlqEntry`
    pub(crate) fn dead_letters(&self, sync_config_id: &str) -> String {
        self.key(&["dead_letters", sync_config_id])
    }
    /// `entry_id → key`
    pub(crate) fn dead_letter_ids(&self, sync_config_id: &str) -> String {
        self.key(&["dead_letter_ids", sync_config_id])
    }
    /// Sorted set of entry ids (ids sort by creation).
    pub(crate) fn dead_letter_order(&self, sync_config_id: &str) -> String {
        self.key(&["dead_letter_order", sync_config_id])
    }

    // Distributed job handling (used by the job queue and scheduler).

    /// The job stream every host consumes with one consumer group.
    pub(crate) fn job_stream(&self) -> String {
        self.key(&["job_queue"])
    }
    /// Jobs delivered too many times, with the reason.
    pub(crate) fn job_dead_letters(&self) -> String {
        self.key(&["job_queue", "dead"])
    }
    /// The default stream flushed batches are announced on.
    pub(crate) fn default_batch_stream(&self) -> String {
        self.key(&["batches"])
    }
}

/// A sorted-set member joining parts with NUL.
pub(crate) fn member(parts: &[&str]) -> String {
    parts.join("\0")
}

/// The lexicographic range (`ZRANGEBYLEX` min and max) of members starting
/// with `prefix`; `\u{ff}`-free UTF-8 never sorts past the `0xFF` bound.
pub(crate) fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let mut min = b"[".to_vec();
    min.extend_from_slice(prefix.as_bytes());
    let mut max = b"(".to_vec();
    max.extend_from_slice(prefix.as_bytes());
    max.push(0xff);
    (min, max)
}
