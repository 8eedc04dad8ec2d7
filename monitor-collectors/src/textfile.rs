//! [`TextfileCollector`]: metrics that cron jobs and scripts write to
//! `*.prom` files in a directory, in the Prometheus text format (the
//! node_exporter convention; see [`crate::exposition`]).
//!
//! Every collection reads every `*.prom` file of the directory (write a new
//! file and rename it into place, so the agent never reads half of one).
//! A file that cannot be read or parsed is left out with a warning, once
//! per problem, and the others are kept; per file the collector also
//! reports `textfile_mtime_seconds{file}` (when it was last written: alert
//! on a stale one) and `textfile_error{file}` (1 when it was left out), as
//! node_exporter does. A series two files define is kept from the first
//! in name order.

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use monitor_core::{CollectContext, CollectError, Collection, Collector, Labels, Unit};

/// Reads `*.prom` files from a directory (see the module docs).
#[derive(Debug)]
pub struct TextfileCollector {
    dir: PathBuf,
    /// Files whose last problem was logged, with that problem.
    warned: HashMap<String, String>,
}

impl TextfileCollector {
    /// A collector of the `*.prom` files in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TextfileCollector {
            dir: dir.into(),
            warned: HashMap::new(),
        }
    }
}

#[async_trait]
impl Collector for TextfileCollector {
    fn name(&self) -> &str {
        "textfile"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| CollectError::Unavailable {
            what: format!("the textfile directory {}", self.dir.display()),
            reason: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "prom") && p.is_file())
            .collect();
        files.sort();
        let mut out = Collection::new();
        for path in files {
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let labels = || Labels::new().with("file", file.clone());
            let read = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| crate::exposition::parse(&text).map_err(|e| e.to_string()));
            if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified())
                && let Ok(since) = modified.duration_since(std::time::UNIX_EPOCH)
            {
                out.gauge(
                    "textfile_mtime_seconds",
                    Unit::SECONDS,
                    labels(),
                    since.as_secs_f64(),
                );
            }
            match read {
                Ok(collection) => {
                    if self.warned.remove(&file).is_some() {
                        tracing::info!(file = %path.display(), "Textfile readable again.");
                    }
                    out.gauge("textfile_error", Unit::NONE, labels(), 0.0);
                    for family in collection.families {
                        let target = out.family(&family.name, family.kind, family.unit.clone());
                        if target.kind != family.kind {
                            continue;
                        }
                        if target.help.is_none() {
                            target.help = family.help;
                        }
                        for sample in family.samples {
                            if target.get(&sample.labels).is_none() {
                                target.push(sample.labels, sample.value);
                            }
                        }
                    }
                }
                Err(problem) => {
                    if self.warned.get(&file) != Some(&problem) {
                        tracing::warn!(file = %path.display(), %problem, "Textfile left out.");
                        self.warned.insert(file.clone(), problem);
                    }
                    out.gauge("textfile_error", Unit::NONE, labels(), 1.0);
                }
            }
        }
        out.families.retain(|f| !f.samples.is_empty());
        Ok(out)
    }
}
