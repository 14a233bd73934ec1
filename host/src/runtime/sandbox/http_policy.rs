//! Outbound HTTP policy: which hosts a plugin instance may call, enforced in
//! wasi-http's send-request hook, plus the response-size cap.
//!
//! Owns the allow-list and its check; knows nothing about plugins or jobs.
//! Declared hosts get [`Reach::Public`]: the outbound client refuses them
//! any private address at connect time, on the DNS answer it connects to.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::outbound::{OutboundClient, Reach, SendError};

/// One allowed host: an exact name or a `*.` suffix wildcard, optionally with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com`.
    Suffix(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => name == host,
            Self::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

/// The hosts one plugin instance may reach, parsed once.
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    patterns: Vec<HostPattern>,
    /// The connection's own endpoint (`host`, `port`): allowed even when it
    /// resolves to a loopback or private address (emulators, on-prem stores).
    endpoint: Option<(String, u16)>,
}

impl HttpPolicy {
    /// Builds a policy from a plugin's declared hosts and a connection's
    /// optional `endpoint_url`.
    pub fn new(declared_hosts: &[String], endpoint_url: Option<&str>) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for raw in declared_hosts {
            let host = raw.trim().to_ascii_lowercase();
            if host.is_empty() || host.contains('/') {
                return Err(format!("allowed host {raw:?} is not a host name"));
            }
            patterns.push(match host.strip_prefix("*.") {
                Some(rest) => HostPattern::Suffix(format!(".{rest}")),
                None => HostPattern::Exact(host),
            });
        }
        let endpoint = match endpoint_url {
            None => None,
            Some(url) => {
                let uri: http::Uri = url
                    .parse()
                    .map_err(|e| format!("endpoint_url {url:?} is not a valid URL: {e}"))?;
                let host = uri
                    .host()
                    .ok_or_else(|| format!("endpoint_url {url:?} has no host"))?;
                let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                    Some("http") => 80,
                    _ => 443,
                });
                Some((normalise_host(host), port))
            }
        };
        Ok(Self { patterns, endpoint })
    }

    /// A policy that refuses every request.
    pub fn deny_all() -> Self {
        Self::default()
    }

    fn is_endpoint(&self, host: &str, port: u16) -> bool {
        self.endpoint
            .as_ref()
            .is_some_and(|(h, p)| h == host && *p == port)
    }

    /// Checks a request's target host before any connection is made: which
    /// addresses it may reach, or the reason for a refusal.
    pub fn check(&self, uri: &http::Uri) -> Result<Reach, String> {
        let host = uri
            .host()
            .map(normalise_host)
            .ok_or_else(|| "the request has no host".to_string())?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        if self.is_endpoint(&host, port) {
            return Ok(Reach::Any);
        }
        if !self.patterns.iter().any(|p| p.matches(&host)) {
            return Err(format!(
                "{host} is not among the plugin's allowed hosts; allow it by naming it in the connection's endpoint_url"
            ));
        }
        // A declared public name must not lead into loopback or private networks.
        Ok(Reach::Public)
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// The wasi-http hooks of one plugin instance: policy check, then the
/// shared pooled client, with the response body capped.
pub struct PolicyHooks {
    policy: HttpPolicy,
    outbound: OutboundClient,
    max_response_bytes: u64,
    /// Refusals so far, with their reasons, so the host can name them in the
    /// error it reports (the guest only sees `HttpRequestDenied`).
    pub denials: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl PolicyHooks {
    pub fn new(policy: HttpPolicy, outbound: OutboundClient, max_response_bytes: u64) -> Self {
        Self {
            policy,
            outbound,
            max_response_bytes,
            denials: Default::default(),
        }
    }
}

type ResponseFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let policy = self.policy.clone();
        let outbound = self.outbound.clone();
        let denials = self.denials.clone();
        let max = self.max_response_bytes;
        Box::new(async move {
            let uri = request.uri().clone();
            let refuse = |reason: String| {
                tracing::warn!(%uri, "outbound request refused: {reason}");
                denials.lock().expect("denials lock").push(reason);
                HttpError::HttpRequestDenied
            };
            let reach = policy.check(&uri).map_err(refuse)?;
            let response = match outbound.send(request, options, reach).await {
                Ok(response) => response,
                Err(SendError::Denied(reason)) => return Err(refuse(reason)),
                Err(SendError::Http(e)) => return Err(e),
            };
            let response = response.map(|body| CappedBody::new(body, max).boxed_unsync());
            // The pool drives the connection: nothing is left for the guest to await.
            let io = async { Ok(()) };
            Ok((
                response,
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

/// A response body that fails once more than `max` bytes have arrived.
struct CappedBody<B> {
    inner: B,
    seen: u64,
    max: u64,
}

impl<B> CappedBody<B> {
    fn new(inner: B, max: u64) -> Self {
        Self {
            inner,
            seen: 0,
            max,
        }
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes, Error = HttpError> + Unpin,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                self.seen += data.len() as u64;
                if self.seen > self.max {
                    return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                        self.seen,
                    )))));
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], endpoint: Option<&str>) -> HttpPolicy {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        HttpPolicy::new(&hosts, endpoint).unwrap()
    }

    fn check(policy: &HttpPolicy, url: &str) -> Result<Reach, String> {
        policy.check(&url.parse().unwrap())
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = policy(&["*.localhost"], None);
        assert_eq!(check(&p, "http://s3.localhost/"), Ok(Reach::Public));
        assert!(check(&p, "http://localhost/").is_err());
        let err = check(&p, "http://other.example/").unwrap_err();
        assert!(
            err.contains("not among the plugin's allowed hosts"),
            "{err}"
        );
    }

    #[test]
    fn declared_hosts_reach_public_addresses_only() {
        // Even a declared name that is a loopback literal: the outbound
        // client refuses it when it connects.
        let p = policy(&["storage.example.com", "127.0.0.1"], None);
        assert_eq!(
            check(&p, "https://storage.example.com/b"),
            Ok(Reach::Public)
        );
        assert_eq!(check(&p, "http://127.0.0.1/"), Ok(Reach::Public));
    }

    #[test]
    fn connection_endpoint_may_be_loopback() {
        let p = policy(&[], Some("http://127.0.0.1:9000"));
        assert_eq!(check(&p, "http://127.0.0.1:9000/b?x"), Ok(Reach::Any));
        // Same host, other port: not the endpoint.
        assert!(check(&p, "http://127.0.0.1:9001/").is_err());
    }
}
