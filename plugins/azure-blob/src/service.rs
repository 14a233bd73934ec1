//! Requests to one account's blob service: builds each URL, authorizes it
//! (Shared Key signature or SAS query), sends it with the SDK's bounded
//! retries, and turns Azure's refusals into connector errors that say what to
//! check and never quote a secret.
//!
//! Knows the REST API's URLs and errors; not what a sync does with blobs.

use std::time::Duration;

use tributary_sdk::encoding::percent_encode;
use tributary_sdk::http::{Request, Response};
use tributary_sdk::retry::{send_with_retry, RetryPolicy};
use tributary_sdk::time::{format_http_date, unix_seconds_now};
use tributary_sdk::ConnectorError;

use crate::blob_list::{parse_blob_page, parse_error, BlobPage};
use crate::config::{Credential, Endpoint, Settings};
use crate::shared_key::{authorization, string_to_sign, RequestParts};

/// The REST API version every request asks for (`x-ms-version`). Azure and
/// Azurite 3.35 both serve it.
pub const API_VERSION: &str = "2023-11-03";

/// The most blobs List Blobs returns per request (Azure's own limit).
pub const MAX_RESULTS_PER_PAGE: u32 = 5000;

/// Connecting, the first byte and each pause between bytes may take this
/// long; with the retries' backoff, a dead endpoint fails well inside the
/// host's per-call budget.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The blob service of one storage account, with its credential.
pub struct BlobService {
    account: String,
    credential: Credential,
    endpoint: Endpoint,
    policy: RetryPolicy,
}

impl BlobService {
    pub fn new(settings: Settings) -> Self {
        Self {
            account: settings.account,
            credential: settings.credential,
            endpoint: settings.endpoint,
            policy: RetryPolicy::default(),
        }
    }

