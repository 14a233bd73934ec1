//! Objects and batches: the idempotent upsert, the listings, reconciliation.
//!
//! An object lives in five tables, always written together: the key-ordered
//! record ([`OBJECTS`]), the id index, the dedup index on its source, the
//! per-config index whose value is the last job that saw it, and the batch
//! of its current version ([`OBJECT_BATCHES`]). Marking an object seen and
//! putting it in a batch write those small rows, never the record.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::runs::check_fence;
use super::tables::*;
use crate::model::{Batch, Object};
use crate::store::{BatchFilter, Fence, ObjectFilter, PageRequest, Paged, UpsertOutcome};

fn record_key(object: &Object) -> String {
    key(&[&object.bucket_id, &object.key, &object.object_id])
}

fn id_key(bucket_id: &str, object_id: &str) -> String {
    key(&[bucket_id, object_id])
}

fn source_key(object: &Object) -> String {
    key(&[
        &object.bucket_id,
        &object.source.connection_id,
        &object.source.uri,
    ])
}

fn config_key(object: &Object) -> String {
    key(&[&object.source.sync_config_id, &record_key(object)])
}

/// Loads an object by id through the id index (without `last_seen_job_id`).
fn load<T: ReadableTable<&'static str, &'static [u8]>>(
    objects: &T,
    ids: &T,
    bucket_id: &str,
    object_id: &str,
) -> TxResult<Option<Object>> {
    let Some(object_key) = get_text(ids, &id_key(bucket_id, object_id))? else {
        return Ok(None);
    };
    get_json(objects, &key(&[bucket_id, &object_key, object_id]))
}

/// Fills in `last_seen_job_id`, which lives in the per-config index.
fn with_last_seen<T: ReadableTable<&'static str, &'static [u8]>>(
    configs: &T,
    mut object: Object,
) -> TxResult<Object> {
    object.last_seen_job_id = get_text(configs, &config_key(&object))?.unwrap_or_default();
    Ok(object)
}

/// Fills in `batch_id`, which lives in [`OBJECT_BATCHES`] (a record written
/// before that table existed may still carry its own).
fn with_batch<T: ReadableTable<&'static str, &'static [u8]>>(
    batches: &T,
    mut object: Object,
) -> TxResult<Object> {
    if let Some(batch_id) = get_text(batches, &id_key(&object.bucket_id, &object.object_id))? {
        object.batch_id = Some(batch_id);
    }
    Ok(object)
}

/// The five object tables of a write transaction.
pub(super) struct ObjectTables<'txn> {
    objects: RecordTable<'txn>,
    ids: RecordTable<'txn>,
    sources: RecordTable<'txn>,
    configs: RecordTable<'txn>,
    batches: RecordTable<'txn>,
}

impl<'txn> ObjectTables<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> TxResult<Self> {
        Ok(Self {
            objects: txn.open_table(OBJECTS)?,
            ids: txn.open_table(OBJECT_IDS)?,
            sources: txn.open_table(OBJECT_SOURCES)?,
            configs: txn.open_table(OBJECT_CONFIGS)?,
            batches: txn.open_table(OBJECT_BATCHES)?,
        })
    }

    fn find_by_source(&self, candidate: &Object) -> TxResult<Option<Object>> {
        match get_text(&self.sources, &source_key(candidate))? {
            Some(object_id) => load(&self.objects, &self.ids, &candidate.bucket_id, &object_id),
            None => Ok(None),
        }
    }

    /// Whether the object's current version is in a batch.
    fn is_batched(&self, object: &Object) -> TxResult<bool> {
        Ok(object.batch_id.is_some()
            || self
                .batches
                .get(id_key(&object.bucket_id, &object.object_id).as_str())?
                .is_some())
    }

    /// Writes the object and all its index entries.
    fn write(&mut self, object: &Object) -> TxResult<()> {
        put_json(&mut self.objects, &record_key(object), object)?;
        put_text(
            &mut self.ids,
            &id_key(&object.bucket_id, &object.object_id),
            &object.key,
        )?;
        put_text(&mut self.sources, &source_key(object), &object.object_id)?;
        put_text(
            &mut self.configs,
            &config_key(object),
            &object.last_seen_job_id,
        )
    }

    /// Removes the object and all its index entries.
    pub(super) fn remove(&mut self, object: &Object) -> TxResult<()> {
        self.objects.remove(record_key(object).as_str())?;
        let id = id_key(&object.bucket_id, &object.object_id);
        self.ids.remove(id.as_str())?;
        self.batches.remove(id.as_str())?;
        self.configs.remove(config_key(object).as_str())?;
        remove_source_if_points_at(&mut self.sources, object)
    }

    /// Removes every object of a bucket with its index entries.
    pub(super) fn remove_bucket(&mut self, bucket_id: &str) -> TxResult<u64> {
        let Self {
            objects,
            ids,
            sources,
            configs,
            batches,
        } = self;
        remove_prefix(objects, &prefix(&[bucket_id]), |_, value| {
            let object: Object = from_json(value)?;
            let id = id_key(&object.bucket_id, &object.object_id);
            ids.remove(id.as_str())?;
            batches.remove(id.as_str())?;
            configs.remove(config_key(&object).as_str())?;
            remove_source_if_points_at(sources, &object)
        })
    }
}

