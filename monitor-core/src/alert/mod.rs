//! Alert data types: the original's three thresholds, rules on any metric,
//! states and the events that record each transition.
//!
//! These are the shapes the store keeps, the API serves and notifiers
//! deliver; [`eval`] turns rules, snapshots and time into transitions (pure
//! code, no I/O), and [`mod@preview`] replays stored history through it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod eval;
pub mod preview;
pub mod trend;

pub use eval::{AlertKey, Evaluator, LastSeen, OFFLINE_METRIC, ServerFacts};
pub use preview::{PreviewOutcome, preview};
pub use trend::{Function, Trend};

use crate::model::{LabelMatcher, Labels, ServerId, Timestamp};
use crate::names;

/// The original system's global thresholds, read and written on
/// `/api/alerts` exactly as its users send them:
/// `{"cpu_total_percent": 85, "memory_used_percent": 80, "disk_used_percent": 90}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Fires when `cpu_usage_percent` (whole machine) exceeds it.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub cpu_total_percent: f64,
    /// Fires when `memory_used_percent` exceeds it.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub memory_used_percent: f64,
    /// Fires when any filesystem's `filesystem_used_percent` exceeds it.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub disk_used_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            cpu_total_percent: 90.0,
            memory_used_percent: 90.0,
            disk_used_percent: 90.0,
        }
    }
}

impl Thresholds {
    /// The metric each threshold watches, with the threshold.
    pub fn as_rules(&self) -> [(&'static str, &'static str, f64); 3] {
        [
            (
                "cpu_total_percent",
                names::CPU_USAGE_PERCENT,
                self.cpu_total_percent,
            ),
            (
                "memory_used_percent",
                names::MEMORY_USED_PERCENT,
                self.memory_used_percent,
            ),
            (
                "disk_used_percent",
                names::FILESYSTEM_USED_PERCENT,
                self.disk_used_percent,
            ),
        ]
    }

    /// The three thresholds as rules (ids `cpu_total_percent`,
    /// `memory_used_percent` and `disk_used_percent`, every server, fire
    /// above the threshold): CPU on the whole machine, disk on every
    /// filesystem.
    pub fn to_rules(&self) -> Vec<AlertRule> {
        self.as_rules()
            .into_iter()
            .map(|(id, metric, threshold)| {
                let mut rule = AlertRule::threshold(id, metric, Comparison::Greater, threshold);
                rule.id = id.to_owned();
                if metric == names::CPU_USAGE_PERCENT {
                    // The whole machine: the sample without a `cpu` label.
                    rule.matchers = vec![LabelMatcher::equal(names::label::CPU, "")];
                }
                rule
            })
            .collect()
    }

    /// Checks that every threshold is a percentage.
    ///
    /// # Errors
    /// The name of the first field outside 0..=100.
    pub fn validate(&self) -> Result<(), String> {
        for (field, _, value) in self.as_rules() {
            if !(0.0..=100.0).contains(&value) {
                return Err(format!("{field} must be between 0 and 100, got {value}"));
            }
        }
        Ok(())
    }
}

/// How a value is compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Comparison {
    /// Value greater than threshold.
    #[serde(rename = ">")]
    Greater,
    /// Value greater than or equal to threshold.
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// Value less than threshold.
    #[serde(rename = "<")]
    Less,
    /// Value less than or equal to threshold.
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl Comparison {
    /// The operator as written in rules (`>`, `>=`, `<`, `<=`).
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }

    /// True when the comparison fires above its threshold (`>`, `>=`).
    pub fn is_upper(self) -> bool {
        matches!(self, Comparison::Greater | Comparison::GreaterOrEqual)
    }

    /// True when `value` compared with `threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }
}

/// How urgent an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Look soon.
    #[default]
    Warning,
    /// Act now.
    Critical,
}

/// Which servers a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RuleScope))]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Scope {
    /// Every server.
    #[default]
    All,
    /// The listed servers.
    Servers(Vec<ServerId>),
    /// Servers carrying this tag.
    Tag(String),
}

