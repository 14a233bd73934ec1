//! The connection config (`provider_config`) and its JSON schema, checked
//! into [`Settings`]: the signing keys, the region, where requests go
//! ([`Endpoint`]: virtual-hosted or path-style) and the listing options.
//! Also how a sync's `source_path` names a bucket and a key prefix.

use serde::Deserialize;
use tributary_sdk::config::parse_config;
use tributary_sdk::encoding::percent_encode;
use tributary_sdk::ConnectorError;

use crate::sigv4::SigningKeys;

/// The most keys ListObjectsV2 returns per request.
pub const MAX_KEYS_LIMIT: u32 = 1000;

/// Keys per request when every listed file costs a HEAD (content type or
/// metadata asked for) and the config does not say otherwise: keeps one page
/// well inside the host's per-call time budget.
pub const MAX_KEYS_WITH_HEAD: u32 = 200;

/// The JSON schema of `provider_config`, as `describe` reports it.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Amazon S3 or an S3-compatible store",
  "type": "object",
  "required": ["credentials", "region"],
  "additionalProperties": false,
  "properties": {
    "credentials": {
      "description": "How requests are signed (AWS Signature Version 4).",
      "oneOf": [
        {
          "type": "object",
          "title": "Access key",
          "required": ["type", "access_key_id", "secret_access_key"],
          "additionalProperties": false,
          "properties": {
            "type": {"const": "access_key"},
            "access_key_id": {"type": "string", "minLength": 1,
              "description": "The access key id, e.g. AKIA…; for temporary credentials, ASIA…"},
            "secret_access_key": {"type": "string", "minLength": 1, "x-secret": true,
              "description": "The secret access key that belongs to access_key_id. Encrypted at rest, never shown again."},
            "session_token": {"type": "string", "minLength": 1, "x-secret": true,
              "description": "Session token of temporary credentials (STS, SSO); leave out for long-term keys."}
          }
        }
      ]
    },
    "region": {"type": "string", "minLength": 1, "pattern": "^[a-z0-9-]+$",
      "description": "The bucket's region, e.g. us-east-1 or eu-west-3; for most S3-compatible stores us-east-1 or the store's own region name."},
    "endpoint_url": {"type": "string", "minLength": 1, "pattern": "^https?://",
      "description": "Base URL of an S3-compatible store (MinIO, Ceph, R2, a local emulator), e.g. http://127.0.0.1:9000. Leave out for Amazon S3. Requests use path-style addressing unless force_path_style is false."},
    "force_path_style": {"type": "boolean",
      "description": "true: address buckets as https://endpoint/bucket/key; false: as https://bucket.endpoint/key. Default: virtual-hosted for Amazon S3, path-style with endpoint_url."},
    "include_content_type": {"type": "boolean", "default": false,
      "description": "Read each listed file's Content-Type with a HEAD request (one request per file). Otherwise the type is guessed from the extension."},
    "include_metadata": {"type": "boolean", "default": false,
      "description": "Read each listed file's user metadata (x-amz-meta-*) with a HEAD request (one request per file)."},
    "max_keys": {"type": "integer", "minimum": 1, "maximum": 1000,
      "description": "Keys per listing request and page. Default 1000, or 200 when include_content_type or include_metadata is on."}
  }
}"#;

/// `provider_config` as the user wrote it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    credentials: RawCredentials,
    region: String,
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    force_path_style: Option<bool>,
    #[serde(default)]
    include_content_type: bool,
    #[serde(default)]
    include_metadata: bool,
    #[serde(default)]
    max_keys: Option<u32>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawCredentials {
    AccessKey {
        access_key_id: String,
        secret_access_key: String,
        #[serde(default)]
        session_token: Option<String>,
    },
}

/// A checked connection config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub keys: SigningKeys,
    pub region: String,
    pub endpoint: Endpoint,
    pub include_content_type: bool,
    pub include_metadata: bool,
    /// Keys per ListObjectsV2 request.
    pub max_keys: u32,
}

