//! The `local` connector: lists a folder on the host's disk.
//!
//! The host mounts the connection's `root` read-only at `/` inside the sandbox (the
//! `read-local-files` capability). A listing walks `/<source_path>` depth-first in
//! byte-wise key order, keeping only one sorted directory listing per depth, so memory
//! does not grow with the size of the tree. Keys are relative to the root; the cursor
//! is the last key examined, and a resumed listing skips whole directories that lie
//! before it. Symbolic links are not followed (nor listed).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tributary_sdk::config::parse_config;
use tributary_sdk::filter::{mime_from_extension, FilterSet};
use tributary_sdk::{
    export_connector, Capability, Connector, ConnectorError, FileEntry, FileFailure, ListRequest,
    Listing, Page, PageBuilder, ProviderInfo,
};

/// Where the host mounts the configured root inside the sandbox.
const MOUNT: &str = "/";

/// A page stops after examining this many files and folders even when the filters
/// dropped most of them, so that one call stays short.
const MIN_EXAMINED_PER_PAGE: usize = 10_000;

/// The connection config.
#[derive(Debug, Deserialize)]
struct Config {
    /// The folder on the host, as the user configured it (used in URIs).
    root: String,
}

impl Config {
    fn parse(json: &str) -> Result<Self, ConnectorError> {
        let config: Config = parse_config(json)?;
        if config.root.trim().is_empty() {
            return Err(ConnectorError::InvalidConfig(
                "the connection config's `root` is empty".into(),
            ));
        }
        Ok(config)
    }
}

struct Local;

impl Connector for Local {
    type Listing = LocalListing;

    fn describe() -> ProviderInfo {
        ProviderInfo {
            id: "local".into(),
            name: "Local folder".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: CONFIG_SCHEMA.into(),
            allowed_hosts: vec![],
            capabilities: vec![Capability::ReadLocalFiles],
        }
    }

    fn validate(config: &str) -> Result<String, ConnectorError> {
        let config = Config::parse(config)?;
        fs::read_dir(MOUNT).map_err(|error| {
            io_error(
                &error,
                format!("the folder {} is not readable: {error}", config.root),
            )
        })?;
        Ok(format!("Folder {} is readable", config.root))
    }

    fn open(request: ListRequest) -> Result<LocalListing, ConnectorError> {
        let config = Config::parse(&request.config)?;
        LocalListing::open(Path::new(MOUNT), &config.root, &request)
    }
}

export_connector!(Local);

const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Local folder",
  "type": "object",
  "required": ["root"],
  "properties": {
    "root": {
      "type": "string",
      "minLength": 1,
      "description": "Absolute path of the folder to sync; it must lie under a root the operator allowed."
    }
  }
}"#;

/// One listing: a depth-first walk with a stack of sorted directory listings.
struct LocalListing {
    /// Where the root is mounted (`/` in the sandbox; a scratch folder in tests).
    mount: PathBuf,
    /// The configured root, for URIs.
    root: String,
    filters: FilterSet,
    page_size: usize,
    /// One frame per open directory, the deepest last.
    stack: Vec<Frame>,
    /// Keys up to and including this one were listed before; `None` once past it.
    resume_after: Option<String>,
    /// The last key examined: the cursor of the page being built.
    position: Option<String>,
    started: bool,
    finished: bool,
}

/// A directory being walked: its entries in key order and how far we got.
struct Frame {
    /// The directory's key with a trailing `/` (`""` for the root).
    prefix: String,
    items: Vec<Item>,
    next: usize,
}

struct Item {
    name: String,
    kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemKind {
    File,
    Dir,
    /// An entry that cannot be described (e.g. its type could not be read).
    Broken(String),
}

impl Item {
    /// The item's name as it sorts among full keys: a directory sorts as `name/`, so
    /// that the depth-first walk yields keys in byte-wise order.
    fn sort_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let slash = (self.kind == ItemKind::Dir).then_some(b'/');
        self.name.bytes().chain(slash)
    }
}

