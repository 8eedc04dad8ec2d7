//! Snapshots as Prometheus metrics (the `prometheus` crate's data model and
//! text encoder): what the agent's `/metrics` (`--listen`) and the server's
//! `/metrics` serve.
//!
//! The built-in metrics are exposed under the `monitor_` namespace, a
//! percentage as a 0–1 `_ratio` ([`names::prometheus`]:
//! `memory_used_percent` 42 is `monitor_memory_used_ratio` 0.42), so they
//! sit beside node_exporter's and cAdvisor's without clashing; a plugin's
//! metric keeps its own name (as node_exporter's textfile collector does).
//! Labels are the snapshots' own. Each family gets a `# HELP` line (the family's help,
//! else the built-in description, else one made from the name and unit) and
//! a `# TYPE` line (`gauge` or `counter`). With [`Render::server_label`] every
//! sample also carries `server_id` (a plugin label of that name is renamed
//! `exported_server_id`, as Prometheus does for clashing target labels).
//! Non-finite values are left out (the text format has no place for an
//! agent's NaN), and so is a second sample with the same labels.
//!
//! ```
//! use monitor_collectors::export::prometheus::PrometheusExporter;
//! use monitor_core::{Collection, Exporter, Labels, ServerId, Snapshot, Timestamp, Unit};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let exporter = PrometheusExporter::new();
//! let mut c = Collection::new();
//! c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), 2048.0);
//! exporter.export(&[Snapshot::new(ServerId::new("srv-01")?, Timestamp::now(), c)]).await?;
//! assert!(exporter.render().contains("monitor_memory_used_bytes 2048"));
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use monitor_core::{ExportError, Exporter, MetricKind, ServerId, Snapshot, names};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label that names a sample's server when several are rendered.
pub const SERVER_LABEL: &str = "server_id";

/// How snapshots are rendered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Render {
    /// Add `server_id` to every sample (the server's endpoint, where many
    /// hosts share one exposition). Off for one host's own endpoint, where
    /// Prometheus's `instance` label tells hosts apart.
    pub server_label: bool,
}

impl Render {
    /// The metric families of `snapshots`, sorted by name; within a family
    /// the samples come in the snapshots' order. A name that comes with two
    /// kinds keeps the first one seen.
    pub fn families<'a>(
        &self,
        snapshots: impl IntoIterator<Item = &'a Snapshot>,
    ) -> Vec<MetricFamily> {
        struct Building {
            kind: MetricKind,
            divisor: f64,
            help: String,
            metrics: Vec<Metric>,
        }
        let mut by_name: BTreeMap<&str, Building> = BTreeMap::new();
        let mut seen: HashSet<&monitor_core::Labels, foldhash::fast::RandomState> =
            HashSet::default();
        for snapshot in snapshots {
            let server = snapshot.server_id.as_str();
            for family in &snapshot.metrics {
                let exposed = names::prometheus(&family.name);
                if exposed.is_none() && names::from_prometheus(&family.name).is_some() {
                    tracing::debug!(metric = %family.name, server, "Left out: a built-in metric is exposed under that name.");
                    continue;
                }
                let name = exposed.map_or(family.name.as_str(), |p| p.name.as_str());
                let building = by_name.entry(name).or_insert_with(|| Building {
                    kind: family.kind,
                    divisor: exposed.map_or(1.0, |p| p.divisor),
                    help: help(family, exposed.and_then(|p| p.note)),
                    metrics: Vec::new(),
                });
                if building.kind != family.kind {
                    tracing::debug!(metric = %family.name, server, "Left out: the metric came with another kind before.");
                    continue;
                }
                // Series are unique within a snapshot's family once it passed
                // the wire checks; an in-process collector may not have.
                seen.clear();
                let check = family.samples.len() > 1;
                for sample in &family.samples {
                    if !sample.value.is_finite() || (check && !seen.insert(&sample.labels)) {
                        continue;
                    }
                    let mut pairs = Vec::with_capacity(sample.labels.len() + 1);
                    if self.server_label {
                        pairs.push(pair(SERVER_LABEL, server));
                    }
                    for (name, value) in sample.labels.iter() {
                        let name = if self.server_label && name == SERVER_LABEL {
                            "exported_server_id"
                        } else {
                            name
                        };
                        pairs.push(pair(name, value));
                    }
                    building.metrics.push(metric(
                        pairs,
                        building.kind,
                        sample.value / building.divisor,
                    ));
                }
            }
        }
        by_name
            .into_iter()
            .filter(|(_, b)| !b.metrics.is_empty())
            .map(|(name, b)| {
                let mut out = MetricFamily::default();
                out.set_name(name.to_owned());
                out.set_help(b.help);
                out.set_field_type(metric_type(b.kind));
                out.set_metric(b.metrics);
                out
            })
            .collect()
    }
}

