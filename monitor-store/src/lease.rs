//! One leader among the server processes that share a PostgreSQL database
//! (feature `postgres`): the process that holds a session advisory lock,
//! on a connection of its own, leads; the others try again every second,
//! so when the leader's process dies (its session ends and PostgreSQL
//! releases the lock) another takes over within about a second. The
//! holder checks its connection every second and stops leading as soon as
//! it is lost (the lock went with it).
//!
//! A leader whose machine vanishes (its packets stop, no connection is
//! closed) is noticed by both ends within seconds: the leader's check
//! times out after [`CHECK_TIMEOUT`] and it steps down; PostgreSQL, told
//! by the lease connection's TCP settings (keepalives, and a user timeout
//! for unacknowledged data) to give up on a silent peer after about
//! [`DATABASE_GIVES_UP`], ends the session and frees the lock for another.
//! The leader's side is the shorter, so a cut-off leader has stepped down
//! before anyone else can start: no two leaders at once, unless the
//! database ends the session for another reason first (a restart of the
//! database, an administrator's `pg_terminate_backend`), where a cut-off
//! leader may lead on for up to [`CHECK_TIMEOUT`].

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::watch;

/// The lease of alert evaluation and notification (`pg_locks.objid`).
pub const ALERTS: i64 = -0x0000_616c_6572_7473;

/// How often the lease is tried, and the holder's connection checked.
const EVERY: Duration = Duration::from_secs(1);

/// How long an attempt or a check may take: a leader whose check takes
/// longer steps down (and connects again).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// About how long the database waits on a silent lease connection before
/// ending its session (6 s of keepalives, and a 6-s TCP user timeout),
/// longer than [`CHECK_TIMEOUT`].
pub const DATABASE_GIVES_UP: Duration = Duration::from_secs(6);

/// What the lease connection asks of the database's TCP side (settings
/// any user may change; ignored on a Unix socket, and `tcp_user_timeout`
/// unknown before PostgreSQL 12).
const TCP_SETTINGS: [&str; 4] = [
    "SET tcp_keepalives_idle = 3",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 6000",
];

/// Takes part in the election for `key` on the database at `url` for as
/// long as the receiver lives: it says whether this process leads now,
/// and changes after every attempt (the first at once).
pub fn spawn(url: String, key: i64) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut told = false;
        while !tx.is_closed() {
            let connected = tokio::time::timeout(CHECK_TIMEOUT, PgConnection::connect(&url))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            let mut conn = match connected {
                Ok(conn) => conn,
                Err(error) => {
                    if !told {
                        tracing::warn!(%error, "Cannot connect to take part in the leader election; retrying every second.");
                        told = true;
                    }
                    tx.send_replace(false);
                    tokio::time::sleep(EVERY).await;
                    continue;
                }
            };
            told = false;
            for setting in TCP_SETTINGS {
                if let Err(error) = sqlx::query(setting).execute(&mut conn).await {
                    tracing::debug!(%error, setting, "The database did not take a setting of the leader election's connection.");
                }
            }
            while !tx.is_closed() {
                let held = *tx.borrow();
                let attempt = async {
                    if held {
                        sqlx::query("SELECT 1")
                            .execute(&mut conn)
                            .await
                            .map(|_| true)
                    } else {
                        sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                            .bind(key)
                            .fetch_one(&mut conn)
                            .await
                    }
                };
                let answer = tokio::time::timeout(CHECK_TIMEOUT, attempt)
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                match answer {
                    Ok(leading) => {
                        tx.send_replace(leading);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Lost the connection of the leader election; reconnecting.");
                        tx.send_replace(false);
                        break;
                    }
                }
                tokio::time::sleep(EVERY).await;
            }
        }
    });
    rx
}

/// The error of an attempt that took longer than [`CHECK_TIMEOUT`].
fn timed_out() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer within {CHECK_TIMEOUT:?}"),
    ))
}
