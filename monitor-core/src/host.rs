//! A typed view of the well-known host metrics.
//!
//! Collectors fill these structs and write them as samples with
//! `write_to`; the server, the alerts and the dashboard read them back from
//! any snapshot with [`HostMetrics::from_snapshot`]. The samples stay the one
//! source of truth: a typed field is present exactly when its sample is.

use crate::model::{Collection, ContainerInfo, Labels, MetricKind, Snapshot, Unit};
use crate::names::{self, label};

/// Memory and swap.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MemoryMetrics {
    /// Installed memory.
    pub total_bytes: u64,
    /// Total minus available.
    pub used_bytes: u64,
    /// Not used for anything.
    pub free_bytes: u64,
    /// Available without swapping.
    pub available_bytes: u64,
    /// Page cache and reclaimable slab.
    pub cached_bytes: u64,
    /// Kernel buffers.
    pub buffers_bytes: u64,
    /// Swap space.
    pub swap_total_bytes: u64,
    /// Swap in use.
    pub swap_used_bytes: u64,
}

impl MemoryMetrics {
    /// Used memory as a percentage of total (0 when total is 0).
    pub fn used_percent(&self) -> f64 {
        percent(self.used_bytes as f64, self.total_bytes as f64)
    }

    /// Writes the memory samples.
    pub fn write_to(&self, out: &mut Collection) {
        let none = Labels::new;
        for (name, value) in [
            (names::MEMORY_TOTAL_BYTES, self.total_bytes),
            (names::MEMORY_USED_BYTES, self.used_bytes),
            (names::MEMORY_FREE_BYTES, self.free_bytes),
            (names::MEMORY_AVAILABLE_BYTES, self.available_bytes),
            (names::MEMORY_CACHED_BYTES, self.cached_bytes),
            (names::MEMORY_BUFFERS_BYTES, self.buffers_bytes),
            (names::SWAP_TOTAL_BYTES, self.swap_total_bytes),
            (names::SWAP_USED_BYTES, self.swap_used_bytes),
        ] {
            out.gauge(name, Unit::BYTES, none(), value as f64);
        }
        out.gauge(
            names::MEMORY_USED_PERCENT,
            Unit::PERCENT,
            none(),
            self.used_percent(),
        );
    }

    /// Reads the memory samples of a snapshot; `None` without `memory_total_bytes`.
    pub fn from_snapshot(snapshot: &Snapshot) -> Option<Self> {
        let get = |name| scalar(snapshot, name).unwrap_or(0.0) as u64;
        scalar(snapshot, names::MEMORY_TOTAL_BYTES)?;
        Some(MemoryMetrics {
            total_bytes: get(names::MEMORY_TOTAL_BYTES),
            used_bytes: get(names::MEMORY_USED_BYTES),
            free_bytes: get(names::MEMORY_FREE_BYTES),
            available_bytes: get(names::MEMORY_AVAILABLE_BYTES),
            cached_bytes: get(names::MEMORY_CACHED_BYTES),
            buffers_bytes: get(names::MEMORY_BUFFERS_BYTES),
            swap_total_bytes: get(names::SWAP_TOTAL_BYTES),
            swap_used_bytes: get(names::SWAP_USED_BYTES),
        })
    }
}

/// CPU use over the last interval, and load.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CpuMetrics {
    /// Busy percentage of the whole machine.
    pub usage_percent: f64,
    /// Busy percentage per online logical CPU: `(kernel CPU number, percent)`
    /// in CPU order (numbers have gaps when CPUs are offline).
    pub per_core_percent: Vec<(u32, f64)>,
    /// User mode (including nice).
    pub user_percent: f64,
    /// Kernel mode (including irq and softirq).
    pub system_percent: f64,
    /// Idle waiting for I/O.
    pub iowait_percent: f64,
    /// Stolen by the hypervisor.
    pub steal_percent: f64,
    /// Number of logical CPUs.
    pub count: u32,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: [f64; 3],
}

