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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_textfile_and_exec_collectors_conform() {
    let dir = std::env::temp_dir().join(format!("monitor-textfile-conf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("backup.prom"),
        "# TYPE backup_runs_total counter\nbackup_runs_total 12\nbackup_size_bytes{target=\"s3\"} 4096\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.prom"), "not: valid\n").unwrap();
    std::fs::write(dir.join("ignored.txt"), "x 1\n").unwrap();
    let mut textfile = monitor_collectors::TextfileCollector::new(&dir);
    monitor_core::testing::collector::conformance(&mut textfile).await;
    let mut exec = monitor_collectors::ExecCollector::new(
        "printf 'queue_depth{queue=\"mail\"} 3\\n'",
        std::time::Duration::from_secs(5),
    );
    monitor_core::testing::collector::conformance(&mut exec).await;
    let _ = std::fs::remove_dir_all(&dir);
}
