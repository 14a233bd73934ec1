//! The sandbox one plugin instance runs in, composed from independent
//! policies: outbound HTTP (and the client it goes out through), the
//! filesystem preopen, and resource limits.

pub mod fs_policy;
pub mod http_policy;
pub mod limits;
pub mod outbound;

use std::path::PathBuf;

pub use fs_policy::LocalRoots;
pub use http_policy::HttpPolicy;
pub use limits::SandboxLimits;
pub use outbound::OutboundClient;

use super::contract::{Capability, ProviderInfo};

/// Everything a plugin instance is allowed to do, decided before it starts.
#[derive(Debug, Clone, Default)]
pub struct SandboxPolicy {
    pub http: HttpPolicy,
    /// The connection pool allowed requests go out through.
    pub outbound: OutboundClient,
    /// Host folder mounted read-only at `/` inside the sandbox.
    pub local_root: Option<PathBuf>,
    pub limits: SandboxLimits,
}

impl SandboxPolicy {
    /// No network, no files: what `describe` runs with.
    pub fn locked_down(limits: SandboxLimits) -> Self {
        Self {
            http: HttpPolicy::deny_all(),
            outbound: OutboundClient::default(),
            local_root: None,
            limits,
        }
    }

    /// The policy for calls made on behalf of one connection: the plugin's
    /// declared hosts plus the connection's own `endpoint_url`, and its `root`
    /// folder if the plugin asked for local files and the operator allows it.
    pub fn for_connection(
        info: &ProviderInfo,
        config: &serde_json::Value,
        roots: &LocalRoots,
        outbound: &OutboundClient,
        limits: SandboxLimits,
    ) -> Result<Self, String> {
        let endpoint = match config.get("endpoint_url") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(url)) if url.is_empty() => None,
            Some(serde_json::Value::String(url)) => Some(url.as_str()),
            Some(_) => return Err("endpoint_url must be a string".into()),
        };
        let http = HttpPolicy::new(&info.allowed_hosts, endpoint)?;
        let local_root = if info.capabilities.contains(&Capability::ReadLocalFiles) {
            let root = config
                .get("root")
                .and_then(|r| r.as_str())
                .ok_or("provider_config.root (an absolute folder path) is required")?;
            Some(roots.resolve(root)?)
        } else {
            None
        };
        Ok(Self {
            http,
            outbound: outbound.clone(),
            local_root,
            limits,
        })
    }
}
