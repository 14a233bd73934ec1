//! What operators create: namespaces, API keys, connections, buckets and sync
//! configurations, with their unique-name indexes and the bucket cascade.
//!
//! Connections arrive here already sealed (see `EmbeddedStore`): nothing in
//! this module sees a plaintext provider config.

use redb::{ReadTransaction, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::objects::ObjectTables;
use super::runs::{DeadLetterTables, JobTables};
use super::tables::*;
use crate::model::{ApiKey, Bucket, Connection, Namespace, SyncConfig};
use crate::store::StoreError;

fn taken(what: &'static str, value: &str) -> Fail {
    Fail::Store(StoreError::AlreadyExists {
        what,
        value: value.to_owned(),
    })
}

/// A record table plus its unique index `index_key -> id`.
struct Unique {
    records: Def,
    index: Def,
    what: &'static str,
}

impl Unique {
    /// Writes `record` under `id`, claiming `index_key`. When the record
    /// already exists under another index key (a rename), the old key is
    /// released. Refuses a key held by another id.
    fn put<R: Serialize + DeserializeOwned>(
        &self,
        txn: &WriteTransaction,
        id: &str,
        index_key: &str,
        old_index_key: impl FnOnce(&R) -> String,
        record: &R,
    ) -> TxResult<()> {
        let mut records = txn.open_table(self.records)?;
        let mut index = txn.open_table(self.index)?;
        match get_text(&index, index_key)? {
            Some(owner) if owner != id => return Err(taken(self.what, index_key_value(index_key))),
            _ => {}
        }
        if let Some(old) = get_json::<_, R>(&records, id)? {
            let old_key = old_index_key(&old);
            if old_key != index_key {
                index.remove(old_key.as_str())?;
            }
        }
        put_text(&mut index, index_key, id)?;
        put_json(&mut records, id, record)
    }

    /// Refuses a key that is taken at all (creation).
    fn create<R: Serialize + DeserializeOwned>(
        &self,
        txn: &WriteTransaction,
        id: &str,
        index_key: &str,
        old_index_key: impl FnOnce(&R) -> String,
        record: &R,
    ) -> TxResult<()> {
        if get_text(&txn.open_table(self.index)?, index_key)?.is_some() {
            return Err(taken(self.what, index_key_value(index_key)));
        }
        self.put(txn, id, index_key, old_index_key, record)
    }

    /// Deletes the record and its index entry.
    fn delete<R: DeserializeOwned>(
        &self,
        txn: &WriteTransaction,
        id: &str,
        index_key: impl FnOnce(&R) -> String,
    ) -> TxResult<Option<R>> {
        let mut records = txn.open_table(self.records)?;
        let Some(old) = get_json::<_, R>(&records, id)? else {
            return Ok(None);
        };
        records.remove(id)?;
        let mut index = txn.open_table(self.index)?;
        let old_key = index_key(&old);
        if get_text(&index, &old_key)?.as_deref() == Some(id) {
            index.remove(old_key.as_str())?;
        }
        Ok(Some(old))
    }

    /// By id, else by index key.
    fn find<R: DeserializeOwned>(
        &self,
        txn: &ReadTransaction,
        id_or_key: &str,
    ) -> TxResult<Option<R>> {
        let records = txn.open_table(self.records)?;
        if let Some(record) = get_json(&records, id_or_key)? {
            return Ok(Some(record));
        }
        match get_text(&txn.open_table(self.index)?, id_or_key)? {
            Some(id) => get_json(&records, &id),
            None => Ok(None),
        }
    }

    fn by_index<R: DeserializeOwned>(
        &self,
        txn: &ReadTransaction,
        index_key: &str,
    ) -> TxResult<Option<R>> {
        match get_text(&txn.open_table(self.index)?, index_key)? {
            Some(id) => get_json(&txn.open_table(self.records)?, &id),
            None => Ok(None),
        }
    }
}

/// The user-visible part of an index key (a bucket name without its namespace).
fn index_key_value(index_key: &str) -> &str {
    index_key.rsplit('\0').next().unwrap_or(index_key)
}

pub(super) fn all<R: DeserializeOwned>(txn: &ReadTransaction, table: Def) -> TxResult<Vec<R>> {
    let mut out = Vec::new();
    scan(&txn.open_table(table)?, "", false, |_, value| {
        out.push(from_json(value)?);
        Ok(Flow::Continue)
    })?;
    Ok(out)
}

// Namespaces.

const NAMESPACE: Unique = Unique {
    records: NAMESPACES,
    index: NAMESPACE_NAMES,
    what: "namespace name",
};

pub(super) fn create_namespace(txn: &WriteTransaction, namespace: &Namespace) -> TxResult<()> {
    NAMESPACE.create(
        txn,
        &namespace.namespace_id,
        &namespace.namespace_name,
        |old: &Namespace| old.namespace_name.clone(),
        namespace,
    )
}

pub(super) fn get_namespace(
    txn: &ReadTransaction,
    id_or_name: &str,
) -> TxResult<Option<Namespace>> {
    NAMESPACE.find(txn, id_or_name)
}

pub(super) fn delete_namespace(txn: &WriteTransaction, namespace_id: &str) -> TxResult<bool> {
    Ok(NAMESPACE
        .delete(txn, namespace_id, |old: &Namespace| {
            old.namespace_name.clone()
        })?
        .is_some())
}

// API keys (the unique index is the secret's hash).

const API_KEY: Unique = Unique {
    records: API_KEYS,
    index: API_KEY_HASHES,
    what: "api key hash",
};

pub(super) fn create_api_key(txn: &WriteTransaction, api_key: &ApiKey) -> TxResult<()> {
    API_KEY.create(
        txn,
        &api_key.key_id,
        &api_key.key_hash,
        |old: &ApiKey| old.key_hash.clone(),
        api_key,
    )
}

pub(super) fn find_api_key_by_hash(
    txn: &ReadTransaction,
    key_hash: &str,
) -> TxResult<Option<ApiKey>> {
    API_KEY.by_index(txn, key_hash)
}

pub(super) fn delete_api_key(txn: &WriteTransaction, key_id: &str) -> TxResult<bool> {
    Ok(API_KEY
        .delete(txn, key_id, |old: &ApiKey| old.key_hash.clone())?
        .is_some())
}

// Connections (sealed).

const CONNECTION: Unique = Unique {
    records: CONNECTIONS,
    index: CONNECTION_NAMES,
    what: "connection name",
};

pub(super) fn create_connection(txn: &WriteTransaction, sealed: &Connection) -> TxResult<()> {
    CONNECTION.create(
        txn,
        &sealed.connection_id,
        &sealed.name,
        |old: &Connection| old.name.clone(),
        sealed,
    )
}

pub(super) fn update_connection(txn: &WriteTransaction, sealed: &Connection) -> TxResult<()> {
    CONNECTION.put(
        txn,
        &sealed.connection_id,
        &sealed.name,
        |old: &Connection| old.name.clone(),
        sealed,
    )
}

pub(super) fn get_connection(
    txn: &ReadTransaction,
    id_or_name: &str,
) -> TxResult<Option<Connection>> {
    CONNECTION.find(txn, id_or_name)
}

pub(super) fn delete_connection(txn: &WriteTransaction, connection_id: &str) -> TxResult<bool> {
    Ok(CONNECTION
        .delete(txn, connection_id, |old: &Connection| old.name.clone())?
        .is_some())
}

// Buckets (names unique within a namespace).

const BUCKET: Unique = Unique {
    records: BUCKETS,
    index: BUCKET_NAMES,
    what: "bucket name",
};

fn bucket_name_key(bucket: &Bucket) -> String {
    key(&[&bucket.namespace_id, &bucket.bucket_name])
}

pub(super) fn create_bucket(txn: &WriteTransaction, bucket: &Bucket) -> TxResult<()> {
    BUCKET.create(
        txn,
        &bucket.bucket_id,
        &bucket_name_key(bucket),
        bucket_name_key,
        bucket,
    )
}

pub(super) fn update_bucket(txn: &WriteTransaction, bucket: &Bucket) -> TxResult<()> {
    BUCKET.put(
        txn,
        &bucket.bucket_id,
        &bucket_name_key(bucket),
        bucket_name_key,
        bucket,
    )
}

pub(super) fn get_bucket(txn: &ReadTransaction, bucket_id: &str) -> TxResult<Option<Bucket>> {
    get_json(&txn.open_table(BUCKETS)?, bucket_id)
}

/// In name order.
pub(super) fn list_buckets(txn: &ReadTransaction, namespace_id: &str) -> TxResult<Vec<Bucket>> {
    let names = txn.open_table(BUCKET_NAMES)?;
    let buckets = txn.open_table(BUCKETS)?;
    let mut out = Vec::new();
    scan(&names, &prefix(&[namespace_id]), false, |_, id| {
        if let Some(bucket) = get_json(&buckets, &text(id)?)? {
            out.push(bucket);
        }
        Ok(Flow::Continue)
    })?;
    Ok(out)
}

/// The bucket with its sync configs (and their jobs, locks, dead letters),
/// objects and batches, in one transaction.
pub(super) fn delete_bucket(txn: &WriteTransaction, bucket_id: &str) -> TxResult<bool> {
    if BUCKET.delete(txn, bucket_id, bucket_name_key)?.is_none() {
        return Ok(false);
    }
    let mut config_ids = Vec::new();
    {
        let scope = prefix(&[bucket_id]);
        scan(
            &txn.open_table(BUCKET_SYNC_CONFIGS)?,
            &scope,
            false,
            |index_key, _| {
                config_ids.push(index_key[scope.len()..].to_owned());
                Ok(Flow::Continue)
            },
        )?;
    }
    for sync_config_id in config_ids {
        delete_sync_config(txn, &sync_config_id)?;
    }
    ObjectTables::open(txn)?.remove_bucket(bucket_id)?;
    remove_prefix(
        &mut txn.open_table(BATCHES)?,
        &prefix(&[bucket_id]),
        |_, _| Ok(()),
    )?;
    Ok(true)
}

// Sync configurations (indexed by bucket).

fn put_sync_config(txn: &WriteTransaction, config: &SyncConfig) -> TxResult<()> {
    let mut configs = txn.open_table(SYNC_CONFIGS)?;
    let mut by_bucket = txn.open_table(BUCKET_SYNC_CONFIGS)?;
    if let Some(old) = get_json::<_, SyncConfig>(&configs, &config.sync_config_id)? {
        if old.bucket_id != config.bucket_id {
            by_bucket.remove(key(&[&old.bucket_id, &old.sync_config_id]).as_str())?;
        }
    }
    put_text(
        &mut by_bucket,
        &key(&[&config.bucket_id, &config.sync_config_id]),
        "",
    )?;
    put_json(&mut configs, &config.sync_config_id, config)
}

pub(super) fn create_sync_config(txn: &WriteTransaction, config: &SyncConfig) -> TxResult<()> {
    put_sync_config(txn, config)
}

pub(super) fn update_sync_config(txn: &WriteTransaction, config: &SyncConfig) -> TxResult<()> {
    put_sync_config(txn, config)
}

pub(super) fn modify_sync_config(
    txn: &WriteTransaction,
    sync_config_id: &str,
    change: crate::store::ConfigChange,
) -> TxResult<Option<SyncConfig>> {
    let current: Option<SyncConfig> = get_json(&txn.open_table(SYNC_CONFIGS)?, sync_config_id)?;
    let Some(mut config) = current else {
        return Ok(None);
    };
    change(&mut config);
    put_sync_config(txn, &config)?;
    Ok(Some(config))
}

pub(super) fn get_sync_config(
    txn: &ReadTransaction,
    sync_config_id: &str,
) -> TxResult<Option<SyncConfig>> {
    get_json(&txn.open_table(SYNC_CONFIGS)?, sync_config_id)
}

pub(super) fn list_sync_configs(
    txn: &ReadTransaction,
    bucket_id: &str,
) -> TxResult<Vec<SyncConfig>> {
    let index = txn.open_table(BUCKET_SYNC_CONFIGS)?;
    let configs = txn.open_table(SYNC_CONFIGS)?;
    let scope = prefix(&[bucket_id]);
    let mut out = Vec::new();
    scan(&index, &scope, false, |index_key, _| {
        if let Some(config) = get_json(&configs, &index_key[scope.len()..])? {
            out.push(config);
        }
        Ok(Flow::Continue)
    })?;
    Ok(out)
}

/// The config with its jobs, lock lease and dead letters. Its objects stay in
/// the bucket; its fencing-token counter stays so tokens never repeat.
pub(super) fn delete_sync_config(txn: &WriteTransaction, sync_config_id: &str) -> TxResult<bool> {
    let mut configs = txn.open_table(SYNC_CONFIGS)?;
    let Some(old) = get_json::<_, SyncConfig>(&configs, sync_config_id)? else {
        return Ok(false);
    };
    configs.remove(sync_config_id)?;
    txn.open_table(BUCKET_SYNC_CONFIGS)?
        .remove(key(&[&old.bucket_id, sync_config_id]).as_str())?;
    JobTables::open(txn)?.remove_config(sync_config_id)?;
    DeadLetterTables::open(txn)?.remove_config(sync_config_id)?;
    txn.open_table(LOCKS)?.remove(sync_config_id)?;
    Ok(true)
}
