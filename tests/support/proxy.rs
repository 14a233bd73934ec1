//! A loopback TCP proxy in front of an emulator, for the cloud connector
//! tests. It follows HTTP/1.1 framing on the way in (heads end at a blank
//! line, bodies by `content-length` or chunked), so it records the request
//! line of every request, also on kept-alive connections, and it can be made
//! unreachable (open connections are cut, new ones closed at once) and
//! brought back, at once or after a number of requests, to simulate the
//! provider going away mid-run. Plain threads, no runtime.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The longest first line recorded; a request line is far shorter.
const MAX_LINE: usize = 16 * 1024;

/// A running proxy; stopped when dropped.
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    reachable: AtomicBool,
    stopping: AtomicBool,
    /// Request lines, in the order the requests arrived.
    requests: Mutex<Vec<String>>,
    /// Both ends of every connection in flight, by id, so that they can be cut.
    open: Mutex<HashMap<u64, Vec<TcpStream>>>,
    next_id: AtomicU64,
    connections: AtomicU64,
    /// Requests still forwarded before the proxy goes away by itself
    /// (`u64::MAX`: no limit).
    forward_budget: AtomicU64,
}

impl Proxy {
    /// Starts a proxy on a free loopback port that forwards to `upstream`
    /// (`http://host:port` or `host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let authority = upstream.trim_start_matches("http://").trim_end_matches('/');
        let upstream: SocketAddr = authority
            .parse()
            .unwrap_or_else(|e| panic!("the proxy's upstream {authority:?}: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            reachable: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            forward_budget: AtomicU64::new(u64::MAX),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, shared))
        };
        Proxy {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The proxy's URL, e.g. `http://127.0.0.1:40123`: put it in a
    /// connection's `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The request line of every forwarded request so far, e.g.
    /// `GET /bucket?list-type=2&prefix=docs%2F HTTP/1.1`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.shared.requests.lock().unwrap().clear();
    }

    /// Connections accepted so far, forwarded or refused.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// `false`: cut every open connection and close new ones at once;
    /// `true`: forward again (without a limit).
    pub fn set_reachable(&self, reachable: bool) {
        self.shared.forward_budget.store(u64::MAX, Ordering::SeqCst);
        self.shared.set_reachable(reachable);
    }

    /// Forwards `requests` more requests, then goes away as
    /// `set_reachable(false)` does: a cut at an exact point of a run.
    pub fn go_away_after(&self, requests: u64) {
        self.shared.forward_budget.store(requests, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.set_reachable(false);
        // Wake the acceptor so that it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The path and query of a recorded request line, percent-decoded into
/// `(name, value)` pairs; e.g. `("prefix", "docs/")`.
pub fn query_params(request_line: &str) -> Vec<(String, String)> {
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, query)| query);
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        if !shared.reachable.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let shared = shared.clone();
        std::thread::spawn(move || proxy_connection(client, shared));
    }
}

/// Forwards one connection both ways, recording its requests.
fn proxy_connection(client: TcpStream, shared: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(shared.upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    {
        let mut open = shared.open.lock().unwrap();
        if !shared.reachable.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let handles = [&client, &upstream]
            .iter()
            .filter_map(|stream| stream.try_clone().ok())
            .collect();
        open.insert(id, handles);
    }
    let (Ok(client_reader), Ok(upstream_writer)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let forward = {
        let shared = shared.clone();
        std::thread::spawn(move || pump(client_reader, upstream_writer, Some(&shared)))
    };
    pump(upstream, client, None);
    let _ = forward.join();
    shared.open.lock().unwrap().remove(&id);
}

/// Copies `from` to `to` until either side closes, then closes both. With
/// `requests` (the client's side), records each request line and stops
/// before a request the forward budget no longer allows.
fn pump(mut from: TcpStream, mut to: TcpStream, requests: Option<&Shared>) {
    let mut framer = RequestFramer::default();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let Some(shared) = requests {
            let mut admitted = true;
            framer.feed(&buffer[..read], |line| {
                admitted = admitted && shared.admit(line);
            });
            if !admitted {
                break;
            }
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Shared {
    fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::SeqCst);
        if !reachable {
            for stream in self.open.lock().unwrap().drain().flat_map(|(_, ends)| ends) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// A request begins: `false` (and the proxy goes away) once the forward
    /// budget is spent, else it is counted and its line recorded.
    fn admit(&self, line: &[u8]) -> bool {
        let budget = self.forward_budget.load(Ordering::SeqCst);
        if budget == 0 || !self.reachable.load(Ordering::SeqCst) {
            self.set_reachable(false);
            return false;
        }
        if budget != u64::MAX {
            self.forward_budget.store(budget - 1, Ordering::SeqCst);
        }
        let line = String::from_utf8_lossy(line).trim_end().to_string();
        self.requests.lock().unwrap().push(line);
        true
    }
}

/// Where one request ends and the next begins in a client's byte stream.
#[derive(Default)]
struct RequestFramer {
    state: Framing,
    /// The head (or chunk-size line) read so far.
    pending: Vec<u8>,
    /// The current head's request line was reported.
    line_reported: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum Framing {
    #[default]
    Head,
    /// Body bytes still to come (`content-length`).
    Body(u64),
    /// A chunked body: the next chunk-size line.
    ChunkSize,
    /// Data of the current chunk, then its CRLF.
    ChunkData(u64),
    /// Trailer lines after the last chunk, up to a blank line.
    Trailers,
}

impl RequestFramer {
    /// Feeds bytes from the client; calls `on_request` with the request line
    /// of each request that starts in them.
    fn feed(&mut self, mut bytes: &[u8], mut on_request: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            match self.state {
                Framing::Body(left) | Framing::ChunkData(left) => {
                    let take = (left as usize).min(bytes.len());
                    bytes = &bytes[take..];
                    let left = left - take as u64;
                    self.state = match self.state {
                        Framing::Body(_) if left == 0 => Framing::Head,
                        Framing::Body(_) => Framing::Body(left),
                        _ if left == 0 => Framing::ChunkSize,
                        _ => Framing::ChunkData(left),
                    };
                }
                Framing::Head | Framing::ChunkSize | Framing::Trailers => {
                    let (line_end, rest) = match bytes.iter().position(|&b| b == b'\n') {
                        Some(at) => (true, at + 1),
                        None => (false, bytes.len()),
                    };
                    self.pending.extend_from_slice(&bytes[..rest]);
                    bytes = &bytes[rest..];
                    if self.state == Framing::Head && !self.line_reported {
                        let line = self.pending.as_slice();
                        if let Some(end) = line.iter().position(|&b| b == b'\n') {
                            on_request(&line[..end]);
                            self.line_reported = true;
                        } else if line.len() > MAX_LINE {
                            on_request(line);
                            self.line_reported = true;
                        }
                    }
                    if line_end {
                        self.line_done();
                    }
                }
            }
        }
    }

    /// A line of a head, chunk size or trailer ended (it is in `pending`).
    fn line_done(&mut self) {
        match self.state {
            Framing::Head => {
                if !self.pending.ends_with(b"\r\n\r\n") && !self.pending.ends_with(b"\n\n") {
                    return; // more head lines follow
                }
                let head = String::from_utf8_lossy(&self.pending).to_ascii_lowercase();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                };
                self.state = if header("transfer-encoding:").is_some_and(|v| v.contains("chunked"))
                {
                    Framing::ChunkSize
                } else {
                    match header("content-length:").and_then(|v| v.parse().ok()) {
                        Some(length) if length > 0 => Framing::Body(length),
                        _ => Framing::Head,
                    }
                };
                self.line_reported = false;
            }
            Framing::ChunkSize => {
                let line = String::from_utf8_lossy(&self.pending);
                let size = line.split(';').next().unwrap_or("").trim();
                self.state = match u64::from_str_radix(size, 16) {
                    Ok(0) => Framing::Trailers,
                    Ok(size) => Framing::ChunkData(size + 2), // and its CRLF
                    Err(_) => Framing::ChunkSize,
                };
            }
            Framing::Trailers => {
                if self.pending == b"\r\n" || self.pending == b"\n" {
                    self.state = Framing::Head;
                }
            }
            Framing::Body(_) | Framing::ChunkData(_) => {}
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A one-line echo server: answers `ok <line>` and closes, per connection.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let reader = stream.try_clone().map(std::io::BufReader::new);
                if reader.and_then(|mut r| r.read_line(&mut line)).unwrap_or(0) > 0 {
                    let _ = stream.write_all(format!("ok {line}").as_bytes());
                }
            }
        });
        address
    }

    fn ask(proxy: &Proxy, line: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(proxy.address)?;
        stream.write_all(line.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn forwards_records_and_goes_away_on_demand() {
        let proxy = Proxy::start(&format!("http://{}", echo_server()));
        assert_eq!(
            ask(&proxy, "GET /b?prefix=a%20b%2F HTTP/1.1\r\n").unwrap(),
            "ok GET /b?prefix=a%20b%2F HTTP/1.1\r\n"
        );
        assert_eq!(
            ask(&proxy, "HEAD /b/k HTTP/1.1\r\n").unwrap(),
            "ok HEAD /b/k HTTP/1.1\r\n"
        );
        proxy.set_reachable(false);
        // Closed before anything is forwarded: no answer.
        assert_eq!(
            ask(&proxy, "GET /lost HTTP/1.1\r\n").unwrap_or_default(),
            ""
        );
        proxy.set_reachable(true);
        assert!(ask(&proxy, "GET /back HTTP/1.1\r\n")
            .unwrap()
            .starts_with("ok GET /back"));
        assert_eq!(
            proxy.requests(),
            [
                "GET /b?prefix=a%20b%2F HTTP/1.1",
                "HEAD /b/k HTTP/1.1",
                "GET /back HTTP/1.1"
            ]
        );
        assert_eq!(proxy.connections(), 4);
        assert_eq!(
            query_params(&proxy.requests()[0]),
            [("prefix".to_string(), "a b/".to_string())]
        );
        proxy.clear();
        assert!(proxy.requests().is_empty());
    }

    #[test]
    fn goes_away_by_itself_after_a_number_of_requests() {
        let proxy = Proxy::start(&echo_server().to_string());
        proxy.go_away_after(2);
        assert!(ask(&proxy, "GET /1 HTTP/1.1\r\n")
            .unwrap()
            .starts_with("ok"));
        assert!(ask(&proxy, "GET /2 HTTP/1.1\r\n")
            .unwrap()
            .starts_with("ok"));
        assert_eq!(ask(&proxy, "GET /3 HTTP/1.1\r\n").unwrap_or_default(), "");
        assert_eq!(ask(&proxy, "GET /4 HTTP/1.1\r\n").unwrap_or_default(), "");
        proxy.set_reachable(true);
        assert!(ask(&proxy, "GET /5 HTTP/1.1\r\n")
            .unwrap()
            .starts_with("ok"));
        assert_eq!(
            proxy.requests(),
            ["GET /1 HTTP/1.1", "GET /2 HTTP/1.1", "GET /5 HTTP/1.1"]
        );
    }

    /// Three requests on one connection; the bodies hold text that looks
    /// like requests and must not count as such.
    const KEPT_ALIVE: &str = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /b HTTP/1.1\r\nContent-Length: 20\r\n\r\nGET /fake HTTP/1.1\r\n\
        PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
        14\r\nGET /fake HTTP/1.1\r\n\r\n0\r\n\r\n\
        HEAD /d HTTP/1.1\r\n\r\n";

    fn lines_of(chunks: impl Iterator<Item = Vec<u8>>) -> Vec<String> {
        let mut framer = RequestFramer::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            framer.feed(&chunk, |line| {
                lines.push(String::from_utf8_lossy(line).trim_end().to_string())
            });
        }
        lines
    }

    #[test]
    fn every_request_of_a_kept_alive_connection_is_found_however_it_arrives() {
        let expected = [
            "GET /a HTTP/1.1",
            "POST /b HTTP/1.1",
            "PUT /c HTTP/1.1",
            "HEAD /d HTTP/1.1",
        ];
        let whole = lines_of(std::iter::once(KEPT_ALIVE.as_bytes().to_vec()));
        assert_eq!(whole, expected);
        let bytewise = lines_of(KEPT_ALIVE.bytes().map(|b| vec![b]));
        assert_eq!(bytewise, expected);
    }
}
