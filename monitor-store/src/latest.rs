//! The newest snapshot of each server, kept in memory for the overview.
//!
//! The writer puts every server's newest accepted snapshot here (marked
//! dirty) and writes the dirty ones to the `servers` table every few
//! seconds. Clean entries stay, up to a bound, so the overview of the
//! servers that report answers without reading or parsing anything; the
//! oldest-inserted clean entries are evicted first.

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
    /// Server names in insertion order, for eviction.
    order: VecDeque<String>,
}

#[derive(Debug)]
struct Entry {
    snapshot: Arc<Snapshot>,
    /// Not yet written to the database.
    dirty: bool,
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
        let name = snapshot.server_id.to_string();
        let entry = Entry {
            snapshot: Arc::new(snapshot),
            dirty: true,
        };
        let mut inner = self.lock();
        if inner.map.insert(name.clone(), entry).is_none() {
            inner.order.push_back(name);
        }
        self.evict(&mut inner);
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

    /// The snapshots not yet written.
    pub(crate) fn dirty(&self) -> Vec<Arc<Snapshot>> {
        self.lock()
            .map
            .values()
            .filter(|e| e.dirty)
            .map(|e| Arc::clone(&e.snapshot))
            .collect()
    }

    /// Marks `written` as stored, unless a newer snapshot replaced one
    /// meanwhile; then evicts over the bound.
    pub(crate) fn written(&self, written: &[Arc<Snapshot>]) {
        let mut inner = self.lock();
        for snapshot in written {
            if let Some(e) = inner.map.get_mut(snapshot.server_id.as_str())
                && Arc::ptr_eq(&e.snapshot, snapshot)
            {
                e.dirty = false;
            }
        }
        self.evict(&mut inner);
    }

    /// Forgets a deleted server.
    pub(crate) fn remove(&self, name: &str) {
        let mut inner = self.lock();
        if inner.map.remove(name).is_some() {
            inner.order.retain(|n| n != name);
        }
    }

    fn evict(&self, inner: &mut Inner) {
        // Each name is looked at once at most: dirty ones go to the back.
        let mut budget = inner.order.len();
        while inner.map.len() > self.max && budget > 0 {
            budget -= 1;
            let Some(name) = inner.order.pop_front() else {
                break;
            };
            match inner.map.get(&name) {
                Some(e) if e.dirty => inner.order.push_back(name),
                Some(_) => {
                    inner.map.remove(&name);
                }
                None => {}
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
        let dirty = latest.dirty();
        assert_eq!(dirty.len(), 3);
        latest.written(&dirty);
        assert!(latest.dirty().is_empty());
        let all = latest.all();
        assert_eq!(all.len(), 2);
        assert!(!all.contains_key("a"), "the oldest clean entry goes first");
        latest.put(snap("b", 10));
        latest.written(&dirty);
        assert_eq!(latest.dirty().len(), 1, "a newer snapshot stays dirty");
        assert_eq!(latest.get("b").map(|s| s.timestamp.as_millis()), Some(10));
        latest.remove("b");
        assert!(latest.get("b").is_none());
    }
}
