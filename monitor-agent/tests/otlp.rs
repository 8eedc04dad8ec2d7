//! The agent's OTLP exporter against a receiver that decodes the real OTLP
//! protobuf payload (opentelemetry-proto's messages, as a collector does):
//! names, attributes, resource and values, custom headers, and a collector
//! that fails for a while.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, metric, number_data_point};
use prost::Message;

/// A child process, killed and reaped when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Received {
    requests: Vec<(HeaderMap, ExportMetricsServiceRequest)>,
    /// Answer 503 to this many requests first.
    fail_first: usize,
    refused: usize,
}

/// An OTLP/HTTP receiver on loopback; what it decoded.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Received>>) {
    let got = Arc::new(Mutex::new(Received {
        fail_first,
        ..Received::default()
    }));
    let state = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            async move {
                let mut got = state.lock().unwrap();
                if got.refused < got.fail_first {
                    got.refused += 1;
                    return (StatusCode::SERVICE_UNAVAILABLE, Vec::new());
                }
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let raw = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(body.as_ref())
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                } else {
                    body.to_vec()
                };
                let request = ExportMetricsServiceRequest::decode(raw.as_slice()).unwrap();
                got.requests.push((headers, request));
                (
                    StatusCode::OK,
                    ExportMetricsServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn agent(endpoint: &str, extra: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_monitor-agent"))
            .args(["--otlp-endpoint", endpoint, "--otlp-interval", "0.5"])
            .args([
                "--interval",
                "0.3",
                "--collectors",
                "system,memory,cpu,network",
            ])
            .args(["--server-id", "otlp-host"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn string<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn points(metric: &Metric) -> &[NumberDataPoint] {
    match &metric.data {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        _ => &[],
    }
}

fn value(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => f64::NAN,
    }
}

/// MemTotal of this machine in bytes.
fn mem_total() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024.0
}

/// Waits until a decoded request has every metric in `names`; returns its
/// headers and metrics.
async fn wait_for(
    got: &Mutex<Received>,
    names: &[&str],
) -> (HeaderMap, Vec<Metric>, Vec<KeyValue>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let got = got.lock().unwrap();
            for (headers, request) in got.requests.iter().rev() {
                for rm in &request.resource_metrics {
                    let metrics: Vec<Metric> = rm
                        .scope_metrics
                        .iter()
                        .flat_map(|s| s.metrics.clone())
                        .collect();
                    if names.iter().all(|n| metrics.iter().any(|m| m.name == *n)) {
                        let resource = rm.resource.clone().unwrap().attributes;
                        return (headers.clone(), metrics, resource);
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "no OTLP request with {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_sends_its_host_in_the_semantic_conventions() {
    let (url, got) = receiver(0).await;
    let _agent = agent(
        &url,
        &[
            "--otlp-header",
            "api-key=s3cret",
            "--otlp-service-name",
            "fleet",
        ],
    );
    let (headers, metrics, resource) = wait_for(
        &got,
        &[
            "system.memory.usage",
            "system.memory.limit",
            "system.cpu.utilization",
            "system.network.io",
        ],
    )
    .await;
    assert_eq!(headers["api-key"], "s3cret");
    assert_eq!(string(&resource, "host.id"), Some("otlp-host"));
    assert_eq!(string(&resource, "service.name"), Some("fleet"));
    let host_name = sysinfo::System::host_name().unwrap();
    assert_eq!(string(&resource, "host.name"), Some(host_name.as_str()));

    let by_name = |name: &str| metrics.iter().find(|m| m.name == name).unwrap();
    let limit = by_name("system.memory.limit");
    assert_eq!(limit.unit, "By");
    assert_eq!(value(&points(limit)[0]), mem_total());
    let usage = by_name("system.memory.usage");
    let Some(metric::Data::Sum(sum)) = &usage.data else {
        panic!("system.memory.usage is not a Sum: {usage:?}")
    };
    assert!(!sum.is_monotonic);
    let states: Vec<&str> = sum
        .data_points
        .iter()
        .filter_map(|p| string(&p.attributes, "system.memory.state"))
        .collect();
    for state in ["used", "free", "cached", "buffers"] {
        assert!(states.contains(&state), "{states:?}");
    }
    let used = sum
        .data_points
        .iter()
        .find(|p| string(&p.attributes, "system.memory.state") == Some("used"))
        .unwrap();
    assert!(value(used) > 0.0 && value(used) < mem_total());
    // Utilization is a 0-1 ratio, per mode and per logical CPU.
    let cpu = by_name("system.cpu.utilization");
    assert_eq!(cpu.unit, "1");
    assert!(
        points(cpu).iter().all(|p| (0.0..=1.0).contains(&value(p))),
        "{cpu:?}"
    );
    assert!(
        points(cpu)
            .iter()
            .any(|p| string(&p.attributes, "cpu.mode") == Some("user"))
    );
    assert!(
        points(cpu)
            .iter()
            .any(|p| string(&p.attributes, "cpu.logical_number") == Some("0"))
    );
    // Network bytes are a monotonic sum per interface and direction.
    let net = by_name("system.network.io");
    let Some(metric::Data::Sum(sum)) = &net.data else {
        panic!("{net:?}")
    };
    assert!(sum.is_monotonic);
    // (Counted since boot: the start time is the host's boot.)
    let boot = sysinfo::System::boot_time().unwrap() * 1_000_000_000;
    assert!(
        sum.data_points.iter().any(|p| {
            string(&p.attributes, "network.interface.name").is_some_and(|i| !i.is_empty())
                && string(&p.attributes, "network.io.direction") == Some("receive")
                && p.start_time_unix_nano.abs_diff(boot) <= 1_000_000_000
        }),
        "{net:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_fails_for_a_while_gets_the_data_afterwards() {
    let (url, got) = receiver(3).await;
    let _agent = agent(&url, &[]);
    let (_, metrics, _) = wait_for(&got, &["system.memory.usage"]).await;
    assert!(!metrics.is_empty());
    assert_eq!(got.lock().unwrap().refused, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_otlp_exporter_passes_the_exporter_conformance_suite() {
    use monitor_agent::export::otlp::{OtlpConfig, OtlpExporter};
    use monitor_core::Exporter;
    let (url, got) = receiver(0).await;
    let exporter = OtlpExporter::new(OtlpConfig::new(url)).unwrap();
    monitor_core::testing::exporter::conformance(&exporter).await;
    exporter.flush().await.unwrap();
    // What it held went out: both servers, each its own resource.
    let hosts: std::collections::BTreeSet<String> = got
        .lock()
        .unwrap()
        .requests
        .iter()
        .flat_map(|(_, r)| r.resource_metrics.iter())
        .filter_map(|rm| string(&rm.resource.as_ref()?.attributes, "host.id").map(str::to_owned))
        .collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        ["conformance-a", "conformance-b"]
    );
}

#[test]
fn a_bad_otlp_header_is_refused_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_monitor-agent"))
        .args([
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
            "--otlp-header",
            "no-equals-sign",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--otlp-header \"no-equals-sign\": give name=value"),
        "{stderr}"
    );
}

/// OTLP/gRPC: the same payload through tonic, to a gRPC receiver.
#[cfg(feature = "otlp-grpc")]
mod grpc {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
        MetricsService, MetricsServiceServer,
    };

    struct Receiver(Arc<Mutex<Vec<(tonic::metadata::MetadataMap, ExportMetricsServiceRequest)>>>);

    #[tonic::async_trait]
    impl MetricsService for Receiver {
        async fn export(
            &self,
            request: tonic::Request<ExportMetricsServiceRequest>,
        ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
            let metadata = request.metadata().clone();
            self.0
                .lock()
                .unwrap()
                .push((metadata, request.into_inner()));
            Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_agent_sends_over_grpc() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = incoming.local_addr().unwrap();
        let service = MetricsServiceServer::new(Receiver(Arc::clone(&got)))
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        let _agent = agent(
            &format!("http://{addr}"),
            &["--otlp-protocol", "grpc", "--otlp-header", "api-key=s3cret"],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = got.lock().unwrap().iter().find_map(|(metadata, request)| {
                let rm = request.resource_metrics.first()?;
                let names: Vec<&str> = rm.scope_metrics[0]
                    .metrics
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect();
                names.contains(&"system.memory.limit").then(|| {
                    let limit = rm.scope_metrics[0]
                        .metrics
                        .iter()
                        .find(|m| m.name == "system.memory.limit")
                        .map(|m| value(&points(m)[0]));
                    (metadata.get("api-key").cloned(), limit)
                })
            });
            if let Some((key, limit)) = found {
                assert_eq!(key.unwrap(), "s3cret");
                assert_eq!(limit, Some(mem_total()));
                break;
            }
            assert!(Instant::now() < deadline, "nothing arrived over gRPC");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
