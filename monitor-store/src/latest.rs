//! The newest snapshot of each server, kept in memory for the overview.
//!
//! The writer puts every server's newest accepted snapshot here (marked
//! dirty) and writes the dirty ones to the `latest` table every second.
//! Clean entries stay, up to a bound, so the overview of the servers that
//! report answers without reading or parsing anything; the entries written
//! longest ago are evicted first.
//!
//! Snapshots are held packed: the layout (metric names, kinds, units and
//! every sample's labels), which is the same for every report of a host and
//! for every host that reports the same series, is shared, and each entry
//! keeps its values. A report of 52 samples takes about 600 bytes instead
//! of 7 KB as a parsed [`Snapshot`] (with 10,000 hosts reporting at once,
//! 6 MB instead of 70); it is unpacked when read.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use monitor_core::{
    ContainerInfo, HostInfo, Labels, MetricFamily, MetricKind, ProcessInfo, Sample, ServerId,
    Snapshot, Timestamp, Unit,
};

/// The names, kinds, units and labels of a snapshot's samples, in order.
#[derive(Debug, PartialEq)]
struct Layout {
    families: Box<[FamilyLayout]>,
}

#[derive(Debug, PartialEq)]
struct FamilyLayout {
    name: String,
    kind: MetricKind,
    unit: Unit,
    help: Option<String>,
    labels: Box<[Labels]>,
}

impl Layout {
    fn of(snapshot: &Snapshot) -> Self {
        Layout {
            families: snapshot
                .metrics
                .iter()
                .map(|f| FamilyLayout {
                    name: f.name.clone(),
                    kind: f.kind,
                    unit: f.unit.clone(),
                    help: f.help.clone(),
                    labels: f.samples.iter().map(|s| s.labels.clone()).collect(),
                })
                .collect(),
        }
    }

    /// Whether `snapshot` has exactly this layout.
    fn fits(&self, snapshot: &Snapshot) -> bool {
        self.families.len() == snapshot.metrics.len()
            && self.families.iter().zip(&snapshot.metrics).all(|(l, f)| {
                l.name == f.name
                    && l.kind == f.kind
                    && l.unit == f.unit
                    && l.help == f.help
                    && l.labels.len() == f.samples.len()
                    && l.labels.iter().zip(&f.samples).all(|(a, s)| *a == s.labels)
            })
    }
}

/// A hash of what [`Layout`] holds (a fast one: a collision only costs
/// the comparison that follows).
fn layout_hash(snapshot: &Snapshot) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x006c_6179_6f75_7473).build_hasher();
    for f in &snapshot.metrics {
        f.name.hash(&mut h);
        f.kind.hash(&mut h);
        f.unit.hash(&mut h);
        f.help.hash(&mut h);
        f.samples.len().hash(&mut h);
        for s in &f.samples {
            s.labels.hash(&mut h);
        }
    }
    h.finish()
}

/// A snapshot held packed: a shared layout and its own values.
#[derive(Debug)]
pub(crate) struct Packed {
    layout: Arc<Layout>,
    values: Box<[f64]>,
    /// The reporting server.
    pub(crate) server_id: ServerId,
    /// When the values were read.
    pub(crate) timestamp: Timestamp,
    /// The agent's interval.
    pub(crate) interval_secs: Option<f64>,
    /// Host facts.
    pub(crate) host: Option<Box<HostInfo>>,
    containers: Option<Box<[ContainerInfo]>>,
    processes: Option<Box<[ProcessInfo]>>,
}

impl Packed {
    /// The snapshot again, whole.
    pub(crate) fn unpack(&self) -> Snapshot {
        let mut values = self.values.iter();
        let metrics = self
            .layout
            .families
            .iter()
            .map(|l| MetricFamily {
                name: l.name.clone(),
                kind: l.kind,
                unit: l.unit.clone(),
                help: l.help.clone(),
                samples: l
                    .labels
                    .iter()
                    .zip(values.by_ref())
                    .map(|(labels, value)| Sample {
                        labels: labels.clone(),
                        value: *value,
                    })
                    .collect(),
            })
            .collect();
        let mut snapshot = Snapshot::new(
            self.server_id.clone(),
            self.timestamp,
            monitor_core::Collection::new(),
        );
        snapshot.interval_secs = self.interval_secs;
        snapshot.host = self.host.as_deref().cloned();
        snapshot.containers = self.containers.as_deref().map(<[ContainerInfo]>::to_vec);
        snapshot.processes = self.processes.as_deref().map(<[ProcessInfo]>::to_vec);
        snapshot.metrics = metrics;
        snapshot
    }
}

