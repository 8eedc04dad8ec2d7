//! Temperatures and fans, from the kernel's hwmon devices
//! (`/sys/class/hwmon`) and thermal zones (`/sys/class/thermal`), the
//! sources of lm-sensors.
//!
//! Read directly: a hwmon device is a directory of one-value files
//! (`temp1_input` in millidegrees Celsius, `temp1_label`, `temp1_crit`,
//! `fan1_input` in RPM), under the device's own directory on old drivers
//! (`hwmonN/device/`). A thermal zone has `type`, `temp` and trip points,
//! one of which may be `critical`; a zone that the kernel also registers as
//! a hwmon device (it then holds a `hwmonN` entry) is reported once, as the
//! hwmon device.
//!
//! Which files exist is found by a scan of the directories, made at the
//! first collection and again every [`RESCAN`] (or when a file vanishes):
//! a collection between two scans reads only the input files. The critical
//! thresholds are read at the scan: they are limits, not readings.
//!
//! Labels: `chip` is the hwmon device's `name` (`coretemp`, `nvme`,
//! `amdgpu`, `nct6775`), with the device's own name after a `-` when two
//! chips share a name (`nvme-nvme0`, `nvme-nvme1`), or `thermal_zoneN` for a
//! thermal zone; `sensor` is the reading's label (`Package id 0`,
//! `Composite`, `CPU fan`) or its file's stem (`temp1`, `fan2`), or a
//! zone's type (`x86_pkg_temp`).
//!
//! A host without sensors (most virtual machines) reports none: that is not
//! an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::{CollectContext, CollectError, Collection, Collector, Labels, Unit, names};

use crate::procfs::HostPaths;

/// How often the sensor files are looked for again (sensors come with
/// modules loaded and devices plugged).
pub const RESCAN: Duration = Duration::from_secs(300);

/// Readings outside this range, in °C, are a driver's "no sensor" value
/// (-128, 127.5, 255.5 and the like on some chips), not a temperature.
const PLAUSIBLE_CELSIUS: std::ops::RangeInclusive<f64> = -60.0..=200.0;

/// What one input file measures.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// °C, with the critical threshold when the hardware gives one.
    Temperature { critical: Option<f64> },
    /// Revolutions per minute.
    Fan,
}

/// One input file found by the scan.
#[derive(Debug, Clone, PartialEq)]
struct Sensor {
    chip: String,
    sensor: String,
    input: PathBuf,
    kind: Kind,
}

/// One reading of a temperature or a fan (see [`SensorsCollector::read`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SensorReading {
    /// The chip (`coretemp`, `nvme-nvme0`, `thermal_zone0`).
    pub chip: String,
    /// The sensor on the chip (`Package id 0`, `temp1`, `fan2`).
    pub sensor: String,
    /// What was read.
    pub value: SensorValue,
}

/// The value of a [`SensorReading`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SensorValue {
    /// A temperature in °C, and the hardware's critical threshold if it has
    /// one.
    Temperature {
        /// Current temperature, °C.
        celsius: f64,
        /// The critical threshold, °C.
        critical: Option<f64>,
    },
    /// A fan's speed in revolutions per minute.
    Fan {
        /// Revolutions per minute.
        rpm: f64,
    },
}

/// Reads temperatures and fans (see the module docs).
#[derive(Debug)]
pub struct SensorsCollector {
    paths: HostPaths,
    sensors: Vec<Sensor>,
    scanned: Option<Instant>,
    buf: String,
}

impl SensorsCollector {
    /// A collector reading the sysfs under `paths`.
    pub fn new(paths: HostPaths) -> Self {
        SensorsCollector {
            paths,
            sensors: Vec::new(),
            scanned: None,
            buf: String::new(),
        }
    }

