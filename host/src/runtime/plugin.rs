//! A loaded plugin and the calls the rest of the host makes into it. Each call
//! runs in a fresh instance (or, for a listing, one instance for its whole
//! life) under a sandbox policy, with its budget and failures classified.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;
use wasmtime::{Engine, Store};

use super::bindings::{CallResult, Connector, ConnectorPre};
use super::cache::CacheOutcome;
use super::contract::{ListRequest, Page, ProviderInfo};
use super::error::PluginError;
use super::instance::HostState;
use super::sandbox::{SandboxLimits, SandboxPolicy};

/// Extra time an outer timeout gives a call beyond its budget, so the epoch
/// deadline (which names the cause precisely) normally fires first.
const OUTER_TIMEOUT_GRACE: Duration = Duration::from_secs(2);

/// A component that passed every load check.
pub struct Plugin {
    pub info: ProviderInfo,
    /// Hex SHA-256 of the component bytes.
    pub digest: String,
    /// The contract version the component implements.
    pub wit_version: String,
    pub source: Option<PathBuf>,
    pub size_bytes: u64,
    pub cache: CacheOutcome,
    pub(super) engine: Engine,
    pub(super) pre: ConnectorPre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.info.id)
            .field("version", &self.info.version)
            .field("digest", &self.digest)
            .finish()
    }
}

impl Plugin {
    pub fn id(&self) -> &str {
        &self.info.id
    }

    async fn instantiate(
        &self,
        policy: &SandboxPolicy,
    ) -> Result<(Store<HostState>, Connector), PluginError> {
        let mut store = HostState::new_store(&self.engine, self.id(), policy)
            .map_err(|e| PluginError::Sandbox(format!("cannot prepare the sandbox: {e:#}")))?;
        arm(&mut store, policy.limits.call_timeout);
        let connector = self
            .pre
            .instantiate(&mut store)
            .await
            .map_err(|e| classify_trap(&store, self.id(), &policy.limits, e))?;
        Ok((store, connector))
    }

    /// Asks the plugin to check a connection config against the provider.
    pub async fn validate(
        &self,
        config: &serde_json::Value,
        policy: &SandboxPolicy,
    ) -> Result<String, PluginError> {
        let (mut store, connector) = self.instantiate(policy).await?;
        let config = config.to_string();
        let limits = policy.limits;
        arm(&mut store, limits.call_timeout);
        let outcome = tokio::time::timeout(
            limits.call_timeout + OUTER_TIMEOUT_GRACE,
            connector.validate(&mut store, &config),
        )
        .await;
        settle(&store, self.id(), &limits, outcome)
    }

    /// Opens a listing; pages are then pulled one by one with
    /// [`Listing::next_page`], so memory stays flat however large the source.
    pub async fn open_listing(
        &self,
        request: &ListRequest,
        policy: &SandboxPolicy,
    ) -> Result<Listing, PluginError> {
        let (mut store, connector) = self.instantiate(policy).await?;
        let limits = policy.limits;
        arm(&mut store, limits.call_timeout);
        let outcome = tokio::time::timeout(
            limits.call_timeout + OUTER_TIMEOUT_GRACE,
            connector.open(&mut store, request),
        )
        .await;
        let resource = settle(&store, self.id(), &limits, outcome)?;
        Ok(Listing {
            plugin_id: self.id().to_string(),
            store,
            connector,
            resource: Some(resource),
            limits,
        })
    }
}

/// An open listing inside its own plugin instance.
pub struct Listing {
    plugin_id: String,
    store: Store<HostState>,
    connector: Connector,
    /// `None` once the listing ended or failed: the instance is not reused
    /// after a trap.
    resource: Option<ResourceAny>,
    limits: SandboxLimits,
}

impl Listing {
    /// The next page, `Ok(None)` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Page>, PluginError> {
        let Some(resource) = self.resource else {
            return Ok(None);
        };
        arm(&mut self.store, self.limits.call_timeout);
        let outcome = tokio::time::timeout(
            self.limits.call_timeout + OUTER_TIMEOUT_GRACE,
            self.connector.next_page(&mut self.store, resource),
        )
        .await;
        let result = settle(&self.store, &self.plugin_id, &self.limits, outcome);
        if !matches!(result, Ok(Some(_))) {
            self.resource = None;
        }
        result
    }
}

/// Starts a call's budget.
fn arm(store: &mut Store<HostState>, budget: Duration) {
    let state = store.data_mut();
    state.deadline = Instant::now() + budget;
    state.timed_out = false;
    store.set_epoch_deadline(1);
}

/// Turns a finished (or timed-out) call into the host's error vocabulary.
fn settle<T>(
    store: &Store<HostState>,
    plugin: &str,
    limits: &SandboxLimits,
    outcome: Result<CallResult<T>, tokio::time::error::Elapsed>,
) -> Result<T, PluginError> {
    match outcome {
        Err(_) => Err(PluginError::Timeout {
            plugin: plugin.to_string(),
            budget: limits.call_timeout,
        }),
        Ok(Err(trap)) => Err(classify_trap(store, plugin, limits, trap)),
        Ok(Ok(Err(connector_error))) => match store.data().http_denials().pop() {
            Some(reason) => Err(PluginError::HostNotAllowed {
                plugin: plugin.to_string(),
                reason,
            }),
            None => Err(PluginError::Connector(connector_error)),
        },
        Ok(Ok(Ok(value))) => Ok(value),
    }
}

fn classify_trap(
    store: &Store<HostState>,
    plugin: &str,
    limits: &SandboxLimits,
    error: wasmtime::Error,
) -> PluginError {
    let state = store.data();
    if state.timed_out {
        return PluginError::Timeout {
            plugin: plugin.to_string(),
            budget: limits.call_timeout,
        };
    }
    if state.memory.hit {
        return PluginError::MemoryLimit {
            plugin: plugin.to_string(),
            limit_mib: limits.memory_bytes >> 20,
        };
    }
    let mut message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    let stderr = state.stderr_tail();
    if !stderr.is_empty() {
        message = format!("{message}; plugin output: {stderr}");
    }
    PluginError::Trap {
        plugin: plugin.to_string(),
        message,
    }
}
