//! The newest snapshot of each server, kept in memory for the overview.
//!
//! The writer puts every server's newest accepted snapshot here (marked
//! dirty) and writes the dirty ones to the `latest` table every second.
//! Clean entries stay, up to a bound, so the overview of the servers that
//! report answers without reading or parsing anything; the entries written
//! longest ago are evicted first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use monitor_core::Snapshot;

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
}

#[derive(Debug)]
struct Entry {
    snapshot: Arc<Snapshot>,
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
    pub(crate) fn put(&self, mut snapshot: Snapshot) {
        snapshot.shrink_to_fit();
        let name = snapshot.server_id.to_string();
        let snapshot = Arc::new(snapshot);
        let mut inner = self.lock();
        let replaced = match inner.map.get_mut(&name) {
            Some(e) => {
                e.dirty = true;
                Some(std::mem::replace(&mut e.snapshot, snapshot))
            }
            None => {
                inner.map.insert(
                    name,
                    Entry {
                        snapshot,
                        dirty: true,
                        queued: false,
                    },
                );
                None
            }
        };
        // Freeing a snapshot's many small allocations happens after the
        // lock is released, so readers do not wait for it.
        drop(inner);
        drop(replaced);
    }

    /// The newest snapshot of `name`, when held.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Snapshot>> {
        self.lock().map.get(name).map(|e| Arc::clone(&e.snapshot))
    }

    /// Every snapshot held, by server name.
    pub(crate) fn all(&self) -> HashMap<String, Arc<Snapshot>> {
        self.lock()
            .map
            .iter()
            .map(|(name, e)| (name.clone(), Arc::clone(&e.snapshot)))
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
    pub(crate) fn dirty_one(&self, name: &str) -> Option<Arc<Snapshot>> {
        self.lock()
            .map
            .get(name)
            .filter(|e| e.dirty)
            .map(|e| Arc::clone(&e.snapshot))
    }

    /// Marks `written` as stored, unless a newer snapshot replaced one
    /// meanwhile; then evicts over the bound.
    pub(crate) fn written(&self, written: &[Arc<Snapshot>]) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        for snapshot in written {
            if let Some(e) = inner.map.get_mut(snapshot.server_id.as_str())
                && Arc::ptr_eq(&e.snapshot, snapshot)
            {
                e.dirty = false;
                if !e.queued {
                    e.queued = true;
                    inner.order.push_back(snapshot.server_id.to_string());
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
    fn dirty_entries_stay_until_written_then_the_oldest_go() {
        let latest = Latest::new(2);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            latest.put(snap(name, i as i64));
        }
        assert_eq!(latest.all().len(), 3, "dirty entries are never dropped");
        let mut names = latest.dirty_names();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        let dirty: Vec<Arc<Snapshot>> = names.iter().filter_map(|n| latest.dirty_one(n)).collect();
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
