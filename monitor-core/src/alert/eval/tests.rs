//! Unit tests of the alert evaluator.

use proptest::prelude::*;

use super::*;
use crate::alert::{Comparison, Scope, Thresholds};
use crate::model::{Collection, LabelMatcher, Unit};

fn id(name: &str) -> ServerId {
    ServerId::new(name).unwrap_or_else(|e| panic!("{e}"))
}

fn rule(id: &str, metric: &str, threshold: f64) -> AlertRule {
    let mut r = AlertRule::threshold(id, metric, Comparison::Greater, threshold);
    r.id = id.to_owned();
    r
}

/// A snapshot of `server` at second `t` with `metric` = `value` per label set.
fn snap(server: &str, t: i64, metric: &str, values: &[(Labels, f64)]) -> Snapshot {
    let mut c = Collection::new();
    for (labels, value) in values {
        c.gauge(metric, Unit::PERCENT, labels.clone(), *value);
    }
    Snapshot::new(id(server), Timestamp::from_millis(t * 1000), c)
}

fn states(events: &[AlertEvent]) -> Vec<AlertState> {
    events.iter().map(|e| e.state).collect()
}

/// Feeds `values` (one a second from t = 0) of one series; every event.
fn run(rule: &AlertRule, values: &[f64]) -> Vec<AlertEvent> {
    let server = id("srv-01");
    let facts = ServerFacts::new(&server, &[]);
    let mut e = Evaluator::default();
    let mut events = Vec::new();
    for (t, v) in values.iter().enumerate() {
        let s = snap("srv-01", t as i64, &rule.metric, &[(Labels::new(), *v)]);
        events.extend(e.on_snapshot(std::slice::from_ref(rule), &facts, &s));
    }
    events
}

#[test]
fn a_filesystem_filling_up_fires_before_it_is_full_and_resolves_when_freed() {
    let mut r = rule("fill", "filesystem_used_percent", 0.0);
    r.function = Function::SecondsUntil {
        target: 100.0,
        window_secs: 3600,
    };
    r.op = Comparison::Less;
    r.threshold = 86_400.0;
    let server = id("srv-01");
    let facts = ServerFacts::new(&server, &[]);
    let root = Labels::new().with("mountpoint", "/");
    let mut e = Evaluator::default();
    let mut events = Vec::new();
    // 1 % an hour from 60 %: full in 40 h, not within a day.
    for minute in 0..=120 {
        let used = 60.0 + minute as f64 / 60.0;
        let s = snap("srv-01", minute * 60, &r.metric, &[(root.clone(), used)]);
        events.extend(e.on_snapshot(std::slice::from_ref(&r), &facts, &s));
    }
    assert!(events.is_empty(), "{events:?}");
    // Then 10 % an hour: full in about 3.8 h.
    for minute in 121..=180 {
        let used = 62.0 + (minute - 120) as f64 / 6.0;
        let s = snap("srv-01", minute * 60, &r.metric, &[(root.clone(), used)]);
        events.extend(e.on_snapshot(std::slice::from_ref(&r), &facts, &s));
    }
    assert_eq!(states(&events), [AlertState::Firing]);
    assert!(events[0].value.is_some_and(|v| v < 86_400.0));
    assert!(
        events[0].message.contains("seconds until"),
        "{}",
        events[0].message
    );
    // Files deleted: down to 40 % and flat; the trend no longer heads
    // to 100 once the window forgets the climb.
    let mut later = Vec::new();
    for minute in 181..=300 {
        let s = snap("srv-01", minute * 60, &r.metric, &[(root.clone(), 40.0)]);
        later.extend(e.on_snapshot(std::slice::from_ref(&r), &facts, &s));
    }
    assert_eq!(states(&later), [AlertState::Resolved]);
}

