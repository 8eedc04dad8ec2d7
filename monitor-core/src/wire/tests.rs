//! Unit tests of the wire format: encoding, decoding, limits and cleaning.

use super::*;
use crate::model::{Collection, Labels, ServerId, Timestamp, Unit};

#[test]
fn clean_leaves_out_only_what_validate_refuses() {
    let mut c = Collection::new();
    c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), 1024.0);
    c.gauge("9lives", Unit::NONE, Labels::new(), 1.0);
    c.gauge("odd_unit", Unit::new("Per Cent"), Labels::new(), 1.0);
    c.gauge(
        "plugin_value",
        Unit::NONE,
        Labels::new().with("bad-name", "x"),
        1.0,
    );
    c.gauge(
        "plugin_value",
        Unit::NONE,
        Labels::new().with("ok", "a\nb"),
        1.0,
    );
    c.gauge(
        "plugin_value",
        Unit::NONE,
        Labels::new().with("ok", "1"),
        f64::NAN,
    );
    c.gauge(
        "plugin_value",
        Unit::NONE,
        Labels::new().with("ok", "2"),
        2.0,
    );
    c.gauge(
        "plugin_value",
        Unit::NONE,
        Labels::new().with("ok", "2"),
        3.0,
    );
    c.gauge(
        "plugin_value",
        Unit::NONE,
        Labels::new().with("ok", "3"),
        1e300,
    );
    c.families.push(crate::model::MetricFamily::new(
        "memory_used_bytes",
        crate::model::MetricKind::Gauge,
        Unit::BYTES,
    ));
    c.families[0].help = Some("x".repeat(300));
    let limits = Limits::default();
    let discarded = clean(&mut c, &limits);
    let said: Vec<String> = discarded.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 8, "{said:#?}");
    assert!(said[0].contains("help text"), "{said:#?}");
    let plugin = c
        .families
        .iter()
        .find(|f| f.name == "plugin_value")
        .unwrap();
    assert_eq!(plugin.samples.len(), 1);
    assert_eq!(
        plugin.samples[0].value, 2.0,
        "the first of a repeated series"
    );
    assert_eq!(c.families.len(), 2, "the invalid families are gone");
    let snap = Snapshot::new(
        ServerId::new("srv-01").unwrap(),
        Timestamp::from_millis(0),
        c,
    );
    validate(&snap, &limits).unwrap();
    let mut clean_again = Collection {
        families: snap.metrics,
        ..Collection::default()
    };
    assert!(
        clean(&mut clean_again, &limits).is_empty(),
        "nothing left to clean"
    );
}

#[test]
fn clean_finds_repeats_in_large_families() {
    let mut c = Collection::new();
    for i in 0..40 {
        let i = if i == 30 || i == 35 { 3 } else { i };
        c.gauge(
            "a",
            Unit::NONE,
            Labels::new().with("i", i.to_string()),
            f64::from(i),
        );
    }
    for _ in 0..20 {
        c.families.push(crate::model::MetricFamily::new(
            "b",
            crate::model::MetricKind::Gauge,
            Unit::NONE,
        ));
    }
    c.families[1].push(Labels::new(), 1.0);
    c.families[2].push(Labels::new(), 2.0);
    let discarded = clean(&mut c, &Limits::default());
    assert_eq!(c.families.len(), 2);
    assert_eq!(c.families[0].samples.len(), 38);
    assert_eq!(c.families[1].samples[0].value, 1.0, "the first family b");
    let said: Vec<String> = discarded.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "\"a\": 2 sample(s) left out: the series appears twice",
            "\"b\": 1 sample(s) left out: the metric appears twice",
        ]
    );
}

#[test]
fn clean_keeps_the_first_samples_within_the_limit() {
    let mut c = Collection::new();
    for i in 0..10 {
        c.gauge("a", Unit::NONE, Labels::new().with("i", i.to_string()), 1.0);
    }
    c.gauge("b", Unit::NONE, Labels::new(), 1.0);
    let limits = Limits {
        max_samples_per_snapshot: 4,
        ..Limits::default()
    };
    let discarded = clean(&mut c, &limits);
    assert_eq!(c.sample_count(), 4);
    assert_eq!(c.families.len(), 1);
    assert_eq!(
        discarded.iter().map(|d| d.samples).sum::<usize>(),
        7,
        "{discarded:?}"
    );
}

fn snapshot() -> Snapshot {
    let mut c = Collection::new();
    c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), 1024.0);
    c.gauge(
        "cpu_usage_percent",
        Unit::PERCENT,
        Labels::new().with("cpu", "0"),
        3.5,
    );
    Snapshot::new(
        ServerId::new("srv-01").unwrap(),
        Timestamp::from_secs(1_795_000_000),
        c,
    )
}

