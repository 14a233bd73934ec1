//! Requests to the Cloud Storage JSON API: the `objects.list` URL, the bearer
//! token on every request (with one refresh when a cached token is refused),
//! bounded retries, and what the API's error answers mean for the user.

use std::time::Duration;

use serde::Deserialize;
use tributary_sdk::encoding::percent_encode;
use tributary_sdk::http::{Request, Response};
use tributary_sdk::retry::{send_with_retry, RetryPolicy};
use tributary_sdk::ConnectorError;

use crate::config::Settings;
use crate::objects::{ObjectList, LIST_FIELDS};
use crate::token::TokenSource;

/// The most objects `objects.list` returns per request.
pub const MAX_RESULTS_LIMIT: u32 = 1000;

/// What one request may wait for between bytes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One page request of `objects.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery<'a> {
    pub bucket: &'a str,
    /// Object names start with this. A listing always sends it (empty for the
    /// whole bucket), so that its requests look alike; `None` leaves it out
    /// (a connection test's one-object peek).
    pub prefix: Option<&'a str>,
    /// The previous page's `nextPageToken`.
    pub page_token: Option<&'a str>,
    pub max_results: u32,
}

impl ListQuery<'_> {
    /// The request URL under the API's base URL `endpoint`.
    pub fn url(&self, endpoint: &str) -> String {
        let mut url = format!(
            "{endpoint}/storage/v1/b/{}/o?maxResults={}&fields={}",
            percent_encode(self.bucket, false),
            self.max_results.clamp(1, MAX_RESULTS_LIMIT),
            percent_encode(LIST_FIELDS, false),
        );
        if let Some(prefix) = self.prefix {
            url.push_str("&prefix=");
            url.push_str(&percent_encode(prefix, false));
        }
        if let Some(token) = self.page_token.filter(|token| !token.is_empty()) {
            url.push_str("&pageToken=");
            url.push_str(&percent_encode(token, false));
        }
        url
    }
}

/// A client of one endpoint with one set of credentials; caches its token.
pub struct Storage {
    endpoint: String,
    /// `None`: requests carry no `authorization` header (an emulator).
    tokens: Option<TokenSource>,
    policy: RetryPolicy,
}

impl Storage {
    /// Parses the credentials; makes no request.
    pub fn new(settings: &Settings) -> Result<Self, ConnectorError> {
        let tokens = match &settings.credentials {
            None => None,
            Some(key) => Some(TokenSource::new(key)?),
        };
        Ok(Self {
            endpoint: settings.endpoint.clone(),
            tokens,
            policy: RetryPolicy::default(),
        })
    }

    /// The API's base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The service account's email, if requests carry one's token.
    pub fn client_email(&self) -> Option<&str> {
        self.tokens.as_ref().map(TokenSource::client_email)
    }

    /// Fetches an access token when the connection has credentials (the token
    /// endpoint's verdict on the key); does nothing otherwise.
    pub fn sign_in(&mut self) -> Result<(), ConnectorError> {
        if let Some(tokens) = &mut self.tokens {
            tokens.token(&self.policy)?;
        }
        Ok(())
    }

    /// One page of `objects.list`.
    pub fn list_objects(&mut self, query: &ListQuery<'_>) -> Result<ObjectList, ConnectorError> {
        let url = query.url(&self.endpoint);
        let context = format!("listing gs://{}", query.bucket);
        let response = self.get(&url, &context)?;
        if !response.is_success() {
            return Err(self.storage_error(&response, query.bucket));
        }
        response.json().map_err(|error| {
            ConnectorError::Fatal(format!(
                "{context}: the answer is not an objects.list response: {error}"
            ))
        })
    }

    /// Lists the buckets the endpoint serves (one at most): whether an emulator
    /// answers the JSON API.
    pub fn probe(&mut self) -> Result<(), ConnectorError> {
        let url = format!("{}/storage/v1/b?maxResults=1&fields=kind", self.endpoint);
        let response = self.get(&url, "listing buckets")?;
        if response.is_success() {
            Ok(())
        } else {
            Err(self.storage_error(&response, ""))
        }
    }

    /// A GET with the current token; a cached token the API refuses is replaced
    /// once (it may have been revoked before it expired).
    fn get(&mut self, url: &str, context: &str) -> Result<Response, ConnectorError> {
        let (mut bearer, mut fresh) = self.bearer()?;
        loop {
            let response = send_with_retry(&self.policy, context, || {
                let request = Request::get(url)
                    .header("accept", "application/json")
                    .timeout(REQUEST_TIMEOUT);
                match &bearer {
                    Some(token) => request.header("authorization", format!("Bearer {token}")),
                    None => request,
                }
            })?;
            if response.status == 401 && bearer.is_some() && !fresh {
                if let Some(tokens) = &mut self.tokens {
                    tokens.forget();
                }
                (bearer, fresh) = self.bearer()?;
                continue;
            }
            return Ok(response);
        }
    }

    fn bearer(&mut self) -> Result<(Option<String>, bool), ConnectorError> {
        match &mut self.tokens {
            None => Ok((None, true)),
            Some(tokens) => {
                let (token, fresh) = tokens.token(&self.policy)?;
                Ok((Some(token), fresh))
            }
        }
    }

