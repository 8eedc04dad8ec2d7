//! The host collectors agree with independent sources read in the test:
//! `/proc/meminfo`, `df -B1`, `nproc`, `/proc/stat`, `/proc/net/dev`, and a
//! busy thread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use monitor_collectors::{
    CpuCollector, DiskCollector, DiskConfig, HostPaths, MemoryCollector, NetworkCollector,
    NetworkConfig, SystemCollector,
};
use monitor_core::{CollectContext, Collector, Timestamp};

fn meminfo_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_matches_proc_meminfo() {
    let m = MemoryCollector::new(HostPaths::default()).read().unwrap();
    assert_eq!(m.total_bytes, meminfo_kb("MemTotal") * 1024);
    assert_eq!(m.swap_total_bytes, meminfo_kb("SwapTotal") * 1024);
    let available = meminfo_kb("MemAvailable") * 1024;
    let tolerance = m.total_bytes / 20;
    assert!(m.available_bytes.abs_diff(available) < tolerance);
    assert_eq!(m.used_bytes, m.total_bytes - m.available_bytes);
    assert!(m.free_bytes <= m.available_bytes + tolerance);
    assert!(m.used_percent() > 0.0 && m.used_percent() < 100.0);
}

/// `df -B1` of one mount point: size, used, avail, used%.
fn df(mountpoint: &str) -> (u64, u64, u64, f64) {
    let out = Command::new("df")
        .args(["-B1", "--output=size,used,avail,pcent", mountpoint])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let f: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    (
        f[0].parse().unwrap(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].trim_end_matches('%').parse().unwrap(),
    )
}

/// With the host's root elsewhere (an agent in a container), the mounts
/// are the host's first process's, measured under that root and reported
/// under the host's own mount points.
#[tokio::test]
async fn a_host_root_elsewhere_is_measured_there_under_the_hosts_names() {
    let dir = std::env::temp_dir().join(format!("monitor-host-root-{}", std::process::id()));
    let proc_dir = dir.join("proc");
    std::fs::create_dir_all(proc_dir.join("1")).unwrap();
    // The host as its mount table says: / and /srv, both on the file
    // system of `dir` here.
    std::fs::write(
        proc_dir.join("1/mounts"),
        "/dev/hostdisk / ext4 rw 0 0\n/dev/hostdata /srv xfs rw 0 0\nproc /proc proc rw 0 0\n",
    )
    .unwrap();
    std::fs::write(proc_dir.join("mounts"), "overlay / overlay rw 0 0\n").unwrap();
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("srv")).unwrap();
    let paths = HostPaths {
        proc: proc_dir,
        root: root.clone(),
        ..HostPaths::default()
    };
    let mut disk = DiskCollector::new(paths, DiskConfig::default());
    let filesystems = disk.filesystems().await.unwrap();
    let points: Vec<(&str, &str)> = filesystems
        .iter()
        .map(|f| (f.mountpoint.as_str(), f.device.as_str()))
        .collect();
    assert_eq!(points, [("/", "/dev/hostdisk"), ("/srv", "/dev/hostdata")]);
    let (size, _, _, _) = df(root.to_str().unwrap());
    assert_eq!(filesystems[0].size_bytes, size);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn filesystems_match_df() {
    let mut disk = DiskCollector::new(HostPaths::default(), DiskConfig::default());
    let filesystems = disk.filesystems().await.unwrap();
    assert!(!filesystems.is_empty(), "no filesystem reported");
    for fs in &filesystems {
        assert!(
            !["proc", "sysfs", "tmpfs", "devtmpfs", "overlay", "cgroup2"]
                .contains(&fs.fstype.as_str()),
            "pseudo filesystem reported: {fs:?}"
        );
        let (size, used, avail, pcent) = df(&fs.mountpoint);
        assert_eq!(fs.size_bytes, size, "{}", fs.mountpoint);
        // Other processes write meanwhile: allow 256 MiB of drift.
        let drift = 256 << 20;
        assert!(fs.used_bytes.abs_diff(used) < drift, "{fs:?} vs {used}");
        assert!(fs.avail_bytes.abs_diff(avail) < drift, "{fs:?} vs {avail}");
        assert!(
            (fs.used_percent() - pcent).abs() <= 1.0,
            "{fs:?} vs {pcent}%"
        );
    }
    // Every device at most once.
    let mut devices: Vec<&str> = filesystems.iter().map(|f| f.device.as_str()).collect();
    devices.sort_unstable();
    let before = devices.len();
    devices.dedup();
    assert_eq!(before, devices.len());
}

