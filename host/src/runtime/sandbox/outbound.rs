//! The HTTP client that plugins' allowed requests go out through: HTTP/1.1
//! over TCP or TLS, with connections kept alive per authority and shared by
//! every instance, so a listing's hundreds of requests (pages, HEADs, token
//! exchanges) do not each pay a TCP and TLS handshake.
//!
//! Which host names may be called is decided before, by
//! [`super::http_policy`]; which addresses a name may lead to is decided
//! here, on the one DNS answer the connection is opened to, so a name cannot
//! pass a check with a public address and then connect to a private one
//! (DNS rebinding).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// What a request waits for when the guest set no timeout of its own (as
/// wasmtime-wasi-http's default sender does).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long an unused connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Unused connections kept per authority.
const MAX_IDLE_PER_AUTHORITY: usize = 16;

/// Which addresses a request may be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Public addresses only: a plugin's declared host names must not lead
    /// into loopback or private networks, whatever their DNS says.
    Public,
    /// Any address: a connection's own `endpoint_url`, which whoever set up
    /// the connection named (emulators, on-prem stores).
    Any,
}

/// Why [`OutboundClient::send`] got no response.
#[derive(Debug)]
pub enum SendError {
    /// Refused before connecting; the reason is for the user.
    Denied(String),
    /// The request failed on the way.
    Http(HttpError),
}

impl From<HttpError> for SendError {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

/// A host name that resolved to a non-public address under [`Reach::Public`].
#[derive(Debug)]
struct NonPublicAddress {
    host: String,
    ip: IpAddr,
}

impl std::fmt::Display for NonPublicAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to the non-public address {}; only a connection's own endpoint_url may point at private networks",
            self.host, self.ip
        )
    }
}

impl std::error::Error for NonPublicAddress {}

/// Pooled HTTP/1.1 clients, one pool per [`Reach`], so a connection opened
/// to a private endpoint is never reused for a public-only request; clones
/// share the pools.
#[derive(Clone)]
pub struct OutboundClient {
    public: Client<Connector, WasiBody>,
    any: Client<Connector, WasiBody>,
}

impl Default for OutboundClient {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient").finish_non_exhaustive()
    }
}

impl OutboundClient {
    pub fn new() -> Self {
        let tls = tls_connector();
        let client = |reach| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .pool_max_idle_per_host(MAX_IDLE_PER_AUTHORITY)
                .build(Connector {
                    tls: tls.clone(),
                    reach,
                })
        };
        Self {
            public: client(Reach::Public),
            any: client(Reach::Any),
        }
    }

    /// Sends `request` (an absolute URI) on a kept-alive connection to an
    /// address within `reach`, honouring the guest's timeouts: connect plus
    /// first byte for the response head, between bytes for the body.
    pub async fn send(
        &self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        reach: Reach,
    ) -> Result<Response<WasiBody>, SendError> {
        let client = match reach {
            Reach::Public => &self.public,
            Reach::Any => &self.any,
        };
        let connect = options
            .and_then(|o| o.connect_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let first_byte = options
            .and_then(|o| o.first_byte_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let between_bytes = options
            .and_then(|o| o.between_bytes_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let response =
            tokio::time::timeout(connect.saturating_add(first_byte), client.request(request))
                .await
                .map_err(|_| HttpError::ConnectionReadTimeout)?
                .map_err(|e| client_error(&e))?;
        Ok(response.map(|body| TimedBody::new(body, between_bytes).boxed_unsync()))
    }
}

/// The closest wasi-http error for a failed request, or the refusal of a
/// non-public address: the cause in the error's source chain decides.
fn client_error(error: &hyper_util::client::legacy::Error) -> SendError {
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            if let Some(refused) = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<NonPublicAddress>())
            {
                return SendError::Denied(refused.to_string());
            }
            return SendError::Http(match io.kind() {
                io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
                io::ErrorKind::TimedOut => HttpError::ConnectionTimeout,
                _ if error.is_connect() => {
                    HttpError::Connect(io::Error::new(io.kind(), io.to_string()))
                }
                _ => HttpError::ConnectionTerminated,
            });
        }
        if let Some(hyper) = current.downcast_ref::<hyper::Error>() {
            return SendError::Http(if hyper.is_timeout() {
                HttpError::HttpResponseTimeout
            } else if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                HttpError::ConnectionTerminated
            } else {
                HttpError::HttpProtocolError
            });
        }
        cause = current.source();
    }
    SendError::Http(if error.is_connect() {
        HttpError::Connect(io::Error::other(error.to_string()))
    } else {
        HttpError::HttpProtocolError
    })
}