    /// What an error answer about `bucket` (`""`: no bucket) means.
    fn storage_error(&self, response: &Response, bucket: &str) -> ConnectorError {
        storage_error(response, bucket, &self.endpoint, self.client_email())
    }
}

#[derive(Deserialize, Default)]
struct ErrorEnvelope {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// What an error answer of the JSON API means, with what to check: 401/403 are
/// `Unauthorized`, 404 `NotFound`, the rest keeps its usual meaning.
pub fn storage_error(
    response: &Response,
    bucket: &str,
    endpoint: &str,
    client_email: Option<&str>,
) -> ConnectorError {
    let envelope: ErrorEnvelope = response.json().unwrap_or_default();
    let said = envelope
        .error
        .message
        .split_whitespace()
        .collect::<Vec<_>>();
    let said: String = said.join(" ").chars().take(200).collect();
    let said = if said.is_empty() {
        format!("HTTP {}", response.status)
    } else {
        format!("HTTP {}: {said}", response.status)
    };
    let what = if bucket.is_empty() {
        format!("Cloud Storage at {endpoint}")
    } else {
        format!("bucket {bucket}")
    };
    match (response.status, client_email) {
        (401 | 403, Some(email)) => ConnectorError::Unauthorized(format!(
            "access to {what} was refused ({said}); check that the service account {email} \
             may list its objects (storage.objects.list, e.g. the Storage Object Viewer role \
             on the bucket) and that its key is still active"
        )),
        (401 | 403, None) => ConnectorError::Unauthorized(format!(
            "access to {what} was refused ({said}); check the credentials: this connection \
             has none, add a service account's JSON key as `credentials`"
        )),
        (404, _) if !bucket.is_empty() => ConnectorError::NotFound(format!(
            "bucket {bucket} was not found at {endpoint} ({said}); check the bucket name, \
             the first segment of the source path"
        )),
        _ => response.status_error(&what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sdk::encoding::percent_decode;

    #[test]
    fn the_list_url_encodes_every_parameter() {
        let query = ListQuery {
            bucket: "my-bucket",
            prefix: Some("a b/c+d%e/é"),
            page_token: Some("tok/en+=="),
            max_results: 1000,
        };
        let url = query.url("http://127.0.0.1:4443");
        let (path, parameters) = url.split_once('?').unwrap();
        assert_eq!(path, "http://127.0.0.1:4443/storage/v1/b/my-bucket/o");
        assert!(
            !parameters.contains([' ', '+', '/', '(', ',']),
            "{parameters}"
        );
        let decoded: Vec<(String, String)> = parameters
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                (name.to_owned(), percent_decode(value, false))
            })
            .collect();
        assert_eq!(
            decoded,
            [
                ("maxResults".into(), "1000".into()),
                ("fields".into(), LIST_FIELDS.into()),
                ("prefix".into(), "a b/c+d%e/é".into()),
                ("pageToken".into(), "tok/en+==".into()),
            ]
        );
    }

    #[test]
    fn the_page_size_stays_within_the_api_limit_and_only_the_prefix_may_be_empty() {
        let query = ListQuery {
            bucket: "b",
            prefix: Some(""),
            page_token: None,
            max_results: 5000,
        };
        let url = query.url("https://storage.googleapis.com");
        assert!(url.contains("maxResults=1000&"), "{url}");
        assert!(url.ends_with("&prefix="), "{url}");
        let url = ListQuery {
            max_results: 0,
            page_token: Some(""),
            prefix: None,
            ..query
        }
        .url("https://storage.googleapis.com");
        assert!(
            url.contains("maxResults=1&")
                && !url.contains("pageToken=")
                && !url.contains("prefix="),
            "{url}"
        );
    }

    fn answer(status: u16, message: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: format!(r#"{{"error": {{"code": {status}, "message": "{message}"}}}}"#)
                .into_bytes(),
        }
    }

    #[test]
    fn refusals_are_unauthorized_and_name_what_to_check() {
        let error = storage_error(
            &answer(403, "sync@p.iam does not have storage.objects.list access"),
            "photos",
            "https://storage.googleapis.com",
            Some("sync@p.iam"),
        );
        let ConnectorError::Unauthorized(message) = error else {
            panic!("{error:?}");
        };
        assert!(message.contains("bucket photos"), "{message}");
        assert!(
            message.contains("HTTP 403: sync@p.iam does not have"),
            "{message}"
        );
        assert!(message.contains("Storage Object Viewer"), "{message}");

        let error = storage_error(&answer(401, "Login Required"), "b", "https://s", None);
        assert!(
            matches!(&error, ConnectorError::Unauthorized(m) if m.contains("this connection has none")),
            "{error:?}"
        );
    }

    #[test]
    fn a_missing_bucket_is_not_found_and_other_errors_keep_their_kind() {
        let error = storage_error(&answer(404, "Not Found"), "nope", "http://h", None);
        assert!(
            matches!(&error, ConnectorError::NotFound(m) if m.contains("bucket nope was not found")),
            "{error:?}"
        );
        let error = storage_error(&answer(400, "Invalid argument"), "b", "http://h", None);
        assert!(
            matches!(&error, ConnectorError::Fatal(m) if m.contains("Invalid argument")),
            "{error:?}"
        );
        let error = storage_error(&answer(404, "x"), "", "http://h", None);
        assert!(matches!(error, ConnectorError::NotFound(_)), "{error:?}");
    }
}
