//! Filesystem policy: the one read-only folder a `read-local-files` plugin may
//! see, and only when it lies under a root the operator allowed.

use std::path::{Path, PathBuf};

/// The folders an operator allowed local connections to read (`--allow-local-root`).
#[derive(Debug, Clone, Default)]
pub struct LocalRoots {
    roots: Vec<PathBuf>,
}

impl LocalRoots {
    /// Canonicalises each allowed root; a root that does not exist is skipped
    /// with a warning, since nothing under it could be read anyway.
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        let roots = roots
            .into_iter()
            .filter_map(|root| match root.canonicalize() {
                Ok(path) => Some(path),
                Err(e) => {
                    tracing::warn!(root = %root.display(), "allowed local root is unusable: {e}");
                    None
                }
            })
            .collect();
        Self { roots }
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Resolves a connection's `root` to a canonical folder under an allowed
    /// root, or says why not. Symlinks are resolved first, so a link cannot
    /// lead outside.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, String> {
        if self.roots.is_empty() {
            return Err(
                "local folders are disabled: start the server with --allow-local-root DIR (or TRIBUTARY_ALLOW_LOCAL_ROOTS)"
                    .into(),
            );
        }
        let path = Path::new(requested);
        if !path.is_absolute() {
            return Err(format!("root {requested:?} must be an absolute path"));
        }
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("root {requested:?} cannot be opened: {e}"))?;
        if !canonical.is_dir() {
            return Err(format!("root {requested:?} is not a folder"));
        }
        if self
            .roots
            .iter()
            .any(|allowed| canonical.starts_with(allowed))
        {
            Ok(canonical)
        } else {
            Err(format!(
                "root {requested:?} is outside the allowed local roots ({})",
                self.roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_under_an_allowed_root_resolve() {
        let allowed = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(allowed.path().join("inner")).unwrap();
        let roots = LocalRoots::new([allowed.path().to_path_buf()]);

        let inner = allowed.path().join("inner");
        assert!(roots.resolve(inner.to_str().unwrap()).is_ok());
        let err = roots.resolve(outside.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("outside the allowed local roots"), "{err}");
        let escape = format!("{}/inner/../..", allowed.path().display());
        assert!(roots.resolve(&escape).is_err());
        assert!(roots
            .resolve("relative/path")
            .unwrap_err()
            .contains("absolute"));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_cannot_lead_outside() {
        let allowed = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let link = allowed.path().join("link");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let roots = LocalRoots::new([allowed.path().to_path_buf()]);
        assert!(roots.resolve(link.to_str().unwrap()).is_err());
    }

    #[test]
    fn no_allowed_roots_means_disabled() {
        let err = LocalRoots::default().resolve("/tmp").unwrap_err();
        assert!(err.contains("--allow-local-root"), "{err}");
    }
}
