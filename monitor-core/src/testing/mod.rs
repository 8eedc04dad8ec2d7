//! Test support for plugin authors and for this workspace, behind the
//! `testing` feature:
//!
//! - conformance suites that any implementation of a trait must pass, one
//!   line each in your tests: [`store::conformance`] (or [`store::Suite`]
//!   for a store with rollups), [`catalog::conformance`],
//!   [`collector::conformance`], [`notifier::conformance`],
//!   [`exporter::conformance`] (the built-in implementations run them too);
//! - in-memory doubles: [`MemoryStore`] (a complete store and catalog,
//!   which passes both suites; [`MemoryStore::stall`] makes it hang, to
//!   test timeouts),
//!   [`StaticCollector`], [`RecordingNotifier`],
//!   [`RecordingExporter`];
//! - a deterministic generator ([`Rng`]) and a realistic host report
//!   ([`report`]) for benchmarks.
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     let store = MyStore::default();
//!     monitor_core::testing::store::conformance(&store).await;
//! }
//! ```

pub mod catalog;
pub mod collector;
mod doubles;
pub mod exporter;
mod memory;
pub mod notifier;
pub mod store;

pub use doubles::{RecordingExporter, RecordingNotifier, StaticCollector};
pub use memory::{MemoryStore, Stall};

use crate::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit};

/// A small deterministic generator (xorshift), so a test failure or a
/// benchmark run reproduces exactly.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A percentage with two decimals, `0.00` to `99.99`.
    pub fn percent(&mut self) -> f64 {
        (self.next_u64() % 10_000) as f64 / 100.0
    }
}

/// A realistic host report of 52 samples (4 cores, 3 filesystems, 2
/// interfaces, 5 containers) for server `server` at `t` (ms), the `i`-th of
/// its series: counters grow with `i`, gauges wander. Benchmarks and load
/// tests use it.
///
/// # Panics
/// When `server` is not a valid server id.
pub fn report(server: &str, t: i64, i: i64, rng: &mut Rng) -> Snapshot {
    let mut c = Collection::new();
    let none = Labels::new;
    c.gauge("cpu_usage_percent", Unit::PERCENT, none(), rng.percent());
    for core in 0..4 {
        c.gauge(
            "cpu_usage_percent",
            Unit::PERCENT,
            none().with("cpu", core.to_string()),
            rng.percent(),
        );
    }
    for name in [
        "cpu_user_percent",
        "cpu_system_percent",
        "cpu_iowait_percent",
        "cpu_steal_percent",
    ] {
        c.gauge(name, Unit::PERCENT, none(), rng.percent() / 10.0);
    }
    c.gauge("memory_total_bytes", Unit::BYTES, none(), 16e9);
    c.gauge(
        "memory_used_bytes",
        Unit::BYTES,
        none(),
        ((1_000_000 + rng.next_u64() % 10_000) * 4096) as f64,
    );
    c.gauge(
        "memory_available_bytes",
        Unit::BYTES,
        none(),
        ((2_000_000 + rng.next_u64() % 10_000) * 4096) as f64,
    );
    c.gauge(
        "memory_cached_bytes",
        Unit::BYTES,
        none(),
        ((500_000 + rng.next_u64() % 1000) * 4096) as f64,
    );
    c.gauge("memory_used_percent", Unit::PERCENT, none(), rng.percent());
    c.gauge("load_average_1m", Unit::NONE, none(), rng.percent() / 10.0);
    for fs in ["/", "/home", "/var"] {
        let l = none().with("mountpoint", fs);
        c.gauge("filesystem_size_bytes", Unit::BYTES, l.clone(), 1e11);
        c.gauge(
            "filesystem_avail_bytes",
            Unit::BYTES,
            l.clone(),
            (50_000_000 - i) as f64 * 4096.0,
        );
        c.gauge(
            "filesystem_used_percent",
            Unit::PERCENT,
            l,
            40.0 + (i / 1000) as f64,
        );
    }
    for nic in ["eth0", "eth1"] {
        let l = none().with("interface", nic);
        c.gauge(
            "network_receive_bytes_per_second",
            Unit::BYTES_PER_SECOND,
            l.clone(),
            (rng.next_u64() % 100_000) as f64,
        );
        c.gauge(
            "network_transmit_bytes_per_second",
            Unit::BYTES_PER_SECOND,
            l.clone(),
            (rng.next_u64() % 100_000) as f64,
        );
        c.counter(
            "network_receive_bytes_total",
            Unit::BYTES,
            l.clone(),
            (i * 50_000) as f64,
        );
        c.counter(
            "network_transmit_bytes_total",
            Unit::BYTES,
            l,
            (i * 40_000) as f64,
        );
    }
    for k in 0..5 {
        let l = none().with("name", format!("app-{k}"));
        c.gauge(
            "container_cpu_percent",
            Unit::PERCENT,
            l.clone(),
            rng.percent(),
        );
        c.gauge(
            "container_memory_usage_bytes",
            Unit::BYTES,
            l.clone(),
            ((50_000 + rng.next_u64() % 500) * 4096) as f64,
        );
        c.gauge("container_running", Unit::NONE, l.clone(), 1.0);
        c.counter(
            "container_network_receive_bytes_total",
            Unit::BYTES,
            l,
            (i * 1000) as f64,
        );
    }
    let id = ServerId::new(server).unwrap_or_else(|e| panic!("report for {server:?}: {e}"));
    Snapshot::new(id, Timestamp::from_millis(t), c)
}
