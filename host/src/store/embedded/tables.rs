//! The tables of the embedded store, their key layouts, and the few helpers
//! every operation shares (JSON values, prefix scans, the error type).
//!
//! Every record is a JSON value under a string key. Composite keys join their
//! parts with NUL (`\0`), which sorts before every other character, so the
//! records of one parent are one contiguous range and a prefix `"{parent}\0"`
//! selects exactly them.

use std::ops::Bound;

use redb::{ReadableTable, Table, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::StoreError;

/// Key and value types of every record table.
pub(super) type Def = TableDefinition<'static, &'static str, &'static [u8]>;
/// A record table opened in a write transaction.
pub(super) type RecordTable<'txn> = Table<'txn, &'static str, &'static [u8]>;

/// `namespace_id -> Namespace`
pub(super) const NAMESPACES: Def = TableDefinition::new("namespaces");
/// `namespace_name -> namespace_id`
pub(super) const NAMESPACE_NAMES: Def = TableDefinition::new("namespace_names");
/// `key_id -> ApiKey`
pub(super) const API_KEYS: Def = TableDefinition::new("api_keys");
/// `key_hash -> key_id`
pub(super) const API_KEY_HASHES: Def = TableDefinition::new("api_key_hashes");
/// `connection_id -> Connection` with `provider_config` sealed.
pub(super) const CONNECTIONS: Def = TableDefinition::new("connections");
/// `name -> connection_id`
pub(super) const CONNECTION_NAMES: Def = TableDefinition::new("connection_names");
/// `bucket_id -> Bucket`
pub(super) const BUCKETS: Def = TableDefinition::new("buckets");
/// `namespace_id \0 bucket_name -> bucket_id`
pub(super) const BUCKET_NAMES: Def = TableDefinition::new("bucket_names");
/// `sync_config_id -> SyncConfig`
pub(super) const SYNC_CONFIGS: Def = TableDefinition::new("sync_configs");
/// `bucket_id \0 sync_config_id -> ""`
pub(super) const BUCKET_SYNC_CONFIGS: Def = TableDefinition::new("bucket_sync_configs");
/// `sync_config_id \0 sync_job_id -> SyncJob` (job ids sort by creation).
pub(super) const JOBS: Def = TableDefinition::new("jobs");
/// `sync_job_id -> sync_config_id`
pub(super) const JOB_IDS: Def = TableDefinition::new("job_ids");
/// `STATUS \0 sync_job_id -> ""`
pub(super) const JOB_STATUSES: Def = TableDefinition::new("job_statuses");
/// `bucket_id \0 key \0 object_id -> Object`: the key-ordered listing.
pub(super) const OBJECTS: Def = TableDefinition::new("objects");
/// `bucket_id \0 object_id -> key`
pub(super) const OBJECT_IDS: Def = TableDefinition::new("object_ids");
/// `bucket_id \0 connection_id \0 uri -> object_id`: the dedup index.
pub(super) const OBJECT_SOURCES: Def = TableDefinition::new("object_sources");
/// `sync_config_id \0 bucket_id \0 key \0 object_id -> last_seen_job_id`:
/// the per-config listing and the reconciliation marks. Without its first
/// part, the key is the object's key in [`OBJECTS`].
pub(super) const OBJECT_CONFIGS: Def = TableDefinition::new("object_configs");
/// `bucket_id \0 object_id -> batch_id`: the batch of an object's current
/// version. Kept apart from the record so that flushing a batch writes one
/// short row per object instead of rewriting every record.
pub(super) const OBJECT_BATCHES: Def = TableDefinition::new("object_batches");
/// `bucket_id \0 batch_id -> Batch` (batch ids sort by creation).
pub(super) const BATCHES: Def = TableDefinition::new("batches");
/// `sync_config_id \0 key -> DlqEntry`
pub(super) const DEAD_LETTERS: Def = TableDefinition::new("dead_letters");
/// `sync_config_id \0 entry_id -> key` (entry ids sort by creation).
pub(super) const DEAD_LETTER_IDS: Def = TableDefinition::new("dead_letter_ids");
/// `sync_config_id -> LockLease`
pub(super) const LOCKS: Def = TableDefinition::new("locks");
/// `sync_config_id -> last fencing token issued`. Never decreases, never deleted.
pub(super) const LOCK_TOKENS: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("lock_tokens");
/// `sync_config_id -> number of its jobs`, so a page of a config's jobs
/// (the newest, mostly) does not count its whole history.
pub(super) const JOB_COUNTS: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("job_counts");

pub(super) const ALL_RECORD_TABLES: &[Def] = &[
    NAMESPACES,
    NAMESPACE_NAMES,
    API_KEYS,
    API_KEY_HASHES,
    CONNECTIONS,
    CONNECTION_NAMES,
    BUCKETS,
    BUCKET_NAMES,
    SYNC_CONFIGS,
    BUCKET_SYNC_CONFIGS,
    JOBS,
    JOB_IDS,
    JOB_STATUSES,
    OBJECTS,
    OBJECT_IDS,
    OBJECT_SOURCES,
    OBJECT_CONFIGS,
    OBJECT_BATCHES,
    BATCHES,
    DEAD_LETTERS,
    DEAD_LETTER_IDS,
    LOCKS,
];

/// Joins key parts with NUL.
pub(super) fn key(parts: &[&str]) -> String {
    parts.join("\0")
}

/// The prefix selecting every key whose leading parts are `parts`.
pub(super) fn prefix(parts: &[&str]) -> String {
    let mut out = parts.join("\0");
    out.push('\0');
    out
}

/// Why an operation inside a transaction failed: a meaningful store error,
/// or a backend failure that gets the operation's name when it leaves.
pub(super) enum Fail {
    Store(StoreError),
    Backend(String),
}

impl Fail {
    pub(super) fn into_store_error(self, operation: &str) -> StoreError {
        match self {
            Fail::Store(error) => error,
            Fail::Backend(message) => StoreError::Backend(format!("{operation}: {message}")),
        }
    }
}

impl From<StoreError> for Fail {
    fn from(error: StoreError) -> Self {
        Fail::Store(error)
    }
}

macro_rules! backend_errors {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for Fail {
            fn from(error: $error) -> Self {
                Fail::Backend(error.to_string())
            }
        }
    )*};
}