#[test]
fn single_and_batch_round_trip() {
    let s = snapshot();
    let one = decode(&encode(&s).unwrap(), &Limits::default()).unwrap();
    assert_eq!(one, vec![s.clone()]);
    let batch = encode_batch(&[s.clone(), s.clone()]).unwrap();
    assert_eq!(decode(&batch, &Limits::default()).unwrap().len(), 2);
}

#[test]
fn wire_form_is_stable() {
    let json = String::from_utf8(encode(&snapshot()).unwrap()).unwrap();
    assert_eq!(
        json,
        r#"{"version":1,"server_id":"srv-01","timestamp":"2026-11-18T11:06:40.000Z","metrics":[{"name":"memory_used_bytes","kind":"gauge","unit":"bytes","samples":[{"value":1024.0}]},{"name":"cpu_usage_percent","kind":"gauge","unit":"percent","samples":[{"labels":{"cpu":"0"},"value":3.5}]}]}"#
    );
}

#[test]
fn minimal_hand_written_snapshot_is_accepted() {
    let body = br#"{"version":1,"server_id":"srv-01","timestamp":1795000000,
            "metrics":[{"name":"queue_depth","samples":[{"value":3}]}]}"#;
    let s = decode(body, &Limits::default()).unwrap();
    assert_eq!(s[0].value("queue_depth", &Labels::new()), Some(3.0));
}

#[test]
fn repeats_are_found_in_small_and_large_families() {
    for n in [4, 16, 17, 200] {
        let unique: Vec<u32> = (0..n).collect();
        assert_eq!(first_repeat(unique.len(), |i| unique[i]), None);
        // Items n-1 and n-2 repeat items 0 and 1: the first repeat is n-2.
        let mut twice = unique.clone();
        twice[n as usize - 1] = 0;
        twice[n as usize - 2] = 1;
        let expect = Some(n as usize - 2);
        assert_eq!(first_repeat(twice.len(), |i| twice[i]), expect, "{n}");
    }
    let mut s = Snapshot::new(
        ServerId::new("a").unwrap(),
        Timestamp::from_millis(1),
        Collection::new(),
    );
    let mut family = crate::MetricFamily::new("x", crate::MetricKind::Gauge, Unit::NONE);
    for i in 0..40 {
        family.push(Labels::new().with("i", (i % 30).to_string()), 1.0);
    }
    s.metrics.push(family);
    let err = validate(&s, &Limits::default()).unwrap_err().to_string();
    assert!(err.contains("metrics[0].samples[30].labels"), "{err}");
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"bad-name","samples":[]}]}"#,
            "metrics[0].name",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"value":1e300}]}]}"#,
            "metrics[0].samples[0].value",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"value":1},{"value":2}]}]}"#,
            "appears twice",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"labels":{"k":"a\nb"},"value":1}]}]}"#,
            "metrics[0].samples[0].labels.k",
        ),
        (
            r#"{"version":1,"snapshots":[{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"labels":{"1k":"v"},"value":1}]}]}]}"#,
            "snapshots[0].metrics[0].samples[0].labels",
        ),
        (
            r#"{"version":1,"server_id":"bad id","timestamp":1}"#,
            "invalid server id",
        ),
        (
            r#"{"version":7,"server_id":"a","timestamp":1}"#,
            "version 7",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":"noon"}"#,
            "invalid timestamp",
        ),
        (r#"[[[["#, "invalid JSON"),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"processes":[{"pid":1,"name":"a\u0007b","rss_bytes":1}]}"#,
            "processes[0].name",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"processes":[{"pid":1,"name":"a","cpu_percent":-5,"rss_bytes":1}]}"#,
            "processes[0].cpu_percent: give a finite number, 0 or more",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"processes":[{"pid":-1,"name":"a","rss_bytes":1}]}"#,
            "invalid JSON",
        ),
        (
            r#"{"version":1,"server_id":"a","timestamp":1,"processes":[{"pid":1,"rss_bytes":1}]}"#,
            "missing field `name`",
        ),
    ];
    for (body, expected) in cases {
        let err = decode(body.as_bytes(), &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{body}: {err}");
    }
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_samples_per_snapshot: 1,
        ..Limits::default()
    };
    let err = decode(&encode(&snapshot()).unwrap(), &limits).unwrap_err();
    assert!(matches!(
        err,
        WireError::TooMany {
            count: 2,
            limit: 1,
            ..
        }
    ));
    let limits = Limits {
        max_snapshots_per_batch: 1,
        ..Limits::default()
    };
    let batch = encode_batch(&[snapshot(), snapshot()]).unwrap();
    assert!(matches!(
        decode(&batch, &limits),
        Err(WireError::TooMany { .. })
    ));
    let mut many = snapshot();
    many.processes = Some(vec![crate::ProcessInfo::default(); 201]);
    let err = decode(&encode(&many).unwrap(), &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "processes: 201 items exceed the limit of 200"
    );
}

