//! Events between the server processes that share a PostgreSQL database
//! (feature `postgres`): what one process publishes on its live stream
//! (each accepted report, each alert transition) reaches the dashboards
//! connected to every other, through `NOTIFY monitor_stream` and a
//! connection of each process that `LISTEN`s. No infrastructure beyond
//! the database.
//!
//! Sending never holds up the caller: events wait in a bounded queue and
//! a task of the bus sends them in batches; beyond the queue's bound they
//! are dropped and counted, as the live stream is best-effort (the
//! dashboard reads history for what it missed). A process ignores its own
//! events.
//!
//! A batch travels as one frame: its events one after the other, deflated
//! (reports of one fleet repeat the same names and labels: a batch of
//! typical reports shrinks about tenfold) and in base64, cut into
//! notifications of under 8,000 bytes, all sent by one statement, so in
//! one transaction: a batch costs the database one round trip and a few
//! notifications, not one of each per event. The listener puts the parts
//! of a frame together again and hands its events on in order.
//!
//! A process sends only while another listens: each greets the others
//! once it listens (a hello that asks for answers, which every listening
//! process gives at once), and says hello every [`HELLO`] after. A lone
//! process, the common way to start on PostgreSQL, so sends nothing but
//! its hellos instead of every report for nobody; [`Bus::connect`] waits
//! a moment for an answer, so that a process joining others knows them
//! before it serves. A process not heard for three hellos is gone. A
//! process's own hellos come back to it: its listening connection, having
//! heard nothing for three, was cut silently and is made anew.
//!
//! A hello also says whether the process has live-stream clients
//! ([`Bus::peers_watching`]), again as soon as that changes: a process
//! whose dashboards nobody watches needs no other process's reports for
//! them, so senders can send less (the server then sends only what its
//! alert leader evaluates). A hello that says nothing of it (a process of
//! an earlier version) counts as watching.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use monitor_core::StoreError;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::{Notify, mpsc, watch};

/// The channel of the notifications.
const CHANNEL: &str = "monitor_stream";

/// The most frame text in one notification (PostgreSQL takes payloads of
/// under 8,000 bytes; the rest is the part's header).
const PART: usize = 7_900;

/// The largest frame a listener inflates (a batch of `BATCH` events of up
/// to the server's largest body each fits).
const MAX_FRAME: u64 = 256 << 20;

/// Events waiting to be sent at most.
const QUEUE: usize = 4_096;

/// Events sent in one transaction at most.
const BATCH: usize = 256;

/// Frames whose parts are being put together at most (a sender that died
/// between parts leaves an incomplete one).
const ASSEMBLING: usize = 1_024;

/// How often a process says hello; one not heard for three of these is
/// gone.
pub const HELLO: Duration = Duration::from_secs(5);

/// How long sending a batch may take, connection included, before it is
/// given up (its events are lost, as when the queue is full).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Bus::connect`] waits for another process to answer its
/// first hello (a lone process starts this much later).
const ANSWER: Duration = Duration::from_millis(500);

/// What the bus calls with each event another process published: its
/// kind (the server's are `snapshot`, `alert` and `input`) and its text.
pub type EventHandler = Arc<dyn Fn(&str, String) + Send + Sync>;

/// Says whether this process has live-stream clients now (asked a few
/// times a second; told to the others when it changes).
pub type Watching = Arc<dyn Fn() -> bool + Send + Sync>;

/// How often the sender asks [`Watching`] whether it changed.
const WATCH_POLL: Duration = Duration::from_millis(250);

/// The bus of one process (see the module docs). Cheap to share.
#[derive(Debug)]
pub struct Bus {
    tx: mpsc::Sender<(String, String)>,
    dropped: AtomicU64,
    peers: Arc<Peers>,
}

/// When this process last heard another, and the hellos it owes.
#[derive(Debug)]
struct Peers {
    /// Milliseconds from `start` to the last notification of another
    /// process (0: none yet).
    heard: AtomicU64,
    start: Instant,
    /// Wakes the sender to greet the others (once listening: whoever is
    /// there answers).
    greet: Notify,
    /// Wakes the sender to answer a greeting.
    answer: Notify,
    /// Milliseconds from `start` until which another process is known to
    /// watch (its last word, plus three hellos; 0: none).
    watched_until: AtomicU64,
}

impl Peers {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn any(&self) -> bool {
        let heard = self.heard.load(Ordering::Relaxed);
        heard != 0 && Duration::from_millis(heard) + 3 * HELLO > self.start.elapsed()
    }

