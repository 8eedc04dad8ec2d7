//! The metric data model: timestamps, server ids, labels, samples, metric
//! families, and the [`Snapshot`] that one host reports at one instant.
//!
//! Every metric, built-in or from a plugin, travels as a [`MetricFamily`]: a
//! name, a [`MetricKind`], a [`Unit`] and samples that differ by their
//! [`Labels`]. The well-known host metrics are named in [`crate::names`] and
//! have a typed view in [`crate::host`].

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;

/// Longest accepted metric or label name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest accepted label value, in bytes.
pub const MAX_LABEL_VALUE_LEN: usize = 255;
/// Longest accepted server id, in bytes.
pub const MAX_SERVER_ID_LEN: usize = 64;

/// An instant in UTC with millisecond precision, stored as milliseconds since
/// the Unix epoch.
///
/// It serializes as an RFC 3339 string (`2026-11-25T14:35:38.123Z`) and
/// deserializes from such a string or from a number of Unix seconds (integer
/// or fractional), which is convenient for `curl` users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The current time of the system clock.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// A timestamp from whole seconds since the Unix epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Seconds since the Unix epoch, with the milliseconds as a fraction.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// This instant plus a signed number of milliseconds (saturating).
    pub const fn add_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }

    /// Parses RFC 3339 (`2026-11-25T14:35:38Z`) or Unix seconds (`1795000000`,
    /// `1795000000.5`).
    ///
    /// # Errors
    /// [`ModelError::InvalidTimestamp`] when the text is neither.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<f64>() {
            return Self::from_secs_f64(secs);
        }
        DateTime::parse_from_rfc3339(text)
            .map(|dt| Timestamp(dt.timestamp_millis()))
            .map_err(|_| ModelError::InvalidTimestamp(text.to_owned()))
    }

    /// A timestamp from fractional Unix seconds.
    ///
    /// # Errors
    /// [`ModelError::InvalidTimestamp`] when the value is not finite or out of range.
    pub fn from_secs_f64(secs: f64) -> Result<Self, ModelError> {
        // ±10^11 s is year ±5138: anything beyond is certainly a unit mistake.
        if !secs.is_finite() || secs.abs() > 1e11 {
            return Err(ModelError::InvalidTimestamp(secs.to_string()));
        }
        Ok(Timestamp((secs * 1000.0).round() as i64))
    }

    /// RFC 3339 text in UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        match Utc.timestamp_millis_opt(self.0) {
            chrono::LocalResult::Single(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            _ => self.0.to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            Number(f64),
            #[serde(borrow)]
            Text(Cow<'a, str>),
        }
        let parsed = match Raw::deserialize(deserializer)? {
            Raw::Number(secs) => Timestamp::from_secs_f64(secs),
            Raw::Text(text) => Timestamp::parse(&text),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// The id of a monitored server (`srv-01`): 1 to 64 characters among ASCII
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerId(String);

impl ServerId {
    /// Validates and wraps a server id.
    ///
    /// # Errors
    /// [`ModelError::InvalidServerId`] when the text breaks the rule above.
    pub fn new(id: impl Into<String>) -> Result<Self, ModelError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= MAX_SERVER_ID_LEN
            && id.as_bytes()[0].is_ascii_alphanumeric()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(ServerId(id))
        } else {
            Err(ModelError::InvalidServerId(id))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ServerId {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ServerId::new(value)
    }
}

impl From<ServerId> for String {
    fn from(id: ServerId) -> String {
        id.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `name` is a valid metric or label name: ASCII letters, digits and
/// `_`, not starting with a digit, at most [`MAX_NAME_LEN`] bytes (the
/// Prometheus rule without the colon, which is reserved for recording rules).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True when `value` is a valid label value: at most [`MAX_LABEL_VALUE_LEN`]
/// bytes of [safe text](is_safe_text).
pub fn is_valid_label_value(value: &str) -> bool {
    value.len() <= MAX_LABEL_VALUE_LEN && is_safe_text(value)
}

/// True when `text` shows as what it holds: no control character (C0, C1,
/// DEL), no line or paragraph separator, and no invisible formatting
/// character (Unicode category Cf: bidirectional overrides and isolates
/// such as U+202E, zero-width spaces and joiners, the byte-order mark,
/// tag characters). Names, label values, tags and comments must be safe
/// text: a right-to-left override can make `gpj.exe` read `exe.jpg` in a
/// dashboard, and a zero-width space makes two container names that look
/// the same.
pub fn is_safe_text(text: &str) -> bool {
    // ASCII without control characters is the common case: one pass.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return true;
    }
    !text
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
}

/// Unicode's format characters (category Cf) and the line and paragraph
/// separators.
fn is_invisible_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// The labels of one sample: a sorted map from label name to value.
///
/// Serializes as a JSON object. Two samples of one family are the same series
/// exactly when their labels are equal. Stored as a vector sorted by name, of
/// strings kept inline up to 24 bytes (a sample has a few short labels: one
/// allocation, cheap to compare, hash and drop).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels(Vec<(CompactString, CompactString)>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Labels from `(name, value)` pairs; a later pair replaces an earlier
    /// one of the same name.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut labels = Labels::new();
        for (k, v) in pairs {
            labels.insert(k, v);
        }
        labels
    }

    /// Adds or replaces one label, builder style.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds or replaces one label.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.put(name.into().into(), value.into().into());
    }

    fn put(&mut self, name: CompactString, value: CompactString) {
        match self.position(&name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// Labels from pairs in any order, in O(n log n): sorted by name, a
    /// later pair of a name replacing an earlier one (as a repeated JSON
    /// key does). Inserting one by one costs O(n²) for pairs in descending
    /// order.
    fn from_unsorted(mut pairs: Vec<(CompactString, CompactString)>) -> Labels {
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: of equal names, the later pair stays later, and is
            // the one kept.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs.reverse();
            pairs.dedup_by(|later, earlier| later.0 == earlier.0);
            pairs.reverse();
        }
        // Labels live as long as the newest snapshots kept in memory.
        if pairs.capacity() > pairs.len() {
            pairs.shrink_to_fit();
        }
        Labels(pairs)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The value of one label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.0[i].1.as_str())
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of label names to string values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Labels, A::Error> {
                // Inside `wire::decode` the request's label limit holds
                // while parsing: a sample with a quarter of a million labels
                // costs the 17th one, not the whole body.
                let cap = crate::wire::parsing_label_cap();
                // Most samples have one label: without a size hint, room for
                // one (a vector's first growth would make room for four).
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(1).min(16));
                while let Some((k, v)) = map.next_entry::<CompactString, CompactString>()? {
                    if pairs.len() == cap {
                        crate::wire::label_cap_exceeded();
                        return Err(serde::de::Error::custom(format_args!(
                            "a sample has more than {cap} labels"
                        )));
                    }
                    pairs.push((k, v));
                }
                Ok(Labels::from_unsorted(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl fmt::Display for Labels {
    /// Prometheus style: `{cpu="3",mode="user"}`, or nothing when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}=\"{}\"", v.escape_default())?;
        }
        f.write_str("}")
    }
}

/// Whether a metric is a gauge (a value that goes up and down) or a counter
/// (a monotonically increasing total that only resets when its source restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
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
pub struct Sample {
    /// The labels that tell this series from the others of its family.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The value; always finite in a valid snapshot.
    pub value: f64,
}

/// All samples of one metric name in one snapshot, with the metric's kind and unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Static facts about the host, reported with each snapshot by the system
/// collector.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host name.
    pub hostname: String,
    /// Operating system name and version (`Debian GNU/Linux 12 (bookworm)`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Kernel version (`6.1.0-18-amd64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel: String,
    /// CPU architecture (`x86_64`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// When the host booted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<Timestamp>,
    /// Version of the agent that sent the snapshot.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_version: String,
}

/// The lifecycle state of a container, as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused (frozen).
    Paused,
    /// Restarting after an exit, by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped.
    Exited,
    /// Dead (failed removal).
    Dead,
    /// Anything else.
    #[default]
    #[serde(other)]
    Unknown,
}