fn pair(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn metric_type(kind: MetricKind) -> MetricType {
    match kind {
        MetricKind::Gauge => MetricType::GAUGE,
        MetricKind::Counter => MetricType::COUNTER,
    }
}

fn metric(pairs: Vec<LabelPair>, kind: MetricKind, value: f64) -> Metric {
    let mut metric = Metric::from_label(pairs);
    match kind {
        MetricKind::Gauge => {
            let mut g = Gauge::default();
            g.set_value(value);
            metric.set_gauge(g);
        }
        MetricKind::Counter => {
            let mut c = Counter::default();
            c.set_value(value);
            metric.set_counter(c);
        }
    }
    metric
}

/// The help text of a family: its own, the built-in description, or one
/// made from its name and unit; then what the exposed value means when it
/// is not the collected one (a ratio for a percentage).
fn help(family: &monitor_core::MetricFamily, note: Option<&str>) -> String {
    let help = if let Some(help) = family.help.as_deref().filter(|h| !h.trim().is_empty()) {
        help.to_owned()
    } else if let Some(known) = names::describe(&family.name) {
        known.help.to_owned()
    } else {
        match family.unit.as_str() {
            "" => format!("{} (reported by a monitor agent).", family.name),
            unit => format!("{} in {unit} (reported by a monitor agent).", family.name),
        }
    };
    match note {
        Some(note) => format!("{help} {note}"),
        None => help,
    }
}

/// One metric family in the `prometheus` crate's model, from its samples'
/// `(labels, value)`.
pub fn family(
    name: &str,
    help: &str,
    kind: MetricKind,
    metrics: impl IntoIterator<Item = (Vec<(String, String)>, f64)>,
) -> MetricFamily {
    let mut out = MetricFamily::default();
    out.set_name(name.to_owned());
    out.set_help(help.to_owned());
    out.set_field_type(metric_type(kind));
    let metrics = metrics
        .into_iter()
        .map(|(labels, value)| {
            let pairs = labels
                .into_iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(name);
                    pair.set_value(value);
                    pair
                })
                .collect();
            metric(pairs, kind, value)
        })
        .collect();
    out.set_metric(metrics);
    out
}

