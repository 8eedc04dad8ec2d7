//! Catalog changes told to every server process sharing a PostgreSQL
//! database (`Catalog::watch`): a write that changes what other processes
//! cache (a token rotated, a server deleted, alert rules or settings)
//! sends `NOTIFY monitor_catalog` in its own transaction, so the others
//! hear it the moment it commits; each process keeps one connection that
//! `LISTEN`s, and after losing it (the database restarted) tells its
//! handler to resynchronize, since what was said meanwhile is lost. Changes
//! are rare, so silence says nothing of the connection: after
//! [`QUIET`] without a word the listener asks the database something, and
//! a connection that does not answer within [`CHECK_TIMEOUT`] (cut without
//! a word: a vanished network path closes nothing) is made anew.
//! SQLite serves one process and says nothing.

use monitor_core::catalog::CatalogChange;

/// The channel of the notifications.
pub(super) const CHANNEL: &str = "monitor_catalog";

/// How long the listener hears nothing before it checks its connection.
#[cfg(feature = "postgres")]
const QUIET: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the check may take before the connection is taken as cut.
#[cfg(feature = "postgres")]
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A change as a notification's payload.
pub(super) fn payload(change: &CatalogChange) -> String {
    match change {
        CatalogChange::TokenRotated(id) => format!("token {id}"),
        CatalogChange::ServerDeleted(id) => format!("deleted {id}"),
        CatalogChange::AlertSettings => "alerts".to_owned(),
        _ => "resync".to_owned(),
    }
}

#[cfg(any(feature = "postgres", test))]
/// A notification's payload as a change (a payload of a newer version
/// that this one does not know asks for a resynchronization).
pub(super) fn parse(payload: &str) -> CatalogChange {
    let server = |id: &str| monitor_core::ServerId::new(id).ok();
    match payload.split_once(' ') {
        Some(("token", id)) => {
            server(id).map_or(CatalogChange::Resync, CatalogChange::TokenRotated)
        }
        Some(("deleted", id)) => {
            server(id).map_or(CatalogChange::Resync, CatalogChange::ServerDeleted)
        }
        _ if payload == "alerts" => CatalogChange::AlertSettings,
        _ => CatalogChange::Resync,
    }
}

/// Listens on `url` for as long as the process runs, calling `handler`
/// with every change; reconnects after a second when the connection is
/// lost.
#[cfg(feature = "postgres")]
pub(super) fn spawn_listener(url: String, handler: monitor_core::catalog::ChangeHandler) {
    tokio::spawn(async move {
        let mut told_down = false;
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => {
                        if told_down {
                            tracing::info!(
                                "Hearing other server processes' catalog changes again."
                            );
                        }
                        // Whatever was said before this connection listened.
                        handler(CatalogChange::Resync);
                        loop {
                            let Ok(received) =
                                tokio::time::timeout(QUIET, listener.try_recv()).await
                            else {
                                let check = tokio::time::timeout(
                                    CHECK_TIMEOUT,
                                    sqlx::query("SELECT 1").execute(&mut listener),
                                )
                                .await;
                                if !matches!(check, Ok(Ok(_))) {
                                    tracing::warn!(
                                        "The connection that hears catalog changes did not answer within {CHECK_TIMEOUT:?}; reconnecting."
                                    );
                                    told_down = true;
                                    break;
                                }
                                continue;
                            };
                            match received {
                                Ok(Some(note)) => handler(parse(note.payload())),
                                // Lost; the next call reconnects and listens again.
                                Ok(None) => handler(CatalogChange::Resync),
                                Err(error) => {
                                    tracing::warn!(%error, "Lost the connection that hears catalog changes; reconnecting.");
                                    told_down = true;
                                    break;
                                }
                            }
                        }
                    }
                    Err(error) => {
                        if !told_down {
                            tracing::warn!(%error, "Cannot listen for other server processes' catalog changes; retrying every second.");
                            told_down = true;
                        }
                    }
                },
                Err(error) => {
                    if !told_down {
                        tracing::warn!(%error, "Cannot connect to hear other server processes' catalog changes; retrying every second.");
                        told_down = true;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::ServerId;

    #[test]
    fn changes_survive_their_payloads() {
        for change in [
            CatalogChange::TokenRotated(ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}"))),
            CatalogChange::ServerDeleted(
                ServerId::new("a.b_c-1").unwrap_or_else(|e| panic!("{e}")),
            ),
            CatalogChange::AlertSettings,
            CatalogChange::Resync,
        ] {
            assert_eq!(parse(&payload(&change)), change);
        }
        // Anything else, from a newer version: read everything again.
        assert_eq!(parse("token not an id!"), CatalogChange::Resync);
        assert_eq!(parse("renamed srv-01"), CatalogChange::Resync);
    }
}
