//! Outbound HTTP policy: which hosts a plugin instance may call, enforced in
//! wasi-http's send-request hook, plus the response-size cap.
//!
//! Owns the allow-list and its check; knows nothing about plugins or jobs.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::outbound::OutboundClient;

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

    /// Checks a request's target before any connection is made. Returns the
    /// reason for a refusal.
    pub async fn check(&self, uri: &http::Uri) -> Result<(), String> {
        let host = uri
            .host()
            .map(normalise_host)
            .ok_or_else(|| "the request has no host".to_string())?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        if self.is_endpoint(&host, port) {
            return Ok(());
        }
        if !self.patterns.iter().any(|p| p.matches(&host)) {
            return Err(format!(
                "{host} is not among the plugin's allowed hosts; allow it by naming it in the connection's endpoint_url"
            ));
        }
        // A declared public name must not lead into loopback or private networks.
        let addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        for addr in addrs {
            if is_non_public(addr.ip()) {
                return Err(format!(
                    "{host} resolves to the non-public address {}; only a connection's own endpoint_url may point at private networks",
                    addr.ip()
                ));
            }
        }
        Ok(())
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Loopback, private, link-local, unspecified and similar addresses.
fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
        }
    }
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
            if let Err(reason) = policy.check(request.uri()).await {
                tracing::warn!(uri = %request.uri(), "outbound request refused: {reason}");
                denials.lock().expect("denials lock").push(reason);
                return Err(HttpError::HttpRequestDenied);
            }
            let response = outbound.send(request, options).await?;
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

    #[tokio::test]
    async fn wildcard_matches_subdomains_only() {
        let p = policy(&["*.localhost"], None);
        assert!(p
            .check(&"http://amazonaws.com/".parse().unwrap())
            .await
            .is_err());
        let err = p
            .check(&"http://other.example/".parse().unwrap())
            .await
            .unwrap_err();
        assert!(
            err.contains("not among the plugin's allowed hosts"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn declared_host_resolving_to_loopback_is_refused() {
        let p = policy(&["localhost"], None);
        let err = p
            .check(&"http://localhost:9000/".parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.contains("non-public address"), "{err}");
    }

    #[tokio::test]
    async fn connection_endpoint_may_be_loopback() {
        let p = policy(&[], Some("http://127.0.0.1:9000"));
        assert!(p
            .check(&"http://127.0.0.1:9000/b?x".parse().unwrap())
            .await
            .is_ok());
        // Same host, other port: not the endpoint.
        assert!(p
            .check(&"http://127.0.0.1:9001/".parse().unwrap())
            .await
            .is_err());
    }

    #[test]
    fn private_ranges_are_non_public() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "127.0.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860::8888"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
