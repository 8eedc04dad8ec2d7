-- Servers, with their newest snapshot for the overview.
CREATE TABLE servers (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    tags          TEXT    NOT NULL DEFAULT '[]',
    token_hash    BYTEA    NOT NULL UNIQUE,
    hostname      TEXT,
    os            TEXT,
    created       BIGINT  NOT NULL,
    last_seen     BIGINT,
    interval_secs DOUBLE PRECISION,
    latest        BYTEA
);

-- One row per (server, metric, labels).
CREATE TABLE series (
    id     BIGSERIAL PRIMARY KEY,
    server BIGINT  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    metric TEXT    NOT NULL,
    labels TEXT    NOT NULL,
    kind   BIGINT  NOT NULL,
    unit   TEXT    NOT NULL,
    UNIQUE (server, metric, labels)
);

-- Reports not yet compacted: one row per received snapshot.
CREATE TABLE head (
    server BIGINT  NOT NULL,
    ts     BIGINT  NOT NULL,
    body   BYTEA    NOT NULL,
    UNIQUE (server, ts)
);

-- Compacted one-hour windows: the report times per server, the values per series.
CREATE TABLE chunk_times (
    server BIGINT  NOT NULL,
    win    BIGINT  NOT NULL,
    times  BYTEA    NOT NULL,
    UNIQUE (server, win)
);
CREATE INDEX chunk_times_win ON chunk_times (win);

CREATE TABLE chunks (
    series BIGINT  NOT NULL,
    win    BIGINT  NOT NULL,
    data   BYTEA    NOT NULL,
    UNIQUE (series, win)
);
CREATE INDEX chunks_win ON chunks (win);

-- Minute (tier 1, one-day rows) and hour (tier 2, 30-day rows) buckets per series.
CREATE TABLE rollups (
    series BIGINT  NOT NULL,
    tier   BIGINT  NOT NULL,
    win    BIGINT  NOT NULL,
    data   BYTEA    NOT NULL,
    UNIQUE (series, tier, win)
);
CREATE INDEX rollups_win ON rollups (tier, win);

CREATE TABLE alert_rules (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE alert_events (
    id      BIGSERIAL PRIMARY KEY,
    server  TEXT    NOT NULL,
    rule_id TEXT    NOT NULL,
    at      BIGINT  NOT NULL,
    body    TEXT    NOT NULL
);
CREATE INDEX alert_events_at ON alert_events (at);

CREATE TABLE alert_states (
    rule_id TEXT NOT NULL,
    server  TEXT NOT NULL,
    labels  TEXT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (rule_id, server, labels)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
