//! What operators create: namespaces, API keys, connections, buckets and sync
//! configurations, with their unique-name indexes and the bucket cascade.
//! Connections arrive here already sealed.

use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::apply::{backend, with_retries, ApplyError, Change};
use super::{from_json, objects, runs, to_json, RedisStore};
use crate::model::{Bucket, SyncConfig};
use crate::store::{ConfigChange, StoreError, StoreResult};

/// A record hash plus its unique index `name → id`.
pub(super) struct Unique {
    records: String,
    names: String,
    what: &'static str,
}

pub(super) fn namespaces(store: &RedisStore) -> Unique {
    Unique {
        records: store.keys.namespaces(),
        names: store.keys.namespace_names(),
        what: "namespace name",
    }
}

pub(super) fn api_keys(store: &RedisStore) -> Unique {
    Unique {
        records: store.keys.api_keys(),
        names: store.keys.api_key_hashes(),
        what: "api key hash",
    }
}

pub(super) fn connections(store: &RedisStore) -> Unique {
    Unique {
        records: store.keys.connections(),
        names: store.keys.connection_names(),
        what: "connection name",
    }
}

/// Bucket names are unique within their namespace.
pub(super) fn buckets(store: &RedisStore, namespace_id: &str) -> Unique {
    Unique {
        records: store.keys.buckets(),
        names: store.keys.bucket_names(namespace_id),
        what: "bucket name",
    }
}

fn taken(what: &'static str, value: &str) -> ApplyError {
    ApplyError::Store(StoreError::AlreadyExists {
        what,
        value: value.to_owned(),
    })
}

impl Unique {
    /// Stores a new record; refuses a taken name (or id).
    pub(super) async fn create<R: Serialize>(
        &self,
        store: &RedisStore,
        id: &str,
        name: &str,
        record: &R,
    ) -> StoreResult<()> {
        let mut change = Change::new();
        change
            .claim(&self.records, id, None, "id")
            .claim(&self.names, name, None, self.what)
            .command(["HSET", &self.records, id, &to_json(record)?])
            .command(["HSET", &self.names, name, id]);
        match store.apply(&change).await {
            Ok(()) => Ok(()),
            Err(ApplyError::Store(e)) => Err(e),
            Err(ApplyError::Conflict) => Err(StoreError::AlreadyExists {
                what: self.what,
                value: name.to_owned(),
            }),
        }
    }

    /// Writes a record under `id`, claiming `name` and releasing its old name
    /// (a rename). Refuses a name held by another id.
    pub(super) async fn put<R: Serialize + DeserializeOwned>(
        &self,
        store: &RedisStore,
        id: &str,
        name: &str,
        record: &R,
        name_of: impl Fn(&R) -> String,
    ) -> StoreResult<()> {
        let json = to_json(record)?;
        with_retries("update a record", || async {
            let old = store.hget(&self.records, id).await?;
            let owner = store.hget(&self.names, name).await?;
            if owner.as_deref().is_some_and(|owner| owner != id) {
                return Err(taken(self.what, name));
            }
            let mut change = Change::new();
            change.expect(&self.records, id, old.as_deref()).claim(
                &self.names,
                name,
                owner.as_deref(),
                self.what,
            );
            if let Some(old) = &old {
                let old_name = name_of(&from_json::<R>(old)?);
                if old_name != name {
                    self.release(store, &mut change, id, &old_name).await?;
                }
            }
            change.command(["HSET", &self.records, id, &json]).command([
                "HSET",
                &self.names,
                name,
                id,
            ]);
            store.apply(&change).await
        })
        .await
    }

    /// Deletes the record and its name; `false` if there was none.
    pub(super) async fn delete<R: DeserializeOwned>(
        &self,
        store: &RedisStore,
        id: &str,
        name_of: impl Fn(&R) -> String,
    ) -> StoreResult<bool> {
        with_retries("delete a record", || async {
            let Some(old) = store.hget(&self.records, id).await? else {
                return Ok(false);
            };
            let mut change = Change::new();
            change
                .expect(&self.records, id, Some(&old))
                .command(["HDEL", &self.records, id]);
            self.release(store, &mut change, id, &name_of(&from_json::<R>(&old)?))
                .await?;
            store.apply(&change).await.map(|()| true)
        })
        .await
    }

    /// Adds the removal of `name` to `change` if it still points at `id`.
    async fn release(
        &self,
        store: &RedisStore,
        change: &mut Change,
        id: &str,
        name: &str,
    ) -> Result<(), ApplyError> {
        if store.hget(&self.names, name).await?.as_deref() == Some(id) {
            change
                .expect(&self.names, name, Some(id))
                .command(["HDEL", &self.names, name]);
        }
        Ok(())
    }

    /// By id, else by name.
    pub(super) async fn find<R: DeserializeOwned>(
        &self,
        store: &RedisStore,
        id_or_name: &str,
    ) -> StoreResult<Option<R>> {
        if let Some(record) = store.get_json(&self.records, id_or_name).await? {
            return Ok(Some(record));
        }
        self.by_name(store, id_or_name).await
    }

    pub(super) async fn by_name<R: DeserializeOwned>(
        &self,
        store: &RedisStore,
        name: &str,
    ) -> StoreResult<Option<R>> {
        match store.hget(&self.names, name).await? {
            Some(id) => store.get_json(&self.records, &id).await,
            None => Ok(None),
        }
    }
}

