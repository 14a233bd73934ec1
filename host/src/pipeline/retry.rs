//! Stage 4: files a page reported as failed. A transient failure is retried
//! (by listing just those keys again) up to [`RETRIES`] times with
//! exponential backoff; what still fails, and every permanent failure, goes
//! to the dead-letter queue with its error and attempt count.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{new_id, now, DlqEntry, ErrorInfo};
use crate::runtime::contract::{FileEntry, FileFailure, ListRequest};
use crate::runtime::{Plugin, PluginError, SandboxPolicy};

/// Retries of one failed file before it is dead-lettered.
pub const RETRIES: u32 = 3;

/// Ids a dead letter needs.
pub struct DlqOrigin<'a> {
    pub bucket_id: &'a str,
    pub sync_config_id: &'a str,
    pub sync_job_id: &'a str,
}

#[derive(Default)]
pub struct RetryOutcome {
    /// Files that listed fine on a retry.
    pub recovered: Vec<FileEntry>,
    pub dead: Vec<DlqEntry>,
    /// Retry attempts made, one per file per round.
    pub retries: u64,
}

/// Retries `failures` and sorts them into recovered files and dead letters.
pub async fn retry_failures(
    plugin: &Plugin,
    policy: &SandboxPolicy,
    base: &ListRequest,
    failures: Vec<FileFailure>,
    origin: &DlqOrigin<'_>,
    base_delay: Duration,
) -> RetryOutcome {
    let mut outcome = RetryOutcome::default();
    let mut waiting: BTreeMap<String, FileFailure> = BTreeMap::new();
    for failure in failures {
        if failure.error.is_retryable() {
            waiting.insert(failure.key.clone(), failure);
        } else {
            outcome
                .dead
                .push(dead_letter(origin, &failure, error_info(&failure), 1));
        }
    }
    let mut attempts = 0;
    while !waiting.is_empty() && attempts < RETRIES {
        attempts += 1;
        outcome.retries += waiting.len() as u64;
        tokio::time::sleep(base_delay * 2u32.pow(attempts - 1)).await;
        let keys: Vec<String> = waiting.keys().cloned().collect();
        match list_keys(plugin, policy, base, &keys).await {
            Ok((entries, still_failing)) => {
                for entry in entries {
                    if waiting.remove(&entry.key).is_some() {
                        outcome.recovered.push(entry);
                    }
                }
                for failure in still_failing {
                    if let Some(slot) = waiting.get_mut(&failure.key) {
                        *slot = failure;
                    }
                }
            }
            Err(e) => tracing::warn!("retry listing failed: {e}"),
        }
    }
    for failure in waiting.into_values() {
        let error = error_info(&failure);
        outcome
            .dead
            .push(dead_letter(origin, &failure, error, attempts));
    }
    outcome
}

/// Lists exactly `keys` (each as an escaped glob) with the run's other settings.
async fn list_keys(
    plugin: &Plugin,
    policy: &SandboxPolicy,
    base: &ListRequest,
    keys: &[String],
) -> Result<(Vec<FileEntry>, Vec<FileFailure>), PluginError> {
    let mut request = base.clone();
    request.filters.include_patterns = keys.iter().map(|k| escape_glob(k)).collect();
    request.resume_cursor = None;
    request.modified_since = None;
    let mut listing = plugin.open_listing(&request, policy).await?;
    let (mut entries, mut failures) = (Vec::new(), Vec::new());
    while let Some(page) = listing.next_page().await? {
        entries.extend(page.entries.into_iter().filter(|e| keys.contains(&e.key)));
        failures.extend(page.failures.into_iter().filter(|f| keys.contains(&f.key)));
    }
    Ok((entries, failures))
}

/// A glob that matches exactly `key`: metacharacters are backslash-escaped.
pub fn escape_glob(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn error_info(failure: &FileFailure) -> ErrorInfo {
    ErrorInfo {
        kind: failure.error.kind().to_string(),
        message: failure.error.to_string(),
    }
}

fn dead_letter(
    origin: &DlqOrigin<'_>,
    failure: &FileFailure,
    error: ErrorInfo,
    attempts: u32,
) -> DlqEntry {
    let at = now();
    DlqEntry {
        entry_id: new_id("dlq"),
        bucket_id: origin.bucket_id.to_string(),
        sync_config_id: origin.sync_config_id.to_string(),
        uri: failure.uri.clone(),
        key: failure.key.clone(),
        error,
        attempts,
        sync_job_id: origin.sync_job_id.to_string(),
        first_failed_at: at,
        last_failed_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::escape_glob;

    #[test]
    fn escapes_glob_metacharacters() {
        assert_eq!(escape_glob("a/b c+%.txt"), "a/b c+%.txt");
        assert_eq!(escape_glob("x*[1]?.{a}\\"), "x\\*\\[1\\]\\?.\\{a\\}\\\\");
    }
}