fn remove_source_if_points_at(sources: &mut RecordTable<'_>, object: &Object) -> TxResult<()> {
    let source = source_key(object);
    if get_text(sources, &source)?.as_deref() == Some(object.object_id.as_str()) {
        sources.remove(source.as_str())?;
    }
    Ok(())
}

pub(super) fn upsert(
    txn: &WriteTransaction,
    fence: &Fence,
    candidates: Vec<Object>,
    skip_duplicates: bool,
) -> TxResult<Vec<UpsertOutcome>> {
    check_fence(txn, fence)?;
    let mut tables = ObjectTables::open(txn)?;
    let mut outcomes = Vec::with_capacity(candidates.len());
    for mut candidate in candidates {
        candidate.last_seen_job_id = candidate.sync_job_id.clone();
        let Some(existing) = tables.find_by_source(&candidate)? else {
            tables.write(&candidate)?;
            outcomes.push(UpsertOutcome::Created(candidate));
            continue;
        };
        if skip_duplicates && existing.fingerprint() == candidate.fingerprint() {
            // Only the seen mark changes; the record itself is not rewritten.
            put_text(
                &mut tables.configs,
                &config_key(&existing),
                &candidate.sync_job_id,
            )?;
            outcomes.push(UpsertOutcome::Unchanged {
                batched: tables.is_batched(&existing)?,
                object_id: existing.object_id,
            });
            continue;
        }
        let updated = Object {
            object_id: existing.object_id.clone(),
            created_at: existing.created_at,
            version: existing.version + 1,
            ..candidate
        };
        if record_key(&existing) != record_key(&updated)
            || config_key(&existing) != config_key(&updated)
        {
            tables.remove(&existing)?;
        } else {
            // A new version needs a new batch.
            tables
                .batches
                .remove(id_key(&updated.bucket_id, &updated.object_id).as_str())?;
        }
        tables.write(&updated)?;
        outcomes.push(UpsertOutcome::Updated(updated));
    }
    Ok(outcomes)
}

pub(super) fn get(
    txn: &ReadTransaction,
    bucket_id: &str,
    object_id: &str,
) -> TxResult<Option<Object>> {
    let objects = txn.open_table(OBJECTS)?;
    let ids = txn.open_table(OBJECT_IDS)?;
    let configs = txn.open_table(OBJECT_CONFIGS)?;
    let batches = txn.open_table(OBJECT_BATCHES)?;
    load(&objects, &ids, bucket_id, object_id)?
        .map(|object| with_batch(&batches, with_last_seen(&configs, object)?))
        .transpose()
}

