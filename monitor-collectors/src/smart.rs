//! Disk health from S.M.A.R.T., read with `smartctl --json` (smartmontools
//! 7 or later) when it is installed.
//!
//! `smartctl --scan-open --json` finds the disks (again every
//! [`SmartConfig::scan_every`]); each disk is then read with `smartctl
//! --json --info --health --attributes --nocheck=standby`, at most every
//! [`SmartConfig::read_every`] (10 min): S.M.A.R.T. values change slowly,
//! and a read costs a few milliseconds of the disk's firmware. A disk in
//! standby is not woken: it keeps its last values. The reads run in a task
//! of their own, so a slow disk never holds up a collection, which reports
//! each disk's last read.
//!
//! Metrics, labelled with the disk's `device` (`sda`, `nvme0`):
//! `disk_smart_healthy` (1 when the overall health self-assessment passed,
//! 0 when it failed), `disk_temperature_celsius`,
//! `disk_reallocated_sectors` and `disk_pending_sectors` (ATA attributes 5
//! and 197, raw values), `disk_wear_percent` (NVMe "percentage used": 100
//! is the rated endurance, and it may go past it), and `disk_smart_info`
//! (1, with `model` and `serial`).
//!
//! Without smartctl the collector reports nothing and says so once in the
//! log; reading disks needs root (or the capabilities `CAP_SYS_RAWIO` and
//! `CAP_SYS_ADMIN`), and a refusal is logged once too.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::model::MAX_LABEL_VALUE_LEN;
use monitor_core::{CollectContext, CollectError, Collection, Collector, Labels, Unit, names};
use serde::Deserialize;

use crate::processes::visible;

/// Where smartctl is, and how often to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartConfig {
    /// The smartctl program (`smartctl`, found in `PATH`).
    pub program: String,
    /// Time between two reads of a disk (10 min).
    pub read_every: Duration,
    /// Time between two scans for disks (1 h).
    pub scan_every: Duration,
    /// Longest one smartctl run may take (30 s).
    pub timeout: Duration,
}

