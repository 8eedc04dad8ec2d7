//! Unit tests of the metric data model.

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
