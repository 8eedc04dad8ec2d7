//! The live stream (`GET /api/stream`, Server-Sent Events): every accepted
//! snapshot, in order, with an id; a client that reconnects with
//! `Last-Event-ID` first gets what it missed that is still in the buffer.
//! When no client has been connected for a minute, nothing is kept.
//!
//! One buffer serves every client: the events, newest last, at most
//! [`BUFFER`] of them and at most the hub's byte budget
//! (`stream.max_buffer_bytes`, each snapshot weighed by the JSON it
//! makes). A client reads it at its own pace; one that falls behind the
//! oldest event kept skips to it (as a client that reconnects with an old
//! `Last-Event-ID` does). So what the stream holds is bounded in bytes
//! whatever its clients do, and a client that never reads costs its
//! connection only, which the server's write timeout closes.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

/// Events kept for reconnecting clients, at most.
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
/// event costs no serialization. Its weight (the bytes it makes, or an
/// estimate until it is made) counts against the buffer's budget.
pub struct Payload {
    text: std::sync::OnceLock<String>,
    make: Mutex<Option<Box<dyn FnOnce() -> String + Send>>>,
    weight: usize,
    /// The report it is the JSON of, when it is one.
    snapshot: Option<Arc<monitor_core::Snapshot>>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("made", &self.text.get().is_some())
            .field("weight", &self.weight)
            .finish()
    }
}

impl Payload {
    /// A payload of about `weight` bytes, made by `make` when first asked
    /// for.
    pub fn lazy(weight: usize, make: impl FnOnce() -> String + Send + 'static) -> Self {
        Payload {
            text: std::sync::OnceLock::new(),
            make: Mutex::new(Some(Box::new(make))),
            weight,
            snapshot: None,
        }
    }

    /// A report's JSON, made when first asked for; the report stays at
    /// hand ([`Payload::snapshot`]).
    pub fn of_snapshot(snapshot: Arc<monitor_core::Snapshot>) -> Self {
        let kept = Arc::clone(&snapshot);
        Payload {
            snapshot: Some(kept),
            ..Payload::lazy(snapshot_weight(&snapshot), move || {
                serde_json::to_string(&*snapshot).unwrap_or_default()
            })
        }
    }

    /// A payload already made.
    pub fn ready(text: String) -> Self {
        Payload {
            weight: text.len(),
            text: std::sync::OnceLock::from(text),
            make: Mutex::new(None),
            snapshot: None,
        }
    }

    /// The report this is the JSON of, when made by
    /// [`Payload::of_snapshot`].
    pub fn snapshot(&self) -> Option<&Arc<monitor_core::Snapshot>> {
        self.snapshot.as_ref()
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

    /// The bytes it counts for in the buffer.
    pub fn weight(&self) -> usize {
        self.weight
    }
}

/// About the length of a snapshot's JSON, from its sizes, without making
/// it (a little above: names, labels and values with their punctuation).
pub fn snapshot_weight(snapshot: &monitor_core::Snapshot) -> usize {
    let families: usize = snapshot
        .metrics
        .iter()
        .map(|f| {
            64 + f.name.len()
                + f.help.as_ref().map_or(0, String::len)
                + f.samples
                    .iter()
                    .map(|s| {
                        40 + s
                            .labels
                            .iter()
                            .map(|(k, v)| k.len() + v.len() + 8)
                            .sum::<usize>()
                    })
                    .sum::<usize>()
        })
        .sum();
    let containers = snapshot.containers.as_ref().map_or(0, |c| {
        c.iter()
            .map(|c| 256 + c.id.len() + c.name.len() + c.image.len() + c.status.len())
            .sum()
    });
    let processes = snapshot.processes.as_ref().map_or(0, |p| {
        p.iter()
            .map(|p| 96 + p.name.len() + p.user.len() + p.command.len())
            .sum()
    });
    256 + families + containers + processes
}

/// The events kept, newest last, with their ids consecutive.
#[derive(Debug, Default)]
struct Log {
    /// The id of the newest event published (kept or not).
    newest: u64,
    events: VecDeque<Published>,
    bytes: usize,
}

impl Log {
    /// The first kept event after `cursor`; `None` when there is none yet.
    fn after(&self, cursor: u64) -> Option<Published> {
        let first = self.events.front()?.id;
        // Fallen behind what is kept: on with the oldest kept.
        let index = cursor.saturating_add(1).saturating_sub(first);
        self.events.get(usize::try_from(index).ok()?).cloned()
    }
}

/// Fans events out to every connected client.
#[derive(Debug)]
pub struct StreamHub {
    log: Mutex<Log>,
    /// The newest id, for clients waiting for the next event.
    newest: watch::Sender<u64>,
    slots: Arc<Slots>,
    /// Set at shutdown: every stream ends.
    closed: watch::Sender<bool>,
    /// How long events are kept after the last client left.
    reconnect_window: Duration,
    /// The bytes of events kept at most.
    max_bytes: usize,
    /// Where the events published here go besides (the other server
    /// processes on the same database).
    forward: std::sync::OnceLock<Forward>,
    /// Called when a client connects while no other is.
    on_first_client: std::sync::OnceLock<FirstClient>,
}

/// What [`StreamHub::on_first_client`] was given.
struct FirstClient(Box<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for FirstClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirstClient")
    }
}