/// The newest snapshots, shared by the writer task and the readers.
#[derive(Debug)]
pub(crate) struct Latest {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Names of written entries, oldest write first, for eviction; an entry
    /// is in it at most once (`queued`).
    order: VecDeque<String>,
    /// The layouts in use, by [`layout_hash`]; dead ones are swept when
    /// there are twice as many as entries.
    layouts: HashMap<u64, Weak<Layout>>,
}

#[derive(Debug)]
struct Entry {
    packed: Arc<Packed>,
    /// Not yet written to the database.
    dirty: bool,
    /// In the eviction queue.
    queued: bool,
}

impl Latest {
    /// Keeps at most `max` clean entries (dirty ones are never dropped).
    pub(crate) fn new(max: usize) -> Self {
        Latest {
            max,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the newest snapshot of its server, to be written.
    pub(crate) fn put(&self, snapshot: Snapshot) {
        let hash = layout_hash(&snapshot);
        let values: Box<[f64]> = snapshot
            .metrics
            .iter()
            .flat_map(|f| f.samples.iter().map(|s| s.value))
            .collect();
        let name = snapshot.server_id.to_string();
        let mut inner = self.lock();
        let shared = inner
            .layouts
            .get(&hash)
            .and_then(Weak::upgrade)
            .filter(|l| l.fits(&snapshot));
        let layout = match shared {
            Some(layout) => layout,
            None => {
                let layout = Arc::new(Layout::of(&snapshot));
                inner.layouts.insert(hash, Arc::downgrade(&layout));
                layout
            }
        };
        let packed = Arc::new(Packed {
            layout,
            values,
            server_id: snapshot.server_id,
            timestamp: snapshot.timestamp,
            interval_secs: snapshot.interval_secs,
            host: snapshot.host.map(Box::new),
            containers: snapshot.containers.map(Vec::into_boxed_slice),
            processes: snapshot.processes.map(Vec::into_boxed_slice),
        });
        let replaced = match inner.map.get_mut(&name) {
            Some(e) => {
                e.dirty = true;
                Some(std::mem::replace(&mut e.packed, packed))
            }
            None => {
                inner.map.insert(
                    name,
                    Entry {
                        packed,
                        dirty: true,
                        queued: false,
                    },
                );
                None
            }
        };
        if inner.layouts.len() > 2 * inner.map.len() + 16 {
            inner.layouts.retain(|_, l| l.strong_count() > 0);
        }
        // Freeing the replaced entry and the parsed snapshot's many small
        // allocations happens after the lock is released, so readers do not
        // wait for it.
        drop(inner);
        drop(replaced);
        drop(snapshot.metrics);
    }

    /// The newest snapshot of `name`, when held, unpacked.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Snapshot>> {
        let packed = self.packed(name)?;
        Some(Arc::new(packed.unpack()))
    }

    /// The packed newest snapshot of `name`, when held (its facts without
    /// unpacking it).
    pub(crate) fn packed(&self, name: &str) -> Option<Arc<Packed>> {
        self.lock().map.get(name).map(|e| Arc::clone(&e.packed))
    }

    /// Every snapshot held, by server name, unpacked (outside the lock).
    pub(crate) fn all(&self) -> HashMap<String, Arc<Snapshot>> {
        let held: Vec<(String, Arc<Packed>)> = self
            .lock()
            .map
            .iter()
            .map(|(name, e)| (name.clone(), Arc::clone(&e.packed)))
            .collect();
        held.into_iter()
            .map(|(name, p)| (name, Arc::new(p.unpack())))
            .collect()
    }

    /// The servers whose newest snapshot is not yet written.
    pub(crate) fn dirty_names(&self) -> Vec<String> {
        self.lock()
            .map
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The newest snapshot of `name` when it is not yet written.
    pub(crate) fn dirty_one(&self, name: &str) -> Option<Arc<Packed>> {
        self.lock()
            .map
            .get(name)
            .filter(|e| e.dirty)
            .map(|e| Arc::clone(&e.packed))
    }

    /// Marks `written` as stored, unless a newer snapshot replaced one
    /// meanwhile; then evicts over the bound.
    pub(crate) fn written(&self, written: &[Arc<Packed>]) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        for packed in written {
            if let Some(e) = inner.map.get_mut(packed.server_id.as_str())
                && Arc::ptr_eq(&e.packed, packed)
            {
                e.dirty = false;
                if !e.queued {
                    e.queued = true;
                    inner.order.push_back(packed.server_id.to_string());
                }
            }
        }
        self.evict(inner);
    }

    /// Forgets a deleted server.
    pub(crate) fn remove(&self, name: &str) {
        let mut inner = self.lock();
        if inner.map.remove(name).is_some() {
            inner.order.retain(|n| n != name);
        }
    }

    /// Drops clean entries, written longest ago first, down to the bound:
    /// each queued name is looked at once (amortized O(1) per write).
    fn evict(&self, inner: &mut Inner) {
        while inner.map.len() > self.max {
            let Some(name) = inner.order.pop_front() else {
                break;
            };
            if let Some(e) = inner.map.get_mut(&name) {
                e.queued = false;
                if !e.dirty {
                    inner.map.remove(&name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::{Collection, ServerId, Timestamp};

    fn snap(name: &str, t: i64) -> Snapshot {
        Snapshot::new(
            ServerId::new(name).unwrap_or_else(|e| panic!("{e}")),
            Timestamp::from_millis(t),
            Collection::new(),
        )
    }

    #[test]
    fn snapshots_come_back_whole_and_hosts_share_one_layout() {
        use monitor_core::testing::{Rng, report};
        let latest = Latest::new(10);
        let mut rng = Rng(7);
        let a = report("host-a", 5_000, 1, &mut rng);
        let mut b = report("host-b", 5_000, 1, &mut rng);
        b.interval_secs = Some(5.0);
        latest.put(a.clone());
        latest.put(b.clone());
        assert_eq!(latest.get("host-a").as_deref(), Some(&a));
        assert_eq!(latest.get("host-b").as_deref(), Some(&b));
        let (pa, pb) = (latest.packed("host-a"), latest.packed("host-b"));
        let (Some(pa), Some(pb)) = (pa, pb) else {
            panic!("both held")
        };
        assert!(Arc::ptr_eq(&pa.layout, &pb.layout), "one layout for both");
        // Another shape (one series less) gets its own layout.
        let mut c = report("host-a", 10_000, 2, &mut rng);
        c.metrics[0].samples.pop();
        latest.put(c.clone());
        assert_eq!(latest.get("host-a").as_deref(), Some(&c));
        let pc = latest.packed("host-a").unwrap_or_else(|| panic!("held"));
        assert!(!Arc::ptr_eq(&pc.layout, &pb.layout));
    }

    #[test]
    fn dirty_entries_stay_until_written_then_the_oldest_go() {
        let latest = Latest::new(2);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            latest.put(snap(name, i as i64));
        }
        assert_eq!(latest.all().len(), 3, "dirty entries are never dropped");
        let mut names = latest.dirty_names();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        let dirty: Vec<Arc<Packed>> = names.iter().filter_map(|n| latest.dirty_one(n)).collect();
        for one in &dirty {
            latest.written(std::slice::from_ref(one));
        }
        assert!(latest.dirty_names().is_empty());
        assert!(latest.dirty_one("b").is_none());
        let all = latest.all();
        assert_eq!(all.len(), 2);
        assert!(!all.contains_key("a"), "the entry written first goes first");
        latest.put(snap("b", 10));
        latest.written(&dirty);
        assert_eq!(latest.dirty_names(), ["b"], "a newer snapshot stays dirty");
        assert_eq!(latest.get("b").map(|s| s.timestamp.as_millis()), Some(10));
        latest.remove("b");
        assert!(latest.get("b").is_none());
    }
}
