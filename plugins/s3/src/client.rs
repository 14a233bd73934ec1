//! Signed requests to S3 — ListObjectsV2, HeadObject and ListBuckets — each
//! signed afresh per attempt and retried under the SDK's policy, and what a
//! refusal means: 403s, 404s and region redirects become errors that tell
//! the user what to check. No message ever holds a secret.

use std::time::Duration;

use tributary_sdk::http::{Method, Request, Response};
use tributary_sdk::retry::{send_all_with_retry, send_with_retry, RetryPolicy};
use tributary_sdk::ConnectorError;

use crate::config::{Endpoint, Settings};
use crate::response::{parse_error, parse_list_page, strip_etag, ListPage};
use crate::sigv4::{self, canonical_query, RequestToSign, SigningKeys, EMPTY_PAYLOAD_SHA256};
use crate::time::AmzDate;

/// Connecting, waiting for the first byte, and each pause between bytes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A signed S3 client for one connection.
#[derive(Debug, Clone)]
pub struct S3Client {
    keys: SigningKeys,
    region: String,
    endpoint: Endpoint,
    retry: RetryPolicy,
}

/// The parameters of one ListObjectsV2 request.
#[derive(Debug, Clone, Copy)]
pub struct ListParams<'a> {
    pub prefix: &'a str,
    pub continuation_token: Option<&'a str>,
    pub start_after: Option<&'a str>,
    pub max_keys: u32,
}