#[test]
fn disk_io_counts_a_synced_write() {
    let mut disk = DiskCollector::new(HostPaths::default(), DiskConfig::default());
    let before = disk.disk_io().unwrap();
    assert!(!before.is_empty(), "no block device reported");
    let path = std::env::temp_dir().join(format!("monitor-io-{}", std::process::id()));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = if dir.exists() {
        dir.join(path.file_name().unwrap())
    } else {
        path
    };
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![7u8; 8 << 20]).unwrap();
        f.sync_all().unwrap();
    }
    let after = disk.disk_io().unwrap();
    std::fs::remove_file(&path).unwrap();
    let written = |list: &[monitor_core::host::IoMetrics]| -> u64 {
        list.iter().map(|d| d.out_bytes_total).sum()
    };
    assert!(
        written(&after) >= written(&before) + (4 << 20),
        "written {} -> {}",
        written(&before),
        written(&after)
    );
    assert!(after.iter().any(|d| d.out_bytes_per_second > 0.0));
}

#[tokio::test]
async fn cpu_count_matches_nproc_and_a_busy_thread_shows() {
    let nproc: u32 = String::from_utf8(Command::new("nproc").output().unwrap().stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut cpu = CpuCollector::new(HostPaths::default());
    let (count, load, first) = cpu.read().unwrap();
    assert_eq!(count, nproc);
    assert!(first.is_none(), "the first read is only a baseline");
    assert!(load.iter().all(|l| *l >= 0.0));

    let stop = Instant::now() + Duration::from_millis(1500);
    let spinner = std::thread::spawn(move || {
        let mut x = 0u64;
        while Instant::now() < stop {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        x
    });
    std::thread::sleep(Duration::from_millis(1000));
    let (_, _, metrics) = cpu.read().unwrap();
    spinner.join().unwrap();
    let m = metrics.expect("second read has percentages");
    assert_eq!(m.per_core_percent.len() as u32, nproc);
    let one_core_share = 100.0 / f64::from(nproc);
    assert!(
        m.usage_percent >= one_core_share * 0.7,
        "usage {} with one busy thread on {nproc} cpus",
        m.usage_percent
    );
    let busiest = m
        .per_core_percent
        .iter()
        .map(|(_, p)| *p)
        .fold(0.0, f64::max);
    assert!(busiest >= 60.0, "busiest core at {busiest}%");
    for v in [
        m.user_percent,
        m.system_percent,
        m.iowait_percent,
        m.steal_percent,
    ] {
        assert!((0.0..=100.0).contains(&v));
    }
    assert!(m.user_percent >= one_core_share * 0.5);
}

/// The unit of `/proc/stat`'s and `/proc/*/stat`'s times, from `getconf`.
fn clk_tck() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        String::from_utf8(
            Command::new("getconf")
                .arg("CLK_TCK")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    })
}

/// The machine-wide `cpu` line of `/proc/stat`, in seconds (`getconf
/// CLK_TCK` ticks each).
fn proc_stat_seconds() -> Vec<f64> {
    let hz = clk_tck();
    let text = std::fs::read_to_string("/proc/stat").unwrap();
    let line = text.lines().find(|l| l.starts_with("cpu ")).unwrap();
    line.split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse::<f64>().unwrap() / hz)
        .collect()
}

