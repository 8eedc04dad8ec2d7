//! The server's OTLP relay against a receiver that decodes the real OTLP
//! protobuf payload: every host that reported is its own resource, and a
//! host is sent again only when it has reported since.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Catalog;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use monitor_collectors::export::otlp::{OtlpConfig, OtlpExporter};
use monitor_core::catalog::NewServer;
use monitor_core::{
    Collection, Labels, ServerId, Snapshot, Store, Timestamp, TokenHash, Unit, names,
};
use monitor_store::{SqlStore, StoreOptions};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;

/// Per request received: each resource's host.id and its
/// system.memory.usage{state=used} value.
type Seen = Arc<Mutex<Vec<Vec<(String, f64)>>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            async move {
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
                                Some(number_data_point::Value::AsDouble(v)) => Some(v),
                                _ => None,
                            })
                            .unwrap();
                        (id, used)
                    })
                    .collect();
                state.lock().unwrap().push(hosts);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn snapshot(id: &str, used: f64) -> Snapshot {
    let mut c = Collection::new();
    c.gauge(names::MEMORY_USED_BYTES, Unit::BYTES, Labels::new(), used);
    Snapshot::new(ServerId::new(id).unwrap(), Timestamp::now(), c)
}

async fn wait_for(seen: &Seen, requests: usize) -> Vec<Vec<(String, f64)>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = seen.lock().unwrap().clone();
        if got.len() >= requests {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} requests, not {requests}: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_is_relayed_as_its_own_resource_once_per_report() {
    let dir = std::env::temp_dir().join(format!("monitor-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(dir.join("db")))
            .await
            .unwrap(),
    );
    for (i, id) in ["srv-a", "srv-b"].into_iter().enumerate() {
        store
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
    store.ingest(vec![snapshot("srv-a", 100.0)]).await.unwrap();
    store.ingest(vec![snapshot("srv-b", 200.0)]).await.unwrap();
    let (url, seen) = receiver().await;
    let mut config = OtlpConfig::new(url);
    config.interval = Duration::from_millis(200);
    let relay = monitor_server::relay::spawn(store.clone(), OtlpExporter::new(config).unwrap());

    let first = wait_for(&seen, 1).await;
    let mut hosts = first[0].clone();
    hosts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        hosts,
        [("srv-a".to_owned(), 100.0), ("srv-b".to_owned(), 200.0)]
    );
    // Nothing new: nothing sent. Then only the host that reported.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    store.ingest(vec![snapshot("srv-a", 150.0)]).await.unwrap();
    let got = wait_for(&seen, 2).await;
    assert_eq!(got[1], [("srv-a".to_owned(), 150.0)]);
    relay.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
