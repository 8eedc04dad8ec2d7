//! The agent→server wire format: versioned JSON, and the rules every
//! snapshot must pass before it is accepted.
//!
//! A request body is one snapshot or a batch:
//!
//! ```json
//! {"version": 1, "server_id": "srv-01", "timestamp": "2026-11-25T14:35:38.000Z",
//!  "interval_secs": 5,
//!  "host": {"hostname": "web-1", "os": "Debian GNU/Linux 12", "kernel": "6.1.0"},
//!  "metrics": [
//!    {"name": "memory_used_bytes", "kind": "gauge", "unit": "bytes",
//!     "samples": [{"value": 2147483648}]},
//!    {"name": "cpu_usage_percent", "kind": "gauge", "unit": "percent",
//!     "samples": [{"value": 12.5}, {"labels": {"cpu": "0"}, "value": 20.0}]}
//!  ]}
//! ```
//!
//! ```json
//! {"version": 1, "snapshots": [ {...}, {...} ]}
//! ```
//!
//! Compatibility rule: a server accepts every version up to its own; fields
//! it does not know are ignored, so an agent may add optional fields within a
//! version. A change that an older server would misread bumps the version.

use serde::{Deserialize, Serialize};

use crate::model::{
    Collection, Discarded, MAX_LABEL_VALUE_LEN, MetricFamily, Sample, Snapshot, WireVersion,
    is_valid_label_value, is_valid_name,
};

/// Bounds on what one request may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Snapshots in one batch.
    pub max_snapshots_per_batch: usize,
    /// Samples in one snapshot.
    pub max_samples_per_snapshot: usize,
    /// Labels on one sample.
    pub max_labels_per_sample: usize,
    /// Containers in one snapshot.
    pub max_containers: usize,
    /// Processes in one snapshot's top lists.
    pub max_processes: usize,
    /// Length of free-text fields (host name, image, status), in bytes.
    pub max_text_len: usize,
    /// Largest accepted absolute value (2^53, the last integer a browser's
    /// JavaScript represents exactly).
    pub max_abs_value: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_snapshots_per_batch: 1_000,
            max_samples_per_snapshot: 5_000,
            max_labels_per_sample: 16,
            max_containers: 1_000,
            max_processes: 200,
            max_text_len: MAX_LABEL_VALUE_LEN,
            max_abs_value: 9_007_199_254_740_992.0,
        }
    }
}

