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
