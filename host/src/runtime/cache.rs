//! Precompiled plugin artifacts on disk, keyed by the component's digest and
//! the engine's compatibility hash, so a restart does not recompile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::Component;
use wasmtime::Engine;

/// Where a component came from on load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    Compiled,
    FromCache,
}

/// A folder of `.cwasm` artifacts this process wrote.
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_hash: String,
    pub compiled: AtomicU64,
    pub hits: AtomicU64,
}

impl ArtifactCache {
    /// `dir = None` disables the disk cache (every load compiles).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
            compiled: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        })
    }

    fn artifact_path(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_hash)))
    }

    /// Loads the precompiled artifact for `digest`, or compiles `bytes` and
    /// stores the result.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let path = self.artifact_path(digest);
        if let Some(path) = path.as_deref().filter(|p| p.exists()) {
            // SAFETY: the artifact was written by `Engine::precompile_component`
            // of an engine with the same compatibility hash, into a folder only
            // this user can write, and its name carries the source's digest.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((component, CacheOutcome::FromCache));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "discarding unusable cached artifact: {e:#}")
                }
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = &path {
            if let Err(e) = write_atomically(path, &artifact) {
                tracing::warn!(path = %path.display(), "cannot cache compiled plugin: {e}");
            }
        }
        // SAFETY: the bytes were produced just above by this same engine.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        Ok((component, CacheOutcome::Compiled))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