/// Why a payload was refused, with the path of the offending field
/// (`snapshots[2].metrics[0].samples[3].value`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not valid JSON of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field breaks a rule.
    #[error("{field}: {problem}")]
    Invalid {
        /// Where, as a path into the payload.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The payload holds more items than a limit allows.
    #[error("{field}: {count} items exceed the limit of {limit}")]
    TooMany {
        /// Where.
        field: String,
        /// How many there were.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

impl WireError {
    fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        WireError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A batch of snapshots, as an agent sends it when it replays its spool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batch {
    /// Always [`crate::model::WIRE_VERSION`].
    pub version: WireVersion,
    /// The snapshots, oldest first.
    pub snapshots: Vec<Snapshot>,
}

/// Serializes one snapshot to its wire form.
///
/// # Errors
/// Only if serialization itself fails, which the model's types do not cause.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, WireError> {
    serde_json::to_vec(snapshot).map_err(|e| WireError::Json(e.to_string()))
}

/// Serializes a batch of snapshots to its wire form.
///
/// # Errors
/// Only if serialization itself fails.
pub fn encode_batch(snapshots: &[Snapshot]) -> Result<Vec<u8>, WireError> {
    #[derive(Serialize)]
    struct BatchRef<'a> {
        version: WireVersion,
        snapshots: &'a [Snapshot],
    }
    serde_json::to_vec(&BatchRef {
        version: WireVersion,
        snapshots,
    })
    .map_err(|e| WireError::Json(e.to_string()))
}

/// Parses a request body holding one snapshot or a batch, and validates every
/// snapshot against `limits`.
///
/// # Errors
/// [`WireError`] naming the first problem found; nothing of an invalid payload
/// should be stored.
///
/// # Cost
/// Linear in the size of `body`, whatever it holds: the per-sample label
/// limit holds while parsing (a sample with a quarter of a million labels
/// is refused at its 17th), labels are sorted in O(n log n), and the body
/// is parsed at most twice (a second time only when a single snapshot
/// names "snapshots" somewhere and the first reading, as a batch, failed).
pub fn decode(body: &[u8], limits: &Limits) -> Result<Vec<Snapshot>, WireError> {
    let _limits = ParseLimits::install(limits);
    // A body that names "snapshots" is most likely a batch.
    let looks_batch = body.windows(11).any(|w| w == b"\"snapshots\"");
    let parsed = if looks_batch {
        match serde_json::from_slice::<Batch>(body) {
            Ok(batch) => Ok((batch.snapshots, true)),
            // A single snapshot that only mentions the word (a label
            // value): read it as what it is.
            Err(e) if e.is_data() && e.to_string().starts_with("missing field `snapshots`") => {
                serde_json::from_slice::<Snapshot>(body).map(|s| (vec![s], false))
            }
            Err(e) => Err(e),
        }
    } else {
        serde_json::from_slice::<Snapshot>(body).map(|s| (vec![s], false))
    };
    let (snapshots, is_batch) = parsed.map_err(|e| {
        if ParseLimits::label_cap_hit() {
            WireError::TooMany {
                field: format!(
                    "the labels of a sample (parsing stopped at line {}, column {})",
                    e.line(),
                    e.column()
                ),
                count: limits.max_labels_per_sample + 1,
                limit: limits.max_labels_per_sample,
            }
        } else {
            WireError::Json(e.to_string())
        }
    })?;
    check(snapshots, is_batch, limits)
}

thread_local! {
    /// The label limit of the [`decode`] running on this thread (none
    /// outside it: a store reading back what it stored is not limited),
    /// and whether a sample went over it.
    static LABEL_CAP: std::cell::Cell<(Option<usize>, bool)> =
        const { std::cell::Cell::new((None, false)) };
}

/// The limits [`decode`] enforces while serde builds the values, for as
/// long as it lives (serde gives a visitor no way to receive them).
struct ParseLimits {
    before: (Option<usize>, bool),
}

impl ParseLimits {
    fn install(limits: &Limits) -> Self {
        ParseLimits {
            before: LABEL_CAP.replace((Some(limits.max_labels_per_sample), false)),
        }
    }

    fn label_cap_hit() -> bool {
        LABEL_CAP.get().1
    }
}

impl Drop for ParseLimits {
    fn drop(&mut self) {
        LABEL_CAP.set(self.before);
    }
}

/// How many labels a sample being parsed may have: the limit of the
/// [`decode`] running on this thread, else no limit.
pub(crate) fn parsing_label_cap() -> usize {
    LABEL_CAP.get().0.unwrap_or(usize::MAX)
}

/// Records that a sample went over [`parsing_label_cap`].
pub(crate) fn label_cap_exceeded() {
    LABEL_CAP.set((LABEL_CAP.get().0, true));
}

fn check(
    snapshots: Vec<Snapshot>,
    is_batch: bool,
    limits: &Limits,
) -> Result<Vec<Snapshot>, WireError> {
    if snapshots.len() > limits.max_snapshots_per_batch {
        return Err(WireError::TooMany {
            field: "snapshots".into(),
            count: snapshots.len(),
            limit: limits.max_snapshots_per_batch,
        });
    }
    for (i, snapshot) in snapshots.iter().enumerate() {
        let prefix = if is_batch {
            format!("snapshots[{i}].")
        } else {
            String::new()
        };
        validate(snapshot, limits).map_err(|e| prefix_error(e, &prefix))?;
    }
    Ok(snapshots)
}

fn prefix_error(error: WireError, prefix: &str) -> WireError {
    match error {
        WireError::Invalid { field, problem } => WireError::Invalid {
            field: format!("{prefix}{field}"),
            problem,
        },
        WireError::TooMany {
            field,
            count,
            limit,
        } => WireError::TooMany {
            field: format!("{prefix}{field}"),
            count,
            limit,
        },
        other => other,
    }
}

/// Checks one snapshot against `limits`: valid metric and label names, each
/// family name once, no duplicate series, finite values within bounds,
/// bounded text.
///
/// # Errors
/// [`WireError`] naming the first offending field.
pub fn validate(snapshot: &Snapshot, limits: &Limits) -> Result<(), WireError> {
    let samples = snapshot.sample_count();
    if samples > limits.max_samples_per_snapshot {
        return Err(WireError::TooMany {
            field: "metrics".into(),
            count: samples,
            limit: limits.max_samples_per_snapshot,
        });
    }
    if let Some(interval) = snapshot.interval_secs
        && !(interval.is_finite() && interval > 0.0 && interval <= 86_400.0)
    {
        return Err(WireError::invalid(
            "interval_secs",
            "must be a number of seconds between 0 and 86400",
        ));
    }
    if let Some(host) = &snapshot.host {
        for (field, text) in [
            ("host.hostname", &host.hostname),
            ("host.os", &host.os),
            ("host.kernel", &host.kernel),
            ("host.arch", &host.arch),
            ("host.agent_version", &host.agent_version),
        ] {
            check_text(field, text, limits)?;
        }
    }
    if let Some(containers) = &snapshot.containers {
        if containers.len() > limits.max_containers {
            return Err(WireError::TooMany {
                field: "containers".into(),
                count: containers.len(),
                limit: limits.max_containers,
            });
        }
        for (i, c) in containers.iter().enumerate() {
            for (field, text) in [
                ("id", &c.id),
                ("name", &c.name),
                ("image", &c.image),
                ("status", &c.status),
            ] {
                check_text(&format!("containers[{i}].{field}"), text, limits)?;
            }
        }
    }
    if let Some(processes) = &snapshot.processes {
        if processes.len() > limits.max_processes {
            return Err(WireError::TooMany {
                field: "processes".into(),
                count: processes.len(),
                limit: limits.max_processes,
            });
        }
        for (i, p) in processes.iter().enumerate() {
            for (field, text) in [
                ("name", &p.name),
                ("user", &p.user),
                ("command", &p.command),
            ] {
                check_text(&format!("processes[{i}].{field}"), text, limits)?;
            }
            if let Some(cpu) = p.cpu_percent
                && !(cpu.is_finite() && (0.0..=limits.max_abs_value).contains(&cpu))
            {
                return Err(WireError::invalid(
                    format!("processes[{i}].cpu_percent"),
                    "give a finite number, 0 or more",
                ));
            }
        }
    }
    let families = &snapshot.metrics;
    // A family counts as a sample at least: empty ones are free to send but
    // not to keep (a snapshot of a hundred thousand empty families stayed
    // in memory as the server's newest).
    if families.len() > limits.max_samples_per_snapshot {
        return Err(WireError::TooMany {
            field: "metrics".into(),
            count: families.len(),
            limit: limits.max_samples_per_snapshot,
        });
    }
    if let Some(f) = first_repeat(families.len(), |i| families[i].name.as_str()) {
        return Err(WireError::invalid(
            format!("metrics[{f}].name"),
            format!("metric {:?} appears twice", families[f].name),
        ));
    }
    for (f, family) in snapshot.metrics.iter().enumerate() {
        if let Some(broken) = family_broken(family) {
            return Err(broken.error(family, &format!("metrics[{f}]"), limits));
        }
        if let Some(help) = &family.help {
            check_text(&format!("metrics[{f}].help"), help, limits)?;
        }
        for (s, sample) in family.samples.iter().enumerate() {
            if let Some(broken) = sample_broken(sample, limits) {
                let at = format!("metrics[{f}].samples[{s}]");
                return Err(broken.error(family, &at, limits));
            }
        }
        let samples = &family.samples;
        if let Some(s) = first_repeat(samples.len(), |i| &samples[i].labels) {
            return Err(WireError::invalid(
                format!("metrics[{f}].samples[{s}].labels"),
                format!("series {}{} appears twice", family.name, samples[s].labels),
            ));
        }
    }
    Ok(())
}

/// A rule of a metric family or a sample that [`validate`] refuses and
/// [`clean`] leaves out.
enum Broken<'a> {
    MetricName,
    Unit,
    TooManyLabels(usize),
    LabelName(&'a str),
    LabelValue(&'a str),
    Value(f64),
}

impl Broken<'_> {
    /// For [`validate`]: the error naming the field under `at`
    /// (`metrics[0]` or `metrics[0].samples[3]`).
    fn error(&self, family: &MetricFamily, at: &str, limits: &Limits) -> WireError {
        match self {
            Broken::MetricName => WireError::invalid(
                format!("{at}.name"),
                format!(
                    "{:?} is not a valid metric name (letters, digits and '_', not starting with a digit, at most 128 bytes)",
                    family.name
                ),
            ),
            Broken::Unit => WireError::invalid(
                format!("{at}.unit"),
                "a unit is a lowercase word such as bytes, percent or seconds",
            ),
            Broken::TooManyLabels(count) => WireError::TooMany {
                field: format!("{at}.labels"),
                count: *count,
                limit: limits.max_labels_per_sample,
            },
            Broken::LabelName(name) => WireError::invalid(
                format!("{at}.labels"),
                format!("{name:?} is not a valid label name"),
            ),
            Broken::LabelValue(name) => WireError::invalid(
                format!("{at}.labels.{name}"),
                "label values are at most 255 bytes with no control or invisible formatting characters",
            ),
            Broken::Value(value) => WireError::invalid(
                format!("{at}.value"),
                format!("{value} is not a finite number within ±2^53"),
            ),
        }
    }

    /// For [`clean`]'s account of what it left out.
    fn reason(&self) -> &'static str {
        match self {
            Broken::MetricName => {
                "not a valid metric name (letters, digits and '_', not starting with a digit, at most 128 bytes)"
            }
            Broken::Unit => "its unit is not a lowercase word such as bytes, percent or seconds",
            Broken::TooManyLabels(_) => "more labels than a sample may have",
            Broken::LabelName(_) => "a label name is not valid",
            Broken::LabelValue(_) => {
                "a label value is longer than 255 bytes or has control or invisible formatting characters"
            }
            Broken::Value(_) => "the value is not a finite number within ±2^53",
        }
    }
}

