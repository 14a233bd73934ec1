//! The connection config (`provider_config`) of an Azure Blob connection: its
//! JSON schema, parsing, and what it resolves to (account, credential, blob
//! service URL, container and prefix of a source path).
//!
//! Owns checking what the user typed; never sends a request.

use serde::Deserialize;
use tributary_sdk::config::parse_config;
use tributary_sdk::encoding::base64_decode;
use tributary_sdk::ConnectorError;

/// The config's JSON schema (draft 2020-12); the credentials are marked
/// `x-secret` so the host encrypts them at rest and redacts them.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Azure Blob Storage",
  "type": "object",
  "required": ["account_name"],
  "additionalProperties": false,
  "properties": {
    "account_name": {
      "type": "string",
      "minLength": 1,
      "description": "Name of the storage account (devstoreaccount1 for Azurite)."
    },
    "account_key": {
      "type": "string",
      "minLength": 1,
      "x-secret": true,
      "description": "Shared Key credential: one of the account's access keys (key1 or key2), base64, as shown under the account's Access keys. Set this or sas_token, not both."
    },
    "sas_token": {
      "type": "string",
      "minLength": 1,
      "x-secret": true,
      "description": "Shared access signature (the query string, with or without the leading ?), granting list permission on the container, or on the account to validate without a container. Set this or account_key, not both."
    },
    "container": {
      "type": ["string", "null"],
      "description": "Container to list. When set, a sync's source_path is a blob-name prefix inside it; when not, the source_path is `container/prefix`."
    },
    "endpoint_url": {
      "type": ["string", "null"],
      "description": "Blob service URL of the account, as in a connection string's BlobEndpoint: https://<account>.blob.core.windows.net by default, http://127.0.0.1:10000/devstoreaccount1 for Azurite (path-style)."
    }
  }
}"#;

/// The config as the user wrote it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    account_name: String,
    #[serde(default)]
    account_key: Option<String>,
    #[serde(default)]
    sas_token: Option<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    endpoint_url: Option<String>,
}

/// How requests are authorized.
pub enum Credential {
    /// Shared Key: the decoded account key signs every request.
    SharedKey(Vec<u8>),
    /// A SAS token: its query parameters (no leading `?`) go on every URL.
    Sas(String),
}

/// The blob service of one account: `https://<account>.blob.core.windows.net`
/// or a configured endpoint (path-style for Azurite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme and authority plus the endpoint's own path, no trailing `/`.
    pub base_url: String,
    /// The endpoint's own path (`/devstoreaccount1` for Azurite, `""` for Azure).
    pub base_path: String,
}

/// A checked connection config.
pub struct Settings {
    pub account: String,
    pub credential: Credential,
    pub endpoint: Endpoint,
    pub container: Option<String>,
}

impl Settings {
    /// Parses and checks `json`; every problem is an `InvalidConfig` that names
    /// the field and never quotes a secret.
    pub fn parse(json: &str) -> Result<Self, ConnectorError> {
        let raw: RawConfig = parse_config(json)?;
        let account = raw.account_name.trim().to_owned();
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "account_name {account:?} is not a storage account name (letters and digits only)"
            )));
        }
        let credential = credential(raw.account_key.as_deref(), raw.sas_token.as_deref())?;
        let endpoint = match raw.endpoint_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Endpoint::parse(url)?,
            _ => Endpoint::parse(&format!("https://{account}.blob.core.windows.net"))?,
        };
        let container = match raw.container.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => Some(check_container(name)?.to_owned()),
            _ => None,
        };
        Ok(Self {
            account,
            credential,
            endpoint,
            container,
        })
    }

    /// The container and blob-name prefix a sync's `source_path` names: a
    /// prefix inside the configured container, or `container/prefix`.
    pub fn locate(&self, source_path: &str) -> Result<(String, String), ConnectorError> {
        let path = source_path.trim_start_matches('/');
        if let Some(container) = &self.container {
            return Ok((container.clone(), path.to_owned()));
        }
        let (container, prefix) = path.split_once('/').unwrap_or((path, ""));
        if container.is_empty() {
            return Err(invalid(
                "no container to list: set the connection's `container`, or start the source path with the container name (`container/prefix`)"
                    .into(),
            ));
        }
        Ok((check_container(container)?.to_owned(), prefix.to_owned()))
    }
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, ConnectorError> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                invalid(format!(
                    "endpoint_url {url:?} must start with http:// or https://"
                ))
            })?;
        if url.contains(['?', '#']) {
            return Err(invalid(format!(
                "endpoint_url {url:?} must not carry a query or fragment (put a SAS in sas_token)"
            )));
        }
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if authority_end == 0 || rest[..authority_end].contains('@') {
            return Err(invalid(format!(
                "endpoint_url {url:?} has no host (or carries a user name)"
            )));
        }
        let base_url = url.trim_end_matches('/').to_owned();
        let scheme_len = url.len() - rest.len();
        let base_path = base_url[scheme_len + authority_end..].to_owned();
        Ok(Self {
            base_url,
            base_path,
        })
    }
}