impl Scope {
    /// True when a server with this id and these tags is in scope.
    pub fn includes(&self, server: &ServerId, tags: &[String]) -> bool {
        match self {
            Scope::All => true,
            Scope::Servers(ids) => ids.contains(server),
            Scope::Tag(tag) => tags.contains(tag),
        }
    }
}

/// The longest rule name, in bytes.
pub const MAX_RULE_NAME_LEN: usize = 200;
/// The most label matchers a rule may have.
pub const MAX_RULE_MATCHERS: usize = 16;
/// The most servers a rule's scope or overrides may list.
pub const MAX_RULE_LIST: usize = 1_000;

/// True for a rule or silence id: 1 to 64 ASCII letters, digits, `.`, `_`
/// or `-`.
pub fn is_valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A threshold rule on any metric, built-in or from a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRule {
    /// Stable id (assigned by the store when empty).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = "", max_length = 64))]
    pub id: String,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::rule_name))]
    pub name: String,
    /// The metric watched.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name))]
    pub metric: String,
    /// Which series of the metric (every series when empty; each is its own alert).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = json!([]), max_items = 16))]
    pub matchers: Vec<LabelMatcher>,
    /// What is compared with the threshold: the value (default), its
    /// increase over a window, or the seconds until its trend reaches a
    /// target.
    #[serde(default, skip_serializing_if = "Function::is_value")]
    pub function: Function,
    /// How the value is compared.
    pub op: Comparison,
    /// The threshold that fires the alert.
    pub threshold: f64,
    /// The threshold the value must cross back to resolve (hysteresis);
    /// the firing threshold when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = json!(null)))]
    pub resolve_threshold: Option<f64>,
    /// How long the condition must hold before firing, in seconds.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = 0))]
    pub for_secs: u64,
    /// Urgency.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = "warning"))]
    pub severity: Severity,
    /// Which servers.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = json!({"kind": "all"})))]
    pub scope: Scope,
    /// Disabled rules are kept but not evaluated.
    #[serde(default = "enabled")]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub enabled: bool,
    /// Per-server changes of this rule (another threshold, or off).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<ServerId, RuleOverride>,
}

/// What a rule changes for one server; absent fields keep the rule's.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// The firing threshold on this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub threshold: Option<f64>,
    /// The resolve threshold on this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub resolve_threshold: Option<f64>,
    /// `false`: the rule does not apply to this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub enabled: Option<bool>,
}

fn enabled() -> bool {
    true
}

/// Missed reporting intervals after which the built-in host-offline rule
/// fires.
pub const OFFLINE_INTERVALS: f64 = 3.0;

