//! Run with: `cargo run -p example-otel-meter`
//!
//! An application that already reports through OpenTelemetry adds the
//! host's metrics to its own `MeterProvider`: the collectors run in an
//! `Agent` whose exporter is a `MeterBridge`, and the provider's reader
//! observes them beside the application's own instruments, under the
//! semantic conventions' names (`system.memory.usage`,
//! `system.cpu.utilization`, `system.filesystem.usage`…). Here the provider
//! prints to stdout; yours would send over OTLP.

use std::time::Duration;

use monitor_collectors::Agent;
use monitor_collectors::export::meter::MeterBridge;
use monitor_core::ServerId;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build(),
        )
        .build();
    // The application's own instrument, as it has today.
    let requests = provider.meter("my-app").u64_counter("app.requests").build();
    requests.add(1, &[]);
    // The host's metrics, through the same provider.
    let mut agent = Agent::builder()
        .with_server_id(ServerId::new("this-host")?)
        .with_interval(Duration::from_secs(1))
        .with_builtin_collectors(&["memory", "cpu", "disk", "network"])
        .with_exporter(Box::new(MeterBridge::new(
            provider.meter("monitor-collectors"),
        )))
        .build()?;
    // CPU usage and rates are differences between two collections.
    agent.tick().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    agent.tick().await;
    provider.force_flush()?;
    provider.shutdown()?;
    Ok(())
}
