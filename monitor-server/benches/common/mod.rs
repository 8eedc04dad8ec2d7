//! What the server's benchmarks share: their settings from the
//! environment, the two-thread runtime of this 2-core machine, hosts
//! registered straight in a store.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use monitor_core::store::NewServer;
use monitor_core::{ServerId, Store, Timestamp, TokenHash};

/// The number in the variable `name`, or `default`.
pub(crate) fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runtime of two worker threads, as the server's on this machine.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Registers the host `id` in `store`, with a token hash made of `n`.
pub(crate) async fn register(store: &dyn Store, id: &str, n: u64) {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    store
        .register_server(NewServer {
            id: ServerId::new(id).unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: TokenHash(hash),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
}
