//! Disk health: smartctl's JSON (fixtures in `fixtures/smartctl`, see its
//! README), this host's real smartctl, and the collector end to end with a
//! program that answers as smartctl does from those fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use monitor_collectors::{
    DiskHealth, SmartCollector, SmartConfig, parse_smartctl_disk, parse_smartctl_scan,
};
use monitor_core::{CollectContext, Collection, Collector, Labels, Timestamp};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smartctl")
}

#[test]
fn a_scan_lists_the_disks_that_opened() {
    assert_eq!(
        parse_smartctl_scan(&fixture("scan.json")).unwrap(),
        [
            ("/dev/sda".to_owned(), "sat".to_owned()),
            ("/dev/nvme0".to_owned(), "nvme".to_owned())
        ]
    );
    assert!(parse_smartctl_scan(b"not json").is_err());
}

#[test]
fn sata_nvme_and_failing_disks() {
    assert_eq!(
        parse_smartctl_disk(&fixture("sata-ssd.json")).unwrap(),
        Some(DiskHealth {
            device: "sda".into(),
            model: "Samsung SSD 870 EVO 1TB".into(),
            serial: "S626NF0R812345X".into(),
            passed: Some(true),
            temperature: Some(31.0),
            reallocated_sectors: Some(0.0),
            pending_sectors: Some(0.0),
            wear_percent: None,
        })
    );
    assert_eq!(
        parse_smartctl_disk(&fixture("nvme.json")).unwrap(),
        Some(DiskHealth {
            device: "nvme0".into(),
            model: "Samsung SSD 980 PRO 2TB".into(),
            serial: "S69ENF0R123456K".into(),
            passed: Some(true),
            temperature: Some(41.0),
            reallocated_sectors: None,
            pending_sectors: None,
            wear_percent: Some(7.0),
        })
    );
    // Exit status 40: "disk failing" and "attributes past threshold", not
    // a failure of smartctl.
    let failing = parse_smartctl_disk(&fixture("sata-hdd-failing.json"))
        .unwrap()
        .unwrap();
    assert_eq!(failing.passed, Some(false));
    assert_eq!(failing.reallocated_sectors, Some(1984.0));
    assert_eq!(failing.pending_sectors, Some(312.0));
}

#[test]
fn standby_refusals_and_garbage() {
    assert_eq!(parse_smartctl_disk(&fixture("standby.json")).unwrap(), None);
    let refused = parse_smartctl_disk(&fixture("open-refused.json")).unwrap_err();
    assert!(refused.contains("Operation not permitted"), "{refused}");
    let bad = parse_smartctl_disk(&fixture("bad-args.json")).unwrap_err();
    assert!(
        bad.contains("smartctl refused: =======> INVALID ARGUMENT TO -n"),
        "{bad}"
    );
    assert!(parse_smartctl_disk(b"").is_err());
    assert!(
        parse_smartctl_disk(b"{}")
            .unwrap_err()
            .contains("no device")
    );
}

fn value(c: &Collection, metric: &str, device: &str) -> Option<f64> {
    c.families
        .iter()
        .find(|f| f.name == metric)?
        .samples
        .iter()
        .find(|s| s.labels.get("device") == Some(device))
        .map(|s| s.value)
}

async fn collect_until(collector: &mut SmartCollector, samples: usize) -> Collection {
    let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(5));
    for _ in 0..100 {
        let c = collector.collect(&ctx).await.unwrap();
        if c.sample_count() >= samples {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    collector.collect(&ctx).await.unwrap()
}

/// The collector end to end: a program in smartctl's place answers the scan
/// and each disk with the fixtures.
#[tokio::test]
async fn the_collector_reports_each_disk() {
    let dir = std::env::temp_dir().join(format!("monitor-smart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("smartctl");
    let fixtures = fixtures();
    let f = |name: &str| fixtures.join(name).display().to_string();
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\ncase \"$*\" in\n  *--scan-open*) cat '{}' ;;\n  */dev/sda) cat '{}' ;;\n  */dev/nvme0) cat '{}' ;;\nesac\n",
            f("scan.json"),
            f("sata-hdd-failing.json"),
            f("nvme.json")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut collector = SmartCollector::new(SmartConfig {
        program: program.display().to_string(),
        ..SmartConfig::default()
    });
    let c = collect_until(&mut collector, 9).await;
    // /dev/sda answers with the failing disk's output, which names /dev/sdc.
    assert_eq!(value(&c, "disk_smart_healthy", "sdc"), Some(0.0));
    assert_eq!(value(&c, "disk_pending_sectors", "sdc"), Some(312.0));
    assert_eq!(value(&c, "disk_smart_healthy", "nvme0"), Some(1.0));
    assert_eq!(value(&c, "disk_wear_percent", "nvme0"), Some(7.0));
    assert_eq!(value(&c, "disk_temperature_celsius", "nvme0"), Some(41.0));
    let info = Labels::new()
        .with("device", "nvme0")
        .with("model", "Samsung SSD 980 PRO 2TB")
        .with("serial", "S69ENF0R123456K");
    let family = c
        .families
        .iter()
        .find(|f| f.name == "disk_smart_info")
        .unwrap();
    assert!(
        family
            .samples
            .iter()
            .any(|s| s.labels == info && s.value == 1.0)
    );
    collector.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// This host's real smartctl, when installed: a virtual machine's disks
/// have no S.M.A.R.T., which is no error and no metric.
#[tokio::test]
async fn this_hosts_smartctl() {
    let installed = std::process::Command::new("smartctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("skipped: smartctl is not installed");
        return;
    }
    let out = std::process::Command::new("smartctl")
        .args(["--scan-open", "--json"])
        .output()
        .unwrap();
    let disks = parse_smartctl_scan(&out.stdout).unwrap();
    let mut collector = SmartCollector::new(SmartConfig::default());
    if disks.is_empty() {
        let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(5));
        collector.collect(&ctx).await.unwrap();
        // The scan has run by then.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(collector.collect(&ctx).await.unwrap().families.is_empty());
    } else {
        let c = collect_until(&mut collector, disks.len()).await;
        assert!(
            c.families.iter().any(|f| f.name == "disk_smart_info"),
            "{c:?}"
        );
    }
    collector.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_smartctl_nothing_and_no_error() {
    let mut collector = SmartCollector::new(SmartConfig {
        program: "/nonexistent/smartctl".into(),
        ..SmartConfig::default()
    });
    let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(5));
    for _ in 0..3 {
        assert!(collector.collect(&ctx).await.unwrap().families.is_empty());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
