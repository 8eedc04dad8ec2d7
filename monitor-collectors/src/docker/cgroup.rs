//! Container usage read from cgroup files (v1 and v2), the way `docker stats`
//! computes it, at a small fraction of the cost of Docker's stats endpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::procfs;

/// Where the cgroup hierarchies are mounted, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CgroupMounts {
    /// v1 controller name → mount point.
    v1: HashMap<String, PathBuf>,
    /// The unified (v2) hierarchy.
    v2: Option<PathBuf>,
}

impl CgroupMounts {
    /// Parses `/proc/self/mountinfo`.
    pub(crate) fn parse(mountinfo: &str) -> Self {
        let mut mounts = CgroupMounts::default();
        for line in mountinfo.lines() {
            // id parent major:minor root mountpoint options [optional...] - fstype source super
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mountpoint) = left.split_ascii_whitespace().nth(4) else {
                continue;
            };
            let mut right = right.split_ascii_whitespace();
            let (Some(fstype), Some(_source), Some(super_options)) =
                (right.next(), right.next(), right.next())
            else {
                continue;
            };
            let mountpoint = PathBuf::from(procfs::unescape_octal(mountpoint));
            match fstype {
                "cgroup2" => {
                    mounts.v2.get_or_insert(mountpoint);
                }
                "cgroup" => {
                    for option in super_options.split(',') {
                        if matches!(option, "cpuacct" | "cpu" | "memory" | "blkio") {
                            mounts
                                .v1
                                .entry(option.to_owned())
                                .or_insert_with(|| mountpoint.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        mounts
    }
}

/// The cgroup directories of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContainerCgroup {
    /// Separate hierarchies per controller.
    V1 {
        cpuacct: PathBuf,
        memory: PathBuf,
        blkio: Option<PathBuf>,
    },
    /// One directory for everything.
    V2(PathBuf),
}

impl ContainerCgroup {
    /// Finds the cgroup of process `pid` from `/proc/<pid>/cgroup`.
    pub(crate) fn of_process(proc_cgroup: &str, mounts: &CgroupMounts) -> Option<Self> {
        let mut v1: HashMap<&str, &str> = HashMap::new();
        let mut v2 = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if controllers.is_empty() {
                v2 = Some(path);
            } else {
                for c in controllers.split(',') {
                    v1.insert(c, path);
                }
            }
        }
        let join = |root: &Path, rel: &str| root.join(rel.trim_start_matches('/'));
        if let (Some(cpu_path), Some(mem_path)) = (
            v1.get("cpuacct").or_else(|| v1.get("cpu")),
            v1.get("memory"),
        ) {
            let cpu_root = mounts.v1.get("cpuacct").or_else(|| mounts.v1.get("cpu"))?;
            let mem_root = mounts.v1.get("memory")?;
            let blkio = match (v1.get("blkio"), mounts.v1.get("blkio")) {
                (Some(p), Some(root)) => Some(join(root, p)),
                _ => None,
            };
            return Some(ContainerCgroup::V1 {
                cpuacct: join(cpu_root, cpu_path),
                memory: join(mem_root, mem_path),
                blkio,
            });
        }
        Some(ContainerCgroup::V2(join(mounts.v2.as_ref()?, v2?)))
    }

    /// Reads the usage figures.
    pub(crate) fn read(&self, buf: &mut String) -> std::io::Result<CgroupUsage> {
        match self {
            ContainerCgroup::V1 {
                cpuacct,
                memory,
                blkio,
            } => {
                let cpu_ns = read_u64(&cpuacct.join("cpuacct.usage"), buf)?;
                let usage = read_u64(&memory.join("memory.usage_in_bytes"), buf)?;
                let limit = read_u64(&memory.join("memory.limit_in_bytes"), buf)?;
                read_to(&memory.join("memory.stat"), buf)?;
                let inactive = stat_value(buf, "total_inactive_file")
                    .or_else(|| stat_value(buf, "inactive_file"))
                    .unwrap_or(0);
                let (read, write) = match blkio {
                    Some(dir) => {
                        // The recursive file counts the container's whole subtree.
                        let recursive = dir.join("blkio.throttle.io_service_bytes_recursive");
                        let plain = dir.join("blkio.throttle.io_service_bytes");
                        if read_to(&recursive, buf).is_err() {
                            read_to(&plain, buf)?;
                        }
                        parse_blkio_v1(buf)
                    }
                    None => (0, 0),
                };
                Ok(CgroupUsage {
                    cpu_ns,
                    memory_usage: usage,
                    memory_inactive_file: inactive,
                    // v1 writes a huge page-aligned number when there is no limit.
                    memory_limit: (limit < 1 << 62).then_some(limit),
                    block_read: read,
                    block_write: write,
                })
            }
            ContainerCgroup::V2(dir) => {
                read_to(&dir.join("cpu.stat"), buf)?;
                let cpu_ns = stat_value(buf, "usage_usec")
                    .unwrap_or(0)
                    .saturating_mul(1000);
                let usage = read_u64(&dir.join("memory.current"), buf)?;
                read_to(&dir.join("memory.max"), buf)?;
                let limit = buf.trim().parse::<u64>().ok();
                read_to(&dir.join("memory.stat"), buf)?;
                let inactive = stat_value(buf, "inactive_file").unwrap_or(0);
                let (read, write) = match read_to(&dir.join("io.stat"), buf) {
                    Ok(()) => parse_io_stat_v2(buf),
                    Err(_) => (0, 0),
                };
                Ok(CgroupUsage {
                    cpu_ns,
                    memory_usage: usage,
                    memory_inactive_file: inactive,
                    memory_limit: limit,
                    block_read: read,
                    block_write: write,
                })
            }
        }
    }
}

/// Raw usage of one container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CgroupUsage {
    /// CPU time used, in nanoseconds.
    pub(crate) cpu_ns: u64,
    /// Memory charged to the cgroup, page cache included.
    pub(crate) memory_usage: u64,
    /// Inactive file cache, which `docker stats` leaves out.
    pub(crate) memory_inactive_file: u64,
    /// The limit, `None` when unlimited.
    pub(crate) memory_limit: Option<u64>,
    /// Bytes read from block devices.
    pub(crate) block_read: u64,
    /// Bytes written to block devices.
    pub(crate) block_write: u64,
}

impl CgroupUsage {
    /// Memory as `docker stats` shows it: usage minus inactive file cache.
    pub(crate) fn memory_docker(&self) -> u64 {
        if self.memory_inactive_file < self.memory_usage {
            self.memory_usage - self.memory_inactive_file
        } else {
            self.memory_usage
        }
    }
}

fn read_to(path: &Path, buf: &mut String) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    std::fs::File::open(path)?.read_to_string(buf).map(|_| ())
}

fn read_u64(path: &Path, buf: &mut String) -> std::io::Result<u64> {
    read_to(path, buf)?;
    buf.trim().parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} does not hold a number", path.display()),
        )
    })
}

