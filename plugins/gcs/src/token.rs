//! Access tokens for a service account: signs an assertion, exchanges it at the
//! key file's `token_uri` (OAuth 2.0 JWT bearer grant, RFC 7523) and keeps the
//! token until shortly before it expires. Owns the token endpoint's errors; the
//! storage requests that use the token live in `storage`.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tributary_sdk::encoding::percent_encode;
use tributary_sdk::http::{Request, Response};
use tributary_sdk::retry::{send_with_retry, RetryPolicy};
use tributary_sdk::ConnectorError;

use crate::config::ServiceAccountKey;
use crate::jwt::{AssertionSigner, Claims};
use tributary_sdk::time::unix_seconds_now;

/// The grant type of a signed-assertion exchange.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A token is replaced this long before it expires (or at half its lifetime, if
/// that is sooner), so that no request goes out with a token about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Lifetime assumed when the token endpoint does not say.
const DEFAULT_LIFETIME_SECONDS: u64 = 3600;

/// What one token request may wait for between bytes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Access tokens of one service account, fetched once and reused until expiry.
pub struct TokenSource {
    signer: AssertionSigner,
    client_email: String,
    token_uri: String,
    cached: Option<CachedToken>,
}

/// A token and when to replace it.
struct CachedToken {
    value: String,
    refresh_at: Instant,
}

impl CachedToken {
    /// A token valid for `expires_in` seconds from `now`, replaced
    /// [`REFRESH_MARGIN`] before that, or at half its lifetime if sooner.
    fn new(value: String, expires_in: u64, now: Instant) -> Self {
        let lifetime = Duration::from_secs(expires_in);
        Self {
            value,
            refresh_at: now + (lifetime - REFRESH_MARGIN.min(lifetime / 2)),
        }
    }

