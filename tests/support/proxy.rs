//! A loopback TCP proxy in front of an emulator, for the cloud connector
//! tests. It records the first request line of every connection — the
//! plugin runtime (wasmtime-wasi-http) opens one connection per request, so
//! that is every request a plugin makes — and it can be made unreachable
//! (open connections are cut, new ones closed at once) and brought back, to
//! simulate the provider going away mid-run. Plain threads, no runtime.

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
    /// First request lines, in the order connections were accepted.
    requests: Mutex<Vec<String>>,
    /// Both ends of every connection in flight, by id, so that they can be cut.
    open: Mutex<HashMap<u64, Vec<TcpStream>>>,
    next_id: AtomicU64,
    connections: AtomicU64,
    /// Connections still forwarded before the proxy goes away by itself
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

    /// The first line of every forwarded connection so far, e.g.
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

    /// Forwards `connections` more connections, then goes away as
    /// `set_reachable(false)` does: a cut at an exact point of a run.
    pub fn go_away_after(&self, connections: u64) {
        self.shared
            .forward_budget
            .store(connections, Ordering::SeqCst);
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
        let budget = shared.forward_budget.load(Ordering::SeqCst);
        if budget == 0 {
            shared.set_reachable(false);
        } else if budget != u64::MAX {
            shared.forward_budget.store(budget - 1, Ordering::SeqCst);
        }
        if !shared.reachable.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let shared = shared.clone();
        std::thread::spawn(move || proxy_connection(client, shared));
    }
}

/// Forwards one connection both ways, recording its first line.
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

/// Copies `from` to `to` until either side closes, then closes both;
/// with `record`, keeps the first line that passes.
fn pump(mut from: TcpStream, mut to: TcpStream, record: Option<&Shared>) {
    let mut first_line: Option<Vec<u8>> = record.map(|_| Vec::new());
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let (Some(line), Some(shared)) = (first_line.as_mut(), record) {
            line.extend_from_slice(&buffer[..read]);
            if let Some(end) = line.iter().position(|&b| b == b'\n') {
                shared.record(&line[..end]);
                first_line = None;
            } else if line.len() > MAX_LINE {
                shared.record(line);
                first_line = None;
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

    fn record(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line).trim_end().to_string();
        self.requests.lock().unwrap().push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A one-line echo server: answers `ok <line>` per connection.
    fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                std::io::BufReader::new(stream.try_clone().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                stream.write_all(format!("ok {line}").as_bytes()).unwrap();
            }
        });
        (address, handle)
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
        let (upstream, server) = echo_server();
        let proxy = Proxy::start(&format!("http://{upstream}"));
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
        server.join().unwrap();
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
    fn goes_away_by_itself_after_a_number_of_connections() {
        let (upstream, server) = echo_server();
        let proxy = Proxy::start(&upstream.to_string());
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
        server.join().unwrap();
        assert_eq!(
            proxy.requests(),
            ["GET /1 HTTP/1.1", "GET /2 HTTP/1.1", "GET /5 HTTP/1.1"]
        );
    }
}