impl Settings {
    /// Parses and checks `provider_config`.
    pub fn parse(json: &str) -> Result<Self, ConnectorError> {
        let raw: RawConfig = parse_config(json)?;
        let invalid = |message: String| Err(ConnectorError::InvalidConfig(message));
        let RawCredentials::AccessKey {
            access_key_id,
            secret_access_key,
            session_token,
        } = raw.credentials;
        let access_key_id = access_key_id.trim().to_owned();
        if access_key_id.is_empty() {
            return invalid("credentials.access_key_id is empty".into());
        }
        if secret_access_key.is_empty() {
            return invalid("credentials.secret_access_key is empty".into());
        }
        let region = raw.region.trim().to_owned();
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return invalid(format!(
                "region {region:?} is not a region name such as us-east-1"
            ));
        }
        let endpoint = match raw.endpoint_url.as_deref().map(str::trim) {
            None | Some("") => Endpoint::aws(&region, raw.force_path_style.unwrap_or(false)),
            Some(url) => Endpoint::custom(url, raw.force_path_style.unwrap_or(true))?,
        };
        let head_per_file = raw.include_content_type || raw.include_metadata;
        let max_keys = match raw.max_keys {
            Some(keys) if (1..=MAX_KEYS_LIMIT).contains(&keys) => keys,
            Some(keys) => {
                return invalid(format!(
                    "max_keys is {keys}; it must lie between 1 and {MAX_KEYS_LIMIT}"
                ))
            }
            None if head_per_file => MAX_KEYS_WITH_HEAD,
            None => MAX_KEYS_LIMIT,
        };
        Ok(Self {
            keys: SigningKeys {
                access_key_id,
                secret_access_key,
                session_token: session_token.filter(|token| !token.is_empty()),
            },
            region,
            endpoint,
            include_content_type: raw.include_content_type,
            include_metadata: raw.include_metadata,
            max_keys,
        })
    }
}

/// Where requests go and how buckets are addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    /// `host[:port]` as written.
    authority: String,
    /// A path the store is mounted under (`""` or `/base`, no trailing `/`).
    base_path: String,
    /// Buckets in the path (`/bucket/key`) rather than the host name.
    path_style: bool,
}

