//! `tributary serve`: the API, the job workers and the scheduler in one
//! process. Settings come from flags, then `TRIBUTARY_*` env vars, then a
//! TOML config file (`--config`), then defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::app::{App, Settings};
use crate::jobs::dispatch::{StreamDispatch, StreamSettings};
use crate::jobs::{self, JobQueue};
use crate::metrics::Metrics;
use crate::runtime::{PluginRegistry, Runtime, RuntimeConfig, SandboxLimits};
use crate::store::embedded::EmbeddedStore;
use crate::store::redis::{RedisSettings, RedisStore};
use crate::store::sealing::Sealer;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (flags and env vars win).
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TRIBUTARY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data folder: database, keys, compiled-plugin cache [default: ./data].
    #[arg(long, env = "TRIBUTARY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Folder of plugin components [default: ./plugins/dist].
    #[arg(long, env = "TRIBUTARY_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Concurrent sync runs [default: 4].
    #[arg(long, env = "TRIBUTARY_WORKERS")]
    workers: Option<usize>,
    /// Folder local-folder connections may read (repeatable; env var colon-separated).
    #[arg(
        long = "allow-local-root",
        env = "TRIBUTARY_ALLOW_LOCAL_ROOTS",
        value_delimiter = ':'
    )]
    allow_local_roots: Vec<PathBuf>,
    /// Redis URL for distributed mode (several hosts sharing one Redis);
    /// needs TRIBUTARY_SECRET_KEY, the same on every host.
    #[arg(long, env = "TRIBUTARY_REDIS_URL")]
    redis_url: Option<String>,
    /// Prefix of every Redis key [default: tributary].
    #[arg(long, env = "TRIBUTARY_REDIS_PREFIX")]
    redis_prefix: Option<String>,
    /// Redis stream every flushed batch is added to [default: <prefix>:batches].
    #[arg(long, env = "TRIBUTARY_BATCH_STREAM")]
    batch_stream: Option<String>,
    /// Seconds a running job's delivery may go without a keep-alive before
    /// another host takes it over (distributed mode) [default: 30].
    #[arg(long, env = "TRIBUTARY_JOB_RECLAIM_IDLE")]
    job_reclaim_idle: Option<f64>,
    /// Deliveries of one job before it is failed as undeliverable [default: 5].
    #[arg(long, env = "TRIBUTARY_MAX_JOB_DELIVERIES")]
    max_job_deliveries: Option<u64>,
    /// Seconds between scheduler passes [default: 5].
    #[arg(long, env = "TRIBUTARY_SCHEDULER_TICK")]
    scheduler_tick: Option<f64>,
    /// Wall-clock budget of one plugin call, in seconds [default: 60].
    #[arg(long, env = "TRIBUTARY_PLUGIN_CALL_TIMEOUT")]
    plugin_call_timeout: Option<f64>,
    /// Seconds a sync lock lives without a heartbeat [default: 30].
    #[arg(long, env = "TRIBUTARY_LOCK_TTL")]
    lock_ttl: Option<f64>,
}

/// The config file's shape: the same names as the flags, in snake case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    plugins_dir: Option<PathBuf>,
    workers: Option<usize>,
    #[serde(default)]
    allow_local_roots: Vec<PathBuf>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    batch_stream: Option<String>,
    job_reclaim_idle: Option<f64>,
    max_job_deliveries: Option<u64>,
    scheduler_tick: Option<f64>,
    plugin_call_timeout: Option<f64>,
    lock_ttl: Option<f64>,
}

/// Distributed mode's settings.
struct Distributed {
    redis: RedisSettings,
    reclaim_idle: Duration,
    max_deliveries: u64,
}

/// Settings after merging every source.
struct Resolved {
    listen: SocketAddr,
    data_dir: PathBuf,
    plugins_dir: PathBuf,
    workers: usize,
    allow_local_roots: Vec<PathBuf>,
    scheduler_tick: Duration,
    plugin_call_timeout: Duration,
    lock_ttl: Duration,
    distributed: Option<Distributed>,
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0,
        "{name} must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(value))
}

