//! `tributary plugin …`: list installed plugins, inspect or validate a
//! component file, and list files through a plugin from the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{Subcommand, ValueEnum};

use super::RuntimeArgs;
use crate::runtime::contract::{FilteredCounts, Filters, ListRequest};
use crate::runtime::{Plugin, PluginRegistry, Runtime};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins in the plugins folder with their config schemas.
    List {
        #[command(flatten)]
        runtime: RuntimeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show what a component file declares: provider, versions, digest, schema.
    Inspect {
        file: PathBuf,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
    /// Check that a component file would be accepted by the host.
    Validate {
        file: PathBuf,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
    /// List files through a plugin, the way a sync run would, and print them.
    ListFiles {
        /// A provider id from the plugins folder, or a path to a `.wasm` file.
        provider: String,
        /// The connection's provider config, as JSON.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Where to list, in the provider's terms.
        #[arg(long, default_value = "")]
        source_path: String,
        /// File filters as JSON (`include_patterns`, `extensions`, …).
        #[arg(long, default_value = "{}")]
        filters: String,
        /// Only files modified at or after this instant (ms since the epoch).
        #[arg(long)]
        modified_since: Option<i64>,
        /// Entries per page to ask the plugin for.
        #[arg(long, default_value_t = 1000)]
        page_size: u32,
        /// What to print for each file.
        #[arg(long, value_enum, default_value_t = Output::Keys)]
        output: Output,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// One key per line.
    Keys,
    /// One JSON object per line.
    Json,
    /// Nothing but the summary.
    Summary,
}

impl PluginCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::List { runtime, json } => list(&runtime, json).await,
            Self::Inspect { file, runtime } => {
                let runtime = runtime.runtime()?;
                let plugin = load_file(&runtime, &file).await?;
                println!("{}", serde_json::to_string_pretty(&describe(&plugin))?);
                Ok(ExitCode::SUCCESS)
            }
            Self::Validate { file, runtime } => {
                let runtime = runtime.runtime()?;
                match runtime.load(&read(&file)?, Some(file.clone())).await {
                    Ok(plugin) => {
                        println!(
                            "ok: {} is provider {:?} version {}, implementing tributary:connector@{}",
                            file.display(),
                            plugin.info.id,
                            plugin.info.version,
                            plugin.wit_version
                        );
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => {
                        println!("refused: {}: {e}", file.display());
                        Ok(ExitCode::FAILURE)
                    }
                }
            }
            Self::ListFiles {
                provider,
                config,
                source_path,
                filters,
                modified_since,
                page_size,
                output,
                runtime,
            } => {
                let request = ListRequest {
                    config: parse_json("--config", &config)?,
                    source_path,
                    filters: serde_json::from_str::<Filters>(&filters)
                        .map_err(|e| anyhow::anyhow!("--filters is not valid: {e}"))?,
                    modified_since,
                    resume_cursor: None,
                    page_size_hint: page_size,
                };
                list_files(&runtime, &provider, &request, output).await
            }
        }
    }
}

async fn list(args: &RuntimeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = args.runtime()?;
    let registry = PluginRegistry::new();
    let refused = registry.load_dir(&runtime, &args.plugins_dir).await?;
    let plugins = registry.list();
    if json {
        let all: Vec<_> = plugins.iter().map(|p| describe(p)).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for plugin in &plugins {
            let info = &plugin.info;
            println!(
                "{}  {}  {}  (tributary:connector@{}, sha256 {}…)",
                info.id,
                info.version,
                info.name,
                plugin.wit_version,
                &plugin.digest[..12]
            );
            if !info.capabilities.is_empty() {
                println!(
                    "  capabilities: {}",
                    serde_json::to_string(&info.capabilities)?
                );
            }
            if !info.allowed_hosts.is_empty() {
                println!("  allowed hosts: {}", info.allowed_hosts.join(", "));
            }
            println!("  config schema: {}", info.config_schema);
        }
    }
    for refusal in &refused {
        eprintln!("refused: {}: {}", refusal.path.display(), refusal.error);
    }
    eprintln!(
        "{} plugins loaded from {} ({} compiled, {} from cache), {} refused",
        plugins.len(),
        args.plugins_dir.display(),
        runtime.cache.compiled.load(Ordering::Relaxed),
        runtime.cache.hits.load(Ordering::Relaxed),
        refused.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn list_files(
    args: &RuntimeArgs,
    provider: &str,
    request: &ListRequest,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let runtime = args.runtime()?;
    let plugin = if provider.ends_with(".wasm") {
        load_file(&runtime, provider.as_ref()).await?
    } else {
        let registry = PluginRegistry::new();
        registry.load_dir(&runtime, &args.plugins_dir).await?;
        registry.get(provider).ok_or_else(|| {
            anyhow::anyhow!(
                "no plugin provides {provider:?} in {}",
                args.plugins_dir.display()
            )
        })?
    };
    let policy = runtime.policy_for(&plugin, &request.config)?;
    let mut listing = plugin.open_listing(request, &policy).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut files, mut failures, mut pages) = (0u64, 0u64, 0u64);
    let mut filtered = FilteredCounts::default();
    while let Some(page) = listing.next_page().await? {
        pages += 1;
        files += page.entries.len() as u64;
        failures += page.failures.len() as u64;
        filtered.add(&page.filtered);
        for entry in &page.entries {
            match output {
                Output::Keys => writeln!(out, "{}", entry.key)?,
                Output::Json => writeln!(out, "{}", serde_json::to_string(entry)?)?,
                Output::Summary => {}
            }
        }
        for failure in &page.failures {
            eprintln!("failed: {}: {}", failure.key, failure.error);
        }
    }
    out.flush()?;
    eprintln!(
        "listed {files} files in {pages} pages; {} filtered out, {failures} failed; peak RSS {} KiB",
        filtered.total(),
        peak_rss_kib().map_or("unknown".into(), |k| k.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

fn describe(plugin: &Plugin) -> serde_json::Value {
    serde_json::json!({
        "provider_id": plugin.info.id,
        "name": plugin.info.name,
        "version": plugin.info.version,
        "wit_version": plugin.wit_version,
        "sha256": plugin.digest,
        "size_bytes": plugin.size_bytes,
        "capabilities": plugin.info.capabilities,
        "allowed_hosts": plugin.info.allowed_hosts,
        "config_schema": plugin.info.config_schema,
        "source": plugin.source,
        "cache": plugin.cache,
    })
}

fn read(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))
}

async fn load_file(
    runtime: &Runtime,
    file: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<Plugin>> {
    let plugin = runtime
        .load(&read(file)?, Some(file.to_path_buf()))
        .await
        .map_err(|e| anyhow::anyhow!("{} was refused: {e}", file.display()))?;
    Ok(std::sync::Arc::new(plugin))
}

fn parse_json(flag: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{flag} is not valid JSON: {e}"))
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