/// This thread's user time (`/proc/thread-self/stat`, field 14).
fn own_user_seconds() -> f64 {
    let hz = clk_tck();
    let text = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name, which ends at the last ')'.
    let rest = &text[text.rfind(')').unwrap() + 2..];
    rest.split_whitespace()
        .nth(11)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / hz
}

#[tokio::test]
async fn cpu_seconds_counters_match_proc_stat_from_the_first_collection() {
    let modes = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    let mut cpu = CpuCollector::new(HostPaths::default());
    let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(1));
    let before = proc_stat_seconds();
    let out = cpu.collect(&ctx).await.unwrap();
    let after = proc_stat_seconds();
    let family = out
        .families
        .iter()
        .find(|f| f.name == "cpu_seconds_total")
        .expect("counters need no baseline");
    assert_eq!(family.kind, monitor_core::MetricKind::Counter);
    assert_eq!(family.samples.len(), modes.len());
    let ours = |mode: &str| {
        family
            .get(&monitor_core::Labels::new().with("mode", mode))
            .unwrap_or_else(|| panic!("no mode {mode}"))
    };
    for (i, mode) in modes.iter().enumerate() {
        let value = ours(mode);
        assert!(
            before[i] <= value && value <= after[i],
            "{mode}: {} <= {value} <= {}",
            before[i],
            after[i]
        );
    }

    // Half a second of this thread's user time (however loaded the
    // machine) shows in the host's user time.
    let user_before = ours("user") + ours("nice");
    let own = own_user_seconds();
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut x = 0u64;
    while own_user_seconds() < own + 0.5 && Instant::now() < give_up {
        for _ in 0..1_000_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }
    std::hint::black_box(x);
    let out = cpu.collect(&ctx).await.unwrap();
    let family = out
        .families
        .iter()
        .find(|f| f.name == "cpu_seconds_total")
        .unwrap();
    let user = |mode: &str| {
        family
            .get(&monitor_core::Labels::new().with("mode", mode))
            .unwrap()
    };
    let grown = user("user") + user("nice") - user_before;
    assert!(
        grown >= 0.4,
        "user time grew by {grown} s while this thread ran 0.5 s"
    );
}

fn proc_net_dev() -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap();
    text.lines()
        .skip(2)
        .map(|l| {
            let (name, rest) = l.split_once(':').unwrap();
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            (name.trim().to_owned(), f[0], f[8])
        })
        .collect()
}

#[test]
fn network_counters_match_proc_net_dev() {
    let mut net = NetworkCollector::new(HostPaths::default(), NetworkConfig::default());
    let before = proc_net_dev();
    let ours = net.read().unwrap();
    let after = proc_net_dev();
    assert!(
        ours.iter().all(|i| i.name != "lo"),
        "lo is skipped by default"
    );
    for (name, rx0, tx0) in &before {
        if name == "lo" || name.starts_with("veth") {
            continue;
        }
        let i = ours.iter().find(|i| &i.name == name).expect(name);
        let (_, rx1, tx1) = after.iter().find(|(n, ..)| n == name).unwrap();
        assert!((*rx0..=*rx1).contains(&i.in_bytes_total), "{name} rx");
        assert!((*tx0..=*tx1).contains(&i.out_bytes_total), "{name} tx");
    }
    // Rates appear from the second read on.
    std::thread::sleep(Duration::from_millis(200));
    let second = net.read().unwrap();
    assert!(second.iter().all(|i| i.in_bytes_per_second >= 0.0));
}

#[tokio::test]
async fn system_facts() {
    let mut system = SystemCollector::new();
    let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(5));
    let out = system.collect(&ctx).await.unwrap();
    let host = out.host.unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host.hostname, hostname.trim());
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(host.kernel, release.trim());
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ours = out
        .families
        .iter()
        .find(|f| f.name == "system_uptime_seconds")
        .unwrap();
    assert!((ours.samples[0].value - uptime).abs() < 5.0);
}
