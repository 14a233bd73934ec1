//! The connection config (`provider_config`) and its JSON schema, checked into
//! [`Settings`]: the credentials, the JSON API's base URL and the optional bucket
//! a connection test lists. Also how a sync's `source_path` names a bucket and a
//! prefix. Makes no request.

use serde::Deserialize;
use tributary_sdk::config::parse_config;
use tributary_sdk::ConnectorError;

/// Google's JSON API, used when the config names no `endpoint_url`.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// Google's OAuth 2.0 token endpoint, used when a key file names no `token_uri`.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The JSON schema of `provider_config`, as `describe` reports it.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Google Cloud Storage",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "credentials": {
      "description": "How requests are authorised. Required unless endpoint_url points at an emulator that needs no credentials.",
      "oneOf": [
        {
          "type": "object",
          "title": "Service account key",
          "description": "The JSON key file of a service account (IAM → Service accounts → Keys), pasted as it is. The account needs storage.objects.list on the bucket (e.g. the Storage Object Viewer role).",
          "required": ["type", "client_email", "private_key"],
          "additionalProperties": true,
          "properties": {
            "type": {"const": "service_account"},
            "client_email": {"type": "string", "minLength": 1,
              "description": "The service account's email, e.g. sync@my-project.iam.gserviceaccount.com."},
            "private_key": {"type": "string", "minLength": 1, "x-secret": true,
              "description": "The key file's PEM private key (-----BEGIN PRIVATE KEY-----…). Encrypted at rest, never shown again."},
            "private_key_id": {"type": "string",
              "description": "The key's id, sent in the token request's header."},
            "token_uri": {"type": "string", "pattern": "^https?://",
              "description": "Where the signed assertion is exchanged for an access token. Default https://oauth2.googleapis.com/token."},
            "project_id": {"type": "string",
              "description": "The service account's project (informational)."}
          }
        }
      ]
    },
    "endpoint_url": {"type": "string", "minLength": 1, "pattern": "^https?://",
      "description": "Base URL of a server speaking the Cloud Storage JSON API, e.g. a fake-gcs-server emulator at http://127.0.0.1:4443. Leave out for Google Cloud Storage."},
    "bucket": {"type": "string", "minLength": 1,
      "description": "A bucket that connection tests list one object of, to check access. Optional: sync configurations name their bucket in source_path (my-bucket/prefix/)."}
  }
}"#;

/// `provider_config` as the user wrote it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    credentials: Option<RawCredentials>,
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    bucket: Option<String>,
}

/// Unknown fields of a key file (`project_id`, `client_id`, `auth_uri`, …) are
/// accepted and ignored, so the file can be pasted whole.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawCredentials {
    ServiceAccount {
        client_email: String,
        private_key: String,
        #[serde(default)]
        private_key_id: Option<String>,
        #[serde(default)]
        token_uri: Option<String>,
    },
}

/// A service account's key, as its key file gives it. Has no `Debug`: it holds the
/// private key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    pub client_email: String,
    /// PEM, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

/// A checked connection config.
#[derive(Clone)]
pub struct Settings {
    /// `None`: requests go unauthenticated (an emulator).
    pub credentials: Option<ServiceAccountKey>,
    /// The JSON API's base URL, without a trailing `/`.
    pub endpoint: String,
    /// The bucket a connection test lists, if the config names one.
    pub test_bucket: Option<String>,
}

