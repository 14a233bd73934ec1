//! Scheduled runs: every tick, `continuous` configs whose `next_sync_at` has
//! come get a job; an `initial_only` config gets its one run.
//!
//! Every host runs the scheduler; a short lock per tick (a store lease that
//! expires just before the next tick) lets exactly one host fire each due
//! config, and the firing host moves `next_sync_at` on before letting go.

use std::time::Duration;

use crate::app::App;
use crate::model::{now, JobStatus, JobTrigger, SyncConfig, SyncMode, Timestamp};
use crate::store::{LockAttempt, PageRequest};

/// The lock name the scheduler's per-tick lease is stored under.
const TICK_LOCK: &str = "__scheduler__";

use super::{trigger_sync, TriggerOptions};

/// Runs the scheduler loop forever.
pub async fn run(app: App, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(e) = tick_once(&app, tick).await {
            tracing::warn!("scheduler tick failed: {e}");
        }
    }
}

/// One pass over every config, if this host wins the tick.
pub async fn tick_once(app: &App, tick: Duration) -> anyhow::Result<()> {
    let lease = tick.mul_f64(0.9).max(Duration::from_millis(100));
    let won = app
        .store
        .try_lock(TICK_LOCK, "scheduler", &app.settings.worker_id, lease)
        .await?;
    if !matches!(won, LockAttempt::Acquired(_)) {
        return Ok(());
    }
    for config in app.store.list_all_sync_configs().await? {
        if !config.is_active || config.paused {
            continue;
        }
        if let Err(e) = consider(app, config).await {
            tracing::warn!("scheduling failed: {e}");
        }
    }
    Ok(())
}

async fn consider(app: &App, config: SyncConfig) -> anyhow::Result<()> {
    let now = now();
    let due = match config.sync_mode {
        SyncMode::Continuous => match config.next_sync_at {
            Some(at) => at <= now,
            None => {
                // First sight of a new config: its first scheduled run is one
                // interval after creation (a manual trigger can run it sooner).
                let first = config.created_at
                    + chrono::Duration::seconds(config.polling_interval_seconds as i64);
                set_next_sync_at(app, &config.sync_config_id, first).await?;
                false
            }
        },
        SyncMode::InitialOnly => !config.initial_run_done && config.last_sync_at.is_none(),
    };
    if !due || has_open_job(app, &config).await? {
        return Ok(());
    }
    let job = trigger_sync(
        app,
        &config,
        TriggerOptions {
            full_sync: false,
            trigger: JobTrigger::Schedule,
            only_keys: None,
        },
    )
    .await?;
    tracing::info!(sync_config_id = %config.sync_config_id, sync_job_id = %job.sync_job_id, "scheduled run queued");
    // Move the schedule on now so the next tick does not fire again.
    if config.sync_mode == SyncMode::Continuous {
        let next = now + chrono::Duration::seconds(config.polling_interval_seconds as i64);
        set_next_sync_at(app, &config.sync_config_id, next).await?;
    }
    Ok(())
}

async fn set_next_sync_at(app: &App, sync_config_id: &str, at: Timestamp) -> anyhow::Result<()> {
    app.store
        .modify_sync_config(sync_config_id, Box::new(move |c| c.next_sync_at = Some(at)))
        .await?;
    Ok(())
}

async fn has_open_job(app: &App, config: &SyncConfig) -> anyhow::Result<bool> {
    let recent = app
        .store
        .list_jobs(
            &config.sync_config_id,
            PageRequest {
                offset: 0,
                limit: 20,
            },
        )
        .await?;
    Ok(recent
        .items
        .iter()
        .any(|j| matches!(j.status, JobStatus::Pending | JobStatus::InProgress)))
}