impl CpuMetrics {
    /// Writes the CPU samples.
    pub fn write_to(&self, out: &mut Collection) {
        out.gauge(
            names::CPU_USAGE_PERCENT,
            Unit::PERCENT,
            Labels::new(),
            self.usage_percent,
        );
        for (cpu, value) in &self.per_core_percent {
            out.gauge(
                names::CPU_USAGE_PERCENT,
                Unit::PERCENT,
                Labels::new().with(label::CPU, cpu.to_string()),
                *value,
            );
        }
        for (name, value) in [
            (names::CPU_USER_PERCENT, self.user_percent),
            (names::CPU_SYSTEM_PERCENT, self.system_percent),
            (names::CPU_IOWAIT_PERCENT, self.iowait_percent),
            (names::CPU_STEAL_PERCENT, self.steal_percent),
        ] {
            out.gauge(name, Unit::PERCENT, Labels::new(), value);
        }
        out.gauge(
            names::CPU_LOGICAL_CORES,
            Unit::COUNT,
            Labels::new(),
            f64::from(self.count),
        );
        for (name, value) in [
            (names::LOAD_AVERAGE_1M, self.load_average[0]),
            (names::LOAD_AVERAGE_5M, self.load_average[1]),
            (names::LOAD_AVERAGE_15M, self.load_average[2]),
        ] {
            out.gauge(name, Unit::NONE, Labels::new(), value);
        }
    }

    /// Reads the CPU samples of a snapshot; `None` without `cpu_usage_percent`.
    pub fn from_snapshot(snapshot: &Snapshot) -> Option<Self> {
        let family = snapshot.family(names::CPU_USAGE_PERCENT)?;
        let usage_percent = family.get(&Labels::new())?;
        let mut cores: Vec<(u32, f64)> = family
            .samples
            .iter()
            .filter_map(|s| Some((s.labels.get(label::CPU)?.parse().ok()?, s.value)))
            .collect();
        cores.sort_by_key(|(cpu, _)| *cpu);
        let get = |name| scalar(snapshot, name).unwrap_or(0.0);
        Some(CpuMetrics {
            usage_percent,
            per_core_percent: cores,
            user_percent: get(names::CPU_USER_PERCENT),
            system_percent: get(names::CPU_SYSTEM_PERCENT),
            iowait_percent: get(names::CPU_IOWAIT_PERCENT),
            steal_percent: get(names::CPU_STEAL_PERCENT),
            count: get(names::CPU_LOGICAL_CORES) as u32,
            load_average: [
                get(names::LOAD_AVERAGE_1M),
                get(names::LOAD_AVERAGE_5M),
                get(names::LOAD_AVERAGE_15M),
            ],
        })
    }
}

/// Space on one mounted filesystem.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilesystemMetrics {
    /// Where it is mounted.
    pub mountpoint: String,
    /// The device (`/dev/vda1`).
    pub device: String,
    /// The filesystem type (`ext4`).
    pub fstype: String,
    /// Size.
    pub size_bytes: u64,
    /// Used (blocks minus free blocks).
    pub used_bytes: u64,
    /// Available to unprivileged users.
    pub avail_bytes: u64,
}

impl FilesystemMetrics {
    /// Used percentage exactly as `df` prints it: used / (used + avail) × 100,
    /// rounded up to a whole number (0 for an empty filesystem).
    pub fn used_percent(&self) -> f64 {
        let denominator = self.used_bytes.saturating_add(self.avail_bytes);
        if denominator == 0 {
            return 0.0;
        }
        // Integer arithmetic as in coreutils' df: ceil(used * 100 / (used + avail)).
        let used = u128::from(self.used_bytes) * 100;
        let denominator = u128::from(denominator);
        used.div_ceil(denominator) as f64
    }

    fn labels(&self) -> Labels {
        Labels::new()
            .with(label::MOUNTPOINT, self.mountpoint.clone())
            .with(label::DEVICE, self.device.clone())
            .with(label::FSTYPE, self.fstype.clone())
    }

    /// Writes this filesystem's samples.
    pub fn write_to(&self, out: &mut Collection) {
        let labels = self.labels();
        out.gauge(
            names::FILESYSTEM_SIZE_BYTES,
            Unit::BYTES,
            labels.clone(),
            self.size_bytes as f64,
        );
        out.gauge(
            names::FILESYSTEM_USED_BYTES,
            Unit::BYTES,
            labels.clone(),
            self.used_bytes as f64,
        );
        out.gauge(
            names::FILESYSTEM_AVAIL_BYTES,
            Unit::BYTES,
            labels.clone(),
            self.avail_bytes as f64,
        );
        out.gauge(
            names::FILESYSTEM_USED_PERCENT,
            Unit::PERCENT,
            labels,
            self.used_percent(),
        );
    }

