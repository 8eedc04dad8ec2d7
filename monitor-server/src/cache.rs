//! The latest-value cache: the newest snapshot of up to `CACHE_MAX_ITEMS`
//! servers, so `/api/servers` answers without reading the database.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use monitor_core::Snapshot;

/// The newest snapshot per server, bounded; the server first in is evicted
/// first when a new one needs room.
#[derive(Debug)]
pub struct LatestCache {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Arc<Snapshot>>,
    order: VecDeque<String>,
}

impl LatestCache {
    /// A cache of at most `max` servers (`CACHE_MAX_ITEMS`, 1000 by default).
    pub fn new(max: usize) -> Self {
        LatestCache {
            max,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent
        // in a way that matters for a cache.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `snapshot` when it is newer than what the cache has for its server.
    pub fn offer(&self, snapshot: Arc<Snapshot>) {
        if self.max == 0 {
            return;
        }
        let key = snapshot.server_id.to_string();
        let mut inner = self.lock();
        match inner.map.get(&key) {
            Some(known) if known.timestamp >= snapshot.timestamp => {}
            Some(_) => {
                inner.map.insert(key, snapshot);
            }
            None => {
                while inner.map.len() >= self.max {
                    let Some(oldest) = inner.order.pop_front() else {
                        break;
                    };
                    inner.map.remove(&oldest);
                }
                inner.order.push_back(key.clone());
                inner.map.insert(key, snapshot);
            }
        }
    }

    /// The cached snapshot of a server.
    pub fn get(&self, server_id: &str) -> Option<Arc<Snapshot>> {
        self.lock().map.get(server_id).cloned()
    }

    /// Forgets a server (deleted).
    pub fn remove(&self, server_id: &str) {
        let mut inner = self.lock();
        inner.map.remove(server_id);
        inner.order.retain(|k| k != server_id);
    }

    /// Number of servers cached.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::{Collection, ServerId, Timestamp};

    fn snap(id: &str, t: i64) -> Arc<Snapshot> {
        Arc::new(Snapshot::new(
            ServerId::new(id).unwrap(),
            Timestamp::from_secs(t),
            Collection::new(),
        ))
    }

    #[test]
    fn keeps_the_newest_and_evicts_the_first_in() {
        let cache = LatestCache::new(2);
        cache.offer(snap("a", 10));
        cache.offer(snap("a", 5));
        assert_eq!(cache.get("a").unwrap().timestamp, Timestamp::from_secs(10));
        cache.offer(snap("b", 1));
        cache.offer(snap("c", 1));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none(), "the first in went out");
        cache.remove("b");
        assert!(cache.get("b").is_none());
        let none = LatestCache::new(0);
        none.offer(snap("a", 1));
        assert!(none.is_empty());
    }
}
