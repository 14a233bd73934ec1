//! The glue between the public API and the generated bindings. Not for authors: it is
//! public only because [`export_connector!`](crate::export_connector) expands in the
//! connector's crate and must reach it.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::error::ConnectorError;
use crate::types::{
    Capability, FileEntry, FileFailure, FilteredCounts, Filters, ListRequest, Page, ProviderInfo,
};
use crate::{Connector, Listing};

/// The generated bindings of the `connector` world (and the wasi:http interfaces it
/// imports).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "connector",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
    });
}

use bindings::exports::tributary::connector::provider as wit_provider;
use bindings::tributary::connector::log as wit_log;
use bindings::tributary::connector::types as wit;

/// The SDK version, written into each connector as the `tributary:sdk-version` custom
/// section.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// [`SDK_VERSION`] as a byte array of length `N` (which must be its length).
pub const fn sdk_version_section<const N: usize>() -> [u8; N] {
    let source = SDK_VERSION.as_bytes();
    assert!(source.len() == N);
    let mut bytes = [0u8; N];
    let mut index = 0;
    while index < N {
        bytes[index] = source[index];
        index += 1;
    }
    bytes
}

/// Implements the generated `Guest` trait for any [`Connector`].
pub struct Exports<C>(PhantomData<fn() -> C>);

/// The `listing` resource: a connector's [`Listing`] behind a `RefCell`, since the
/// generated trait hands out `&self`.
pub struct ListingResource<C: Connector> {
    inner: RefCell<C::Listing>,
}

impl<C: Connector> wit_provider::Guest for Exports<C> {
    type Listing = ListingResource<C>;

    fn describe() -> wit::ProviderInfo {
        C::describe().into()
    }

    fn validate(config: String) -> Result<String, wit::ConnectorError> {
        C::validate(&config).map_err(Into::into)
    }
}

impl<C: Connector> wit_provider::GuestListing for ListingResource<C> {
    fn open(request: wit::ListRequest) -> Result<wit_provider::Listing, wit::ConnectorError> {
        let listing = C::open(request.into())?;
        Ok(wit_provider::Listing::new(ListingResource::<C> {
            inner: RefCell::new(listing),
        }))
    }

    fn next_page(&self) -> Result<Option<wit::Page>, wit::ConnectorError> {
        let page = self.inner.borrow_mut().next_page()?;
        Ok(page.map(Into::into))
    }
}

/// Writes one line to the host log.
pub(crate) fn host_log(level: crate::log::Level, message: &str) {
    let level = match level {
        crate::log::Level::Trace => wit_log::Level::Trace,
        crate::log::Level::Debug => wit_log::Level::Debug,
        crate::log::Level::Info => wit_log::Level::Info,
        crate::log::Level::Warn => wit_log::Level::Warn,
        crate::log::Level::Error => wit_log::Level::Error,
    };
    wit_log::log(level, message);
}

impl From<ProviderInfo> for wit::ProviderInfo {
    fn from(info: ProviderInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            version: info.version,
            config_schema: info.config_schema,
            allowed_hosts: info.allowed_hosts,
            capabilities: info.capabilities.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Capability> for wit::Capability {
    fn from(capability: Capability) -> Self {
        match capability {
            Capability::ReadLocalFiles => wit::Capability::ReadLocalFiles,
        }
    }
}

impl From<wit::Filters> for Filters {
    fn from(filters: wit::Filters) -> Self {
        Self {
            include_patterns: filters.include_patterns,
            exclude_patterns: filters.exclude_patterns,
            extensions: filters.extensions,
            min_size_bytes: filters.min_size_bytes,
            max_size_bytes: filters.max_size_bytes,
            modified_after: filters.modified_after,
            modified_before: filters.modified_before,
            mime_types: filters.mime_types,
        }
    }
}

impl From<wit::ListRequest> for ListRequest {
    fn from(request: wit::ListRequest) -> Self {
        Self {
            config: request.config,
            source_path: request.source_path,
            filters: request.filters.into(),
            modified_since: request.modified_since,
            resume_cursor: request.resume_cursor,
            page_size_hint: request.page_size_hint,
        }
    }
}

impl From<FileEntry> for wit::FileEntry {
    fn from(entry: FileEntry) -> Self {
        Self {
            key: entry.key,
            uri: entry.uri,
            size: entry.size,
            etag: entry.etag,
            last_modified: entry.last_modified,
            content_type: entry.content_type,
            metadata: entry.metadata,
        }
    }
}

impl From<FileFailure> for wit::FileFailure {
    fn from(failure: FileFailure) -> Self {
        Self {
            key: failure.key,
            uri: failure.uri,
            error: failure.error.into(),
        }
    }
}

impl From<FilteredCounts> for wit::FilteredCounts {
    fn from(counts: FilteredCounts) -> Self {
        Self {
            by_pattern: counts.by_pattern,
            by_extension: counts.by_extension,
            by_size: counts.by_size,
            by_modified: counts.by_modified,
            by_mime_type: counts.by_mime_type,
        }
    }
}

impl From<Page> for wit::Page {
    fn from(page: Page) -> Self {
        Self {
            entries: page.entries.into_iter().map(Into::into).collect(),
            failures: page.failures.into_iter().map(Into::into).collect(),
            cursor: page.cursor,
            filtered: page.filtered.into(),
        }
    }
}

impl From<ConnectorError> for wit::ConnectorError {
    fn from(error: ConnectorError) -> Self {
        match error {
            ConnectorError::InvalidConfig(message) => Self::InvalidConfig(message),
            ConnectorError::Unauthorized(message) => Self::Unauthorized(message),
            ConnectorError::NotFound(message) => Self::NotFound(message),
            ConnectorError::Throttled {
                message,
                retry_after_ms,
            } => Self::Throttled(wit::Throttle {
                message,
                retry_after_ms,
            }),
            ConnectorError::Transient(message) => Self::Transient(message),
            ConnectorError::Fatal(message) => Self::Fatal(message),
        }
    }
}
