//! What a rule would have done over stored history: the same
//! [`Evaluator`] as live ingest, fed one server's stored reports in time
//! order, starting with every alert inactive.
//!
//! The history comes in buckets (of raw reports, or of rollups for long
//! ranges); each is replayed at its start with the value that could have
//! crossed the threshold: the bucket's largest for a rule that fires above
//! (`>`, `>=`), its smallest for one that fires below, so a spike is never
//! averaged away (a bucket of one report is that report). Rules with a
//! [`Function`] other than the value see each bucket's last value.
//! `for_secs` counts in buckets.
//!
//! ```
//! use monitor_core::alert::{AlertRule, ServerFacts, preview};
//! use monitor_core::model::{Labels, MetricKind, ServerId, Timestamp, Unit};
//! use monitor_core::store::{History, Point, Series, Tier};
//!
//! let rule: AlertRule = serde_json::from_str(
//!     r#"{"id": "hot", "name": "Hot", "metric": "cpu_usage_percent", "op": ">", "threshold": 90}"#,
//! ).unwrap();
//! let point = |s: i64, v: f64| Point {
//!     t: Timestamp::from_millis(s * 1000), avg: v, min: v, max: v, last: v, count: 1,
//! };
//! let history = History {
//!     step_secs: 5,
//!     tier: Tier::Raw,
//!     series: vec![Series {
//!         metric: "cpu_usage_percent".into(),
//!         labels: Labels::new(),
//!         kind: MetricKind::Gauge,
//!         unit: Unit::PERCENT,
//!         points: vec![point(0, 50.0), point(5, 95.0), point(10, 40.0)],
//!     }],
//! };
//! let id = ServerId::new("srv-01").unwrap();
//! let outcome = preview(&rule, &ServerFacts::new(&id, &[]), &history);
//! assert_eq!((outcome.reports, outcome.fired, outcome.firing_at_end), (3, 1, 0));
//! assert_eq!(outcome.events.len(), 2); // firing at 5 s, resolved at 10 s
//! ```

use std::collections::BTreeMap;

use super::{AlertEvent, AlertRule, AlertState, Evaluator, Function, ServerFacts};
use crate::model::{MetricFamily, Sample, Snapshot, Timestamp};
use crate::store::{History, Point};

/// What [`preview`] found for one server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreviewOutcome {
    /// The transitions, oldest first (unstored: `id` 0).
    pub events: Vec<AlertEvent>,
    /// The reports (or rollup buckets) evaluated.
    pub reports: usize,
    /// How many times an alert went to firing.
    pub fired: usize,
    /// Alerts still firing after the last report.
    pub firing_at_end: usize,
}

