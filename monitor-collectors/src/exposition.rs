//! Metrics that outside programs write: the Prometheus text exposition
//! format (what node_exporter's textfile collector reads) and the JSON
//! sample form (the `metrics` array of the wire format), parsed into a
//! [`Collection`].
//!
//! Prometheus text, line by line:
//! - `# TYPE name counter|gauge|histogram|summary|untyped` sets the kind:
//!   counters (and a histogram's or summary's `_bucket`, `_sum` and `_count`
//!   series) become counters, the rest gauges;
//! - `# HELP name text` becomes the family's help;
//! - `name{label="value",...} value [timestamp]` is a sample; escapes
//!   `\\`, `\"` and `\n` in label values are understood; the timestamp is
//!   ignored (a sample is dated by its collection);
//! - the unit is read from the name's suffix (`_bytes`, `_seconds`,
//!   `_percent`, `_bytes_per_second`), as our naming convention writes it.
//!
//! Values that are not finite (`NaN`, `+Inf`) are left out, as the wire
//! format would refuse them; so is a second sample of the same series.

use std::collections::HashMap;

use monitor_core::model::is_valid_name;
use monitor_core::{Collection, Labels, MetricKind, Unit};

/// Why a text could not be read, with the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// 1-based line number (0 for JSON).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

fn err(line: usize, problem: impl Into<String>) -> ParseError {
    ParseError {
        line,
        problem: problem.into(),
    }
}

/// The unit our naming convention puts in a name's suffix.
pub fn unit_of(name: &str) -> Unit {
    let base = name.strip_suffix("_total").unwrap_or(name);
    if base.ends_with("_bytes_per_second") {
        Unit::BYTES_PER_SECOND
    } else if base.ends_with("_bytes") {
        Unit::BYTES
    } else if base.ends_with("_seconds") {
        Unit::SECONDS
    } else if base.ends_with("_percent") {
        Unit::PERCENT
    } else {
        Unit::NONE
    }
}

/// Reads a text in either form: JSON when it starts with `{` or `[`, else
/// the Prometheus text format.
///
/// # Errors
/// [`ParseError`] with the line of the first problem.
pub fn parse(text: &str) -> Result<Collection, ParseError> {
    match text.trim_start().as_bytes().first() {
        Some(b'{' | b'[') => parse_json(text),
        _ => parse_prometheus(text),
    }
}

/// Reads the JSON sample form: `{"metrics": [...]}` or the array alone, each
/// family as the wire format writes one (`name`, `kind`, `unit`, `help`,
/// `samples` of `labels` and `value`).
///
/// # Errors
/// [`ParseError`] (line 0) naming what is wrong.
pub fn parse_json(text: &str) -> Result<Collection, ParseError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Form {
        Object {
            metrics: Vec<monitor_core::MetricFamily>,
        },
        Array(Vec<monitor_core::MetricFamily>),
    }
    let families = match serde_json::from_str::<Form>(text) {
        Ok(Form::Object { metrics } | Form::Array(metrics)) => metrics,
        Err(e) => {
            return Err(err(
                0,
                format!(
                    "not the JSON sample form ({{\"metrics\": [{{\"name\", \"kind\", \"unit\", \"samples\": [{{\"labels\", \"value\"}}]}}]}}): {e}"
                ),
            ));
        }
    };
    let mut out = Collection::new();
    for family in families {
        if !is_valid_name(&family.name) {
            return Err(err(
                0,
                format!("metric name {:?}: use [a-zA-Z_][a-zA-Z0-9_]*", family.name),
            ));
        }
        let target = out.family(&family.name, family.kind, family.unit.clone());
        if target.help.is_none() {
            target.help = family.help.clone();
        }
        for sample in family.samples {
            if sample.value.is_finite() && target.get(&sample.labels).is_none() {
                target.push(sample.labels, sample.value);
            }
        }
    }
    Ok(out)
}

/// Reads the Prometheus text exposition format (see the module docs).
///
/// # Errors
/// [`ParseError`] with the line of the first malformed sample.
pub fn parse_prometheus(text: &str) -> Result<Collection, ParseError> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    let mut out = Collection::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    types.insert(name.to_owned(), kind.trim().to_owned());
                }
                (Some("HELP"), Some(name), Some(help)) => {
                    helps.insert(
                        name.to_owned(),
                        help.replace("\\n", "\n").replace("\\\\", "\\"),
                    );
                }
                _ => {}
            }
            continue;
        }
        let (name, labels, rest) = sample(line).map_err(|p| err(n, p))?;
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err(n, format!("{name}: no value")))?;
        let value = match value_text {
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse::<f64>()
                .map_err(|_| err(n, format!("{name}: {v:?} is not a number")))?,
        };
        if !value.is_finite() {
            continue;
        }
        let kind = kind_of(&name, &types);
        let family_name = base_name(&name, &types);
        let family = out.family(&name, kind, unit_of(&name));
        if family.help.is_none() {
            family.help = helps.get(&name).or_else(|| helps.get(family_name)).cloned();
        }
        if family.get(&labels).is_none() {
            family.push(labels, value);
        }
    }
    Ok(out)
}

