//! Why a plugin call or a plugin load failed, in terms an operator can act on.

use std::time::Duration;

use super::contract::ConnectorError;

/// A failed call into a plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The connector returned an error of its own.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("plugin {plugin} exceeded its time budget of {}s for one call", budget.as_secs_f64())]
    Timeout { plugin: String, budget: Duration },
    #[error("plugin {plugin} exceeded its memory limit of {limit_mib} MiB")]
    MemoryLimit { plugin: String, limit_mib: usize },
    #[error("plugin {plugin} tried to reach a host it is not allowed to call: {reason}")]
    HostNotAllowed { plugin: String, reason: String },
    #[error("plugin {plugin} crashed: {message}")]
    Trap { plugin: String, message: String },
    /// The sandbox could not be set up for this connection (e.g. a local root
    /// outside the allowed ones).
    #[error("{0}")]
    Sandbox(String),
    #[error("no plugin provides provider type {0:?}")]
    UnknownProvider(String),
}

impl PluginError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connector(e) => e.is_retryable(),
            Self::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Stable machine-readable name of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connector(e) => e.kind(),
            Self::Timeout { .. } => "plugin_timeout",
            Self::MemoryLimit { .. } => "plugin_memory_limit",
            Self::HostNotAllowed { .. } => "plugin_host_not_allowed",
            Self::Trap { .. } => "plugin_trap",
            Self::Sandbox(_) => "sandbox_refused",
            Self::UnknownProvider(_) => "unknown_provider",
        }
    }
}

/// Why a component was refused at load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    NotAComponent(String),
    #[error("{0}")]
    WrongWorld(String),
    #[error("{0}")]
    UnsupportedVersion(String),
    #[error("the component failed to compile: {0}")]
    Compile(String),
    #[error("the component's `describe` failed: {0}")]
    Describe(String),
    #[error("{0}")]
    InvalidInfo(String),
}
