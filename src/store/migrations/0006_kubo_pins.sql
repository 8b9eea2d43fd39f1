-- 0006_kubo_pins.sql - the Kubo re-pin queue: stored roots not yet pinned to
-- the configured Kubo node (src/market/kubo_pin.c, docs/storage.md "Kubo").
-- A row is added in the transaction that records a file's root, so a file
-- stored while Kubo is down (or while the node restarts) is pinned later; the
-- pinning thread deletes it once Kubo has pinned the root. A failed attempt
-- moves next_try_at back (exponential backoff) and keeps Kubo's answer.
CREATE TABLE kubo_pins (
    cid         TEXT PRIMARY KEY,
    added_at    INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL,
    last_error  TEXT
);
CREATE INDEX kubo_pins_due ON kubo_pins(next_try_at);