/// The family a sample's name belongs to: itself, or the histogram or
/// summary its `_bucket`, `_sum` or `_count` suffix points to.
fn base_name<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            )
        {
            return base;
        }
    }
    name
}

fn kind_of(name: &str, types: &HashMap<String, String>) -> MetricKind {
    let base = base_name(name, types);
    match types.get(base).map(String::as_str) {
        Some("counter") => MetricKind::Counter,
        Some("histogram" | "summary") if base != name => MetricKind::Counter,
        _ => MetricKind::Gauge,
    }
}

/// A sample line's name, labels and the rest (value and timestamp).
fn sample(line: &str) -> Result<(String, Labels, &str), String> {
    let end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..end];
    if !is_valid_name(name) {
        return Err(format!(
            "metric name {name:?}: use [a-zA-Z_][a-zA-Z0-9_]* (no colon)"
        ));
    }
    let mut rest = &line[end..];
    let mut labels = Labels::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            while chars
                .next_if(|(_, c)| c.is_whitespace() || *c == ',')
                .is_some()
            {}
            match chars.peek() {
                Some((i, '}')) => {
                    rest = &body[i + 1..];
                    break;
                }
                None => return Err(format!("{name}: labels not closed with }}")),
                _ => {}
            }
            let mut label = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
                label.push(c);
            }
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            if chars.next().map(|(_, c)| c) != Some('=') || !is_valid_name(&label) {
                return Err(format!("{name}: label {label:?} is not name=\"value\""));
            }
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!(
                    "{name}: the value of {label} is not in double quotes"
                ));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("{name}: {label}'s value not closed")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("{name}: {label}'s value not closed")),
                }
            }
            labels.insert(label, value);
        }
    }
    Ok((name.to_owned(), labels, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_with_types_help_labels_escapes_and_histograms() {
        let text = r#"
# HELP backup_last_success_timestamp_seconds When the backup last succeeded.
# TYPE backup_last_success_timestamp_seconds gauge
backup_last_success_timestamp_seconds 1.7e9
# TYPE jobs_processed_total counter
jobs_processed_total{queue="mail",host="a \"b\" \\c"} 42 1700000000000
jobs_processed_total{queue="sms"} 7
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 3
latency_seconds_bucket{le="+Inf"} 5
latency_seconds_sum 0.9
latency_seconds_count 5
queue_size_bytes{ queue = "mail" , } 1024
weird NaN
"#;
        let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
        let f = |name: &str| {
            c.families
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        let backup = f("backup_last_success_timestamp_seconds");
        assert_eq!(backup.kind, MetricKind::Gauge);
        assert_eq!(backup.unit, Unit::SECONDS);
        assert_eq!(
            backup.help.as_deref(),
            Some("When the backup last succeeded.")
        );
        assert_eq!(backup.samples[0].value, 1.7e9);
        let jobs = f("jobs_processed_total");
        assert_eq!(jobs.kind, MetricKind::Counter);
        assert_eq!(
            jobs.get(
                &Labels::new()
                    .with("queue", "mail")
                    .with("host", "a \"b\" \\c")
            ),
            Some(42.0)
        );
        assert_eq!(f("latency_seconds_count").kind, MetricKind::Counter);
        assert_eq!(
            f("latency_seconds_bucket").get(&Labels::new().with("le", "0.1")),
            Some(3.0)
        );
        assert_eq!(f("queue_size_bytes").unit, Unit::BYTES);
        assert!(c.families.iter().all(|f| f.name != "weird"), "NaN left out");
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, line, says) in [
            ("ok 1\nbad:name 2\n", 2, "no colon"),
            ("x{a=\"1\" 2\n", 1, "is not name"),
            ("x{a=\"1\n", 1, "not closed"),
            ("x{a=1} 2\n", 1, "double quotes"),
            ("x two\n", 1, "not a number"),
            ("x\n", 1, "no value"),
        ] {
            let e = parse(text).map(|_| ()).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.problem.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_json_form_as_an_object_or_an_array() {
        let object = r#"{"metrics": [{"name": "queue_depth", "kind": "gauge", "unit": "count",
            "samples": [{"labels": {"queue": "mail"}, "value": 3}, {"value": 5}]}]}"#;
        let c = parse(object).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.families[0].samples.len(), 2);
        let array = r#"[{"name": "up_total", "kind": "counter", "samples": [{"value": 1}]}]"#;
        let c = parse(array).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.families[0].kind, MetricKind::Counter);
        let e = parse("{\"metric\": 1}").map(|_| ()).unwrap_err();
        assert!(e.problem.contains("JSON sample form"), "{e}");
    }
}
