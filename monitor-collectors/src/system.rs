//! Host facts (name, OS, kernel, architecture), uptime and boot time, through
//! sysinfo.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::{
    CollectContext, CollectError, Collection, Collector, HostInfo, Labels, Timestamp, Unit, names,
};
use sysinfo::System;

/// How often the facts that rarely change (OS name, kernel) are read again.
const FACTS_REFRESH: Duration = Duration::from_secs(600);

/// Collects the host name, OS and kernel version, architecture, uptime and
/// boot time.
///
/// Uses sysinfo's static functions, which read only what they report (no
/// process or disk scan). The host name is read on every call (it can
/// change); the rest every ten minutes.
#[derive(Debug, Default)]
pub struct SystemCollector {
    facts: Option<(HostInfo, Instant)>,
}

impl SystemCollector {
    /// A new collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The host facts, refreshed as described above.
    pub fn host_info(&mut self) -> HostInfo {
        let now = Instant::now();
        let stale = self
            .facts
            .as_ref()
            .is_none_or(|(_, at)| now.duration_since(*at) >= FACTS_REFRESH);
        if stale {
            let info = HostInfo {
                hostname: String::new(),
                os: System::long_os_version().unwrap_or_default(),
                kernel: System::kernel_version().unwrap_or_default(),
                arch: System::cpu_arch(),
                boot_time: System::boot_time()
                    .ok()
                    .map(|secs| Timestamp::from_secs(secs as i64)),
                agent_version: String::new(),
            };
            self.facts = Some((info, now));
        }
        let mut info = self
            .facts
            .as_ref()
            .map(|(info, _)| info.clone())
            .unwrap_or_default();
        info.hostname = System::host_name().unwrap_or_default();
        info
    }
}

#[async_trait]
impl Collector for SystemCollector {
    fn name(&self) -> &str {
        "system"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let mut out = Collection::new();
        let info = self.host_info();
        if let Ok(uptime) = System::uptime() {
            out.gauge(
                names::SYSTEM_UPTIME_SECONDS,
                Unit::SECONDS,
                Labels::new(),
                uptime as f64,
            );
        }
        if let Some(boot) = info.boot_time {
            out.gauge(
                names::SYSTEM_BOOT_TIME_SECONDS,
                Unit::SECONDS,
                Labels::new(),
                boot.as_secs_f64(),
            );
        }
        out.host = Some(info);
        Ok(out)
    }
}
