//! Every built-in collector passes the collector conformance suite of
//! `monitor-core::testing` (Docker too: without an engine it must fail
//! every call with a clear error and keep answering).

use monitor_collectors::{BUILTIN, HostPaths, builtin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_collector_conforms() {
    let paths = HostPaths::default();
    for name in BUILTIN {
        let mut collector = builtin(name, &paths).unwrap_or_else(|e| panic!("{name}: {e}"));
        monitor_core::testing::collector::conformance(collector.as_mut()).await;
    }
}