fn credential(key: Option<&str>, sas: Option<&str>) -> Result<Credential, ConnectorError> {
    let key = key.map(str::trim).filter(|key| !key.is_empty());
    let sas = sas
        .map(|sas| sas.trim().trim_start_matches('?'))
        .filter(|sas| !sas.is_empty());
    match (key, sas) {
        (Some(_), Some(_)) => Err(invalid(
            "set either account_key or sas_token, not both".into(),
        )),
        (None, None) => Err(invalid(
            "no credential: set account_key (an access key of the account) or sas_token".into(),
        )),
        (Some(key), None) => base64_decode(key)
            .filter(|bytes| !bytes.is_empty())
            .map(Credential::SharedKey)
            .ok_or_else(|| {
                invalid(
                    "account_key is not valid base64: copy key1 or key2 from the storage account's Access keys"
                        .into(),
                )
            }),
        (None, Some(sas)) => {
            if sas.split('&').any(|pair| pair.starts_with("sig=")) {
                Ok(Credential::Sas(sas.to_owned()))
            } else {
                Err(invalid(
                    "sas_token has no sig= parameter: paste the whole SAS query string".into(),
                ))
            }
        }
    }
}

/// Container names: 3 to 63 lowercase letters, digits and dashes (or `$root`,
/// `$web`, `$logs`).
fn check_container(name: &str) -> Result<&str, ConnectorError> {
    let special = matches!(name, "$root" | "$web" | "$logs");
    let plain = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if special || plain {
        Ok(name)
    } else {
        Err(invalid(format!(
            "{name:?} is not a container name (3 to 63 lowercase letters, digits and dashes)"
        )))
    }
}