    /// The storage account's name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// One List Blobs request: up to `max_results` (at most
    /// [`MAX_RESULTS_PER_PAGE`]) blobs of `container` whose names start with
    /// `prefix`, from `marker` on, with their metadata.
    pub fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
        max_results: u32,
    ) -> Result<BlobPage, ConnectorError> {
        let max_results = max_results.clamp(1, MAX_RESULTS_PER_PAGE).to_string();
        // `prefix` goes out even when empty, so every listing request reads alike.
        let mut query = vec![
            ("restype", "container"),
            ("comp", "list"),
            ("include", "metadata"),
            ("maxresults", max_results.as_str()),
            ("prefix", prefix),
        ];
        if let Some(marker) = marker {
            query.push(("marker", marker));
        }
        let what = format!(
            "listing the container {container} of the storage account {}",
            self.account
        );
        let response = self.get(&format!("/{container}"), &query, &what)?;
        parse_blob_page(&response.text()).map_err(|problem| {
            ConnectorError::Transient(format!(
                "{what}: the answer is not a blob listing: {problem}"
            ))
        })
    }

    /// A cheap authenticated request at the account level: List Containers
    /// with one result.
    pub fn probe_account(&self) -> Result<(), ConnectorError> {
        let what = format!(
            "listing the containers of the storage account {}",
            self.account
        );
        match self.get("/", &[("comp", "list"), ("maxresults", "1")], &what) {
            Ok(_) => Ok(()),
            Err(ConnectorError::Unauthorized(message))
                if matches!(self.credential, Credential::Sas(_)) =>
            {
                Err(ConnectorError::Unauthorized(format!(
                    "{message}. Without a container in the connection, validation lists the \
                     account's containers, which only an account SAS for the blob service with \
                     the service resource type allows: set the connection's container"
                )))
            }
            Err(error) => Err(error),
        }
    }

    /// Sends a GET for `resource` (`/` or `/<container>`, below the endpoint)
    /// with `query` (decoded), retrying what is worth retrying.
    fn get(
        &self,
        resource: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Response, ConnectorError> {
        let response = send_with_retry(&self.policy, what, || self.request(resource, query))
            .map_err(|error| self.scrub_error(error))?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(self.refusal(&response, what))
        }
    }

    /// One attempt's request, authorized afresh (the date is signed).
    /// `resource` goes into the URL as it is: container names are checked to
    /// be URL-safe (`$root`'s `$` included) by `config`.
    fn request(&self, resource: &str, query: &[(&str, &str)]) -> Request {
        let mut url = format!("{}{resource}?", self.endpoint.base_url);
        for (index, (name, value)) in query.iter().enumerate() {
            if index > 0 {
                url.push('&');
            }
            url.push_str(name);
            url.push('=');
            url.push_str(&percent_encode(value, false));
        }
        let headers = vec![
            ("x-ms-date".to_owned(), format_http_date(unix_seconds_now())),
            ("x-ms-version".to_owned(), API_VERSION.to_owned()),
        ];
        let authorization = match &self.credential {
            Credential::SharedKey(key) => {
                let path = format!("{}{resource}", self.endpoint.base_path);
                let parts = RequestParts {
                    method: "GET",
                    encoded_path: &path,
                    query,
                    headers: &headers,
                };
                Some(authorization(
                    &self.account,
                    key,
                    &string_to_sign(&self.account, &parts),
                ))
            }
            Credential::Sas(token) => {
                url.push('&');
                url.push_str(token);
                None
            }
        };
        let mut request = Request::get(url).timeout(REQUEST_TIMEOUT);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request
    }

    /// The error an unsuccessful, non-retryable answer means.
    fn refusal(&self, response: &Response, what: &str) -> ConnectorError {
        let (body_code, message) = parse_error(&response.text());
        let code = response
            .header("x-ms-error-code")
            .map(str::to_owned)
            .or(body_code);
        let code_text = code.as_deref().unwrap_or("no error code");
        match (response.status, code.as_deref()) {
            (401 | 403, _) => {
                ConnectorError::Unauthorized(self.unauthorized_message(code_text))
            }
            (404, Some("ContainerNotFound")) => ConnectorError::NotFound(format!(
                "{what}: the container does not exist in the storage account {} (check the container name)",
                self.account
            )),
            (404, _) => ConnectorError::NotFound(format!(
                "{what}: HTTP 404 ({code_text}); check account_name and endpoint_url"
            )),
            (status, _) => {
                let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
                let text = self.scrub(&format!("{what}: HTTP {status} ({code_text}){detail}"));
                match response.status_error(what) {
                    ConnectorError::Throttled { retry_after_ms, .. } => ConnectorError::Throttled {
                        message: text,
                        retry_after_ms,
                    },
                    ConnectorError::Transient(_) => ConnectorError::Transient(text),
                    _ => ConnectorError::Fatal(text),
                }
            }
        }
    }

    /// What a refused credential means and what to check. The same whatever
    /// the request, so a failed connection test and a failed run say the same.
    fn unauthorized_message(&self, code: &str) -> String {
        let account = &self.account;
        match self.credential {
            Credential::SharedKey(_) => format!(
                "Azure refused the Shared Key credentials of the storage account {account} \
                 ({code}); check that account_name names the storage account, that account_key \
                 is one of its current access keys (key1 or key2, the base64 value, not a \
                 connection string), that endpoint_url points at this account's blob service, \
                 and that this server's clock is correct"
            ),
            Credential::Sas(_) => format!(
                "Azure refused the SAS token for the storage account {account} ({code}); check \
                 that sas_token was issued for this account, has not expired (nor starts in the \
                 future), and grants list (l) permission on the container"
            ),
        }
    }

    /// The error with any trace of the SAS token removed from its message.
    fn scrub_error(&self, error: ConnectorError) -> ConnectorError {
        match error {
            ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(self.scrub(&m)),
            ConnectorError::Unauthorized(m) => ConnectorError::Unauthorized(self.scrub(&m)),
            ConnectorError::NotFound(m) => ConnectorError::NotFound(self.scrub(&m)),
            ConnectorError::Throttled {
                message,
                retry_after_ms,
            } => ConnectorError::Throttled {
                message: self.scrub(&message),
                retry_after_ms,
            },
            ConnectorError::Transient(m) => ConnectorError::Transient(self.scrub(&m)),
            ConnectorError::Fatal(m) => ConnectorError::Fatal(self.scrub(&m)),
        }
    }

    /// `text` with the SAS token and its signature (as sent and decoded)
    /// replaced. A Shared Key never leaves the plugin, so there is none to find.
    fn scrub(&self, text: &str) -> String {
        let Credential::Sas(token) = &self.credential else {
            return text.to_owned();
        };
        let mut secrets = vec![token.clone()];
        if let Some(signature) = token.split('&').find_map(|pair| pair.strip_prefix("sig=")) {
            secrets.push(signature.to_owned());
            secrets.push(tributary_sdk::encoding::percent_decode(signature, false));
        }
        secrets.retain(|secret| !secret.is_empty());
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        let mut out = text.to_owned();
        for secret in &secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(config: serde_json::Value) -> BlobService {
        BlobService::new(Settings::parse(&config.to_string()).unwrap())
    }

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn shared_key_requests_are_signed_over_the_path_style_resource() {
        let service = service(serde_json::json!({
            "account_name": "devstoreaccount1",
            "account_key": KEY,
            "endpoint_url": "http://127.0.0.1:10000/devstoreaccount1"
        }));
        let query = [
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", "a b+c%/"),
        ];
        let request = service.request("/photos", &query);
        assert_eq!(
            request.url(),
            "http://127.0.0.1:10000/devstoreaccount1/photos?restype=container&comp=list&prefix=a%20b%2Bc%25%2F"
        );
        let header = |name: &str| {
            request
                .headers()
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .unwrap()
        };
        assert_eq!(header("x-ms-version"), API_VERSION);
        // Re-sign the same parts independently of `request`: the account appears
        // twice in the resource, once as the signer and once in the URL path.
        let date = header("x-ms-date");
        let expected = format!(
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n\
             /devstoreaccount1/devstoreaccount1/photos\ncomp:list\nprefix:a b+c%/\nrestype:container"
        );
        let key = tributary_sdk::encoding::base64_decode(KEY).unwrap();
        assert_eq!(
            header("authorization"),
            authorization("devstoreaccount1", &key, &expected)
        );
        assert!(!request.url().contains("sig="));
    }

    #[test]
    fn sas_requests_carry_the_token_and_no_signature_header() {
        let service = service(serde_json::json!({
            "account_name": "acct",
            "sas_token": "?sv=2023-11-03&sp=rl&sig=AbC%2Bd%3D"
        }));
        let request = service.request("/c", &[("comp", "list")]);
        assert_eq!(
            request.url(),
            "https://acct.blob.core.windows.net/c?comp=list&sv=2023-11-03&sp=rl&sig=AbC%2Bd%3D"
        );
        assert!(request
            .headers()
            .iter()
            .all(|(name, _)| name != "authorization"));
        let scrubbed =
            service.scrub("GET /c?sv=2023-11-03&sp=rl&sig=AbC%2Bd%3D and AbC+d= and AbC%2Bd%3D");
        assert_eq!(scrubbed, "GET /c?*** and *** and ***");
    }

    fn answer(status: u16, code: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("x-ms-error-code".into(), code.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn refusals_say_what_to_check() {
        let keyed = service(serde_json::json!({"account_name": "acct", "account_key": KEY}));
        let error = keyed.refusal(&answer(403, "AuthenticationFailed", ""), "listing");
        let ConnectorError::Unauthorized(message) = error else {
            panic!("{error:?}")
        };
        assert!(message.contains("AuthenticationFailed"), "{message}");
        assert!(message.contains("check that account_name"), "{message}");
        assert!(message.contains("storage account acct"), "{message}");
        assert!(message.contains("account_key"), "{message}");
        assert!(!message.contains(KEY), "{message}");

        let sas =
            service(serde_json::json!({"account_name": "acct", "sas_token": "sp=r&sig=SeCrEt"}));
        let error = sas.refusal(
            &answer(
                403,
                "AuthorizationPermissionMismatch",
                "<Error><Message>sig=SeCrEt</Message></Error>",
            ),
            "listing",
        );
        let ConnectorError::Unauthorized(message) = error else {
            panic!("{error:?}")
        };
        assert!(message.contains("sas_token"), "{message}");
        assert!(!message.contains("SeCrEt"), "{message}");

        assert!(matches!(
            keyed.refusal(&answer(404, "ContainerNotFound", ""), "listing the container x"),
            ConnectorError::NotFound(m) if m.contains("does not exist")
        ));
        let bad = sas.refusal(
            &answer(
                400,
                "InvalidQueryParameterValue",
                "<Error><Code>InvalidQueryParameterValue</Code><Message>Value for sig=SeCrEt is invalid</Message></Error>",
            ),
            "listing",
        );
        assert_eq!(
            bad,
            ConnectorError::Fatal(
                "listing: HTTP 400 (InvalidQueryParameterValue): Value for sig=*** is invalid"
                    .into()
            )
        );
    }
}
