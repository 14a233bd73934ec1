//! Shared start-up for the end-to-end tests: where the built binary and the
//! plugin components are, and how to run the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod flow;
pub mod oauth;
pub mod providers;
pub mod proxy;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `tributary` binary built next to this test (`just test` builds it first).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRIBUTARY_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test> → target/<profile>/tributary
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("tributary");
    assert!(
        path.exists(),
        "{} does not exist: build it first (`just test` does)",
        path.display()
    );
    path
}

/// Where `scripts/install/` puts the emulators and tools:
/// `$TRIBUTARY_TOOLS` (set by the justfile), else `~/.cache/tributary-tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("TRIBUTARY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tributary-tools")
        })
}

/// An installed tool, `tools_dir()/bin/<name>`, failing the test with how to
/// install it when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/install-test-services.sh` (`just test` does)",
        path.display()
    );
    path
}

/// The default plugins (`just setup` builds them).
pub fn plugins_dir() -> PathBuf {
    existing_dir(workspace_root().join("plugins/dist"), "just setup")
}

/// The test-only plugins (`just test-plugins` builds them).
pub fn test_plugins_dir() -> PathBuf {
    existing_dir(
        workspace_root().join("plugins/dist-test"),
        "just test-plugins",
    )
}

fn existing_dir(path: PathBuf, recipe: &str) -> PathBuf {
    assert!(
        path.is_dir(),
        "{} is missing: run `{recipe}` first",
        path.display()
    );
    path
}

/// A `tributary` command with a private data folder and the default plugins.
pub fn tributary(data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env("TRIBUTARY_DATA_DIR", data_dir)
        .env("TRIBUTARY_PLUGINS_DIR", plugins_dir())
        .env_remove("TRIBUTARY_ALLOW_LOCAL_ROOTS")
        .env("RUST_LOG", "info");
    cmd
}

/// Runs a command and returns its output, failing the test with both streams
/// if it did not succeed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("run tributary");
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Where a test server keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded store in the server's own data folder.
    Embedded,
    /// Distributed mode: servers given the same value share one Redis prefix
    /// (so they are hosts of one deployment); each `Backend::redis()` is a
    /// fresh, empty deployment.
    Redis { url: String, prefix: String },
}

/// The admin key every distributed-mode test host is started with.
pub const TEST_ADMIN_KEY: &str = "trb_test_admin_key_for_distributed_hosts";
/// The sealing key every distributed-mode test host shares (base64 of 32 bytes).
pub const TEST_SECRET_KEY: &str = "dGVzdC1vbmx5LXNlYWxpbmcta2V5LTMyLWJ5dGVzISE=";

impl Backend {
    /// A fresh deployment on the test Redis (`REDIS_URL`, which `just test`
    /// sets to a private redis-server it starts).
    pub fn redis() -> Backend {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| {
            panic!("REDIS_URL is not set: run the tests with `just test` (it starts a private redis-server) or point REDIS_URL at a Redis you can write to")
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Backend::Redis {
            url,
            prefix: format!("trbtest-{}-{nanos}", std::process::id()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Redis { .. } => "redis",
        }
    }

    /// The `serve` flags that select this backend (next to `extra` flags).
    fn args(&self, extra: &[String]) -> Vec<String> {
        match self {
            Backend::Embedded => Vec::new(),
            Backend::Redis { url, prefix } => {
                let mut args = vec![
                    "--redis-url".into(),
                    url.clone(),
                    "--redis-prefix".into(),
                    prefix.clone(),
                ];
                if !extra.iter().any(|a| a == "--job-reclaim-idle") {
                    // A stopped host's job is taken over quickly in tests.
                    args.extend(["--job-reclaim-idle".into(), "3".into()]);
                }
                args
            }
        }
    }
}

/// Runs a test body once per backend: `on_both_stores!(name, other);` turns
/// each `fn name(backend: Backend)` into a module with an `embedded` and a
/// `redis` test.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn embedded() {
                    super::$name($crate::Backend::Embedded)
                }

                #[test]
                fn redis() {
                    super::$name($crate::Backend::redis())
                }
            }
        )*
    };
}

/// A `tributary serve` process on a free port with its own data folder,
/// killed when dropped.
pub struct Server {
    pub base: String,
    pub api_key: String,
    pub data_dir: PathBuf,
    pub local_root: PathBuf,
    child: Option<std::process::Child>,
    port: u16,
    backend: Backend,
    extra_args: Vec<String>,
    _temp: Option<tempfile::TempDir>,
    http: reqwest::blocking::Client,
}

impl Server {
    /// Starts a server on a fresh data folder; `local_root` is the one folder
    /// local connections may read.
    pub fn start(local_root: &Path) -> Server {
        Self::start_with(local_root, &[])
    }

