//! [`MeterBridge`]: the collectors' metrics as observable instruments of an
//! OpenTelemetry [`Meter`] of yours (feature `opentelemetry`), for an
//! application that already has a `MeterProvider` with its readers and
//! exporters: host metrics beside its own, through the pipeline it has.
//!
//! The bridge is an [`Exporter`]: give it to an [`Agent`](crate::Agent)
//! (`with_exporter`), which collects every interval; the instruments
//! observe the newest snapshot whenever the provider's reader collects.
//! Names, units, instruments and attributes follow the semantic
//! conventions as the OTLP exporter sends them ([`monitor_core::otel`]):
//! `system.memory.usage` with `system.memory.state`,
//! `system.cpu.utilization` as a 0–1 gauge, `system.network.io` as a
//! counter; a plugin's metric keeps its own name. Each instrument is
//! registered the first time its metric appears.
//!
//! ```no_run
//! use std::time::Duration;
//! use monitor_collectors::Agent;
//! use monitor_collectors::export::meter::MeterBridge;
//! use monitor_core::ServerId;
//! use opentelemetry::metrics::MeterProvider;
//!
//! # async fn run(provider: &dyn MeterProvider) -> Result<(), Box<dyn std::error::Error>> {
//! let bridge = MeterBridge::new(provider.meter("monitor-collectors"));
//! let mut agent = Agent::builder()
//!     .with_server_id(ServerId::new("this-host")?)
//!     .with_interval(Duration::from_secs(10))
//!     .with_builtin_collectors(&["memory", "cpu", "disk", "network"])
//!     .with_exporter(Box::new(bridge))
//!     .build()?;
//! agent.run(std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use monitor_core::names::Instrument;
use monitor_core::otel::{self, OtelMetric};
use monitor_core::{ExportError, Exporter, ServerId, Snapshot, Timestamp};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter};

/// The newest view of each server: when it was taken, and its metrics.
type Views = HashMap<ServerId, (Timestamp, Arc<Vec<OtelMetric>>)>;

/// Observes the newest snapshots through a [`Meter`] (see the module docs).
pub struct MeterBridge {
    meter: Meter,
    views: Arc<Mutex<Views>>,
    registered: Mutex<HashSet<String>>,
    host_attribute: bool,
}

impl std::fmt::Debug for MeterBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterBridge")
            .field("instruments", &lock(&self.registered).len())
            .field("host_attribute", &self.host_attribute)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MeterBridge {
    /// A bridge whose instruments belong to `meter`.
    pub fn new(meter: Meter) -> Self {
        MeterBridge {
            meter,
            views: Arc::default(),
            registered: Mutex::default(),
            host_attribute: false,
        }
    }

    /// Adds `host.id` (the server id) to every point: for a process that
    /// bridges the snapshots of many hosts (a server's exporter), whose
    /// meter's resource describes the process, not each host. Without it,
    /// the points describe the host of the meter's resource.
    pub fn with_host_attribute(mut self) -> Self {
        self.host_attribute = true;
        self
    }

    /// Registers the instrument of `metric`: its callback observes the
    /// points of that name in the newest view of every server.
    fn register(&self, metric: &OtelMetric) {
        let name = metric.name.clone();
        let views = Arc::clone(&self.views);
        let host_attribute = self.host_attribute;
        let observe = move |instrument: &dyn AsyncInstrument<f64>| {
            let views: Vec<(ServerId, Arc<Vec<OtelMetric>>)> = lock(&views)
                .iter()
                .map(|(id, (_, view))| (id.clone(), Arc::clone(view)))
                .collect();
            for (server, view) in views {
                for point in view
                    .iter()
                    .filter(|m| m.name == name)
                    .flat_map(|m| &m.points)
                {
                    let mut attributes: Vec<KeyValue> = point
                        .attributes
                        .iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                        .collect();
                    if host_attribute {
                        attributes.push(KeyValue::new("host.id", server.to_string()));
                    }
                    instrument.observe(point.value, &attributes);
                }
            }
        };
        let (name, unit, description) = (
            metric.name.clone(),
            metric.unit.clone(),
            metric.description.clone(),
        );
        match metric.instrument {
            Instrument::Gauge => {
                self.meter
                    .f64_observable_gauge(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(observe)
                    .build();
            }
            Instrument::UpDownCounter => {
                self.meter
                    .f64_observable_up_down_counter(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(observe)
                    .build();
            }
            Instrument::Counter => {
                self.meter
                    .f64_observable_counter(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(observe)
                    .build();
            }
        }
    }
}

#[async_trait]
impl Exporter for MeterBridge {
    fn name(&self) -> &str {
        "opentelemetry-meter"
    }

    /// Keeps the newest snapshot of each server for the instruments, and
    /// registers those of metrics seen for the first time.
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        for snapshot in snapshots {
            let view = otel::metrics(snapshot);
            {
                let mut registered = lock(&self.registered);
                for metric in &view {
                    if registered.insert(metric.name.clone()) {
                        self.register(metric);
                    }
                }
            }
            let mut views = lock(&self.views);
            let newer = views
                .get(&snapshot.server_id)
                .is_none_or(|(t, _)| *t <= snapshot.timestamp);
            if newer {
                views.insert(
                    snapshot.server_id.clone(),
                    (snapshot.timestamp, Arc::new(view)),
                );
            }
        }
        Ok(())
    }
}
