//! Resource limits of one plugin instance: a wall-clock budget per call, a
//! memory cap, and a cap on HTTP response bodies.

use std::time::Duration;

/// Limits applied to every plugin instance.
#[derive(Debug, Clone, Copy)]
pub struct SandboxLimits {
    /// Wall-clock budget of one call into the plugin (`validate`, `open`,
    /// one `next-page`), including the HTTP requests it makes.
    pub call_timeout: Duration,
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Largest HTTP response body one request may receive.
    pub response_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(60),
            memory_bytes: 256 << 20,
            response_bytes: 64 << 20,
        }
    }
}

/// A store limiter that enforces the memory cap and remembers that it did,
/// so a failed call can be reported as "memory limit" rather than a bare trap.
#[derive(Debug)]
pub struct MemoryCap {
    max_bytes: usize,
    pub hit: bool,
}

impl MemoryCap {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            wasmtime::bail!(
                "plugin exceeded its memory limit of {} MiB",
                self.max_bytes >> 20
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