/// A response body that fails when the server goes quiet for longer than
/// the guest's between-bytes timeout.
struct TimedBody {
    inner: hyper::body::Incoming,
    quiet_for: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(inner: hyper::body::Incoming, quiet_for: Duration) -> Self {
        Self {
            inner,
            quiet_for,
            deadline: Box::pin(tokio::time::sleep(quiet_for)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.quiet_for;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                std::task::ready!(self.deadline.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn tls_connector() -> TlsConnector {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // This client speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// Opens TCP connections to addresses within its reach, with TLS for `https`.
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
    reach: Reach,
}

impl Connector {
    /// Resolves `host` once; under [`Reach::Public`], any non-public address
    /// in the answer refuses the connection. The connection goes to these
    /// same addresses, never to a second lookup's.
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
        if self.reach == Reach::Public {
            if let Some(address) = addresses.iter().find(|a| is_non_public(a.ip())) {
                let refused = NonPublicAddress {
                    host: host.to_string(),
                    ip: address.ip(),
                };
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, refused));
            }
        }
        Ok(addresses)
    }

    async fn connect(self, uri: Uri) -> io::Result<Conn> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(invalid("the URL's scheme is neither http nor https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| invalid("the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let addresses = self.resolve(&host, port).await?;
        let tcp = TcpStream::connect(addresses.as_slice()).await?;
        tcp.set_nodelay(true)?;
        if !tls {
            return Ok(Conn(TokioIo::new(Stream::Plain(tcp))));
        }
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(host)
                .map_err(|_| invalid("the URL's host is not a valid TLS server name"))?,
        };
        let stream = self.tls.connect(name, tcp).await?;
        Ok(Conn(TokioIo::new(Stream::Tls(Box::new(stream)))))
    }
}

impl tower::Service<Uri> for Connector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
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

/// A connection as hyper's pool wants it.
struct Conn(TokioIo<Stream>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A keep-alive HTTP/1.1 server answering `ok` to every GET; counts the
    /// connections it accepted.
    async fn server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.is_empty() {
                            let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if writer.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (address, accepted)
    }

    fn get(url: &str) -> Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        Request::get(url).body(body).unwrap()
    }

    #[tokio::test]
    async fn requests_to_one_authority_share_a_connection() {
        let (address, accepted) = server().await;
        let client = OutboundClient::new();
        for _ in 0..20 {
            let response = client
                .send(get(&format!("http://{address}/x")), None, Reach::Any)
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_as_such() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = OutboundClient::new()
            .send(get(&format!("http://127.0.0.1:{port}/")), None, Reach::Any)
            .await
            .unwrap_err();
        assert!(
            matches!(error, SendError::Http(HttpError::ConnectionRefused)),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_public_only_request_never_connects_to_a_private_address() {
        let (address, accepted) = server().await;
        let client = OutboundClient::new();
        let port = address.port();
        for url in [
            format!("http://localhost:{port}/"),
            format!("http://127.0.0.1:{port}/"),
        ] {
            match client.send(get(&url), None, Reach::Public).await {
                Err(SendError::Denied(reason)) => {
                    assert!(reason.contains("non-public address"), "{reason}");
                    assert!(reason.contains("endpoint_url"), "{reason}");
                }
                other => panic!("{url}: expected a refusal, got {other:?}"),
            }
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "a connection was made");
        // The same server as a connection's endpoint: reachable, on a pool of
        // its own.
        let response = client
            .send(get(&format!("http://{address}/")), None, Reach::Any)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(matches!(
            client
                .send(get(&format!("http://{address}/")), None, Reach::Public)
                .await,
            Err(SendError::Denied(_))
        ));
    }

    #[test]
    fn private_ranges_are_non_public() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "100.128.0.1", "2001:4860::8888"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