/// Metric families in the text exposition format. Families without a
/// sample are left out (the format has no place for them).
pub fn encode(families: &[MetricFamily]) -> String {
    let mut out = Vec::new();
    let encoder = TextEncoder::new();
    for family in families.iter().filter(|f| !f.get_metric().is_empty()) {
        // Writing to a Vec cannot fail; a family the encoder refuses (an
        // untyped one: ours are gauges, counters and histograms) is left out.
        if let Err(error) = encoder.encode(std::slice::from_ref(family), &mut out) {
            tracing::warn!(%error, metric = family.name(), "Could not encode a metric family.");
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A pull exporter: keeps the newest snapshot of each server it is given
/// and renders them when scraped. It is also a `prometheus` crate
/// [`Collector`], so it can join a program's own registry. Clones share
/// their snapshots: give one to the agent and register another.
#[derive(Debug, Clone)]
pub struct PrometheusExporter {
    render: Render,
    latest: Arc<Mutex<BTreeMap<ServerId, Arc<Snapshot>>>>,
    desc: Arc<Desc>,
}

impl Default for PrometheusExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusExporter {
    /// An exporter rendering without a `server_id` label (one host).
    pub fn new() -> Self {
        Self::with_render(Render::default())
    }

    /// An exporter with these rendering options.
    pub fn with_render(render: Render) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The registry tells collectors apart by their descriptors; this
        // one is never emitted (the families are dynamic).
        let desc = Desc::new(
            format!("monitor_exporter_{n}"),
            "Snapshots rendered by a monitor exporter.".into(),
            Vec::new(),
            HashMap::new(),
        )
        .unwrap_or_else(|_| unreachable!("a valid literal descriptor"));
        PrometheusExporter {
            render,
            latest: Arc::default(),
            desc: Arc::new(desc),
        }
    }

    /// The newest snapshots' metric families (servers in id order).
    pub fn families(&self) -> Vec<MetricFamily> {
        let latest: Vec<Arc<Snapshot>> = self
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        self.render.families(latest.iter().map(|s| &**s))
    }

    /// The newest snapshots in the text exposition format.
    pub fn render(&self) -> String {
        encode(&self.families())
    }
}

#[async_trait]
impl Exporter for PrometheusExporter {
    fn name(&self) -> &str {
        "prometheus"
    }

    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        for snapshot in snapshots {
            let newer = latest
                .get(&snapshot.server_id)
                .is_none_or(|held| held.timestamp <= snapshot.timestamp);
            if newer {
                latest.insert(snapshot.server_id.clone(), Arc::new(snapshot.clone()));
            }
        }
        Ok(())
    }
}

impl Collector for PrometheusExporter {
    fn desc(&self) -> Vec<&Desc> {
        vec![&*self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.families()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::{Collection, Labels, Timestamp, Unit};

    fn snapshot(id: &str, used: f64) -> Snapshot {
        let mut c = Collection::new();
        c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), used);
        c.gauge(
            "cpu_usage_percent",
            Unit::PERCENT,
            Labels::new().with("cpu", "1"),
            20.0,
        );
        c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 12.5);
        c.counter(
            "network_receive_bytes_total",
            Unit::BYTES,
            Labels::new().with("interface", "eth0"),
            1e9,
        );
        c.gauge(
            "queue_depth",
            Unit::NONE,
            Labels::new().with("server_id", "x"),
            3.0,
        );
        c.gauge("broken", Unit::NONE, Labels::new(), f64::NAN);
        Snapshot::new(ServerId::new(id).unwrap(), Timestamp::from_millis(1_000), c)
    }

    #[test]
    fn one_host_renders_as_node_exporter_would() {
        let text = encode(&Render::default().families([&snapshot("srv-01", 2048.0)]));
        assert_eq!(
            text,
            "# HELP monitor_cpu_usage_ratio Busy CPU over the last interval; no label for the whole machine. As a ratio: 1 is 100 %.\n\
             # TYPE monitor_cpu_usage_ratio gauge\n\
             monitor_cpu_usage_ratio{cpu=\"1\"} 0.2\n\
             monitor_cpu_usage_ratio 0.125\n\
             # HELP monitor_memory_used_bytes Memory in use (total minus available).\n\
             # TYPE monitor_memory_used_bytes gauge\n\
             monitor_memory_used_bytes 2048\n\
             # HELP monitor_network_receive_bytes_total Bytes received.\n\
             # TYPE monitor_network_receive_bytes_total counter\n\
             monitor_network_receive_bytes_total{interface=\"eth0\"} 1000000000\n\
             # HELP queue_depth queue_depth (reported by a monitor agent).\n\
             # TYPE queue_depth gauge\n\
             queue_depth{server_id=\"x\"} 3\n"
        );
    }

    #[test]
    fn a_plugin_metric_named_like_an_exposed_built_in_is_left_out() {
        let mut c = Collection::new();
        c.gauge("monitor_memory_used_bytes", Unit::BYTES, Labels::new(), 6.0);
        c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), 5.0);
        let snapshot = Snapshot::new(ServerId::new("z").unwrap(), Timestamp::from_millis(1), c);
        let text = encode(&Render::default().families([&snapshot]));
        assert_eq!(
            text.matches("# TYPE monitor_memory_used_bytes").count(),
            1,
            "{text}"
        );
        assert!(text.contains("monitor_memory_used_bytes 5\n"), "{text}");
        assert!(!text.contains(" 6\n"), "{text}");
    }

    #[test]
    fn many_hosts_carry_server_id_and_a_clashing_label_is_renamed() {
        let render = Render { server_label: true };
        let text = encode(&render.families([&snapshot("a", 1.0), &snapshot("b", 2.0)]));
        assert!(
            text.contains(
                "monitor_memory_used_bytes{server_id=\"a\"} 1\nmonitor_memory_used_bytes{server_id=\"b\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("queue_depth{server_id=\"a\",exported_server_id=\"x\"} 3"),
            "{text}"
        );
        assert!(!text.contains("broken"), "{text}");
        // One HELP and TYPE per family, however many hosts.
        assert_eq!(
            text.matches("# TYPE monitor_memory_used_bytes gauge")
                .count(),
            1
        );
    }

    #[test]
    fn a_name_with_two_kinds_keeps_the_first() {
        let mut c = Collection::new();
        c.counter("jobs", Unit::NONE, Labels::new(), 5.0);
        let other = Snapshot::new(ServerId::new("z").unwrap(), Timestamp::from_millis(1), c);
        let render = Render { server_label: true };
        let families = render.families([&snapshot("a", 1.0), &other]);
        assert!(
            families
                .iter()
                .all(|f| f.name() != "jobs" || f.get_field_type() == MetricType::COUNTER)
        );
        let mut c = Collection::new();
        c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), 5.0);
        let clash = Snapshot::new(ServerId::new("z").unwrap(), Timestamp::from_millis(1), c);
        let mut c = Collection::new();
        c.counter("memory_used_bytes", Unit::BYTES, Labels::new(), 6.0);
        let late = Snapshot::new(ServerId::new("y").unwrap(), Timestamp::from_millis(1), c);
        let text = encode(&render.families([&clash, &late]));
        assert!(
            text.contains("monitor_memory_used_bytes{server_id=\"z\"} 5"),
            "{text}"
        );
        assert!(!text.contains("server_id=\"y\""), "{text}");
    }

    #[tokio::test]
    async fn the_exporter_keeps_the_newest_snapshot_of_each_server() {
        let exporter = PrometheusExporter::with_render(Render { server_label: true });
        let mut newer = snapshot("a", 7.0);
        newer.timestamp = Timestamp::from_millis(5_000);
        exporter.export(&[newer, snapshot("b", 3.0)]).await.unwrap();
        // An older snapshot (a replay) does not replace the newer one.
        exporter.export(&[snapshot("a", 1.0)]).await.unwrap();
        let text = exporter.render();
        assert!(
            text.contains("monitor_memory_used_bytes{server_id=\"a\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("monitor_memory_used_bytes{server_id=\"b\"} 3"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn it_passes_the_exporter_conformance_suite_and_shows_what_it_was_given() {
        let exporter = PrometheusExporter::with_render(Render { server_label: true });
        monitor_core::testing::exporter::conformance(&exporter).await;
        let text = exporter.render();
        for server in ["conformance-a", "conformance-b"] {
            assert!(
                text.contains(&format!(
                    "monitor_memory_used_bytes{{server_id=\"{server}\"}} 1000000001\n"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn it_joins_a_programs_own_registry() {
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(PrometheusExporter::new()))
            .unwrap();
        registry
            .register(Box::new(PrometheusExporter::new()))
            .unwrap();
        let requests = prometheus::IntCounter::new("app_requests_total", "Requests.").unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        requests.inc();
        assert!(encode(&registry.gather()).contains("app_requests_total 1"));
    }
}
