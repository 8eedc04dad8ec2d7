//! The host's top processes, by CPU and by memory, as `top` shows them:
//! read from `/proc/<pid>/stat` (name, CPU ticks, resident pages), and for
//! the processes kept only, the owner of `/proc/<pid>` (the effective uid)
//! and `/proc/<pid>/cmdline`.
//!
//! A scan reads one small file per process, so it runs at most every
//! [`ProcessesConfig::min_scan_interval`] (10 s by default) whatever the
//! agent's interval: a collection in between reports the last scan's list
//! again. CPU is the ticks a process used between two scans over the time
//! between them (100 % is one core); the first scan has none. A process
//! that ended between two scans is forgotten; one whose pid was reused is
//! told apart by its start time.
//!
//! Names and command lines are whatever a process chose: any character
//! that is not [safe text](monitor_core::model::is_safe_text) (control
//! characters, bidirectional overrides) becomes `?`, and a name that is not
//! UTF-8 is read lossily, so no process can make the server refuse the
//! host's report or hide from the list.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::{CollectContext, CollectError, Collection, Collector, ProcessInfo};

use crate::procfs::HostPaths;

/// How many processes, and how often to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessesConfig {
    /// Processes kept by CPU, and again by memory (10): the list holds up
    /// to twice this many.
    pub top: usize,
    /// Least time between two scans of `/proc` (10 s).
    pub min_scan_interval: Duration,
}

impl Default for ProcessesConfig {
    fn default() -> Self {
        ProcessesConfig {
            top: 10,
            min_scan_interval: Duration::from_secs(10),
        }
    }
}

/// Longest command line kept, in bytes (a label value's limit).
const MAX_COMMAND: usize = monitor_core::model::MAX_LABEL_VALUE_LEN;

/// One process as a scan reads it.
#[derive(Debug, Clone)]
struct Seen {
    pid: u32,
    name: String,
    /// utime + stime, clock ticks.
    ticks: u64,
    rss_bytes: u64,
    cpu_percent: Option<f64>,
}

/// Reports the top processes (see the module docs).
#[derive(Debug)]
pub struct ProcessesCollector {
    paths: HostPaths,
    config: ProcessesConfig,
    /// Ticks and start time of each process at the last scan.
    previous: HashMap<u32, (u64, u64)>,
    scanned: Option<Instant>,
    list: Vec<ProcessInfo>,
    users: Users,
    buf: Vec<u8>,
}

impl ProcessesCollector {
    /// A collector reading `<proc>` and the user names of `<root>/etc/passwd`
    /// under `paths`.
    pub fn new(paths: HostPaths, config: ProcessesConfig) -> Self {
        ProcessesCollector {
            users: Users::new(paths.root("/etc/passwd")),
            paths,
            config,
            previous: HashMap::new(),
            scanned: None,
            list: Vec::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// The top processes, from a new scan when the last one is old enough.
    ///
    /// # Errors
    /// [`CollectError::Io`] when `<proc>` cannot be listed.
    pub fn read(&mut self) -> Result<&[ProcessInfo], CollectError> {
        if self
            .scanned
            .is_some_and(|at| at.elapsed() < self.config.min_scan_interval)
        {
            return Ok(&self.list);
        }
        let elapsed = self.scanned.map(|at| at.elapsed().as_secs_f64());
        self.scanned = Some(Instant::now());
        let seen = self.scan(elapsed)?;
        self.list = self.top(seen);
        Ok(&self.list)
    }

    /// Reads every process's stat file, with its CPU since the last scan.
    fn scan(&mut self, elapsed: Option<f64>) -> Result<Vec<Seen>, CollectError> {
        let proc = &self.paths.proc;
        let entries =
            std::fs::read_dir(proc).map_err(|e| CollectError::io(proc.display().to_string(), e))?;
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let page = rustix::param::page_size() as u64;
        let mut seen = Vec::with_capacity(self.previous.len().max(64));
        let mut next = HashMap::with_capacity(self.previous.len().max(64));
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may end between the listing and the read.
            if read_bytes(&proc.join(format!("{pid}/stat")), &mut self.buf).is_err() {
                continue;
            }
            let Some(stat) = parse_stat(&self.buf) else {
                continue;
            };
            let cpu_percent = match (elapsed, self.previous.get(&pid)) {
                (Some(secs), Some(&(ticks, start))) if start == stat.start && secs > 0.0 => {
                    Some(stat.ticks.saturating_sub(ticks) as f64 / hz / secs * 100.0)
                }
                // New since the last scan (or its pid reused): all its ticks
                // fall in the span.
                (Some(secs), _) if secs > 0.0 => Some(stat.ticks as f64 / hz / secs * 100.0),
                _ => None,
            };
            next.insert(pid, (stat.ticks, stat.start));
            seen.push(Seen {
                pid,
                name: visible(&stat.name, usize::MAX),
                ticks: stat.ticks,
                rss_bytes: stat.rss_pages.saturating_mul(page),
                cpu_percent,
            });
        }
        self.previous = next;
        Ok(seen)
    }

    /// The top by CPU and by memory, with owner and command line, by CPU
    /// then memory.
    fn top(&mut self, mut seen: Vec<Seen>) -> Vec<ProcessInfo> {
        let n = self.config.top;
        let mut kept: Vec<Seen> = Vec::with_capacity(2 * n);
        seen.sort_by(|a, b| {
            b.cpu_percent
                .unwrap_or(0.0)
                .total_cmp(&a.cpu_percent.unwrap_or(0.0))
                .then(b.ticks.cmp(&a.ticks))
        });
        kept.extend(seen.iter().take(n).cloned());
        seen.sort_by_key(|s| std::cmp::Reverse(s.rss_bytes));
        for s in seen.into_iter().take(n) {
            if !kept.iter().any(|k| k.pid == s.pid) {
                kept.push(s);
            }
        }
        kept.sort_by(|a, b| {
            b.cpu_percent
                .unwrap_or(-1.0)
                .total_cmp(&a.cpu_percent.unwrap_or(-1.0))
                .then(b.rss_bytes.cmp(&a.rss_bytes))
                .then(a.pid.cmp(&b.pid))
        });
        kept.into_iter()
            .map(|s| {
                let dir = self.paths.proc.join(s.pid.to_string());
                let user = self.owner(&dir);
                let command = self.command(&dir.join("cmdline"));
                ProcessInfo {
                    pid: s.pid,
                    name: s.name,
                    user,
                    cpu_percent: s.cpu_percent.map(|c| (c * 10.0).round() / 10.0),
                    rss_bytes: s.rss_bytes,
                    command,
                }
            })
            .collect()
    }

    /// The user name of a process's effective uid, which owns its
    /// `/proc/<pid>` (as `top` and `ps` read it: one `stat` call, where the
    /// `status` file costs the kernel dozens of fields).
    fn owner(&mut self, dir: &Path) -> String {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(dir) {
            Ok(meta) => self.users.name(meta.uid()),
            Err(_) => String::new(),
        }
    }

    /// The command line, arguments joined by spaces, cut to [`MAX_COMMAND`].
    fn command(&mut self, cmdline: &Path) -> String {
        if read_bytes(cmdline, &mut self.buf).is_err() {
            return String::new();
        }
        let joined: Vec<u8> = self
            .buf
            .iter()
            .map(|b| if *b == 0 { b' ' } else { *b })
            .collect();
        visible(String::from_utf8_lossy(&joined).trim_end(), MAX_COMMAND)
    }
}

/// The fields of `/proc/<pid>/stat` the list needs.
struct Stat {
    name: String,
    ticks: u64,
    start: u64,
    rss_pages: u64,
}

/// Parses a stat line: the name is between the first `(` and the last `)`
/// (it may hold spaces and parentheses itself).
fn parse_stat(line: &[u8]) -> Option<Stat> {
    let open = line.iter().position(|b| *b == b'(')?;
    let close = line.iter().rposition(|b| *b == b')')?;
    let name = String::from_utf8_lossy(line.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(line.get(close + 1..)?).ok()?;
    // Fields from the third (state) on; field N is at N - 3.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        name,
        ticks: field(14)?.saturating_add(field(15)?),
        start: field(22)?,
        rss_pages: field(24)?,
    })
}

