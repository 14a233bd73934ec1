//! The `misbehaving` connector: does what its config's `behavior` says, so that the
//! host's sandbox tests can watch it being stopped.
//!
//! - `spin`: loops forever (the call's wall-clock budget must stop it);
//! - `allocate`: allocates and touches 1 MiB chunks without bound (the memory cap
//!   must stop it);
//! - `forbidden_host`: GETs `http://forbidden.example.net/`, outside its allowed
//!   hosts, and returns the error it gets (the host must refuse the request);
//! - `loopback_by_name`: GETs `http://localhost:<port>/`, a declared host whose
//!   name resolves to loopback (the host must refuse to connect to it);
//! - `trap`: panics, which traps the instance;
//! - `well_behaved`: lists one page with one entry.
//!
//! The behaviour runs in `validate`, and in a listing at `next-page` (or at `open`
//! with `"stage": "open"`).

use std::hint::black_box;

use serde::Deserialize;
use tributary_sdk::config::parse_config;
use tributary_sdk::http::Request;
use tributary_sdk::{
    export_connector, Connector, ConnectorError, FileEntry, ListRequest, Listing, Page,
    ProviderInfo,
};

/// The host this connector is not allowed to call.
const FORBIDDEN_URL: &str = "http://forbidden.example.net/";
/// A declared host whose name leads into loopback.
const LOOPBACK_NAME: &str = "localhost";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Behavior {
    Spin,
    Allocate,
    ForbiddenHost,
    LoopbackByName,
    Trap,
    WellBehaved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Open,
    #[default]
    NextPage,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    behavior: Behavior,
    /// When a listing misbehaves.
    #[serde(default)]
    stage: Stage,
    /// The port `loopback_by_name` calls.
    #[serde(default = "default_port")]
    port: u16,
}

fn default_port() -> u16 {
    80
}

impl Behavior {
    /// Misbehaves; returns only for the requests the host must refuse (with
    /// the error the host gave) and `well_behaved`.
    fn act(self, port: u16) -> Result<(), ConnectorError> {
        match self {
            Behavior::Spin => spin(),
            Behavior::Allocate => allocate(),
            Behavior::ForbiddenHost => call_refused(FORBIDDEN_URL),
            Behavior::LoopbackByName => call_refused(&format!("http://{LOOPBACK_NAME}:{port}/")),
            Behavior::Trap => panic!("misbehaving connector: deliberate trap"),
            Behavior::WellBehaved => Ok(()),
        }
    }
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn allocate() -> ! {
    const CHUNK: usize = 1024 * 1024;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // Touch every page so the memory is really committed.
        for offset in (0..CHUNK).step_by(4096) {
            chunk[offset] = chunks.len() as u8 | 1;
        }
        chunks.push(black_box(chunk));
    }
}

/// GETs `url`, which the host must refuse; returns the error it gave.
fn call_refused(url: &str) -> Result<(), ConnectorError> {
    match Request::get(url).send() {
        Err(error) => Err(error.into()),
        Ok(response) => Err(ConnectorError::Fatal(format!(
            "the request to {url} was not refused: it answered HTTP {}",
            response.status
        ))),
    }
}

struct Misbehaving;

impl Connector for Misbehaving {
    type Listing = MisbehavingListing;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "misbehaving".into(),
            name: "Misbehaving test connector".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: CONFIG_SCHEMA.into(),
            allowed_hosts: vec!["allowed.example.com".into(), LOOPBACK_NAME.into()],
            capabilities: vec![],
        }
    }

    fn validate(config: &str) -> Result<String, ConnectorError> {
        let config: Config = parse_config(config)?;
        config.behavior.act(config.port)?;
        Ok("misbehaving connector is behaving".into())
    }

    fn open(request: ListRequest) -> Result<MisbehavingListing, ConnectorError> {
        let config: Config = parse_config(&request.config)?;
        if config.stage == Stage::Open {
            config.behavior.act(config.port)?;
        }
        Ok(MisbehavingListing {
            behavior: config.behavior,
            stage: config.stage,
            port: config.port,
            done: false,
        })
    }
}

export_connector!(Misbehaving);

const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Misbehaving test connector",
  "type": "object",
  "required": ["behavior"],
  "additionalProperties": false,
  "properties": {
    "behavior": {"enum": ["spin", "allocate", "forbidden_host", "loopback_by_name", "trap", "well_behaved"]},
    "stage": {"enum": ["open", "next_page"], "default": "next_page"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 80}
  }
}"#;

struct MisbehavingListing {
    behavior: Behavior,
    stage: Stage,
    port: u16,
    done: bool,
}

impl Listing for MisbehavingListing {
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        if self.stage == Stage::NextPage {
            self.behavior.act(self.port)?;
        }
        self.done = true;
        Ok(Some(Page {
            entries: vec![FileEntry {
                key: "well-behaved.txt".into(),
                uri: "misbehaving://well-behaved.txt".into(),
                size: 12,
                etag: Some("well-behaved".into()),
                last_modified: Some(1_704_067_200_000),
                content_type: Some("text/plain".into()),
                metadata: vec![("behavior".into(), "well_behaved".into())],
            }],
            ..Page::default()
        }))
    }
}
