//! The live stream (`GET /api/stream`, Server-Sent Events): every accepted
//! snapshot, in order, with an id; a client that reconnects with
//! `Last-Event-ID` first gets what it missed that is still in the buffer.
//! When no client has been connected for a minute, nothing is kept.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast;

/// Events kept for reconnecting clients.
pub const BUFFER: usize = 1024;

/// One published event.
#[derive(Debug, Clone)]
pub struct Published {
    /// Increasing id (the SSE `id:` field).
    pub id: u64,
    /// The event type (`snapshot`).
    pub kind: &'static str,
    /// The JSON payload, made when a client first needs it.
    pub data: Arc<Payload>,
}

/// An event's JSON, made once, on first use: with no client connected an
/// event costs no serialization.
pub struct Payload {
    text: std::sync::OnceLock<String>,
    make: Mutex<Option<Box<dyn FnOnce() -> String + Send>>>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("made", &self.text.get().is_some())
            .finish()
    }
}

impl Payload {
    /// A payload made by `make` when first asked for.
    pub fn lazy(make: impl FnOnce() -> String + Send + 'static) -> Self {
        Payload {
            text: std::sync::OnceLock::new(),
            make: Mutex::new(Some(Box::new(make))),
        }
    }

    /// A payload already made.
    pub fn ready(text: String) -> Self {
        Payload {
            text: std::sync::OnceLock::from(text),
            make: Mutex::new(None),
        }
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| {
            let make = self
                .make
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            make.map(|f| f()).unwrap_or_default()
        })
    }
}

/// Fans events out to every connected client.
#[derive(Debug)]
pub struct StreamHub {
    tx: broadcast::Sender<Published>,
    recent: Mutex<(u64, VecDeque<Published>)>,
    slots: Arc<Slots>,
    /// Set at shutdown: every stream ends.
    closed: tokio::sync::watch::Sender<bool>,
    /// How long events are kept after the last client left.
    reconnect_window: Duration,
}

/// Connected clients, in all and per key, within their caps.
#[derive(Debug)]
struct Slots {
    max: usize,
    max_per_key: usize,
    used: Mutex<Used>,
}

/// Clients connected, per key, and since when none is.
#[derive(Debug)]
struct Used {
    total: usize,
    per_key: HashMap<String, usize>,
    empty_since: Option<std::time::Instant>,
    /// A client has connected since the start.
    ever: bool,
}

/// How long after the last client leaves events are still kept for it to
/// reconnect; after that, with no client, publishing keeps nothing.
const RECONNECT_WINDOW: Duration = Duration::from_secs(60);

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, Used> {
        // The counts are adjusted in one step each: a panic leaves them right.
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One client's place, given back when its stream is dropped.
#[derive(Debug)]
struct Slot {
    slots: Arc<Slots>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.slots.lock();
        used.total = used.total.saturating_sub(1);
        if used.total == 0 {
            used.empty_since = Some(std::time::Instant::now());
        }
        if let Some(n) = used.per_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                used.per_key.remove(&self.key);
            }
        }
    }
}

/// Why a client cannot subscribe now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamFull {
    /// The server's cap on clients is reached.
    #[error("the server has its maximum of {0} live-stream clients")]
    Server(usize),
    /// This token's (or address's) cap is reached.
    #[error("this token already has its maximum of {0} live streams open")]
    Key(usize),
}

impl Default for StreamHub {
    fn default() -> Self {
        Self::new(256, 32)
    }
}

