//! The well-known metric names, their units and labels, and how each maps to
//! the OpenTelemetry semantic conventions for system and container metrics.
//!
//! # Naming convention
//! Names follow Prometheus: `snake_case`, a subsystem prefix, and the unit as
//! suffix: `_bytes`, `_percent` (0 to 100), `_seconds`, `_bytes_per_second`,
//! and `_total` for counters. What tells two series of one name apart is a
//! label (`cpu_usage_percent{cpu="3"}`, `filesystem_avail_bytes{mountpoint="/"}`,
//! `container_cpu_percent{name="web"}`). A total without a label sits beside
//! its labelled parts: `cpu_usage_percent` is the whole machine,
//! `cpu_usage_percent{cpu="3"}` one core.
//!
//! Plugin collectors should follow the same rule; any valid name
//! ([`crate::model::is_valid_name`]) flows through storage, history, alerts,
//! exporters and the dashboard like the names below.
//!
//! [`WELL_KNOWN`] lists every built-in metric with its OpenTelemetry mapping;
//! `docs/metrics.md` is checked against it by a test.

use crate::model::MetricKind;

macro_rules! names {
    ($($(#[$doc:meta])* $ident:ident = $name:literal;)*) => {
        $($(#[$doc])* pub const $ident: &str = $name;)*
    };
}

names! {
    /// Installed memory (`MemTotal`).
    MEMORY_TOTAL_BYTES = "memory_total_bytes";
    /// Memory in use: total minus available, as `free` (procps ≥ 4) counts it.
    MEMORY_USED_BYTES = "memory_used_bytes";
    /// Memory not used for anything (`MemFree`).
    MEMORY_FREE_BYTES = "memory_free_bytes";
    /// Memory available to new programs without swapping (`MemAvailable`).
    MEMORY_AVAILABLE_BYTES = "memory_available_bytes";
    /// Page cache and reclaimable slab (`Cached` + `SReclaimable`), as `free` shows it.
    MEMORY_CACHED_BYTES = "memory_cached_bytes";
    /// Kernel buffers (`Buffers`).
    MEMORY_BUFFERS_BYTES = "memory_buffers_bytes";
    /// Used memory as a percentage of total.
    MEMORY_USED_PERCENT = "memory_used_percent";
    /// Swap space.
    SWAP_TOTAL_BYTES = "swap_total_bytes";
    /// Swap in use.
    SWAP_USED_BYTES = "swap_used_bytes";

    /// Busy CPU over the last interval, whole machine (no label) or per core (`cpu`).
    CPU_USAGE_PERCENT = "cpu_usage_percent";
    /// CPU time in user mode (including nice) over the last interval.
    CPU_USER_PERCENT = "cpu_user_percent";
    /// CPU time in kernel mode (including irq and softirq) over the last interval.
    CPU_SYSTEM_PERCENT = "cpu_system_percent";
    /// CPU time idle while waiting for I/O over the last interval.
    CPU_IOWAIT_PERCENT = "cpu_iowait_percent";
    /// CPU time stolen by the hypervisor over the last interval.
    CPU_STEAL_PERCENT = "cpu_steal_percent";
    /// CPU time spent in each mode since boot (`mode` label: user, nice,
    /// system, idle, iowait, irq, softirq, steal), all CPUs together, as
    /// node_exporter's `node_cpu_seconds_total` counts it.
    CPU_SECONDS_TOTAL = "cpu_seconds_total";
    /// Number of logical CPUs (cores times hardware threads). Not
    /// `cpu_count`: Prometheus reserves the `_count` suffix for histograms.
    CPU_LOGICAL_CORES = "cpu_logical_cores";
    /// Load average over 1 minute.
    LOAD_AVERAGE_1M = "load_average_1m";
    /// Load average over 5 minutes.
    LOAD_AVERAGE_5M = "load_average_5m";
    /// Load average over 15 minutes.
    LOAD_AVERAGE_15M = "load_average_15m";

    /// Size of a filesystem.
    FILESYSTEM_SIZE_BYTES = "filesystem_size_bytes";
    /// Used space of a filesystem (blocks minus free blocks, as `df` counts it).
    FILESYSTEM_USED_BYTES = "filesystem_used_bytes";
    /// Space available to unprivileged users.
    FILESYSTEM_AVAIL_BYTES = "filesystem_avail_bytes";
    /// Used space as `df` shows it: used / (used + available), rounded up.
    FILESYSTEM_USED_PERCENT = "filesystem_used_percent";

    /// Bytes read from a block device per second over the last interval.
    DISK_READ_BYTES_PER_SECOND = "disk_read_bytes_per_second";
    /// Bytes written to a block device per second over the last interval.
    DISK_WRITTEN_BYTES_PER_SECOND = "disk_written_bytes_per_second";
    /// Bytes read from a block device since boot.
    DISK_READ_BYTES_TOTAL = "disk_read_bytes_total";
    /// Bytes written to a block device since boot.
    DISK_WRITTEN_BYTES_TOTAL = "disk_written_bytes_total";

    /// Bytes received per second on an interface over the last interval.
    NETWORK_RECEIVE_BYTES_PER_SECOND = "network_receive_bytes_per_second";
    /// Bytes sent per second on an interface over the last interval.
    NETWORK_TRANSMIT_BYTES_PER_SECOND = "network_transmit_bytes_per_second";
    /// Bytes received on an interface since it came up.
    NETWORK_RECEIVE_BYTES_TOTAL = "network_receive_bytes_total";
    /// Bytes sent on an interface since it came up.
    NETWORK_TRANSMIT_BYTES_TOTAL = "network_transmit_bytes_total";
    /// Receive errors on an interface since it came up.
    NETWORK_RECEIVE_ERRORS_TOTAL = "network_receive_errors_total";
    /// Transmit errors on an interface since it came up.
    NETWORK_TRANSMIT_ERRORS_TOTAL = "network_transmit_errors_total";

    /// Time since boot.
    SYSTEM_UPTIME_SECONDS = "system_uptime_seconds";
    /// Boot time, as Unix seconds.
    SYSTEM_BOOT_TIME_SECONDS = "system_boot_time_seconds";

    /// 1 when the container is running, else 0 (every container has it).
    CONTAINER_RUNNING = "container_running";
    /// Health check result: 1 healthy, 0 unhealthy, 0.5 starting; absent without a check.
    CONTAINER_HEALTHY = "container_healthy";
    /// How many times Docker restarted the container (a counter: it only
    /// grows while the container exists).
    CONTAINER_RESTARTS_TOTAL = "container_restarts_total";
    /// Times the kernel killed a process of the container for lack of
    /// memory, as Docker's `oom` events tell, since the agent started (every
    /// container has it, from 0).
    CONTAINER_OOM_KILLS_TOTAL = "container_oom_kills_total";
    /// CPU use as `docker stats` shows it: 100 is one full core.
    CONTAINER_CPU_PERCENT = "container_cpu_percent";
    /// CPU time the container used, all CPUs together (cAdvisor's
    /// `container_cpu_usage_seconds_total`).
    CONTAINER_CPU_SECONDS_TOTAL = "container_cpu_seconds_total";
    /// Memory use as `docker stats` shows it (usage minus inactive page cache).
    CONTAINER_MEMORY_USAGE_BYTES = "container_memory_usage_bytes";
    /// The container's memory limit (the host's memory when it has none).
    CONTAINER_MEMORY_LIMIT_BYTES = "container_memory_limit_bytes";
    /// Memory use as a percentage of the limit.
    CONTAINER_MEMORY_PERCENT = "container_memory_percent";
    /// Bytes received by the container's interfaces.
    CONTAINER_NETWORK_RECEIVE_BYTES_TOTAL = "container_network_receive_bytes_total";
    /// Bytes sent by the container's interfaces.
    CONTAINER_NETWORK_TRANSMIT_BYTES_TOTAL = "container_network_transmit_bytes_total";
    /// Bytes read from block devices by the container.
    CONTAINER_BLOCK_READ_BYTES_TOTAL = "container_block_read_bytes_total";
    /// Bytes written to block devices by the container.
    CONTAINER_BLOCK_WRITE_BYTES_TOTAL = "container_block_write_bytes_total";
    /// 1 when the probe's last check succeeded (an HTTP answer with an
    /// expected status, a TCP connection), else 0: blackbox_exporter's
    /// `probe_success`.
    PROBE_SUCCESS = "probe_success";
    /// How long the probe's last check took: to the HTTP answer's headers,
    /// or to the TCP connection.
    PROBE_DURATION_SECONDS = "probe_duration_seconds";
    /// The HTTP status of the probe's last answer (after redirects).
    PROBE_HTTP_STATUS_CODE = "probe_http_status_code";
    /// Seconds until the certificate of an `https://` probe's server expires
    /// (negative once it has).
    PROBE_TLS_CERT_EXPIRES_IN_SECONDS = "probe_tls_cert_expires_in_seconds";
    /// A temperature sensor's reading, °C (hwmon, thermal zones).
    SENSOR_TEMPERATURE_CELSIUS = "sensor_temperature_celsius";
    /// The critical threshold the hardware gives for that sensor, °C.
    SENSOR_TEMPERATURE_CRITICAL_CELSIUS = "sensor_temperature_critical_celsius";
    /// Critical threshold minus reading, °C: how far the sensor is from
    /// critical (negative past it).
    SENSOR_TEMPERATURE_HEADROOM_CELSIUS = "sensor_temperature_headroom_celsius";
    /// A fan's speed, revolutions per minute.
    SENSOR_FAN_RPM = "sensor_fan_rpm";
    /// 1 when a disk's S.M.A.R.T. health self-assessment passed, 0 when it
    /// failed.
    DISK_SMART_HEALTHY = "disk_smart_healthy";
    /// A disk's temperature as S.M.A.R.T. reports it, °C.
    DISK_TEMPERATURE_CELSIUS = "disk_temperature_celsius";
    /// Sectors the disk reallocated (ATA attribute 5, raw).
    DISK_REALLOCATED_SECTORS = "disk_reallocated_sectors";
    /// Sectors waiting to be reallocated (ATA attribute 197, raw).
    DISK_PENDING_SECTORS = "disk_pending_sectors";
    /// An NVMe disk's "percentage used" of its rated endurance.
    DISK_WEAR_PERCENT = "disk_wear_percent";
    /// 1, with the disk's `model` and `serial` as labels.
    DISK_SMART_INFO = "disk_smart_info";
}

/// Label names used by the built-in metrics.
pub mod label {
    /// Logical CPU number (`cpu_usage_percent{cpu="3"}`).
    pub const CPU: &str = "cpu";
    /// CPU mode of `cpu_seconds_total` (`user`, `idle`, ...).
    pub const MODE: &str = "mode";
    /// Filesystem mount point.
    pub const MOUNTPOINT: &str = "mountpoint";
    /// Block device (`/dev/vda1`, `vda`).
    pub const DEVICE: &str = "device";
    /// Filesystem type (`ext4`).
    pub const FSTYPE: &str = "fstype";
    /// Network interface (`eth0`).
    pub const INTERFACE: &str = "interface";
    /// Container name.
    pub const NAME: &str = "name";
    /// Probe name (the `name` of a `[[probe]]`, or its target).
    pub const PROBE: &str = "probe";
    /// Hardware monitoring chip (`coretemp`, `nvme-nvme0`, `thermal_zone0`).
    pub const CHIP: &str = "chip";
    /// A sensor of a chip (`Package id 0`, `temp1`, `fan2`).
    pub const SENSOR: &str = "sensor";
}

/// How one built-in metric maps to OpenTelemetry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OtelMapping {
    /// The OpenTelemetry instrument name (`system.memory.usage`).
    pub name: &'static str,
    /// The UCUM unit (`By`, `1`, `s`, `By/s`, `{cpu}`).
    pub unit: &'static str,
    /// Fixed attributes added to every point (`system.memory.state=used`).
    pub attributes: &'static [(&'static str, &'static str)],
    /// How our labels are renamed (`mountpoint` → `system.filesystem.mountpoint`).
    pub label_attributes: &'static [(&'static str, &'static str)],
    /// Factor applied to the value (0.01 turns percent into a 0–1 utilization).
    pub scale: f64,
    /// The instrument the semantic conventions name, which fixes the OTLP
    /// point type.
    pub instrument: Instrument,
}

/// An OpenTelemetry instrument kind, as the semantic conventions give it
/// for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// A value sampled as is (utilization, load): an OTLP `Gauge`.
    Gauge,
    /// An amount that goes up and down (bytes in use): an OTLP `Sum`, not
    /// monotonic, cumulative.
    UpDownCounter,
    /// A total that only grows: an OTLP `Sum`, monotonic, cumulative.
    Counter,
}

impl OtelMapping {
    /// The same mapping to an up-down counter.
    const fn updown(mut self) -> Self {
        self.instrument = Instrument::UpDownCounter;
        self
    }
}

/// A built-in metric: its name, kind, unit, labels, description and
/// OpenTelemetry mapping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDescriptor {
    /// The metric name.
    pub name: &'static str,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// Our unit word (`bytes`, `percent`, ...).
    pub unit: &'static str,
    /// The labels its samples carry.
    pub labels: &'static [&'static str],
    /// One-line description.
    pub help: &'static str,
    /// The OpenTelemetry mapping.
    pub otel: OtelMapping,
}

