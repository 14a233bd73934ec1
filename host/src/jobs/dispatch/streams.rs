//! The distributed queue: a Redis stream read by one consumer group that
//! every host joins, so each job goes to exactly one worker somewhere.
//!
//! A worker reads with `XREADGROUP` and keeps its delivery alive while the
//! job runs (`XCLAIM … JUSTID` resets the idle time without counting a
//! delivery). A host that dies stops doing that; after `reclaim_idle` its
//! deliveries are taken over with `XAUTOCLAIM` by another worker, which
//! resumes the job from its checkpoint. A job handed out more than
//! `max_deliveries` times goes to a dead-letter stream and is marked
//! `FAILED` with the reason. Entries are acknowledged (and deleted) once the
//! job's final state is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::Pool;
use redis::Value;

use super::{Delivery, JobDispatch};
use crate::model::{now, ErrorInfo, JobStatus};
use crate::store::Store;

/// The field of a queue entry that holds the job id.
const JOB_FIELD: &str = "sync_job_id";
/// How long one blocking read waits before looking for stale deliveries.
const READ_BLOCK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// The job stream.
    pub stream: String,
    /// Where undeliverable jobs are recorded.
    pub dead_letters: String,
    /// The consumer group every host joins.
    pub group: String,
    /// This host's consumer name.
    pub consumer: String,
    /// A delivery idle this long belongs to a stopped host and is taken over.
    pub reclaim_idle: Duration,
    /// Deliveries of one job before it is given up.
    pub max_deliveries: u64,
}

