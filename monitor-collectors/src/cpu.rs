//! CPU use from `/proc/stat` deltas, load from `/proc/loadavg`.
//!
//! Read directly rather than through sysinfo: sysinfo reports neither
//! iowait nor steal, and one read of `/proc/stat` gives every CPU.

use async_trait::async_trait;
use monitor_core::host::CpuMetrics;
use monitor_core::{CollectContext, CollectError, Collection, Collector};

use crate::procfs::{self, CpuTimes, HostPaths, Stat};

/// Collects CPU usage (whole machine and per core), user, system, iowait and
/// steal percentages over the last interval, the core count and the load
/// averages.
///
/// Percentages are differences between two reads: the first call only takes
/// a baseline and reports the core count and load.
#[derive(Debug, Default)]
pub struct CpuCollector {
    paths: HostPaths,
    buf: String,
    previous: Option<Stat>,
}

/// Percentages of one CPU line between two reads.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shares {
    busy: f64,
    user: f64,
    system: f64,
    iowait: f64,
    steal: f64,
}

fn shares(now: &CpuTimes, before: &CpuTimes) -> Option<Shares> {
    let total = now.total().checked_sub(before.total())?;
    if total == 0 {
        return None;
    }
    let d = |a: u64, b: u64| a.saturating_sub(b) as f64 * 100.0 / total as f64;
    let idle = d(now.idle, before.idle) + d(now.iowait, before.iowait);
    Some(Shares {
        busy: (100.0 - idle).clamp(0.0, 100.0),
        user: d(now.user, before.user) + d(now.nice, before.nice),
        system: d(now.system, before.system)
            + d(now.irq, before.irq)
            + d(now.softirq, before.softirq),
        iowait: d(now.iowait, before.iowait),
        steal: d(now.steal, before.steal),
    })
}

impl CpuCollector {
    /// A collector reading `/proc/stat` and `/proc/loadavg` under `paths`.
    pub fn new(paths: HostPaths) -> Self {
        CpuCollector {
            paths,
            buf: String::new(),
            previous: None,
        }
    }

    /// Reads the current values; `None` on the first call (baseline only).
    ///
    /// # Errors
    /// [`CollectError::Io`] or [`CollectError::Parse`] when a file is missing
    /// or malformed.
    pub fn read(&mut self) -> Result<(u32, [f64; 3], Option<CpuMetrics>), CollectError> {
        let path = self.paths.proc("stat");
        procfs::read_into(&path, &mut self.buf)?;
        let stat = procfs::parse_stat(&self.buf)
            .map_err(|e| CollectError::parse(path.display().to_string(), e))?;
        let count = stat.per_cpu.len() as u32;

        let path = self.paths.proc("loadavg");
        procfs::read_into(&path, &mut self.buf)?;
        let mut load = [0.0; 3];
        let mut fields = self.buf.split_ascii_whitespace();
        for slot in load.iter_mut() {
            *slot = fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| {
                CollectError::parse(path.display().to_string(), "no load average")
            })?;
        }

        let metrics = self.previous.as_ref().and_then(|before| {
            let total = shares(&stat.total, &before.total)?;
            let per_core_percent = stat
                .per_cpu
                .iter()
                .map(|(n, times)| {
                    let busy = before
                        .per_cpu
                        .iter()
                        .find(|(m, _)| m == n)
                        .and_then(|(_, b)| shares(times, b))
                        .map_or(0.0, |s| s.busy);
                    (*n as u32, busy)
                })
                .collect();
            Some(CpuMetrics {
                usage_percent: total.busy,
                per_core_percent,
                user_percent: total.user,
                system_percent: total.system,
                iowait_percent: total.iowait,
                steal_percent: total.steal,
                count,
                load_average: load,
            })
        });
        self.previous = Some(stat);
        Ok((count, load, metrics))
    }
}

#[async_trait]
impl Collector for CpuCollector {
    fn name(&self) -> &str {
        "cpu"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let mut out = Collection::new();
        match self.read()? {
            (_, _, Some(metrics)) => metrics.write_to(&mut out),
            (count, load, None) => {
                // Baseline only: what needs no delta.
                use monitor_core::{Labels, Unit, names};
                out.gauge(
                    names::CPU_LOGICAL_CORES,
                    Unit::COUNT,
                    Labels::new(),
                    f64::from(count),
                );
                out.gauge(names::LOAD_AVERAGE_1M, Unit::NONE, Labels::new(), load[0]);
                out.gauge(names::LOAD_AVERAGE_5M, Unit::NONE, Labels::new(), load[1]);
                out.gauge(names::LOAD_AVERAGE_15M, Unit::NONE, Labels::new(), load[2]);
            }
        }
        if let Some(stat) = &self.previous {
            write_seconds(&stat.total, &mut out);
        }
        Ok(out)
    }
}

/// `cpu_seconds_total{mode}` from the machine-wide line: counters need no
/// delta, so the first collection has them too.
fn write_seconds(times: &CpuTimes, out: &mut Collection) {
    use monitor_core::{Labels, Unit, names, names::label};
    // USER_HZ: the unit of /proc/stat, 100 on every Linux port but a few.
    let hz = rustix::param::clock_ticks_per_second() as f64;
    if hz <= 0.0 {
        return;
    }
    for (mode, ticks) in [
        ("user", times.user),
        ("nice", times.nice),
        ("system", times.system),
        ("idle", times.idle),
        ("iowait", times.iowait),
        ("irq", times.irq),
        ("softirq", times.softirq),
        ("steal", times.steal),
    ] {
        out.counter(
            names::CPU_SECONDS_TOTAL,
            Unit::SECONDS,
            Labels::new().with(label::MODE, mode),
            ticks as f64 / hz,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_from_deltas() {
        let before = CpuTimes {
            user: 100,
            idle: 100,
            ..Default::default()
        };
        let now = CpuTimes {
            user: 130,
            nice: 10,
            system: 10,
            idle: 140,
            iowait: 5,
            steal: 5,
            ..Default::default()
        };
        let s = shares(&now, &before).unwrap();
        assert_eq!(s.busy, 55.0);
        assert_eq!(s.user, 40.0);
        assert_eq!(s.system, 10.0);
        assert_eq!(s.iowait, 5.0);
        assert_eq!(s.steal, 5.0);
        assert_eq!(shares(&before, &before), None);
    }
}
