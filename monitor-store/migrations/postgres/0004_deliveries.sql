-- The notification outbox: each notification to make, per notifier, until
-- it is delivered or given up on (it survives a receiver down for hours
-- and a restart of the server).
CREATE TABLE deliveries (
    id         BIGSERIAL PRIMARY KEY,
    notifier   TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    attempts   BIGINT  NOT NULL,
    next_at    BIGINT  NOT NULL,
    created    BIGINT  NOT NULL,
    last_error TEXT
);
CREATE INDEX deliveries_notifier ON deliveries (notifier, id);
