//! The server's OTLP relay against a receiver that decodes the real OTLP
//! protobuf payload: every report the server stores goes out with its own
//! timestamp (an agent's replayed batch too, not only each host's newest),
//! each host its own resource, in order; a collector that answers 503 for a
//! while gets the same reports again, and nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use monitor_core::catalog::NewServer;
use monitor_core::testing::MemoryStore;
use monitor_core::{
    Collection, Labels, ServerId, Snapshot, Timestamp, TokenHash, Unit, names, wire,
};
use monitor_server::config::ServerConfig;
use monitor_server::server::Server;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;

/// Per request taken: each resource's host.id, its
/// system.memory.usage{state=used} value and that point's time (ms).
type Seen = Arc<Mutex<Vec<Vec<(String, f64, i64)>>>>;

/// A collector that answers 503 to its first `refuse` requests.
async fn receiver(refuse: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = Arc::clone(&seen);
    let refused = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            let refused = Arc::clone(&refused);
            async move {
                if refused.fetch_add(1, Ordering::SeqCst) < refuse {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                assert_eq!(headers["content-encoding"], "gzip");
                let mut raw = Vec::new();
                flate2::read::GzDecoder::new(body.as_ref())
                    .read_to_end(&mut raw)
                    .unwrap();
                let request = ExportMetricsServiceRequest::decode(raw.as_slice()).unwrap();
                let hosts = request
                    .resource_metrics
                    .iter()
                    .map(|rm| {
                        let resource = rm.resource.as_ref().unwrap();
                        let id = resource
                            .attributes
                            .iter()
                            .find(|a| a.key == "host.id")
                            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                                any_value::Value::StringValue(s) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap();
                        let used = rm.scope_metrics[0]
                            .metrics
                            .iter()
                            .find(|m| m.name == "system.memory.usage")
                            .and_then(|m| match &m.data {
                                Some(metric::Data::Sum(s)) => s.data_points.first(),
                                _ => None,
                            })
                            .and_then(|p| match p.value {
                                Some(number_data_point::Value::AsDouble(v)) => {
                                    Some((v, (p.time_unix_nano / 1_000_000) as i64))
                                }
                                _ => None,
                            })
                            .unwrap();
                        (id, used.0, used.1)
                    })
                    .collect();
                state.lock().unwrap().push(hosts);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn snapshot(id: &str, t: i64, used: f64) -> Snapshot {
    let mut c = Collection::new();
    c.gauge(names::MEMORY_USED_BYTES, Unit::BYTES, Labels::new(), used);
    Snapshot::new(ServerId::new(id).unwrap(), Timestamp::from_millis(t), c)
}

/// What the collector took, request after request, once it holds `reports`.
async fn wait_for(seen: &Seen, reports: usize) -> Vec<(String, f64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<_> = seen.lock().unwrap().concat();
        if got.len() >= reports {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} reports, not {reports}: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_report_is_relayed_with_its_own_timestamp_through_an_outage() {
    let dir = std::env::temp_dir().join(format!("monitor-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The collector refuses its first three requests (it is restarting).
    let (url, seen) = receiver(3).await;
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        ..ServerConfig::default()
    };
    config.otlp.endpoint = Some(url);
    config.otlp.interval = Duration::from_millis(100);
    let server = Server::builder()
        .with_config(config)
        .with_storage(Arc::new(MemoryStore::new()))
        .build()
        .await
        .unwrap();
    for (i, id) in ["srv-a", "srv-b"].into_iter().enumerate() {
        server
            .storage()
            .catalog()
            .register_server(NewServer {
                id: ServerId::new(id).unwrap(),
                name: String::new(),
                tags: vec![],
                token_hash: TokenHash([i as u8; 32]),
                created: Timestamp::now(),
            })
            .await
            .unwrap();
    }
    let ingest = server.ingest();
    let now = Timestamp::now().as_millis();
    let mut expected = Vec::new();
    // An agent's replay of three reports, in one batch; another host's one
    // report; then the first host's live one.
    let replay: Vec<Snapshot> = (0..3)
        .map(|i| {
            let t = now - (3 - i) * 60_000;
            expected.push(("srv-a".to_owned(), 100.0 + i as f64, t));
            snapshot("srv-a", t, 100.0 + i as f64)
        })
        .collect();
    let a = ServerId::new("srv-a").unwrap();
    ingest
        .ingest(&a, &wire::encode_batch(&replay).unwrap())
        .await
        .unwrap();
    let b = ServerId::new("srv-b").unwrap();
    ingest
        .ingest(
            &b,
            &wire::encode(&snapshot("srv-b", now - 1_000, 200.0)).unwrap(),
        )
        .await
        .unwrap();
    expected.push(("srv-b".to_owned(), 200.0, now - 1_000));
    ingest
        .ingest(&a, &wire::encode(&snapshot("srv-a", now, 150.0)).unwrap())
        .await
        .unwrap();
    expected.push(("srv-a".to_owned(), 150.0, now));

    let got = wait_for(&seen, expected.len()).await;
    assert_eq!(got, expected, "every report, in order, each once");
    // Nothing more, and nothing sent twice once taken.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.lock().unwrap().concat().len(), expected.len());
    let _ = std::fs::remove_dir_all(&dir);
}
