//! Turning bytes into a [`Plugin`]: check they are a well-formed component
//! before anything is compiled, compile (or load the cached artifact), check
//! the world and version, then read the plugin's self-description.

use sha2::{Digest, Sha256};

use super::bindings::{self, ConnectorPre};
use super::error::LoadError;
use super::instance::HostState;
use super::plugin::Plugin;
use super::sandbox::SandboxPolicy;
use super::Runtime;

impl Runtime {
    /// Loads one component. `source` is only used in messages and listings.
    pub async fn load(
        &self,
        bytes: &[u8],
        source: Option<std::path::PathBuf>,
    ) -> Result<Plugin, LoadError> {
        check_bytes(bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let (component, cache) = self
            .cache
            .load_or_compile(&self.engine, &digest, bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        match cache {
            super::cache::CacheOutcome::Compiled => {
                tracing::info!(digest = %&digest[..12], "compiled plugin component")
            }
            super::cache::CacheOutcome::FromCache => {
                tracing::info!(digest = %&digest[..12], "loaded precompiled plugin from cache")
            }
        }
        let version = bindings::exported_version(&component).map_err(LoadError::WrongWorld)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            LoadError::WrongWorld(format!(
                "the component imports something the host does not provide: {e:#}"
            ))
        })?;
        let pre = ConnectorPre::new(&version, instance_pre).map_err(|e| {
            if bindings::SUPPORTED_VERSIONS.contains(&version.as_str()) {
                LoadError::WrongWorld(e)
            } else {
                LoadError::UnsupportedVersion(e)
            }
        })?;

        let policy = SandboxPolicy::locked_down(self.limits);
        let mut store = HostState::new_store(&self.engine, "(loading)", &policy)
            .map_err(|e| LoadError::Describe(format!("{e:#}")))?;
        let info = async {
            let connector = pre.instantiate(&mut store).await?;
            connector.describe(&mut store).await
        };
        let info = tokio::time::timeout(self.limits.call_timeout, info)
            .await
            .map_err(|_| LoadError::Describe("it did not answer within its time budget".into()))?
            .map_err(|e| LoadError::Describe(format!("{e:#}")))?;
        check_provider_id(&info.id)?;

        Ok(Plugin {
            info,
            digest,
            wit_version: version,
            source,
            size_bytes: bytes.len() as u64,
            cache,
            engine: self.engine.clone(),
            pre,
        })
    }
}

/// Refuses anything that is not a valid component, with a message that says
/// what it is instead.
fn check_bytes(bytes: &[u8]) -> Result<(), LoadError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotAComponent(
            "not a WebAssembly file (it lacks the \\0asm header)".into(),
        ));
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(LoadError::NotAComponent(
            "a core WebAssembly module, not a component: build the plugin with `cargo build --target wasm32-wasip2` so the linker emits a component"
                .into(),
        ));
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(LoadError::NotAComponent(
            "an unknown WebAssembly encoding, not a component".into(),
        ));
    }
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .map_err(|e| LoadError::NotAComponent(format!("a malformed component: {e}")))?;
    Ok(())
}

fn check_provider_id(id: &str) -> Result<(), LoadError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(LoadError::InvalidInfo(format!(
            "provider id {id:?} must be 1-64 lowercase ASCII letters, digits or '_'"
        )))
    }
}
