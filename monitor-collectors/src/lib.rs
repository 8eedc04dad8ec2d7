//! # monitor-collectors
//!
//! What runs on a monitored host, usable from any Rust program: the
//! built-in [`Collector`]s, the [`Agent`] loop that runs collectors into
//! snapshots and hands them to exporters ([`agent`]), and the Prometheus
//! and OTLP exporters ([`export`], behind the features `prometheus` and
//! `otlp`), which the monitor server uses too. The built-in collectors:
//!
//! | collector | reads | what |
//! | --- | --- | --- |
//! | [`MemoryCollector`] | `/proc/meminfo` | total, used, free, available, cached, buffers, swap |
//! | [`CpuCollector`] | `/proc/stat`, `/proc/loadavg` | usage total and per core, user, system, iowait, steal, load, count |
//! | [`DiskCollector`] | `/proc/mounts`, `statvfs`, `/proc/diskstats` | space per filesystem as `df` counts it, I/O per disk |
//! | [`NetworkCollector`] | `/proc/net/dev` | bytes/s and errors per interface |
//! | [`SystemCollector`] | sysinfo | host name, OS, kernel, uptime, boot time |
//! | [`ProcessesCollector`] | `/proc/<pid>/stat` and `cmdline` | the top processes by CPU and by memory (an inventory, not metrics) |
//! | [`SmartCollector`] | `smartctl --json` | disk health: passed or failing, temperature, reallocated and pending sectors, NVMe wear |
//! | [`SensorsCollector`] | `/sys/class/hwmon`, `/sys/class/thermal` | temperatures with their critical thresholds, fan speeds |
//! | [`DockerCollector`] (feature `docker`) | Docker API (bollard) + cgroup files | every container's state, health, restarts; CPU, memory, network, block I/O |
//! | [`TextfileCollector`] | `*.prom` files of a directory | metrics that scripts and cron jobs write, Prometheus text format |
//! | [`ExecCollector`] | a command's output | metrics that any program prints, Prometheus text or JSON |
//! | `ProbeCollector` (feature `probe`) | HTTP(S) requests, TCP connections | whether services answer, how fast, days left on their certificates |
//!
//! Each file says why it reads `/proc` directly or goes through sysinfo.
//! Rates and percentages are differences between two calls: keep a collector
//! alive between collections (the first call only takes a baseline).
//!
//! # Example
//! ```no_run
//! use monitor_collectors::{CpuCollector, HostPaths, MemoryCollector};
//! use monitor_core::{CollectContext, Collector, HostMetrics, ServerId, Snapshot, Timestamp};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut collectors: Vec<Box<dyn Collector>> = vec![
//!     Box::new(MemoryCollector::new(HostPaths::default())),
//!     Box::new(CpuCollector::new(HostPaths::default())),
//! ];
//! let interval = Duration::from_secs(1);
//! let mut collection = monitor_core::Collection::new();
//! for round in 0..2 {
//!     if round > 0 {
//!         tokio::time::sleep(interval).await; // CPU % needs two reads
//!     }
//!     collection = monitor_core::Collection::new();
//!     let ctx = CollectContext::new(Timestamp::now(), interval);
//!     for c in &mut collectors {
//!         collection.merge(c.collect(&ctx).await?);
//!     }
//! }
//! let snapshot = Snapshot::new(ServerId::new("local")?, Timestamp::now(), collection);
//! let host = HostMetrics::from_snapshot(&snapshot);
//! println!("memory used: {:?}%", host.memory.map(|m| m.used_percent()));
//! println!("cpu: {:?}%", host.cpu.map(|c| c.usage_percent));
//! # Ok(())
//! # }
//! ```

pub mod agent;
mod cpu;
mod disk;
#[cfg(feature = "docker")]
mod docker;
mod exec;
pub mod export;
pub mod exposition;
mod memory;
mod network;
#[cfg(feature = "probe")]
mod probe;
mod processes;
mod procfs;
mod rates;
mod sensors;
mod smart;
mod system;
mod textfile;

pub use agent::{Agent, AgentBuilder, AgentError};
pub use cpu::CpuCollector;
pub use disk::{DiskCollector, DiskConfig, IGNORED_MOUNT_PREFIXES, PSEUDO_FSTYPES};
#[cfg(feature = "docker")]
pub use docker::{DockerCollector, DockerConfig};
pub use exec::ExecCollector;
pub use memory::MemoryCollector;
pub use network::{NetworkCollector, NetworkConfig};
#[cfg(feature = "probe")]
pub use probe::{
    DEFAULT_PROBE_INTERVAL, DEFAULT_PROBE_TIMEOUT, ProbeCollector, ProbeConfig, ProbeError,
    ProbeTarget,
};
pub use processes::{ProcessesCollector, ProcessesConfig};
pub use procfs::HostPaths;
pub use sensors::{RESCAN as SENSORS_RESCAN, SensorReading, SensorValue, SensorsCollector};
pub use smart::{
    DiskHealth, SmartCollector, SmartConfig, parse_disk as parse_smartctl_disk,
    parse_scan as parse_smartctl_scan,
};
pub use system::SystemCollector;
pub use textfile::TextfileCollector;

use monitor_core::{CollectError, Collector};

/// The names of the built-in collectors, in the order the agent runs them.
pub const BUILTIN: &[&str] = &[
    "system",
    "memory",
    "cpu",
    "disk",
    "network",
    "sensors",
    "processes",
    "smart",
    "docker",
];

/// A built-in collector by name, with default settings.
///
/// # Errors
/// [`CollectError::InvalidConfig`] for an unknown name, or for `docker` when
/// this build lacks the `docker` feature.
pub fn builtin(name: &str, paths: &HostPaths) -> Result<Box<dyn Collector>, CollectError> {
    Ok(match name {
        "system" => Box::new(SystemCollector::new()),
        "memory" => Box::new(MemoryCollector::new(paths.clone())),
        "cpu" => Box::new(CpuCollector::new(paths.clone())),
        "disk" => Box::new(DiskCollector::new(paths.clone(), DiskConfig::default())),
        "network" => Box::new(NetworkCollector::new(
            paths.clone(),
            NetworkConfig::default(),
        )),
        "sensors" => Box::new(SensorsCollector::new(paths.clone())),
        "processes" => Box::new(ProcessesCollector::new(
            paths.clone(),
            ProcessesConfig::default(),
        )),
        "smart" => Box::new(SmartCollector::new(SmartConfig::default())),
        #[cfg(feature = "docker")]
        "docker" => Box::new(DockerCollector::new(DockerConfig {
            paths: paths.clone(),
            ..DockerConfig::default()
        })),
        #[cfg(not(feature = "docker"))]
        "docker" => {
            return Err(CollectError::InvalidConfig(
                "this build has no Docker support (cargo feature `docker`)".into(),
            ));
        }
        other => {
            return Err(CollectError::InvalidConfig(format!(
                "unknown collector {other:?}; the built-in ones are {}",
                BUILTIN.join(", ")
            )));
        }
    })
}
