//! A local OAuth 2.0 token endpoint for the Google service-account flow, for
//! the GCS connector tests (test-only keys, generated per test process).
//!
//! [`TokenServer`] answers `POST /token` with
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`:
//! it verifies the assertion's RS256 signature with the public key of a
//! [`TestServiceAccount`], then its `iss`, `aud` (this endpoint's own URL, as
//! the client called it), `scope` and `iat`/`exp`, counts what it issues and
//! answers `{"access_token", "expires_in", "token_type": "Bearer"}`; anything
//! else gets 400 or 401 with an OAuth error JSON. With an upstream (a storage
//! emulator that ignores credentials, such as fake-gcs-server) every other
//! request is forwarded there only when it carries a token issued here and
//! not expired: then the emulator and its token endpoint share one address,
//! the only address the plugin sandbox lets a connection reach on loopback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

/// The grant type a service-account assertion is exchanged with.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Scopes the endpoint accepts: Cloud Storage's, or all of Google Cloud.
const STORAGE_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/devstorage.read_write",
    "https://www.googleapis.com/auth/devstorage.full_control",
    "https://www.googleapis.com/auth/cloud-platform",
];

/// Longest assertion lifetime accepted, as Google's endpoint: one hour.
const MAX_ASSERTION_LIFETIME: u64 = 3600;

/// How long an issued access token is accepted.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Clock skew tolerated on `iat`.
const CLOCK_SKEW: u64 = 60;

/// A service account with a freshly generated RSA key pair. TEST KEYS ONLY:
/// generated in memory by each test process, never stored.
pub struct TestServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    private_key_pem: String,
    public_key: RsaPublicKey,
}

impl TestServiceAccount {
    /// A new account whose 2048-bit key nobody else has.
    pub fn generate(client_email: &str, private_key_id: &str) -> TestServiceAccount {
        let key =
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("generate an RSA key");
        TestServiceAccount {
            client_email: client_email.to_string(),
            private_key_id: private_key_id.to_string(),
            private_key_pem: key
                .to_pkcs8_pem(LineEnding::LF)
                .expect("encode the key")
                .to_string(),
            public_key: key.to_public_key(),
        }
    }

    /// The account every GCS test of this process uses (generated once).
    pub fn shared() -> &'static TestServiceAccount {
        static ACCOUNT: OnceLock<TestServiceAccount> = OnceLock::new();
        ACCOUNT.get_or_init(|| {
            TestServiceAccount::generate(
                "tributary-e2e@tributary-test.iam.gserviceaccount.com",
                "e2e-key-1",
            )
        })
    }

    /// The same email with another key: what a deleted or mistyped key looks
    /// like to the token endpoint (generated once per process).
    pub fn impostor() -> &'static TestServiceAccount {
        static ACCOUNT: OnceLock<TestServiceAccount> = OnceLock::new();
        ACCOUNT.get_or_init(|| {
            TestServiceAccount::generate(&TestServiceAccount::shared().client_email, "e2e-key-old")
        })
    }

    /// The PEM private key (PKCS#8), as in a key file.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// One line of the private key's base64 body: it shows up wherever the key
    /// leaks, in any formatting that keeps lines.
    pub fn private_key_fragment(&self) -> String {
        self.private_key_pem
            .lines()
            .nth(2)
            .expect("a PEM key has several lines")
            .to_string()
    }

    /// A service-account JSON key file for this account, as Google issues
    /// them, with its `token_uri`.
    pub fn key_file(&self, token_uri: &str) -> Value {
        json!({
            "type": "service_account",
            "project_id": "tributary-test",
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com"
        })
    }
}

/// What the endpoint did so far.
#[derive(Default)]
struct Log {
    /// Access token → when it stops being accepted.
    issued: HashMap<String, Instant>,
    /// Why assertions were refused, in order.
    refusals: Vec<String>,
}

struct State {
    public_key: RsaPublicKey,
    client_email: String,
    upstream: Option<String>,
    log: Mutex<Log>,
    exchanges: AtomicU64,
    forwarded: AtomicU64,
    rejected_bearers: AtomicU64,
    http: reqwest::blocking::Client,
}

/// A running token endpoint (and, with an upstream, the authenticating front
/// of a storage emulator); stopped when dropped.
pub struct TokenServer {
    address: String,
    server: Arc<tiny_http::Server>,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Starts on a free loopback port, trusting `account`'s public key. With
    /// `upstream` (`http://host:port`), requests other than `POST /token`
    /// that carry a token issued here go there.
    pub fn start(account: &TestServiceAccount, upstream: Option<&str>) -> TokenServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind a port"));
        let address = server
            .server_addr()
            .to_ip()
            .expect("a TCP address")
            .to_string();
        let state = Arc::new(State {
            public_key: account.public_key.clone(),
            client_email: account.client_email.clone(),
            upstream: upstream.map(|url| url.trim_end_matches('/').to_string()),
            log: Mutex::new(Log::default()),
            exchanges: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            rejected_bearers: AtomicU64::new(0),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        });
        let acceptor = {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let state = state.clone();
                    std::thread::spawn(move || handle(request, &state));
                }
            })
        };
        TokenServer {
            address,
            server,
            state,
            acceptor: Some(acceptor),
        }
    }

    /// The server's URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Tokens issued so far: one per accepted assertion.
    pub fn exchanges(&self) -> u64 {
        self.state.exchanges.load(Ordering::SeqCst)
    }

    /// Why assertions were refused so far.
    pub fn refusals(&self) -> Vec<String> {
        self.state.log.lock().unwrap().refusals.clone()
    }

    /// Requests forwarded upstream with a valid token.
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Requests refused for lack of a valid token.
    pub fn rejected_bearers(&self) -> u64 {
        self.state.rejected_bearers.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

type Reply = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn json_reply(status: u16, body: &Value) -> Reply {
    tiny_http::Response::from_data(body.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("content-type", "application/json"))
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn request_header<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn handle(mut request: tiny_http::Request, state: &State) {
    let mut body = Vec::new();
    if request.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let reply = if path == "/token" {
        if *request.method() == tiny_http::Method::Post {
            let audience = format!(
                "http://{}/token",
                request_header(&request, "host").unwrap_or_default()
            );
            token(state, &body, &audience)
        } else {
            oauth_error(405, "invalid_request", "use POST")
        }
    } else {
        forward(state, &request, body)
    };
    let _ = request.respond(reply);
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    json_reply(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

/// `POST /token`: the JWT bearer grant.
fn token(state: &State, body: &[u8], audience: &str) -> Reply {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let grant_type = form.get("grant_type").map(String::as_str);
    if grant_type != Some(JWT_BEARER_GRANT) {
        return oauth_error(
            400,
            "unsupported_grant_type",
            &format!("grant_type must be {JWT_BEARER_GRANT}"),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(400, "invalid_request", "the assertion is missing");
    };
    if let Err(reason) = verify_assertion(state, assertion, audience) {
        state.log.lock().unwrap().refusals.push(reason.clone());
        return oauth_error(400, "invalid_grant", &reason);
    }
    let number = state.exchanges.fetch_add(1, Ordering::SeqCst) + 1;
    let lifetime = TOKEN_LIFETIME;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let access_token = format!("ya29.e2e-{number}-{nanos:x}");
    state
        .log
        .lock()
        .unwrap()
        .issued
        .insert(access_token.clone(), Instant::now() + lifetime);
    json_reply(
        200,
        &json!({
            "access_token": access_token,
            "expires_in": lifetime.as_secs(),
            "token_type": "Bearer"
        }),
    )
}

/// Checks an RS256 assertion: segments, header, signature with the trusted
/// public key, then the claims. Returns why it is refused.
fn verify_assertion(state: &State, assertion: &str, audience: &str) -> Result<(), String> {
    let segments: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = segments[..] else {
        return Err(format!("a JWT has 3 segments, this one {}", segments.len()));
    };
    let decode = |segment: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|e| format!("the {what} is not base64url: {e}"))
    };
    let header: Value = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| format!("the header is not JSON: {e}"))?;
    if header["alg"] != "RS256" {
        return Err(format!("alg must be RS256, not {}", header["alg"]));
    }
    let signature = Signature::try_from(decode(signature, "signature")?.as_slice())
        .map_err(|e| format!("malformed signature: {e}"))?;
    let signed = &assertion[..assertion.rfind('.').unwrap()];
    VerifyingKey::<Sha256>::new(state.public_key.clone())
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;

    let claims: Value = serde_json::from_slice(&decode(claims, "claims")?)
        .map_err(|e| format!("the claims are not JSON: {e}"))?;
    if claims["iss"] != state.client_email.as_str() {
        return Err(format!("iss {} is not the service account", claims["iss"]));
    }
    if claims["aud"] != audience {
        return Err(format!("aud {} is not {audience}", claims["aud"]));
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes
        .split(' ')
        .any(|scope| STORAGE_SCOPES.contains(&scope))
    {
        return Err(format!("scope {scopes:?} grants no Cloud Storage access"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err("iat and exp must be numbers".into());
    };
    if iat > now + CLOCK_SKEW {
        return Err("iat is in the future".into());
    }
    if exp <= now {
        return Err("the assertion has expired".into());
    }
    if exp <= iat || exp - iat > MAX_ASSERTION_LIFETIME {
        return Err("exp must lie within an hour after iat".into());
    }
    Ok(())
}

/// Any other request: forwarded upstream when its bearer token was issued
/// here and has not expired.
fn forward(state: &State, request: &tiny_http::Request, body: Vec<u8>) -> Reply {
    let Some(upstream) = &state.upstream else {
        return json_reply(404, &json!({ "error": "not_found" }));
    };
    let bearer = request_header(request, "authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid = state
        .log
        .lock()
        .unwrap()
        .issued
        .get(bearer)
        .is_some_and(|expires| Instant::now() < *expires);
    if !valid {
        state.rejected_bearers.fetch_add(1, Ordering::SeqCst);
        return json_reply(
            401,
            &json!({ "error": { "code": 401, "message": "Invalid Credentials" } }),
        );
    }
    state.forwarded.fetch_add(1, Ordering::SeqCst);
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap();
    let mut outgoing = state
        .http
        .request(method, format!("{upstream}{}", request.url()))
        .body(body);
    if let Some(content_type) = request_header(request, "content-type") {
        outgoing = outgoing.header("content-type", content_type);
    }
    match outgoing.send() {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
            tiny_http::Response::from_data(bytes)
                .with_status_code(status)
                .with_header(header("content-type", &content_type))
        }
        Err(error) => json_reply(
            502,
            &json!({ "error": { "code": 502, "message": error.to_string() } }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};

    /// An assertion signed by `account` with the given claims (an
    /// implementation independent of the plugin's).
    fn assertion(account: &TestServiceAccount, claims: &Value) -> String {
        let key = RsaPrivateKey::from_pkcs8_pem(account.private_key_pem()).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{body}");
        let signature = SigningKey::<Sha256>::new(key).sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    fn claims(server: &TokenServer, account: &TestServiceAccount) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({
            "iss": account.client_email,
            "aud": format!("{}/token", server.url()),
            "scope": "https://www.googleapis.com/auth/devstorage.read_only",
            "iat": now,
            "exp": now + 3600
        })
    }

    fn exchange(server: &TokenServer, assertion: &str) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/token", server.url()))
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)])
            .send()
            .unwrap();
        (response.status().as_u16(), response.json().unwrap())
    }

    #[test]
    fn a_valid_assertion_gets_a_token_and_anything_else_an_oauth_error() {
        let account = TestServiceAccount::shared();
        let server = TokenServer::start(account, None);
        let good = claims(&server, account);
        let (status, body) = exchange(&server, &assertion(account, &good));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
        assert_eq!(server.exchanges(), 1);

        let mut wrong_audience = good.clone();
        wrong_audience["aud"] = json!("https://oauth2.googleapis.com/token");
        let mut expired = good.clone();
        expired["exp"] = json!(good["iat"].as_u64().unwrap() - 10);
        let mut no_storage = good.clone();
        no_storage["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
        let tampered = {
            let signed = assertion(account, &good);
            let parts: Vec<&str> = signed.split('.').collect();
            let mut other = good.clone();
            other["iss"] = json!("someone-else@x.iam.gserviceaccount.com");
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode(other.to_string()),
                parts[2]
            )
        };
        for (case, bad) in [
            (
                "another key",
                assertion(TestServiceAccount::impostor(), &good),
            ),
            ("tampered claims", tampered),
            ("wrong audience", assertion(account, &wrong_audience)),
            ("expired", assertion(account, &expired)),
            ("no storage scope", assertion(account, &no_storage)),
            ("not a JWT", "abc".to_string()),
        ] {
            let (status, body) = exchange(&server, &bad);
            assert_eq!(status, 400, "{case}: {body}");
            assert_eq!(body["error"], "invalid_grant", "{case}: {body}");
        }
        assert_eq!(server.exchanges(), 1, "no refused assertion got a token");
        assert_eq!(server.refusals()[0], "Invalid JWT Signature.");
        assert_eq!(server.refusals()[1], "Invalid JWT Signature.");
    }
}
