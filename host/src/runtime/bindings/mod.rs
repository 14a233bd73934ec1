//! The thin layer between WIT and the host: one module per released contract
//! version, and enums that dispatch to the version a component was built for.
//! Everything above this module uses `contract` types only.

pub mod v0_1_0;

use wasmtime::component::{Component, InstancePre, Linker, ResourceAny};
use wasmtime::Store;

use super::contract::{ConnectorError, ListRequest, Page, ProviderInfo};
use super::instance::HostState;

/// The WIT package plugins implement.
pub const PACKAGE: &str = "tributary:connector";
/// Contract versions this host serves, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &[v0_1_0::VERSION];

/// Adds every version's host imports (besides WASI) to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1_0::add_to_linker(linker)
}

/// Finds the contract version a component exports, from its
/// `tributary:connector/provider@X` export.
pub fn exported_version(component: &Component) -> Result<String, String> {
    let engine = component.engine();
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let prefix = format!("{PACKAGE}/provider@");
    exports
        .iter()
        .find_map(|name| name.strip_prefix(&prefix).map(str::to_string))
        .ok_or_else(|| {
            format!(
                "the component does not implement the connector world: it exports [{}] but not {PACKAGE}/provider; build it with tributary-sdk",
                exports.join(", ")
            )
        })
}

/// A component pre-instantiated for its contract version.
#[derive(Clone)]
pub enum ConnectorPre {
    V0_1_0(v0_1_0::ConnectorPre<HostState>),
}

impl ConnectorPre {
    /// Checks the component's exports against `version`'s world.
    pub fn new(version: &str, pre: InstancePre<HostState>) -> Result<Self, String> {
        match version {
            v0_1_0::VERSION => v0_1_0::ConnectorPre::new(pre)
                .map(Self::V0_1_0)
                .map_err(|e| format!("the component does not match the connector world {PACKAGE}@{version}: {e:#}")),
            other => Err(format!(
                "the component targets {PACKAGE}@{other}, which this host does not serve (supported: {})",
                SUPPORTED_VERSIONS.join(", ")
            )),
        }
    }

    pub async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Connector> {
        match self {
            Self::V0_1_0(pre) => Ok(Connector::V0_1_0(pre.instantiate_async(store).await?)),
        }
    }
}

/// One live instance of a connector.
pub enum Connector {
    V0_1_0(v0_1_0::Connector),
}

/// What a guest call returns: a trap (outer) or the connector's own result.
pub type CallResult<T> = wasmtime::Result<Result<T, ConnectorError>>;

impl Connector {
    pub async fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<ProviderInfo> {
        match self {
            Self::V0_1_0(c) => Ok(c
                .tributary_connector_provider()
                .call_describe(store)
                .await?
                .into()),
        }
    }

    pub async fn validate(&self, store: &mut Store<HostState>, config: &str) -> CallResult<String> {
        match self {
            Self::V0_1_0(c) => Ok(c
                .tributary_connector_provider()
                .call_validate(store, config)
                .await?
                .map_err(Into::into)),
        }
    }

    pub async fn open(
        &self,
        store: &mut Store<HostState>,
        request: &ListRequest,
    ) -> CallResult<ResourceAny> {
        match self {
            Self::V0_1_0(c) => Ok(c
                .tributary_connector_provider()
                .listing()
                .call_open(store, &request.into())
                .await?
                .map_err(Into::into)),
        }
    }

    pub async fn next_page(
        &self,
        store: &mut Store<HostState>,
        listing: ResourceAny,
    ) -> CallResult<Option<Page>> {
        match self {
            Self::V0_1_0(c) => Ok(c
                .tributary_connector_provider()
                .listing()
                .call_next_page(store, listing)
                .await?
                .map(|page| page.map(Into::into))
                .map_err(Into::into)),
        }
    }
}
