-- 0003_storage.sql - resumable uploads and the sealed keys of encrypted files.

-- An upload in progress into a draft version's file entry. The bytes live in
-- DATA_DIR/uploads/<id>.part on the node that received them; the file's
-- length is the upload's offset (the database holds no offset to go stale).
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX uploads_expires ON uploads(expires_at);
CREATE INDEX uploads_version ON uploads(version_id);

-- The content key of an encrypted (paid) file, sealed under the node key
-- (docs/internals/encryption.md). A file without a row is stored in clear.
CREATE TABLE file_keys (
    file_id    INTEGER PRIMARY KEY REFERENCES version_files(id) ON DELETE CASCADE,
    sealed_key TEXT NOT NULL,
    format     INTEGER NOT NULL DEFAULT 1,
    stored_size INTEGER NOT NULL CHECK (stored_size >= 0)
);

-- gc looks up every stored root.
CREATE INDEX version_files_cid ON version_files(cid) WHERE cid IS NOT NULL;
