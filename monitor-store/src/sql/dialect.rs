//! Where SQLite and PostgreSQL differ, and the small pieces of SQL and
//! encoding every part of the store shares: errors mapped to
//! [`StoreError`], the [`Dialect`], placeholder lists and multi-row
//! `VALUES` statements.

use monitor_core::{Labels, MetricKind, StoreError};

/// What a database error means for a caller, as the [`StoreError`] it can
/// act on (full, unavailable, invalid input, conflict; else `Other`).
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            #[cfg(feature = "postgres")]
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return postgres_error(pg.code(), pg.message())
                    .unwrap_or(StoreError::Other(Box::new(error)));
            }
            let code = db.code().unwrap_or_default();
            // SQLite result codes (extended codes keep the low byte): 5
            // BUSY, 6 LOCKED, 13 FULL; 10 IOERR and 14 CANTOPEN (the disk or
            // the file went away); 18 TOOBIG; 19 CONSTRAINT.
            match code.parse::<i32>().map(|c| c & 0xff) {
                Ok(13) => StoreError::Full(db.message().to_owned()),
                Ok(5 | 6 | 10 | 14) => StoreError::Unavailable(db.message().to_owned()),
                Ok(18) => StoreError::InvalidInput(db.message().to_owned()),
                _ if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
                _ => StoreError::Other(Box::new(error)),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Other(Box::new(error)),
    }
}

/// What a PostgreSQL error (its SQLSTATE) means for a caller; `None` for
/// an error to pass on as is. PostgreSQL's codes are five characters in
/// classes, not SQLite's numbers: read as SQLite's, 42501 (no privilege)
/// looked like "busy" and a full disk like an internal error.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn postgres_error(code: &str, message: &str) -> Option<StoreError> {
    let message = message.to_owned();
    Some(match code {
        // disk_full
        "53100" => StoreError::Full(message),
        // insufficient resources, too many connections, serialization
        // failures and deadlocks, shutdowns and restarts, connection
        // problems, a read-only standby: worth retrying.
        c if c.starts_with("53") || c.starts_with("08") || c.starts_with("57P") => {
            StoreError::Unavailable(message)
        }
        "40001" | "40P01" | "25006" | "55P03" => StoreError::Unavailable(message),
        "23505" => StoreError::Conflict(message),
        // program_limit_exceeded (an index entry too large), data
        // exceptions (a value out of range): this input, not the database.
        c if c.starts_with("54") || c.starts_with("22") => StoreError::InvalidInput(message),
        _ => return None,
    })
}

/// A migration error as a [`StoreError`]: [`StoreError::SchemaTooNew`] when
/// the database holds a migration `migrator` does not know.
pub(super) fn migrate_err(
    error: sqlx::migrate::MigrateError,
    migrator: &sqlx::migrate::Migrator,
) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            supported: migrator.iter().map(|m| m.version).max().unwrap_or(0),
        },
        sqlx::migrate::MigrateError::Execute(e) => map_err(e),
        other => StoreError::Other(Box::new(other)),
    }
}

/// The SQL dialect, where the two databases differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

pub(super) fn kind_code(kind: MetricKind) -> i64 {
    match kind {
        MetricKind::Gauge => 0,
        MetricKind::Counter => 1,
    }
}

pub(super) fn kind_from(code: i64) -> MetricKind {
    if code == 1 {
        MetricKind::Counter
    } else {
        MetricKind::Gauge
    }
}

pub(super) fn labels_key(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

pub(super) fn json_err(error: serde_json::Error) -> StoreError {
    StoreError::Other(Box::new(error))
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `head`, then `rows` parenthesized groups of `casts.len()` placeholders
/// (rows and placeholders separated by `, `), then `tail`: a multi-row
/// `VALUES` list. Anonymous `?` for SQLite, without casts (it finds a
/// numbered parameter by a linear search, which costs O(n²) over 1,500 of
/// them); for
/// PostgreSQL `$n`, numbered from 1 row after row, followed by its column's
/// cast (`""` for none, `"::bigint"`). The caller binds the values row
/// after row.
pub(super) fn values_sql(
    dialect: Dialect,
    head: &str,
    rows: usize,
    casts: &[&str],
    tail: &str,
) -> String {
    use std::fmt::Write as _;
    let width = casts.len();
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (width * 4 + 2));
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (j, cast) in casts.iter().enumerate() {
            if j > 0 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    let _ = write!(sql, "${}{cast}", i * width + j + 1);
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sql_numbers_postgres_placeholders_row_after_row() {
        assert_eq!(
            values_sql(
                Dialect::Postgres,
                "INSERT INTO t (a, b) VALUES ",
                2,
                &["", ""],
                " ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            values_sql(
                Dialect::Postgres,
                "(VALUES ",
                2,
                &["::bigint", "::text"],
                ") AS v"
            ),
            "(VALUES ($1::bigint, $2::text), ($3::bigint, $4::text)) AS v"
        );
    }

    #[test]
    fn values_sql_uses_anonymous_placeholders_and_no_casts_on_sqlite() {
        assert_eq!(
            values_sql(Dialect::Sqlite, "V ", 3, &["::bigint", ""], ";"),
            "V (?, ?), (?, ?), (?, ?);"
        );
        assert_eq!(values_sql(Dialect::Sqlite, "V ", 1, &[""], ""), "V (?)");
    }
}