/// The built-in rules beyond the original's three thresholds: host
/// offline, a filesystem full within a day, a container unhealthy,
/// restarting repeatedly, killed for lack of memory, or stopped (off by
/// default: Docker keeps containers that exited on purpose), a probe down,
/// a probed certificate expiring within [`CERT_EXPIRY_WARNING_DAYS`], and a
/// temperature within [`TEMPERATURE_HEADROOM_WARNING_CELSIUS`] of the
/// critical threshold its hardware gives, and a disk whose S.M.A.R.T.
/// health self-assessment fails.
/// A stored rule with the same id takes a built-in one's place.
pub fn builtin_rules() -> Vec<AlertRule> {
    let rule = |id: &str, name: &str, metric: &str, op: Comparison, threshold: f64| {
        let mut rule = AlertRule::threshold(name, metric, op, threshold);
        rule.id = id.to_owned();
        rule
    };
    let offline = rule(
        OFFLINE_METRIC,
        "host offline",
        OFFLINE_METRIC,
        Comparison::Greater,
        OFFLINE_INTERVALS,
    );
    let mut fill = rule(
        "filesystem_will_fill",
        "filesystem full within a day",
        names::FILESYSTEM_USED_PERCENT,
        Comparison::Less,
        86_400.0,
    );
    fill.function = Function::SecondsUntil {
        target: 100.0,
        window_secs: 6 * 3600,
    };
    fill.for_secs = 300;
    let mut unhealthy = rule(
        "container_unhealthy",
        "container unhealthy",
        names::CONTAINER_HEALTHY,
        Comparison::Less,
        0.5,
    );
    unhealthy.for_secs = 60;
    let mut restarting = rule(
        "container_restarting",
        "container restarting repeatedly",
        names::CONTAINER_RESTARTS_TOTAL,
        Comparison::GreaterOrEqual,
        3.0,
    );
    restarting.function = Function::Increase { window_secs: 900 };
    let mut oom = rule(
        "container_oom_killed",
        "container killed for lack of memory",
        names::CONTAINER_OOM_KILLS_TOTAL,
        Comparison::GreaterOrEqual,
        1.0,
    );
    oom.function = Function::Increase { window_secs: 900 };
    oom.severity = Severity::Critical;
    let mut stopped = rule(
        "container_stopped",
        "container stopped",
        names::CONTAINER_RUNNING,
        Comparison::Less,
        1.0,
    );
    stopped.for_secs = 60;
    stopped.enabled = false;
    let mut probe_down = rule(
        "probe_down",
        "probe failing",
        names::PROBE_SUCCESS,
        Comparison::Less,
        1.0,
    );
    probe_down.for_secs = 60;
    probe_down.severity = Severity::Critical;
    let certificate = rule(
        "probe_certificate_expiring",
        "certificate expiring soon",
        names::PROBE_TLS_CERT_EXPIRES_IN_SECONDS,
        Comparison::Less,
        CERT_EXPIRY_WARNING_DAYS * 86_400.0,
    );
    let mut hot = rule(
        "temperature_critical",
        "temperature near critical",
        names::SENSOR_TEMPERATURE_HEADROOM_CELSIUS,
        Comparison::Less,
        TEMPERATURE_HEADROOM_WARNING_CELSIUS,
    );
    hot.for_secs = 60;
    hot.severity = Severity::Critical;
    let mut failing = rule(
        "disk_failing",
        "disk failing",
        names::DISK_SMART_HEALTHY,
        Comparison::Less,
        1.0,
    );
    failing.severity = Severity::Critical;
    vec![
        offline,
        fill,
        unhealthy,
        restarting,
        oom,
        stopped,
        probe_down,
        certificate,
        hot,
        failing,
    ]
}

/// Degrees Celsius below a sensor's critical threshold where the built-in
/// rule `temperature_critical` fires (held a minute): the hardware
/// throttles or shuts down at the threshold itself.
pub const TEMPERATURE_HEADROOM_WARNING_CELSIUS: f64 = 5.0;

/// Days before a probed certificate's expiry when the built-in rule
/// `probe_certificate_expiring` fires.
pub const CERT_EXPIRY_WARNING_DAYS: f64 = 14.0;

impl AlertRule {
    /// A rule with defaults: every series of `metric`, every server, fires
    /// as soon as `value op threshold` holds, resolves when it no longer
    /// does, severity warning. The id is left for the store to assign.
    pub fn threshold(
        name: impl Into<String>,
        metric: impl Into<String>,
        op: Comparison,
        threshold: f64,
    ) -> Self {
        AlertRule {
            id: String::new(),
            name: name.into(),
            metric: metric.into(),
            matchers: Vec::new(),
            function: Function::Value,
            op,
            threshold,
            resolve_threshold: None,
            for_secs: 0,
            severity: Severity::default(),
            scope: Scope::default(),
            enabled: true,
            overrides: BTreeMap::new(),
        }
    }