    /// The current readings, scanning for sensors first when due.
    ///
    /// A sensor whose file cannot be read (some report `EIO` or `ENODATA`
    /// while idle) or reads a value out of range is left out; a file that
    /// vanished makes the next call scan again.
    pub fn read(&mut self) -> Vec<SensorReading> {
        if self.scanned.is_none_or(|at| at.elapsed() >= RESCAN) {
            self.sensors = scan(&self.paths.sys);
            self.scanned = Some(Instant::now());
        }
        let mut readings = Vec::with_capacity(self.sensors.len());
        let mut vanished = false;
        for s in &self.sensors {
            let Some(raw) = read_number(&s.input, &mut self.buf) else {
                vanished |= !s.input.exists();
                continue;
            };
            let value = match s.kind {
                Kind::Temperature { critical } => {
                    let celsius = raw / 1000.0;
                    if !PLAUSIBLE_CELSIUS.contains(&celsius) {
                        continue;
                    }
                    SensorValue::Temperature { celsius, critical }
                }
                Kind::Fan if raw >= 0.0 => SensorValue::Fan { rpm: raw },
                Kind::Fan => continue,
            };
            readings.push(SensorReading {
                chip: s.chip.clone(),
                sensor: s.sensor.clone(),
                value,
            });
        }
        if vanished {
            self.scanned = None;
        }
        readings
    }
}

/// A file holding one number (an integer in sysfs), trimmed.
fn read_number(path: &Path, buf: &mut String) -> Option<f64> {
    crate::procfs::read_into(path, buf).ok()?;
    buf.trim().parse::<i64>().ok().map(|v| v as f64)
}

fn read_text(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The entries of `dir` whose names start with `prefix`, in numeric order
/// of what follows (`hwmon2` before `hwmon10`).
fn numbered(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Finds every temperature and fan input under `sys`.
fn scan(sys: &Path) -> Vec<Sensor> {
    let mut chips = Vec::new();
    for (n, dir) in numbered(&sys.join("class/hwmon"), "hwmon") {
        // Old drivers keep their attributes in the device's directory.
        let attrs = if dir.join("name").exists() {
            dir.clone()
        } else {
            dir.join("device")
        };
        let Some(name) = read_text(&attrs.join("name")) else {
            continue;
        };
        let device = std::fs::read_link(dir.join("device"))
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("hwmon{n}"));
        chips.push((name, device, attrs));
    }
    let mut sensors = Vec::new();
    for (name, device, attrs) in &chips {
        let shared = chips.iter().filter(|(other, _, _)| other == name).count() > 1;
        let chip = if shared {
            format!("{name}-{device}")
        } else {
            name.clone()
        };
        sensors.extend(chip_sensors(&chip, attrs));
    }
    for (n, zone) in numbered(&sys.join("class/thermal"), "thermal_zone") {
        if let Some(sensor) = thermal_zone(n, &zone) {
            sensors.push(sensor);
        }
    }
    sensors
}

/// The `temp*_input` and `fan*_input` files of one hwmon chip, in order.
fn chip_sensors(chip: &str, attrs: &Path) -> Vec<Sensor> {
    let Ok(entries) = std::fs::read_dir(attrs) else {
        return Vec::new();
    };
    let mut inputs: Vec<(bool, u32, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix("_input")?;
            let (fan, n) = if let Some(n) = stem.strip_prefix("temp") {
                (false, n)
            } else {
                (true, stem.strip_prefix("fan")?)
            };
            Some((fan, n.parse().ok()?, stem.to_owned()))
        })
        .collect();
    inputs.sort();
    inputs
        .into_iter()
        .map(|(fan, _, stem)| {
            let label = read_text(&attrs.join(format!("{stem}_label")))
                .filter(|l| monitor_core::model::is_valid_label_value(l))
                .unwrap_or_else(|| stem.clone());
            let kind = if fan {
                Kind::Fan
            } else {
                let critical = std::fs::read_to_string(attrs.join(format!("{stem}_crit")))
                    .ok()
                    .and_then(|t| t.trim().parse::<i64>().ok())
                    .map(|v| v as f64 / 1000.0)
                    .filter(plausible_critical);
                Kind::Temperature { critical }
            };
            Sensor {
                chip: chip.to_owned(),
                sensor: label,
                input: attrs.join(format!("{stem}_input")),
                kind,
            }
        })
        .collect()
}

/// A critical threshold a driver means: above freezing and plausible (some
/// report 0 or a register's maximum when there is none).
fn plausible_critical(c: &f64) -> bool {
    *c > 0.0 && *c <= *PLAUSIBLE_CELSIUS.end()
}