fn invalid(message: String) -> ConnectorError {
    ConnectorError::InvalidConfig(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a2V5LWJ5dGVz";

    fn parse(json: serde_json::Value) -> Result<Settings, ConnectorError> {
        Settings::parse(&json.to_string())
    }

    fn message<T>(result: Result<T, ConnectorError>) -> String {
        match result {
            Err(ConnectorError::InvalidConfig(message)) => message,
            Err(other) => panic!("expected InvalidConfig, got {other:?}"),
            Ok(_) => panic!("expected InvalidConfig, got a value"),
        }
    }

    #[test]
    fn azure_is_the_default_endpoint_and_azurite_is_path_style() {
        let settings =
            parse(serde_json::json!({"account_name": "acct", "account_key": KEY})).unwrap();
        assert_eq!(
            settings.endpoint,
            Endpoint {
                base_url: "https://acct.blob.core.windows.net".into(),
                base_path: String::new()
            }
        );
        assert!(matches!(&settings.credential, Credential::SharedKey(k) if k == b"key-bytes"));

        let settings = parse(serde_json::json!({
            "account_name": "devstoreaccount1",
            "sas_token": "?sv=2023-11-03&sig=abc%2B",
            "endpoint_url": "http://127.0.0.1:10000/devstoreaccount1/",
            "container": "photos"
        }))
        .unwrap();
        assert_eq!(
            settings.endpoint,
            Endpoint {
                base_url: "http://127.0.0.1:10000/devstoreaccount1".into(),
                base_path: "/devstoreaccount1".into()
            }
        );
        assert!(
            matches!(&settings.credential, Credential::Sas(s) if s == "sv=2023-11-03&sig=abc%2B")
        );
        assert_eq!(settings.container.as_deref(), Some("photos"));
    }

    #[test]
    fn source_paths_name_the_container_unless_the_config_does() {
        let settings = parse(serde_json::json!({"account_name": "a", "account_key": KEY})).unwrap();
        assert_eq!(
            settings.locate("photos/2024/").unwrap(),
            ("photos".into(), "2024/".into())
        );
        assert_eq!(
            settings.locate("/photos").unwrap(),
            ("photos".into(), String::new())
        );
        assert!(message(settings.locate("")).contains("container"));
        assert!(message(settings.locate("Bad_Name/x")).contains("not a container name"));
        assert!(message(settings.locate("ab/x")).contains("3 to 63"));
        assert_eq!(
            settings.locate("$web/site").unwrap(),
            ("$web".into(), "site".into())
        );

        let settings = parse(
            serde_json::json!({"account_name": "a", "account_key": KEY, "container": "docs"}),
        )
        .unwrap();
        assert_eq!(
            settings.locate("docs/x").unwrap(),
            ("docs".into(), "docs/x".into())
        );
        assert_eq!(settings.locate("").unwrap(), ("docs".into(), String::new()));
    }

    #[test]
    fn credential_problems_are_named_without_quoting_the_secret() {
        let both = message(parse(serde_json::json!({
            "account_name": "a", "account_key": KEY, "sas_token": "sig=x"
        })));
        assert!(both.contains("not both"), "{both}");
        let none = message(parse(serde_json::json!({"account_name": "a"})));
        assert!(none.contains("no credential"), "{none}");
        let bad_key = message(parse(
            serde_json::json!({"account_name": "a", "account_key": "not base64!!"}),
        ));
        assert!(
            bad_key.contains("account_key is not valid base64"),
            "{bad_key}"
        );
        assert!(!bad_key.contains("not base64!!"), "{bad_key}");
        let bad_sas = message(parse(
            serde_json::json!({"account_name": "a", "sas_token": "sv=1&secretish=2"}),
        ));
        assert!(bad_sas.contains("no sig="), "{bad_sas}");
        assert!(!bad_sas.contains("secretish"), "{bad_sas}");
    }

    #[test]
    fn malformed_fields_are_refused() {
        let account = message(parse(
            serde_json::json!({"account_name": "my-acct", "account_key": KEY}),
        ));
        assert!(account.contains("account_name"), "{account}");
        for url in ["ftp://x", "http://", "https://h/p?sv=1", "https://user@h"] {
            let problem = message(parse(serde_json::json!({
                "account_name": "a", "account_key": KEY, "endpoint_url": url
            })));
            assert!(problem.contains("endpoint_url"), "{url}: {problem}");
        }
        let unknown = message(parse(serde_json::json!({
            "account_name": "a", "account_key": KEY, "bucket": "x"
        })));
        assert!(unknown.contains("unknown field `bucket`"), "{unknown}");
    }

    #[test]
    fn the_schema_is_json_with_secrets_marked() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        let properties = &schema["properties"];
        assert_eq!(properties["account_key"]["x-secret"], true);
        assert_eq!(properties["sas_token"]["x-secret"], true);
        assert_eq!(properties["account_name"].get("x-secret"), None);
        for (name, property) in properties.as_object().unwrap() {
            assert!(
                property["description"].is_string(),
                "{name} has no description"
            );
        }
    }
}
