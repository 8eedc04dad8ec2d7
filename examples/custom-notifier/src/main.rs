//! Run with: `cargo run -p example-custom-notifier`
//!
//! A notifier of your own: every alert notification appended as one JSON
//! line to a file (for a log shipper to pick up), in a server of your own
//! built with `Server::builder()` on 127.0.0.1:8001 (SQLite in
//! `./.example-data`). Lower a threshold to see a line appear:
//!
//! ```sh
//! curl -X POST http://127.0.0.1:8001/api/alerts -H 'Content-Type: application/json' \
//!   -d '{"cpu_total_percent": 1, "memory_used_percent": 1, "disk_used_percent": 1}'
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use monitor_core::{Notification, Notifier, NotifyError};
use monitor_server::config::ServerConfig;
use monitor_server::server::Server;

/// Appends each notification to a file, one JSON object per line.
pub struct JsonLines {
    path: PathBuf,
    /// One writer at a time: lines never interleave.
    lock: Mutex<()>,
}

impl JsonLines {
    /// A notifier appending to `path` (created when absent).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonLines {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl Notifier for JsonLines {
    fn name(&self) -> &str {
        "json-lines"
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let mut line =
            serde_json::to_vec(notification).map_err(|e| NotifyError::Other(Box::new(e)))?;
        line.push(b'\n');
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(&line))
            // A full disk may clear up: worth a retry.
            .map_err(|e| NotifyError::Unavailable(format!("{}: {e}", self.path.display())))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig {
        listen: "127.0.0.1:8001".parse()?,
        data_dir: "./.example-data".into(),
        ..ServerConfig::default()
    };
    let server = Server::builder()
        .with_config(config)
        .with_notifier(Arc::new(JsonLines::new("./.example-data/alerts.jsonl")))
        .build()
        .await?;
    println!("serving http://127.0.0.1:8001; notifications go to ./.example-data/alerts.jsonl");
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_conforms_and_writes_one_line_per_notification() {
        let path = std::env::temp_dir().join(format!("monitor-jsonl-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let notifier = JsonLines::new(&path);
        let lines = || {
            std::fs::read_to_string(&path)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        monitor_core::testing::notifier::conformance(&notifier, lines).await;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().unwrap_or("")).unwrap_or_default();
        assert_eq!(first["event"]["rule_id"], "cpu_total_percent");
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn an_unwritable_file_is_a_retryable_error() {
        let error = JsonLines::new("/nonexistent/dir/alerts.jsonl")
            .notify(&monitor_core::testing::notifier::notifications()[0])
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
    }
}