/// `text` with each character that is not safe text replaced by `?`, cut
/// to at most `max` bytes at a character boundary.
pub(crate) fn visible(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        let c = if monitor_core::model::is_safe_text(c.encode_utf8(&mut utf8)) {
            c
        } else {
            '?'
        };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

fn read_bytes(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)?.read_to_end(buf).map(|_| ())
}

/// User names by uid, from a passwd file read when a uid is not known yet
/// (at most once a minute).
#[derive(Debug)]
struct Users {
    file: PathBuf,
    names: HashMap<u32, String>,
    read: Option<Instant>,
}

impl Users {
    fn new(file: PathBuf) -> Self {
        Users {
            file,
            names: HashMap::new(),
            read: None,
        }
    }

    fn name(&mut self, uid: u32) -> String {
        if !self.names.contains_key(&uid)
            && self
                .read
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.read = Some(Instant::now());
            if let Ok(text) = std::fs::read_to_string(&self.file) {
                self.names = text
                    .lines()
                    .filter_map(|l| {
                        let mut f = l.split(':');
                        let name = f.next()?;
                        let uid = f.nth(1)?.parse().ok()?;
                        Some((uid, visible(name, MAX_COMMAND)))
                    })
                    .collect();
            }
        }
        self.names
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }
}

#[async_trait]
impl Collector for ProcessesCollector {
    fn name(&self) -> &str {
        "processes"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let list = self.read()?.to_vec();
        Ok(Collection {
            processes: Some(list),
            ..Collection::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        let line = b"4242 (tmux: server (1)) S 1 4242 4242 0 -1 4194560 2019 0 0 0 150 75 0 0 20 0 1 0 31337 9289728 1024 18446744073709551615 1 1 0 0 0 0 0 3674112 1266777851 0 0 0 17 1 0 0 0 0 0\n";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.name, "tmux: server (1)");
        assert_eq!(stat.ticks, 225);
        assert_eq!(stat.start, 31337);
        assert_eq!(stat.rss_pages, 1024);
        assert!(parse_stat(b"12 (x) S 1 2 3").is_none(), "cut short");
        assert!(parse_stat(b"garbage").is_none());
        let mut bad = b"7 (".to_vec();
        bad.extend_from_slice(&[0xff, 0xfe]);
        bad.extend_from_slice(&line[22..]);
        assert_eq!(parse_stat(&bad).unwrap().name, "\u{fffd}\u{fffd}");
    }

    #[test]
    fn invisible_characters_become_question_marks() {
        assert_eq!(visible("sl\u{202e}eep\u{7}", 100), "sl?eep?");
        assert_eq!(visible("ééé", 5), "éé");
        assert_eq!(visible("plain", 3), "pla");
    }
}
