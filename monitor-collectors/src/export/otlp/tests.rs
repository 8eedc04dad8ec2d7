//! Unit tests of the OTLP exporter.

use super::*;
use monitor_core::{
    Collection, ContainerInfo, ContainerState, HostInfo, Labels, Timestamp, Unit, names,
};

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match &a.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.as_str()),
            _ => None,
        })
}

fn snapshot() -> Snapshot {
    let mut c = Collection::new();
    c.gauge(names::MEMORY_USED_BYTES, Unit::BYTES, Labels::new(), 1000.0);
    c.gauge(names::MEMORY_FREE_BYTES, Unit::BYTES, Labels::new(), 500.0);
    c.gauge(
        names::CPU_USAGE_PERCENT,
        Unit::PERCENT,
        Labels::new().with("cpu", "2"),
        50.0,
    );
    c.counter(
        names::NETWORK_RECEIVE_BYTES_TOTAL,
        Unit::BYTES,
        Labels::new().with("interface", "eth0"),
        42.0,
    );
    c.gauge(
        names::CONTAINER_CPU_PERCENT,
        Unit::PERCENT,
        Labels::new().with("name", "web"),
        150.0,
    );
    c.gauge(
        "queue_depth",
        Unit::COUNT,
        Labels::new().with("queue", "mail"),
        3.0,
    );
    c.host = Some(HostInfo {
        hostname: "web-1.example".into(),
        os: "Debian GNU/Linux 12".into(),
        kernel: "6.1".into(),
        arch: "x86_64".into(),
        boot_time: Some(Timestamp::from_secs(1_000)),
        agent_version: "0.1.0".into(),
    });
    c.containers = Some(vec![ContainerInfo {
        id: "abc123".into(),
        name: "web".into(),
        image: "nginx:1.27".into(),
        state: ContainerState::Running,
        status: String::new(),
        health: None,
        restart_count: 0,
        created: None,
        started: Some(Timestamp::from_secs(2_000)),
        exit_code: None,
        oom_killed: false,
    }]);
    Snapshot::new(
        ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}")),
        Timestamp::from_secs(5_000),
        c,
    )
}

#[test]
fn a_snapshot_maps_to_the_semantic_conventions() {
    let req = request([&snapshot()], "monitor");
    assert_eq!(req.resource_metrics.len(), 1);
    let rm = &req.resource_metrics[0];
    let resource = rm
        .resource
        .as_ref()
        .unwrap_or_else(|| panic!("no resource"));
    assert_eq!(attr(&resource.attributes, "host.id"), Some("srv-01"));
    assert_eq!(
        attr(&resource.attributes, "host.name"),
        Some("web-1.example")
    );
    assert_eq!(attr(&resource.attributes, "service.name"), Some("monitor"));
    let metrics = &rm.scope_metrics[0].metrics;
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
    };
    // Two of ours, one OpenTelemetry metric told apart by state.
    let memory = find("system.memory.usage");
    assert_eq!(memory.unit, "By");
    let Some(metric::Data::Sum(sum)) = &memory.data else {
        panic!("{memory:?}")
    };
    assert!(!sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let states: Vec<_> = sum
        .data_points
        .iter()
        .map(|p| (attr(&p.attributes, "system.memory.state"), p.value))
        .collect();
    assert_eq!(
        states,
        [
            (
                Some("used"),
                Some(number_data_point::Value::AsDouble(1000.0))
            ),
            (
                Some("free"),
                Some(number_data_point::Value::AsDouble(500.0))
            )
        ]
    );
    // Percent becomes a 0-1 utilization; the cpu label is renamed.
    let Some(metric::Data::Gauge(cpu)) = &find("system.cpu.utilization").data else {
        panic!()
    };
    assert_eq!(
        cpu.data_points[0].value,
        Some(number_data_point::Value::AsDouble(0.5))
    );
    assert_eq!(
        attr(&cpu.data_points[0].attributes, "cpu.logical_number"),
        Some("2")
    );
    assert_eq!(cpu.data_points[0].time_unix_nano, 5_000_000_000_000);
    // A counter is monotonic and counts from boot.
    let Some(metric::Data::Sum(net)) = &find("system.network.io").data else {
        panic!()
    };
    assert!(net.is_monotonic);
    let point = &net.data_points[0];
    assert_eq!(
        attr(&point.attributes, "network.interface.name"),
        Some("eth0")
    );
    assert_eq!(
        attr(&point.attributes, "network.io.direction"),
        Some("receive")
    );
    assert_eq!(point.start_time_unix_nano, 1_000_000_000_000);
    // A container's points carry its id and image.
    let Some(metric::Data::Gauge(container)) = &find("container.cpu.usage").data else {
        panic!()
    };
    let point = &container.data_points[0];
    assert_eq!(point.value, Some(number_data_point::Value::AsDouble(1.5)));
    assert_eq!(attr(&point.attributes, "container.name"), Some("web"));
    assert_eq!(attr(&point.attributes, "container.id"), Some("abc123"));
    assert_eq!(
        attr(&point.attributes, "container.image.name"),
        Some("nginx:1.27")
    );
    // A plugin's metric keeps its name and labels.
    let plugin = find("queue_depth");
    assert_eq!(plugin.unit, "1");
    let Some(metric::Data::Gauge(g)) = &plugin.data else {
        panic!()
    };
    assert_eq!(attr(&g.data_points[0].attributes, "queue"), Some("mail"));
}

#[test]
fn the_request_round_trips_through_protobuf() {
    let req = request([&snapshot(), &snapshot()], "monitor");
    let decoded = ExportMetricsServiceRequest::decode(req.encode_to_vec().as_slice())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decoded, req);
    assert_eq!(decoded.resource_metrics.len(), 2);
}

#[test]
fn endpoints_get_the_metrics_path_once() {
    assert_eq!(
        OtlpConfig::new("http://c:4318").url(),
        "http://c:4318/v1/metrics"
    );
    assert_eq!(
        OtlpConfig::new("http://c:4318/").url(),
        "http://c:4318/v1/metrics"
    );
    assert_eq!(
        OtlpConfig::new("https://c/otlp/v1/metrics").url(),
        "https://c/otlp/v1/metrics"
    );
    let error = OtlpExporter::new(OtlpConfig::new("c:4318"))
        .map(|_| ())
        .unwrap_err();
    assert!(error.to_string().contains("http://"), "{error}");
}
