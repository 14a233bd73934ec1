//! Running connector plugins: one engine, a cache of compiled components, the
//! sandbox each instance runs in, and the WIT bindings. The rest of the host
//! sees [`Runtime`], [`PluginRegistry`], [`Plugin`] and the `contract` types.

pub mod bindings;
pub mod cache;
pub mod contract;
pub mod engine;
pub mod error;
pub mod instance;
mod loader;
pub mod plugin;
pub mod registry;
pub mod sandbox;

use std::path::PathBuf;

use wasmtime::component::Linker;
use wasmtime::Engine;

pub use cache::CacheOutcome;
pub use error::{LoadError, PluginError};
pub use plugin::{Listing, Plugin};
pub use registry::PluginRegistry;
pub use sandbox::{LocalRoots, OutboundClient, SandboxLimits, SandboxPolicy};

use instance::HostState;

/// Settings of the plugin runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    pub limits: SandboxLimits,
    /// Folders local connections may read.
    pub local_roots: Vec<PathBuf>,
}

/// The shared machinery every plugin call goes through.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub cache: cache::ArtifactCache,
    pub limits: SandboxLimits,
    pub local_roots: LocalRoots,
    /// One connection pool for every plugin's outbound requests.
    outbound: OutboundClient,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let engine = engine::build(config.limits.memory_bytes)?;
        let mut linker = Linker::new(&engine);
        // WASI for what std needs (sockets stay denied by the context),
        // wasi:http for outbound requests, then the contract's own imports.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::add_to_linker(&mut linker)?;
        let cache = cache::ArtifactCache::new(&engine, config.cache_dir)?;
        Ok(Self {
            engine,
            linker,
            cache,
            limits: config.limits,
            local_roots: LocalRoots::new(config.local_roots),
            outbound: OutboundClient::new(),
        })
    }

    /// The sandbox for calls made with one connection's config.
    pub fn policy_for(
        &self,
        plugin: &Plugin,
        config: &serde_json::Value,
    ) -> Result<SandboxPolicy, PluginError> {
        SandboxPolicy::for_connection(
            &plugin.info,
            config,
            &self.local_roots,
            &self.outbound,
            self.limits,
        )
        .map_err(PluginError::Sandbox)
    }
}
