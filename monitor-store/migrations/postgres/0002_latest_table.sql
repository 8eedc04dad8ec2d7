-- The newest snapshot of each server moves to its own table: the servers
-- table stays a few pages that the overview and the server list scan.
CREATE TABLE latest (
    server BIGINT PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    body   BYTEA  NOT NULL
);
INSERT INTO latest (server, body) SELECT id, latest FROM servers WHERE latest IS NOT NULL;
ALTER TABLE servers DROP COLUMN latest;