impl LocalListing {
    fn open(mount: &Path, root: &str, request: &ListRequest) -> Result<Self, ConnectorError> {
        let filters = FilterSet::for_request(request)?;
        let base = normalize_source_path(&request.source_path)?;
        let mut listing = Self {
            mount: mount.to_owned(),
            root: root.trim_end_matches('/').to_owned(),
            filters,
            page_size: request.page_size(),
            stack: Vec::new(),
            resume_after: request
                .resume_cursor
                .clone()
                .filter(|cursor| !cursor.is_empty()),
            position: request.resume_cursor.clone(),
            started: false,
            finished: false,
        };

        let base_path = listing.path_of(&base);
        let metadata = fs::metadata(&base_path).map_err(|error| {
            io_error(
                &error,
                format!(
                    "the folder {} cannot be read: {error}",
                    listing.uri_of(&base)
                ),
            )
        })?;
        if !metadata.is_dir() {
            return Err(ConnectorError::NotFound(format!(
                "{} is not a folder",
                listing.uri_of(&base)
            )));
        }

        // Start as deep as both the source path and the include patterns' literal
        // prefix allow; disjoint ones list nothing.
        let include_dir = listing.filters.include_prefix();
        let include_dir = include_dir.trim_end_matches('/');
        let start = if is_within(include_dir, &base) {
            include_dir.to_owned()
        } else if is_within(&base, include_dir) {
            base
        } else {
            return Ok(listing.exhausted());
        };
        if !start.is_empty() && !listing.filters.may_match_under(&start) {
            return Ok(listing.exhausted());
        }
        match read_sorted(&listing.path_of(&start)) {
            Ok((items, _)) => listing.stack.push(Frame {
                prefix: if start.is_empty() {
                    String::new()
                } else {
                    format!("{start}/")
                },
                items,
                next: 0,
            }),
            // The include prefix names a folder that does not exist: nothing matches.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(io_error(
                    &error,
                    format!(
                        "the folder {} cannot be read: {error}",
                        listing.uri_of(&start)
                    ),
                ))
            }
        }
        Ok(listing)
    }

    fn exhausted(mut self) -> Self {
        self.stack.clear();
        self
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.mount.join(key)
    }

    fn uri_of(&self, key: &str) -> String {
        format!("file://{}/{}", self.root, key)
    }

    /// Whether every key under the directory `prefix` (ending in `/`) was listed before.
    fn listed_before(&mut self, prefix: &str) -> bool {
        let Some(cursor) = &self.resume_after else {
            return false;
        };
        if cursor.starts_with(prefix) {
            return false;
        }
        if cursor.as_str() > prefix {
            return true;
        }
        // Everything from here on sorts after the cursor.
        self.resume_after = None;
        false
    }

    /// Whether the file `key` was listed before.
    fn file_listed_before(&mut self, key: &str) -> bool {
        match &self.resume_after {
            Some(cursor) if key <= cursor.as_str() => true,
            Some(_) => {
                self.resume_after = None;
                false
            }
            None => false,
        }
    }

    fn describe_file(&self, key: &str, path: &Path) -> Result<Option<FileEntry>, ConnectorError> {
        let metadata = match fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            // Deleted since its folder was read: it no longer exists to be listed.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(io_error(
                    &error,
                    format!("cannot read its metadata: {error}"),
                ))
            }
        };
        if !metadata.is_file() {
            return Ok(None);
        }
        let (modified_ms, modified_ns) = metadata.modified().map(unix_time).map_err(|error| {
            io_error(
                &error,
                format!("cannot read its modification time: {error}"),
            )
        })?;
        let size = metadata.len();
        Ok(Some(FileEntry {
            key: key.to_owned(),
            uri: self.uri_of(key),
            size,
            etag: Some(format!("{size:x}-{modified_ns:x}")),
            last_modified: Some(modified_ms),
            content_type: mime_from_extension(key).map(str::to_owned),
            metadata: Vec::new(),
        }))
    }

    fn failure(&self, key: &str, error: ConnectorError) -> FileFailure {
        FileFailure {
            key: key.to_owned(),
            uri: self.uri_of(key),
            error,
        }
    }

    fn walk_page(&mut self) -> Page {
        // Borrow the filters apart from the walk state; put back below.
        let filters = std::mem::take(&mut self.filters);
        let mut page = PageBuilder::new(&filters);
        let max_examined = self.page_size.saturating_mul(4).max(MIN_EXAMINED_PER_PAGE);
        let mut examined = 0usize;
        while page.len() < self.page_size && examined < max_examined {
            let Some(frame) = self.stack.last_mut() else {
                self.finished = true;
                break;
            };
            let Some(item) = frame.items.get_mut(frame.next) else {
                self.stack.pop();
                continue;
            };
            frame.next += 1;
            let key = format!("{}{}", frame.prefix, item.name);
            let kind = std::mem::replace(&mut item.kind, ItemKind::File);
            examined += 1;
            match kind {
                ItemKind::Broken(reason) => {
                    if self.file_listed_before(&key) {
                        continue;
                    }
                    page.fail(self.failure(&key, ConnectorError::Fatal(reason)));
                    self.position = Some(key);
                }
                ItemKind::Dir => {
                    let prefix = format!("{key}/");
                    if self.listed_before(&prefix) || !filters.may_match_under(&key) {
                        continue;
                    }
                    match read_sorted(&self.path_of(&key)) {
                        Ok((items, partial)) => {
                            if let Some(error) = partial {
                                page.fail(self.failure(
                                    &prefix,
                                    io_error(
                                        &error,
                                        format!("cannot read every entry of the folder: {error}"),
                                    ),
                                ));
                            }
                            self.stack.push(Frame {
                                prefix,
                                items,
                                next: 0,
                            });
                        }
                        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                        Err(error) => page.fail(self.failure(
                            &prefix,
                            io_error(&error, format!("cannot read the folder: {error}")),
                        )),
                    }
                }
                ItemKind::File => {
                    if self.file_listed_before(&key) {
                        continue;
                    }
                    self.position = Some(key.clone());
                    if let Err(rejection) = filters.check_key(&key) {
                        page.reject(rejection);
                        continue;
                    }
                    let path = self.path_of(&key);
                    match self.describe_file(&key, &path) {
                        Ok(Some(entry)) => {
                            if filters.check_entry(&entry).is_ok() {
                                // Listed files must be readable, not just visible.
                                if let Err(error) = fs::File::open(&path) {
                                    page.fail(self.failure(
                                        &key,
                                        io_error(&error, format!("cannot open the file: {error}")),
                                    ));
                                    continue;
                                }
                            }
                            page.offer(entry);
                        }
                        Ok(None) => {}
                        Err(error) => page.fail(self.failure(&key, error)),
                    }
                }
            }
        }
        let cursor = if self.finished {
            None
        } else {
            self.position.clone()
        };
        let page = page.finish(cursor);
        self.filters = filters;
        page
    }
}