/// A thermal zone not also registered as a hwmon device.
fn thermal_zone(n: u32, zone: &Path) -> Option<Sensor> {
    let also_hwmon = std::fs::read_dir(zone)
        .ok()?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("hwmon"));
    if also_hwmon {
        return None;
    }
    let kind =
        read_text(&zone.join("type")).filter(|t| monitor_core::model::is_valid_label_value(t))?;
    let critical = critical_trip(zone);
    Some(Sensor {
        chip: format!("thermal_zone{n}"),
        sensor: kind,
        input: zone.join("temp"),
        kind: Kind::Temperature { critical },
    })
}

/// The temperature of a zone's `critical` trip point, if it has one.
fn critical_trip(zone: &Path) -> Option<f64> {
    (0..32).find_map(|i| {
        let kind = read_text(&zone.join(format!("trip_point_{i}_type")))?;
        if kind != "critical" {
            return None;
        }
        let temp: i64 = read_text(&zone.join(format!("trip_point_{i}_temp")))?
            .parse()
            .ok()?;
        Some(temp as f64 / 1000.0).filter(plausible_critical)
    })
}

#[async_trait]
impl Collector for SensorsCollector {
    fn name(&self) -> &str {
        "sensors"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let celsius = Unit::new("celsius");
        let mut c = Collection::new();
        for r in self.read() {
            let labels = Labels::new()
                .with(names::label::CHIP, r.chip.as_str())
                .with(names::label::SENSOR, r.sensor.as_str());
            match r.value {
                SensorValue::Temperature {
                    celsius: t,
                    critical,
                } => {
                    c.gauge(
                        names::SENSOR_TEMPERATURE_CELSIUS,
                        celsius.clone(),
                        labels.clone(),
                        t,
                    );
                    if let Some(critical) = critical {
                        c.gauge(
                            names::SENSOR_TEMPERATURE_CRITICAL_CELSIUS,
                            celsius.clone(),
                            labels.clone(),
                            critical,
                        );
                        c.gauge(
                            names::SENSOR_TEMPERATURE_HEADROOM_CELSIUS,
                            celsius.clone(),
                            labels,
                            critical - t,
                        );
                    }
                }
                SensorValue::Fan { rpm } => {
                    c.gauge(names::SENSOR_FAN_RPM, Unit::new("rpm"), labels, rpm);
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path relative to `root`, content) and returns `root`.
    fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("monitor-sensors-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, content) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        root
    }

    fn link(root: &Path, target: &str, link: &str) {
        let link = root.join(link);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(root.join(target), link).unwrap();
    }

    fn collector(root: &Path) -> SensorsCollector {
        SensorsCollector::new(HostPaths {
            sys: root.to_owned(),
            ..HostPaths::default()
        })
    }

    fn temperature(celsius: f64, critical: Option<f64>) -> SensorValue {
        SensorValue::Temperature { celsius, critical }
    }

    fn reading(chip: &str, sensor: &str, value: SensorValue) -> SensorReading {
        SensorReading {
            chip: chip.into(),
            sensor: sensor.into(),
            value,
        }
    }

    /// The layout of a two-socket Intel server with an NVMe disk, an ACPI
    /// thermal zone registered as hwmon, a Super I/O chip with fans, and a
    /// thermal zone of its own: the kernel's sysfs ABI
    /// (Documentation/hwmon/sysfs-interface.rst, Documentation/ABI/testing/sysfs-class-thermal).
    #[test]
    fn a_server_with_two_sockets_nvme_fans_and_thermal_zones() {
        let root = tree(
            "server",
            &[
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/name",
                    "coretemp\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp1_label",
                    "Package id 0\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp1_input",
                    "52000\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp1_crit",
                    "100000\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp1_max",
                    "90000\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp2_label",
                    "Core 0\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp2_input",
                    "97000\n",
                ),
                (
                    "devices/platform/coretemp.0/hwmon/hwmon1/temp2_crit",
                    "100000\n",
                ),
                (
                    "devices/platform/coretemp.1/hwmon/hwmon2/name",
                    "coretemp\n",
                ),
                (
                    "devices/platform/coretemp.1/hwmon/hwmon2/temp1_label",
                    "Package id 1\n",
                ),
                (
                    "devices/platform/coretemp.1/hwmon/hwmon2/temp1_input",
                    "48500\n",
                ),
                (
                    "devices/platform/coretemp.1/hwmon/hwmon2/temp1_crit",
                    "100000\n",
                ),
                ("devices/pci0000:00/nvme/nvme0/hwmon10/name", "nvme\n"),
                (
                    "devices/pci0000:00/nvme/nvme0/hwmon10/temp1_label",
                    "Composite\n",
                ),
                (
                    "devices/pci0000:00/nvme/nvme0/hwmon10/temp1_input",
                    "38850\n",
                ),
                (
                    "devices/pci0000:00/nvme/nvme0/hwmon10/temp1_crit",
                    "84850\n",
                ),
                // No sensor behind it: reads fail with EIO on real hardware.
                (
                    "devices/pci0000:00/nvme/nvme0/hwmon10/temp2_input",
                    "oops\n",
                ),
                (
                    "devices/virtual/thermal/thermal_zone0/hwmon0/name",
                    "acpitz\n",
                ),
                (
                    "devices/virtual/thermal/thermal_zone0/hwmon0/temp1_input",
                    "27800\n",
                ),
                (
                    "devices/virtual/thermal/thermal_zone0/hwmon0/temp1_crit",
                    "119000\n",
                ),
                ("devices/virtual/thermal/thermal_zone0/type", "acpitz\n"),
                ("devices/virtual/thermal/thermal_zone0/temp", "27800\n"),
                (
                    "devices/virtual/thermal/thermal_zone1/type",
                    "x86_pkg_temp\n",
                ),
                ("devices/virtual/thermal/thermal_zone1/temp", "53000\n"),
                (
                    "devices/virtual/thermal/thermal_zone1/trip_point_0_type",
                    "passive\n",
                ),
                (
                    "devices/virtual/thermal/thermal_zone1/trip_point_0_temp",
                    "90000\n",
                ),
                (
                    "devices/virtual/thermal/thermal_zone1/trip_point_1_type",
                    "critical\n",
                ),
                (
                    "devices/virtual/thermal/thermal_zone1/trip_point_1_temp",
                    "105000\n",
                ),
                // An old driver: the attributes are in the device's directory.
                ("devices/platform/nct6775.656/name", "nct6775\n"),
                ("devices/platform/nct6775.656/fan1_label", "CPU fan\n"),
                ("devices/platform/nct6775.656/fan1_input", "1250\n"),
                ("devices/platform/nct6775.656/fan2_input", "0\n"),
                // "No sensor" values and a bogus critical threshold.
                ("devices/platform/nct6775.656/temp1_input", "-128000\n"),
                ("devices/platform/nct6775.656/temp2_input", "41000\n"),
                ("devices/platform/nct6775.656/temp2_crit", "0\n"),
                (
                    "devices/platform/nct6775.656/hwmon/hwmon3/power/async",
                    "disabled\n",
                ),
            ],
        );
        link(
            &root,
            "devices/virtual/thermal/thermal_zone0/hwmon0",
            "class/hwmon/hwmon0",
        );
        link(
            &root,
            "devices/platform/coretemp.0/hwmon/hwmon1",
            "class/hwmon/hwmon1",
        );
        link(
            &root,
            "devices/platform/coretemp.1/hwmon/hwmon2",
            "class/hwmon/hwmon2",
        );
        link(
            &root,
            "devices/platform/nct6775.656/hwmon/hwmon3",
            "class/hwmon/hwmon3",
        );
        link(
            &root,
            "devices/pci0000:00/nvme/nvme0/hwmon10",
            "class/hwmon/hwmon10",
        );
        link(
            &root,
            "devices/platform/coretemp.0",
            "devices/platform/coretemp.0/hwmon/hwmon1/device",
        );
        link(
            &root,
            "devices/platform/coretemp.1",
            "devices/platform/coretemp.1/hwmon/hwmon2/device",
        );
        link(
            &root,
            "devices/platform/nct6775.656",
            "devices/platform/nct6775.656/hwmon/hwmon3/device",
        );
        link(
            &root,
            "devices/pci0000:00/nvme/nvme0",
            "devices/pci0000:00/nvme/nvme0/hwmon10/device",
        );
        link(
            &root,
            "devices/virtual/thermal/thermal_zone0",
            "class/thermal/thermal_zone0",
        );
        link(
            &root,
            "devices/virtual/thermal/thermal_zone1",
            "class/thermal/thermal_zone1",
        );

        let mut c = collector(&root);
        assert_eq!(
            c.read(),
            [
                reading("acpitz", "temp1", temperature(27.8, Some(119.0))),
                reading(
                    "coretemp-coretemp.0",
                    "Package id 0",
                    temperature(52.0, Some(100.0))
                ),
                reading(
                    "coretemp-coretemp.0",
                    "Core 0",
                    temperature(97.0, Some(100.0))
                ),
                reading(
                    "coretemp-coretemp.1",
                    "Package id 1",
                    temperature(48.5, Some(100.0))
                ),
                reading("nct6775", "temp2", temperature(41.0, None)),
                reading("nct6775", "CPU fan", SensorValue::Fan { rpm: 1250.0 }),
                reading("nct6775", "fan2", SensorValue::Fan { rpm: 0.0 }),
                reading("nvme", "Composite", temperature(38.85, Some(84.85))),
                reading(
                    "thermal_zone1",
                    "x86_pkg_temp",
                    temperature(53.0, Some(105.0))
                ),
            ]
        );

        // Between scans only the inputs are read.
        std::fs::write(
            root.join("devices/platform/coretemp.0/hwmon/hwmon1/temp2_input"),
            "99000\n",
        )
        .unwrap();
        std::fs::write(
            root.join("devices/platform/coretemp.0/hwmon/hwmon1/temp2_crit"),
            "50000\n",
        )
        .unwrap();
        let now = c.read();
        assert_eq!(
            now[2],
            reading(
                "coretemp-coretemp.0",
                "Core 0",
                temperature(99.0, Some(100.0))
            )
        );

        // A chip that goes away makes the next read scan again.
        std::fs::remove_dir_all(root.join("devices/pci0000:00/nvme")).unwrap();
        assert_eq!(c.read().len(), 8);
        let after = c.read();
        assert_eq!(after.len(), 8);
        assert_eq!(
            after[2],
            reading(
                "coretemp-coretemp.0",
                "Core 0",
                temperature(99.0, Some(50.0))
            )
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[tokio::test]
    async fn metrics_carry_chip_and_sensor() {
        let root = tree(
            "metrics",
            &[
                ("class/hwmon/hwmon0/name", "k10temp\n"),
                ("class/hwmon/hwmon0/temp1_label", "Tctl\n"),
                ("class/hwmon/hwmon0/temp1_input", "88250\n"),
                ("class/hwmon/hwmon0/temp1_crit", "90000\n"),
                ("class/hwmon/hwmon1/name", "amdgpu\n"),
                ("class/hwmon/hwmon1/fan1_input", "2100\n"),
            ],
        );
        let ctx = CollectContext::new(monitor_core::Timestamp::now(), Duration::from_secs(5));
        let got = collector(&root).collect(&ctx).await.unwrap();
        let value = |metric: &str, chip: &str, sensor: &str| {
            let labels = Labels::new().with("chip", chip).with("sensor", sensor);
            got.families
                .iter()
                .find(|f| f.name == metric)
                .and_then(|f| f.samples.iter().find(|s| s.labels == labels))
                .map(|s| s.value)
        };
        assert_eq!(
            value("sensor_temperature_celsius", "k10temp", "Tctl"),
            Some(88.25)
        );
        assert_eq!(
            value("sensor_temperature_critical_celsius", "k10temp", "Tctl"),
            Some(90.0)
        );
        assert_eq!(
            value("sensor_temperature_headroom_celsius", "k10temp", "Tctl"),
            Some(1.75)
        );
        assert_eq!(value("sensor_fan_rpm", "amdgpu", "fan1"), Some(2100.0));
        let _ = std::fs::remove_dir_all(&root);

        // No sensors at all (a virtual machine): nothing, and no error.
        let empty = tree("none", &[("class/.keep", "")]);
        assert!(
            collector(&empty)
                .collect(&ctx)
                .await
                .unwrap()
                .families
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(&empty);
    }
}