#[test]
fn pending_until_the_condition_held_for_its_duration() {
    let mut r = rule("cpu", "cpu_usage_percent", 90.0);
    r.for_secs = 3;
    // Holds at 0..=1, dips at 2: back to inactive, no firing.
    let events = run(&r, &[95.0, 96.0, 50.0, 95.0, 95.0, 95.0, 95.0]);
    assert_eq!(
        states(&events),
        [
            AlertState::Pending,
            AlertState::Inactive,
            AlertState::Pending,
            AlertState::Firing
        ]
    );
    assert_eq!(
        events[3].at,
        Timestamp::from_millis(6000),
        "3 s after t = 3"
    );
    assert_eq!(events[3].value, Some(95.0));
    assert!(events[3].notifies() && !events[0].notifies() && !events[1].notifies());
}

#[test]
fn hysteresis_keeps_a_hovering_value_firing() {
    let mut r = rule("cpu", "cpu_usage_percent", 90.0);
    r.resolve_threshold = Some(80.0);
    let events = run(&r, &[91.0, 89.0, 91.0, 85.0, 90.5, 79.0, 85.0, 91.0]);
    assert_eq!(
        states(&events),
        [AlertState::Firing, AlertState::Resolved, AlertState::Firing]
    );
    assert_eq!(events[1].value, Some(79.0));
    assert!(events[1].notifies(), "a resolution is told");
    // Without hysteresis the same values flap.
    r.resolve_threshold = None;
    assert_eq!(
        run(&r, &[91.0, 89.0, 91.0, 85.0, 90.5, 79.0, 85.0, 91.0]).len(),
        7
    );
}

#[test]
fn a_series_that_disappears_ends_its_alert() {
    let r = rule("disk", "filesystem_used_percent", 90.0);
    let server = id("srv-01");
    let facts = ServerFacts::new(&server, &[]);
    let data = Labels::new().with("mountpoint", "/data");
    let root = Labels::new().with("mountpoint", "/");
    let mut e = Evaluator::default();
    let metric = "filesystem_used_percent";
    let first = snap(
        "srv-01",
        0,
        metric,
        &[(data.clone(), 97.0), (root.clone(), 40.0)],
    );
    let events = e.on_snapshot(std::slice::from_ref(&r), &facts, &first);
    assert_eq!(states(&events), [AlertState::Firing]);
    assert_eq!(events[0].labels, data);
    let second = snap("srv-01", 5, metric, &[(root, 40.0)]);
    let events = e.on_snapshot(std::slice::from_ref(&r), &facts, &second);
    assert_eq!(states(&events), [AlertState::Resolved]);
    assert_eq!(events[0].value, None);
    assert!(
        events[0].message.contains("no longer reported"),
        "{}",
        events[0].message
    );
    assert_eq!(e.active().count(), 0);
}

#[test]
fn offline_fires_after_missed_intervals_and_resolves_on_the_next_report() {
    let r = rule("offline", OFFLINE_METRIC, 3.0);
    let server = id("srv-01");
    let facts = ServerFacts::new(&server, &[]);
    let mut e = Evaluator::default();
    let seen = |t: i64| LastSeen {
        server: facts,
        at: Some(Timestamp::from_millis(t)),
        interval_secs: 5.0,
    };
    let rules = std::slice::from_ref(&r);
    assert!(
        e.on_tick(rules, &[seen(0)], Timestamp::from_millis(15_000))
            .is_empty()
    );
    let events = e.on_tick(rules, &[seen(0)], Timestamp::from_millis(15_001));
    assert_eq!(states(&events), [AlertState::Firing]);
    assert!(
        e.on_tick(rules, &[seen(0)], Timestamp::from_millis(60_000))
            .is_empty()
    );
    let never = LastSeen {
        server: facts,
        at: None,
        interval_secs: 5.0,
    };
    let mut fresh = Evaluator::default();
    assert!(
        fresh
            .on_tick(rules, &[never], Timestamp::from_millis(1 << 40))
            .is_empty()
    );
    let back = snap("srv-01", 61, "load_average_1m", &[(Labels::new(), 1.0)]);
    let events = e.on_snapshot(rules, &facts, &back);
    assert_eq!(states(&events), [AlertState::Resolved]);
}

