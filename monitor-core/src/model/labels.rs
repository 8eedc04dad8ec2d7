//! The labels of a sample, and the matchers that select series by label.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::is_valid_name;

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

/// How a [`LabelMatcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelMatcher {
    /// The label name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name))]
    pub name: String,
    /// Equal or not equal.
    #[serde(default)]
    pub op: MatchOp,
    /// The value compared with.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::label_value))]
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