impl Settings {
    /// Parses and checks `provider_config`.
    pub fn parse(json: &str) -> Result<Self, ConnectorError> {
        let raw: RawConfig = parse_config(json)?;
        let invalid = |message: String| ConnectorError::InvalidConfig(message);
        let endpoint = match raw.endpoint_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(endpoint_base(url)?),
        };
        let credentials = match raw.credentials {
            None => None,
            Some(RawCredentials::ServiceAccount {
                client_email,
                private_key,
                private_key_id,
                token_uri,
            }) => {
                let client_email = client_email.trim().to_owned();
                if client_email.is_empty() {
                    return Err(invalid("credentials.client_email is empty".into()));
                }
                if private_key.trim().is_empty() {
                    return Err(invalid("credentials.private_key is empty".into()));
                }
                let token_uri = match token_uri.as_deref().map(str::trim) {
                    None | Some("") => DEFAULT_TOKEN_URI.to_owned(),
                    Some(uri) => {
                        check_url(uri, "credentials.token_uri")?;
                        uri.to_owned()
                    }
                };
                Some(ServiceAccountKey {
                    client_email,
                    private_key,
                    private_key_id: private_key_id.filter(|id| !id.trim().is_empty()),
                    token_uri,
                })
            }
        };
        if credentials.is_none() && endpoint.is_none() {
            return Err(invalid(
                "credentials are missing: paste a service account's JSON key as `credentials` \
                 (only an emulator named by endpoint_url may be used without credentials)"
                    .into(),
            ));
        }
        if let (Some(key), Some(endpoint)) = (&credentials, &endpoint) {
            if !is_private_channel(endpoint) {
                return Err(invalid(format!(
                    "endpoint_url {endpoint:?} uses plain http: access tokens are only sent \
                     over https, or over http to this machine (an emulator)"
                )));
            }
            if !is_private_channel(&key.token_uri) {
                return Err(invalid(format!(
                    "credentials.token_uri {:?} uses plain http: signed assertions are only \
                     sent over https, or over http to this machine",
                    key.token_uri
                )));
            }
        }
        let test_bucket = match raw.bucket.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(bucket) => Some(check_bucket(bucket)?.to_owned()),
        };
        Ok(Self {
            credentials,
            endpoint: endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            test_bucket,
        })
    }
}

/// The base URL of the JSON API from `endpoint_url`: no trailing `/`, and a
/// trailing `/storage/v1` (as some emulator docs write it) dropped, since request
/// paths add it.
fn endpoint_base(url: &str) -> Result<String, ConnectorError> {
    check_url(url, "endpoint_url")?;
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix("/storage/v1").unwrap_or(url);
    Ok(url.trim_end_matches('/').to_owned())
}

/// `url` must be `http(s)://host…` without a query or credentials.
fn check_url(url: &str, field: &str) -> Result<(), ConnectorError> {
    let invalid = |reason: &str| ConnectorError::InvalidConfig(format!("{field} {url:?} {reason}"));
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid("has no host"));
    }
    if authority.contains('@') {
        return Err(invalid("must not contain credentials"));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(())
}

/// Whether secrets may travel to `url`: https anywhere, plain http only to this
/// machine's loopback addresses.
pub fn is_private_channel(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a bucket name's characters (Cloud Storage allows lowercase letters,
/// digits, `-`, `_` and `.`); returns it.
fn check_bucket(bucket: &str) -> Result<&str, ConnectorError> {
    let valid = !bucket.is_empty()
        && bucket.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if valid {
        Ok(bucket)
    } else {
        Err(ConnectorError::InvalidConfig(format!(
            "{bucket:?} is not a bucket name: bucket names use lowercase letters, digits, \
             `-`, `_` and `.`"
        )))
    }
}

/// Where a listing looks: a bucket and an object-name prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePath {
    pub bucket: String,
    /// Object names must start with this (may be empty). Taken as written: `photos`
    /// also matches `photos2/…`; write `photos/` for the folder.
    pub prefix: String,
}