#[test]
fn saved_states_resume_without_a_second_firing() {
    let r = rule("cpu", "cpu_usage_percent", 90.0);
    let server = id("srv-01");
    let facts = ServerFacts::new(&server, &[]);
    let rules = std::slice::from_ref(&r);
    let mut e = Evaluator::default();
    let hot = |t| snap("srv-01", t, "cpu_usage_percent", &[(Labels::new(), 99.0)]);
    let fired = e.on_snapshot(rules, &facts, &hot(0));
    assert_eq!(fired.len(), 1);
    assert_eq!(e.unnotified_firing().len(), 1);
    let key = AlertKey {
        rule_id: "cpu".into(),
        server_id: server.clone(),
        labels: Labels::new(),
    };
    assert_eq!(fired[0].key(), key);
    e.notified(&key, Timestamp::from_millis(0));
    let saved = e.take_changed();
    assert_eq!(saved.len(), 1);
    assert!(e.take_changed().is_empty(), "nothing changed since");
    assert_eq!(saved[0].last_notified, Some(Timestamp::from_millis(0)));

    let mut resumed = Evaluator::from_records(saved);
    assert!(resumed.on_snapshot(rules, &facts, &hot(5)).is_empty());
    assert!(
        resumed.take_changed().is_empty(),
        "no transition, nothing to save"
    );
    assert!(
        resumed.unnotified_firing().is_empty(),
        "notified when it fired"
    );
    assert!(
        resumed
            .due_repeats(60_000, Timestamp::from_millis(59_999))
            .is_empty()
    );
    assert_eq!(
        resumed
            .due_repeats(60_000, Timestamp::from_millis(60_000))
            .len(),
        1
    );
    // A snapshot older than the state's start changes nothing.
    let cold = snap("srv-01", -10, "cpu_usage_percent", &[(Labels::new(), 1.0)]);
    assert!(resumed.on_snapshot(rules, &facts, &cold).is_empty());
}

#[test]
fn scope_matchers_and_disabled_rules() {
    let mut by_tag = rule("web", "cpu_usage_percent", 50.0);
    by_tag.scope = Scope::Tag("web".into());
    let mut listed = rule("listed", "cpu_usage_percent", 50.0);
    listed.scope = Scope::Servers(vec![id("db-01")]);
    let mut off = rule("off", "cpu_usage_percent", 50.0);
    off.enabled = false;
    let mut core3 = rule("core3", "cpu_usage_percent", 50.0);
    core3.matchers = vec![LabelMatcher::equal("cpu", "3")];
    let rules = [by_tag, listed, off, core3];
    let values = [
        (Labels::new(), 99.0),
        (Labels::new().with("cpu", "3"), 99.0),
        (Labels::new().with("cpu", "4"), 99.0),
    ];
    let web = id("web-01");
    let tags = ["web".to_owned()];
    let mut e = Evaluator::default();
    let s = snap("web-01", 0, "cpu_usage_percent", &values);
    let events = e.on_snapshot(&rules, &ServerFacts::new(&web, &tags), &s);
    let fired: Vec<(&str, String)> = events
        .iter()
        .map(|e| (e.rule_id.as_str(), e.labels.to_string()))
        .collect();
    assert_eq!(
        fired,
        [
            ("web", String::new()),
            ("web", "{cpu=\"3\"}".into()),
            ("web", "{cpu=\"4\"}".into()),
            ("core3", "{cpu=\"3\"}".into()),
        ]
    );
}

#[test]
fn per_server_overrides() {
    let mut r = rule("disk", "filesystem_used_percent", 90.0);
    r.resolve_threshold = Some(85.0);
    let db = id("db-01");
    let web = id("web-01");
    r.overrides.insert(
        db.clone(),
        crate::alert::RuleOverride {
            threshold: Some(97.0),
            ..Default::default()
        },
    );
    r.overrides.insert(
        web.clone(),
        crate::alert::RuleOverride {
            enabled: Some(false),
            ..Default::default()
        },
    );
    assert!(r.validate().is_ok());
    assert_eq!(r.for_server(&db).threshold, 97.0);
    assert_eq!(r.for_server(&db).resolve_threshold, Some(85.0));
    let values = [(Labels::new().with("mountpoint", "/"), 95.0)];
    let rules = std::slice::from_ref(&r);
    let mut e = Evaluator::default();
    for (name, fired) in [("srv-01", 1), ("db-01", 0), ("web-01", 0)] {
        let server = id(name);
        let s = snap(name, 0, "filesystem_used_percent", &values);
        let events = e.on_snapshot(rules, &ServerFacts::new(&server, &[]), &s);
        assert_eq!(events.len(), fired, "{name}");
    }
    let mut bad = r.clone();
    bad.overrides.insert(
        db,
        crate::alert::RuleOverride {
            resolve_threshold: Some(99.0),
            ..Default::default()
        },
    );
    let err = bad.validate().unwrap_err();
    assert!(
        err.starts_with("overrides.db-01.resolve_threshold"),
        "{err}"
    );
    let json = serde_json::to_value(&r).unwrap_or_default();
    assert_eq!(json["overrides"]["db-01"]["threshold"], 97.0);
}