    fn watching(&self) -> bool {
        self.watched_until.load(Ordering::Relaxed) > self.now_ms()
    }
}

/// What a listener knows of each other process: when it was last heard,
/// and whether it watches (`None`: it does not say).
#[derive(Debug, Default)]
struct Others {
    known: HashMap<u64, (u64, Option<bool>)>,
}

impl Others {
    /// Notes a notification of `origin` (with its word on watching, for a
    /// hello that says), forgets the processes gone, and tells `peers`.
    fn heard(&mut self, peers: &Peers, origin: u64, says: Option<Option<bool>>) {
        let now = peers.now_ms();
        let gone = u64::try_from((3 * HELLO).as_millis()).unwrap_or(u64::MAX);
        let entry = self.known.entry(origin).or_insert((now, None));
        entry.0 = now;
        if let Some(watching) = says {
            entry.1 = watching;
        }
        self.known.retain(|_, (at, _)| *at + gone > now);
        let until = self
            .known
            .values()
            .filter(|(_, watching)| *watching != Some(false))
            .map(|(at, _)| at + gone)
            .max()
            .unwrap_or(0);
        peers.heard.store(now, Ordering::Relaxed);
        peers.watched_until.store(until, Ordering::Relaxed);
    }
}

impl Bus {
    /// Connects to the database at `url`, starts listening (calling
    /// `handler` with other processes' events) and sending; `watching`
    /// says whether this process has live-stream clients, which its hellos
    /// tell the others.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn connect(
        url: &str,
        handler: EventHandler,
        watching: Watching,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(SEND_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Live events need no durability: a commit waits for
                    // no flush of the write-ahead log, which under a heavy
                    // ingest held the sender long enough to fill its queue.
                    sqlx::Executor::execute(&mut *conn, "SET synchronous_commit = off")
                        .await
                        .map(|_| ())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("the event bus: {e}")))?;
        // Tells this process's events from the others': its id and start.
        let origin = (u64::from(std::process::id()) << 32)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let (tx, rx) = mpsc::channel(QUEUE);
        let peers = Arc::new(Peers {
            heard: AtomicU64::new(0),
            start: Instant::now(),
            greet: Notify::new(),
            answer: Notify::new(),
            watched_until: AtomicU64::new(0),
        });
        let (listening, mut listens) = watch::channel(false);
        tokio::spawn(send(pool, rx, origin, Arc::clone(&peers), watching));
        tokio::spawn(listen(
            url.to_owned(),
            origin,
            handler,
            Arc::clone(&peers),
            listening,
        ));
        // Whoever is there answers the first hello: known before serving.
        let answered = async {
            let _ = listens.wait_for(|l| *l).await;
            let started = Instant::now();
            while !peers.any() && started.elapsed() < ANSWER {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), answered).await;
        Ok(Bus {
            tx,
            dropped: AtomicU64::new(0),
            peers,
        })
    }

    /// Whether another process listens (heard within three hellos): the
    /// events sent meanwhile go nowhere, so a caller may skip making them.
    pub fn has_peers(&self) -> bool {
        self.peers.any()
    }

    /// Whether another process has live-stream clients, or does not say
    /// (a process of an earlier version, which also needs every report to
    /// evaluate its alerts when it leads): the events its dashboards show
    /// are wanted.
    pub fn peers_watching(&self) -> bool {
        self.peers.watching()
    }

    /// Tells the others at once whether this process watches (as the
    /// [`Watching`] given to [`Bus::connect`] says), rather than within
    /// the quarter of a second in which the bus would notice the change:
    /// for a dashboard that just connected.
    pub fn announce(&self) {
        self.peers.answer.notify_one();
    }

    /// Queues an event for the other processes; nothing when no other
    /// process listens; dropped when the queue is full (counted in
    /// [`Bus::dropped`]).
    pub fn send(&self, kind: &str, text: String) {
        if !self.peers.any() {
            return;
        }
        if self.tx.try_send((kind.to_owned(), text)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "The event bus to the other server processes is behind: live events were dropped for them."
                );
            }
        }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A batch of events as a frame: each event's kind, a newline, its
/// text's length in bytes, a newline and its text; deflated, in base64.
/// (Public for the benchmark of what the bus costs a report,
/// `monitor-server/benches/bus.rs`.)
pub fn frame(events: &[(String, String)]) -> String {
    use base64::Engine;
    use std::io::Write;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    for (kind, text) in events {
        // Writes into a Vec do not fail.
        let _ = write!(deflate, "{kind}\n{}\n{text}", text.len());
    }
    let deflated = deflate.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(deflated)
}

