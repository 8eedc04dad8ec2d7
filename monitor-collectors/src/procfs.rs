//! Readers and parsers for the Linux `/proc` and `/sys` files the collectors
//! use. The parsers are pure functions over text so they are tested on
//! fixtures; the readers reuse one buffer per collector so a collection
//! allocates little.

use std::io::Read;
use std::path::{Path, PathBuf};

use monitor_core::CollectError;

/// Where the host's `/proc`, `/sys` and root file system are. Inside a
/// container that watches its host, mount them elsewhere (`-v
/// /proc:/host/proc:ro -v /:/host/root:ro,rslave`) and point here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// The host's procfs (default `/proc`).
    pub proc: PathBuf,
    /// The host's sysfs (default `/sys`).
    pub sys: PathBuf,
    /// The host's root file system (default `/`; node_exporter's
    /// `--path.rootfs`). Other than `/`, the mounts are those of the host's
    /// first process (`<proc>/1/mounts`) and each is measured under it.
    pub root: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            root: PathBuf::from("/"),
        }
    }
}

impl HostPaths {
    /// A file under the procfs root (`proc("meminfo")`).
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }

    /// A file under the sysfs root.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }

    /// Where the host's `path` (absolute, as its mount table names it) is
    /// seen from here.
    pub fn root(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Whether the host's root is elsewhere than `/`.
    pub fn root_elsewhere(&self) -> bool {
        self.root != Path::new("/")
    }
}

/// Reads a whole file into `buf` (cleared first), reusing its allocation.
pub(crate) fn read_into(path: &Path, buf: &mut String) -> Result<(), CollectError> {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(buf))
        .map(|_| ())
        .map_err(|e| CollectError::io(path.display().to_string(), e))
}

/// `/proc/meminfo` values in bytes (the file gives kB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct MemInfo {
    pub(crate) total: u64,
    pub(crate) free: u64,
    pub(crate) available: Option<u64>,
    pub(crate) buffers: u64,
    pub(crate) cached: u64,
    pub(crate) sreclaimable: u64,
    pub(crate) swap_total: u64,
    pub(crate) swap_free: u64,
}

pub(crate) fn parse_meminfo(text: &str) -> Result<MemInfo, String> {
    let mut m = MemInfo::default();
    let mut have_total = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => {
                have_total = true;
                &mut m.total
            }
            "MemFree" => &mut m.free,
            "Buffers" => &mut m.buffers,
            "Cached" => &mut m.cached,
            "SReclaimable" => &mut m.sreclaimable,
            "SwapTotal" => &mut m.swap_total,
            "SwapFree" => &mut m.swap_free,
            "MemAvailable" => {
                m.available = Some(parse_kb(rest)?);
                continue;
            }
            _ => continue,
        };
        *slot = parse_kb(rest)?;
    }
    if !have_total {
        return Err("no MemTotal line".into());
    }
    Ok(m)
}

fn parse_kb(rest: &str) -> Result<u64, String> {
    let number = rest.split_whitespace().next().unwrap_or("");
    number
        .parse::<u64>()
        .map(|kb| kb.saturating_mul(1024))
        .map_err(|_| format!("bad number {number:?}"))
}

/// The jiffies of one `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CpuTimes {
    pub(crate) user: u64,
    pub(crate) nice: u64,
    pub(crate) system: u64,
    pub(crate) idle: u64,
    pub(crate) iowait: u64,
    pub(crate) irq: u64,
    pub(crate) softirq: u64,
    pub(crate) steal: u64,
}

impl CpuTimes {
    /// All time (guest time is already inside user and nice).
    pub(crate) fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }
}

/// `/proc/stat`: the machine-wide line and one line per online CPU, by number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Stat {
    pub(crate) total: CpuTimes,
    pub(crate) per_cpu: Vec<(usize, CpuTimes)>,
}

pub(crate) fn parse_stat(text: &str) -> Result<Stat, String> {
    let mut stat = Stat::default();
    let mut have_total = false;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            // The cpu lines come first; stop at the first other line.
            if have_total {
                break;
            }
            continue;
        };
        // "cpu  1 2 3 ..." is the whole machine, "cpu3 1 2 3 ..." one CPU.
        let (id, values_text) = if rest.starts_with(' ') {
            (None, rest)
        } else {
            let (id, values) = rest.split_once(' ').ok_or("empty cpu line")?;
            let id: usize = id.parse().map_err(|_| format!("bad cpu id {id:?}"))?;
            (Some(id), values)
        };
        let mut fields = values_text.split_ascii_whitespace();
        let mut values = [0u64; 8];
        for v in values.iter_mut() {
            // Old kernels lack the last fields: they count as zero.
            *v = match fields.next() {
                Some(f) => f.parse().map_err(|_| format!("bad number {f:?}"))?,
                None => 0,
            };
        }
        let times = CpuTimes {
            user: values[0],
            nice: values[1],
            system: values[2],
            idle: values[3],
            iowait: values[4],
            irq: values[5],
            softirq: values[6],
            steal: values[7],
        };
        match id {
            None => {
                stat.total = times;
                have_total = true;
            }
            Some(n) => stat.per_cpu.push((n, times)),
        }
    }
    if !have_total {
        return Err("no cpu line".into());
    }
    Ok(stat)
}

