//! A snapshot in OpenTelemetry's terms: its metrics under the semantic
//! conventions' names, units and instruments where we know them
//! ([`crate::names::WELL_KNOWN`]: `memory_used_bytes` becomes
//! `system.memory.usage` with `system.memory.state=used`, a percentage a
//! 0–1 utilization), a plugin's metric under its own name with its unit in
//! UCUM. Several of our families can make one OpenTelemetry metric.
//!
//! The OTLP exporter sends this view as protobuf; the meter bridge of
//! `monitor-collectors` observes it through an application's own
//! `MeterProvider`. Both therefore name every metric the same way.
//!
//! ```
//! use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, otel};
//!
//! let mut c = Collection::new();
//! c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), 2048.0);
//! let snapshot = Snapshot::new(ServerId::new("srv-01").unwrap(), Timestamp::now(), c);
//! let view = otel::metrics(&snapshot);
//! assert_eq!(view[0].name, "system.memory.usage");
//! assert_eq!(view[0].points[0].attributes, [("system.memory.state".to_owned(), "used".to_owned())]);
//! ```

use std::collections::BTreeMap;

use crate::model::{MetricKind, Snapshot, Timestamp};
use crate::names::{self, Instrument};

/// One OpenTelemetry metric of a snapshot, with its points.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelMetric {
    /// The instrument's name (`system.memory.usage`, or a plugin's own).
    pub name: String,
    /// Its UCUM unit (`By`, `1`, `s`).
    pub unit: String,
    /// Its description.
    pub description: String,
    /// Gauge, up-down counter or counter (cumulative).
    pub instrument: Instrument,
    /// One point per sample with a finite value.
    pub points: Vec<OtelPoint>,
}

/// One point of an [`OtelMetric`].
#[derive(Debug, Clone, PartialEq)]
pub struct OtelPoint {
    /// Attribute keys and values: the mapping's fixed ones, then the
    /// sample's labels under their OpenTelemetry keys (a container's
    /// metric adds `container.id` and `container.image.name`).
    pub attributes: Vec<(String, String)>,
    /// The value, scaled as the mapping says (percent → 0–1).
    pub value: f64,
    /// When a counter or up-down counter started counting: the host's boot,
    /// or the container's start for its own metrics. `None` for gauges and
    /// when not known.
    pub start: Option<Timestamp>,
}

/// The UCUM unit of one of our unit words, for a plugin's metric.
pub fn ucum(unit: &str) -> String {
    match unit {
        "bytes" => "By".into(),
        "seconds" => "s".into(),
        "percent" => "%".into(),
        "bytes_per_second" => "By/s".into(),
        "count" | "" => "1".into(),
        other => format!("{{{other}}}"),
    }
}

/// The snapshot's metrics in OpenTelemetry's terms (see the module docs),
/// in the order their first family appears; metrics without a finite
/// value are left out.
pub fn metrics(snapshot: &Snapshot) -> Vec<OtelMetric> {
    // The counters' start: the host's boot (the built-in counters count
    // since then), or a container's start for its own counters.
    let boot = snapshot
        .host
        .as_ref()
        .and_then(|h| h.boot_time)
        .or_else(|| {
            let secs = snapshot.value(names::SYSTEM_BOOT_TIME_SECONDS, &Default::default())?;
            Timestamp::from_secs_f64(secs).ok()
        });
    let containers = snapshot.containers.as_deref().unwrap_or(&[]);
    let mut out: Vec<OtelMetric> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for family in &snapshot.metrics {
        let known = names::describe(&family.name);
        let metric = match known {
            Some(d) => OtelMetric {
                name: d.otel.name.to_owned(),
                unit: d.otel.unit.to_owned(),
                description: d.help.to_owned(),
                instrument: d.otel.instrument,
                points: Vec::new(),
            },
            None => OtelMetric {
                name: family.name.clone(),
                unit: ucum(family.unit.as_str()),
                description: family.help.clone().unwrap_or_default(),
                instrument: match family.kind {
                    MetricKind::Gauge => Instrument::Gauge,
                    MetricKind::Counter => Instrument::Counter,
                },
                points: Vec::new(),
            },
        };
        let scale = known.map_or(1.0, |d| d.otel.scale);
        let gauge = metric.instrument == Instrument::Gauge;
        let container_metric = known.is_some_and(|d| d.labels == [names::label::NAME]);
        let points = family
            .samples
            .iter()
            .filter(|s| s.value.is_finite())
            .map(|sample| {
                let mut attributes: Vec<(String, String)> = known
                    .map(|d| {
                        d.otel
                            .attributes
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut start = boot;
                for (label, value) in sample.labels.iter() {
                    let key = known
                        .and_then(|d| d.otel.label_attributes.iter().find(|(l, _)| *l == label))
                        .map_or(label, |(_, attribute)| *attribute);
                    attributes.push((key.to_owned(), value.to_owned()));
                    if container_metric
                        && label == names::label::NAME
                        && let Some(c) = containers.iter().find(|c| c.name == value)
                    {
                        attributes.push(("container.id".into(), c.id.clone()));
                        attributes.push(("container.image.name".into(), c.image.clone()));
                        if c.started.is_some() {
                            start = c.started;
                        }
                    }
                }
                OtelPoint {
                    attributes,
                    value: sample.value * scale,
                    start: if gauge { None } else { start },
                }
            });
        let i = *index.entry(metric.name.clone()).or_insert_with(|| {
            out.push(metric);
            out.len() - 1
        });
        out[i].points.extend(points);
    }
    out.retain(|m| !m.points.is_empty());
    out
}