/// A `key value` line of a `*.stat` file.
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Sums `MAJ:MIN Read N` and `MAJ:MIN Write N` lines.
fn parse_blkio_v1(text: &str) -> (u64, u64) {
    let mut read = 0u64;
    let mut write = 0u64;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(_dev), Some(op), Some(value)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        match op {
            "Read" => read = read.saturating_add(value),
            "Write" => write = write.saturating_add(value),
            _ => {}
        }
    }
    (read, write)
}

/// Sums `rbytes=` and `wbytes=` over the devices of `io.stat`.
fn parse_io_stat_v2(text: &str) -> (u64, u64) {
    let mut read = 0u64;
    let mut write = 0u64;
    for field in text.split_ascii_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            read = read.saturating_add(v.parse().unwrap_or(0));
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            write = write.saturating_add(v.parse().unwrap_or(0));
        }
    }
    (read, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/blkio rw,nosuid - cgroup cgroup rw,blkio
";

    #[test]
    fn v1_paths() {
        let mounts = CgroupMounts::parse(MOUNTINFO);
        let proc_cgroup =
            "12:blkio:/docker/abc\n4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n";
        let cg = ContainerCgroup::of_process(proc_cgroup, &mounts).unwrap();
        assert_eq!(
            cg,
            ContainerCgroup::V1 {
                cpuacct: "/sys/fs/cgroup/cpu,cpuacct/docker/abc".into(),
                memory: "/sys/fs/cgroup/memory/docker/abc".into(),
                blkio: Some("/sys/fs/cgroup/blkio/docker/abc".into()),
            }
        );
    }

    #[test]
    fn v2_paths() {
        let mounts = CgroupMounts::parse("31 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        let cg =
            ContainerCgroup::of_process("0::/system.slice/docker-abc.scope\n", &mounts).unwrap();
        assert_eq!(
            cg,
            ContainerCgroup::V2("/sys/fs/cgroup/system.slice/docker-abc.scope".into())
        );
    }

    #[test]
    fn stat_files() {
        assert_eq!(
            stat_value("cache 5\ntotal_inactive_file 42\n", "total_inactive_file"),
            Some(42)
        );
        assert_eq!(
            parse_blkio_v1("8:0 Read 100\n8:0 Write 50\n8:16 Read 1\nTotal 151\n"),
            (101, 50)
        );
        assert_eq!(
            parse_io_stat_v2("8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n"),
            (11, 22)
        );
        let u = CgroupUsage {
            memory_usage: 100,
            memory_inactive_file: 30,
            ..Default::default()
        };
        assert_eq!(u.memory_docker(), 70);
    }
}
