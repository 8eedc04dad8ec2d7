//! The processes collector against this host's real processes: a busy
//! shell loop, this test's own memory, a process whose name holds a
//! right-to-left override.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command};
use std::time::Duration;

use monitor_collectors::{HostPaths, ProcessesCollector, ProcessesConfig};
use monitor_core::{CollectContext, Collector, ProcessInfo, ServerId, Snapshot, Timestamp, wire};

/// Kills the child when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(list: &[ProcessInfo], pid: u32) -> Option<&ProcessInfo> {
    list.iter().find(|p| p.pid == pid)
}

#[tokio::test]
async fn the_busiest_and_the_largest_processes_of_this_host() {
    let busy = Killed(
        Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap(),
    );
    // A process whose name a hostile user chose: comm is the file's name.
    let dir = std::env::temp_dir().join(format!("monitor-procs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sneaky = dir.join("sl\u{202e}eep");
    std::os::unix::fs::symlink("/bin/sleep", &sneaky).unwrap();
    let hidden = Killed(Command::new(&sneaky).arg("30").spawn().unwrap());
    // 256 MiB of this process, touched so that it is resident.
    let ballast = vec![1u8; 256 << 20];

    let mut collector = ProcessesCollector::new(
        HostPaths::default(),
        ProcessesConfig {
            top: 10,
            min_scan_interval: Duration::ZERO,
        },
    );
    let first = collector.read().unwrap().to_vec();
    assert!(
        first.iter().all(|p| p.cpu_percent.is_none()),
        "the first scan has no CPU %"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(5));
    let collection = collector.collect(&ctx).await.unwrap();
    let list = collection.processes.clone().unwrap();
    assert!(list.len() <= 20, "{}", list.len());

    let shell = find(&list, busy.0.id()).expect("the busy loop is among the top by CPU");
    assert_eq!(shell.name, "sh");
    assert_eq!(shell.command, "sh -c while :; do :; done");
    assert!(shell.cpu_percent.unwrap() > 1.0, "{shell:?}");
    let me = find(&list, std::process::id()).expect("this test is among the top by memory");
    assert!(me.rss_bytes >= 256 << 20, "{me:?}");
    let whoami = Command::new("id").arg("-un").output().unwrap();
    assert_eq!(me.user, String::from_utf8_lossy(&whoami.stdout).trim());
    assert!(me.command.len() <= 255);
    // Sorted by CPU, highest first.
    let cpu: Vec<f64> = list.iter().map(|p| p.cpu_percent.unwrap_or(-1.0)).collect();
    assert!(cpu.windows(2).all(|w| w[0] >= w[1]), "{cpu:?}");

    // The sneaky name, if it made the list, shows its override as `?`; the
    // report is one the server accepts either way.
    if let Some(p) = find(&list, hidden.0.id()) {
        assert_eq!(p.name, "sl?eep");
    }
    let snapshot = Snapshot::new(ServerId::new("here").unwrap(), Timestamp::now(), collection);
    let bytes = wire::encode(&snapshot).unwrap();
    let back = wire::decode(&bytes, &wire::Limits::default()).unwrap();
    assert_eq!(back[0].processes.as_ref().map(Vec::len), Some(list.len()));

    drop(ballast);
    drop(busy);
    drop(hidden);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_scan_at_most_every_min_scan_interval() {
    let mut collector = ProcessesCollector::new(HostPaths::default(), ProcessesConfig::default());
    let first = collector.read().unwrap().to_vec();
    let child = Killed(Command::new("sleep").arg("30").spawn().unwrap());
    // Within 10 s: the same list, without the new process's scan.
    let again = collector.read().unwrap().to_vec();
    assert_eq!(first, again);
    assert!(find(&again, child.0.id()).is_none());
}

#[test]
fn a_sneaky_name_is_shown_safely() {
    // A name with a right-to-left override in /proc as a kernel writes it.
    let dir = std::env::temp_dir().join(format!("monitor-fakeproc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("proc/77")).unwrap();
    std::fs::write(
        dir.join("proc/77/stat"),
        "77 (gpj\u{202e}exe.) R 1 77 77 0 -1 0 0 0 0 0 500 20 0 0 20 0 1 0 100 100000 300 1 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
    )
    .unwrap();
    // The owner of /proc/<pid> is the process's effective uid.
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(dir.join("proc/77")).unwrap().uid();
    std::fs::write(dir.join("proc/77/cmdline"), "./gpj\u{202e}exe.\0--now\0").unwrap();
    std::fs::create_dir_all(dir.join("root/etc")).unwrap();
    std::fs::write(
        dir.join("root/etc/passwd"),
        format!("ann:x:{uid}:{uid}::/home/ann:/bin/sh\n"),
    )
    .unwrap();
    let mut collector = ProcessesCollector::new(
        HostPaths {
            proc: dir.join("proc"),
            sys: dir.join("sys"),
            root: dir.join("root"),
        },
        ProcessesConfig::default(),
    );
    let list = collector.read().unwrap().to_vec();
    assert_eq!(
        list,
        [ProcessInfo {
            pid: 77,
            name: "gpj?exe.".into(),
            user: "ann".into(),
            cpu_percent: None,
            rss_bytes: 300 * rustix_page(),
            command: "./gpj?exe. --now".into(),
        }]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn rustix_page() -> u64 {
    // The page size as the collector reads it: getconf agrees.
    let out = Command::new("getconf").arg("PAGESIZE").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