/// A sample with `n` labels whose names come in descending order.
fn label_bomb(n: usize) -> String {
    let mut body = String::from(
        r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"value":1,"labels":{"#,
    );
    for i in (0..n).rev() {
        if i + 1 < n {
            body.push(',');
        }
        body.push_str(&format!("\"l{i:07}\":\"v\""));
    }
    body.push_str("}}]}]}");
    body
}

#[test]
fn a_label_bomb_is_refused_at_the_first_label_over_the_limit() {
    // 4 MB of labels in descending order: inserted one by one into a
    // sorted vector this cost about a minute of CPU before the limit
    // was checked. Now parsing stops at the 17th label; the bound below
    // is a thousand times what that takes, so it cannot flake, and a
    // return of the quadratic insertion fails it.
    let body = label_bomb(280_000);
    assert!(body.len() > 4_000_000);
    let started = std::time::Instant::now();
    let err = decode(body.as_bytes(), &Limits::default()).unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    match &err {
        WireError::TooMany {
            field,
            count,
            limit,
        } => {
            assert_eq!((*count, *limit), (17, 16));
            assert!(
                field.contains("labels") && field.contains("line 1"),
                "{field}"
            );
        }
        other => panic!("{other}"),
    }
    // Within the limit, any order and a repeated name (the later wins).
    let ok = decode(label_bomb(16).as_bytes(), &Limits::default()).unwrap();
    let labels = &ok[0].metrics[0].samples[0].labels;
    assert_eq!(labels.len(), 16);
    assert!(labels.iter().map(|(k, _)| k).is_sorted());
    let twice = br#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"value":1,"labels":{"b":"1","a":"2","b":"3"}}]}]}"#;
    let s = decode(twice, &Limits::default()).unwrap();
    assert_eq!(s[0].metrics[0].samples[0].labels.get("b"), Some("3"));
    assert_eq!(s[0].metrics[0].samples[0].labels.len(), 2);
    // The limit is the request's: outside decode nothing is capped (a
    // store reads back what it stored).
    let limits = Limits {
        max_labels_per_sample: 2,
        ..Limits::default()
    };
    assert!(matches!(
        decode(twice, &limits),
        Err(WireError::TooMany { count: 3, .. })
    ));
    let many: Snapshot = serde_json::from_str(&label_bomb(40)).unwrap();
    assert_eq!(many.metrics[0].samples[0].labels.len(), 40);
}

#[test]
fn invisible_and_bidirectional_characters_are_refused() {
    for text in [
        "evil\u{202e}gpj.exe",
        "web\u{200b}1",
        "a\u{2066}b",
        "\u{feff}bom",
        "tag\u{e0041}",
        "line\u{2028}break",
    ] {
        let body = format!(
            r#"{{"version":1,"server_id":"a","timestamp":1,"metrics":[{{"name":"x","samples":[{{"value":1,"labels":{{"k":{}}}}}]}}]}}"#,
            serde_json::to_string(text).unwrap()
        );
        let err = decode(body.as_bytes(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("labels.k"), "{text:?}: {err}");
        let host = format!(
            r#"{{"version":1,"server_id":"a","timestamp":1,"host":{{"hostname":{}}}}}"#,
            serde_json::to_string(text).unwrap()
        );
        let err = decode(host.as_bytes(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("host.hostname"), "{text:?}: {err}");
    }
    // Other scripts and emoji are text like any other.
    for text in ["Größe", "ファイル", "مرحبا", "🚀 rocket", "שלום"] {
        assert!(crate::model::is_safe_text(text), "{text}");
    }
}

#[test]
fn a_single_snapshot_mentioning_snapshots_is_read_as_one() {
    let body = br#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"value":1,"labels":{"k":"snapshots"}}]}]}"#;
    let s = decode(body, &Limits::default()).unwrap();
    assert_eq!(s.len(), 1);
    let bad = br#"{"version":1,"server_id":"a","timestamp":"noon","metrics":[{"name":"x","samples":[{"value":1,"labels":{"k":"snapshots"}}]}]}"#;
    let err = decode(bad, &Limits::default()).unwrap_err().to_string();
    assert!(err.contains("invalid timestamp"), "{err}");
}

#[test]
fn empty_families_count_toward_the_limit() {
    let mut s = snapshot();
    s.metrics.clear();
    for i in 0..6000 {
        s.metrics.push(crate::MetricFamily::new(
            format!("empty_{i}"),
            crate::MetricKind::Gauge,
            Unit::NONE,
        ));
    }
    let err = validate(&s, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            WireError::TooMany {
                count: 6000,
                limit: 5000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let body = "[".repeat(100_000);
    assert!(matches!(
        decode(body.as_bytes(), &Limits::default()),
        Err(WireError::Json(_))
    ));
}