/// What [`StreamHub::forward_to`] was given.
struct Forward(Box<ForwardFn>);

type ForwardFn = dyn Fn(&'static str, &Payload) + Send + Sync;

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forward")
    }
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

/// The default byte budget of the buffer.
pub const DEFAULT_MAX_BYTES: usize = 32 << 20;

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
        Self::new(256, 32, DEFAULT_MAX_BYTES)
    }
}

impl StreamHub {
    /// A hub that serves at most `max_clients` streams, `max_per_key` per
    /// token, and keeps at most `max_bytes` of events.
    pub fn new(max_clients: usize, max_per_key: usize, max_bytes: usize) -> Self {
        // Ids go on increasing across restarts (a client's Last-Event-ID from
        // before a restart is below them): they start from the start time in
        // microseconds, far below 2^53, where JavaScript stays exact.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        StreamHub {
            log: Mutex::new(Log {
                newest: start,
                ..Log::default()
            }),
            newest: watch::Sender::new(start),
            closed: watch::Sender::new(false),
            reconnect_window: RECONNECT_WINDOW,
            max_bytes,
            forward: std::sync::OnceLock::new(),
            on_first_client: std::sync::OnceLock::new(),
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while holding the lock leaves at worst a shorter buffer.
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands every event published here from now on to `forward` too (the
    /// other server processes' hubs, which publish it with
    /// [`StreamHub::publish_forwarded`]); once only.
    pub fn forward_to(&self, forward: impl Fn(&'static str, &Payload) + Send + Sync + 'static) {
        let _ = self.forward.set(Forward(Box::new(forward)));
    }

    /// Calls `hook` whenever a client connects while no other is (the
    /// other server processes are told at once that this one's dashboards
    /// are watched); once only.
    pub fn on_first_client(&self, hook: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_first_client.set(FirstClient(Box::new(hook)));
    }

    /// Publishes an event to every client and keeps it for reconnections,
    /// within the buffer's count and bytes (the oldest go first); forwards
    /// it (see [`StreamHub::forward_to`]).
    pub fn publish(&self, kind: &'static str, data: Payload) {
        if let Some(forward) = self.forward.get() {
            (forward.0)(kind, &data);
        }
        self.publish_forwarded(kind, data);
    }

    /// Publishes an event another process forwarded (not forwarded again).
    pub fn publish_forwarded(&self, kind: &'static str, data: Payload) {
        // Nobody connected for a while: nobody to replay to (a server with
        // thousands of agents and no dashboard keeps no buffer).
        let idle = self
            .slots
            .lock()
            .empty_since
            .is_some_and(|t| t.elapsed() > self.reconnect_window);
        let mut log = self.lock();
        log.newest += 1;
        let id = log.newest;
        if idle {
            log.events.clear();
            log.bytes = 0;
        } else {
            let weight = data.weight();
            log.events.push_back(Published {
                id,
                kind,
                data: Arc::new(data),
            });
            log.bytes += weight;
            while log.events.len() > BUFFER || (log.bytes > self.max_bytes && log.events.len() > 1)
            {
                if let Some(old) = log.events.pop_front() {
                    log.bytes = log.bytes.saturating_sub(old.data.weight());
                }
            }
        }
        // Under the lock, so that waiting clients see ids in order.
        self.newest.send_replace(id);
    }

    /// The bytes of events kept now.
    pub fn buffered_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether a published event may be read: a client is connected, or
    /// one left recently enough to reconnect and ask for what it missed.
    pub fn wants_events(&self) -> bool {
        // Another process's clients may.
        self.forward.get().is_some() || self.watched()
    }

    /// Whether this hub's own clients may read an event published now: one
    /// is connected, or one left recently enough to reconnect and ask for
    /// what it missed (what this process tells the others, which send it
    /// their reports only then).
    pub fn watched(&self) -> bool {
        let used = self.slots.lock();
        used.total > 0
            || used.ever
                && used
                    .empty_since
                    .is_none_or(|t| t.elapsed() <= self.reconnect_window)
    }

    /// Number of connected clients.
    pub fn clients(&self) -> usize {
        self.slots.lock().total
    }

    /// Ends every stream (at shutdown: a graceful shutdown waits for open
    /// connections, and a live stream never ends on its own). Clients
    /// reconnect with their `Last-Event-ID` to the next process.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// A client's stream: the buffered events after `last_event_id`, then
    /// live ones. `key` names whose cap the stream counts against (a
    /// token's hash).
    ///
    /// # Errors
    /// [`StreamFull`] when the server's or the key's cap is reached.
    pub fn subscribe(
        self: &Arc<Self>,
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
            (
                Slot {
                    slots: Arc::clone(&self.slots),
                    key: key.to_owned(),
                },
                used.total == 1,
            )
        };
        let (slot, first) = slot;
        if first && let Some(hook) = self.on_first_client.get() {
            (hook.0)();
        }
        let cursor = {
            let log = self.lock();
            // An id above the newest (another server's, a clock gone back)
            // asks for nothing: the client gets what comes next.
            last_event_id
                .filter(|after| *after <= log.newest)
                .unwrap_or(log.newest)
        };
        let newest = self.newest.subscribe();
        let closed = self.closed.subscribe();
        let hub = Arc::clone(self);
        let stream = futures_util::stream::unfold(
            (hub, cursor, newest, slot, closed),
            |(hub, mut cursor, mut newest, slot, mut closed)| async move {
                loop {
                    if *closed.borrow() {
                        return None;
                    }
                    let next = hub.lock().after(cursor);
                    if let Some(event) = next {
                        cursor = event.id;
                        let sse = Event::default()
                            .id(event.id.to_string())
                            .event(event.kind)
                            .data(event.data.text());
                        return Some((Ok(sse), (hub, cursor, newest, slot, closed)));
                    }
                    tokio::select! {
                        changed = newest.changed() => if changed.is_err() { return None },
                        _ = closed.wait_for(|c| *c) => return None,
                    }
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
        let mut hub = StreamHub::new(4, 4, DEFAULT_MAX_BYTES);
        hub.publish("snapshot", Payload::ready("{}".into()));
        assert_eq!(
            hub.lock().events.len(),
            1,
            "kept within the window after start"
        );
        hub.reconnect_window = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(5));
        hub.publish("snapshot", Payload::ready("{}".into()));
        assert!(
            hub.lock().events.is_empty(),
            "no client for longer than the window"
        );
        let hub = Arc::new(hub);
        let subscribed = hub.subscribe(None, "k");
        assert!(subscribed.is_ok());
        hub.publish("snapshot", Payload::ready("{}".into()));
        assert_eq!(hub.lock().events.len(), 1, "a connected client: kept again");
    }

    #[tokio::test]
    async fn the_first_client_is_told_and_watching_lasts_the_reconnect_window() {
        let mut hub = StreamHub::new(4, 4, DEFAULT_MAX_BYTES);
        hub.reconnect_window = Duration::from_millis(50);
        let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counting = Arc::clone(&told);
        hub.on_first_client(move || {
            counting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let hub = Arc::new(hub);
        let count = || told.load(std::sync::atomic::Ordering::SeqCst);
        assert!(!hub.watched(), "nobody has connected");
        let first = hub.subscribe(None, "a");
        let second = hub.subscribe(None, "b");
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(count(), 1, "told once for the first of two");
        assert!(hub.watched());
        drop((first, second));
        assert!(hub.watched(), "a client that just left may reconnect");
        std::thread::sleep(Duration::from_millis(80));
        assert!(!hub.watched(), "nobody for longer than the window");
        let again = hub.subscribe(None, "a");
        assert!(again.is_ok());
        assert_eq!(count(), 2, "a client after nobody is told again");
    }

    #[test]
    fn a_report_s_payload_keeps_the_report() {
        let snapshot = Arc::new(monitor_core::Snapshot::new(
            monitor_core::ServerId::new("p-01").unwrap_or_else(|e| panic!("{e}")),
            monitor_core::Timestamp::from_millis(1_000),
            monitor_core::Collection::new(),
        ));
        let payload = Payload::of_snapshot(Arc::clone(&snapshot));
        assert!(
            payload
                .snapshot()
                .is_some_and(|s| Arc::ptr_eq(s, &snapshot))
        );
        assert!(payload.text().contains("\"p-01\""), "{}", payload.text());
        assert!(Payload::ready("{}".into()).snapshot().is_none());
    }

    #[tokio::test]
    async fn the_buffer_is_bounded_in_bytes_and_a_slow_client_skips_ahead() {
        let hub = Arc::new(StreamHub::new(4, 4, 10_000));
        let _client = hub.subscribe(None, "k");
        // A thousand events of 1 KB: the buffer keeps the newest ten.
        for i in 0..1000 {
            hub.publish(
                "snapshot",
                Payload::lazy(1000, move || format!("{{\"i\":{i}}}")),
            );
        }
        assert!(hub.buffered_bytes() <= 10_000, "{}", hub.buffered_bytes());
        let log = hub.lock();
        assert_eq!(log.events.len(), 10);
        // A client whose cursor fell behind goes on with the oldest kept.
        let oldest = log.events.front().map(|e| e.id);
        assert_eq!(log.after(0).map(|e| e.id), oldest);
        assert_eq!(log.after(log.newest).map(|e| e.id), None);
        // A single event over the budget is still kept (the newest).
        drop(log);
        hub.publish("snapshot", Payload::lazy(50_000, String::new));
        assert_eq!(hub.lock().events.len(), 1);
    }
}
