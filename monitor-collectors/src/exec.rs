//! [`ExecCollector`]: runs a command every interval and reads what it
//! prints: the Prometheus text format or the JSON sample form (see
//! [`crate::exposition`]). Any program can publish metrics this way, with
//! no Rust.
//!
//! The command runs through `/bin/sh -c`, without a terminal, in the
//! agent's environment; it must finish within the timeout (it is killed
//! otherwise) and exit 0. A failure (timeout, exit status, unreadable
//! output) is the collection's error: the agent logs it once and tries
//! again next interval, and the other collectors are not held up beyond
//! the timeout.

use std::time::Duration;

use async_trait::async_trait;
use monitor_core::{CollectContext, CollectError, Collection, Collector};

/// Runs a command every interval (see the module docs).
#[derive(Debug, Clone)]
pub struct ExecCollector {
    command: String,
    timeout: Duration,
    /// `exec-` and the command made a name (see [`ExecCollector::new`]).
    name: String,
}

impl ExecCollector {
    /// A collector running `command` (a shell command line), killed after
    /// `timeout`.
    ///
    /// Its name is `exec-` and the command's letters and digits, lowercase,
    /// with `-` for the rest (`/usr/local/bin/queue-stats --json` is
    /// `exec-usr-local-bin-queue-stats-json`), at most 64 bytes: each
    /// command's failures are logged under its own name.
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        let command = command.into();
        let mut name = String::from("exec");
        let words = command
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty());
        for word in words {
            if name.len() + 1 + word.len() > 64 {
                break;
            }
            name.push('-');
            name.push_str(&word.to_ascii_lowercase());
        }
        ExecCollector {
            command,
            timeout,
            name,
        }
    }
}

impl ExecCollector {
    fn unavailable(&self, reason: String) -> CollectError {
        CollectError::Unavailable {
            what: format!("the command {:?}", self.command),
            reason,
        }
    }
}

#[async_trait]
impl Collector for ExecCollector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.unavailable(format!("cannot be started: {e}")))?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(self.unavailable(e.to_string())),
            Err(_) => return Err(CollectError::Timeout(self.timeout)),
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String = stderr
                .trim()
                .chars()
                .rev()
                .take(300)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(self.unavailable(format!("exited with {}: {tail}", out.status)));
        }
        let text = String::from_utf8(out.stdout)
            .map_err(|_| self.unavailable("printed something that is not UTF-8".into()))?;
        crate::exposition::parse(&text).map_err(|e| CollectError::Parse {
            path: format!("the output of {:?}", self.command),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::Timestamp;

    #[test]
    fn each_command_has_a_name_of_its_own() {
        let t = Duration::from_secs(1);
        let name = |c: &str| ExecCollector::new(c, t).name().to_owned();
        assert_eq!(
            name("/usr/local/bin/queue-stats --json"),
            "exec-usr-local-bin-queue-stats-json"
        );
        assert_eq!(name("echo 'Ünïcode' | wc -l"), "exec-echo-n-code-wc-l");
        assert_eq!(name("!!!"), "exec");
        let long = name(&"abcdefgh ".repeat(20));
        assert!(
            long.len() <= 64 && long.starts_with("exec-abcdefgh-"),
            "{long}"
        );
    }

    fn ctx() -> CollectContext {
        CollectContext::new(Timestamp::now(), Duration::from_secs(1))
    }

    #[tokio::test]
    async fn a_command_printing_either_form() {
        let mut text = ExecCollector::new(
            "printf '# TYPE jobs_total counter\\njobs_total{queue=\"mail\"} 3\\n'",
            Duration::from_secs(5),
        );
        let c = text.collect(&ctx()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.families[0].name, "jobs_total");
        let mut json = ExecCollector::new(
            r#"echo '[{"name": "queue_depth", "samples": [{"value": 4}]}]'"#,
            Duration::from_secs(5),
        );
        let c = json.collect(&ctx()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.families[0].samples[0].value, 4.0);
    }

    #[tokio::test]
    async fn failures_say_what_happened() {
        let slow = ExecCollector::new("sleep 5", Duration::from_millis(200))
            .collect(&ctx())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(slow, CollectError::Timeout(_)), "{slow}");
        let failing = ExecCollector::new("echo broken >&2; exit 3", Duration::from_secs(5))
            .collect(&ctx())
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            failing.contains("exit status: 3") && failing.contains("broken"),
            "{failing}"
        );
        let garbage = ExecCollector::new("echo 'not: metrics'", Duration::from_secs(5))
            .collect(&ctx())
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(garbage.contains("line 1"), "{garbage}");
    }
}