pub(super) fn list(
    txn: &ReadTransaction,
    bucket_id: &str,
    filter: &ObjectFilter,
    request: PageRequest,
) -> TxResult<Paged<Object>> {
    let objects = txn.open_table(OBJECTS)?;
    let configs = txn.open_table(OBJECT_CONFIGS)?;
    let batches = txn.open_table(OBJECT_BATCHES)?;
    let key_prefix = filter.key_prefix.as_deref().unwrap_or("");
    let mut items = Vec::new();
    let total;
    match &filter.sync_config_id {
        Some(sync_config_id) => {
            // The per-config index is key-ordered too and holds the seen mark.
            let scope = prefix(&[sync_config_id]);
            let (window, count) = page(
                &configs,
                &format!("{scope}{bucket_id}\0{key_prefix}"),
                false,
                request.offset,
                request.limit,
            )?;
            total = count;
            for (index_key, last_seen) in window {
                let record = &index_key[scope.len()..];
                if let Some(mut object) = get_json::<_, Object>(&objects, record)? {
                    object.last_seen_job_id = text(&last_seen)?;
                    items.push(with_batch(&batches, object)?);
                }
            }
        }
        None => {
            let (window, count) = page(
                &objects,
                &format!("{bucket_id}\0{key_prefix}"),
                false,
                request.offset,
                request.limit,
            )?;
            total = count;
            for (_, value) in window {
                let object = with_last_seen(&configs, from_json(&value)?)?;
                items.push(with_batch(&batches, object)?);
            }
        }
    }
    Ok(Paged { items, total })
}

pub(super) fn delete(txn: &WriteTransaction, bucket_id: &str, object_id: &str) -> TxResult<bool> {
    let mut tables = ObjectTables::open(txn)?;
    match load(&tables.objects, &tables.ids, bucket_id, object_id)? {
        Some(object) => {
            tables.remove(&object)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Reconciliation: removes the objects of the fence's config whose seen mark
/// is not `sync_job_id`.
pub(super) fn delete_not_seen_by(
    txn: &WriteTransaction,
    fence: &Fence,
    sync_job_id: &str,
) -> TxResult<u64> {
    check_fence(txn, fence)?;
    let ObjectTables {
        mut objects,
        mut ids,
        mut sources,
        mut configs,
        mut batches,
    } = ObjectTables::open(txn)?;
    let scope = prefix(&[&fence.sync_config_id]);
    remove_where(
        &mut configs,
        &scope,
        |_, last_seen| Ok(last_seen != sync_job_id.as_bytes()),
        |index_key, _| {
            let record = &index_key[scope.len()..];
            let Some(value) = get_raw(&objects, record)? else {
                return Ok(());
            };
            let object: Object = from_json(&value)?;
            objects.remove(record)?;
            let id = id_key(&object.bucket_id, &object.object_id);
            ids.remove(id.as_str())?;
            batches.remove(id.as_str())?;
            remove_source_if_points_at(&mut sources, &object)
        },
    )
}

/// Stores the batch and records it as the batch of its (still existing)
/// objects: one short row each, the records are not touched.
pub(super) fn create_batch(txn: &WriteTransaction, fence: &Fence, batch: &Batch) -> TxResult<()> {
    check_fence(txn, fence)?;
    put_json(
        &mut txn.open_table(BATCHES)?,
        &key(&[&batch.bucket_id, &batch.batch_id]),
        batch,
    )?;
    let ids = txn.open_table(OBJECT_IDS)?;
    let mut batches = txn.open_table(OBJECT_BATCHES)?;
    for object_id in &batch.object_ids {
        let id = id_key(&batch.bucket_id, object_id);
        if ids.get(id.as_str())?.is_some() {
            put_text(&mut batches, &id, &batch.batch_id)?;
        }
    }
    Ok(())
}

pub(super) fn get_batch(
    txn: &ReadTransaction,
    bucket_id: &str,
    batch_id: &str,
) -> TxResult<Option<Batch>> {
    get_json(&txn.open_table(BATCHES)?, &key(&[bucket_id, batch_id]))
}

/// Oldest first (batch ids sort by creation).
pub(super) fn list_batches(
    txn: &ReadTransaction,
    bucket_id: &str,
    filter: &BatchFilter,
    request: PageRequest,
) -> TxResult<Paged<Batch>> {
    let batches = txn.open_table(BATCHES)?;
    let mut items = Vec::new();
    let mut total = 0u64;
    scan(&batches, &prefix(&[bucket_id]), false, |_, value| {
        let batch: Batch = from_json(value)?;
        let matches = filter
            .sync_config_id
            .as_ref()
            .is_none_or(|id| *id == batch.sync_config_id)
            && filter
                .sync_job_id
                .as_ref()
                .is_none_or(|id| *id == batch.sync_job_id);
        if matches {
            if total >= request.offset && total - request.offset < request.limit {
                items.push(batch);
            }
            total += 1;
        }
        Ok(Flow::Continue)
    })?;
    Ok(Paged { items, total })
}
