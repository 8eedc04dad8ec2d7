//! Network interfaces, from `/proc/net/dev`.
//!
//! Read directly rather than through sysinfo: sysinfo reads several files
//! per interface under `/sys/class/net`, `/proc/net/dev` has them all in one.

use std::time::Instant;

use async_trait::async_trait;
use monitor_core::host::IoMetrics;
use monitor_core::{CollectContext, CollectError, Collection, Collector};

use crate::procfs::{self, HostPaths};
use crate::rates::Rates;

/// Which interfaces the network collector skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Interfaces skipped by exact name (default `lo`).
    pub exclude: Vec<String>,
    /// Interfaces skipped by name prefix (default `veth`: the host side of
    /// container links, whose traffic the Docker collector reports per
    /// container).
    pub exclude_prefixes: Vec<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            exclude: vec!["lo".into()],
            exclude_prefixes: vec!["veth".into()],
        }
    }
}

/// Collects received and sent bytes per second and error counts per interface.
#[derive(Debug, Default)]
pub struct NetworkCollector {
    paths: HostPaths,
    config: NetworkConfig,
    buf: String,
    rates: Rates<4>,
}

impl NetworkCollector {
    /// A collector with the given rules, reading `/proc/net/dev` under `paths`.
    pub fn new(paths: HostPaths, config: NetworkConfig) -> Self {
        NetworkCollector {
            paths,
            config,
            buf: String::new(),
            rates: Rates::default(),
        }
    }

    /// Counters and rates of every reported interface (rates are 0 on the
    /// first call).
    ///
    /// # Errors
    /// [`CollectError::Io`] when the file cannot be read.
    pub fn read(&mut self) -> Result<Vec<IoMetrics>, CollectError> {
        let now = Instant::now();
        let path = self.paths.proc("net/dev");
        procfs::read_into(&path, &mut self.buf)?;
        let devices = procfs::parse_net_dev(&self.buf);
        let config = &self.config;
        let counters = devices
            .iter()
            .filter(|d| {
                !config.exclude.contains(&d.name)
                    && !config
                        .exclude_prefixes
                        .iter()
                        .any(|p| d.name.starts_with(p.as_str()))
            })
            .map(|d| {
                (
                    d.name.as_str(),
                    [d.rx_bytes, d.tx_bytes, d.rx_errors, d.tx_errors],
                )
            });
        Ok(self
            .rates
            .update(now, counters)
            .into_iter()
            .map(|(name, c, rate)| IoMetrics {
                name,
                in_bytes_total: c[0],
                out_bytes_total: c[1],
                in_errors_total: c[2],
                out_errors_total: c[3],
                in_bytes_per_second: rate.map_or(0.0, |r| r[0]),
                out_bytes_per_second: rate.map_or(0.0, |r| r[1]),
            })
            .collect())
    }
}

#[async_trait]
impl Collector for NetworkCollector {
    fn name(&self) -> &str {
        "network"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let mut out = Collection::new();
        for interface in self.read()? {
            interface.write_network_to(&mut out);
        }
        Ok(out)
    }
}
