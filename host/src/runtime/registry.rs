//! The installed plugins, by provider id: loaded from a folder at start and
//! added at run time (API upload) without a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::error::LoadError;
use super::plugin::Plugin;
use super::Runtime;

/// A component that was refused at load.
#[derive(Debug)]
pub struct Refusal {
    pub path: PathBuf,
    pub error: LoadError,
}

/// All plugins available to this host.
pub struct PluginRegistry {
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
}

impl PluginRegistry {
    pub fn new() -> Self {
        Self {
            plugins: RwLock::new(BTreeMap::new()),
        }
    }

    /// Loads every `*.wasm` in `dir` (sorted by name). Refused components are
    /// reported, not fatal: one broken plugin must not stop the others.
    pub async fn load_dir(&self, runtime: &Runtime, dir: &Path) -> anyhow::Result<Vec<Refusal>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read plugins folder {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "wasm"))
            .collect();
        paths.sort();
        let mut refused = Vec::new();
        for path in paths {
            match self.load_file(runtime, &path).await {
                Ok(plugin) => tracing::info!(
                    plugin = plugin.id(),
                    version = %plugin.info.version,
                    wit = %plugin.wit_version,
                    path = %path.display(),
                    "plugin loaded"
                ),
                Err(error) => {
                    tracing::error!(path = %path.display(), "plugin refused: {error}");
                    refused.push(Refusal { path, error });
                }
            }
        }
        Ok(refused)
    }

    /// Loads one component file and installs it.
    pub async fn load_file(
        &self,
        runtime: &Runtime,
        path: &Path,
    ) -> Result<Arc<Plugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let plugin = runtime.load(&bytes, Some(path.to_path_buf())).await?;
        Ok(self.insert(plugin))
    }

    /// Installs a loaded plugin, replacing any with the same provider id.
    pub fn insert(&self, plugin: Plugin) -> Arc<Plugin> {
        let plugin = Arc::new(plugin);
        let previous = self
            .plugins
            .write()
            .expect("registry lock")
            .insert(plugin.id().to_string(), plugin.clone());
        if let Some(previous) = previous {
            if previous.digest != plugin.digest {
                tracing::info!(plugin = plugin.id(), "plugin replaced by a new version");
            }
        }
        plugin
    }

    pub fn get(&self, provider_id: &str) -> Option<Arc<Plugin>> {
        self.plugins
            .read()
            .expect("registry lock")
            .get(provider_id)
            .cloned()
    }

    /// Every plugin, sorted by provider id.
    pub fn list(&self) -> Vec<Arc<Plugin>> {
        self.plugins
            .read()
            .expect("registry lock")
            .values()
            .cloned()
            .collect()
    }
}

impl Default for PluginRegistry {
    fn default() -> Self {
        Self::new()
    }
}
