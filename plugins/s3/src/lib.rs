//! The `s3` connector: lists a bucket of Amazon S3 or of an S3-compatible
//! store (MinIO, Ceph, R2, emulators) with ListObjectsV2, signing every
//! request with AWS Signature Version 4 inside the sandbox.
//!
//! A sync's `source_path` is `bucket` or `bucket/prefix`; keys are relative
//! to the bucket and URIs are `s3://bucket/key`. The modules, in the order a
//! request flows through them:
//! - `config`: the connection config, its schema, and where requests go;
//! - `listing`: paging, filters, the resume cursor (the continuation token);
//! - `client`: signed ListObjectsV2 / HEAD / ListBuckets with retries, and
//!   what a refusal means for the user;
//! - `sigv4` and `time`: the signature and the clock it needs;
//! - `response`: reading S3's XML answers.

mod client;
mod config;
mod listing;
mod response;
mod sigv4;
mod time;

use tributary_sdk::{export_connector, Connector, ConnectorError, ListRequest, ProviderInfo};

use crate::client::{S3Client, ServiceCheck};
use crate::config::{Settings, CONFIG_SCHEMA};
use crate::listing::S3Listing;

struct S3;

impl Connector for S3 {
    type Listing = S3Listing;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "s3".into(),
            name: "Amazon S3 (and S3-compatible stores)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: CONFIG_SCHEMA.into(),
            // Regional, virtual-hosted (`bucket.s3.region…`) and dual-stack
            // endpoints; a connection's own endpoint_url is allowed by the host.
            allowed_hosts: vec!["*.amazonaws.com".into()],
            capabilities: vec![],
        }
    }

    fn validate(config: &str) -> Result<String, ConnectorError> {
        let settings = Settings::parse(config)?;
        let client = S3Client::new(&settings);
        let endpoint = settings.endpoint.describe();
        let key_id = &settings.keys.access_key_id;
        Ok(match client.check_service()? {
            ServiceCheck::Listed { buckets } => {
                format!("{endpoint} accepted the access key {key_id} ({buckets} bucket(s) visible)")
            }
            ServiceCheck::AcceptedWithoutListing => format!(
                "{endpoint} accepted the access key {key_id}; it may not list the account's \
                 buckets, which syncing does not need"
            ),
        })
    }

    fn open(request: ListRequest) -> Result<S3Listing, ConnectorError> {
        S3Listing::open(&request)
    }
}

export_connector!(S3);