backend_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error,
);

pub(super) type TxResult<T> = Result<T, Fail>;

pub(super) fn to_json<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

pub(super) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> TxResult<T> {
    Ok(serde_json::from_slice(bytes)?)
}

/// A string stored as bytes (index values).
pub(super) fn text(bytes: &[u8]) -> TxResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| Fail::Backend(format!("index value: {e}")))
}

pub(super) fn get_raw<T>(table: &T, key: &str) -> TxResult<Option<Vec<u8>>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    Ok(table.get(key)?.map(|guard| guard.value().to_vec()))
}

pub(super) fn get_json<T, R>(table: &T, key: &str) -> TxResult<Option<R>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
    R: DeserializeOwned,
{
    match table.get(key)? {
        Some(guard) => Ok(Some(from_json(guard.value())?)),
        None => Ok(None),
    }
}

pub(super) fn get_text<T>(table: &T, key: &str) -> TxResult<Option<String>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    match table.get(key)? {
        Some(guard) => Ok(Some(text(guard.value())?)),
        None => Ok(None),
    }
}

pub(super) fn put_json<R: Serialize>(
    table: &mut RecordTable<'_>,
    key: &str,
    value: &R,
) -> TxResult<()> {
    table.insert(key, to_json(value)?.as_slice())?;
    Ok(())
}

pub(super) fn put_text(table: &mut RecordTable<'_>, key: &str, value: &str) -> TxResult<()> {
    table.insert(key, value.as_bytes())?;
    Ok(())
}

/// A key and value copied out of a table.
pub(super) type Entry = (String, Vec<u8>);

/// What a scan callback wants next.
#[derive(PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// Visits the entries whose key starts with `prefix`, in key order (or
/// reversed). A prefix that ends with NUL is an exact range; any other prefix
/// is scanned forward until the first key that does not start with it.
pub(super) fn scan<T>(
    table: &T,
    prefix: &str,
    reverse: bool,
    mut visit: impl FnMut(&str, &[u8]) -> TxResult<Flow>,
) -> TxResult<()>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    let upper = prefix.strip_suffix('\0').map(|head| format!("{head}\u{1}"));
    let range = match &upper {
        Some(upper) => table.range::<&str>(prefix..upper.as_str())?,
        None if reverse => {
            return Err(Fail::Backend(format!(
                "a reverse scan needs a NUL-terminated prefix, not {prefix:?}"
            )))
        }
        None => table.range::<&str>(prefix..)?,
    };
    let entries: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    for entry in entries {
        let (k, v) = entry?;
        let k = k.value();
        if !k.starts_with(prefix) || visit(k, v.value())? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

/// Counts the entries under `prefix` and returns the `[offset, offset+limit)`
/// window of them, in order.
pub(super) fn page<T>(
    table: &T,
    prefix: &str,
    reverse: bool,
    offset: u64,
    limit: u64,
) -> TxResult<(Vec<Entry>, u64)>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    let mut total = 0u64;
    let mut window = Vec::new();
    scan(table, prefix, reverse, |k, v| {
        if total >= offset && total - offset < limit {
            window.push((k.to_owned(), v.to_vec()));
        }
        total += 1;
        Ok(Flow::Continue)
    })?;
    Ok((window, total))
}

/// Entries are removed and visited this many at a time, so a huge range never
/// sits in memory at once.
const CHUNK: usize = 1024;

/// Removes the entries under `prefix` for which `select` returns true and
/// hands each removed entry to `removed`. Returns how many were removed.
pub(super) fn remove_where(
    table: &mut RecordTable<'_>,
    prefix: &str,
    mut select: impl FnMut(&str, &[u8]) -> TxResult<bool>,
    mut removed: impl FnMut(&str, &[u8]) -> TxResult<()>,
) -> TxResult<u64> {
    let mut count = 0u64;
    // Resume strictly after the last key looked at: kept entries stay behind.
    let mut after: Option<String> = None;
    loop {
        let mut chunk: Vec<Entry> = Vec::new();
        let mut last_seen: Option<String> = None;
        {
            let lower = match &after {
                Some(after) => Bound::Excluded(after.as_str()),
                None => Bound::Included(prefix),
            };
            let mut looked_at = 0usize;
            for entry in table.range::<&str>((lower, Bound::Unbounded))? {
                let (k, v) = entry?;
                let k = k.value();
                if !k.starts_with(prefix) {
                    break;
                }
                if select(k, v.value())? {
                    chunk.push((k.to_owned(), v.value().to_vec()));
                }
                last_seen = Some(k.to_owned());
                looked_at += 1;
                if looked_at == CHUNK {
                    break;
                }
            }
        }
        for (k, v) in &chunk {
            table.remove(k.as_str())?;
            removed(k, v)?;
            count += 1;
        }
        match last_seen {
            Some(last) => after = Some(last),
            None => return Ok(count),
        }
    }
}

/// Removes every entry under `prefix`, handing each to `removed`.
pub(super) fn remove_prefix(
    table: &mut RecordTable<'_>,
    prefix: &str,
    removed: impl FnMut(&str, &[u8]) -> TxResult<()>,
) -> TxResult<u64> {
    remove_where(table, prefix, |_, _| Ok(true), removed)
}