impl ContainerState {
    /// Parses Docker's word for the state; unknown words give [`ContainerState::Unknown`].
    pub fn from_docker(state: &str) -> Self {
        match state {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    /// The state as Docker writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }
}

/// The result of a container's health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerHealth {
    /// The check has not passed yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// The check failed its retries.
    Unhealthy,
}

/// What is known about one container besides its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The full container id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image reference the container was created from.
    pub image: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// Docker's status text (`Up 5 minutes`, `Exited (0) 2 hours ago`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Health check result, when the container has a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ContainerHealth>,
    /// How many times Docker restarted it.
    #[serde(default)]
    pub restart_count: u64,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    /// When it last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    /// Exit code of the last run, for stopped containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// True when the kernel killed it for lack of memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
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
pub struct Snapshot {
    /// Always [`WIRE_VERSION`] on the wire.
    pub version: WireVersion,
    /// The reporting server.
    pub server_id: ServerId,
    /// When the values were read, in UTC.
    pub timestamp: Timestamp,
    /// The agent's collection interval, in seconds (used for offline detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_secs: Option<f64>,
    /// Host facts, when the system collector ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostInfo>,
    /// Container inventory, when the Docker collector ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<ContainerInfo>>,
    /// The metric families.
    #[serde(default)]
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
    }

