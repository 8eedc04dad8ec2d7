//! Run with: `cargo run -p example-custom-exporter` (a receiver of InfluxDB
//! line protocol on UDP 127.0.0.1:8089, e.g. Telegraf's socket_listener or
//! `nc -ul 8089`)
//!
//! An exporter of your own: each snapshot as InfluxDB line protocol, one
//! UDP datagram per snapshot (`memory_used_bytes,host=web-1 value=2048
//! 1700000000000000000`), in an agent of your own.

use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use monitor_agent::Agent;
use monitor_core::{ExportError, Exporter, ServerId, Snapshot};
use tokio::net::UdpSocket;

/// Sends snapshots as InfluxDB line protocol over UDP.
pub struct InfluxUdp {
    socket: UdpSocket,
}

impl InfluxUdp {
    /// An exporter sending to `target` (`127.0.0.1:8089`).
    ///
    /// # Errors
    /// When no local socket can be opened or `target` is not an address.
    pub async fn connect(target: &str) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("0.0.0.0:0").await?;
        socket.connect(target).await?;
        Ok(InfluxUdp { socket })
    }
}

/// Escapes a tag key or value (commas, spaces and equals signs).
fn tag(text: &str) -> String {
    text.replace(',', "\\,")
        .replace(' ', "\\ ")
        .replace('=', "\\=")
}

/// One snapshot in line protocol: a line per sample.
pub fn lines(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let time = snapshot.timestamp.as_millis().saturating_mul(1_000_000);
    for family in &snapshot.metrics {
        for sample in &family.samples {
            let _ = write!(
                out,
                "{},host={}",
                family.name,
                tag(snapshot.server_id.as_str())
            );
            for (k, v) in sample.labels.iter() {
                let _ = write!(out, ",{}={}", tag(k), tag(v));
            }
            let _ = writeln!(out, " value={} {time}", sample.value);
        }
    }
    out
}

#[async_trait]
impl Exporter for InfluxUdp {
    fn name(&self) -> &str {
        "influx-udp"
    }

    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        for snapshot in snapshots {
            self.socket
                .send(lines(snapshot).as_bytes())
                .await
                .map_err(|e| ExportError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut agent = Agent::builder()
        .with_server_id(ServerId::new("this-host")?)
        .with_interval(Duration::from_secs(5))
        .with_builtin_collectors(&["memory", "cpu"])
        .with_exporter(Box::new(InfluxUdp::connect("127.0.0.1:8089").await?))
        .build()?;
    println!("sending to udp://127.0.0.1:8089 every 5 s; Ctrl-C to stop");
    agent
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    agent.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_conforms_and_the_datagrams_carry_line_protocol() {
        let receiver = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = receiver
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string();
        let exporter = InfluxUdp::connect(&address)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        monitor_core::testing::exporter::conformance(&exporter).await;
        let mut buf = vec![0; 65_536];
        let n = receiver
            .recv(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.contains("memory_used_bytes,host=conformance-a value=1000000000 "),
            "{text}"
        );
        assert!(
            text.contains("queue_depth,host=conformance-a,queue=mail value=0 "),
            "{text}"
        );
    }
}