    /// Every filesystem of a snapshot, in the order of `filesystem_size_bytes`.
    pub fn all_from_snapshot(snapshot: &Snapshot) -> Vec<Self> {
        let Some(sizes) = snapshot.family(names::FILESYSTEM_SIZE_BYTES) else {
            return Vec::new();
        };
        sizes
            .samples
            .iter()
            .map(|s| {
                let value = |name| snapshot.value(name, &s.labels).unwrap_or(0.0) as u64;
                FilesystemMetrics {
                    mountpoint: s.labels.get(label::MOUNTPOINT).unwrap_or("").to_owned(),
                    device: s.labels.get(label::DEVICE).unwrap_or("").to_owned(),
                    fstype: s.labels.get(label::FSTYPE).unwrap_or("").to_owned(),
                    size_bytes: s.value as u64,
                    used_bytes: value(names::FILESYSTEM_USED_BYTES),
                    avail_bytes: value(names::FILESYSTEM_AVAIL_BYTES),
                }
            })
            .collect()
    }
}

/// Traffic of one block device or network interface: rates over the last
/// interval and totals.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IoMetrics {
    /// The device (`vda`) or interface (`eth0`).
    pub name: String,
    /// Bytes read or received per second.
    pub in_bytes_per_second: f64,
    /// Bytes written or sent per second.
    pub out_bytes_per_second: f64,
    /// Bytes read or received in all.
    pub in_bytes_total: u64,
    /// Bytes written or sent in all.
    pub out_bytes_total: u64,
    /// Receive errors (interfaces only).
    pub in_errors_total: u64,
    /// Transmit errors (interfaces only).
    pub out_errors_total: u64,
}

impl IoMetrics {
    /// Writes a block device's samples (label `device`).
    pub fn write_disk_to(&self, out: &mut Collection) {
        let labels = Labels::new().with(label::DEVICE, self.name.clone());
        self.write(
            out,
            labels,
            [
                names::DISK_READ_BYTES_PER_SECOND,
                names::DISK_WRITTEN_BYTES_PER_SECOND,
                names::DISK_READ_BYTES_TOTAL,
                names::DISK_WRITTEN_BYTES_TOTAL,
            ],
        );
    }

    /// Writes a network interface's samples (label `interface`).
    pub fn write_network_to(&self, out: &mut Collection) {
        let labels = Labels::new().with(label::INTERFACE, self.name.clone());
        self.write(
            out,
            labels.clone(),
            [
                names::NETWORK_RECEIVE_BYTES_PER_SECOND,
                names::NETWORK_TRANSMIT_BYTES_PER_SECOND,
                names::NETWORK_RECEIVE_BYTES_TOTAL,
                names::NETWORK_TRANSMIT_BYTES_TOTAL,
            ],
        );
        out.counter(
            names::NETWORK_RECEIVE_ERRORS_TOTAL,
            Unit::COUNT,
            labels.clone(),
            self.in_errors_total as f64,
        );
        out.counter(
            names::NETWORK_TRANSMIT_ERRORS_TOTAL,
            Unit::COUNT,
            labels,
            self.out_errors_total as f64,
        );
    }

    fn write(&self, out: &mut Collection, labels: Labels, names: [&str; 4]) {
        out.gauge(
            names[0],
            Unit::BYTES_PER_SECOND,
            labels.clone(),
            self.in_bytes_per_second,
        );
        out.gauge(
            names[1],
            Unit::BYTES_PER_SECOND,
            labels.clone(),
            self.out_bytes_per_second,
        );
        out.counter(
            names[2],
            Unit::BYTES,
            labels.clone(),
            self.in_bytes_total as f64,
        );
        out.counter(names[3], Unit::BYTES, labels, self.out_bytes_total as f64);
    }

    fn all_from(snapshot: &Snapshot, key: &str, names: [&str; 6]) -> Vec<Self> {
        let Some(totals) = snapshot.family(names[2]) else {
            return Vec::new();
        };
        totals
            .samples
            .iter()
            .map(|s| {
                let value = |name: &str| snapshot.value(name, &s.labels).unwrap_or(0.0);
                IoMetrics {
                    name: s.labels.get(key).unwrap_or("").to_owned(),
                    in_bytes_per_second: value(names[0]),
                    out_bytes_per_second: value(names[1]),
                    in_bytes_total: s.value as u64,
                    out_bytes_total: value(names[3]) as u64,
                    in_errors_total: value(names[4]) as u64,
                    out_errors_total: value(names[5]) as u64,
                }
            })
            .collect()
    }