impl ServeArgs {
    fn resolve(self) -> anyhow::Result<Resolved> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let distributed = match self.redis_url.or(file.redis_url) {
            Some(url) => {
                let prefix = self
                    .redis_prefix
                    .or(file.redis_prefix)
                    .unwrap_or_else(|| "tributary".into());
                anyhow::ensure!(
                    !prefix.is_empty() && !prefix.contains(char::is_whitespace),
                    "redis_prefix must be a non-empty word without spaces"
                );
                let max_deliveries = self
                    .max_job_deliveries
                    .or(file.max_job_deliveries)
                    .unwrap_or(5);
                anyhow::ensure!(max_deliveries >= 1, "max_job_deliveries must be at least 1");
                let mut redis = RedisSettings::new(&url, &prefix);
                redis.batch_stream = self.batch_stream.or(file.batch_stream);
                Some(Distributed {
                    redis,
                    reclaim_idle: seconds(
                        "job_reclaim_idle",
                        self.job_reclaim_idle
                            .or(file.job_reclaim_idle)
                            .unwrap_or(30.0),
                    )?,
                    max_deliveries,
                })
            }
            None => None,
        };
        let workers = self.workers.or(file.workers).unwrap_or(4);
        anyhow::ensure!(
            (1..=256).contains(&workers),
            "--workers must be between 1 and 256"
        );
        Ok(Resolved {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid default")),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            plugins_dir: self
                .plugins_dir
                .or(file.plugins_dir)
                .unwrap_or_else(|| PathBuf::from("./plugins/dist")),
            workers,
            allow_local_roots: if self.allow_local_roots.is_empty() {
                file.allow_local_roots
            } else {
                self.allow_local_roots
            },
            scheduler_tick: seconds(
                "scheduler_tick",
                self.scheduler_tick.or(file.scheduler_tick).unwrap_or(5.0),
            )?,
            plugin_call_timeout: seconds(
                "plugin_call_timeout",
                self.plugin_call_timeout
                    .or(file.plugin_call_timeout)
                    .unwrap_or(60.0),
            )?,
            lock_ttl: seconds("lock_ttl", self.lock_ttl.or(file.lock_ttl).unwrap_or(30.0))?,
            distributed,
        })
    }

    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = self.resolve()?;
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data folder {}: {e}",
                settings.data_dir.display()
            )
        })?;
        std::fs::create_dir_all(&settings.plugins_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create plugins folder {}: {e}",
                settings.plugins_dir.display()
            )
        })?;

        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(settings.data_dir.join("plugin-cache")),
            limits: SandboxLimits {
                call_timeout: settings.plugin_call_timeout,
                ..SandboxLimits::default()
            },
            local_roots: settings.allow_local_roots.clone(),
        })?;
        let plugins = PluginRegistry::new();
        let refused = plugins.load_dir(&runtime, &settings.plugins_dir).await?;
        if plugins.list().is_empty() {
            tracing::warn!(
                dir = %settings.plugins_dir.display(),
                "no plugins loaded: build them with `just setup` (or upload one with POST /v1/plugins)"
            );
        }
        let secret_key = std::env::var("TRIBUTARY_SECRET_KEY").ok();
        let app_settings = Settings {
            plugins_dir: settings.plugins_dir.clone(),
            data_dir: settings.data_dir.clone(),
            lock_ttl: settings.lock_ttl,
            ..Settings::default()
        };
        let (store, jobs): (Arc<dyn Store>, JobQueue) = match &settings.distributed {
            None => {
                let sealer = Sealer::load_or_create(&settings.data_dir, secret_key.as_deref())?;
                let store = EmbeddedStore::open(&settings.data_dir.join("tributary.redb"), sealer)?;
                (Arc::new(store), JobQueue::default())
            }
            Some(distributed) => {
                let Some(secret_key) = secret_key else {
                    anyhow::bail!(
                        "distributed mode needs TRIBUTARY_SECRET_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), the same on every host, to seal connection secrets"
                    );
                };
                let sealer = Sealer::load_or_create(&settings.data_dir, Some(&secret_key))?;
                let mut redis = distributed.redis.clone();
                redis.pool_size = settings.workers * 2 + 16;
                let store = Arc::new(RedisStore::connect(&redis, sealer).await?);
                let dispatch = StreamDispatch::new(
                    store.pool().clone(),
                    StreamSettings {
                        stream: store.keys().job_stream(),
                        dead_letters: store.keys().job_dead_letters(),
                        group: "workers".into(),
                        consumer: app_settings.worker_id.clone(),
                        reclaim_idle: distributed.reclaim_idle,
                        max_deliveries: distributed.max_deliveries,
                    },
                    store.clone(),
                )
                .await?;
                tracing::info!(
                    prefix = %redis.prefix,
                    batch_stream = store.batch_stream(),
                    "distributed mode: store, job queue and locks on Redis"
                );
                (store, JobQueue::new(Arc::new(dispatch)))
            }
        };

        let app = App {
            store,
            runtime: Arc::new(runtime),
            plugins: Arc::new(plugins),
            jobs,
            metrics: Arc::new(Metrics::new()),
            settings: Arc::new(app_settings),
        };
        if let Some(secret) =
            crate::api::bootstrap(&app, std::env::var("TRIBUTARY_ADMIN_KEY").ok()).await?
        {
            println!(
                "Created the admin API key (shown once; also saved to {}):",
                settings.data_dir.join("admin.key").display()
            );
            println!("  {secret}");
        }
        let requeued = if settings.distributed.is_none() {
            jobs::recovery::requeue_unfinished(&app).await?
        } else {
            0 // the job stream's pending entries are taken over instead
        };
        jobs::workers::spawn(&app, settings.workers);
        tokio::spawn(jobs::scheduler::run(app.clone(), settings.scheduler_tick));

        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(
            %address,
            plugins = app.plugins.list().len(),
            refused = refused.len(),
            workers = settings.workers,
            requeued,
            "tributary is serving"
        );
        println!("Tributary listening on http://{address} (API docs at http://{address}/docs)");
        axum::serve(listener, crate::api::router(app))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        Ok(ExitCode::SUCCESS)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: unfinished jobs resume at the next start");
}