    /// The rule as it applies to `server`: its override (if any) applied.
    pub fn for_server(&self, server: &ServerId) -> std::borrow::Cow<'_, AlertRule> {
        match self.overrides.get(server) {
            None => std::borrow::Cow::Borrowed(self),
            Some(o) => {
                let mut rule = self.clone();
                rule.overrides.clear();
                if let Some(t) = o.threshold {
                    rule.threshold = t;
                    // A resolve threshold beyond the new firing one would
                    // flap: it follows unless the override gives its own.
                    rule.resolve_threshold = rule
                        .resolve_threshold
                        .filter(|r| if rule.op.is_upper() { *r <= t } else { *r >= t });
                }
                if o.resolve_threshold.is_some() {
                    rule.resolve_threshold = o.resolve_threshold;
                }
                if let Some(enabled) = o.enabled {
                    rule.enabled = enabled;
                }
                std::borrow::Cow::Owned(rule)
            }
        }
    }

    /// Checks the rule: a name, a valid metric name, finite thresholds, and
    /// a resolve threshold on the side that makes hysteresis (at or below
    /// the threshold of a `>` rule, at or above that of a `<` rule).
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name: give the rule a name".into());
        }
        if self.name.len() > MAX_RULE_NAME_LEN || !crate::model::is_safe_text(&self.name) {
            return Err(format!(
                "name: at most {MAX_RULE_NAME_LEN} bytes, without control or invisible formatting characters"
            ));
        }
        if !self.id.is_empty() && !is_valid_rule_id(&self.id) {
            return Err(format!(
                "id: {:?}: 1 to 64 letters, digits, '.', '_' or '-'",
                self.id
            ));
        }
        if self.matchers.len() > MAX_RULE_MATCHERS {
            return Err(format!(
                "matchers: at most {MAX_RULE_MATCHERS}, got {}",
                self.matchers.len()
            ));
        }
        for m in &self.matchers {
            if !crate::model::is_valid_name(&m.name)
                || !crate::model::is_valid_label_value(&m.value)
            {
                return Err(format!(
                    "matchers: {}{}{:?} is not a label name and value",
                    m.name,
                    match m.op {
                        crate::model::MatchOp::Equal => "=",
                        crate::model::MatchOp::NotEqual => "!=",
                    },
                    m.value
                ));
            }
        }
        match &self.scope {
            Scope::Servers(ids) if ids.len() > MAX_RULE_LIST => {
                return Err(format!(
                    "scope: at most {MAX_RULE_LIST} servers, got {}",
                    ids.len()
                ));
            }
            Scope::Tag(tag)
                if tag.is_empty() || tag.len() > 64 || !crate::model::is_safe_text(tag) =>
            {
                return Err("scope: a tag is 1 to 64 characters, without control or invisible formatting characters".into());
            }
            _ => {}
        }
        if self.overrides.len() > MAX_RULE_LIST {
            return Err(format!(
                "overrides: at most {MAX_RULE_LIST} servers, got {}",
                self.overrides.len()
            ));
        }
        if !crate::model::is_valid_name(&self.metric) {
            return Err(format!(
                "metric: {:?} is not a metric name (letters, digits and '_')",
                self.metric
            ));
        }
        if !self.threshold.is_finite() {
            return Err("threshold: must be a finite number".into());
        }
        self.function.validate()?;
        if let Some(resolve) = self.resolve_threshold {
            if !resolve.is_finite() {
                return Err("resolve_threshold: must be a finite number".into());
            }
            let wrong_side = if self.op.is_upper() {
                resolve > self.threshold
            } else {
                resolve < self.threshold
            };
            if wrong_side {
                return Err(format!(
                    "resolve_threshold: {resolve} is on the firing side of {} {}; for hysteresis it must be {} the threshold",
                    self.op.symbol(),
                    self.threshold,
                    if self.op.is_upper() {
                        "at or below"
                    } else {
                        "at or above"
                    }
                ));
            }
        }
        if let Scope::Servers(ids) = &self.scope
            && ids.is_empty()
        {
            return Err("scope: list at least one server".into());
        }
        for server in self.overrides.keys() {
            self.for_server(server)
                .validate()
                .map_err(|e| format!("overrides.{server}.{e}"))?;
        }
        Ok(())
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition does not hold.
    #[default]
    Inactive,
    /// The condition holds, for less than the rule's `for` duration.
    Pending,
    /// The condition has held long enough.
    Firing,
    /// It was firing and the value crossed back.
    Resolved,
}

