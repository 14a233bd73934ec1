//! Stage 2: pages from the plugin, produced by a task of their own and passed
//! through a bounded channel, so listing overlaps with writing and memory
//! stays flat. A failed page call that may succeed later is retried from the
//! last cursor with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::metrics::{Metrics, PluginLabel};
use crate::runtime::contract::{ListRequest, Page};
use crate::runtime::{Plugin, PluginError, SandboxPolicy};

/// Pages waiting between the plugin and the writer.
const CHANNEL_PAGES: usize = 2;
/// Tries of one page call before the run fails.
const PAGE_ATTEMPTS: u32 = 3;

/// Starts listing; the receiver yields pages in order, then ends, or yields
/// one error and ends.
pub fn spawn_listing(
    plugin: Arc<Plugin>,
    policy: SandboxPolicy,
    request: ListRequest,
    metrics: Arc<Metrics>,
    retry_base: Duration,
) -> mpsc::Receiver<Result<Page, PluginError>> {
    let (sender, receiver) = mpsc::channel(CHANNEL_PAGES);
    tokio::spawn(async move {
        let label = PluginLabel {
            plugin: plugin.id().to_string(),
        };
        let mut request = request;
        let mut failures = 0;
        let mut listing = None;
        loop {
            let step = match listing.as_mut() {
                None => match timed(&metrics, &label, plugin.open_listing(&request, &policy)).await
                {
                    Ok(opened) => {
                        listing = Some(opened);
                        continue;
                    }
                    Err(e) => Err(e),
                },
                Some(open) => timed(&metrics, &label, open.next_page()).await,
            };
            match step {
                Ok(Some(page)) => {
                    failures = 0;
                    request.resume_cursor = page.cursor.clone();
                    let last = page.cursor.is_none();
                    if sender.send(Ok(page)).await.is_err() || last {
                        return; // the run stopped listening, or that was the end
                    }
                }
                Ok(None) => return,
                Err(e) if e.is_retryable() && failures + 1 < PAGE_ATTEMPTS => {
                    failures += 1;
                    backoff(retry_base, failures, &e).await;
                    // An instance may be unusable after an error: reopen at the cursor.
                    listing = None;
                }
                Err(e) => {
                    let _ = sender.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    receiver
}

/// Awaits one plugin call, recording how long it took.
async fn timed<T>(
    metrics: &Metrics,
    label: &PluginLabel,
    call: impl std::future::Future<Output = T>,
) -> T {
    let started = Instant::now();
    let result = call.await;
    metrics
        .plugin_call_seconds
        .get_or_create(label)
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn backoff(base: Duration, failures: u32, error: &PluginError) {
    let mut delay = base * 2u32.pow(failures - 1);
    if let PluginError::Connector(crate::runtime::contract::ConnectorError::Throttled {
        retry_after_ms: Some(ms),
        ..
    }) = error
    {
        delay = delay.max(Duration::from_millis(*ms));
    }
    tracing::warn!("listing call failed ({error}); retrying in {delay:?}");
    tokio::time::sleep(delay).await;
}
