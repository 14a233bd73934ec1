//! The `tributary` command line: argument definitions and dispatch. Each
//! subcommand group lives in its own module.

mod plugin;
mod serve;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::runtime::{Runtime, RuntimeConfig, SandboxLimits};

#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "Sync files from storage providers into buckets of objects"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: REST API, job workers and scheduler.
    Serve(serve::ServeArgs),
    /// Talk to a running server about sync runs.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Inspect, check and try connector plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Serve(args) => args.run().await,
            Command::Sync(cmd) => cmd.run().await,
            Command::Plugin(cmd) => cmd.run().await,
        }
    }
}

/// Where plugins and the compiled-plugin cache live; shared by commands that
/// load plugins.
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// Folder of plugin components (`*.wasm`) to load.
    #[arg(long, env = "TRIBUTARY_PLUGINS_DIR", default_value = "./plugins/dist")]
    pub plugins_dir: PathBuf,
    /// Data folder; compiled plugins are cached in its `plugin-cache/`.
    #[arg(long, env = "TRIBUTARY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Folder local-folder connections may read (repeatable; the env var is
    /// colon-separated).
    #[arg(
        long = "allow-local-root",
        env = "TRIBUTARY_ALLOW_LOCAL_ROOTS",
        value_delimiter = ':'
    )]
    pub allow_local_roots: Vec<PathBuf>,
    /// Wall-clock budget of one plugin call, in seconds.
    #[arg(long, env = "TRIBUTARY_PLUGIN_CALL_TIMEOUT", default_value_t = 60.0)]
    pub plugin_call_timeout: f64,
    /// Memory cap of one plugin instance, in MiB.
    #[arg(long, env = "TRIBUTARY_PLUGIN_MEMORY_MIB", default_value_t = 256)]
    pub plugin_memory_mib: usize,
}

impl RuntimeArgs {
    pub fn runtime(&self) -> anyhow::Result<Runtime> {
        anyhow::ensure!(
            self.plugin_call_timeout > 0.0 && self.plugin_call_timeout.is_finite(),
            "--plugin-call-timeout must be a positive number of seconds"
        );
        let limits = SandboxLimits {
            call_timeout: std::time::Duration::from_secs_f64(self.plugin_call_timeout),
            memory_bytes: self.plugin_memory_mib << 20,
            ..SandboxLimits::default()
        };
        Runtime::new(RuntimeConfig {
            cache_dir: Some(self.data_dir.join("plugin-cache")),
            limits,
            local_roots: self.allow_local_roots.clone(),
        })
    }
}

/// Logs go to stderr; `RUST_LOG` picks the level (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