/// In name order.
pub(super) async fn list_buckets(
    store: &RedisStore,
    namespace_id: &str,
) -> StoreResult<Vec<Bucket>> {
    let mut connection = store.connection().await?;
    let mut names: Vec<(String, String)> = connection
        .hgetall(store.keys.bucket_names(namespace_id))
        .await
        .map_err(backend)?;
    names.sort();
    let ids: Vec<String> = names.into_iter().map(|(_, id)| id).collect();
    let records = store.hmget(&store.keys.buckets(), &ids).await?;
    records
        .iter()
        .flatten()
        .map(|text| from_json(text))
        .collect()
}

/// The bucket with its sync configs (and their jobs, locks, dead letters),
/// objects and batches. The bucket record goes first, in one step, so the
/// bucket disappears at once; the rest is removed after it.
pub(super) async fn delete_bucket(store: &RedisStore, bucket_id: &str) -> StoreResult<bool> {
    let Some(bucket) = store
        .get_json::<Bucket>(&store.keys.buckets(), bucket_id)
        .await?
    else {
        return Ok(false);
    };
    if !buckets(store, &bucket.namespace_id)
        .delete(store, bucket_id, |b: &Bucket| b.bucket_name.clone())
        .await?
    {
        return Ok(false);
    }
    let mut connection = store.connection().await?;
    let config_ids: Vec<String> = connection
        .zrange(store.keys.bucket_sync_configs(bucket_id), 0, -1)
        .await
        .map_err(backend)?;
    for sync_config_id in &config_ids {
        delete_sync_config(store, sync_config_id).await?;
        objects::forget_config(store, sync_config_id).await?;
    }
    objects::forget_bucket(store, bucket_id).await?;
    let _: () = connection
        .unlink(store.keys.bucket_sync_configs(bucket_id))
        .await
        .map_err(backend)?;
    Ok(true)
}

/// Adds the writes of `new` (replacing `old`) to `change`.
pub(super) fn write_sync_config(
    store: &RedisStore,
    change: &mut Change,
    old: Option<&(String, SyncConfig)>,
    new: &SyncConfig,
) -> StoreResult<()> {
    let records = store.keys.sync_configs();
    change.expect(
        &records,
        &new.sync_config_id,
        old.map(|(text, _)| text.as_str()),
    );
    if let Some((_, old)) = old {
        if old.bucket_id != new.bucket_id {
            change.command([
                "ZREM",
                &store.keys.bucket_sync_configs(&old.bucket_id),
                &old.sync_config_id,
            ]);
        }
    }
    change
        .command(["HSET", &records, &new.sync_config_id, &to_json(new)?])
        .command([
            "ZADD",
            &store.keys.bucket_sync_configs(&new.bucket_id),
            "0",
            &new.sync_config_id,
        ]);
    Ok(())
}

pub(super) async fn read_sync_config(
    store: &RedisStore,
    sync_config_id: &str,
) -> StoreResult<Option<(String, SyncConfig)>> {
    match store
        .hget(&store.keys.sync_configs(), sync_config_id)
        .await?
    {
        Some(text) => {
            let config = from_json(&text)?;
            Ok(Some((text, config)))
        }
        None => Ok(None),
    }
}

pub(super) async fn put_sync_config(store: &RedisStore, config: &SyncConfig) -> StoreResult<()> {
    with_retries("write a sync config", || async {
        let old = read_sync_config(store, &config.sync_config_id).await?;
        let mut change = Change::new();
        write_sync_config(store, &mut change, old.as_ref(), config)?;
        store.apply(&change).await
    })
    .await
}

pub(super) async fn modify_sync_config(
    store: &RedisStore,
    sync_config_id: &str,
    edit: ConfigChange,
) -> StoreResult<Option<SyncConfig>> {
    with_retries("edit a sync config", || async {
        let Some(old) = read_sync_config(store, sync_config_id).await? else {
            return Ok(None);
        };
        let mut config = old.1.clone();
        edit(&mut config);
        let mut change = Change::new();
        write_sync_config(store, &mut change, Some(&old), &config)?;
        store.apply(&change).await.map(|()| Some(config))
    })
    .await
}

pub(super) async fn list_sync_configs(
    store: &RedisStore,
    bucket_id: &str,
) -> StoreResult<Vec<SyncConfig>> {
    let mut connection = store.connection().await?;
    let ids: Vec<String> = connection
        .zrange(store.keys.bucket_sync_configs(bucket_id), 0, -1)
        .await
        .map_err(backend)?;
    let records = store.hmget(&store.keys.sync_configs(), &ids).await?;
    records
        .iter()
        .flatten()
        .map(|text| from_json(text))
        .collect()
}

/// The config with its jobs, lock lease and dead letters. Its objects stay in
/// the bucket; its fencing-token counter stays so tokens never repeat.
pub(super) async fn delete_sync_config(
    store: &RedisStore,
    sync_config_id: &str,
) -> StoreResult<bool> {
    let deleted = with_retries("delete a sync config", || async {
        let Some((text, old)) = read_sync_config(store, sync_config_id).await? else {
            return Ok(false);
        };
        let records = store.keys.sync_configs();
        let mut change = Change::new();
        change
            .expect(&records, sync_config_id, Some(&text))
            .command(["HDEL", &records, sync_config_id])
            .command([
                "ZREM",
                &store.keys.bucket_sync_configs(&old.bucket_id),
                sync_config_id,
            ])
            .command(["DEL", &store.keys.lock(sync_config_id)]);
        store.apply(&change).await.map(|()| true)
    })
    .await?;
    if deleted {
        runs::forget_config(store, sync_config_id).await?;
    }
    Ok(deleted)
}