impl Listing for LocalListing {
    fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        if self.finished {
            return Ok(None);
        }
        let first = !self.started;
        self.started = true;
        if self.stack.is_empty() {
            self.finished = true;
        }
        let page = self.walk_page();
        let empty =
            page.entries.is_empty() && page.failures.is_empty() && page.filtered.total() == 0;
        if empty && self.finished && !first {
            return Ok(None);
        }
        Ok(Some(page))
    }
}

/// Reads a directory's files and subdirectories (not symbolic links or special files)
/// in key order. A failure part-way keeps what was read and returns the error beside it.
fn read_sorted(path: &Path) -> io::Result<(Vec<Item>, Option<io::Error>)> {
    let mut items = Vec::new();
    let mut partial = None;
    for entry in fs::read_dir(path)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                partial = Some(error);
                break;
            }
        };
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(name) => {
                items.push(Item {
                    name: name.to_string_lossy().into_owned(),
                    kind: ItemKind::Broken("the file name is not valid UTF-8".into()),
                });
                continue;
            }
        };
        let kind = match entry.file_type() {
            Ok(file_type) if file_type.is_dir() => ItemKind::Dir,
            Ok(file_type) if file_type.is_file() => ItemKind::File,
            Ok(_) => continue,
            Err(error) => ItemKind::Broken(format!("cannot read the file type: {error}")),
        };
        items.push(Item { name, kind });
    }
    items.sort_unstable_by(|a, b| a.sort_bytes().cmp(b.sort_bytes()));
    Ok((items, partial))
}

/// The source path as a key prefix without slashes at either end (`""` for the
/// root). `.` and empty segments are dropped; `..` is refused.
fn normalize_source_path(source_path: &str) -> Result<String, ConnectorError> {
    let mut segments = Vec::new();
    for segment in source_path.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "the source path {source_path:?} must stay inside the root: `..` is not allowed"
                )))
            }
            segment => segments.push(segment),
        }
    }
    Ok(segments.join("/"))
}

/// Whether the key `inner` is the directory key `outer` or lies under it.
fn is_within(inner: &str, outer: &str) -> bool {
    outer.is_empty()
        || inner == outer
        || (inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'/'))
}

/// Milliseconds and nanoseconds since the Unix epoch (negative before it).
fn unix_time(time: SystemTime) -> (i64, i128) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_millis() as i64, after.as_nanos() as i128),
        Err(before) => {
            let before = before.duration();
            (-(before.as_millis() as i64), -(before.as_nanos() as i128))
        }
    }
}

/// An I/O error as a connector error: permission problems are final, a missing file
/// or folder is `NotFound`, anything else may be retried.
fn io_error(error: &io::Error, message: String) -> ConnectorError {
    match error.kind() {
        io::ErrorKind::PermissionDenied => ConnectorError::Fatal(message),
        io::ErrorKind::NotFound => ConnectorError::NotFound(message),
        _ => ConnectorError::Transient(message),
    }
}

#[cfg(test)]
mod tests;
