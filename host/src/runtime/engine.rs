//! The one wasmtime `Engine` of the process: async, epoch interruption driven
//! by a ticker thread, and the pooling allocator where the machine allows it.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of call budgets and of
/// yields from busy guests.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine and starts its epoch ticker.
pub fn build(max_memory_bytes: usize) -> anyhow::Result<Engine> {
    let engine = match Engine::new(&config(Some(max_memory_bytes))) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e:#}); using on-demand allocation");
            Engine::new(&config(None))?
        }
    };
    start_ticker(&engine);
    Ok(engine)
}

fn config(pooling_memory: Option<usize>) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if let Some(max_memory) = pooling_memory {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_memories(256)
            .total_tables(512)
            .max_memory_size(max_memory)
            .total_core_instances(2048)
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(16);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .expect("spawn epoch ticker thread");
}
