//! The `gcs` connector: lists a Google Cloud Storage bucket through the JSON API.
//!
//! A sync's `source_path` is `bucket/prefix`. Each page is one `objects.list`
//! request (up to 1000 objects, only the fields used), its cursor the API's
//! `nextPageToken`. Requests carry an access token of the service account whose
//! JSON key is the connection's `credentials`: the guest signs an RS256 assertion
//! and exchanges it at the key's `token_uri`, then reuses the token until it
//! expires. Without credentials (only with an `endpoint_url`, for an emulator)
//! requests go unauthenticated.
//!
//! Modules: `config` (the connection config and source path), `jwt` (the signed
//! assertion), `token` (the token exchange and cache), `storage` (JSON API
//! requests and their errors), `objects` (the listing's JSON), `listing`
//! (paging, prefix push-down, filters), `time` (RFC 3339).

mod config;
mod jwt;
mod listing;
mod objects;
mod storage;
mod token;

use tributary_sdk::{export_connector, Connector, ConnectorError, ListRequest, ProviderInfo};

use crate::config::{Settings, CONFIG_SCHEMA};
use crate::listing::GcsListing;
use crate::storage::{ListQuery, Storage};

struct Gcs;

impl Connector for Gcs {
    type Listing = GcsListing;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "gcs".into(),
            name: "Google Cloud Storage".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: CONFIG_SCHEMA.into(),
            allowed_hosts: vec![
                "storage.googleapis.com".into(),
                "oauth2.googleapis.com".into(),
            ],
            capabilities: vec![],
        }
    }

    fn validate(config: &str) -> Result<String, ConnectorError> {
        let settings = Settings::parse(config)?;
        let mut storage = Storage::new(&settings)?;
        storage.sign_in()?;
        let who = match storage.client_email() {
            Some(email) => format!("service account {email}"),
            None => "no credentials".to_owned(),
        };
        match &settings.test_bucket {
            Some(bucket) => {
                storage.list_objects(&ListQuery {
                    bucket,
                    prefix: None,
                    page_token: None,
                    max_results: 1,
                })?;
                Ok(format!("Listed bucket {bucket} with {who}"))
            }
            None if storage.client_email().is_some() => Ok(format!(
                "Signed in as {who}; bucket access is checked when a sync lists it \
                 (set `bucket` to check one now)"
            )),
            None => {
                storage.probe()?;
                Ok(format!(
                    "Cloud Storage at {} answers with {who}",
                    storage.endpoint()
                ))
            }
        }
    }

    fn open(request: ListRequest) -> Result<GcsListing, ConnectorError> {
        GcsListing::open(&request)
    }
}

export_connector!(Gcs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_provider_its_hosts_and_schema() {
        let info = Gcs::describe();
        assert_eq!(info.id, "gcs");
        assert_eq!(
            info.allowed_hosts,
            ["storage.googleapis.com", "oauth2.googleapis.com"]
        );
        let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
        assert_eq!(schema["type"], "object");
        assert!(info.capabilities.is_empty());
    }

    #[test]
    fn validate_refuses_a_bad_config_before_any_request() {
        assert!(matches!(
            Gcs::validate("{}"),
            Err(ConnectorError::InvalidConfig(_))
        ));
        let bad_key = r#"{"credentials": {"type": "service_account", "client_email": "a@b",
            "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----"}}"#;
        let Err(ConnectorError::InvalidConfig(message)) = Gcs::validate(bad_key) else {
            panic!("a key that does not parse is invalid config");
        };
        assert!(!message.contains("SECRET"), "{message}");
    }
}
