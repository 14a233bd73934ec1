//! A small blocking HTTP client over the host's `wasi:http/outgoing-handler`.
//!
//! Every request goes through the host, which checks it against the connector's
//! allowed hosts; a refused request fails with [`HttpError::Denied`]. Responses are
//! read whole into memory, up to a size cap ([`DEFAULT_MAX_RESPONSE_BYTES`] unless
//! [`Request::max_response_bytes`] says otherwise).
//!
//! ```no_run
//! use tributary_sdk::http::Request;
//!
//! # fn run() -> Result<(), tributary_sdk::ConnectorError> {
//! let response = Request::get("https://storage.example.com/bucket?list-type=2")
//!     .header("authorization", "Bearer …")
//!     .send()?
//!     .error_for_status("listing the bucket")?;
//! let listing: serde_json::Value = response.json()?;
//! # Ok(())
//! # }
//! ```
//!
//! Many small requests (a HEAD per file) are faster with [`send_all`], which
//! keeps up to [`MAX_IN_FLIGHT`] of them in flight and yields the outcomes in
//! order; [`crate::retry::send_all_with_retry`] adds the retry policy.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ConnectorError;

/// The largest response body read unless a request sets its own limit: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How much of an error response's body [`Response::status_error`] quotes.
const ERROR_BODY_QUOTE_CHARS: usize = 300;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// The method's name, e.g. `"GET"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP request being built; [`send`](Request::send) it to get a [`Response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    max_response_bytes: usize,
}

