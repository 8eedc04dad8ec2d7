-- When each series was last reported (milliseconds; updated at most once a
-- day, at compaction or when a report brings it back): series unused for
-- longer than every retention expire with their data, and only series in
-- use count toward the per-server limit.
ALTER TABLE series ADD COLUMN last_used INTEGER NOT NULL DEFAULT 0;
UPDATE series SET last_used = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
