//! The metric data model: timestamps, server ids, labels, samples, metric
//! families, and the [`Snapshot`] that one host reports at one instant.
//!
//! Every metric, built-in or from a plugin, travels as a [`MetricFamily`]: a
//! name, a [`MetricKind`], a [`Unit`] and samples that differ by their
//! [`Labels`]. The well-known host metrics are named in [`crate::names`] and
//! have a typed view in [`crate::host`].

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod host;
mod ids;
mod labels;

pub use host::{ContainerHealth, ContainerInfo, ContainerState, HostInfo, ProcessInfo};
pub use ids::{ServerId, Timestamp, is_safe_text, is_valid_label_value, is_valid_name};
pub use labels::{LabelMatcher, Labels, MatchOp, matches_all};

/// Longest accepted metric or label name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest accepted label value, in bytes.
pub const MAX_LABEL_VALUE_LEN: usize = 255;
/// Longest accepted server id, in bytes.
pub const MAX_SERVER_ID_LEN: usize = 64;

/// Whether a metric is a gauge (a value that goes up and down) or a counter
/// (a monotonically increasing total that only resets when its source restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A value that can go up and down (memory used, CPU %).
    #[default]
    Gauge,
    /// A monotonically increasing total (bytes received since boot).
    Counter,
}

impl MetricKind {
    /// The kind as written on the wire (`gauge`, `counter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
        }
    }
}

/// The unit of a metric, as a lowercase word: `bytes`, `percent`, `seconds`,
/// `bytes_per_second`, `count`, or any other word a plugin needs.
///
/// The metric's name ends with the same suffix (see [`crate::names`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Unit(Cow<'static, str>);

impl<'de> Deserialize<'de> for Unit {
    /// The well-known units come back as the constants (no allocation).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Unit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a unit word")
            }
            fn visit_str<E: serde::de::Error>(self, unit: &str) -> Result<Unit, E> {
                let known = [
                    Unit::BYTES,
                    Unit::PERCENT,
                    Unit::SECONDS,
                    Unit::BYTES_PER_SECOND,
                    Unit::COUNT,
                    Unit::NONE,
                ];
                Ok(known
                    .into_iter()
                    .find(|k| k.as_str() == unit)
                    .unwrap_or_else(|| Unit(Cow::Owned(unit.to_owned()))))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl Unit {
    /// Bytes.
    pub const BYTES: Unit = Unit(Cow::Borrowed("bytes"));
    /// Percent, 0 to 100.
    pub const PERCENT: Unit = Unit(Cow::Borrowed("percent"));
    /// Seconds.
    pub const SECONDS: Unit = Unit(Cow::Borrowed("seconds"));
    /// Bytes per second.
    pub const BYTES_PER_SECOND: Unit = Unit(Cow::Borrowed("bytes_per_second"));
    /// A plain count (cores, errors, restarts).
    pub const COUNT: Unit = Unit(Cow::Borrowed("count"));
    /// A dimensionless value (load average, a state flag).
    pub const NONE: Unit = Unit(Cow::Borrowed(""));

    /// A unit from any word.
    pub fn new(unit: impl Into<Cow<'static, str>>) -> Self {
        Unit(unit.into())
    }

    /// The unit as text (empty for dimensionless).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Unit {
    fn default() -> Self {
        Unit::NONE
    }
}

/// One value of one series at the snapshot's instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sample {
    /// The labels that tell this series from the others of its family.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The value; always finite in a valid snapshot.
    pub value: f64,
}

/// All samples of one metric name in one snapshot, with the metric's kind and unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricFamily {
    /// The metric name, Prometheus style (`memory_used_bytes`).
    pub name: String,
    /// Gauge or counter.
    #[serde(default)]
    pub kind: MetricKind,
    /// The unit of every sample's value.
    #[serde(default, skip_serializing_if = "is_unitless")]
    pub unit: Unit,
    /// A one-line description (optional; the well-known metrics have theirs in
    /// [`crate::names`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub help: Option<String>,
    /// The samples, one per series.
    pub samples: Vec<Sample>,
}

fn is_unitless(unit: &Unit) -> bool {
    unit.as_str().is_empty()
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<String>, kind: MetricKind, unit: Unit) -> Self {
        MetricFamily {
            name: name.into(),
            kind,
            unit,
            help: None,
            samples: Vec::new(),
        }
    }

    /// Sets the help text, builder style.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Appends one sample.
    pub fn push(&mut self, labels: Labels, value: f64) {
        self.samples.push(Sample { labels, value });
    }

    /// The sample whose labels are exactly `labels`.
    pub fn get(&self, labels: &Labels) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| &s.labels == labels)
            .map(|s| s.value)
    }
}

/// The output of one collection: metric families, and optionally host facts
/// and a container inventory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Collection {
    /// Metric families, each name at most once.
    pub families: Vec<MetricFamily>,
    /// Host facts (from the system collector).
    pub host: Option<HostInfo>,
    /// Container inventory (from the Docker collector): `Some(vec![])` means
    /// "Docker answered and runs no container", `None` means "not collected".
    pub containers: Option<Vec<ContainerInfo>>,
    /// The top processes (from the processes collector): `None` means "not
    /// collected".
    pub processes: Option<Vec<ProcessInfo>>,
}