/// The events of a frame, or `None` when it is not one.
pub fn unframe(frame: &str) -> Option<Vec<(String, String)>> {
    use base64::Engine;
    use std::io::Read;
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(frame)
        .ok()?;
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_FRAME)
        .read_to_end(&mut raw)
        .ok()?;
    let mut events = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let line = |rest: &mut &[u8]| {
            let end = rest.iter().position(|b| *b == b'\n')?;
            let line = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
            *rest = &rest[end + 1..];
            Some(line)
        };
        let kind = line(&mut rest)?;
        let length: usize = line(&mut rest)?.parse().ok()?;
        let text = rest.get(..length)?;
        events.push((kind, String::from_utf8(text.to_vec()).ok()?));
        rest = &rest[length..];
    }
    Some(events)
}

/// The notifications of one frame: `origin:id:part:parts:piece` (a frame
/// is ASCII: cut anywhere).
fn parts(origin: u64, id: u64, frame: &str) -> Vec<String> {
    let pieces: Vec<&str> = if frame.is_empty() {
        vec![""]
    } else {
        frame
            .as_bytes()
            .chunks(PART)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect()
    };
    let total = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| format!("{origin:x}:{id:x}:{i}:{total}:{piece}"))
        .collect()
}

/// The piece of a hello that asks the others to answer.
const GREETING: &str = "?";

/// The piece of a hello of a process with live-stream clients.
const WATCHING: &str = "w";

/// The piece of a hello of a process without.
const NOT_WATCHING: &str = "-";

/// A hello of `origin`: a notification of frame 0, whose piece is
/// [`GREETING`] when it asks for answers (the processes listening answer
/// at once), [`WATCHING`] or [`NOT_WATCHING`] when it says whether it
/// watches (an earlier version's plain hello is empty). A greeting comes
/// with the word on watching, in the same statement.
fn hello(origin: u64, piece: &str) -> String {
    format!("{origin:x}:0:0:1:{piece}")
}

/// The hello that says whether this process watches.
fn watching_hello(origin: u64, watching: bool) -> String {
    hello(origin, if watching { WATCHING } else { NOT_WATCHING })
}

/// What a hello's piece says of watching: `None` for a greeting (the word
/// follows), `Some(None)` when it does not say (an earlier version).
fn says(piece: &str) -> Option<Option<bool>> {
    match piece {
        GREETING => None,
        WATCHING => Some(Some(true)),
        NOT_WATCHING => Some(Some(false)),
        _ => Some(None),
    }
}

/// One notification: its origin, frame id, part, parts and piece.
fn parse(payload: &str) -> Option<(u64, u64, usize, usize, &str)> {
    let mut fields = payload.splitn(5, ':');
    let origin = u64::from_str_radix(fields.next()?, 16).ok()?;
    let id = u64::from_str_radix(fields.next()?, 16).ok()?;
    let part = fields.next()?.parse().ok()?;
    let total: usize = fields.next()?.parse().ok()?;
    let piece = fields.next()?;
    (part < total && total <= 65_536).then_some((origin, id, part, total, piece))
}

async fn send(
    pool: PgPool,
    mut rx: mpsc::Receiver<(String, String)>,
    origin: u64,
    peers: Arc<Peers>,
    watching: Watching,
) {
    let mut next_id: u64 = 0;
    let mut failing = false;
    let mut batch = Vec::with_capacity(BATCH);
    let mut hellos = tokio::time::interval(HELLO);
    hellos.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls = tokio::time::interval(WATCH_POLL);
    polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut told = watching();
    loop {
        let notes = tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    return;
                }
                next_id += 1;
                let notes = parts(origin, next_id, &frame(&batch));
                batch.clear();
                notes
            }
            () = peers.greet.notified() => {
                told = watching();
                vec![hello(origin, GREETING), watching_hello(origin, told)]
            }
            () = peers.answer.notified() => {
                told = watching();
                vec![watching_hello(origin, told)]
            }
            _ = hellos.tick() => {
                told = watching();
                vec![watching_hello(origin, told)]
            }
            _ = polls.tick() => {
                let now = watching();
                if now == told {
                    continue;
                }
                told = now;
                vec![watching_hello(origin, told)]
            }
        };
        // One statement: one transaction, one round trip. One that takes
        // too long (a connection cut without a word) is given up, and its
        // connection with it: the pool makes a new one.
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            sqlx::query("SELECT pg_notify($1, note) FROM unnest($2::text[]) AS note")
                .bind(CHANNEL)
                .bind(&notes)
                .execute(&pool),
        )
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the database did not answer within {SEND_TIMEOUT:?}"),
            )))
        });
        match sent {
            Ok(_) if failing => {
                tracing::info!("The event bus to the other server processes works again.");
                failing = false;
            }
            Ok(_) => {}
            Err(error) => {
                // Live events are best-effort: these are lost.
                if !failing {
                    tracing::warn!(%error, "Cannot send live events to the other server processes.");
                    failing = true;
                }
            }
        }
    }
}