    /// Number of samples in all families.
    pub fn sample_count(&self) -> usize {
        self.metrics.iter().map(|f| f.samples.len()).sum()
    }
}

/// How a [`LabelMatcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MatchOp {
    /// The label equals the value; an empty value matches a missing label.
    #[default]
    #[serde(rename = "=")]
    Equal,
    /// The label differs from the value.
    #[serde(rename = "!=")]
    NotEqual,
}

/// Selects series by one label, Prometheus style: `cpu="3"`, `mountpoint!="/boot"`.
/// `cpu=""` selects the series without a `cpu` label (the machine-wide total).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LabelMatcher {
    /// The label name.
    pub name: String,
    /// Equal or not equal.
    #[serde(default)]
    pub op: MatchOp,
    /// The value compared with.
    pub value: String,
}

impl LabelMatcher {
    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
        }
    }

    /// `name!="value"`.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher {
            name: name.into(),
            op: MatchOp::NotEqual,
            value: value.into(),
        }
    }

    /// Parses `name="value"`, `name!="value"`, or the unquoted `name=value`.
    ///
    /// # Errors
    /// A message saying what form is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, op, value) = if let Some((n, v)) = text.split_once("!=") {
            (n, MatchOp::NotEqual, v)
        } else if let Some((n, v)) = text.split_once('=') {
            (n, MatchOp::Equal, v)
        } else {
            return Err(format!(
                "label matcher {text:?} must look like name=\"value\" or name!=\"value\""
            ));
        };
        let name = name.trim();
        if !is_valid_name(name) {
            return Err(format!("{name:?} is not a valid label name"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Ok(LabelMatcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
        })
    }

    /// True when `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let actual = labels.get(&self.name).unwrap_or("");
        match self.op {
            MatchOp::Equal => actual == self.value,
            MatchOp::NotEqual => actual != self.value,
        }
    }
}

