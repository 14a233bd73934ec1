//! The `azure_blob` connector: lists the blobs of an Azure Storage container.
//!
//! List Blobs (`restype=container&comp=list`) pages with metadata, as many
//! blobs per request as the host hints (Azure allows up to 5000), followed by
//! their `marker`; the prefix comes from the source path
//! (`container/prefix`, or a prefix inside the configured `container`) and the
//! include patterns' literal prefix. Requests are authorized with Shared Key
//! (signed in the guest) or a SAS token, go to `https://<account>.blob.core.windows.net`
//! or the connection's `endpoint_url` (Azurite, path-style), and are retried by
//! the SDK. Modules: `config` (what the user typed), `shared_key` (signing),
//! `service` (requests and refusals), `blob_list` (response parsing),
//! `listing` (pages and cursors).

mod blob_list;
mod config;
mod listing;
mod service;
mod shared_key;

use tributary_sdk::{export_connector, Connector, ConnectorError, ListRequest, ProviderInfo};

use crate::config::{Settings, CONFIG_SCHEMA};
use crate::listing::BlobListing;
use crate::service::BlobService;

struct AzureBlob;

impl Connector for AzureBlob {
    type Listing = BlobListing;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "azure_blob".into(),
            name: "Azure Blob Storage".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: CONFIG_SCHEMA.into(),
            allowed_hosts: vec!["*.blob.core.windows.net".into()],
            capabilities: vec![],
        }
    }

    /// Lists one blob of the configured container, or one container of the
    /// account when the connection names none.
    fn validate(config: &str) -> Result<String, ConnectorError> {
        let settings = Settings::parse(config)?;
        let container = settings.container.clone();
        let service = BlobService::new(settings);
        match container {
            Some(container) => {
                service.list_blobs(&container, "", None, 1)?;
                Ok(format!(
                    "Listed the container {container} of the storage account {}",
                    service.account()
                ))
            }
            None => {
                service.probe_account()?;
                Ok(format!(
                    "Listed the containers of the storage account {}",
                    service.account()
                ))
            }
        }
    }

    fn open(request: ListRequest) -> Result<BlobListing, ConnectorError> {
        BlobListing::open(&request)
    }
}

export_connector!(AzureBlob);