    /// Every block device of a snapshot.
    pub fn disks_from_snapshot(snapshot: &Snapshot) -> Vec<Self> {
        Self::all_from(
            snapshot,
            label::DEVICE,
            [
                names::DISK_READ_BYTES_PER_SECOND,
                names::DISK_WRITTEN_BYTES_PER_SECOND,
                names::DISK_READ_BYTES_TOTAL,
                names::DISK_WRITTEN_BYTES_TOTAL,
                "",
                "",
            ],
        )
    }

    /// Every network interface of a snapshot.
    pub fn networks_from_snapshot(snapshot: &Snapshot) -> Vec<Self> {
        Self::all_from(
            snapshot,
            label::INTERFACE,
            [
                names::NETWORK_RECEIVE_BYTES_PER_SECOND,
                names::NETWORK_TRANSMIT_BYTES_PER_SECOND,
                names::NETWORK_RECEIVE_BYTES_TOTAL,
                names::NETWORK_TRANSMIT_BYTES_TOTAL,
                names::NETWORK_RECEIVE_ERRORS_TOTAL,
                names::NETWORK_TRANSMIT_ERRORS_TOTAL,
            ],
        )
    }
}

/// Usage of one container; absent figures were not measured (a stopped
/// container has none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerUsage {
    /// CPU as `docker stats` shows it (100 = one core).
    pub cpu_percent: Option<f64>,
    /// CPU time used since the container started, in seconds.
    pub cpu_seconds_total: Option<f64>,
    /// Memory as `docker stats` shows it.
    pub memory_usage_bytes: Option<u64>,
    /// The memory limit.
    pub memory_limit_bytes: Option<u64>,
    /// Bytes received.
    pub network_rx_bytes: Option<u64>,
    /// Bytes sent.
    pub network_tx_bytes: Option<u64>,
    /// Bytes read from block devices.
    pub block_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub block_write_bytes: Option<u64>,
    /// Kills for lack of memory that Docker reported (`oom` events) since
    /// the collector started; set for every container, running or not.
    pub oom_kills_total: Option<u64>,
}

/// A container: its inventory facts and its usage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerMetrics {
    /// Id, name, image, state, health, restarts.
    pub info: ContainerInfo,
    /// CPU, memory, network and block I/O.
    pub usage: ContainerUsage,
}

impl ContainerMetrics {
    /// Memory use as a percentage of the limit.
    pub fn memory_percent(&self) -> Option<f64> {
        let usage = self.usage.memory_usage_bytes?;
        let limit = self.usage.memory_limit_bytes?;
        Some(percent(usage as f64, limit as f64))
    }

    /// Writes this container's samples (label `name`).
    pub fn write_to(&self, out: &mut Collection) {
        let labels = Labels::new().with(label::NAME, self.info.name.clone());
        let running = self.info.state == crate::model::ContainerState::Running;
        out.gauge(
            names::CONTAINER_RUNNING,
            Unit::NONE,
            labels.clone(),
            if running { 1.0 } else { 0.0 },
        );
        if let Some(health) = self.info.health {
            let value = match health {
                crate::model::ContainerHealth::Healthy => 1.0,
                crate::model::ContainerHealth::Starting => 0.5,
                crate::model::ContainerHealth::Unhealthy => 0.0,
            };
            out.gauge(names::CONTAINER_HEALTHY, Unit::NONE, labels.clone(), value);
        }
        out.counter(
            names::CONTAINER_RESTARTS_TOTAL,
            Unit::COUNT,
            labels.clone(),
            self.info.restart_count as f64,
        );
        let u = &self.usage;
        let mut put = |name: &str, kind: MetricKind, unit: Unit, value: Option<f64>| {
            if let Some(value) = value {
                out.family(name, kind, unit).push(labels.clone(), value);
            }
        };
        let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
        put(
            names::CONTAINER_CPU_PERCENT,
            MetricKind::Gauge,
            Unit::PERCENT,
            u.cpu_percent,
        );
        put(
            names::CONTAINER_CPU_SECONDS_TOTAL,
            MetricKind::Counter,
            Unit::SECONDS,
            u.cpu_seconds_total,
        );
        put(
            names::CONTAINER_MEMORY_USAGE_BYTES,
            MetricKind::Gauge,
            Unit::BYTES,
            as_f64(u.memory_usage_bytes),
        );
        put(
            names::CONTAINER_MEMORY_LIMIT_BYTES,
            MetricKind::Gauge,
            Unit::BYTES,
            as_f64(u.memory_limit_bytes),
        );
        put(
            names::CONTAINER_MEMORY_PERCENT,
            MetricKind::Gauge,
            Unit::PERCENT,
            self.memory_percent(),
        );
        put(
            names::CONTAINER_NETWORK_RECEIVE_BYTES_TOTAL,
            MetricKind::Counter,
            Unit::BYTES,
            as_f64(u.network_rx_bytes),
        );
        put(
            names::CONTAINER_NETWORK_TRANSMIT_BYTES_TOTAL,
            MetricKind::Counter,
            Unit::BYTES,
            as_f64(u.network_tx_bytes),
        );
        put(
            names::CONTAINER_BLOCK_READ_BYTES_TOTAL,
            MetricKind::Counter,
            Unit::BYTES,
            as_f64(u.block_read_bytes),
        );
        put(
            names::CONTAINER_BLOCK_WRITE_BYTES_TOTAL,
            MetricKind::Counter,
            Unit::BYTES,
            as_f64(u.block_write_bytes),
        );
        put(
            names::CONTAINER_OOM_KILLS_TOTAL,
            MetricKind::Counter,
            Unit::COUNT,
            as_f64(u.oom_kills_total),
        );
    }