impl Request {
    /// A request with `method` to `url` (`http://` or `https://`, already
    /// percent-encoded).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `HEAD` request.
    pub fn head(url: impl Into<String>) -> Self {
        Self::new(Method::Head, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header (names are case-insensitive; a repeated name adds another value).
    /// The host sets `host` from the URL and refuses hop-by-hop headers.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the request body; `content-length` is set from it.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    pub fn json_body<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value)
            .map_err(|error| HttpError::InvalidRequest(format!("cannot encode JSON: {error}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Limits connecting, waiting for the first byte, and each pause between bytes to
    /// `timeout` each. Without it only the host's per-call budget applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fails the request with [`HttpError::ResponseTooLarge`] when the response body
    /// is longer than `limit` bytes.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers added so far, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body (empty when none was set).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Sends the request through the host and reads the whole response.
    ///
    /// Any status is a response, not an error: check it with
    /// [`Response::error_for_status`]. Outside a component this returns
    /// [`HttpError::Unavailable`].
    pub fn send(self) -> Result<Response, HttpError> {
        self.start()?.finish()
    }

    /// Hands the request to the host, which sends it while the guest goes on.
    fn start(&self) -> Result<transport::InFlight, HttpError> {
        let target = Target::parse(&self.url)?;
        if !cfg!(target_arch = "wasm32") {
            return Err(HttpError::Unavailable);
        }
        transport::start(self, &target)
    }
}

/// The most requests [`send_all`] keeps in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// Sends `requests` concurrently, up to [`MAX_IN_FLIGHT`] at a time, and
/// yields each one's outcome in the order given: one round trip's wait for
/// many small requests (a HEAD per file) instead of one each. Lazy: a
/// request is started only as earlier outcomes are taken, so a caller that
/// stops early (the store is down) leaves the rest unsent.
pub fn send_all<I>(requests: I) -> InOrder<I::IntoIter>
where
    I: IntoIterator<Item = Request>,
{
    InOrder {
        waiting: requests.into_iter(),
        in_flight: std::collections::VecDeque::with_capacity(MAX_IN_FLIGHT),
    }
}

/// The outcomes of [`send_all`], in the order of its requests.
pub struct InOrder<I> {
    waiting: I,
    in_flight: std::collections::VecDeque<Result<transport::InFlight, HttpError>>,
}

impl<I: Iterator<Item = Request>> Iterator for InOrder<I> {
    type Item = Result<Response, HttpError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(request) = self.waiting.next() else {
                break;
            };
            self.in_flight.push_back(request.start());
        }
        let started = self.in_flight.pop_front()?;
        Some(started.and_then(transport::InFlight::finish))
    }
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers in the order received, names lowercase, values decoded as UTF-8
    /// (invalid bytes replaced).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T`; a mismatch names the path of the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            HttpError::Decode(format!(
                "the response body is not the expected JSON (at `{path}`): {}",
                error.into_inner()
            ))
        })
    }

    /// The response itself when its status is 2xx, otherwise
    /// [`status_error`](Response::status_error).
    pub fn error_for_status(self, context: &str) -> Result<Response, ConnectorError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.status_error(context))
        }
    }

    /// The [`ConnectorError`] a non-success status means: 401 and 403 `Unauthorized`,
    /// 404 `NotFound`, 429 (and 503 with `retry-after`) `Throttled`, 408 and other 5xx
    /// `Transient`, anything else `Fatal`. The message starts with `context` (what the
    /// connector was doing) and quotes the start of the body.
    pub fn status_error(&self, context: &str) -> ConnectorError {
        let body = self.text();
        let body = body.trim();
        let quoted: String = body.chars().take(ERROR_BODY_QUOTE_CHARS).collect();
        let ellipsis = if body.chars().count() > ERROR_BODY_QUOTE_CHARS {
            "…"
        } else {
            ""
        };
        let message = if quoted.is_empty() {
            format!("{context}: HTTP {}", self.status)
        } else {
            format!("{context}: HTTP {}: {quoted}{ellipsis}", self.status)
        };
        let retry_after_ms = self
            .header("retry-after")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|seconds| seconds.saturating_mul(1000));
        match self.status {
            401 | 403 => ConnectorError::Unauthorized(message),
            404 => ConnectorError::NotFound(message),
            429 => ConnectorError::Throttled {
                message,
                retry_after_ms,
            },
            503 if retry_after_ms.is_some() => ConnectorError::Throttled {
                message,
                retry_after_ms,
            },
            408 | 500..=599 => ConnectorError::Transient(message),
            _ => ConnectorError::Fatal(message),
        }
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused the request: the plugin is not allowed to call `host` (it is
    /// not among its allowed hosts nor the connection's endpoint, or it resolves to a
    /// private address).
    Denied {
        /// The host the request was for.
        host: String,
    },
    /// The request itself is malformed (URL, header, method).
    InvalidRequest(String),
    /// No connection could be made or it broke (DNS, refused, reset, TLS handshake).
    Connect {
        /// The host the request was for.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// Connecting or waiting for the response took too long.
    Timeout {
        /// The host the request was for.
        host: String,
        /// Which wait timed out.
        reason: String,
    },
    /// The response body is longer than the request's limit.
    ResponseTooLarge {
        /// The host the request was for.
        host: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The server's response was not valid HTTP or was cut short.
    Protocol {
        /// The host the request was for.
        host: String,
        /// What went wrong.
        reason: String,
    },
    /// The response body could not be decoded as expected.
    Decode(String),
    /// Not running inside a component, so there is no host to send requests through.
    Unavailable,
    /// Anything else the host reported.
    Other(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied { host } => write!(
                f,
                "the host refused the request to {host}: this plugin is not allowed to call \
                 {host} (it is neither among the plugin's allowed hosts nor the connection's \
                 endpoint_url, or it is a private address)"
            ),
            HttpError::InvalidRequest(reason) => write!(f, "invalid HTTP request: {reason}"),
            HttpError::Connect { host, reason } => {
                write!(f, "could not connect to {host}: {reason}")
            }
            HttpError::Timeout { host, reason } => {
                write!(f, "request to {host} timed out: {reason}")
            }
            HttpError::ResponseTooLarge { host, limit } => write!(
                f,
                "the response from {host} is larger than the limit of {limit} bytes"
            ),
            HttpError::Protocol { host, reason } => {
                write!(f, "bad HTTP response from {host}: {reason}")
            }
            HttpError::Decode(reason) => f.write_str(reason),
            HttpError::Unavailable => f.write_str(
                "HTTP is only available inside a Tributary component (wasi:http is missing)",
            ),
            HttpError::Other(reason) => write!(f, "HTTP request failed: {reason}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for ConnectorError {
    /// A refused request is `Fatal` (retrying cannot help); connection problems,
    /// timeouts and broken responses are `Transient`; the rest is `Fatal`.
    fn from(error: HttpError) -> Self {
        let message = error.to_string();
        match error {
            HttpError::Connect { .. } | HttpError::Timeout { .. } | HttpError::Protocol { .. } => {
                ConnectorError::Transient(message)
            }
            HttpError::Denied { .. }
            | HttpError::InvalidRequest(_)
            | HttpError::ResponseTooLarge { .. }
            | HttpError::Decode(_)
            | HttpError::Unavailable
            | HttpError::Other(_) => ConnectorError::Fatal(message),
        }
    }
}

/// Where a URL points, split as wasi:http wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    https: bool,
    authority: String,
    host: String,
    path_with_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, HttpError> {
        let invalid = |reason: &str| HttpError::InvalidRequest(format!("URL {url:?} {reason}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("has no scheme (expected http:// or https://)"))?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(invalid(
                "has an unsupported scheme (expected http or https)",
            ));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("has no host"));
        }
        if authority.contains('@') {
            return Err(invalid("contains credentials, which are not supported"));
        }
        let host = if let Some(bracketed) = authority.strip_prefix('[') {
            bracketed.split(']').next().unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        if host.is_empty() {
            return Err(invalid("has no host"));
        }
        let path_with_query = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok(Self {
            https,
            authority: authority.to_owned(),
            host: host.to_ascii_lowercase(),
            path_with_query,
        })
    }
}

/// The wasi:http calls. Compiled on every target, called only inside a component.
mod transport {
    use super::{HttpError, Request, Response, Target};
    use crate::__private::bindings::wasi::http::outgoing_handler;
    use crate::__private::bindings::wasi::http::types::{
        ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, Method as WasiMethod,
        OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use crate::__private::bindings::wasi::io::streams::StreamError;

    /// The most bytes one blocking write may carry (a wasi:io contract).
    const WRITE_CHUNK: usize = 4096;
    /// How much to ask for per read.
    const READ_CHUNK: u64 = 64 * 1024;

    /// A request the host is sending; [`InFlight::finish`] waits for its response.
    pub(super) struct InFlight {
        future: FutureIncomingResponse,
        host: String,
        limit: usize,
    }

    pub(super) fn start(request: &Request, target: &Target) -> Result<InFlight, HttpError> {
        let host = target.host.as_str();
        let headers = Fields::new();
        let mut has_user_agent = false;
        for (name, value) in &request.headers {
            has_user_agent |= name.eq_ignore_ascii_case("user-agent");
            headers
                .append(name, value.as_bytes())
                .map_err(|error| header_error(name, error))?;
        }
        if !has_user_agent {
            let agent = concat!("tributary-sdk/", env!("CARGO_PKG_VERSION"));
            headers
                .append("user-agent", agent.as_bytes())
                .map_err(|error| header_error("user-agent", error))?;
        }
        if !request.body.is_empty() {
            headers
                .set(
                    "content-length",
                    &[request.body.len().to_string().into_bytes()],
                )
                .map_err(|error| header_error("content-length", error))?;
        }

        let outgoing = OutgoingRequest::new(headers);
        let invalid =
            |what: &str| HttpError::InvalidRequest(format!("the host refused the {what}"));
        outgoing
            .set_method(&wasi_method(request.method))
            .map_err(|()| invalid("method"))?;
        let scheme = if target.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        outgoing
            .set_authority(Some(&target.authority))
            .map_err(|()| invalid("authority"))?;
        outgoing
            .set_path_with_query(Some(&target.path_with_query))
            .map_err(|()| invalid("path"))?;
        let body = outgoing
            .body()
            .map_err(|()| HttpError::Other("the request body was already taken".into()))?;

        let options = RequestOptions::new();
        if let Some(timeout) = request.timeout {
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            // A host that does not support a timeout refuses it; the call budget remains.
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
        }

        // Hand the request over first, then stream the body: the host only drains the
        // body once it is sending the request.
        let future = outgoing_handler::handle(outgoing, Some(options))
            .map_err(|code| from_error_code(code, host))?;
        write_body(body, &request.body, host)?;
        Ok(InFlight {
            future,
            host: target.host.clone(),
            limit: request.max_response_bytes,
        })
    }

    impl InFlight {
        /// Waits for the response and reads it whole.
        pub(super) fn finish(self) -> Result<Response, HttpError> {
            let InFlight {
                future,
                host,
                limit,
            } = self;
            read_response(future, &host, limit)
        }
    }

    fn read_response(
        future: FutureIncomingResponse,
        host: &str,
        limit: usize,
    ) -> Result<Response, HttpError> {
        let incoming = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(from_error_code(code, host)),
                Some(Err(())) => {
                    return Err(HttpError::Other("the response was already taken".into()))
                }
                None => future.subscribe().block(),
            }
        };
        drop(future);

        let status = incoming.status();
        let headers: Vec<(String, String)> = {
            let fields = incoming.headers();
            let entries = fields.entries();
            entries
                .into_iter()
                .map(|(name, value)| {
                    (
                        name.to_ascii_lowercase(),
                        String::from_utf8_lossy(&value).into_owned(),
                    )
                })
                .collect()
        };
        let too_large = || HttpError::ResponseTooLarge {
            host: host.to_owned(),
            limit,
        };
        let declared = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }

        let body_resource = incoming
            .consume()
            .map_err(|()| HttpError::Other("the response body was already taken".into()))?;
        let body = read_body(&body_resource, limit, host, declared)?;
        drop(IncomingBody::finish(body_resource));
        drop(incoming);
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn write_body(body: OutgoingBody, bytes: &[u8], host: &str) -> Result<(), HttpError> {
        if !bytes.is_empty() {
            let stream = body.write().map_err(|()| {
                HttpError::Other("the request body stream was already taken".into())
            })?;
            for chunk in bytes.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|error| stream_error(error, host, "sending the request body"))?;
            }
            drop(stream);
        }
        OutgoingBody::finish(body, None).map_err(|code| from_error_code(code, host))
    }

    fn read_body(
        body: &IncomingBody,
        limit: usize,
        host: &str,
        declared: Option<u64>,
    ) -> Result<Vec<u8>, HttpError> {
        let stream = body
            .stream()
            .map_err(|()| HttpError::Other("the response body stream was already taken".into()))?;
        let capacity = declared.map_or(0, |length| length.min(limit as u64) as usize);
        let mut bytes = Vec::with_capacity(capacity);
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(HttpError::ResponseTooLarge {
                            host: host.to_owned(),
                            limit,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(error) => return Err(stream_error(error, host, "reading the response body")),
            }
        }
        drop(stream);
        Ok(bytes)
    }

    fn wasi_method(method: super::Method) -> WasiMethod {
        match method {
            super::Method::Get => WasiMethod::Get,
            super::Method::Head => WasiMethod::Head,
            super::Method::Post => WasiMethod::Post,
            super::Method::Put => WasiMethod::Put,
            super::Method::Delete => WasiMethod::Delete,
            super::Method::Patch => WasiMethod::Patch,
            super::Method::Options => WasiMethod::Options,
        }
    }

    fn header_error(name: &str, error: HeaderError) -> HttpError {
        HttpError::InvalidRequest(match error {
            HeaderError::InvalidSyntax => format!("the header {name:?} or its value is not valid"),
            HeaderError::Forbidden => {
                format!("the host does not let plugins set the header {name:?}")
            }
            HeaderError::Immutable => format!("the header {name:?} can no longer be changed"),
        })
    }

    fn stream_error(error: StreamError, host: &str, doing: &str) -> HttpError {
        match error {
            StreamError::Closed => HttpError::Protocol {
                host: host.to_owned(),
                reason: format!("the connection closed while {doing}"),
            },
            StreamError::LastOperationFailed(io_error) => {
                match crate::__private::bindings::wasi::http::types::http_error_code(&io_error) {
                    Some(code) => from_error_code(code, host),
                    None => HttpError::Protocol {
                        host: host.to_owned(),
                        reason: format!("{doing} failed: {}", io_error.to_debug_string()),
                    },
                }
            }
        }
    }

    /// Turns the host's wasi:http error code into an [`HttpError`] with a clear message.
    pub(super) fn from_error_code(code: ErrorCode, host: &str) -> HttpError {
        let connect = |reason: &str| HttpError::Connect {
            host: host.to_owned(),
            reason: reason.to_owned(),
        };
        let timeout = |reason: &str| HttpError::Timeout {
            host: host.to_owned(),
            reason: reason.to_owned(),
        };
        let protocol = |reason: String| HttpError::Protocol {
            host: host.to_owned(),
            reason,
        };
        let invalid = |reason: &str| HttpError::InvalidRequest(reason.to_owned());
        match code {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
                HttpError::Denied {
                    host: host.to_owned(),
                }
            }
            ErrorCode::DnsTimeout => timeout("the DNS lookup timed out"),
            ErrorCode::DnsError(payload) => connect(&format!(
                "the DNS lookup failed{}",
                payload
                    .rcode
                    .map(|rcode| format!(" ({rcode})"))
                    .unwrap_or_default()
            )),
            ErrorCode::DestinationNotFound => connect("the host name does not resolve"),
            ErrorCode::DestinationUnavailable => connect("the destination is unavailable"),
            ErrorCode::DestinationIpUnroutable => connect("the destination address is unroutable"),
            ErrorCode::ConnectionRefused => connect("the connection was refused"),
            ErrorCode::ConnectionTerminated => connect("the connection was closed unexpectedly"),
            ErrorCode::ConnectionLimitReached => connect("the host's connection limit was reached"),
            ErrorCode::ConnectionTimeout => timeout("connecting took too long"),
            ErrorCode::ConnectionReadTimeout => {
                timeout("reading from the connection took too long")
            }
            ErrorCode::ConnectionWriteTimeout => timeout("writing to the connection took too long"),
            ErrorCode::HttpResponseTimeout => timeout("the response took too long to arrive"),
            ErrorCode::TlsProtocolError => connect("the TLS handshake failed"),
            ErrorCode::TlsAlertReceived(payload) => connect(&format!(
                "the server sent a TLS alert{}",
                payload
                    .alert_message
                    .map(|message| format!(": {message}"))
                    .unwrap_or_default()
            )),
            ErrorCode::TlsCertificateError => {
                HttpError::Other(format!("the TLS certificate of {host} was rejected"))
            }
            ErrorCode::HttpRequestLengthRequired => invalid("the server requires a content-length"),
            ErrorCode::HttpRequestBodySize(_) => invalid("the request body has the wrong size"),
            ErrorCode::HttpRequestMethodInvalid => invalid("the method is not valid"),
            ErrorCode::HttpRequestUriInvalid => invalid("the URL is not valid"),
            ErrorCode::HttpRequestUriTooLong => invalid("the URL is too long"),
            ErrorCode::HttpRequestHeaderSectionSize(_) | ErrorCode::HttpRequestHeaderSize(_) => {
                invalid("the request headers are too large")
            }
            ErrorCode::HttpRequestTrailerSectionSize(_) | ErrorCode::HttpRequestTrailerSize(_) => {
                invalid("the request trailers are too large")
            }
            ErrorCode::HttpResponseIncomplete => protocol("the response was cut short".into()),
            ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => {
                protocol("the response headers are too large".into())
            }
            ErrorCode::HttpResponseBodySize(_) => {
                protocol("the response body does not have its declared size".into())
            }
            ErrorCode::HttpResponseTrailerSectionSize(_)
            | ErrorCode::HttpResponseTrailerSize(_) => {
                protocol("the response trailers are too large".into())
            }
            ErrorCode::HttpResponseTransferCoding(coding) => protocol(format!(
                "unsupported transfer coding {}",
                coding.unwrap_or_default()
            )),
            ErrorCode::HttpResponseContentCoding(coding) => protocol(format!(
                "unsupported content coding {}",
                coding.unwrap_or_default()
            )),
            ErrorCode::HttpUpgradeFailed => protocol("the protocol upgrade failed".into()),
            ErrorCode::HttpProtocolError => protocol("the server broke the HTTP protocol".into()),
            ErrorCode::LoopDetected => {
                HttpError::Other(format!("a request loop to {host} was detected"))
            }
            ErrorCode::ConfigurationError => {
                HttpError::Other("the host's HTTP client is misconfigured".into())
            }
            ErrorCode::InternalError(message) => protocol(format!(
                "the host's HTTP client failed: {}",
                message.unwrap_or_else(|| "no details".into())
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::transport::from_error_code;
    use super::*;
    use crate::__private::bindings::wasi::http::types::{DnsErrorPayload, ErrorCode};

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let target =
            Target::parse("https://Bucket.S3.amazonaws.com/key%20x?list-type=2#frag").unwrap();
        assert!(target.https);
        assert_eq!(target.authority, "Bucket.S3.amazonaws.com");
        assert_eq!(target.host, "bucket.s3.amazonaws.com");
        assert_eq!(target.path_with_query, "/key%20x?list-type=2");

        let target = Target::parse("http://127.0.0.1:9000").unwrap();
        assert!(!target.https);
        assert_eq!(target.authority, "127.0.0.1:9000");
        assert_eq!(target.host, "127.0.0.1");
        assert_eq!(target.path_with_query, "/");

        let target = Target::parse("http://[::1]:8080?x=1").unwrap();
        assert_eq!(target.host, "::1");
        assert_eq!(target.authority, "[::1]:8080");
        assert_eq!(target.path_with_query, "/?x=1");
    }

    #[test]
    fn bad_urls_are_invalid_requests() {
        for url in [
            "example.com/x",
            "ftp://example.com/",
            "https:///path",
            "https://user:pw@host/",
        ] {
            let error = Target::parse(url).unwrap_err();
            assert!(
                matches!(error, HttpError::InvalidRequest(_)),
                "{url}: {error:?}"
            );
            assert!(error.to_string().contains(url), "{error}");
        }
    }

    #[test]
    fn send_all_answers_every_request_in_order() {
        let mut requests: Vec<Request> = (0..2 * MAX_IN_FLIGHT + 3)
            .map(|i| Request::head(format!("https://example.com/{i}")))
            .collect();
        requests[MAX_IN_FLIGHT + 1] = Request::get("nonsense");
        let outcomes: Vec<_> = send_all(requests).collect();
        assert_eq!(outcomes.len(), 2 * MAX_IN_FLIGHT + 3);
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Err(HttpError::InvalidRequest(_)) => assert_eq!(i, MAX_IN_FLIGHT + 1),
                Err(HttpError::Unavailable) => assert_ne!(i, MAX_IN_FLIGHT + 1),
                other => panic!("request {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn sending_outside_a_component_is_unavailable() {
        let error = Request::get("https://example.com/").send().unwrap_err();
        assert_eq!(error, HttpError::Unavailable);
        assert!(matches!(
            ConnectorError::from(error),
            ConnectorError::Fatal(_)
        ));
        let error = Request::get("nonsense").send().unwrap_err();
        assert!(matches!(error, HttpError::InvalidRequest(_)));
    }

    #[test]
    fn builder_records_what_it_is_given() {
        let request = Request::post("https://h/x")
            .header("x-a", "1")
            .body("hello")
            .timeout(Duration::from_secs(5))
            .max_response_bytes(10);
        assert_eq!(request.method(), Method::Post);
        assert_eq!(request.url(), "https://h/x");
        assert_eq!(request.headers(), [("x-a".to_string(), "1".to_string())]);
        assert_eq!(request.body_bytes(), b"hello");
        let request = Request::put("https://h/")
            .json_body(&serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(request.body_bytes(), br#"{"a":1}"#);
        assert_eq!(request.headers()[0].1, "application/json");
    }

    #[test]
    fn denied_requests_say_the_plugin_may_not_call_that_host() {
        let error = from_error_code(ErrorCode::HttpRequestDenied, "forbidden.example.net");
        assert_eq!(
            error,
            HttpError::Denied {
                host: "forbidden.example.net".into()
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("the host refused the request"),
            "{message}"
        );
        assert!(
            message.contains("not allowed to call forbidden.example.net"),
            "{message}"
        );
        match ConnectorError::from(error) {
            ConnectorError::Fatal(fatal) => assert_eq!(fatal, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connection_problems_and_timeouts_are_transient() {
        for code in [
            ErrorCode::ConnectionRefused,
            ErrorCode::ConnectionTerminated,
            ErrorCode::DnsError(DnsErrorPayload {
                rcode: Some("SERVFAIL".into()),
                info_code: None,
            }),
            ErrorCode::ConnectionTimeout,
            ErrorCode::HttpResponseTimeout,
            ErrorCode::HttpResponseIncomplete,
        ] {
            let error = from_error_code(code, "h.example");
            assert!(error.to_string().contains("h.example"), "{error}");
            assert!(
                matches!(
                    ConnectorError::from(error.clone()),
                    ConnectorError::Transient(_)
                ),
                "{error:?}"
            );
        }
        for code in [
            ErrorCode::HttpRequestUriInvalid,
            ErrorCode::TlsCertificateError,
        ] {
            let error = from_error_code(code, "h.example");
            assert!(matches!(
                ConnectorError::from(error),
                ConnectorError::Fatal(_)
            ));
        }
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_connector_errors() {
        let error = response(403, &[], "<Error>AccessDenied</Error>").status_error("listing b");
        assert_eq!(
            error,
            ConnectorError::Unauthorized("listing b: HTTP 403: <Error>AccessDenied</Error>".into())
        );
        assert!(matches!(
            response(404, &[], "").status_error("x"),
            ConnectorError::NotFound(m) if m == "x: HTTP 404"
        ));
        assert_eq!(
            response(429, &[("Retry-After", "3")], "").status_error("x"),
            ConnectorError::Throttled {
                message: "x: HTTP 429".into(),
                retry_after_ms: Some(3000)
            }
        );
        assert!(matches!(
            response(503, &[("retry-after", "1")], "").status_error("x"),
            ConnectorError::Throttled { .. }
        ));
        assert!(matches!(
            response(503, &[], "").status_error("x"),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            response(500, &[], "").status_error("x"),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            response(400, &[], "").status_error("x"),
            ConnectorError::Fatal(_)
        ));
        let long = "e".repeat(1000);
        let ConnectorError::Fatal(message) = response(400, &[], &long).status_error("x") else {
            panic!()
        };
        assert!(message.len() < 400 && message.ends_with('…'), "{message}");
        assert!(response(204, &[], "").error_for_status("x").is_ok());
    }

    #[test]
    fn responses_decode_text_json_and_headers() {
        let ok = response(
            200,
            &[("Content-Type", "application/json")],
            r#"{"items": [1, "two"]}"#,
        );
        assert!(ok.is_success());
        assert_eq!(ok.header("content-type"), Some("application/json"));
        assert_eq!(ok.header("missing"), None);
        assert_eq!(ok.text(), r#"{"items": [1, "two"]}"#);

        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Listing {
            items: Vec<u32>,
        }
        let error = ok.json::<Listing>().unwrap_err();
        assert!(error.to_string().contains("items[1]"), "{error}");
        let value: serde_json::Value = ok.json().unwrap();
        assert_eq!(value["items"][0], 1);
    }
}