    /// Like [`Server::start`], with extra `serve` flags.
    pub fn start_with(local_root: &Path, extra_args: &[&str]) -> Server {
        Self::start_on(&Backend::Embedded, local_root, extra_args)
    }

    /// A server on `backend`, with extra `serve` flags.
    pub fn start_on(backend: &Backend, local_root: &Path, extra_args: &[&str]) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut server = Server {
            base: String::new(),
            api_key: String::new(),
            data_dir,
            local_root: local_root.to_path_buf(),
            child: None,
            port: free_port(),
            backend: backend.clone(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            _temp: Some(temp),
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(binary())
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--plugins-dir")
            .arg(plugins_dir())
            .arg("--allow-local-root")
            .arg(&self.local_root)
            .args(self.backend.args(&self.extra_args))
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .env_remove("TRIBUTARY_ADMIN_KEY")
            .env_remove("TRIBUTARY_SECRET_KEY")
            .env_remove("TRIBUTARY_REDIS_URL")
            .env_remove("TRIBUTARY_CONFIG")
            .envs(match self.backend {
                Backend::Embedded => vec![],
                Backend::Redis { .. } => vec![
                    ("TRIBUTARY_ADMIN_KEY", TEST_ADMIN_KEY),
                    ("TRIBUTARY_SECRET_KEY", TEST_SECRET_KEY),
                ],
            })
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tributary serve");
        self.child = Some(child);
        self.base = format!("http://127.0.0.1:{}", self.port);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send() {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not start:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.api_key = match self.backend {
            Backend::Embedded => std::fs::read_to_string(self.data_dir.join("admin.key"))
                .unwrap()
                .trim()
                .to_string(),
            Backend::Redis { .. } => TEST_ADMIN_KEY.to_string(),
        };
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_file_name("server.log")
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Everything the server's store holds, as raw bytes: the database file,
    /// or every value under the deployment's Redis prefix.
    pub fn stored_bytes(&self) -> Vec<u8> {
        match &self.backend {
            Backend::Embedded => std::fs::read(self.data_dir.join("tributary.redb")).unwrap(),
            Backend::Redis { url, prefix } => redis_values(url, prefix),
        }
    }

    /// The `serve` process id (to pause it with SIGSTOP, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the server again on the same data folder and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Sends a request and returns (status, JSON body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// Like [`Server::call`], failing the test unless the status is 2xx.
    pub fn ok(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, json) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path} → {status}: {json}"
        );
        json
    }

    /// Polls a job until it leaves PENDING/IN_PROGRESS.
    pub fn wait_job(&self, job_id: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let job = self.ok("GET", &format!("/v1/syncs/{job_id}"), None);
            let status = job["status"].as_str().unwrap().to_string();
            if status != "PENDING" && status != "IN_PROGRESS" {
                return job;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {job_id} did not end: {job}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Every item of a paged `POST …/list` route.
    pub fn list_all(&self, path: &str, body: serde_json::Value) -> Vec<serde_json::Value> {
        let mut items = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.ok(
                "POST",
                &format!("{path}?limit=1000&offset={offset}"),
                Some(body.clone()),
            );
            let results = page["results"].as_array().unwrap().clone();
            offset += results.len();
            let done = results.len() < 1000;
            items.extend(results);
            if done {
                return items;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A connection to the test Redis at `url`.
pub fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|client| client.get_connection())
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis at {url}: {e}"))
}

/// Every key and value under `prefix`, read type by type.
fn redis_values(url: &str, prefix: &str) -> Vec<u8> {
    let mut redis = redis_connection(url);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut redis)
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut redis).unwrap();
        let read: &[&str] = match kind.as_str() {
            "hash" => &["HGETALL"],
            "string" => &["GET"],
            "set" => &["SMEMBERS"],
            "zset" => &["ZRANGE", "0", "-1"],
            "stream" => &["XRANGE", "-", "+"],
            "list" => &["LRANGE", "0", "-1"],
            _ => continue,
        };
        let value: redis::Value = redis::cmd(read[0])
            .arg(&key)
            .arg(&read[1..])
            .query(&mut redis)
            .unwrap();
        out.extend_from_slice(key.as_bytes());
        flatten(&value, &mut out);
    }
    out
}

/// The bytes of every string inside a reply.
fn flatten(value: &redis::Value, out: &mut Vec<u8>) {
    match value {
        redis::Value::BulkString(bytes) => out.extend_from_slice(bytes),
        redis::Value::SimpleString(text) => out.extend_from_slice(text.as_bytes()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().for_each(|item| flatten(item, out))
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        _ => {}
    }
    out.push(b'\n');
}