    /// Every container of a snapshot's inventory, with its usage samples.
    pub fn all_from_snapshot(snapshot: &Snapshot) -> Vec<Self> {
        let Some(containers) = &snapshot.containers else {
            return Vec::new();
        };
        containers
            .iter()
            .map(|info| {
                let labels = Labels::new().with(label::NAME, info.name.clone());
                let f = |name| snapshot.value(name, &labels);
                let u = |name| f(name).map(|v| v as u64);
                ContainerMetrics {
                    info: info.clone(),
                    usage: ContainerUsage {
                        cpu_percent: f(names::CONTAINER_CPU_PERCENT),
                        cpu_seconds_total: f(names::CONTAINER_CPU_SECONDS_TOTAL),
                        memory_usage_bytes: u(names::CONTAINER_MEMORY_USAGE_BYTES),
                        memory_limit_bytes: u(names::CONTAINER_MEMORY_LIMIT_BYTES),
                        network_rx_bytes: u(names::CONTAINER_NETWORK_RECEIVE_BYTES_TOTAL),
                        network_tx_bytes: u(names::CONTAINER_NETWORK_TRANSMIT_BYTES_TOTAL),
                        block_read_bytes: u(names::CONTAINER_BLOCK_READ_BYTES_TOTAL),
                        block_write_bytes: u(names::CONTAINER_BLOCK_WRITE_BYTES_TOTAL),
                        oom_kills_total: u(names::CONTAINER_OOM_KILLS_TOTAL),
                    },
                }
            })
            .collect()
    }
}

/// The well-known metrics of one snapshot, typed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostMetrics {
    /// Memory and swap.
    pub memory: Option<MemoryMetrics>,
    /// CPU and load.
    pub cpu: Option<CpuMetrics>,
    /// Mounted filesystems.
    pub filesystems: Vec<FilesystemMetrics>,
    /// Block devices.
    pub disks: Vec<IoMetrics>,
    /// Network interfaces.
    pub networks: Vec<IoMetrics>,
    /// Seconds since boot.
    pub uptime_seconds: Option<f64>,
    /// Containers.
    pub containers: Vec<ContainerMetrics>,
}

impl HostMetrics {
    /// Reads the typed view of a snapshot. Metrics it does not know are
    /// ignored here and stay available as samples.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        HostMetrics {
            memory: MemoryMetrics::from_snapshot(snapshot),
            cpu: CpuMetrics::from_snapshot(snapshot),
            filesystems: FilesystemMetrics::all_from_snapshot(snapshot),
            disks: IoMetrics::disks_from_snapshot(snapshot),
            networks: IoMetrics::networks_from_snapshot(snapshot),
            uptime_seconds: scalar(snapshot, names::SYSTEM_UPTIME_SECONDS),
            containers: ContainerMetrics::all_from_snapshot(snapshot),
        }
    }

    /// The highest used percentage among the filesystems (what the original's
    /// `disk_used_percent` threshold watches).
    pub fn max_filesystem_used_percent(&self) -> Option<f64> {
        self.filesystems
            .iter()
            .map(FilesystemMetrics::used_percent)
            .reduce(f64::max)
    }
}