/// Evaluates `rule` (as if enabled; a server's override applies) on one
/// server's stored history of the rule's metric (see the module docs). The
/// caller checks that the rule is valid, in
/// scope of the server, and not a host-offline rule (those depend on the
/// time between reports, which history does not replay).
pub fn preview(rule: &AlertRule, server: &ServerFacts<'_>, history: &History) -> PreviewOutcome {
    let pick: fn(&Point) -> f64 = match rule.function {
        Function::Value if rule.op.is_upper() => |p| p.max,
        Function::Value => |p| p.min,
        Function::Increase { .. } | Function::SecondsUntil { .. } => |p| p.last,
    };
    // The reports by time: each holds the samples of every series stored
    // at that time (a series missing from one ends its alert, as live).
    let mut reports: BTreeMap<Timestamp, Vec<Sample>> = BTreeMap::new();
    for series in &history.series {
        for point in &series.points {
            reports.entry(point.t).or_default().push(Sample {
                labels: series.labels.clone(),
                value: pick(point),
            });
        }
    }
    let (kind, unit) = history
        .series
        .first()
        .map(|s| (s.kind, s.unit.clone()))
        .unwrap_or_default();
    // Evaluated as if enabled: the point is to see what it would do.
    let rule = AlertRule {
        enabled: true,
        ..rule.clone()
    };
    let rules = std::slice::from_ref(&rule);
    let mut evaluator = Evaluator::default();
    let mut outcome = PreviewOutcome {
        reports: reports.len(),
        ..PreviewOutcome::default()
    };
    for (at, samples) in reports {
        let snapshot = Snapshot {
            metrics: vec![MetricFamily {
                name: rule.metric.clone(),
                kind,
                unit: unit.clone(),
                help: None,
                samples,
            }],
            ..Snapshot::new(server.id.clone(), at, Default::default())
        };
        for event in evaluator.on_snapshot(rules, server, &snapshot) {
            if event.state == AlertState::Firing {
                outcome.fired += 1;
            }
            outcome.events.push(event);
        }
    }
    outcome.firing_at_end = evaluator
        .active()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, MetricKind, ServerId, Unit};
    use crate::store::{Series, Tier};

    fn rule(json: &str) -> AlertRule {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    fn point(secs: i64, avg: f64, min: f64, max: f64) -> Point {
        Point {
            t: Timestamp::from_millis(secs * 1000),
            avg,
            min,
            max,
            last: avg,
            count: 12,
        }
    }

    fn history(tier: Tier, series: Vec<(&str, Vec<Point>)>) -> History {
        History {
            step_secs: if tier == Tier::Raw { 5 } else { 60 },
            tier,
            series: series
                .into_iter()
                .map(|(mount, points)| Series {
                    metric: "filesystem_used_percent".into(),
                    labels: Labels::from_pairs([("mountpoint", mount)]),
                    kind: MetricKind::Gauge,
                    unit: Unit::PERCENT,
                    points,
                })
                .collect(),
        }
    }

    const FULL: &str = r#"{"id": "full", "name": "Full", "metric": "filesystem_used_percent",
        "op": ">", "threshold": 90, "for_secs": 60}"#;

    #[test]
    fn for_secs_holds_and_each_series_is_its_own_alert() {
        let id = ServerId::new("srv-01").unwrap();
        let raw = |s, v| point(s, v, v, v);
        let h = history(
            Tier::Raw,
            vec![
                // Over for 90 s: fires at 60 s, resolves at 95 s.
                (
                    "/",
                    (0..20)
                        .map(|i| raw(i * 5, if i < 19 { 95.0 } else { 50.0 }))
                        .collect(),
                ),
                // Over for 30 s only: pending, then back to normal.
                (
                    "/data",
                    (0..20)
                        .map(|i| raw(i * 5, if i < 6 { 95.0 } else { 50.0 }))
                        .collect(),
                ),
            ],
        );
        let out = preview(&rule(FULL), &ServerFacts::new(&id, &[]), &h);
        assert_eq!((out.reports, out.fired, out.firing_at_end), (20, 1, 0));
        let states: Vec<(&str, AlertState, i64)> = out
            .events
            .iter()
            .map(|e| {
                (
                    e.labels.get("mountpoint").unwrap_or(""),
                    e.state,
                    e.at.as_millis() / 1000,
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("/", AlertState::Pending, 0),
                ("/data", AlertState::Pending, 0),
                ("/data", AlertState::Inactive, 30),
                ("/", AlertState::Firing, 60),
                ("/", AlertState::Resolved, 95),
            ]
        );
        assert!(out.events.iter().all(|e| e.id == 0 && e.server_id == id));
    }

    #[test]
    fn rollups_keep_the_spike_the_average_hides() {
        let id = ServerId::new("srv-01").unwrap();
        // Minute buckets averaging 60 % with one sample at 97 %.
        let h = history(
            Tier::Minute,
            vec![(
                "/",
                (0..5).map(|i| point(i * 60, 60.0, 40.0, 97.0)).collect(),
            )],
        );
        let out = preview(&rule(FULL), &ServerFacts::new(&id, &[]), &h);
        assert_eq!((out.fired, out.firing_at_end), (1, 1), "{:?}", out.events);
        // A rule that fires below sees each bucket's smallest value.
        let low = rule(
            r#"{"id": "low", "name": "Low", "metric": "filesystem_used_percent", "op": "<", "threshold": 45}"#,
        );
        let out = preview(&low, &ServerFacts::new(&id, &[]), &h);
        assert_eq!(out.fired, 1);
        // A rule on the increase sees each bucket's last value.
        let grows = rule(
            r#"{"id": "grows", "name": "Grows", "metric": "filesystem_used_percent", "op": ">",
                "threshold": 5, "function": {"kind": "increase", "window_secs": 600}}"#,
        );
        let h = history(
            Tier::Minute,
            vec![(
                "/",
                (0..5)
                    .map(|i| point(i * 60, 60.0 + i as f64 * 2.0, 0.0, 99.0))
                    .collect(),
            )],
        );
        assert_eq!(preview(&grows, &ServerFacts::new(&id, &[]), &h).fired, 1);
    }

    #[test]
    fn no_history_is_no_report() {
        let id = ServerId::new("srv-01").unwrap();
        let out = preview(
            &rule(FULL),
            &ServerFacts::new(&id, &[]),
            &history(Tier::Raw, vec![]),
        );
        assert_eq!(out, PreviewOutcome::default());
    }
}