    fn is_fresh_at(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

/// A token endpoint's successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenSource {
    /// Parses the key; makes no request.
    pub fn new(key: &ServiceAccountKey) -> Result<Self, ConnectorError> {
        Ok(Self {
            signer: AssertionSigner::from_pem(&key.private_key, key.private_key_id.clone())?,
            client_email: key.client_email.clone(),
            token_uri: key.token_uri.clone(),
            cached: None,
        })
    }

    /// The service account's email, for messages.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// A current access token, and whether it was fetched just now (a refused
    /// fresh token means the account lacks access; a refused cached one may just
    /// have been revoked early, see [`forget`](TokenSource::forget)).
    pub fn token(&mut self, policy: &RetryPolicy) -> Result<(String, bool), ConnectorError> {
        if let Some(cached) = &self.cached {
            if cached.is_fresh_at(Instant::now()) {
                return Ok((cached.value.clone(), false));
            }
        }
        let issued = self.exchange(policy)?;
        let cached = CachedToken::new(issued.access_token, issued.expires_in, Instant::now());
        let value = cached.value.clone();
        self.cached = Some(cached);
        Ok((value, true))
    }

    /// Drops the cached token, so the next [`token`](TokenSource::token) fetches one.
    pub fn forget(&mut self) {
        self.cached = None;
    }

    fn exchange(&self, policy: &RetryPolicy) -> Result<IssuedToken, ConnectorError> {
        let claims = Claims::read_only(
            &self.client_email,
            &self.token_uri,
            unix_seconds_now().max(0) as u64,
        );
        let body = form_body(&self.signer.sign(&claims));
        let response = send_with_retry(
            policy,
            "requesting an access token for the service account",
            || {
                Request::post(self.token_uri.as_str())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("accept", "application/json")
                    .body(body.clone())
                    .timeout(REQUEST_TIMEOUT)
            },
        )?;
        issued_token(&response, &self.client_email)
    }
}

/// The form body of a JWT bearer grant.
pub fn form_body(assertion: &str) -> String {
    format!(
        "grant_type={}&assertion={}",
        percent_encode(JWT_BEARER_GRANT, false),
        percent_encode(assertion, false)
    )
}

/// Reads the token endpoint's answer. A refusal (400, 401, 403: `invalid_grant`,
/// `invalid_client`, …) is `Unauthorized` with what to check.
pub fn issued_token(
    response: &Response,
    client_email: &str,
) -> Result<IssuedToken, ConnectorError> {
    match response.status {
        200..=299 => {
            let parsed: TokenResponse = response.json().map_err(|error| {
                ConnectorError::Fatal(format!(
                    "the token endpoint's answer is not an OAuth token response: {error}"
                ))
            })?;
            if parsed.access_token.is_empty() {
                return Err(ConnectorError::Fatal(
                    "the token endpoint answered without an access_token".into(),
                ));
            }
            Ok(IssuedToken {
                access_token: parsed.access_token,
                expires_in: parsed
                    .expires_in
                    .filter(|&seconds| seconds > 0)
                    .unwrap_or(DEFAULT_LIFETIME_SECONDS),
            })
        }
        400 | 401 | 403 => {
            let error: OAuthError = response.json().unwrap_or_default();
            let reason = match (error.error.as_str(), quote(&error.error_description)) {
                ("", _) => format!("HTTP {}", response.status),
                (code, None) => code.to_owned(),
                (code, Some(description)) => format!("{code}: {description}"),
            };
            Err(ConnectorError::Unauthorized(format!(
                "the token endpoint refused the service account {client_email} ({reason}); \
                 check that credentials holds a current JSON key of that service account \
                 (keys can be deleted or disabled under IAM → Service accounts → Keys), that \
                 its private_key and client_email come from the same key file, and that this \
                 machine's clock is right"
            )))
        }
        404 => Err(ConnectorError::InvalidConfig(
            "the token endpoint was not found (HTTP 404): check credentials.token_uri \
             (normally https://oauth2.googleapis.com/token)"
                .into(),
        )),
        _ => Err(response.status_error("requesting an access token for the service account")),
    }
}

/// At most 200 characters of a provider's message, on one line; `None` if empty.
fn quote(text: &str) -> Option<String> {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    let mut quoted: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        quoted.push('…');
    }
    Some(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_sdk::encoding::percent_decode;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_form_body_carries_the_grant_type_and_the_assertion() {
        let body = form_body("aGVhZGVy.Y2xhaW1z.c2ln-_");
        let fields: Vec<(String, String)> = body
            .split('&')
            .map(|field| {
                let (name, value) = field.split_once('=').unwrap();
                (name.to_owned(), percent_decode(value, true))
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
                (
                    "assertion".to_owned(),
                    "aGVhZGVy.Y2xhaW1z.c2ln-_".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_token_response_gives_the_token_and_its_lifetime() {
        let issued = issued_token(
            &response(
                200,
                r#"{"access_token": "ya29.abc", "expires_in": 3599, "token_type": "Bearer"}"#,
            ),
            "a@b",
        )
        .unwrap();
        assert_eq!(
            issued,
            IssuedToken {
                access_token: "ya29.abc".into(),
                expires_in: 3599
            }
        );
        let issued = issued_token(&response(200, r#"{"access_token": "t"}"#), "a@b").unwrap();
        assert_eq!(issued.expires_in, DEFAULT_LIFETIME_SECONDS);
        assert!(matches!(
            issued_token(&response(200, r#"{"token_type": "Bearer"}"#), "a@b"),
            Err(ConnectorError::Fatal(_))
        ));
        assert!(matches!(
            issued_token(&response(200, "<html>"), "a@b"),
            Err(ConnectorError::Fatal(_))
        ));
    }

    #[test]
    fn a_refused_assertion_is_unauthorized_and_says_what_to_check() {
        let refused = response(
            400,
            r#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#,
        );
        let Err(ConnectorError::Unauthorized(message)) = issued_token(&refused, "sync@p.iam")
        else {
            panic!("expected Unauthorized");
        };
        assert!(
            message.contains("sync@p.iam (invalid_grant: Invalid JWT Signature.)"),
            "{message}"
        );
        assert!(message.contains("current JSON key"), "{message}");
        assert!(message.contains("clock"), "{message}");

        let Err(ConnectorError::Unauthorized(message)) =
            issued_token(&response(401, "not json"), "a@b")
        else {
            panic!("expected Unauthorized");
        };
        assert!(message.contains("(HTTP 401)"), "{message}");
    }

    #[test]
    fn other_statuses_keep_their_meaning() {
        assert!(matches!(
            issued_token(&response(404, ""), "a@b"),
            Err(ConnectorError::InvalidConfig(m)) if m.contains("token_uri")
        ));
        assert!(matches!(
            issued_token(&response(500, ""), "a@b"),
            Err(ConnectorError::Transient(_))
        ));
    }

    #[test]
    fn a_token_is_kept_until_shortly_before_it_expires() {
        let now = Instant::now();
        let hour = CachedToken::new("t".into(), 3600, now);
        assert!(hour.is_fresh_at(now));
        assert!(hour.is_fresh_at(now + Duration::from_secs(3539)));
        assert!(!hour.is_fresh_at(now + Duration::from_secs(3540)));
        // A short-lived token is replaced at half its lifetime.
        let short = CachedToken::new("t".into(), 10, now);
        assert!(short.is_fresh_at(now + Duration::from_millis(4999)));
        assert!(!short.is_fresh_at(now + Duration::from_secs(5)));
    }

    #[test]
    fn long_provider_messages_are_cut() {
        let long = "x ".repeat(500);
        let quoted = quote(&long).unwrap();
        assert_eq!(quoted.chars().count(), 201);
        assert!(quoted.ends_with('…'));
        assert_eq!(quote("  \n "), None);
    }
}
