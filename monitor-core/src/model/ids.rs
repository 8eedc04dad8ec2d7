//! Timestamps, server ids, and the validation of names, label values and
//! displayed text.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{MAX_LABEL_VALUE_LEN, MAX_NAME_LEN, MAX_SERVER_ID_LEN};
use crate::error::ModelError;

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