const FS_ATTRS: &[(&str, &str)] = &[
    ("mountpoint", "system.filesystem.mountpoint"),
    ("device", "system.device"),
    ("fstype", "system.filesystem.type"),
];
const FS_LABELS: &[&str] = &["mountpoint", "device", "fstype"];
const DISK_ATTRS: &[(&str, &str)] = &[("device", "system.device")];
const NET_ATTRS: &[(&str, &str)] = &[("interface", "network.interface.name")];
const CPU_ATTRS: &[(&str, &str)] = &[("cpu", "cpu.logical_number")];
const CPU_MODE_ATTRS: &[(&str, &str)] = &[("mode", "cpu.mode")];
const CONTAINER_ATTRS: &[(&str, &str)] = &[("name", "container.name")];
const PROBE_ATTRS: &[(&str, &str)] = &[("probe", "monitor.probe.name")];
const SENSOR_ATTRS: &[(&str, &str)] = &[("chip", "hw.parent"), ("sensor", "hw.name")];
const SMART_ATTRS: &[(&str, &str)] = &[("device", "hw.id")];

const fn otel(
    name: &'static str,
    unit: &'static str,
    attributes: &'static [(&'static str, &'static str)],
    label_attributes: &'static [(&'static str, &'static str)],
    scale: f64,
) -> OtelMapping {
    OtelMapping {
        name,
        unit,
        attributes,
        label_attributes,
        scale,
        instrument: Instrument::Gauge,
    }
}