/// What a HEAD says about one object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectHead {
    pub etag: Option<String>,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` headers, without the prefix.
    pub metadata: Vec<(String, String)>,
}

/// The outcome of a ListBuckets request that was not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCheck {
    /// The credentials list the account's buckets.
    Listed { buckets: usize },
    /// The credentials are genuine but may not list buckets (AccessDenied).
    AcceptedWithoutListing,
}

impl S3Client {
    pub fn new(settings: &Settings) -> Self {
        Self {
            keys: settings.keys.clone(),
            region: settings.region.clone(),
            endpoint: settings.endpoint.clone(),
            retry: RetryPolicy::default(),
        }
    }

    /// The endpoint, for messages.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// One ListObjectsV2 page, asking for URL-encoded keys (`encoding-type=url`).
    pub fn list_objects(
        &self,
        bucket: &str,
        params: &ListParams<'_>,
    ) -> Result<ListPage, ConnectorError> {
        let max_keys = params.max_keys.to_string();
        let mut query = vec![
            ("list-type", "2"),
            ("encoding-type", "url"),
            ("prefix", params.prefix),
            ("max-keys", max_keys.as_str()),
        ];
        if let Some(token) = params.continuation_token {
            query.push(("continuation-token", token));
        }
        if let Some(start_after) = params.start_after {
            query.push(("start-after", start_after));
        }
        let context = format!("listing s3://{bucket}/{}", params.prefix);
        let response = self.send(Method::Get, Some(bucket), None, &query, &context)?;
        if !response.is_success() {
            return Err(self.refusal(&response, Some(bucket), &context));
        }
        parse_list_page(&response.text()).map_err(|reason| {
            ConnectorError::Transient(format!(
                "{context}: {} sent a listing that cannot be read ({reason})",
                self.endpoint.describe()
            ))
        })
    }

    /// HEADs the objects of `keys`, their requests in flight together;
    /// outcomes in the order of `keys` (`None`: the object no longer exists),
    /// taken lazily: what is not taken is not sent.
    pub fn head_objects<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> impl Iterator<Item = Result<Option<ObjectHead>, ConnectorError>> + 'a {
        let requests = keys
            .iter()
            .map(|key| {
                let build = self.signed(Method::Head, Some(bucket), Some(key), &[]);
                (head_context(bucket, key), build)
            })
            .collect::<Vec<_>>();
        send_all_with_retry(&self.retry, requests)
            .zip(keys)
            .map(move |(response, key)| {
                self.read_head(&response?, bucket, &head_context(bucket, key))
            })
    }

    /// What a HEAD's answer says: the object's head, `None` for a 404.
    fn read_head(
        &self,
        response: &Response,
        bucket: &str,
        context: &str,
    ) -> Result<Option<ObjectHead>, ConnectorError> {
        if response.status == 404 {
            return Ok(None);
        }
        if !response.is_success() {
            return Err(self.refusal(response, Some(bucket), context));
        }
        let metadata = response
            .headers
            .iter()
            .filter_map(|(name, value)| {
                name.strip_prefix("x-amz-meta-")
                    .map(|name| (name.to_owned(), value.clone()))
            })
            .collect();
        Ok(Some(ObjectHead {
            etag: response.header("etag").and_then(strip_etag),
            content_type: response
                .header("content-type")
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned),
            metadata,
        }))
    }

    /// A signed ListBuckets: the cheapest request that proves the credentials
    /// without naming a bucket.
    pub fn check_service(&self) -> Result<ServiceCheck, ConnectorError> {
        let context = format!("signing in to {}", self.endpoint.describe());
        let response = self.send(Method::Get, None, None, &[], &context)?;
        if response.is_success() {
            let buckets = tributary_sdk::xml::parse(&response.text())
                .map(|root| root.descendants("Bucket").count())
                .unwrap_or(0);
            return Ok(ServiceCheck::Listed { buckets });
        }
        let refusal = self.refusal(&response, None, &context);
        if parse_error(&response.body).code.as_deref() == Some("AccessDenied") {
            return Ok(ServiceCheck::AcceptedWithoutListing);
        }
        Err(refusal)
    }

    /// Sends a signed request (signed again for every attempt) and returns
    /// the first response that is not worth retrying.
    fn send(
        &self,
        method: Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(&str, &str)],
        context: &str,
    ) -> Result<Response, ConnectorError> {
        send_with_retry(
            &self.retry,
            context,
            self.signed(method, bucket, key, query),
        )
    }

    /// Builds the request, signed at the moment each attempt is built.
    fn signed(
        &self,
        method: Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(&str, &str)],
    ) -> impl FnMut() -> Request + '_ {
        let address = self.endpoint.address(bucket, key);
        let query = canonical_query(query);
        let url = if query.is_empty() {
            format!("{}{}", address.origin, address.path)
        } else {
            format!("{}{}?{query}", address.origin, address.path)
        };
        move || {
            let headers = sigv4::sign(
                &self.keys,
                &self.region,
                "s3",
                &AmzDate::now(),
                &RequestToSign {
                    method: method.as_str(),
                    host: &address.host,
                    path: &address.path,
                    query: &query,
                    headers: &[],
                    payload_sha256: EMPTY_PAYLOAD_SHA256,
                },
            );
            headers.into_iter().fold(
                Request::new(method, url.clone()).timeout(REQUEST_TIMEOUT),
                |request, (name, value)| request.header(name, value),
            )
        }
    }

    /// What a non-2xx, non-retryable response means, in words the user can
    /// act on. `bucket` is the bucket the request was about, if any.
    pub fn refusal(
        &self,
        response: &Response,
        bucket: Option<&str>,
        context: &str,
    ) -> ConnectorError {
        let body = parse_error(&response.body);
        let code = body.code.as_deref().unwrap_or_default();
        let endpoint = self.endpoint.describe();
        let key_id = &self.keys.access_key_id;
        let region = response
            .header("x-amz-bucket-region")
            .map(str::to_owned)
            .or(body.region.clone());
        let said = match (&body.code, &body.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, _) => format!("HTTP {}", response.status),
        };
        let the_bucket =
            bucket.map_or_else(|| "the bucket".to_owned(), |b| format!("the bucket {b:?}"));
        match (response.status, code) {
            (_, "SignatureDoesNotMatch") => ConnectorError::Unauthorized(format!(
                "{endpoint} rejected the request signature (SignatureDoesNotMatch): check that \
                 credentials.secret_access_key is the secret of the access key {key_id}, copied \
                 without extra characters"
            )),
            (_, "InvalidAccessKeyId" | "NotSignedUp") => ConnectorError::Unauthorized(format!(
                "{endpoint} does not know the access key {key_id} (InvalidAccessKeyId): check \
                 credentials.access_key_id, and that the key is active on this store ({said})"
            )),
            (_, "ExpiredToken" | "TokenRefreshRequired") => ConnectorError::Unauthorized(format!(
                "the temporary credentials of the access key {key_id} have expired ({code}): \
                 renew them and update access_key_id, secret_access_key and session_token together"
            )),
            (_, "InvalidToken") => ConnectorError::Unauthorized(format!(
                "{endpoint} rejected the session token (InvalidToken): check that \
                 credentials.session_token belongs to the access key {key_id}"
            )),
            (_, "AccessDenied" | "AllAccessDisabled") | (403, "") => {
                ConnectorError::Unauthorized(format!(
                    "{context}: access denied ({said}). The access key {key_id} was accepted but \
                     may not read {the_bucket}: grant it s3:ListBucket on the bucket (and \
                     s3:GetObject when include_content_type or include_metadata is on)"
                ))
            }
            (403, _) => ConnectorError::Unauthorized(format!(
                "{context}: {endpoint} refused the credentials ({said}): check \
                 credentials.access_key_id and credentials.secret_access_key"
            )),
            (_, "AuthorizationHeaderMalformed") | (301 | 307, _) | (_, "PermanentRedirect") => {
                match region {
                    Some(region) if region != self.region => {
                        ConnectorError::InvalidConfig(format!(
                        "{the_bucket} is in the region {region}, not {}: set region to {region}",
                        self.region
                    ))
                    }
                    _ => ConnectorError::InvalidConfig(format!(
                        "{context}: {endpoint} redirected the request ({said}): check region and \
                         endpoint_url"
                    )),
                }
            }
            (_, "RequestTimeTooSkewed") => ConnectorError::Fatal(format!(
                "{context}: {endpoint} refused the request time ({said}): the clock of the \
                 machine running Tributary is off"
            )),
            (404, _) | (_, "NoSuchBucket") => ConnectorError::NotFound(format!(
                "{the_bucket} does not exist at {endpoint} ({said}): check the sync's source_path \
                 (bucket/prefix) and the connection's region and endpoint_url"
            )),
            (400, "InvalidBucketName") => ConnectorError::InvalidConfig(format!(
                "{the_bucket} is not a valid bucket name ({said}): check the sync's source_path"
            )),
            (429 | 503, _) | (_, "SlowDown") => ConnectorError::Throttled {
                message: format!("{context}: {said}"),
                retry_after_ms: None,
            },
            (status, _) if status >= 500 => {
                ConnectorError::Transient(format!("{context}: {endpoint} answered {said}"))
            }
            _ => ConnectorError::Fatal(format!("{context}: {endpoint} answered {said}")),
        }
    }
}

/// What a HEAD of `key` is for, in messages.
fn head_context(bucket: &str, key: &str) -> String {
    format!("reading s3://{bucket}/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> S3Client {
        let settings = Settings::parse(
            r#"{"credentials": {"type": "access_key", "access_key_id": "AKIDEXAMPLE",
                "secret_access_key": "the-secret-value", "session_token": "the-session-token"},
                "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9000"}"#,
        )
        .unwrap();
        S3Client::new(&settings)
    }

    fn refusal(status: u16, body: &str) -> ConnectorError {
        let response = Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        client().refusal(&response, Some("photos"), "listing s3://photos/")
    }

    fn error_body(code: &str) -> String {
        format!("<Error><Code>{code}</Code><Message>said by the store</Message></Error>")
    }

    #[test]
    fn credential_refusals_are_unauthorized_and_say_what_to_check() {
        for (code, hint) in [
            ("SignatureDoesNotMatch", "secret_access_key"),
            ("InvalidAccessKeyId", "access_key_id"),
            ("NotSignedUp", "access_key_id"),
            ("AccountProblem", "secret_access_key"),
            ("ExpiredToken", "renew"),
            ("InvalidToken", "session_token"),
            ("AccessDenied", "s3:ListBucket"),
        ] {
            let ConnectorError::Unauthorized(message) = refusal(403, &error_body(code)) else {
                panic!("{code} should be unauthorized");
            };
            assert!(message.contains(hint), "{code}: {message}");
            assert!(!message.contains("the-secret-value"), "{message}");
            assert!(!message.contains("the-session-token"), "{message}");
        }
        // A HEAD's 403 has no body.
        assert!(matches!(refusal(403, ""), ConnectorError::Unauthorized(_)));
    }

    #[test]
    fn missing_buckets_and_wrong_regions_name_the_fix() {
        let ConnectorError::NotFound(message) = refusal(404, &error_body("NoSuchBucket")) else {
            panic!("NoSuchBucket should be NotFound");
        };
        assert!(
            message.contains("\"photos\"") && message.contains("source_path"),
            "{message}"
        );

        let response = Response {
            status: 301,
            headers: vec![("x-amz-bucket-region".into(), "eu-west-3".into())],
            body: error_body("PermanentRedirect").into_bytes(),
        };
        let ConnectorError::InvalidConfig(message) =
            client().refusal(&response, Some("photos"), "listing")
        else {
            panic!("a redirect should be InvalidConfig");
        };
        assert!(message.contains("set region to eu-west-3"), "{message}");

        let ConnectorError::InvalidConfig(message) = refusal(
            400,
            "<Error><Code>AuthorizationHeaderMalformed</Code><Region>ap-south-1</Region></Error>",
        ) else {
            panic!("a malformed authorization should be InvalidConfig");
        };
        assert!(message.contains("ap-south-1"), "{message}");
    }

    #[test]
    fn other_refusals_keep_the_store_words() {
        assert!(matches!(
            refusal(503, &error_body("SlowDown")),
            ConnectorError::Throttled { .. }
        ));
        assert!(matches!(refusal(500, ""), ConnectorError::Transient(_)));
        let ConnectorError::Fatal(message) = refusal(400, &error_body("InvalidArgument")) else {
            panic!("an unknown 400 is fatal");
        };
        assert!(
            message.contains("InvalidArgument: said by the store"),
            "{message}"
        );
    }
}