#[test]
fn the_originals_thresholds_as_rules() {
    let rules = Thresholds {
        cpu_total_percent: 85.0,
        memory_used_percent: 80.0,
        disk_used_percent: 90.0,
    }
    .to_rules();
    assert!(rules.iter().all(|r| r.validate().is_ok()));
    let server = id("srv-01");
    let values = [
        (Labels::new(), 86.0),
        (Labels::new().with("cpu", "0"), 100.0),
    ];
    let s = snap("srv-01", 0, "cpu_usage_percent", &values);
    let events = Evaluator::default().on_snapshot(&rules, &ServerFacts::new(&server, &[]), &s);
    assert_eq!(events.len(), 1, "only the whole machine's CPU");
    assert_eq!(events[0].rule_id, "cpu_total_percent");
    assert!(events[0].labels.is_empty());
}

#[test]
fn rules_are_checked_field_by_field() {
    let ok = rule("cpu", "cpu_usage_percent", 90.0);
    assert!(ok.validate().is_ok());
    let mut bad = ok.clone();
    bad.resolve_threshold = Some(95.0);
    assert!(bad.validate().unwrap_err().starts_with("resolve_threshold"));
    bad.op = Comparison::Less;
    assert!(bad.validate().is_ok(), "95 resolves a < 90 rule");
    bad.metric = "cpu usage".into();
    assert!(bad.validate().unwrap_err().starts_with("metric"));
    let mut nan = ok;
    nan.threshold = f64::NAN;
    assert!(nan.validate().unwrap_err().starts_with("threshold"));
}

proptest! {
    /// With hysteresis, a firing alert resolves only at or below the
    /// resolve threshold, fires again only after that, and the events
    /// chain (each starts where the previous ended).
    #[test]
    fn hysteresis_never_flaps(
        values in proptest::collection::vec(0.0f64..100.0, 1..200),
        threshold in 50.0f64..95.0,
        gap in 0.0f64..20.0,
        for_secs in 0u64..4,
    ) {
        let mut r = rule("r", "m", threshold);
        r.resolve_threshold = Some(threshold - gap);
        r.for_secs = for_secs;
        let events = run(&r, &values);
        let mut state = AlertState::Inactive;
        let mut rearmed = true;
        let mut next = 0;
        for (t, v) in values.iter().enumerate() {
            if *v <= threshold - gap {
                rearmed = true;
            }
            while next < events.len() && events[next].at == Timestamp::from_millis(t as i64 * 1000) {
                let e = &events[next];
                prop_assert_eq!(e.from, state);
                match e.state {
                    AlertState::Firing => {
                        prop_assert!(rearmed, "fired again without crossing back");
                        prop_assert!(*v > threshold);
                        rearmed = false;
                    }
                    AlertState::Resolved => prop_assert!(*v <= threshold - gap),
                    _ => {}
                }
                state = e.state;
                next += 1;
            }
        }
        prop_assert_eq!(next, events.len());
    }

    /// Values that stay above the resolve threshold after firing never
    /// resolve, however they move around the firing threshold.
    #[test]
    fn hovering_values_stay_firing(
        values in proptest::collection::vec(80.5f64..100.0, 1..100),
    ) {
        let mut r = rule("r", "m", 90.0);
        r.resolve_threshold = Some(80.0);
        let mut all = vec![95.0];
        all.extend(values);
        let events = run(&r, &all);
        prop_assert_eq!(states(&events), [AlertState::Firing]);
    }
}