/// One mount of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub(crate) device: String,
    pub(crate) mountpoint: String,
    pub(crate) fstype: String,
}

pub(crate) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            Some(Mount {
                device: unescape_octal(f.next()?),
                mountpoint: unescape_octal(f.next()?),
                fstype: f.next()?.to_owned(),
            })
        })
        .collect()
}

/// Undoes the kernel's `\040`-style escapes of spaces, tabs, newlines and
/// backslashes in mount fields.
pub(crate) fn unescape_octal(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Bytes read and written by one block device, from `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiskStat {
    pub(crate) name: String,
    pub(crate) read_bytes: u64,
    pub(crate) written_bytes: u64,
}

pub(crate) fn parse_diskstats(text: &str) -> Vec<DiskStat> {
    // Fields: major minor name reads merged sectors_read ms writes merged sectors_written ...
    // A sector here is always 512 bytes, whatever the device's own sector size.
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            Some(DiskStat {
                name: f[2].to_owned(),
                read_bytes: f[5].parse::<u64>().ok()?.saturating_mul(512),
                written_bytes: f[9].parse::<u64>().ok()?.saturating_mul(512),
            })
        })
        .collect()
}

/// Counters of one network interface, from `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetDev {
    pub(crate) name: String,
    pub(crate) rx_bytes: u64,
    pub(crate) rx_errors: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_errors: u64,
}

pub(crate) fn parse_net_dev(text: &str) -> Vec<NetDev> {
    // Two header lines, then "  name: rx_bytes packets errs drop fifo frame compressed multicast
    // tx_bytes packets errs drop fifo colls carrier compressed".
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let f: Vec<u64> = rest
                .split_ascii_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            if f.len() < 16 {
                return None;
            }
            Some(NetDev {
                name: name.trim().to_owned(),
                rx_bytes: f[0],
                rx_errors: f[2],
                tx_bytes: f[8],
                tx_errors: f[10],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\nBuffers:          100000 kB\nCached:          5000000 kB\nSwapCached:            0 kB\nSReclaimable:     200000 kB\nSwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total, 16_384_000 * 1024);
        assert_eq!(m.available, Some(8_000_000 * 1024));
        assert_eq!(m.cached, 5_000_000 * 1024);
        assert_eq!(m.swap_free, 1_500_000 * 1024);
        assert!(parse_meminfo("Foo: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: x kB\n").is_err());
    }

    #[test]
    fn stat() {
        let text = "cpu  100 5 50 800 10 1 2 3 0 0\ncpu0 60 5 30 400 5 1 1 2 0 0\ncpu1 40 0 20 400 5 0 1 1 0 0\nintr 1 2 3\nctxt 5\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.total.user, 100);
        assert_eq!(s.total.steal, 3);
        assert_eq!(s.total.total(), 971);
        assert_eq!(s.per_cpu.len(), 2);
        assert_eq!(s.per_cpu[1].0, 1);
        assert_eq!(s.per_cpu[1].1.idle, 400);
        assert!(parse_stat("intr 1\n").is_err());
    }

    #[test]
    fn mounts_with_escapes() {
        let text = "/dev/vda / ext4 rw 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\nproc /proc proc rw 0 0\n";
        let m = parse_mounts(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].mountpoint, "/mnt/my disk");
        assert_eq!(m[2].fstype, "proc");
        assert_eq!(unescape_octal("a\\134b"), "a\\b");
        assert_eq!(unescape_octal("trailing\\"), "trailing\\");
    }

    #[test]
    fn diskstats() {
        let text = " 254       0 vda 28381 5200 1939298 8364 10718 9634 1340608 6188 0 4804 14922\n   7 0 loop0 0 0 0 0 0 0 0 0 0 0 0\n";
        let d = parse_diskstats(text);
        assert_eq!(d[0].name, "vda");
        assert_eq!(d[0].read_bytes, 1_939_298 * 512);
        assert_eq!(d[0].written_bytes, 1_340_608 * 512);
    }

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:  100  1 0 0 0 0 0 0  100 1 0 0 0 0 0 0\n  eth0: 1112 12 3 0 0 0 0 0 2000 7 4 0 0 0 0 0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].name, "eth0");
        assert_eq!((n[1].rx_bytes, n[1].rx_errors), (1112, 3));
        assert_eq!((n[1].tx_bytes, n[1].tx_errors), (2000, 4));
    }
}
