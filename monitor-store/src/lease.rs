//! One leader among the server processes that share a PostgreSQL database
//! (feature `postgres`): the process that holds a session advisory lock,
//! on a connection of its own, leads; the others try again every second,
//! so when the leader's process dies (its session ends and PostgreSQL
//! releases the lock) another takes over within about a second. The
//! holder checks its connection every second and stops leading as soon as
//! it is lost (the lock went with it).
//!
//! A leader cut off from the database by the network, not dead, leads on
//! until it notices (within a second) while the database, if it noticed
//! first, may already have let another take the lock: a second of two
//! leaders at worst.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::watch;

/// The lease of alert evaluation and notification (`pg_locks.objid`).
pub const ALERTS: i64 = -0x0000_616c_6572_7473;

/// How often the lease is tried, and the holder's connection checked.
const EVERY: Duration = Duration::from_secs(1);

/// Takes part in the election for `key` on the database at `url` for as
/// long as the receiver lives: it says whether this process leads now,
/// and changes after every attempt (the first at once).
pub fn spawn(url: String, key: i64) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut told = false;
        while !tx.is_closed() {
            let mut conn = match PgConnection::connect(&url).await {
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
            while !tx.is_closed() {
                let held = *tx.borrow();
                let answer = if held {
                    sqlx::query("SELECT 1")
                        .execute(&mut conn)
                        .await
                        .map(|_| true)
                } else {
                    sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                        .bind(key)
                        .fetch_one(&mut conn)
                        .await
                };
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
