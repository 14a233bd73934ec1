//! The `synthetic` connector: a deterministic listing of `count` generated files,
//! for tests and benchmarks. No I/O at all.
//!
//! Entry `i` has the key `{prefix}/{i / 10000:04}/{i:09}.bin` (so key order is index
//! order), a size, etag and modification time derived from `splitmix64(seed ^ i)`,
//! and the URI `synthetic://{prefix}/{key}`. Entries are generated page by page,
//! so memory stays flat for any `count`. The cursor is the index of the next entry.
//!
//! Failures can be injected: keys in `fail_keys` come back as transient per-file
//! failures, and `transient_error_on_page` makes `next-page` fail with a transient
//! error `fail_transient_times` times (per listing) before that page succeeds.
//! An `api_token` (a secret, like a real connector's credentials) starting
//! with `invalid` is refused as unauthorized.

use std::collections::BTreeSet;

use serde::Deserialize;
use tributary_sdk::config::parse_config;
use tributary_sdk::filter::FilterSet;
use tributary_sdk::{
    export_connector, Connector, ConnectorError, FileEntry, FileFailure, ListRequest, Listing,
    Page, PageBuilder, ProviderInfo, Timestamp,
};

/// 2024-01-01T00:00:00Z in milliseconds: the earliest modification time generated.
const BASE_TIME_MS: Timestamp = 1_704_067_200_000;
/// 365 days in milliseconds: modification times fall within a year of the base.
const YEAR_MS: u64 = 365 * 24 * 60 * 60 * 1000;
/// How many entries share one folder of keys.
const ENTRIES_PER_FOLDER: u64 = 10_000;

/// The connection config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// How many entries the listing has.
    count: u64,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_min_size")]
    min_size: u64,
    #[serde(default = "default_max_size")]
    max_size: u64,
    #[serde(default = "default_prefix")]
    prefix: String,
    /// Keys reported as transient per-file failures instead of entries.
    #[serde(default)]
    fail_keys: Vec<String>,
    /// 0-based page index at which `next-page` fails with a transient error.
    #[serde(default)]
    transient_error_on_page: Option<u32>,
    /// How many times that page fails (within one listing) before it succeeds.
    #[serde(default = "default_fail_transient_times")]
    fail_transient_times: u32,
    /// Entries per page, overriding the host's hint.
    #[serde(default)]
    page_size: Option<u32>,
    /// A simulated credential (a secret: sealed at rest, redacted by the
    /// host). A token starting with `invalid` is refused as unauthorized.
    #[serde(default)]
    api_token: Option<String>,
}

fn default_min_size() -> u64 {
    1
}

fn default_max_size() -> u64 {
    1024 * 1024
}

fn default_prefix() -> String {
    "file".into()
}

fn default_fail_transient_times() -> u32 {
    1
}

impl Config {
    fn parse(json: &str) -> Result<Self, ConnectorError> {
        let config: Config = parse_config(json)?;
        if config
            .api_token
            .as_deref()
            .is_some_and(|t| t.starts_with("invalid"))
        {
            return Err(ConnectorError::Unauthorized(
                "the API token was rejected: check the connection's api_token".into(),
            ));
        }
        if config.min_size > config.max_size {
            return Err(ConnectorError::InvalidConfig(format!(
                "min_size ({}) is larger than max_size ({})",
                config.min_size, config.max_size
            )));
        }
        Ok(config)
    }
}

struct Synthetic;

impl Connector for Synthetic {
    type Listing = SyntheticListing;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "synthetic".into(),
            name: "Synthetic test source".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: CONFIG_SCHEMA.into(),
            allowed_hosts: vec![],
            capabilities: vec![],
        }
    }

    fn validate(config: &str) -> Result<String, ConnectorError> {
        let config = Config::parse(config)?;
        Ok(format!("synthetic source of {} entries", config.count))
    }

    fn open(request: ListRequest) -> Result<SyntheticListing, ConnectorError> {
        SyntheticListing::open(&request)
    }
}

export_connector!(Synthetic);