async fn listen(
    url: String,
    origin: u64,
    handler: EventHandler,
    peers: Arc<Peers>,
    listening: watch::Sender<bool>,
) {
    let mut assembling: HashMap<(u64, u64), Vec<Option<String>>> = HashMap::new();
    let mut others = Others::default();
    let mut failing = false;
    loop {
        let listener = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        let mut listener = match listener {
            Ok(listener) => listener,
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "Cannot hear the other server processes' live events; retrying every second.");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        failing = false;
        // Listening (again): whoever is there answers.
        peers.greet.notify_one();
        let _ = listening.send(true);
        loop {
            // This process's own hellos come back every `HELLO`: hearing
            // nothing at all for three means the connection was cut without
            // a word (a vanished network path closes nothing).
            let note = match tokio::time::timeout(3 * HELLO, listener.try_recv()).await {
                Err(_) => {
                    tracing::warn!(
                        "The connection that hears live events heard nothing for {:?}, not even this process's own hellos; reconnecting.",
                        3 * HELLO
                    );
                    break;
                }
                Ok(Ok(Some(note))) => note,
                // Lost and reconnected by the next call: parts may be missing.
                Ok(Ok(None)) => {
                    assembling.clear();
                    continue;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Lost the connection that hears live events; reconnecting.");
                    break;
                }
            };
            let Some((from, id, part, total, piece)) = parse(note.payload()) else {
                continue;
            };
            if from == origin {
                continue;
            }
            if id == 0 {
                others.heard(&peers, from, says(piece));
                if piece == GREETING {
                    peers.answer.notify_one();
                }
                continue;
            }
            others.heard(&peers, from, None);
            let whole = if total == 1 {
                piece.to_owned()
            } else {
                if assembling.len() >= ASSEMBLING {
                    assembling.clear();
                }
                let slots = assembling
                    .entry((from, id))
                    .or_insert_with(|| vec![None; total]);
                if let Some(slot) = slots.get_mut(part) {
                    *slot = Some(piece.to_owned());
                }
                if !slots.iter().all(Option::is_some) {
                    continue;
                }
                match assembling.remove(&(from, id)) {
                    Some(slots) => slots.into_iter().flatten().collect(),
                    None => continue,
                }
            };
            match unframe(&whole) {
                Some(events) => {
                    for (kind, text) in events {
                        handler(&kind, text);
                    }
                }
                None => tracing::warn!(
                    "A live event frame from another server process could not be read."
                ),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_compressed_in_parts_and_comes_back_whole_in_order() {
        // Reports of one fleet: the same names again and again.
        let events: Vec<(String, String)> = (0..200)
            .map(|i| {
                let samples: Vec<String> = (0..50)
                    .map(|c| format!(r#"{{"name":"cpu_usage_percent","labels":{{"cpu":"{c}"}},"value":{}.5}}"#, (i * c) % 97))
                    .collect();
                ("snapshot".to_owned(), format!(r#"{{"server_id":"host-{i:03}","é":[{}]}}"#, samples.join(",")))
            })
            .chain(std::iter::once(("alert".to_owned(), String::new())))
            .collect();
        let raw: usize = events.iter().map(|(_, t)| t.len()).sum();
        let framed = frame(&events);
        assert!(framed.len() * 5 < raw, "{} bytes for {raw}", framed.len());
        let notes = parts(0xabc, 7, &framed);
        assert!(notes.len() > 1);
        let mut whole = String::new();
        for (i, note) in notes.iter().enumerate() {
            assert!(note.len() < 8_000, "{}", note.len());
            let (origin, id, part, total, piece) = parse(note).unwrap_or_else(|| panic!("{note}"));
            assert_eq!((origin, id, part, total), (0xabc, 7, i, notes.len()));
            whole.push_str(piece);
        }
        assert_eq!(unframe(&whole), Some(events));
        assert_eq!(parts(1, 1, &frame(&[])).len(), 1);
        assert_eq!(unframe(&frame(&[])), Some(Vec::new()));
        assert!(parse("not:a:note").is_none());
        assert!(unframe("not base64!").is_none());
    }
}
