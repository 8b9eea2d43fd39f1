-- 0001_init.sql - accounts, listings, versions, search, social signals.
-- Times are Unix seconds (UTC). JSON arrays are stored as JSON text.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    email        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    pw_hash      TEXT NOT NULL,
    role         TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    display_name TEXT NOT NULL DEFAULT '',
    bio          TEXT NOT NULL DEFAULT '',
    links        TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- Failed-login bookkeeping, per account ('acct:NAME') and per address ('ip:ADDR').
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE models (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    slug         TEXT NOT NULL,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    card         TEXT NOT NULL DEFAULT '',
    task         TEXT NOT NULL DEFAULT '',
    library      TEXT NOT NULL DEFAULT '',
    license      TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]',
    datasets     TEXT NOT NULL DEFAULT '[]',
    metrics      TEXT NOT NULL DEFAULT '[]',
    language     TEXT NOT NULL DEFAULT '[]',
    base_model   TEXT NOT NULL DEFAULT '',
    -- price in the token's smallest unit, a decimal uint256; price_key is the
    -- same number left-padded with zeros to 78 digits, so text order = numeric order
    price        TEXT NOT NULL DEFAULT '0',
    price_key    TEXT NOT NULL,
    visibility   TEXT NOT NULL DEFAULT 'public'
                 CHECK (visibility IN ('public', 'unlisted', 'private', 'draft')),
    downloads    INTEGER NOT NULL DEFAULT 0,
    likes        INTEGER NOT NULL DEFAULT 0,
    rating_sum   INTEGER NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    rating       REAL NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (owner_id, slug)
);
CREATE INDEX models_created ON models(created_at, id);
CREATE INDEX models_updated ON models(updated_at, id);
CREATE INDEX models_downloads ON models(downloads, id);
CREATE INDEX models_likes ON models(likes, id);
CREATE INDEX models_rating ON models(rating, id);
CREATE INDEX models_price ON models(price_key, id);
CREATE INDEX models_task ON models(task);
CREATE INDEX models_license ON models(license);
CREATE INDEX models_library ON models(library);

CREATE TABLE model_tags (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (model_id, tag)
) WITHOUT ROWID;
CREATE INDEX model_tags_tag ON model_tags(tag, model_id);

-- Full-text index over the listing; kept in step by the triggers below.
CREATE VIRTUAL TABLE models_fts USING fts5(
    title, summary, card, tags,
    content = 'models', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
);
CREATE TRIGGER models_ai AFTER INSERT ON models BEGIN
    INSERT INTO models_fts(rowid, title, summary, card, tags)
    VALUES (new.id, new.title, new.summary, new.card, new.tags);
END;
CREATE TRIGGER models_ad AFTER DELETE ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, title, summary, card, tags)
    VALUES ('delete', old.id, old.title, old.summary, old.card, old.tags);
END;
CREATE TRIGGER models_au AFTER UPDATE OF title, summary, card, tags ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, title, summary, card, tags)
    VALUES ('delete', old.id, old.title, old.summary, old.card, old.tags);
    INSERT INTO models_fts(rowid, title, summary, card, tags)
    VALUES (new.id, new.title, new.summary, new.card, new.tags);
END;

CREATE TABLE versions (
    id           INTEGER PRIMARY KEY,
    model_id     INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    version      TEXT NOT NULL,
    major        INTEGER NOT NULL,
    minor        INTEGER NOT NULL,
    patch        INTEGER NOT NULL,
    prerelease   TEXT NOT NULL DEFAULT '',
    changelog    TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'published')),
    created_at   INTEGER NOT NULL,
    published_at INTEGER,
    UNIQUE (model_id, version)
);

CREATE TABLE version_files (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    cid        TEXT,
    sha256     TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (version_id, name)
);

CREATE TABLE likes (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, model_id)
) WITHOUT ROWID;
CREATE INDEX likes_model ON likes(model_id);

-- One row per file per downloader per UTC day: the download counter's dedup.
CREATE TABLE downloads (
    file_id INTEGER NOT NULL REFERENCES version_files(id) ON DELETE CASCADE,
    who     TEXT NOT NULL,
    day     INTEGER NOT NULL,
    PRIMARY KEY (file_id, who, day)
) WITHOUT ROWID;

CREATE TABLE reviews (
    id         INTEGER PRIMARY KEY,
    model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body       TEXT NOT NULL DEFAULT '',
    verified   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (model_id, user_id)
);
CREATE INDEX reviews_user ON reviews(user_id);
