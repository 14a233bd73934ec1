//! The error a connector returns to the host: one variant per thing the host can act on.

use std::fmt;

/// An error the host can act on, mirroring the contract's `connector-error`.
///
/// The variant decides what the host does next: `InvalidConfig`, `Unauthorized`,
/// `NotFound` and `Fatal` are final, `Throttled` and `Transient` may be retried.
/// The message is shown to users, so it should say what to check and must never
/// contain a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// The connection's config is malformed or incomplete. Not retried.
    InvalidConfig(String),
    /// The provider refused the credentials. Not retried.
    Unauthorized(String),
    /// The bucket, container, folder or file does not exist.
    NotFound(String),
    /// Rate-limited after the connector's own retries ran out.
    Throttled {
        /// What the provider said.
        message: String,
        /// How long the provider asked us to wait, if it said.
        retry_after_ms: Option<u64>,
    },
    /// A temporary failure (network, 5xx); the host may retry.
    Transient(String),
    /// Anything else; not retried.
    Fatal(String),
}

impl ConnectorError {
    /// The human-readable message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidConfig(message)
            | Self::Unauthorized(message)
            | Self::NotFound(message)
            | Self::Throttled { message, .. }
            | Self::Transient(message)
            | Self::Fatal(message) => message,
        }
    }

    /// Whether the host may retry the operation that failed (`Throttled` or `Transient`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient(_))
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(message) => write!(f, "invalid config: {message}"),
            Self::Unauthorized(message) => write!(f, "unauthorized: {message}"),
            Self::NotFound(message) => write!(f, "not found: {message}"),
            Self::Throttled {
                message,
                retry_after_ms: Some(ms),
            } => write!(f, "throttled: {message} (retry after {ms} ms)"),
            Self::Throttled {
                message,
                retry_after_ms: None,
            } => write!(f, "throttled: {message}"),
            Self::Transient(message) => write!(f, "transient error: {message}"),
            Self::Fatal(message) => write!(f, "fatal error: {message}"),
        }
    }
}

impl std::error::Error for ConnectorError {}
