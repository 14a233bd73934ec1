//! The shared services of a running host, handed to the API, the job workers
//! and the scheduler. Built once by `tributary serve`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::jobs::JobQueue;
use crate::metrics::Metrics;
use crate::runtime::{PluginRegistry, Runtime};
use crate::store::Store;

/// Settings the services need at run time.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where uploaded plugins are written (and loaded from at start).
    pub plugins_dir: PathBuf,
    pub data_dir: PathBuf,
    /// This host's identity in locks and job records.
    pub worker_id: String,
    /// How long a run's lock lives without a heartbeat.
    pub lock_ttl: Duration,
    /// Incremental runs list files modified since the previous run's start
    /// minus this window (S3's LastModified is the upload's start).
    pub incremental_overlap: Duration,
    /// Pause between retries of a failed file: base of the exponential backoff.
    pub retry_base_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            plugins_dir: PathBuf::from("./plugins/dist"),
            data_dir: PathBuf::from("./data"),
            worker_id: format!("{}-{}", host_name(), std::process::id()),
            lock_ttl: Duration::from_secs(30),
            incremental_overlap: Duration::from_secs(300),
            retry_base_delay: Duration::from_millis(200),
        }
    }
}

/// Everything a request handler or a worker may use.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub runtime: Arc<Runtime>,
    pub plugins: Arc<PluginRegistry>,
    pub jobs: JobQueue,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
}

/// This machine's name, for worker ids that say where a job ran.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into())
}
