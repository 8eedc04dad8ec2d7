-- When each series was last reported (milliseconds; updated at most once a
-- day, at compaction or when a report brings it back): series unused for
-- longer than every retention expire with their data, and only series in
-- use count toward the per-server limit.
ALTER TABLE series ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;
UPDATE series SET last_used = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT;

-- A btree entry holds at most 2,704 bytes: labels of up to 16 names and
-- values of 255 bytes each went past it, and the failed INSERT failed
-- every report committed with it. The uniqueness is kept on a hash of the
-- labels instead (md5 is enough here: labels only ever collide with the
-- same server's own).
ALTER TABLE series DROP CONSTRAINT series_server_metric_labels_key;
CREATE UNIQUE INDEX series_server_metric_labels_hash
    ON series (server, metric, md5(labels));