/// One transition of one alert (a rule on one series of one server), as
/// stored and as sent to notifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertEvent {
    /// Store-assigned id (0 before it is stored).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = 0))]
    pub id: i64,
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// The server.
    pub server_id: ServerId,
    /// The metric.
    pub metric: String,
    /// The series' labels.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = json!({})))]
    pub labels: Labels,
    /// The state before.
    pub from: AlertState,
    /// The state after.
    pub state: AlertState,
    /// The value that caused the transition (absent for offline alerts).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = json!(null)))]
    pub value: Option<f64>,
    /// The rule's threshold.
    pub threshold: f64,
    /// Urgency.
    pub severity: Severity,
    /// When it happened.
    pub at: Timestamp,
    /// A sentence for people.
    pub message: String,
}

/// A silence: no notifications for the alerts it covers until a time (the
/// alerts are still evaluated and their events stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Silence {
    /// Assigned when it is created.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = ""))]
    pub id: String,
    /// Only this rule's alerts (every rule when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub rule_id: Option<String>,
    /// Only this server's alerts (every server when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub server_id: Option<ServerId>,
    /// When it ends.
    pub until: Timestamp,
    /// Why (for the people who read the list).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = "", max_length = 1000))]
    pub comment: String,
}

/// The longest silence comment, in bytes.
pub const MAX_SILENCE_COMMENT_LEN: usize = 1_000;

impl Silence {
    /// Checks what a client gave: a rule id of the id form, a comment of at
    /// most [`MAX_SILENCE_COMMENT_LEN`] bytes of safe text.
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(rule) = &self.rule_id
            && !is_valid_rule_id(rule)
        {
            return Err(format!(
                "rule_id: {rule:?} is not a rule id (1 to 64 letters, digits, '.', '_' or '-')"
            ));
        }
        if self.comment.len() > MAX_SILENCE_COMMENT_LEN
            || !crate::model::is_safe_text(&self.comment)
        {
            return Err(format!(
                "comment: at most {MAX_SILENCE_COMMENT_LEN} bytes, without control or invisible formatting characters"
            ));
        }
        Ok(())
    }

    /// True when it covers an alert of `rule_id` on `server_id` at `now`.
    pub fn covers(&self, rule_id: &str, server_id: &ServerId, now: Timestamp) -> bool {
        now < self.until
            && self.rule_id.as_deref().is_none_or(|r| r == rule_id)
            && self.server_id.as_ref().is_none_or(|s| s == server_id)
    }
}

impl AlertEvent {
    /// True for the transitions people are told about: an alert starts
    /// firing, or a firing alert resolves.
    pub fn notifies(&self) -> bool {
        self.state == AlertState::Firing
            || (self.state == AlertState::Resolved && self.from == AlertState::Firing)
    }

    /// The alert it belongs to.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            rule_id: self.rule_id.clone(),
            server_id: self.server_id.clone(),
            labels: self.labels.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_accept_the_originals_body_and_refuse_typos() {
        let t: Thresholds = serde_json::from_str(
            r#"{"cpu_total_percent": 85, "memory_used_percent": 80, "disk_used_percent": 90}"#,
        )
        .unwrap();
        assert_eq!(t.cpu_total_percent, 85.0);
        assert!(t.validate().is_ok());
        assert!(serde_json::from_str::<Thresholds>(r#"{"cpu_total_percnt": 85}"#).is_err());
        let bad = Thresholds {
            disk_used_percent: 120.0,
            ..t
        };
        assert!(bad.validate().unwrap_err().contains("disk_used_percent"));
    }

    #[test]
    fn comparisons() {
        assert!(Comparison::Greater.holds(2.0, 1.0));
        assert!(!Comparison::Greater.holds(1.0, 1.0));
        assert!(Comparison::GreaterOrEqual.holds(1.0, 1.0));
        assert!(Comparison::Less.holds(0.5, 1.0));
        assert!(Comparison::LessOrEqual.holds(1.0, 1.0));
        let op: Comparison = serde_json::from_str("\">=\"").unwrap();
        assert_eq!(op, Comparison::GreaterOrEqual);
    }
}
