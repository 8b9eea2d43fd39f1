-- 0002_search.sql - narrow listing rows and precomputed facets, for search speed.
--
-- Model cards (up to 256 KiB of Markdown) move out of `models` into
-- `model_cards`, so filters, sorts and facet counts scan narrow rows. The
-- full-text index now reads its documents from the view `model_docs`; the
-- store keeps it in step itself (src/store/sqlite_model.c) instead of
-- triggers, because a document spans two tables. `facet_counts` holds the
-- facet counts and the total of the public catalogue, kept by triggers, so an
-- unfiltered listing does not count 100,000 rows on every request.

DROP TRIGGER models_ai;
DROP TRIGGER models_ad;
DROP TRIGGER models_au;
DROP TABLE models_fts;

CREATE TABLE model_cards (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    card     TEXT NOT NULL DEFAULT ''
);
INSERT INTO model_cards (model_id, card) SELECT id, card FROM models WHERE card <> '';
ALTER TABLE models DROP COLUMN card;

CREATE VIEW model_docs AS
    SELECT m.id AS id, m.title AS title, m.summary AS summary,
           coalesce(c.card, '') AS card, m.tags AS tags
    FROM models m LEFT JOIN model_cards c ON c.model_id = m.id;

CREATE VIRTUAL TABLE models_fts USING fts5(
    title, summary, card, tags,
    content = 'model_docs', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
);
INSERT INTO models_fts(models_fts) VALUES ('rebuild');

CREATE TABLE facet_counts (
    facet TEXT NOT NULL,      -- 'task', 'license', 'library', or '' for the total
    value TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (facet, value)
) WITHOUT ROWID;

INSERT INTO facet_counts (facet, value, n)
    SELECT 'task', task, count(*) FROM models WHERE visibility = 'public' GROUP BY task
    UNION ALL
    SELECT 'license', license, count(*) FROM models WHERE visibility = 'public' GROUP BY license
    UNION ALL
    SELECT 'library', library, count(*) FROM models WHERE visibility = 'public' GROUP BY library
    UNION ALL
    SELECT '', '', count(*) FROM models WHERE visibility = 'public';

CREATE TRIGGER facets_ai AFTER INSERT ON models WHEN new.visibility = 'public' BEGIN
    INSERT INTO facet_counts (facet, value, n)
        VALUES ('task', new.task, 1), ('license', new.license, 1),
               ('library', new.library, 1), ('', '', 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER facets_ad AFTER DELETE ON models WHEN old.visibility = 'public' BEGIN
    UPDATE facet_counts SET n = n - 1
        WHERE (facet = 'task' AND value = old.task) OR (facet = 'license' AND value = old.license)
           OR (facet = 'library' AND value = old.library) OR (facet = '' AND value = '');
END;
CREATE TRIGGER facets_au AFTER UPDATE OF visibility, task, license, library ON models BEGIN
    UPDATE facet_counts SET n = n - 1
        WHERE old.visibility = 'public'
          AND ((facet = 'task' AND value = old.task) OR (facet = 'license' AND value = old.license)
            OR (facet = 'library' AND value = old.library) OR (facet = '' AND value = ''));
    INSERT INTO facet_counts (facet, value, n)
        SELECT 'task', new.task, 1 WHERE new.visibility = 'public'
        UNION ALL SELECT 'license', new.license, 1 WHERE new.visibility = 'public'
        UNION ALL SELECT 'library', new.library, 1 WHERE new.visibility = 'public'
        UNION ALL SELECT '', '', 1 WHERE new.visibility = 'public'
        ON CONFLICT (facet, value) DO UPDATE SET n = n + 1;
END;