/// The first rule `family`'s name or unit breaks.
fn family_broken(family: &MetricFamily) -> Option<Broken<'static>> {
    if !is_valid_name(&family.name) {
        Some(Broken::MetricName)
    } else if !family.unit.as_str().is_empty() && !is_valid_name(family.unit.as_str()) {
        Some(Broken::Unit)
    } else {
        None
    }
}

/// The first rule `sample` breaks.
fn sample_broken<'a>(sample: &'a Sample, limits: &Limits) -> Option<Broken<'a>> {
    if sample.labels.len() > limits.max_labels_per_sample {
        return Some(Broken::TooManyLabels(sample.labels.len()));
    }
    for (name, value) in sample.labels.iter() {
        if !is_valid_name(name) {
            return Some(Broken::LabelName(name));
        }
        if !is_valid_label_value(value) {
            return Some(Broken::LabelValue(name));
        }
    }
    if !sample.value.is_finite() || sample.value.abs() > limits.max_abs_value {
        return Some(Broken::Value(sample.value));
    }
    None
}

/// Leaves out of `collection` what [`validate`] would refuse in a snapshot
/// (invalid metric, unit or label names, label values too long or with
/// control characters, too many labels, values that are not finite or out
/// of bounds, a repeated family or series, samples over the per-snapshot
/// limit, bad help text) and returns what it left out. An agent cleans what
/// each collector gives, so one plugin's bad sample costs that sample, not
/// the whole snapshot.
pub fn clean(collection: &mut Collection, limits: &Limits) -> Vec<Discarded> {
    // A read-only pass finds what to leave out (nothing, nearly always:
    // then nothing is allocated or moved); the second applies it.
    let families = &collection.families;
    let mut drops: Vec<(usize, Option<usize>, &'static str)> = Vec::new();
    let mut bad_help = Vec::new();
    let mut room = limits.max_samples_per_snapshot;
    let repeated_names = repeated(families.len(), |i| families[i].name.as_str());
    for (f, family) in families.iter().enumerate() {
        let reason = if let Some(broken) = family_broken(family) {
            Some(broken.reason())
        } else if repeated_names.binary_search(&f).is_ok() {
            Some("the metric appears twice")
        } else {
            None
        };
        if let Some(reason) = reason {
            drops.push((f, None, reason));
            continue;
        }
        if family
            .help
            .as_ref()
            .is_some_and(|h| check_text("help", h, limits).is_err())
        {
            bad_help.push(f);
        }
        let samples = &family.samples;
        let repeats = repeated(samples.len(), |i| &samples[i].labels);
        for (i, sample) in samples.iter().enumerate() {
            let reason = if let Some(broken) = sample_broken(sample, limits) {
                Some(broken.reason())
            } else if repeats.binary_search(&i).is_ok() {
                Some("the series appears twice")
            } else if room == 0 {
                Some("over the limit of samples per snapshot")
            } else {
                room -= 1;
                None
            };
            if let Some(reason) = reason {
                drops.push((f, Some(i), reason));
            }
        }
    }
    let mut discarded: Vec<Discarded> = Vec::new();
    for &f in &bad_help {
        let family = &mut collection.families[f];
        family.help = None;
        discarded.push(Discarded {
            metric: family.name.clone(),
            samples: 0,
            reason: "its help text is too long or has control characters".into(),
        });
    }
    if drops.is_empty() {
        return discarded;
    }
    for &(f, sample, reason) in &drops {
        let family = &collection.families[f];
        let samples = if sample.is_some() {
            1
        } else {
            family.samples.len()
        };
        match discarded
            .iter_mut()
            .find(|d| d.metric == family.name && d.reason == reason)
        {
            Some(d) => d.samples += samples,
            None => discarded.push(Discarded {
                metric: family.name.clone(),
                samples,
                reason: reason.to_owned(),
            }),
        }
    }
    // Back to front, so the indices still hold.
    for &(f, sample, _) in drops.iter().rev() {
        match sample {
            Some(i) => {
                collection.families[f].samples.remove(i);
            }
            None => {
                collection.families[f].samples.clear();
            }
        }
    }
    collection
        .families
        .retain(|family| !family.samples.is_empty());
    discarded
}

/// The indices, ascending, of the items of `n` whose key equals an earlier
/// one's; empty without allocating for the few items of a usual family.
fn repeated<K: Ord>(n: usize, key: impl Fn(usize) -> K) -> Vec<usize> {
    if first_repeat(n, &key).is_none() {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)).then(a.cmp(&b)));
    let mut found: Vec<usize> = order
        .windows(2)
        .filter(|w| key(w[0]) == key(w[1]))
        .map(|w| w[1])
        .collect();
    found.sort_unstable();
    found
}

/// The index of the first of `n` items whose key equals an earlier one's;
/// without hashing or allocating for the few items of a usual family.
fn first_repeat<K: Ord>(n: usize, key: impl Fn(usize) -> K) -> Option<usize> {
    if n <= 16 {
        return (1..n).find(|&i| (0..i).any(|j| key(j) == key(i)));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)).then(a.cmp(&b)));
    order
        .windows(2)
        .filter(|w| key(w[0]) == key(w[1]))
        .map(|w| w[1])
        .min()
}

fn check_text(field: &str, text: &str, limits: &Limits) -> Result<(), WireError> {
    if text.len() > limits.max_text_len {
        return Err(WireError::invalid(
            field,
            format!("longer than {} bytes", limits.max_text_len),
        ));
    }
    if !crate::model::is_safe_text(text) {
        return Err(WireError::invalid(
            field,
            "contains control or invisible formatting characters (such as a right-to-left override or a zero-width space)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
