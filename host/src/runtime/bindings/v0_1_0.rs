//! Bindings for `tributary:connector@0.1.0`, and conversions between its
//! generated types and the host's contract types.

use super::super::contract as c;
use super::super::instance::HostState;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "tributary:connector/connector@0.1.0",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use self::tributary::connector::types as wit;
pub use exports::tributary::connector::provider::Guest as Provider;

/// The WIT version these bindings implement.
pub const VERSION: &str = "0.1.0";

/// Adds the host functions this version imports (besides WASI) to a linker.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    self::tributary::connector::log::add_to_linker::<
        HostState,
        wasmtime::component::HasSelf<HostState>,
    >(linker, |state| state)
}

impl self::tributary::connector::log::Host for HostState {
    fn log(&mut self, level: self::tributary::connector::log::Level, message: String) {
        use self::tributary::connector::log::Level;
        let plugin = self.plugin_id.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

impl self::tributary::connector::types::Host for HostState {}

impl From<wit::ProviderInfo> for c::ProviderInfo {
    fn from(info: wit::ProviderInfo) -> Self {
        let config_schema = serde_json::from_str(&info.config_schema)
            .unwrap_or_else(|_| serde_json::json!({"type": "object"}));
        Self {
            id: info.id,
            name: info.name,
            version: info.version,
            config_schema,
            allowed_hosts: info.allowed_hosts,
            capabilities: info
                .capabilities
                .into_iter()
                .map(|cap| match cap {
                    wit::Capability::ReadLocalFiles => c::Capability::ReadLocalFiles,
                })
                .collect(),
        }
    }
}

impl From<&c::Filters> for wit::Filters {
    fn from(f: &c::Filters) -> Self {
        Self {
            include_patterns: f.include_patterns.clone(),
            exclude_patterns: f.exclude_patterns.clone(),
            extensions: f.extensions.clone(),
            min_size_bytes: f.min_size_bytes,
            max_size_bytes: f.max_size_bytes,
            modified_after: f.modified_after,
            modified_before: f.modified_before,
            mime_types: f.mime_types.clone(),
        }
    }
}

impl From<&c::ListRequest> for wit::ListRequest {
    fn from(r: &c::ListRequest) -> Self {
        Self {
            config: r.config.to_string(),
            source_path: r.source_path.clone(),
            filters: (&r.filters).into(),
            modified_since: r.modified_since,
            resume_cursor: r.resume_cursor.clone(),
            page_size_hint: r.page_size_hint,
        }
    }
}

impl From<wit::FileEntry> for c::FileEntry {
    fn from(e: wit::FileEntry) -> Self {
        Self {
            key: e.key,
            uri: e.uri,
            size: e.size,
            etag: e.etag,
            last_modified: e.last_modified,
            content_type: e.content_type,
            metadata: e.metadata,
        }
    }
}

impl From<wit::Page> for c::Page {
    fn from(p: wit::Page) -> Self {
        Self {
            entries: p.entries.into_iter().map(Into::into).collect(),
            failures: p
                .failures
                .into_iter()
                .map(|f| c::FileFailure {
                    key: f.key,
                    uri: f.uri,
                    error: f.error.into(),
                })
                .collect(),
            cursor: p.cursor,
            filtered: c::FilteredCounts {
                by_pattern: p.filtered.by_pattern,
                by_extension: p.filtered.by_extension,
                by_size: p.filtered.by_size,
                by_modified: p.filtered.by_modified,
                by_mime_type: p.filtered.by_mime_type,
            },
        }
    }
}

impl From<wit::ConnectorError> for c::ConnectorError {
    fn from(e: wit::ConnectorError) -> Self {
        use wit::ConnectorError as W;
        match e {
            W::InvalidConfig(message) => Self::InvalidConfig { message },
            W::Unauthorized(message) => Self::Unauthorized { message },
            W::NotFound(message) => Self::NotFound { message },
            W::Throttled(t) => Self::Throttled {
                message: t.message,
                retry_after_ms: t.retry_after_ms,
            },
            W::Transient(message) => Self::Transient { message },
            W::Fatal(message) => Self::Fatal { message },
        }
    }
}