pub struct StreamDispatch {
    pool: Pool,
    settings: StreamSettings,
    store: Arc<dyn Store>,
    /// Keep-alive tasks of the deliveries running here, by receipt.
    keepalives: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl StreamDispatch {
    /// Joins (creating if needed) the consumer group.
    pub async fn new(
        pool: Pool,
        settings: StreamSettings,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        let dispatch = Self {
            pool,
            settings,
            store,
            keepalives: Mutex::new(HashMap::new()),
        };
        dispatch.ensure_group().await?;
        Ok(dispatch)
    }

    async fn connection(&self) -> anyhow::Result<deadpool_redis::Connection> {
        Ok(self.pool.get().await?)
    }

    /// Creates the group at the stream's start (a Redis that lost its data
    /// gets it back the same way).
    async fn ensure_group(&self) -> anyhow::Result<()> {
        let mut connection = self.connection().await?;
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.settings.stream)
            .arg(&self.settings.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut connection)
            .await;
        match created {
            Err(e) if !e.to_string().contains("BUSYGROUP") => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// One new entry for this consumer, waiting up to [`READ_BLOCK`].
    async fn read_new(&self) -> anyhow::Result<Option<Delivery>> {
        let mut connection = self.connection().await?;
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.settings.group)
            .arg(&self.settings.consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.settings.stream)
            .arg(">")
            .query_async(&mut connection)
            .await?;
        // [[stream, [[id, [field, value, …]]]]] or nil
        let entry = first(&reply)
            .and_then(|stream| nth(stream, 1))
            .and_then(first);
        Ok(entry.and_then(parse_entry))
    }

    /// Takes over one delivery idle for longer than `reclaim_idle`.
    async fn reclaim_stale(&self) -> anyhow::Result<Option<Delivery>> {
        let mut connection = self.connection().await?;
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&self.settings.stream)
            .arg(&self.settings.group)
            .arg(&self.settings.consumer)
            .arg(self.settings.reclaim_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await?;
        // [next-id, [[id, fields] …], [deleted ids]]
        let Some(entry) = nth(&reply, 1).and_then(first) else {
            return Ok(None);
        };
        let Some(delivery) = parse_entry(entry) else {
            // The entry's data is gone: nothing to run.
            if let Some(id) = nth(entry, 0).and_then(text) {
                self.acknowledge(&id).await?;
            }
            return Ok(None);
        };
        let receipt = delivery.receipt.clone().unwrap_or_default();
        let deliveries: Value = redis::cmd("XPENDING")
            .arg(&self.settings.stream)
            .arg(&self.settings.group)
            .arg(&receipt)
            .arg(&receipt)
            .arg(1)
            .query_async(&mut connection)
            .await?;
        let count = first(&deliveries)
            .and_then(|pending| nth(pending, 3))
            .and_then(integer)
            .unwrap_or(1);
        if count > self.settings.max_deliveries {
            self.give_up(&delivery, count).await?;
            return Ok(None);
        }
        tracing::warn!(
            sync_job_id = %delivery.sync_job_id,
            deliveries = count,
            "took over a job whose worker stopped; it resumes from its checkpoint"
        );
        Ok(Some(delivery))
    }

    /// Records an undeliverable job and fails it with the reason.
    async fn give_up(&self, delivery: &Delivery, deliveries: u64) -> anyhow::Result<()> {
        let reason = format!(
            "the job was handed to a worker {deliveries} times without finishing (the hosts running it kept stopping); giving up"
        );
        tracing::error!(sync_job_id = %delivery.sync_job_id, "{reason}");
        let message = reason.clone();
        self.store
            .modify_job(
                &delivery.sync_job_id,
                Box::new(move |job| {
                    if !job.status.is_final() {
                        job.status = JobStatus::Failed;
                        job.finished_at = Some(now());
                        job.error = Some(ErrorInfo {
                            kind: "undeliverable".into(),
                            message: message.clone(),
                        });
                    }
                }),
            )
            .await?;
        let mut connection = self.connection().await?;
        let _: String = redis::cmd("XADD")
            .arg(&self.settings.dead_letters)
            .arg("*")
            .arg(JOB_FIELD)
            .arg(&delivery.sync_job_id)
            .arg("deliveries")
            .arg(deliveries)
            .arg("reason")
            .arg(&reason)
            .query_async(&mut connection)
            .await?;
        self.acknowledge(delivery.receipt.as_deref().unwrap_or_default())
            .await
    }

    async fn acknowledge(&self, receipt: &str) -> anyhow::Result<()> {
        let mut connection = self.connection().await?;
        let _: () = redis::pipe()
            .cmd("XACK")
            .arg(&self.settings.stream)
            .arg(&self.settings.group)
            .arg(receipt)
            .ignore()
            .cmd("XDEL")
            .arg(&self.settings.stream)
            .arg(receipt)
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Resets the delivery's idle time while the job runs here.
    fn keep_alive(&self, delivery: &Delivery) {
        let Some(receipt) = delivery.receipt.clone() else {
            return;
        };
        let pool = self.pool.clone();
        let settings = self.settings.clone();
        let period = (settings.reclaim_idle / 3).max(Duration::from_millis(100));
        let task = tokio::spawn({
            let receipt = receipt.clone();
            async move {
                loop {
                    tokio::time::sleep(period).await;
                    let claimed: anyhow::Result<Value> = async {
                        let mut connection = pool.get().await?;
                        Ok(redis::cmd("XCLAIM")
                            .arg(&settings.stream)
                            .arg(&settings.group)
                            .arg(&settings.consumer)
                            .arg(0)
                            .arg(&receipt)
                            .arg("JUSTID")
                            .query_async(&mut connection)
                            .await?)
                    }
                    .await;
                    if let Err(e) = claimed {
                        tracing::warn!(receipt, "cannot keep the job delivery alive: {e}");
                    }
                }
            }
        });
        if let Some(old) = self
            .keepalives
            .lock()
            .expect("keepalives lock")
            .insert(receipt, task)
        {
            old.abort();
        }
    }

    fn stop_keep_alive(&self, delivery: &Delivery) {
        if let Some(receipt) = &delivery.receipt {
            if let Some(task) = self
                .keepalives
                .lock()
                .expect("keepalives lock")
                .remove(receipt)
            {
                task.abort();
            }
        }
    }
}

#[async_trait]
impl JobDispatch for StreamDispatch {
    async fn dispatch(&self, sync_job_id: &str) -> anyhow::Result<()> {
        let mut connection = self.connection().await?;
        let _: String = redis::cmd("XADD")
            .arg(&self.settings.stream)
            .arg("*")
            .arg(JOB_FIELD)
            .arg(sync_job_id)
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn next(&self) -> Delivery {
        let mut failures = 0u32;
        loop {
            let found = match self.reclaim_stale().await {
                Ok(Some(delivery)) => Ok(Some(delivery)),
                Ok(None) => self.read_new().await,
                Err(e) => Err(e),
            };
            match found {
                Ok(Some(delivery)) => {
                    self.keep_alive(&delivery);
                    return delivery;
                }
                Ok(None) => failures = 0,
                Err(e) => {
                    failures += 1;
                    if e.to_string().contains("NOGROUP") {
                        // Redis lost the group (restarted without its data).
                        let _ = self.ensure_group().await;
                    }
                    if failures == 1 || failures.is_multiple_of(30) {
                        tracing::warn!("cannot read the job queue (retrying): {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(failures.min(4))))
                        .await;
                }
            }
        }
    }

    async fn finished(&self, delivery: &Delivery) {
        self.stop_keep_alive(delivery);
        if let Some(receipt) = &delivery.receipt {
            if let Err(e) = self.acknowledge(receipt).await {
                // Not acknowledged: another worker will find the job final and drop it.
                tracing::warn!(sync_job_id = %delivery.sync_job_id, "cannot acknowledge the job: {e}");
            }
        }
    }

    async fn abandoned(&self, delivery: &Delivery) {
        self.stop_keep_alive(delivery);
    }
}

fn nth(value: &Value, index: usize) -> Option<&Value> {
    match value {
        Value::Array(items) => items.get(index),
        _ => None,
    }
}

fn first(value: &Value) -> Option<&Value> {
    nth(value, 0)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => text(value).and_then(|t| t.parse().ok()),
    }
}

/// `[id, [field, value, …]]` → the delivery, if it names a job.
fn parse_entry(entry: &Value) -> Option<Delivery> {
    let receipt = text(nth(entry, 0)?)?;
    let Value::Array(fields) = nth(entry, 1)? else {
        return None;
    };
    let sync_job_id = fields
        .chunks(2)
        .find(|pair| pair.first().and_then(text).as_deref() == Some(JOB_FIELD))
        .and_then(|pair| pair.get(1).and_then(text))?;
    Some(Delivery {
        sync_job_id,
        receipt: Some(receipt),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn entries_parse_into_deliveries() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![
                bulk("other"),
                bulk("x"),
                bulk(JOB_FIELD),
                bulk("job_1"),
            ]),
        ]);
        assert_eq!(
            parse_entry(&entry),
            Some(Delivery {
                sync_job_id: "job_1".into(),
                receipt: Some("1-0".into())
            })
        );
        // A deleted entry's fields come back nil.
        let gone = Value::Array(vec![bulk("2-0"), Value::Nil]);
        assert_eq!(parse_entry(&gone), None);
    }
}
