//! Filesystem space (`/proc/mounts` + `statvfs`) and block device I/O
//! (`/proc/diskstats`).
//!
//! Read directly rather than through sysinfo: sysinfo's disk list does not
//! give the free-block count that `df`'s "used" needs, and `/proc/diskstats`
//! gives every device's counters in one read.
//!
//! # Which filesystems are reported
//! Every mount in `/proc/mounts` except:
//! 1. pseudo and memory filesystems, by type: [`PSEUDO_FSTYPES`] (`proc`,
//!    `sysfs`, `tmpfs`, `overlay`, `squashfs`, `cgroup2`, ...);
//! 2. mounts under [`IGNORED_MOUNT_PREFIXES`] (`/proc`, `/sys`, `/dev`,
//!    `/run/credentials`, Docker's and Podman's storage);
//! 3. a second mount of a device already reported (bind mounts): the
//!    shortest mount point is kept;
//! 4. filesystems of size 0.
//!
//! Network filesystems (NFS, CIFS, Ceph, GlusterFS, FUSE) are asked in a
//! blocking task with a timeout, so a dead server cannot hang the agent; a
//! mount that timed out is skipped until its call returns.
//!
//! # Which block devices are reported
//! Whole disks listed in `/sys/block` (not partitions, so nothing is counted
//! twice), except `loop`, `ram` and `zram` devices and devices that never
//! did any I/O.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::host::{FilesystemMetrics, IoMetrics};
use monitor_core::{CollectContext, CollectError, Collection, Collector};

use crate::procfs::{self, HostPaths, Mount};
use crate::rates::Rates;

/// Filesystem types that are never reported.
pub const PSEUDO_FSTYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "erofs",
    "fusectl",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "nfsd",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Mount points (and everything below them) that are never reported.
pub const IGNORED_MOUNT_PREFIXES: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/run/credentials",
    "/var/lib/docker/",
    "/var/lib/containers/storage/",
    "/var/lib/kubelet/pods/",
    "/snap/",
];

const NETWORK_FSTYPES: &[&str] = &["nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "9p"];

/// Which filesystems and devices the disk collector reports.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskConfig {
    /// Filesystem types to skip (default [`PSEUDO_FSTYPES`]).
    pub exclude_fstypes: Vec<String>,
    /// Mount point prefixes to skip (default [`IGNORED_MOUNT_PREFIXES`]).
    pub exclude_mount_prefixes: Vec<String>,
    /// How long a network filesystem may take to answer `statvfs`.
    pub network_timeout: Duration,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            exclude_fstypes: PSEUDO_FSTYPES.iter().map(|s| (*s).to_owned()).collect(),
            exclude_mount_prefixes: IGNORED_MOUNT_PREFIXES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            network_timeout: Duration::from_secs(2),
        }
    }
}

impl DiskConfig {
    fn is_excluded(&self, mount: &Mount) -> bool {
        self.exclude_fstypes.contains(&mount.fstype)
            || self.exclude_mount_prefixes.iter().any(|p| {
                // "/dev" excludes /dev and below; "/var/lib/docker/" only below.
                if p.ends_with('/') {
                    mount.mountpoint.starts_with(p.as_str())
                } else {
                    mount
                        .mountpoint
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                }
            })
    }
}

/// Chooses the mounts to report: the rules of the module documentation.
fn select_mounts(mounts: Vec<Mount>, config: &DiskConfig) -> Vec<Mount> {
    let mut chosen: Vec<Mount> = Vec::new();
    for mount in mounts {
        if config.is_excluded(&mount) {
            continue;
        }
        match chosen.iter_mut().find(|m| m.device == mount.device) {
            Some(existing) if mount.mountpoint.len() < existing.mountpoint.len() => {
                *existing = mount;
            }
            Some(_) => {}
            None => chosen.push(mount),
        }
    }
    chosen
}

fn is_network(fstype: &str) -> bool {
    NETWORK_FSTYPES.contains(&fstype) || fstype.starts_with("fuse.")
}

/// Sizes of one filesystem as `df -B1` computes them, measured at `at`
/// (its mount point, under the host's root).
fn statvfs(mount: &Mount, at: &std::path::Path) -> Option<FilesystemMetrics> {
    let st = rustix::fs::statvfs(at).ok()?;
    let frsize = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    let size = st.f_blocks.saturating_mul(frsize);
    if size == 0 {
        return None;
    }
    Some(FilesystemMetrics {
        mountpoint: mount.mountpoint.clone(),
        device: mount.device.clone(),
        fstype: mount.fstype.clone(),
        size_bytes: size,
        used_bytes: st
            .f_blocks
            .saturating_sub(st.f_bfree)
            .saturating_mul(frsize),
        avail_bytes: st.f_bavail.saturating_mul(frsize),
    })
}

/// Collects space per filesystem and I/O per block device.
#[derive(Debug)]
pub struct DiskCollector {
    paths: HostPaths,
    config: DiskConfig,
    buf: String,
    rates: Rates<2>,
    /// Whole disks from `/sys/block`, refreshed every [`DEVICE_REFRESH`].
    devices: HashSet<String>,
    devices_read: Option<Instant>,
    /// Network mounts whose `statvfs` has not returned yet.
    stuck: Arc<Mutex<HashSet<String>>>,
}