/// One request's address: the URL's origin, its `host` and its encoded path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `https://host[:port]`.
    pub origin: String,
    /// The authority, which the request's `host` header will carry.
    pub host: String,
    /// The URI-encoded path, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Amazon S3's regional endpoint.
    pub fn aws(region: &str, path_style: bool) -> Self {
        Self {
            https: true,
            authority: format!("s3.{region}.amazonaws.com"),
            base_path: String::new(),
            path_style,
        }
    }

    /// An S3-compatible store at `url` (`http(s)://host[:port][/base]`).
    pub fn custom(url: &str, path_style: bool) -> Result<Self, ConnectorError> {
        let invalid =
            |reason: &str| ConnectorError::InvalidConfig(format!("endpoint_url {url:?} {reason}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("is not a URL (expected http:// or https://)"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(invalid("must start with http:// or https://")),
        };
        if rest.contains(['?', '#']) {
            return Err(invalid("must not have a query or fragment"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains('@') {
            return Err(invalid("must name a host (and no user name)"));
        }
        Ok(Self {
            https,
            authority: authority.to_ascii_lowercase(),
            base_path: path.trim_end_matches('/').to_owned(),
            path_style,
        })
    }

    /// The address of `bucket` (a bucket-level request) or of `key` in it;
    /// without a bucket, the service itself (ListBuckets).
    pub fn address(&self, bucket: Option<&str>, key: Option<&str>) -> Address {
        let scheme = if self.https { "https" } else { "http" };
        let key_path = key.map(|key| percent_encode(key, true));
        let (host, path) = match bucket {
            Some(bucket) if !self.path_style && virtual_host_safe(bucket, self.https) => (
                format!("{bucket}.{}", self.authority),
                format!("{}/{}", self.base_path, key_path.unwrap_or_default()),
            ),
            Some(bucket) => {
                let bucket_path = format!("{}/{}", self.base_path, percent_encode(bucket, false));
                let path = match key_path {
                    Some(key_path) => format!("{bucket_path}/{key_path}"),
                    None => bucket_path,
                };
                (self.authority.clone(), path)
            }
            None => (self.authority.clone(), format!("{}/", self.base_path)),
        };
        Address {
            origin: format!("{scheme}://{host}"),
            host,
            path,
        }
    }

    /// The endpoint for messages, e.g. `https://s3.eu-west-3.amazonaws.com`.
    pub fn describe(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.base_path)
    }
}

/// Whether `bucket` can be a host-name label: lowercase letters, digits and
/// hyphens (dots too over plain HTTP; over TLS they break the certificate
/// match, so such buckets go path-style).
fn virtual_host_safe(bucket: &str, https: bool) -> bool {
    !bucket.is_empty()
        && bucket.len() <= 63
        && bucket.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (!https && b == b'.')
        })
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.'])
}

/// A sync's `source_path` split into bucket and key prefix: `bucket`,
/// `bucket/photos/`, `s3://bucket/photos/` or `/bucket/photos/`. The prefix is
/// kept as written (S3 prefixes are plain string prefixes: `photos` also
/// matches `photos-2024/…`).
pub fn split_source_path(source_path: &str) -> Result<(String, String), ConnectorError> {
    let trimmed = source_path.trim();
    let path = trimmed
        .strip_prefix("s3://")
        .unwrap_or(trimmed)
        .trim_start_matches('/');
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Err(ConnectorError::InvalidConfig(format!(
            "the source path {source_path:?} does not name a bucket: write it as `bucket` or `bucket/prefix/`"
        )));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> String {
        format!(
            r#"{{"credentials": {{"type": "access_key", "access_key_id": "AKID", "secret_access_key": "s3cr3t"}},
                "region": "eu-west-3"{extra}}}"#
        )
    }

    fn invalid(json: &str) -> String {
        match Settings::parse(json) {
            Err(ConnectorError::InvalidConfig(message)) => message,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn the_schema_is_valid_json_marking_both_secrets() {
        let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        let credentials = &schema["properties"]["credentials"]["oneOf"][0]["properties"];
        assert_eq!(credentials["secret_access_key"]["x-secret"], true);
        assert_eq!(credentials["session_token"]["x-secret"], true);
        assert_eq!(credentials["access_key_id"].get("x-secret"), None);
    }

    #[test]
    fn a_minimal_config_targets_aws_virtual_hosted() {
        let settings = Settings::parse(&config("")).unwrap();
        assert_eq!(settings.keys.access_key_id, "AKID");
        assert_eq!(settings.keys.session_token, None);
        assert_eq!(settings.region, "eu-west-3");
        assert_eq!(settings.max_keys, 1000);
        assert_eq!(
            settings.endpoint.describe(),
            "https://s3.eu-west-3.amazonaws.com"
        );
        let address = settings
            .endpoint
            .address(Some("my-bucket"), Some("a b/c+d.txt"));
        assert_eq!(
            address.origin,
            "https://my-bucket.s3.eu-west-3.amazonaws.com"
        );
        assert_eq!(address.host, "my-bucket.s3.eu-west-3.amazonaws.com");
        assert_eq!(address.path, "/a%20b/c%2Bd.txt");
        assert_eq!(settings.endpoint.address(Some("my-bucket"), None).path, "/");
        // A dotted bucket cannot match the TLS certificate: path-style instead.
        let dotted = settings.endpoint.address(Some("my.bucket"), None);
        assert_eq!(dotted.host, "s3.eu-west-3.amazonaws.com");
        assert_eq!(dotted.path, "/my.bucket");
        assert_eq!(
            settings.endpoint.address(None, None).origin,
            "https://s3.eu-west-3.amazonaws.com"
        );
    }

    #[test]
    fn a_custom_endpoint_is_path_style_by_default() {
        let settings = Settings::parse(&config(
            r#", "endpoint_url": "http://127.0.0.1:9000/base/""#,
        ))
        .unwrap();
        let address = settings
            .endpoint
            .address(Some("bucket"), Some("dir/ü %.txt"));
        assert_eq!(address.origin, "http://127.0.0.1:9000");
        assert_eq!(address.host, "127.0.0.1:9000");
        assert_eq!(address.path, "/base/bucket/dir/%C3%BC%20%25.txt");
        assert_eq!(
            settings.endpoint.address(Some("bucket"), None).path,
            "/base/bucket"
        );
        assert_eq!(settings.endpoint.describe(), "http://127.0.0.1:9000/base");

        let virtual_hosted = Settings::parse(&config(
            r#", "endpoint_url": "https://store.example.com", "force_path_style": false"#,
        ))
        .unwrap();
        let address = virtual_hosted.endpoint.address(Some("bucket"), Some("k"));
        assert_eq!(address.origin, "https://bucket.store.example.com");
        assert_eq!(address.path, "/k");

        let aws_path_style = Settings::parse(&config(r#", "force_path_style": true"#)).unwrap();
        assert_eq!(
            aws_path_style
                .endpoint
                .address(Some("bucket"), Some("k"))
                .path,
            "/bucket/k"
        );
    }

    #[test]
    fn options_and_the_session_token_are_read() {
        let settings = Settings::parse(
            r#"{"credentials": {"type": "access_key", "access_key_id": " AKID ",
                 "secret_access_key": "s", "session_token": "tok"},
                "region": "us-east-1", "include_metadata": true}"#,
        )
        .unwrap();
        assert_eq!(settings.keys.access_key_id, "AKID");
        assert_eq!(settings.keys.session_token.as_deref(), Some("tok"));
        assert!(settings.include_metadata);
        assert!(!settings.include_content_type);
        assert_eq!(settings.max_keys, MAX_KEYS_WITH_HEAD);
        let settings = Settings::parse(&config(r#", "max_keys": 50"#)).unwrap();
        assert_eq!(settings.max_keys, 50);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        assert!(invalid(&config(r#", "max_keys": 1001"#)).contains("max_keys"));
        assert!(invalid(&config(r#", "endpoint_url": "ftp://x""#)).contains("http://"));
        assert!(invalid(&config(r#", "endpoint_url": "http://h/?x=1""#)).contains("query"));
        assert!(invalid(&config(r#", "unknown": 1"#)).contains("unknown field"));
        assert!(invalid(
            r#"{"credentials": {"type": "access_key", "access_key_id": "A",
            "secret_access_key": "s"}, "region": "EU WEST"}"#
        )
        .contains("region"));
        assert!(invalid(
            r#"{"credentials": {"type": "access_key", "access_key_id": "",
            "secret_access_key": "s"}, "region": "us-east-1"}"#
        )
        .contains("access_key_id"));
        assert!(
            invalid(r#"{"credentials": {"type": "oauth"}, "region": "us-east-1"}"#)
                .contains("credentials")
        );
        assert!(invalid(
            r#"{"credentials": {"type": "access_key", "access_key_id": "A",
            "secret_access_key": "s", "extra": 1}, "region": "us-east-1"}"#
        )
        .contains("extra"));
        assert!(invalid(r#"{"region": "us-east-1"}"#).contains("credentials"));
    }

    #[test]
    fn an_invalid_config_message_never_holds_the_secret() {
        let message = invalid(
            r#"{"credentials": {"type": "access_key", "access_key_id": "A",
                "secret_access_key": "very-secret-value"}, "region": "Bad Region"}"#,
        );
        assert!(!message.contains("very-secret-value"), "{message}");
    }

    #[test]
    fn source_paths_name_a_bucket_and_a_prefix() {
        for (source, bucket, prefix) in [
            ("bucket", "bucket", ""),
            ("bucket/", "bucket", ""),
            ("bucket/photos/2024/", "bucket", "photos/2024/"),
            ("s3://bucket/photos", "bucket", "photos"),
            ("/bucket/a b/", "bucket", "a b/"),
        ] {
            assert_eq!(
                split_source_path(source).unwrap(),
                (bucket.to_owned(), prefix.to_owned()),
                "{source}"
            );
        }
        for source in ["", "/", "s3://", "  "] {
            assert!(matches!(
                split_source_path(source),
                Err(ConnectorError::InvalidConfig(_))
            ));
        }
    }
}
