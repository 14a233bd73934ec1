//! # tributary-sdk
//!
//! Everything a Tributary connector author needs: implement [`Connector`] (and its
//! [`Listing`]) for a type, export it with [`export_connector!`], and build the crate
//! as a `cdylib` for `wasm32-wasip2`. The SDK owns the WIT bindings; a connector never
//! sees a generated type.
//!
//! Besides the trait it provides the pieces every connector shares:
//! - [`filter`]: the filter engine (globs, extensions, sizes, modified window, MIME
//!   types), prefix push-down and MIME guessing;
//! - [`PageBuilder`]: assembling a page while counting what the filters dropped;
//! - [`http`]: a blocking HTTP client over the host's wasi:http;
//! - [`config`]: parsing the connection config with errors that name the field;
//! - [`retry`]: bounded retries with backoff, jitter and `Retry-After`;
//! - [`crypto`] and [`encoding`]: the hashes, MACs and encodings request signing needs;
//! - [`time`]: RFC 3339 and HTTP dates as storage APIs write them;
//! - [`xml`]: reading the XML documents storage APIs answer with (listings, errors);
//! - [`log`]: writing to the host's log.
//!
//! ## A complete connector
//!
//! ```
//! use serde::Deserialize;
//! use tributary_sdk::config::parse_config;
//! use tributary_sdk::filter::FilterSet;
//! use tributary_sdk::{
//!     export_connector, Connector, ConnectorError, FileEntry, ListRequest, Listing, Page,
//!     PageBuilder, ProviderInfo,
//! };
//!
//! /// The connection config (`provider_config`).
//! #[derive(Deserialize)]
//! struct Config {
//!     greeting: String,
//! }
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     type Listing = HelloListing;
//!
//!     fn describe() -> ProviderInfo {
//!         ProviderInfo {
//!             id: "hello".into(),
//!             name: "Hello".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             config_schema: r#"{"type": "object", "required": ["greeting"],
//!                 "properties": {"greeting": {"type": "string"}}}"#
//!                 .into(),
//!             allowed_hosts: vec![],
//!             capabilities: vec![],
//!         }
//!     }
//!
//!     fn validate(config: &str) -> Result<String, ConnectorError> {
//!         let config: Config = parse_config(config)?;
//!         Ok(format!("ready to say {:?}", config.greeting))
//!     }
//!
//!     fn open(request: ListRequest) -> Result<HelloListing, ConnectorError> {
//!         let config: Config = parse_config(&request.config)?;
//!         Ok(HelloListing {
//!             greeting: config.greeting,
//!             filters: FilterSet::for_request(&request)?,
//!             done: false,
//!         })
//!     }
//! }
//!
//! struct HelloListing {
//!     greeting: String,
//!     filters: FilterSet,
//!     done: bool,
//! }
//!
//! impl Listing for HelloListing {
//!     fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
//!         if self.done {
//!             return Ok(None);
//!         }
//!         self.done = true;
//!         let mut page = PageBuilder::new(&self.filters);
//!         page.offer(FileEntry {
//!             key: "hello.txt".into(),
//!             uri: "hello://hello.txt".into(),
//!             size: self.greeting.len() as u64,
//!             content_type: Some("text/plain".into()),
//!             ..FileEntry::default()
//!         });
//!         // The only page: no cursor.
//!         Ok(Some(page.finish(None)))
//!     }
//! }
//!
//! export_connector!(Hello);
//! # fn main() {}
//! ```
//!
//! With `crate-type = ["cdylib"]`, `cargo build --release --target wasm32-wasip2`
//! writes the component to `target/wasm32-wasip2/release/<crate_name>.wasm`.
//!
//! ## What the component imports
//!
//! `wasi:http/outgoing-handler` and the contract's `log` interface, plus whatever
//! pieces of WASI Rust's standard library links in (clocks, random, cli environment
//! and streams, and the filesystem when the connector uses `std::fs`). The host
//! grants a filesystem only to connectors that declare
//! [`Capability::ReadLocalFiles`].

#![warn(missing_docs)]

pub mod config;
pub mod crypto;
pub mod encoding;
mod error;
pub mod filter;
pub mod http;
pub mod log;
mod page;
pub mod retry;
pub mod time;
mod types;
pub mod xml;

#[doc(hidden)]
#[path = "guest.rs"]
pub mod __private;

pub use error::ConnectorError;
pub use page::PageBuilder;
pub use types::{
    Capability, FileEntry, FileFailure, FilteredCounts, Filters, ListRequest, Page, ProviderInfo,
    Timestamp, DEFAULT_PAGE_SIZE,
};

/// A connector: describes itself, validates connection configs and opens listings.
///
/// The host calls [`describe`](Connector::describe) once when it loads the component,
/// [`validate`](Connector::validate) when a user tests a connection, and
/// [`open`](Connector::open) once per sync run. Export the implementing type with
/// [`export_connector!`].
pub trait Connector: 'static {
    /// The listing [`open`](Connector::open) returns.
    type Listing: Listing;

    /// Describes the connector. Must not perform I/O.
    fn describe() -> ProviderInfo;

    /// Checks a connection config against the provider: parse it, then make a real,
    /// cheap authenticated request. Returns a short success message for the user.
    fn validate(config: &str) -> Result<String, ConnectorError>;

    /// Starts one listing of `request.source_path`. Checks the config; may already
    /// contact the provider.
    fn open(request: ListRequest) -> Result<Self::Listing, ConnectorError>;
}

/// One listing in progress; the host pulls pages until it returns `Ok(None)`.
pub trait Listing: 'static {
    /// The next page, or `None` once every file has been returned. Memory use must
    /// not grow with the number of pages: keep a position, not the files seen.
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError>;
}

/// Exports a [`Connector`] as the component's implementation of the
/// `tributary:connector` world. Use it once, at the top level of the connector crate:
///
/// ```ignore
/// tributary_sdk::export_connector!(MyConnector);
/// ```
///
/// It also records the SDK version in the component (custom section
/// `tributary:sdk-version`).
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        const _: () = {
            type TributaryConnectorExports = $crate::__private::Exports<$connector>;
            $crate::__private::bindings::__export_connector_world!(
                TributaryConnectorExports with_types_in $crate::__private::bindings
            );

            #[cfg(target_arch = "wasm32")]
            #[unsafe(link_section = "tributary:sdk-version")]
            #[used]
            static TRIBUTARY_SDK_VERSION: [u8; $crate::__private::SDK_VERSION.len()] =
                $crate::__private::sdk_version_section();
        };
    };
}