const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Synthetic test source",
  "type": "object",
  "required": ["count"],
  "additionalProperties": false,
  "properties": {
    "count": {"type": "integer", "minimum": 0, "description": "Number of entries."},
    "seed": {"type": "integer", "minimum": 0, "default": 0},
    "min_size": {"type": "integer", "minimum": 0, "default": 1},
    "max_size": {"type": "integer", "minimum": 0, "default": 1048576},
    "prefix": {"type": "string", "default": "file"},
    "fail_keys": {"type": "array", "items": {"type": "string"}, "default": [],
      "description": "Keys reported as transient per-file failures."},
    "transient_error_on_page": {"type": ["integer", "null"], "minimum": 0, "default": null,
      "description": "0-based page index at which next-page fails with a transient error."},
    "fail_transient_times": {"type": "integer", "minimum": 0, "default": 1,
      "description": "How many times that page fails within one listing before it succeeds."},
    "page_size": {"type": ["integer", "null"], "minimum": 1, "default": null,
      "description": "Entries per page, overriding the host's hint."},
    "api_token": {"type": "string", "x-secret": true,
      "description": "Simulated credential; a token starting with 'invalid' is refused as unauthorized."}
  }
}"#;

/// One listing: the index of the next entry, and the injected failures left.
struct SyntheticListing {
    config: Config,
    fail_keys: BTreeSet<String>,
    filters: FilterSet,
    page_size: u64,
    next: u64,
    transient_failures_left: u32,
    started: bool,
}

impl SyntheticListing {
    fn open(request: &ListRequest) -> Result<Self, ConnectorError> {
        let config = Config::parse(&request.config)?;
        let filters = FilterSet::for_request(request)?;
        let page_size = match config.page_size {
            Some(size) if size > 0 => u64::from(size),
            _ => request.page_size() as u64,
        };
        let next = match request.resume_cursor.as_deref() {
            None | Some("") => 0,
            Some(cursor) => cursor.parse::<u64>().map_err(|_| {
                ConnectorError::Fatal(format!(
                    "the resume cursor {cursor:?} is not an entry index"
                ))
            })?,
        };
        Ok(Self {
            fail_keys: config.fail_keys.iter().cloned().collect(),
            transient_failures_left: config.fail_transient_times,
            config,
            filters,
            page_size,
            next,
            started: false,
        })
    }

    fn entry(&self, index: u64) -> FileEntry {
        let config = &self.config;
        let hash = splitmix64(config.seed ^ index);
        let key = key_of(&config.prefix, index);
        let span = config.max_size - config.min_size;
        let size = match span.checked_add(1) {
            Some(range) => config.min_size + hash % range,
            None => hash,
        };
        FileEntry {
            uri: format!("synthetic://{}/{key}", config.prefix),
            key,
            size,
            etag: Some(format!("{hash:016x}")),
            last_modified: Some(BASE_TIME_MS + (hash % YEAR_MS) as Timestamp),
            content_type: Some("application/octet-stream".into()),
            metadata: Vec::new(),
        }
    }
}

impl Listing for SyntheticListing {
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        let count = self.config.count;
        if self.next >= count && self.started {
            return Ok(None);
        }
        self.started = true;

        let page_index = self.next / self.page_size;
        if self.config.transient_error_on_page.map(u64::from) == Some(page_index)
            && self.transient_failures_left > 0
        {
            self.transient_failures_left -= 1;
            return Err(ConnectorError::Transient(format!(
                "synthetic transient failure on page {page_index} ({} more to come)",
                self.transient_failures_left
            )));
        }

        let start = self.next.min(count);
        let end = start.saturating_add(self.page_size).min(count);
        let mut page = PageBuilder::new(&self.filters);
        for index in start..end {
            let entry = self.entry(index);
            if self.fail_keys.contains(&entry.key) {
                page.fail(FileFailure {
                    error: ConnectorError::Transient(format!(
                        "synthetic failure for {}",
                        entry.key
                    )),
                    key: entry.key,
                    uri: entry.uri,
                });
            } else {
                page.offer(entry);
            }
        }
        self.next = end;
        let cursor = (end < count).then(|| end.to_string());
        Ok(Some(page.finish(cursor)))
    }
}

/// The key of entry `index`.
fn key_of(prefix: &str, index: u64) -> String {
    format!("{prefix}/{:04}/{index:09}.bin", index / ENTRIES_PER_FOLDER)
}

/// The splitmix64 mixing function: a fast, well-spread 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