const fn gauge(
    name: &'static str,
    unit: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    otel: OtelMapping,
) -> MetricDescriptor {
    MetricDescriptor {
        name,
        kind: MetricKind::Gauge,
        unit,
        labels,
        help,
        otel,
    }
}

const fn counter(
    name: &'static str,
    unit: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    mut otel: OtelMapping,
) -> MetricDescriptor {
    otel.instrument = Instrument::Counter;
    MetricDescriptor {
        name,
        kind: MetricKind::Counter,
        unit,
        labels,
        help,
        otel,
    }
}

/// Every built-in metric, in the order the dashboard lists them.
#[rustfmt::skip]
pub const WELL_KNOWN: &[MetricDescriptor] = &[
    gauge(MEMORY_TOTAL_BYTES, "bytes", &[], "Installed memory.",
        otel("system.memory.limit", "By", &[], &[], 1.0).updown()),
    gauge(MEMORY_USED_BYTES, "bytes", &[], "Memory in use (total minus available).",
        otel("system.memory.usage", "By", &[("system.memory.state", "used")], &[], 1.0).updown()),
    gauge(MEMORY_FREE_BYTES, "bytes", &[], "Memory not used for anything.",
        otel("system.memory.usage", "By", &[("system.memory.state", "free")], &[], 1.0).updown()),
    gauge(MEMORY_AVAILABLE_BYTES, "bytes", &[], "Memory available without swapping.",
        otel("system.linux.memory.available", "By", &[], &[], 1.0).updown()),
    gauge(MEMORY_CACHED_BYTES, "bytes", &[], "Page cache and reclaimable slab.",
        otel("system.memory.usage", "By", &[("system.memory.state", "cached")], &[], 1.0).updown()),
    gauge(MEMORY_BUFFERS_BYTES, "bytes", &[], "Kernel buffers.",
        otel("system.memory.usage", "By", &[("system.memory.state", "buffers")], &[], 1.0).updown()),
    gauge(MEMORY_USED_PERCENT, "percent", &[], "Used memory as a percentage of total.",
        otel("system.memory.utilization", "1", &[("system.memory.state", "used")], &[], 0.01)),
    gauge(SWAP_TOTAL_BYTES, "bytes", &[], "Swap space.",
        otel("system.paging.limit", "By", &[], &[], 1.0).updown()),
    gauge(SWAP_USED_BYTES, "bytes", &[], "Swap in use.",
        otel("system.paging.usage", "By", &[("system.paging.state", "used")], &[], 1.0).updown()),
    gauge(CPU_USAGE_PERCENT, "percent", &["cpu"], "Busy CPU over the last interval; no label for the whole machine.",
        otel("system.cpu.utilization", "1", &[], CPU_ATTRS, 0.01)),
    gauge(CPU_USER_PERCENT, "percent", &[], "CPU time in user mode.",
        otel("system.cpu.utilization", "1", &[("cpu.mode", "user")], &[], 0.01)),
    gauge(CPU_SYSTEM_PERCENT, "percent", &[], "CPU time in kernel mode.",
        otel("system.cpu.utilization", "1", &[("cpu.mode", "system")], &[], 0.01)),
    gauge(CPU_IOWAIT_PERCENT, "percent", &[], "CPU time idle waiting for I/O.",
        otel("system.cpu.utilization", "1", &[("cpu.mode", "iowait")], &[], 0.01)),
    gauge(CPU_STEAL_PERCENT, "percent", &[], "CPU time stolen by the hypervisor.",
        otel("system.cpu.utilization", "1", &[("cpu.mode", "steal")], &[], 0.01)),
    counter(CPU_SECONDS_TOTAL, "seconds", &["mode"], "CPU time in each mode since boot, all CPUs together.",
        otel("system.cpu.time", "s", &[], CPU_MODE_ATTRS, 1.0)),
    gauge(CPU_LOGICAL_CORES, "count", &[], "Number of logical CPUs.",
        otel("system.cpu.logical.count", "{cpu}", &[], &[], 1.0).updown()),
    gauge(LOAD_AVERAGE_1M, "", &[], "Load average over 1 minute.",
        otel("system.cpu.load_average.1m", "{thread}", &[], &[], 1.0)),
    gauge(LOAD_AVERAGE_5M, "", &[], "Load average over 5 minutes.",
        otel("system.cpu.load_average.5m", "{thread}", &[], &[], 1.0)),
    gauge(LOAD_AVERAGE_15M, "", &[], "Load average over 15 minutes.",
        otel("system.cpu.load_average.15m", "{thread}", &[], &[], 1.0)),
    gauge(FILESYSTEM_SIZE_BYTES, "bytes", FS_LABELS, "Size of the filesystem.",
        otel("system.filesystem.limit", "By", &[], FS_ATTRS, 1.0).updown()),
    gauge(FILESYSTEM_USED_BYTES, "bytes", FS_LABELS, "Used space (blocks minus free blocks).",
        otel("system.filesystem.usage", "By", &[("system.filesystem.state", "used")], FS_ATTRS, 1.0).updown()),
    gauge(FILESYSTEM_AVAIL_BYTES, "bytes", FS_LABELS, "Space available to unprivileged users.",
        otel("system.filesystem.usage", "By", &[("system.filesystem.state", "free")], FS_ATTRS, 1.0).updown()),
    gauge(FILESYSTEM_USED_PERCENT, "percent", FS_LABELS, "Used space as df shows it.",
        otel("system.filesystem.utilization", "1", &[], FS_ATTRS, 0.01)),
    gauge(DISK_READ_BYTES_PER_SECOND, "bytes_per_second", &["device"], "Bytes read per second.",
        otel("monitor.disk.io.rate", "By/s", &[("disk.io.direction", "read")], DISK_ATTRS, 1.0)),
    gauge(DISK_WRITTEN_BYTES_PER_SECOND, "bytes_per_second", &["device"], "Bytes written per second.",
        otel("monitor.disk.io.rate", "By/s", &[("disk.io.direction", "write")], DISK_ATTRS, 1.0)),
    counter(DISK_READ_BYTES_TOTAL, "bytes", &["device"], "Bytes read since boot.",
        otel("system.disk.io", "By", &[("disk.io.direction", "read")], DISK_ATTRS, 1.0)),
    counter(DISK_WRITTEN_BYTES_TOTAL, "bytes", &["device"], "Bytes written since boot.",
        otel("system.disk.io", "By", &[("disk.io.direction", "write")], DISK_ATTRS, 1.0)),
    gauge(NETWORK_RECEIVE_BYTES_PER_SECOND, "bytes_per_second", &["interface"], "Bytes received per second.",
        otel("monitor.network.io.rate", "By/s", &[("network.io.direction", "receive")], NET_ATTRS, 1.0)),
    gauge(NETWORK_TRANSMIT_BYTES_PER_SECOND, "bytes_per_second", &["interface"], "Bytes sent per second.",
        otel("monitor.network.io.rate", "By/s", &[("network.io.direction", "transmit")], NET_ATTRS, 1.0)),
    counter(NETWORK_RECEIVE_BYTES_TOTAL, "bytes", &["interface"], "Bytes received.",
        otel("system.network.io", "By", &[("network.io.direction", "receive")], NET_ATTRS, 1.0)),
    counter(NETWORK_TRANSMIT_BYTES_TOTAL, "bytes", &["interface"], "Bytes sent.",
        otel("system.network.io", "By", &[("network.io.direction", "transmit")], NET_ATTRS, 1.0)),
    counter(NETWORK_RECEIVE_ERRORS_TOTAL, "count", &["interface"], "Receive errors.",
        otel("system.network.errors", "{error}", &[("network.io.direction", "receive")], NET_ATTRS, 1.0)),
    counter(NETWORK_TRANSMIT_ERRORS_TOTAL, "count", &["interface"], "Transmit errors.",
        otel("system.network.errors", "{error}", &[("network.io.direction", "transmit")], NET_ATTRS, 1.0)),
    gauge(SYSTEM_UPTIME_SECONDS, "seconds", &[], "Time since boot.",
        otel("system.uptime", "s", &[], &[], 1.0)),
    gauge(SYSTEM_BOOT_TIME_SECONDS, "seconds", &[], "Boot time as Unix seconds.",
        otel("monitor.system.boot_time", "s", &[], &[], 1.0)),
    gauge(CONTAINER_RUNNING, "", &["name"], "1 when the container runs, else 0.",
        otel("monitor.container.running", "1", &[], CONTAINER_ATTRS, 1.0)),
    gauge(CONTAINER_HEALTHY, "", &["name"], "Health check: 1 healthy, 0.5 starting, 0 unhealthy.",
        otel("monitor.container.healthy", "1", &[], CONTAINER_ATTRS, 1.0)),
    counter(CONTAINER_RESTARTS_TOTAL, "count", &["name"], "Restarts by Docker.",
        otel("container.restarts", "{restart}", &[], CONTAINER_ATTRS, 1.0)),
    counter(CONTAINER_OOM_KILLS_TOTAL, "count", &["name"], "Kills for lack of memory seen since the agent started.",
        otel("monitor.container.oom_kills", "{kill}", &[], CONTAINER_ATTRS, 1.0)),
    gauge(CONTAINER_CPU_PERCENT, "percent", &["name"], "CPU as docker stats shows it (100 = one core).",
        otel("container.cpu.usage", "{cpu}", &[], CONTAINER_ATTRS, 0.01)),
    counter(CONTAINER_CPU_SECONDS_TOTAL, "seconds", &["name"], "CPU time used, all CPUs together.",
        otel("container.cpu.time", "s", &[], CONTAINER_ATTRS, 1.0)),
    gauge(CONTAINER_MEMORY_USAGE_BYTES, "bytes", &["name"], "Memory as docker stats shows it.",
        otel("container.memory.usage", "By", &[], CONTAINER_ATTRS, 1.0).updown()),
    gauge(CONTAINER_MEMORY_LIMIT_BYTES, "bytes", &["name"], "Memory limit.",
        otel("container.memory.usage.limit", "By", &[], CONTAINER_ATTRS, 1.0).updown()),
    gauge(CONTAINER_MEMORY_PERCENT, "percent", &["name"], "Memory use as a percentage of the limit.",
        otel("container.memory.percent", "1", &[], CONTAINER_ATTRS, 0.01)),
    counter(CONTAINER_NETWORK_RECEIVE_BYTES_TOTAL, "bytes", &["name"], "Bytes received by the container.",
        otel("container.network.io", "By", &[("network.io.direction", "receive")], CONTAINER_ATTRS, 1.0)),
    counter(CONTAINER_NETWORK_TRANSMIT_BYTES_TOTAL, "bytes", &["name"], "Bytes sent by the container.",
        otel("container.network.io", "By", &[("network.io.direction", "transmit")], CONTAINER_ATTRS, 1.0)),
    counter(CONTAINER_BLOCK_READ_BYTES_TOTAL, "bytes", &["name"], "Bytes read from block devices.",
        otel("container.disk.io", "By", &[("disk.io.direction", "read")], CONTAINER_ATTRS, 1.0)),
    counter(CONTAINER_BLOCK_WRITE_BYTES_TOTAL, "bytes", &["name"], "Bytes written to block devices.",
        otel("container.disk.io", "By", &[("disk.io.direction", "write")], CONTAINER_ATTRS, 1.0)),
    gauge(PROBE_SUCCESS, "", &["probe"], "1 when the last check succeeded, else 0.",
        otel("monitor.probe.success", "1", &[], PROBE_ATTRS, 1.0)),
    gauge(PROBE_DURATION_SECONDS, "seconds", &["probe"], "How long the last check took.",
        otel("monitor.probe.duration", "s", &[], PROBE_ATTRS, 1.0)),
    gauge(PROBE_HTTP_STATUS_CODE, "", &["probe"], "HTTP status of the last answer.",
        otel("monitor.probe.http.status_code", "1", &[], PROBE_ATTRS, 1.0)),
    gauge(PROBE_TLS_CERT_EXPIRES_IN_SECONDS, "seconds", &["probe"], "Time until the server's certificate expires.",
        otel("monitor.probe.tls.certificate.time_left", "s", &[], PROBE_ATTRS, 1.0)),
    gauge(SENSOR_TEMPERATURE_CELSIUS, "celsius", &["chip", "sensor"], "Temperature.",
        otel("hw.temperature", "Cel", &[], SENSOR_ATTRS, 1.0)),
    gauge(SENSOR_TEMPERATURE_CRITICAL_CELSIUS, "celsius", &["chip", "sensor"], "Critical temperature the hardware gives.",
        otel("hw.temperature.limit", "Cel", &[("hw.limit_type", "high.critical")], SENSOR_ATTRS, 1.0)),
    gauge(SENSOR_TEMPERATURE_HEADROOM_CELSIUS, "celsius", &["chip", "sensor"], "Critical temperature minus the reading.",
        otel("monitor.hw.temperature.headroom", "Cel", &[], SENSOR_ATTRS, 1.0)),
    gauge(SENSOR_FAN_RPM, "rpm", &["chip", "sensor"], "Fan speed.",
        otel("hw.fan.speed", "rpm", &[], SENSOR_ATTRS, 1.0)),
    gauge(DISK_SMART_HEALTHY, "", &["device"], "1 when the disk's S.M.A.R.T. health passed, 0 when it failed.",
        otel("monitor.disk.smart.healthy", "1", &[], SMART_ATTRS, 1.0)),
    gauge(DISK_TEMPERATURE_CELSIUS, "celsius", &["device"], "Disk temperature.",
        otel("hw.temperature", "Cel", &[("hw.type", "physical_disk")], SMART_ATTRS, 1.0)),
    gauge(DISK_REALLOCATED_SECTORS, "count", &["device"], "Reallocated sectors.",
        otel("monitor.disk.smart.reallocated_sectors", "{sector}", &[], SMART_ATTRS, 1.0)),
    gauge(DISK_PENDING_SECTORS, "count", &["device"], "Sectors pending reallocation.",
        otel("monitor.disk.smart.pending_sectors", "{sector}", &[], SMART_ATTRS, 1.0)),
    gauge(DISK_WEAR_PERCENT, "percent", &["device"], "NVMe percentage used of the rated endurance.",
        otel("hw.physical_disk.endurance_utilization", "1", &[], SMART_ATTRS, 0.01)),
    gauge(DISK_SMART_INFO, "", &["device", "model", "serial"], "1, with the disk's model and serial.",
        otel("monitor.disk.smart.info", "1", &[], SMART_ATTRS, 1.0)),
];