impl Default for SmartConfig {
    fn default() -> Self {
        SmartConfig {
            program: "smartctl".into(),
            read_every: Duration::from_secs(600),
            scan_every: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What one read of a disk gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiskHealth {
    /// The device's name without `/dev/` (`sda`, `nvme0`).
    pub device: String,
    /// Model name.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// The overall health self-assessment: `Some(false)` is a failing disk.
    pub passed: Option<bool>,
    /// Current temperature, °C.
    pub temperature: Option<f64>,
    /// ATA attribute 5, raw value.
    pub reallocated_sectors: Option<f64>,
    /// ATA attribute 197, raw value.
    pub pending_sectors: Option<f64>,
    /// NVMe "percentage used".
    pub wear_percent: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default)]
    smartctl: Option<Program>,
    #[serde(default)]
    devices: Vec<Device>,
    #[serde(default)]
    device: Option<Device>,
    #[serde(default)]
    model_name: Option<String>,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    smart_status: Option<Status>,
    #[serde(default)]
    temperature: Option<Temperature>,
    #[serde(default)]
    ata_smart_attributes: Option<Attributes>,
    #[serde(default)]
    nvme_smart_health_information_log: Option<NvmeLog>,
}

#[derive(Debug, Deserialize)]
struct Program {
    #[serde(default)]
    exit_status: i32,
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    string: String,
    #[serde(default)]
    severity: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Device {
    name: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    open_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    passed: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Temperature {
    current: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Attributes {
    #[serde(default)]
    table: Vec<Attribute>,
}

#[derive(Debug, Deserialize)]
struct Attribute {
    id: u32,
    raw: Option<Raw>,
}

#[derive(Debug, Deserialize)]
struct Raw {
    value: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct NvmeLog {
    percentage_used: Option<f64>,
    temperature: Option<f64>,
}

/// smartctl's exit status bits (its man page, "RETURN VALUES").
mod exit {
    /// The command line did not parse.
    pub(super) const COMMAND_LINE: i32 = 1;
    /// The device did not open, or is in standby (with `--nocheck`).
    pub(super) const OPEN: i32 = 2;
}

/// The disks of `smartctl --scan-open --json` that opened, as `(name,
/// type)`.
///
/// # Errors
/// What smartctl said when its output is not the expected JSON.
pub fn parse_scan(json: &[u8]) -> Result<Vec<Disk>, String> {
    scan(json).map(|(opened, _)| opened)
}

/// A disk to read: its name and smartctl's device type.
type Disk = (String, String);

/// The disks that opened, and `name: why` for those that did not.
fn scan(json: &[u8]) -> Result<(Vec<Disk>, Vec<String>), String> {
    let out: Output = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let mut opened = Vec::new();
    let mut refused = Vec::new();
    for d in out.devices {
        match d.open_error {
            Some(why) => refused.push(format!("{}: {why}", d.name)),
            None => opened.push((d.name, d.kind.unwrap_or_else(|| "auto".into()))),
        }
    }
    Ok((opened, refused))
}

/// One disk's health from `smartctl --json --info --health --attributes`;
/// `Ok(None)` when the disk is in standby (not woken).
///
/// # Errors
/// The output is not smartctl's JSON, smartctl refused its command line, or
/// the disk did not open (the message says why: `Operation not permitted`
/// for an agent that is not root).
pub fn parse_disk(json: &[u8]) -> Result<Option<DiskHealth>, String> {
    let out: Output = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let status = out.smartctl.as_ref().map_or(0, |p| p.exit_status);
    let errors: Vec<&str> = out
        .smartctl
        .iter()
        .flat_map(|p| p.messages.iter())
        .filter(|m| m.severity == "error")
        .map(|m| m.string.as_str())
        .collect();
    if status & exit::COMMAND_LINE != 0 {
        return Err(format!("smartctl refused: {}", errors.join("; ")));
    }
    if status & exit::OPEN != 0 {
        // In standby (an information, not an error): not woken.
        return if errors.is_empty() {
            Ok(None)
        } else {
            Err(errors.join("; "))
        };
    }
    let Some(device) = out.device else {
        return Err("no device in smartctl's output".into());
    };
    let attribute = |id: u32| {
        out.ata_smart_attributes
            .as_ref()?
            .table
            .iter()
            .find(|a| a.id == id)?
            .raw
            .as_ref()?
            .value
    };
    let nvme = out.nvme_smart_health_information_log.as_ref();
    Ok(Some(DiskHealth {
        device: device
            .name
            .strip_prefix("/dev/")
            .unwrap_or(&device.name)
            .to_owned(),
        model: out.model_name.clone().unwrap_or_default(),
        serial: out.serial_number.clone().unwrap_or_default(),
        passed: out.smart_status.as_ref().and_then(|s| s.passed),
        temperature: out
            .temperature
            .as_ref()
            .and_then(|t| t.current)
            .or_else(|| nvme.and_then(|n| n.temperature)),
        reallocated_sectors: attribute(5),
        pending_sectors: attribute(197),
        wear_percent: nvme.and_then(|n| n.percentage_used),
    }))
}

/// Reports disk health (see the module docs).
#[derive(Debug)]
pub struct SmartCollector {
    config: SmartConfig,
    disks: Arc<Mutex<Vec<DiskHealth>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SmartCollector {
    /// A collector running `config.program`.
    pub fn new(config: SmartConfig) -> Self {
        SmartCollector {
            config,
            disks: Arc::default(),
            task: None,
        }
    }
}

impl Drop for SmartCollector {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Runs smartctl with `args`; its standard output.
async fn smartctl(config: &SmartConfig, args: &[&str]) -> Result<Vec<u8>, String> {
    let child = tokio::process::Command::new(&config.program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{} is not installed (install smartmontools for disk health)",
                config.program
            ),
            _ => format!("{} cannot be started: {e}", config.program),
        })?;
    match tokio::time::timeout(config.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out.stdout),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "{} took more than {:?}",
            config.program, config.timeout
        )),
    }
}

/// The reading task: scans, reads each disk when due, publishes the last
/// reads. Logs each distinct problem once.
async fn run(config: SmartConfig, disks: Arc<Mutex<Vec<DiskHealth>>>) {
    let mut found: Vec<Disk> = Vec::new();
    let mut scanned: Option<Instant> = None;
    let mut told_refused = false;
    let mut last_problem = String::new();
    let mut problem = |text: String| {
        if text != last_problem {
            // Most hosts without smartmontools do not want disk health.
            if text.contains("is not installed") {
                tracing::info!(collector = "smart", "{text}");
            } else {
                tracing::warn!(collector = "smart", "{text}");
            }
            last_problem = text;
        }
    };
    loop {
        if scanned.is_none_or(|at| at.elapsed() >= config.scan_every) {
            scanned = Some(Instant::now());
            let scanned_now = smartctl(&config, &["--scan-open", "--json"])
                .await
                .and_then(|o| scan(&o));
            match scanned_now {
                Ok((devices, refused)) => {
                    found = devices;
                    // A disk that may not be opened (an agent that is not
                    // root): said once, not a warning.
                    if !refused.is_empty() && !told_refused {
                        told_refused = true;
                        tracing::info!(
                            collector = "smart",
                            "smartctl cannot open {}: run the agent as root or with CAP_SYS_RAWIO and CAP_SYS_ADMIN for their health",
                            refused.join(", ")
                        );
                    }
                }
                Err(e) => problem(e),
            }
        }
        let mut read = Vec::with_capacity(found.len());
        for (name, kind) in &found {
            let args = [
                "--json",
                "--info",
                "--health",
                "--attributes",
                "--nocheck=standby",
                "-d",
                kind.as_str(),
                name.as_str(),
            ];
            match smartctl(&config, &args).await.and_then(|o| parse_disk(&o)) {
                Ok(Some(disk)) => read.push(disk),
                // Asleep: keep what the last read said.
                Ok(None) => {
                    let short = name.strip_prefix("/dev/").unwrap_or(name);
                    let kept = disks
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .iter()
                        .find(|d| d.device == short)
                        .cloned();
                    read.extend(kept);
                }
                Err(e) => problem(format!("{name}: {e}")),
            }
        }
        *disks.lock().unwrap_or_else(PoisonError::into_inner) = read;
        tokio::time::sleep(config.read_every).await;
    }
}

#[async_trait]
impl Collector for SmartCollector {
    fn name(&self) -> &str {
        "smart"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        if self.task.is_none() {
            self.task = Some(tokio::spawn(run(
                self.config.clone(),
                Arc::clone(&self.disks),
            )));
        }
        let mut c = Collection::new();
        let disks = self.disks.lock().unwrap_or_else(PoisonError::into_inner);
        for d in disks.iter() {
            let labels = || Labels::new().with(names::label::DEVICE, d.device.as_str());
            if let Some(passed) = d.passed {
                let healthy = if passed { 1.0 } else { 0.0 };
                c.gauge(names::DISK_SMART_HEALTHY, Unit::NONE, labels(), healthy);
            }
            let values = [
                (
                    names::DISK_TEMPERATURE_CELSIUS,
                    Unit::new("celsius"),
                    d.temperature,
                ),
                (
                    names::DISK_REALLOCATED_SECTORS,
                    Unit::COUNT,
                    d.reallocated_sectors,
                ),
                (names::DISK_PENDING_SECTORS, Unit::COUNT, d.pending_sectors),
                (names::DISK_WEAR_PERCENT, Unit::PERCENT, d.wear_percent),
            ];
            for (name, unit, value) in values {
                if let Some(v) = value {
                    c.gauge(name, unit, labels(), v);
                }
            }
            let info = labels()
                .with("model", visible(&d.model, MAX_LABEL_VALUE_LEN))
                .with("serial", visible(&d.serial, MAX_LABEL_VALUE_LEN));
            c.gauge(names::DISK_SMART_INFO, Unit::NONE, info, 1.0);
        }
        Ok(c)
    }

    async fn shutdown(&mut self) -> Result<(), CollectError> {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        Ok(())
    }
}
