//! Stage 1 and 6 of a run: the per-config lock. Held with a TTL that a
//! heartbeat renews; released by compare-and-delete on its fencing token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::model::LockLease;
use crate::store::{Fence, LockAttempt, Store, StoreResult};

/// A held lock plus its heartbeat.
pub struct LockGuard {
    store: Arc<dyn Store>,
    lease: LockLease,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// Result of trying to take the lock.
pub enum Acquired {
    Held(LockGuard),
    /// Another run holds it.
    Busy(LockLease),
}

impl LockGuard {
    /// Takes the lock for `job_id`. When the holder is this same job (a
    /// previous process of ours died while running it), waits for that lease
    /// to expire instead of reporting the job as its own blocker.
    pub async fn acquire(
        store: Arc<dyn Store>,
        sync_config_id: &str,
        job_id: &str,
        worker_id: &str,
        ttl: Duration,
    ) -> StoreResult<Acquired> {
        loop {
            match store
                .try_lock(sync_config_id, job_id, worker_id, ttl)
                .await?
            {
                LockAttempt::Acquired(lease) => {
                    let lost = Arc::new(AtomicBool::new(false));
                    let heartbeat =
                        spawn_heartbeat(store.clone(), lease.clone(), ttl, lost.clone());
                    return Ok(Acquired::Held(LockGuard {
                        store,
                        lease,
                        lost,
                        heartbeat,
                    }));
                }
                LockAttempt::HeldBy(holder) if holder.job_id == job_id => {
                    let wait = (holder.expires_at - chrono::Utc::now())
                        .to_std()
                        .unwrap_or_default();
                    tracing::info!(
                        job_id,
                        "waiting {wait:?} for this job's lease from a previous process to expire"
                    );
                    tokio::time::sleep(wait + Duration::from_millis(50)).await;
                }
                LockAttempt::HeldBy(holder) => return Ok(Acquired::Busy(holder)),
            }
        }
    }

    pub fn fence(&self) -> Fence {
        Fence::from(&self.lease)
    }

    /// Whether a heartbeat found the lock taken over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops the heartbeat and hands over the lease, for the store step that
    /// releases it together with the run's last writes
    /// ([`Store::finish_run`]).
    pub fn into_lease(self) -> LockLease {
        self.heartbeat.abort();
        self.lease
    }

    /// Stops the heartbeat and releases the lock if still ours.
    pub async fn release(self) {
        self.heartbeat.abort();
        match self.store.release_lock(&self.lease).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                sync_config_id = %self.lease.sync_config_id,
                "lock was no longer held at release"
            ),
            Err(e) => {
                tracing::error!(sync_config_id = %self.lease.sync_config_id, "releasing the lock failed: {e}")
            }
        }
    }
}

fn spawn_heartbeat(
    store: Arc<dyn Store>,
    lease: LockLease,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = ttl / 3;
        loop {
            tokio::time::sleep(period).await;
            match store.renew_lock(&lease, ttl).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(sync_config_id = %lease.sync_config_id, "sync lock lost to another run");
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
                // A passing store error: the next beat tries again before the TTL runs out.
                Err(e) => {
                    tracing::warn!(sync_config_id = %lease.sync_config_id, "lock heartbeat failed: {e}")
                }
            }
        }
    })
}
