-- The notification outbox: each notification to make, per notifier, until
-- it is delivered or given up on (it survives a receiver down for hours
-- and a restart of the server).
CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY,
    notifier   TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    created    INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX deliveries_notifier ON deliveries (notifier, id);
