-- 0007_model_changes.sql - the change log that keeps each node's in-memory
-- search index (src/store/sqlite_search.c) in step with the listings.
--
-- Triggers add a row for every listing that is inserted, changed or deleted,
-- whoever writes it: this node's threads, another node on the same database,
-- or a script. Before a text search, a node applies the rows past the last
-- sequence number it applied (when it committed anything since its last look,
-- or that look is over a second old), so it reads its own writes at once and
-- other processes' within a second. `text` is 1 when
-- the full-text document (title, summary, card, tags) may have changed and the
-- listing must be tokenized again; counters (downloads, likes, rating) only
-- refresh the columns that filters, sorts and the item JSON read. The last
-- trigger keeps the newest 100,000 rows; a node that finds rows missing past
-- its position rebuilds its index.
CREATE TABLE model_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id INTEGER NOT NULL,
    text     INTEGER NOT NULL
);

CREATE TRIGGER model_changes_ai AFTER INSERT ON models BEGIN
    INSERT INTO model_changes (model_id, text) VALUES (new.id, 1);
END;
CREATE TRIGGER model_changes_ad AFTER DELETE ON models BEGIN
    INSERT INTO model_changes (model_id, text) VALUES (old.id, 1);
END;
CREATE TRIGGER model_changes_au AFTER UPDATE ON models BEGIN
    INSERT INTO model_changes (model_id, text)
        VALUES (new.id, old.title IS NOT new.title OR old.summary IS NOT new.summary
                        OR old.tags IS NOT new.tags OR old.id IS NOT new.id);
    INSERT INTO model_changes (model_id, text) SELECT old.id, 1 WHERE old.id IS NOT new.id;
END;
CREATE TRIGGER model_changes_ci AFTER INSERT ON model_cards BEGIN
    INSERT INTO model_changes (model_id, text) VALUES (new.model_id, 1);
END;
CREATE TRIGGER model_changes_cd AFTER DELETE ON model_cards BEGIN
    INSERT INTO model_changes (model_id, text) VALUES (old.model_id, 1);
END;
CREATE TRIGGER model_changes_cu AFTER UPDATE ON model_cards BEGIN
    INSERT INTO model_changes (model_id, text) VALUES (new.model_id, 1);
    INSERT INTO model_changes (model_id, text)
        SELECT old.model_id, 1 WHERE old.model_id IS NOT new.model_id;
END;
-- Items carry the owner's username: a rename (none exists yet) reaches them too.
CREATE TRIGGER model_changes_uu AFTER UPDATE OF username ON users BEGIN
    INSERT INTO model_changes (model_id, text) SELECT id, 0 FROM models WHERE owner_id = new.id;
END;
-- Keep the last 100,000 rows: a node that falls further behind rebuilds.
CREATE TRIGGER model_changes_trim AFTER INSERT ON model_changes WHEN new.seq % 1000 = 0 BEGIN
    DELETE FROM model_changes WHERE seq <= new.seq - 100000;
END;