impl Collection {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// The family called `name`, created with `kind` and `unit` when absent.
    pub fn family(&mut self, name: &str, kind: MetricKind, unit: Unit) -> &mut MetricFamily {
        let index = match self.families.iter().rposition(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(MetricFamily::new(name, kind, unit));
                self.families.len() - 1
            }
        };
        &mut self.families[index]
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, unit: Unit, labels: Labels, value: f64) {
        self.family(name, MetricKind::Gauge, unit)
            .push(labels, value);
    }

    /// Adds a counter sample.
    pub fn counter(&mut self, name: &str, unit: Unit, labels: Labels, value: f64) {
        self.family(name, MetricKind::Counter, unit)
            .push(labels, value);
    }

    /// Moves everything of `other` into this collection and returns what it
    /// left out: the series this collection already has (the first
    /// collected wins) and the samples of a family whose kind or unit
    /// differs from this collection's. So a plugin repeating a built-in
    /// metric cannot make the snapshot invalid.
    pub fn merge(&mut self, other: Collection) -> Vec<Discarded> {
        let mut discarded = Vec::new();
        for family in other.families {
            let Some(existing) = self.families.iter_mut().find(|f| f.name == family.name) else {
                self.families.push(family);
                continue;
            };
            if existing.kind != family.kind || existing.unit != family.unit {
                discarded.push(Discarded {
                    reason: format!(
                        "already collected as a {} in {:?}",
                        existing.kind.as_str(),
                        existing.unit.as_str()
                    ),
                    samples: family.samples.len(),
                    metric: family.name,
                });
                continue;
            }
            let before = existing.samples.len();
            let seen: std::collections::HashSet<Labels> = if before > 16 {
                existing.samples.iter().map(|s| s.labels.clone()).collect()
            } else {
                std::collections::HashSet::new()
            };
            let mut repeated = 0;
            for sample in family.samples {
                let known = if before > 16 {
                    seen.contains(&sample.labels)
                } else {
                    existing.samples[..before]
                        .iter()
                        .any(|s| s.labels == sample.labels)
                };
                if known {
                    repeated += 1;
                } else {
                    existing.samples.push(sample);
                }
            }
            if repeated > 0 {
                discarded.push(Discarded {
                    metric: family.name,
                    samples: repeated,
                    reason: "these series were already collected".into(),
                });
            }
        }
        if other.host.is_some() {
            self.host = other.host;
        }
        if let Some(containers) = other.containers {
            self.containers
                .get_or_insert_with(Vec::new)
                .extend(containers);
        }
        if let Some(processes) = other.processes {
            self.processes
                .get_or_insert_with(Vec::new)
                .extend(processes);
        }
        discarded
    }

    /// Number of samples in all families.
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

/// Samples left out of a collection, and why: see [`Collection::merge`]
/// and [`crate::wire::clean`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    /// The metric's name.
    pub metric: String,
    /// How many of its samples were left out (0 when only its help text
    /// was).
    pub samples: usize,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for Discarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} sample(s) left out: {}",
            self.metric, self.samples, self.reason
        )
    }
}

/// The version of the agent→server JSON format that this build writes; see
/// [`crate::wire`].
pub const WIRE_VERSION: u32 = 1;

/// A marker field that serializes as [`WIRE_VERSION`] and refuses any other
/// version on the way in, with a message that says which one it understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireVersion;

impl Serialize for WireVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(WIRE_VERSION)
    }
}

impl<'de> Deserialize<'de> for WireVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let version = u32::deserialize(deserializer)?;
        if version == WIRE_VERSION {
            Ok(WireVersion)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported snapshot version {version}; this build understands version {WIRE_VERSION}"
            )))
        }
    }
}

/// One report of one host at one instant: the unit the agent sends, the store
/// keeps and the exporters publish.
///
/// Its JSON form is the versioned agent→server wire format (see [`crate::wire`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    /// Always [`WIRE_VERSION`] on the wire.
    pub version: WireVersion,
    /// The reporting server.
    pub server_id: ServerId,
    /// When the values were read, in UTC.
    pub timestamp: Timestamp,
    /// The agent's collection interval, in seconds (used for offline detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub interval_secs: Option<f64>,
    /// Host facts, when the system collector ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub host: Option<HostInfo>,
    /// Container inventory, when the Docker collector ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub containers: Option<Vec<ContainerInfo>>,
    /// The host's top processes, when the processes collector ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub processes: Option<Vec<ProcessInfo>>,
    /// The metric families.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = json!([])))]
    pub metrics: Vec<MetricFamily>,
}

impl Snapshot {
    /// A snapshot of `collection` for `server_id` at `timestamp`.
    pub fn new(server_id: ServerId, timestamp: Timestamp, collection: Collection) -> Self {
        Snapshot {
            version: WireVersion,
            server_id,
            timestamp,
            interval_secs: None,
            host: collection.host,
            containers: collection.containers,
            processes: collection.processes,
            metrics: collection.families,
        }
    }

    /// The family called `name`.
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.metrics.iter().find(|f| f.name == name)
    }

    /// The value of the series `name{labels}`.
    pub fn value(&self, name: &str, labels: &Labels) -> Option<f64> {
        self.family(name).and_then(|f| f.get(labels))
    }

    /// Gives back the room its vectors grew into while being decoded (a
    /// one-sample family holds room for four): for snapshots kept in
    /// memory for long, such as each server's newest.
    pub fn shrink_to_fit(&mut self) {
        self.metrics.shrink_to_fit();
        for family in &mut self.metrics {
            family.samples.shrink_to_fit();
        }
        if let Some(containers) = &mut self.containers {
            containers.shrink_to_fit();
        }
        if let Some(processes) = &mut self.processes {
            processes.shrink_to_fit();
        }
    }

    /// Number of samples in all families.
    pub fn sample_count(&self) -> usize {
        self.metrics.iter().map(|f| f.samples.len()).sum()
    }
}

#[cfg(test)]
mod tests;
