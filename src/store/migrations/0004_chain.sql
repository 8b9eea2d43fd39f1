-- 0004_chain.sql - the chain index (issue 4): indexed contract events with the
-- block they came from, the indexer's cursor and lease, wallet links and SIWE nonces.

-- One row: where the indexer stands. next_block is the first block not yet
-- indexed; lease_owner/lease_until let exactly one node index at a time.
CREATE TABLE chain_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id    INTEGER NOT NULL,
    start_block INTEGER NOT NULL,
    next_block  INTEGER NOT NULL,
    head        INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
);

-- Hashes of indexed blocks (every block with an event, and the last block of
-- every indexed range): a reorg shows as a stored hash the chain no longer has.
CREATE TABLE chain_blocks (
    number INTEGER PRIMARY KEY,
    hash   TEXT NOT NULL
);

-- Every indexed event, once: (tx_hash, log_index) is unique. args is the
-- decoded event as a JSON object keyed by parameter name (uints as decimal
-- strings, addresses lowercase). model_id / account are copied out for lookups.
CREATE TABLE chain_events (
    id           INTEGER PRIMARY KEY,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    tx_hash      TEXT NOT NULL,
    log_index    INTEGER NOT NULL,
    contract     TEXT NOT NULL,
    name         TEXT NOT NULL,
    model_id     TEXT,
    account      TEXT,
    args         TEXT NOT NULL,
    UNIQUE (tx_hash, log_index)
);
CREATE INDEX chain_events_block ON chain_events (block_number);
CREATE INDEX chain_events_model ON chain_events (name, model_id);
CREATE INDEX chain_events_account ON chain_events (name, account);

-- Wallet addresses (lowercase 0x + 40 hex) linked to accounts by a signed
-- SIWE message. An address belongs to one account.
CREATE TABLE chain_wallets (
    address   TEXT PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at INTEGER NOT NULL
);
CREATE INDEX chain_wallets_user ON chain_wallets (user_id);

-- Single-use SIWE nonces.
CREATE TABLE siwe_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