/// The descriptor of a built-in metric.
pub fn describe(name: &str) -> Option<&'static MetricDescriptor> {
    WELL_KNOWN.iter().find(|d| d.name == name)
}

/// The namespace of the built-in metrics in the Prometheus exposition (the
/// agent's and the server's `/metrics`, remote write): `monitor_`, so that
/// they sit beside node_exporter's `node_` and cAdvisor's `container_`
/// without clashing.
pub const PROMETHEUS_NAMESPACE: &str = "monitor";

/// How a built-in metric appears in the Prometheus exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusName {
    /// The exposed name (`monitor_memory_used_ratio`).
    pub name: String,
    /// What the value is divided by on the way out (100 turns a percentage
    /// into a ratio; a division, so that 70 % is exactly 0.7).
    pub divisor: f64,
    /// What the exposed value means when it is not the collected one,
    /// added to the `# HELP` line.
    pub note: Option<&'static str>,
}

impl MetricDescriptor {
    /// The metric's name and value in the Prometheus exposition: the
    /// [`PROMETHEUS_NAMESPACE`] prefix, and a percentage as a ratio from 0
    /// to 1 (`_percent` becomes `_ratio`), as the Prometheus naming guide
    /// asks; the container CPU percentage (100 is one core) becomes a
    /// number of cores. The data model, history, alert rules, the dashboard
    /// and OTLP keep the collected names.
    pub fn prometheus(&self) -> PrometheusName {
        let ns = PROMETHEUS_NAMESPACE;
        if self.name == CONTAINER_CPU_PERCENT {
            return PrometheusName {
                name: format!("{ns}_container_cpu_usage_cores"),
                divisor: 100.0,
                note: Some("In cores: 1 is one full core."),
            };
        }
        match self.name.strip_suffix("_percent") {
            Some(base) if self.unit == "percent" => PrometheusName {
                name: format!("{ns}_{base}_ratio"),
                divisor: 100.0,
                note: Some("As a ratio: 1 is 100 %."),
            },
            _ => PrometheusName {
                name: format!("{ns}_{}", self.name),
                divisor: 1.0,
                note: None,
            },
        }
    }
}

