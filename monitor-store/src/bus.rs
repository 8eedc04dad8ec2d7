//! Events between the server processes that share a PostgreSQL database
//! (feature `postgres`): what one process publishes on its live stream
//! (each accepted report, each alert transition) reaches the dashboards
//! connected to every other, through `NOTIFY monitor_stream` and a
//! connection of each process that `LISTEN`s. No infrastructure beyond
//! the database.
//!
//! Sending never holds up the caller: events wait in a bounded queue and
//! a task of the bus sends them in batches, one transaction each (so they
//! arrive in order); beyond the queue's bound they are dropped and
//! counted, as the live stream is best-effort (the dashboard reads
//! history for what it missed). An event larger than a notification's
//! payload goes in parts, in one transaction, and is put together again on
//! arrival. A process ignores its own events.
//!
//! Cost: every accepted report is one notification of about its JSON size
//! (5 KB for a typical host), through the database's notification queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use monitor_core::StoreError;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

/// The channel of the notifications.
const CHANNEL: &str = "monitor_stream";

/// The most event text in one notification (PostgreSQL takes payloads of
/// under 8,000 bytes; the rest is the part's header).
const PART: usize = 7_000;

/// Events waiting to be sent at most.
const QUEUE: usize = 4_096;

/// Events sent in one transaction at most.
const BATCH: usize = 256;

/// Events whose parts are being put together at most (a sender that died
/// between parts leaves an incomplete one).
const ASSEMBLING: usize = 1_024;

/// What the bus calls with each event another process published: its
/// kind (`snapshot`, `alert`) and its text.
pub type EventHandler = Arc<dyn Fn(&str, String) + Send + Sync>;

/// The bus of one process (see the module docs). Cheap to share.
#[derive(Debug)]
pub struct Bus {
    tx: mpsc::Sender<(String, String)>,
    dropped: AtomicU64,
}

impl Bus {
    /// Connects to the database at `url`, starts listening (calling
    /// `handler` with other processes' events) and sending.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn connect(url: &str, handler: EventHandler) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("the event bus: {e}")))?;
        // Tells this process's events from the others': its id and start.
        let origin = (u64::from(std::process::id()) << 32)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send(pool, rx, origin));
        tokio::spawn(listen(url.to_owned(), origin, handler));
        Ok(Bus {
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues an event for the other processes; dropped when the queue is
    /// full (counted in [`Bus::dropped`]).
    pub fn send(&self, kind: &str, text: String) {
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

/// The notifications of one event: `origin:id:part:parts:kind:text`, the
/// text cut on character boundaries.
fn parts(origin: u64, id: u64, kind: &str, text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let mut cut = rest.len().min(PART);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    let total = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| format!("{origin:x}:{id:x}:{i}:{total}:{kind}:{piece}"))
        .collect()
}

/// One notification: its origin, event id, part, parts, kind and text.
fn parse(payload: &str) -> Option<(u64, u64, usize, usize, &str, &str)> {
    let mut fields = payload.splitn(6, ':');
    let origin = u64::from_str_radix(fields.next()?, 16).ok()?;
    let id = u64::from_str_radix(fields.next()?, 16).ok()?;
    let part = fields.next()?.parse().ok()?;
    let total: usize = fields.next()?.parse().ok()?;
    let kind = fields.next()?;
    let text = fields.next()?;
    (part < total && total <= 4_096).then_some((origin, id, part, total, kind, text))
}

async fn send(pool: PgPool, mut rx: mpsc::Receiver<(String, String)>, origin: u64) {
    let mut next_id: u64 = 0;
    let mut failing = false;
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut notes = Vec::new();
        for (kind, text) in batch.drain(..) {
            next_id += 1;
            notes.extend(parts(origin, next_id, &kind, &text));
        }
        let sent = async {
            let mut tx = pool.begin().await?;
            for note in &notes {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(note)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        match sent {
            Ok(()) if failing => {
                tracing::info!("The event bus to the other server processes works again.");
                failing = false;
            }
            Ok(()) => {}
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

async fn listen(url: String, origin: u64, handler: EventHandler) {
    let mut assembling: HashMap<(u64, u64), Vec<Option<String>>> = HashMap::new();
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
        loop {
            let note = match listener.try_recv().await {
                Ok(Some(note)) => note,
                // Lost and reconnected by the next call: parts may be missing.
                Ok(None) => {
                    assembling.clear();
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "Lost the connection that hears live events; reconnecting.");
                    break;
                }
            };
            let Some((from, id, part, total, kind, text)) = parse(note.payload()) else {
                continue;
            };
            if from == origin {
                continue;
            }
            if total == 1 {
                handler(kind, text.to_owned());
                continue;
            }
            if assembling.len() >= ASSEMBLING {
                assembling.clear();
            }
            let slots = assembling
                .entry((from, id))
                .or_insert_with(|| vec![None; total]);
            if let Some(slot) = slots.get_mut(part) {
                *slot = Some(text.to_owned());
            }
            if slots.iter().all(Option::is_some)
                && let Some(slots) = assembling.remove(&(from, id))
            {
                handler(kind, slots.into_iter().flatten().collect());
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_goes_in_parts_cut_between_characters_and_comes_back_whole() {
        let text = format!("{{\"a\":\"{}\"}}", "é".repeat(5_000));
        let notes = parts(0xabc, 7, "snapshot", &text);
        assert_eq!(notes.len(), 2);
        let mut whole = String::new();
        for (i, note) in notes.iter().enumerate() {
            assert!(note.len() < 8_000, "{}", note.len());
            let (origin, id, part, total, kind, piece) =
                parse(note).unwrap_or_else(|| panic!("{note}"));
            assert_eq!(
                (origin, id, part, total, kind),
                (0xabc, 7, i, 2, "snapshot")
            );
            whole.push_str(piece);
        }
        assert_eq!(whole, text);
        assert_eq!(parts(1, 1, "alert", "").len(), 1);
        assert!(parse("not:a:note").is_none());
    }
}