const DEVICE_REFRESH: Duration = Duration::from_secs(60);

impl DiskCollector {
    /// A collector with the given rules, reading files under `paths`.
    pub fn new(paths: HostPaths, config: DiskConfig) -> Self {
        DiskCollector {
            paths,
            config,
            buf: String::new(),
            rates: Rates::default(),
            devices: HashSet::new(),
            devices_read: None,
            stuck: Arc::default(),
        }
    }

    /// The filesystems to report, with their sizes.
    ///
    /// # Errors
    /// [`CollectError::Io`] when `/proc/mounts` cannot be read.
    pub async fn filesystems(&mut self) -> Result<Vec<FilesystemMetrics>, CollectError> {
        // The host's mount table: its first process's, when this process
        // sees the host's root elsewhere (a container).
        let path = if self.paths.root_elsewhere() {
            self.paths.proc("1/mounts")
        } else {
            self.paths.proc("mounts")
        };
        procfs::read_into(&path, &mut self.buf)?;
        let mounts = select_mounts(procfs::parse_mounts(&self.buf), &self.config);
        let mut out = Vec::with_capacity(mounts.len());
        for mount in mounts {
            let at = self.paths.root(&mount.mountpoint);
            if !is_network(&mount.fstype) {
                // Local filesystems answer from memory: no task needed.
                out.extend(statvfs(&mount, &at));
                continue;
            }
            if lock(&self.stuck).contains(&mount.mountpoint) {
                continue;
            }
            let stuck = Arc::clone(&self.stuck);
            let key = mount.mountpoint.clone();
            lock(&stuck).insert(key.clone());
            let task = tokio::task::spawn_blocking(move || {
                let result = statvfs(&mount, &at);
                lock(&stuck).remove(&mount.mountpoint);
                result
            });
            match tokio::time::timeout(self.config.network_timeout, task).await {
                Ok(Ok(fs)) => out.extend(fs),
                Ok(Err(_)) => {}
                Err(_) => tracing::warn!(
                    mountpoint = %key,
                    "Network filesystem did not answer statvfs in time; skipping it until it does."
                ),
            }
        }
        Ok(out)
    }

    /// I/O counters and rates of the whole disks.
    ///
    /// # Errors
    /// [`CollectError::Io`] when `/proc/diskstats` cannot be read.
    pub fn disk_io(&mut self) -> Result<Vec<IoMetrics>, CollectError> {
        let now = Instant::now();
        if self
            .devices_read
            .is_none_or(|at| now.duration_since(at) >= DEVICE_REFRESH)
        {
            self.devices = whole_disks(&self.paths.sys("block"));
            self.devices_read = Some(now);
        }
        let path = self.paths.proc("diskstats");
        procfs::read_into(&path, &mut self.buf)?;
        let stats = procfs::parse_diskstats(&self.buf);
        let counters = stats
            .iter()
            .filter(|d| self.devices.contains(&d.name))
            .filter(|d| d.read_bytes > 0 || d.written_bytes > 0)
            .map(|d| (d.name.as_str(), [d.read_bytes, d.written_bytes]));
        Ok(self
            .rates
            .update(now, counters)
            .into_iter()
            .map(|(name, totals, rate)| IoMetrics {
                name,
                in_bytes_total: totals[0],
                out_bytes_total: totals[1],
                in_bytes_per_second: rate.map_or(0.0, |r| r[0]),
                out_bytes_per_second: rate.map_or(0.0, |r| r[1]),
                ..IoMetrics::default()
            })
            .collect())
    }
}

fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    // A panic while holding this lock cannot leave the set inconsistent.
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn whole_disks(sys_block: &PathBuf) -> HashSet<String> {
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| {
            !(name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram"))
        })
        .collect()
}

#[async_trait]
impl Collector for DiskCollector {
    fn name(&self) -> &str {
        "disk"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let mut out = Collection::new();
        for fs in self.filesystems().await? {
            fs.write_to(&mut out);
        }
        for disk in self.disk_io()? {
            disk.write_disk_to(&mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(device: &str, mountpoint: &str, fstype: &str) -> Mount {
        Mount {
            device: device.into(),
            mountpoint: mountpoint.into(),
            fstype: fstype.into(),
        }
    }

    #[test]
    fn selection_rules() {
        let mounts = vec![
            mount("proc", "/proc", "proc"),
            mount("/dev/vda", "/", "ext4"),
            mount("tmpfs", "/dev/shm", "tmpfs"),
            mount("/dev/vda", "/var/lib/docker", "ext4"),
            mount("overlay", "/var/lib/docker/overlay2/x/merged", "overlay"),
            mount("/dev/vdb1", "/srv/data", "xfs"),
            mount("/dev/vdb1", "/srv", "xfs"),
            mount("server:/export", "/mnt/nfs", "nfs4"),
            mount("/dev/vdc", "/system", "ext4"),
        ];
        let chosen = select_mounts(mounts, &DiskConfig::default());
        let points: Vec<&str> = chosen.iter().map(|m| m.mountpoint.as_str()).collect();
        assert_eq!(points, ["/", "/srv", "/mnt/nfs", "/system"]);
    }

    #[test]
    fn network_types() {
        assert!(is_network("nfs4"));
        assert!(is_network("fuse.sshfs"));
        assert!(!is_network("ext4"));
    }
}
