//! docs/metrics.md cannot drift from the table of well-known metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::names::{Instrument, WELL_KNOWN};

#[test]
fn metrics_page_lists_every_metric_with_its_prometheus_and_opentelemetry_names() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .expect("docs/metrics.md exists");
    let mut missing = Vec::new();
    for d in WELL_KNOWN {
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", d.name)));
        match row {
            None => missing.push(format!("{} (no table row)", d.name)),
            Some(row) => {
                let prometheus = d.prometheus();
                let exposed = match prometheus.divisor {
                    1.0 => format!("| `{}` | `{}` |", d.name, prometheus.name),
                    divisor => format!("| `{}` | `{}` ÷ {divisor} |", d.name, prometheus.name),
                };
                if !row.starts_with(&exposed) {
                    missing.push(format!("{}: Prometheus name ({exposed})", d.name));
                }
                if !row.contains(&format!("`{}`", d.otel.name)) {
                    missing.push(format!("{}: OpenTelemetry name {}", d.name, d.otel.name));
                }
                let otlp = match d.otel.instrument {
                    Instrument::Gauge => "Gauge",
                    Instrument::UpDownCounter => "Sum (up-down)",
                    Instrument::Counter => "Sum (monotonic)",
                };
                if !row.contains(&format!("| {otlp} |")) {
                    missing.push(format!("{}: OTLP type {otlp}", d.name));
                }
                let kind = format!("{:?}", d.kind).to_lowercase();
                if !row.contains(&format!("| {kind} |")) {
                    missing.push(format!("{}: kind {kind}", d.name));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/metrics.md is out of date: {missing:#?}"
    );
}

#[test]
fn the_legacy_names_rules_record_every_old_name_from_its_new_one() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/prometheus/monitor-legacy-names.rules.yml"
    ))
    .expect("the rules file exists");
    // Metrics that came with the monitor_ names, or later, have no old name.
    let new_since = [
        "cpu_seconds_total",
        "container_cpu_seconds_total",
        "container_oom_kills_total",
    ];
    let had_old_name = |name: &str| {
        !new_since.contains(&name)
            && !name.starts_with("probe_")
            && !name.starts_with("sensor_")
            && !name.starts_with("disk_smart")
            && ![
                "disk_temperature_celsius",
                "disk_reallocated_sectors",
                "disk_pending_sectors",
                "disk_wear_percent",
            ]
            .contains(&name)
    };
    let mut missing = Vec::new();
    for d in WELL_KNOWN.iter().filter(|d| had_old_name(d.name)) {
        let p = d.prometheus();
        let expr = match p.divisor {
            1.0 => p.name.clone(),
            divisor => format!("{} * {divisor}", p.name),
        };
        let rule = format!("      - record: {}\n        expr: {expr}\n", d.name);
        if !rules.contains(&rule) {
            missing.push(rule);
        }
    }
    assert!(missing.is_empty(), "rules missing or wrong: {missing:#?}");
    assert_eq!(
        rules.matches("- record:").count(),
        WELL_KNOWN.iter().filter(|d| had_old_name(d.name)).count(),
        "a rule for a name that is not a built-in metric"
    );
}