impl StreamHub {
    /// A hub that serves at most `max_clients` streams, `max_per_key` per
    /// token.
    pub fn new(max_clients: usize, max_per_key: usize) -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        // Ids go on increasing across restarts (a client's Last-Event-ID from
        // before a restart is below them): they start from the start time in
        // microseconds, far below 2^53, where JavaScript stays exact.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        StreamHub {
            tx,
            recent: Mutex::new((start, VecDeque::with_capacity(BUFFER))),
            closed: tokio::sync::watch::Sender::new(false),
            reconnect_window: RECONNECT_WINDOW,
            slots: Arc::new(Slots {
                max: max_clients,
                max_per_key,
                used: Mutex::new(Used {
                    total: 0,
                    per_key: HashMap::new(),
                    empty_since: Some(std::time::Instant::now()),
                    ever: false,
                }),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, VecDeque<Published>)> {
        // A panic while holding the lock leaves at worst a shorter buffer.
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes an event to every client and keeps it for reconnections.
    pub fn publish(&self, kind: &'static str, data: Payload) {
        // Nobody connected for a while: nobody to replay to (a server with
        // thousands of agents and no dashboard keeps no buffer).
        let idle = self
            .slots
            .lock()
            .empty_since
            .is_some_and(|t| t.elapsed() > self.reconnect_window);
        let mut recent = self.lock();
        recent.0 += 1;
        let event = Published {
            id: recent.0,
            kind,
            data: Arc::new(data),
        };
        if idle {
            recent.1.clear();
        } else {
            if recent.1.len() == BUFFER {
                recent.1.pop_front();
            }
            recent.1.push_back(event.clone());
        }
        // Sent under the lock, so ids reach subscribers in order.
        let _ = self.tx.send(event);
    }

    /// Whether a published event may be read: a client is connected, or
    /// one left recently enough to reconnect and ask for what it missed.
    pub fn wants_events(&self) -> bool {
        let used = self.slots.lock();
        used.total > 0
            || used.ever
                && used
                    .empty_since
                    .is_none_or(|t| t.elapsed() <= self.reconnect_window)
    }

    /// Number of connected clients.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Ends every stream (at shutdown: a graceful shutdown waits for open
    /// connections, and a live stream never ends on its own). Clients
    /// reconnect with their `Last-Event-ID` to the next process.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// A client's stream: the buffered events after `last_event_id`, then
    /// live ones. A client too slow to keep up is disconnected (it then
    /// reconnects with its `Last-Event-ID`). `key` names whose cap the
    /// stream counts against (a token's hash).
    ///
    /// # Errors
    /// [`StreamFull`] when the server's or the key's cap is reached.
    pub fn subscribe(
        &self,
        last_event_id: Option<u64>,
        key: &str,
    ) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, StreamFull> {
        let slot = {
            let mut used = self.slots.lock();
            if used.total >= self.slots.max {
                return Err(StreamFull::Server(self.slots.max));
            }
            let mine = used.per_key.entry(key.to_owned()).or_insert(0);
            if *mine >= self.slots.max_per_key {
                return Err(StreamFull::Key(self.slots.max_per_key));
            }
            *mine += 1;
            used.total += 1;
            used.empty_since = None;
            used.ever = true;
            Slot {
                slots: Arc::clone(&self.slots),
                key: key.to_owned(),
            }
        };
        let (replay, rx, last) = {
            let recent = self.lock();
            let rx = self.tx.subscribe();
            // An id above the newest (another server's, a clock gone back)
            // asks for nothing: the client gets what comes next.
            let after = last_event_id.filter(|after| *after <= recent.0);
            let replay: VecDeque<Published> = match after {
                Some(after) => recent.1.iter().filter(|e| e.id > after).cloned().collect(),
                None => VecDeque::new(),
            };
            (replay, rx, after.unwrap_or(recent.0))
        };
        let closed = self.closed.subscribe();
        let stream = futures_util::stream::unfold(
            (replay, rx, last, slot, closed),
            |(mut replay, mut rx, mut last, slot, mut closed)| async move {
                loop {
                    let next = match replay.pop_front() {
                        Some(event) => event,
                        None => tokio::select! {
                            received = rx.recv() => match received {
                                Ok(event) => event,
                                Err(broadcast::error::RecvError::Lagged(_)) => return None,
                                Err(broadcast::error::RecvError::Closed) => return None,
                            },
                            _ = closed.wait_for(|c| *c) => return None,
                        },
                    };
                    if next.id <= last {
                        continue;
                    }
                    last = next.id;
                    let event = Event::default()
                        .id(next.id.to_string())
                        .event(next.kind)
                        .data(next.data.text());
                    return Some((Ok(event), (replay, rx, last, slot, closed)));
                }
            },
        );
        Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_kept_only_while_a_client_may_reconnect() {
        let mut hub = StreamHub::new(4, 4);
        hub.publish("snapshot", Payload::ready("{}".into()));
        assert_eq!(hub.lock().1.len(), 1, "kept within the window after start");
        hub.reconnect_window = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(5));
        hub.publish("snapshot", Payload::ready("{}".into()));
        assert!(
            hub.lock().1.is_empty(),
            "no client for longer than the window"
        );
        let subscribed = hub.subscribe(None, "k");
        assert!(subscribed.is_ok());
        hub.publish("snapshot", Payload::ready("{}".into()));
        assert_eq!(hub.lock().1.len(), 1, "a connected client: kept again");
    }
}