/// True when `labels` satisfy every matcher.
pub fn matches_all(matchers: &[LabelMatcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_parses_rfc3339_and_unix_seconds() {
        let a = Timestamp::parse("2026-11-25T14:35:38.123Z").unwrap();
        assert_eq!(a.to_rfc3339(), "2026-11-25T14:35:38.123Z");
        let b = Timestamp::parse("1795000000").unwrap();
        assert_eq!(b.as_millis(), 1_795_000_000_000);
        let c = Timestamp::parse("1795000000.25").unwrap();
        assert_eq!(c.as_millis(), 1_795_000_000_250);
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("1e300").is_err());
        let offset = Timestamp::parse("2026-11-25T16:35:38+02:00").unwrap();
        assert_eq!(offset.to_rfc3339(), "2026-11-25T14:35:38.000Z");
    }

    #[test]
    fn timestamp_deserializes_from_number_and_text() {
        let t: Timestamp = serde_json::from_str("1795000000").unwrap();
        assert_eq!(t, Timestamp::from_secs(1_795_000_000));
        let t: Timestamp = serde_json::from_str("\"2026-11-25T14:35:38Z\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-25T14:35:38.000Z\""
        );
        assert!(serde_json::from_str::<Timestamp>("\"soon\"").is_err());
    }

    #[test]
    fn server_id_rules() {
        for ok in ["srv-01", "a", "web_1.example", &"x".repeat(64)] {
            assert!(ServerId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-srv",
            "srv 01",
            "srv/01",
            "<img>",
            &"x".repeat(65),
            "é",
        ] {
            assert!(ServerId::new(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ServerId>("\"bad id\"").is_err());
    }

    #[test]
    fn names_and_label_values() {
        assert!(is_valid_name("memory_used_bytes"));
        assert!(is_valid_name("_private"));
        assert!(!is_valid_name("1abc"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name("a:b"));
        assert!(!is_valid_name(""));
        assert!(is_valid_label_value("/var/lib"));
        assert!(is_valid_label_value("<img src=x onerror=alert(1)>"));
        assert!(!is_valid_label_value("a\nb"));
        assert!(!is_valid_label_value(&"x".repeat(256)));
    }

    #[test]
    fn labels_display_prometheus_style() {
        let labels = Labels::new().with("mode", "user").with("cpu", "3");
        assert_eq!(labels.to_string(), "{cpu=\"3\",mode=\"user\"}");
        assert_eq!(Labels::new().to_string(), "");
    }

    #[test]
    fn collection_groups_samples_by_family_and_merges() {
        let mut a = Collection::new();
        a.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 10.0);
        a.gauge(
            "cpu_usage_percent",
            Unit::PERCENT,
            Labels::new().with("cpu", "0"),
            5.0,
        );
        let mut b = Collection::new();
        b.gauge(
            "cpu_usage_percent",
            Unit::PERCENT,
            Labels::new().with("cpu", "1"),
            7.0,
        );
        b.counter("x_total", Unit::COUNT, Labels::new(), 1.0);
        assert!(a.merge(b).is_empty());
        assert_eq!(a.families.len(), 2);
        assert_eq!(a.sample_count(), 4);
        assert_eq!(a.families[1].kind, MetricKind::Counter);
    }

    #[test]
    fn merge_keeps_the_first_of_a_repeated_series_and_says_so() {
        let mut a = Collection::new();
        a.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 10.0);
        for i in 0..20 {
            a.gauge(
                "load",
                Unit::NONE,
                Labels::new().with("i", i.to_string()),
                1.0,
            );
        }
        let mut b = Collection::new();
        b.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 99.0);
        b.gauge(
            "cpu_usage_percent",
            Unit::PERCENT,
            Labels::new().with("cpu", "0"),
            5.0,
        );
        b.gauge("load", Unit::NONE, Labels::new().with("i", "3"), 2.0);
        b.gauge("load", Unit::NONE, Labels::new().with("i", "20"), 2.0);
        b.counter("cpu_usage_percent_other", Unit::PERCENT, Labels::new(), 1.0);
        let mut c = Collection::new();
        c.counter("cpu_usage_percent", Unit::PERCENT, Labels::new(), 1.0);
        let mut discarded = a.merge(b);
        discarded.extend(a.merge(c));
        assert_eq!(a.families[0].samples.len(), 2);
        assert_eq!(a.families[0].samples[0].value, 10.0, "the first one wins");
        assert_eq!(a.families[1].samples.len(), 21);
        let said: Vec<String> = discarded.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "\"cpu_usage_percent\": 1 sample(s) left out: these series were already collected",
                "\"load\": 1 sample(s) left out: these series were already collected",
                "\"cpu_usage_percent\": 1 sample(s) left out: already collected as a gauge in \"percent\"",
            ]
        );
    }

    #[test]
    fn label_matchers() {
        let total = Labels::new();
        let core = Labels::new().with("cpu", "3");
        let m = LabelMatcher::parse("cpu=\"3\"").unwrap();
        assert!(m.matches(&core) && !m.matches(&total));
        let absent = LabelMatcher::parse("cpu=").unwrap();
        assert!(absent.matches(&total) && !absent.matches(&core));
        let not = LabelMatcher::parse("cpu!=3").unwrap();
        assert!(not.matches(&total) && !not.matches(&core));
        assert!(LabelMatcher::parse("nothing").is_err());
        assert!(LabelMatcher::parse("1x=2").is_err());
    }

    #[test]
    fn snapshot_refuses_unknown_version() {
        let json = r#"{"version":2,"server_id":"a","timestamp":1,"metrics":[]}"#;
        let err = serde_json::from_str::<Snapshot>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("understands version 1"), "{err}");
    }
}