impl SourcePath {
    /// Parses `bucket[/prefix]`, also written `gs://bucket/prefix` or `/bucket/…`.
    pub fn parse(source_path: &str) -> Result<Self, ConnectorError> {
        let trimmed = source_path.trim();
        let rest = trimmed.strip_prefix("gs://").unwrap_or(trimmed);
        let rest = rest.trim_start_matches('/');
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ConnectorError::InvalidConfig(format!(
                "the source path {source_path:?} must start with the bucket's name, \
                 e.g. my-bucket/photos/"
            )));
        }
        Ok(Self {
            bucket: check_bucket(bucket)?.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_FILE: &str = r#"{
        "type": "service_account",
        "project_id": "demo",
        "private_key_id": "abc123",
        "private_key": "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY\n-----END PRIVATE KEY-----\n",
        "client_email": "sync@demo.iam.gserviceaccount.com",
        "client_id": "1234",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "universe_domain": "googleapis.com"
    }"#;

    fn invalid(json: &str) -> String {
        match Settings::parse(json) {
            Err(ConnectorError::InvalidConfig(message)) => message,
            Err(other) => panic!("expected InvalidConfig, got {other:?}"),
            Ok(_) => panic!("expected InvalidConfig for {json}"),
        }
    }

    #[test]
    fn the_schema_is_json_and_marks_the_private_key_secret() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        let account = &schema["properties"]["credentials"]["oneOf"][0];
        assert_eq!(account["properties"]["type"]["const"], "service_account");
        assert_eq!(account["properties"]["private_key"]["x-secret"], true);
        for (name, property) in schema["properties"].as_object().unwrap() {
            assert!(property["description"].is_string(), "{name}");
        }
    }

    #[test]
    fn a_whole_key_file_is_accepted_as_credentials() {
        let settings = Settings::parse(&format!(r#"{{"credentials": {KEY_FILE}}}"#)).unwrap();
        let key = settings.credentials.unwrap();
        assert_eq!(key.client_email, "sync@demo.iam.gserviceaccount.com");
        assert_eq!(key.private_key_id.as_deref(), Some("abc123"));
        assert_eq!(key.token_uri, DEFAULT_TOKEN_URI);
        assert!(key.private_key.contains("TOP-SECRET-KEY"));
        assert_eq!(settings.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(settings.test_bucket, None);
    }

    #[test]
    fn an_emulator_needs_no_credentials_and_its_url_is_normalised() {
        for url in [
            "http://127.0.0.1:4443",
            "http://127.0.0.1:4443/",
            "http://127.0.0.1:4443/storage/v1/",
        ] {
            let settings =
                Settings::parse(&format!(r#"{{"endpoint_url": "{url}", "bucket": "b-1"}}"#))
                    .unwrap();
            assert!(settings.credentials.is_none());
            assert_eq!(settings.endpoint, "http://127.0.0.1:4443");
            assert_eq!(settings.test_bucket.as_deref(), Some("b-1"));
        }
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        assert!(invalid("{}").contains("credentials are missing"));
        assert!(invalid(r#"{"endpoint_url": "127.0.0.1:4443"}"#).contains("http://"));
        assert!(invalid(r#"{"endpoint_url": "http://h/?x=1"}"#).contains("query"));
        assert!(invalid(r#"{"endpoint_url": "http://h", "bucket": "Big"}"#)
            .contains("not a bucket name"));
        assert!(
            invalid(r#"{"credentials": {"type": "hmac", "access_id": "a"}}"#)
                .contains("unknown variant `hmac`")
        );
        assert!(invalid(r#"{"endpoint_url": "http://h", "extra": 1}"#).contains("extra"));
        let message = invalid(
            r#"{"credentials": {"type": "service_account", "client_email": " ",
                "private_key": "k"}}"#,
        );
        assert!(message.contains("client_email is empty"), "{message}");
    }

    #[test]
    fn secrets_only_travel_over_https_or_to_loopback() {
        let with = |endpoint: &str, token_uri: &str| {
            format!(
                r#"{{"endpoint_url": "{endpoint}", "credentials": {{"type": "service_account",
                    "client_email": "a@b", "private_key": "TOP-SECRET-KEY",
                    "token_uri": "{token_uri}"}}}}"#
            )
        };
        assert!(Settings::parse(&with("http://127.0.0.1:1", "http://localhost:2/token")).is_ok());
        assert!(Settings::parse(&with("http://[::1]:1", "https://o.example/token")).is_ok());
        let message = invalid(&with("http://10.0.0.5:4443", "https://o.example/token"));
        assert!(message.contains("plain http"), "{message}");
        let message = invalid(&with("https://s.example", "http://o.example/token"));
        assert!(message.contains("token_uri"), "{message}");
        assert!(!message.contains("TOP-SECRET-KEY"), "{message}");
    }

    #[test]
    fn source_paths_name_a_bucket_and_a_prefix() {
        let parse = |path: &str| SourcePath::parse(path).unwrap();
        assert_eq!(
            parse("my-bucket/photos/2024/"),
            SourcePath {
                bucket: "my-bucket".into(),
                prefix: "photos/2024/".into()
            }
        );
        assert_eq!(parse("gs://b/a b+c%/").prefix, "a b+c%/");
        assert_eq!(parse("/b").prefix, "");
        assert_eq!(parse("b/").bucket, "b");
        for bad in ["", "/", "gs://", "My_Bucket/x"] {
            assert!(
                matches!(
                    SourcePath::parse(bad),
                    Err(ConnectorError::InvalidConfig(_))
                ),
                "{bad:?}"
            );
        }
    }
}