/// The Prometheus name, divisor and note of `name` when it is a built-in
/// metric (see [`MetricDescriptor::prometheus`]); `None` for any other
/// name, which a plugin chose and which is exposed as it is.
pub fn prometheus(name: &str) -> Option<&'static PrometheusName> {
    NAMES.get(name)
}

/// The built-in metric exposed to Prometheus as `exposed`
/// (`monitor_memory_used_ratio` → `memory_used_percent`): a plugin metric
/// of that name would clash with it, and is left out of the exposition.
pub fn from_prometheus(exposed: &str) -> Option<&'static str> {
    static SOURCES: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static str>> =
        std::sync::LazyLock::new(|| NAMES.iter().map(|(k, v)| (v.name.as_str(), *k)).collect());
    SOURCES.get(exposed).copied()
}

static NAMES: std::sync::LazyLock<std::collections::HashMap<&'static str, PrometheusName>> =
    std::sync::LazyLock::new(|| {
        WELL_KNOWN
            .iter()
            .map(|d| (d.name, d.prometheus()))
            .collect()
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::is_valid_name;

    #[test]
    fn every_well_known_name_is_valid_unique_and_unit_suffixed() {
        let mut seen = std::collections::HashSet::new();
        for d in WELL_KNOWN {
            assert!(is_valid_name(d.name), "{}", d.name);
            assert!(seen.insert(d.name), "duplicate {}", d.name);
            let suffix_ok = match d.unit {
                "bytes" => d.name.ends_with("_bytes") || d.name.ends_with("_bytes_total"),
                "percent" => d.name.ends_with("_percent"),
                "seconds" => d.name.ends_with("_seconds") || d.name.ends_with("_seconds_total"),
                "bytes_per_second" => d.name.ends_with("_bytes_per_second"),
                "celsius" => d.name.ends_with("_celsius"),
                "rpm" => d.name.ends_with("_rpm"),
                _ => true,
            };
            assert!(
                suffix_ok,
                "{} does not end with its unit {}",
                d.name, d.unit
            );
            if d.kind == MetricKind::Counter {
                assert!(
                    d.name.ends_with("_total"),
                    "counter {} lacks _total",
                    d.name
                );
            }
            for (label, _) in d.otel.label_attributes {
                assert!(
                    d.labels.contains(label),
                    "{}: unknown label {label}",
                    d.name
                );
            }
        }
    }

    #[test]
    fn prometheus_names_are_namespaced_unique_and_ratios_where_percent() {
        let mut seen = std::collections::HashSet::new();
        for d in WELL_KNOWN {
            let p = prometheus(d.name).expect("every built-in has one");
            assert!(is_valid_name(&p.name), "{}", p.name);
            assert!(p.name.starts_with("monitor_"), "{}", p.name);
            assert!(seen.insert(p.name.clone()), "duplicate {}", p.name);
            assert!(!p.name.contains("percent"), "{}", p.name);
            if d.kind == MetricKind::Counter {
                assert!(p.name.ends_with("_total"), "{}", p.name);
            }
            assert_eq!(p.divisor != 1.0, p.note.is_some(), "{}", d.name);
        }
        let memory = prometheus(MEMORY_USED_PERCENT).expect("built in");
        assert_eq!(
            (memory.name.as_str(), memory.divisor),
            ("monitor_memory_used_ratio", 100.0)
        );
        let container = prometheus(CONTAINER_MEMORY_USAGE_BYTES).expect("built in");
        assert_eq!(container.name, "monitor_container_memory_usage_bytes");
        assert_eq!(
            prometheus(CONTAINER_CPU_PERCENT).map(|p| p.name.as_str()),
            Some("monitor_container_cpu_usage_cores")
        );
        assert!(prometheus("backup_age_seconds").is_none());
        assert_eq!(
            from_prometheus("monitor_memory_used_ratio"),
            Some(MEMORY_USED_PERCENT)
        );
        assert_eq!(from_prometheus("memory_used_percent"), None);
    }

    #[test]
    fn describe_finds_names() {
        assert_eq!(describe(MEMORY_USED_BYTES).map(|d| d.unit), Some("bytes"));
        assert!(describe("nope").is_none());
    }
}
