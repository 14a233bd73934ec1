//! Prometheus metrics of the process, rendered at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub plugin: String,
}

/// Every metric the host records.
pub struct Metrics {
    registry: Registry,
    pub jobs: Family<StatusLabel, Counter>,
    pub files_listed: Counter,
    pub objects_created: Counter,
    pub objects_updated: Counter,
    pub duplicates_skipped: Counter,
    pub dlq_entries: Counter,
    pub batches: Counter,
    pub run_duration_seconds: Histogram,
    pub plugin_call_seconds: Family<PluginLabel, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tributary");
        let jobs = Family::<StatusLabel, Counter>::default();
        let files_listed = Counter::default();
        let objects_created = Counter::default();
        let objects_updated = Counter::default();
        let duplicates_skipped = Counter::default();
        let dlq_entries = Counter::default();
        let batches = Counter::default();
        let run_duration_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 16));
        let plugin_call_seconds = Family::<PluginLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        registry.register(
            "jobs_finished",
            "Sync jobs that ended, by final status",
            jobs.clone(),
        );
        registry.register(
            "files_listed",
            "Files returned by plugin listings",
            files_listed.clone(),
        );
        registry.register(
            "objects_created",
            "Objects created",
            objects_created.clone(),
        );
        registry.register(
            "objects_updated",
            "Objects updated",
            objects_updated.clone(),
        );
        registry.register(
            "duplicates_skipped",
            "Unchanged files skipped",
            duplicates_skipped.clone(),
        );
        registry.register(
            "dlq_entries",
            "Files moved to the dead-letter queue",
            dlq_entries.clone(),
        );
        registry.register("batches", "Batches created", batches.clone());
        registry.register(
            "run_duration_seconds",
            "Duration of sync runs",
            run_duration_seconds.clone(),
        );
        registry.register(
            "plugin_call_seconds",
            "Duration of calls into plugins (one listing page each)",
            plugin_call_seconds.clone(),
        );
        Self {
            registry,
            jobs,
            files_listed,
            objects_created,
            objects_updated,
            duplicates_skipped,
            dlq_entries,
            batches,
            run_duration_seconds,
            plugin_call_seconds,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing metrics to a String cannot fail");
        out
    }
}
