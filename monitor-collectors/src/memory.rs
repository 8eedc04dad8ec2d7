//! Memory and swap, from `/proc/meminfo`.
//!
//! Read directly rather than through sysinfo: sysinfo has no cached or
//! buffers figure, and one read of this file gives every value.

use async_trait::async_trait;
use monitor_core::host::MemoryMetrics;
use monitor_core::{CollectContext, CollectError, Collection, Collector};

use crate::procfs::{self, HostPaths};

/// Collects total, used, free, available, cached, buffers and swap memory.
///
/// `used` is total minus available, as `free` (procps ≥ 4) and most
/// dashboards count it; `cached` is page cache plus reclaimable slab, as
/// `free` shows it.
#[derive(Debug, Default)]
pub struct MemoryCollector {
    paths: HostPaths,
    buf: String,
}

impl MemoryCollector {
    /// A collector reading `/proc/meminfo` under `paths`.
    pub fn new(paths: HostPaths) -> Self {
        MemoryCollector {
            paths,
            buf: String::new(),
        }
    }

    /// Reads the current values.
    ///
    /// # Errors
    /// [`CollectError::Io`] or [`CollectError::Parse`] when the file is
    /// missing or malformed.
    pub fn read(&mut self) -> Result<MemoryMetrics, CollectError> {
        let path = self.paths.proc("meminfo");
        procfs::read_into(&path, &mut self.buf)?;
        let m = procfs::parse_meminfo(&self.buf)
            .map_err(|e| CollectError::parse(path.display().to_string(), e))?;
        // Kernels before 3.14 lack MemAvailable: estimate it as free does.
        let available = m
            .available
            .unwrap_or(m.free + m.buffers + m.cached)
            .min(m.total);
        Ok(MemoryMetrics {
            total_bytes: m.total,
            used_bytes: m.total - available,
            free_bytes: m.free,
            available_bytes: available,
            cached_bytes: m.cached + m.sreclaimable,
            buffers_bytes: m.buffers,
            swap_total_bytes: m.swap_total,
            swap_used_bytes: m.swap_total.saturating_sub(m.swap_free),
        })
    }
}

#[async_trait]
impl Collector for MemoryCollector {
    fn name(&self) -> &str {
        "memory"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let mut out = Collection::new();
        self.read()?.write_to(&mut out);
        Ok(out)
    }
}