fn scalar(snapshot: &Snapshot, name: &str) -> Option<f64> {
    snapshot.value(name, &Labels::new())
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContainerHealth, ContainerState, ServerId, Timestamp};

    fn sample_host() -> (Collection, MemoryMetrics, CpuMetrics, FilesystemMetrics) {
        let memory = MemoryMetrics {
            total_bytes: 8_000,
            used_bytes: 2_000,
            free_bytes: 1_000,
            available_bytes: 6_000,
            cached_bytes: 4_000,
            buffers_bytes: 500,
            swap_total_bytes: 100,
            swap_used_bytes: 10,
        };
        let cpu = CpuMetrics {
            usage_percent: 25.0,
            per_core_percent: vec![(0, 10.0), (2, 40.0)],
            user_percent: 20.0,
            system_percent: 5.0,
            iowait_percent: 1.0,
            steal_percent: 0.5,
            count: 2,
            load_average: [0.5, 0.25, 0.125],
        };
        let fs = FilesystemMetrics {
            mountpoint: "/".into(),
            device: "/dev/vda".into(),
            fstype: "ext4".into(),
            size_bytes: 1000,
            used_bytes: 333,
            avail_bytes: 600,
        };
        let mut out = Collection::new();
        memory.write_to(&mut out);
        cpu.write_to(&mut out);
        fs.write_to(&mut out);
        (out, memory, cpu, fs)
    }

    #[test]
    fn typed_view_round_trips_through_samples() {
        let (mut out, memory, cpu, fs) = sample_host();
        let disk = IoMetrics {
            name: "vda".into(),
            in_bytes_per_second: 10.0,
            out_bytes_per_second: 20.0,
            in_bytes_total: 100,
            out_bytes_total: 200,
            ..Default::default()
        };
        disk.write_disk_to(&mut out);
        let net = IoMetrics {
            name: "eth0".into(),
            in_bytes_per_second: 1.5,
            out_bytes_per_second: 2.5,
            in_bytes_total: 15,
            out_bytes_total: 25,
            in_errors_total: 1,
            out_errors_total: 2,
        };
        net.write_network_to(&mut out);
        let container = ContainerMetrics {
            info: ContainerInfo {
                id: "abc".into(),
                name: "web".into(),
                image: "nginx".into(),
                state: ContainerState::Running,
                health: Some(ContainerHealth::Healthy),
                restart_count: 2,
                ..Default::default()
            },
            usage: ContainerUsage {
                cpu_percent: Some(12.5),
                cpu_seconds_total: Some(3.25),
                memory_usage_bytes: Some(50),
                memory_limit_bytes: Some(200),
                network_rx_bytes: Some(1),
                network_tx_bytes: Some(2),
                block_read_bytes: Some(3),
                block_write_bytes: Some(4),
                oom_kills_total: Some(1),
            },
        };
        container.write_to(&mut out);
        out.containers = Some(vec![container.info.clone()]);

        let snapshot = Snapshot::new(ServerId::new("a").unwrap(), Timestamp::EPOCH, out);
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        let host = HostMetrics::from_snapshot(&back);
        assert_eq!(host.memory, Some(memory));
        assert_eq!(host.cpu, Some(cpu));
        assert_eq!(host.filesystems, vec![fs]);
        assert_eq!(host.disks, vec![disk]);
        assert_eq!(host.networks, vec![net]);
        assert_eq!(host.containers, vec![container.clone()]);
        assert_eq!(container.memory_percent(), Some(25.0));
        assert_eq!(
            back.value(names::MEMORY_USED_PERCENT, &Labels::new()),
            Some(25.0)
        );
    }

    #[test]
    fn df_percentage_rounds_up_like_coreutils() {
        let fs = |used, avail| FilesystemMetrics {
            used_bytes: used,
            avail_bytes: avail,
            ..Default::default()
        };
        assert_eq!(fs(333, 600).used_percent(), 36.0); // 35.69 → 36
        assert_eq!(fs(50, 50).used_percent(), 50.0);
        assert_eq!(fs(0, 0).used_percent(), 0.0);
        assert_eq!(fs(u64::MAX / 2, u64::MAX / 2).used_percent(), 50.0);
    }

    #[test]
    fn max_filesystem_percentage() {
        let (out, ..) = sample_host();
        let snapshot = Snapshot::new(ServerId::new("a").unwrap(), Timestamp::EPOCH, out);
        assert_eq!(
            HostMetrics::from_snapshot(&snapshot).max_filesystem_used_percent(),
            Some(36.0)
        );
    }
}
