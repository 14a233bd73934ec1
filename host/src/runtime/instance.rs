//! Per-instance state of a plugin: the WASI and wasi-http contexts, the
//! resource table, the sandbox's hooks and limits. One struct, one view impl
//! per capability, no globals.

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::sandbox::http_policy::PolicyHooks;
use super::sandbox::limits::MemoryCap;
use super::sandbox::SandboxPolicy;

/// How much of a plugin's stderr (panic messages) is kept for error reports.
const STDERR_CAPACITY: usize = 16 * 1024;

/// The `T` of every plugin `Store<T>`.
pub struct HostState {
    pub plugin_id: String,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: PolicyHooks,
    pub(crate) memory: MemoryCap,
    /// When the call in progress runs out of budget.
    pub(crate) deadline: Instant,
    pub(crate) timed_out: bool,
    stderr: MemoryOutputPipe,
}

impl HostState {
    /// A fresh store for one plugin instance under `policy`.
    pub fn new_store(
        engine: &Engine,
        plugin_id: &str,
        policy: &SandboxPolicy,
    ) -> anyhow::Result<Store<HostState>> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        // No environment, arguments, stdin or network sockets; stderr is kept
        // so a panic message can be reported.
        wasi.stderr(stderr.clone()).allow_ip_name_lookup(false);
        if let Some(root) = &policy.local_root {
            wasi.preopened_dir(root, "/", FsPerms::ReadOnly)?;
        }
        let state = HostState {
            plugin_id: plugin_id.to_string(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: PolicyHooks::new(
                policy.http.clone(),
                policy.outbound.clone(),
                policy.limits.response_bytes,
            ),
            memory: MemoryCap::new(policy.limits.memory_bytes),
            deadline: Instant::now() + policy.limits.call_timeout,
            timed_out: false,
            stderr,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.memory);
        // Checked on every epoch tick: yield to the executor so a busy guest
        // never starves other tasks, and trap once the call's budget is spent.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if Instant::now() >= state.deadline {
                state.timed_out = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }

    /// Refusals of outbound requests made so far.
    pub fn http_denials(&self) -> Vec<String> {
        self.hooks.denials.lock().expect("denials lock").clone()
    }

    /// The last lines the guest wrote to stderr (panic messages), if any.
    pub fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let start = text.len().saturating_sub(2000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
