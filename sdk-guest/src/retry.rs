//! Retrying a provider request with exponential backoff and jitter.
//!
//! Cloud providers answer 429, 500, 503 (S3's `SlowDown`) and drop connections
//! now and then; a connector retries those itself, a bounded number of times,
//! before the host sees an error. [`send_with_retry`] rebuilds the request for
//! every attempt, so signatures that include the time stay fresh.
//!
//! ```no_run
//! use tributary_sdk::http::Request;
//! use tributary_sdk::retry::{send_with_retry, RetryPolicy};
//!
//! # fn run() -> Result<(), tributary_sdk::ConnectorError> {
//! let response = send_with_retry(&RetryPolicy::default(), "listing the bucket", || {
//!     Request::get("https://storage.example.com/bucket?list-type=2")
//! })?;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use crate::error::ConnectorError;
use crate::http::{HttpError, Request, Response};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// The pause before the second attempt; it doubles with every attempt.
    pub base_delay: Duration,
    /// No pause is longer, whatever the backoff or a `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200 ms doubling, capped at 5 s: about 3 s of waiting in all
    /// unless the provider asks for more, well inside the host's call budget.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (counting from 1): full jitter
    /// over the doubled base, or the provider's `Retry-After` when it gave
    /// one, both capped at `max_delay`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let exponent = attempt.saturating_sub(1).min(16);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        // Full jitter, half of it guaranteed: never zero, never in lockstep.
        let half = ceiling / 2;
        half + half.mul_f64(jitter())
    }
}

/// Whether a status is worth another attempt: 408, 429 and the 5xx that mean
/// "not now" (500, 502, 503, 504).
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Sends the request `build` makes, retrying retryable statuses and broken
/// connections under `policy`. Returns the first response that is not
/// retryable (a success, or e.g. a 403 for the caller to explain); when the
/// attempts run out, the last failure as a [`ConnectorError`]: `Throttled`
/// for 429/503, `Transient` for other 5xx and connection problems. `context`
/// says what the request was for, in error messages.
pub fn send_with_retry(
    policy: &RetryPolicy,
    context: &str,
    mut build: impl FnMut() -> Request,
) -> Result<Response, ConnectorError> {
    let first = build().send();
    retry_from(policy, context, first, build)
}

/// [`send_with_retry`] for many requests: first attempts go out together
/// ([`crate::http::send_all`]); a request whose first answer calls for
/// another attempt goes on by itself under `policy` when its outcome is
/// taken. Each item is the request's context (for messages) and its
/// builder; outcomes come in the order given, lazily, so a caller that stops
/// at a failure spends no retries on the rest.
pub fn send_all_with_retry<'a, B>(
    policy: &'a RetryPolicy,
    mut requests: Vec<(String, B)>,
) -> impl Iterator<Item = Result<Response, ConnectorError>> + 'a
where
    B: FnMut() -> Request + 'a,
{
    let firsts: Vec<Request> = requests.iter_mut().map(|(_, build)| build()).collect();
    crate::http::send_all(firsts)
        .zip(requests)
        .map(move |(first, (context, build))| retry_from(policy, &context, first, build))
}

/// The retry loop, from the outcome of attempt 1.
fn retry_from(
    policy: &RetryPolicy,
    context: &str,
    first: Result<Response, HttpError>,
    mut build: impl FnMut() -> Request,
) -> Result<Response, ConnectorError> {
    let attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    let mut outcome = first;
    loop {
        let (failure, retry_after) = match outcome {
            Ok(response) if !is_retryable_status(response.status) => return Ok(response),
            Ok(response) => {
                let retry_after = retry_after(&response);
                (exhausted(&response, context), retry_after)
            }
            Err(error) if is_retryable_transport(&error) => (
                ConnectorError::Transient(format!("{context}: {error}")),
                None,
            ),
            Err(error) => return Err(error.into()),
        };
        if attempt >= attempts {
            return Err(failure);
        }
        crate::log::debug(format!(
            "{context}: attempt {attempt} of {attempts} failed ({failure}); retrying"
        ));
        std::thread::sleep(policy.delay(attempt, retry_after));
        attempt += 1;
        outcome = build().send();
    }
}

/// The error a retryable response means once no attempt is left: a 503 is
/// throttling even without `Retry-After` (S3's `SlowDown`).
fn exhausted(response: &Response, context: &str) -> ConnectorError {
    match response.status_error(context) {
        ConnectorError::Transient(message) if response.status == 503 => ConnectorError::Throttled {
            message,
            retry_after_ms: None,
        },
        other => other,
    }
}

fn is_retryable_transport(error: &HttpError) -> bool {
    matches!(
        error,
        HttpError::Connect { .. } | HttpError::Timeout { .. } | HttpError::Protocol { .. }
    )
}

/// `Retry-After` in seconds (the HTTP-date form is rare from storage APIs and
/// falls back to the backoff).
fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: f64 = response.header("retry-after")?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// A number in [0, 1) from the wall clock's nanoseconds and a per-call
/// counter: enough to spread retries, no randomness source needed.
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(policy.delay(9, None) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retries_go_on_from_the_first_answer() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        let answer = |status| {
            Ok(Response {
                status,
                ..Response::default()
            })
        };
        // A final first answer is returned without another request.
        let response = retry_from(&policy, "x", answer(404), || unreachable!()).unwrap();
        assert_eq!(response.status, 404);
        // A 503 first: the next attempts are built and sent (here they cannot
        // leave the test process, which ends the retries).
        let mut built = 0;
        let error = retry_from(&policy, "x", answer(503), || {
            built += 1;
            Request::get("https://example.com/")
        })
        .unwrap_err();
        assert_eq!(built, 1);
        assert!(matches!(error, ConnectorError::Fatal(_)), "{error:?}");
        // With one attempt allowed, the 503 is the last word: throttled.
        let once = RetryPolicy {
            max_attempts: 1,
            ..policy
        };
        let error = retry_from(&once, "x", answer(503), || unreachable!()).unwrap_err();
        assert!(
            matches!(error, ConnectorError::Throttled { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60))),
            policy.max_delay
        );
    }

    #[test]
    fn exhausted_503_is_throttling_and_500_is_transient() {
        let slow_down = Response {
            status: 503,
            headers: vec![],
            body: b"<Code>SlowDown</Code>".to_vec(),
        };
        assert!(matches!(
            exhausted(&slow_down, "listing"),
            ConnectorError::Throttled { .. }
        ));
        let broken = Response {
            status: 500,
            ..Response::default()
        };
        assert!(matches!(
            exhausted(&broken, "listing"),
            ConnectorError::Transient(_)
        ));
        let limited = Response {
            status: 429,
            headers: vec![("retry-after".into(), "3".into())],
            body: vec![],
        };
        assert_eq!(
            exhausted(&limited, "listing"),
            ConnectorError::Throttled {
                message: "listing: HTTP 429".into(),
                retry_after_ms: Some(3000)
            }
        );
        assert_eq!(retry_after(&limited), Some(Duration::from_secs(3)));
    }

    #[test]
    fn only_not_now_statuses_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 409, 501] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
