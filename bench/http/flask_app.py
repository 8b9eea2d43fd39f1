"""flask_app.py - the seed's reference stack for bench/http: Flask answering the
node's three benchmarked requests from the same SQLite file with the same SQL.

  GET /api/v1/models/<owner>/<slug>           one listing (+ latest_version)
  GET /api/v1/models?sort=newest&limit=20     newest public listings
  GET /api/v1/models?q=WORDS&limit=20         FTS5 search ranked by bm25

Responses have the node's JSON shape: a MODEL object, or {items, total,
facets, next_cursor} where total and the task/license/library facets are
counted over the whole matching set, as the node does. The statements are
copied from src/store/sqlite_model.c so both stacks ask SQLite for the same
work. Run under gunicorn: AGORA_BENCH_DB=path gunicorn flask_app:app.
"""
import base64
import json
import os
import re
import sqlite3
import threading

from flask import Flask, Response, request

DB_PATH = os.environ.get("AGORA_BENCH_DB", "agora.db")
QUERY_MAX = 256
QUERY_TOKENS = 16

COLS_HEAD = ("m.id AS id, u.username AS owner, m.owner_id AS owner_id, m.slug AS slug, m.title AS title,"
             " m.summary AS summary, ")
COLS_TAIL = ("m.task AS task, m.library AS library, m.license AS license, m.tags AS tags,"
             " m.datasets AS datasets, m.metrics AS metrics, m.language AS language,"
             " m.base_model AS base_model, m.price AS price, m.visibility AS visibility,"
             " m.downloads AS downloads, m.likes AS likes, m.rating AS rating,"
             " m.rating_count AS rating_count, m.created_at AS created_at, m.updated_at AS updated_at")
SQL_MODEL_GET = ("SELECT " + COLS_HEAD + "coalesce(c.card, '') AS card, " + COLS_TAIL +
                 " FROM models m JOIN users u ON u.id = m.owner_id"
                 " LEFT JOIN model_cards c ON c.model_id = m.id WHERE u.username = ? AND m.slug = ?")
SQL_VERSIONS = ("SELECT version, major, minor, patch, prerelease FROM versions"
                " WHERE model_id = ? AND state = 'published'")
HITS_CTE = ("hits AS MATERIALIZED (SELECT rowid AS id, bm25(models_fts, 10.0, 5.0, 1.0, 3.0) AS rank"
            " FROM models_fts WHERE models_fts MATCH ?)")
FROM_PLAIN = " FROM models m JOIN users u ON u.id = m.owner_id WHERE 1 AND m.visibility = 'public'"
FROM_FTS = (" FROM models m JOIN users u ON u.id = m.owner_id JOIN hits h ON h.id = m.id"
            " WHERE 1 AND m.visibility = 'public'")
FACETS = ("f AS MATERIALIZED (SELECT m.task AS task, m.license AS license, m.library AS library{from_})"
          " SELECT 'task', task, count(*) FROM f WHERE task <> '' GROUP BY task UNION ALL"
          " SELECT 'license', license, count(*) FROM f WHERE license <> '' GROUP BY license UNION ALL"
          " SELECT 'library', library, count(*) FROM f WHERE library <> '' GROUP BY library UNION ALL"
          " SELECT '', NULL, count(*) FROM f")
SQL_NEWEST = ("SELECT " + COLS_HEAD + COLS_TAIL + ", m.created_at AS sort_key" + FROM_PLAIN +
              " ORDER BY m.created_at DESC, m.id DESC LIMIT ?")
# The unfiltered catalogue's counts, kept by triggers (migration 0002), as the node reads them.
SQL_NEWEST_FACETS = "SELECT facet, value, n FROM facet_counts WHERE n > 0"
SQL_SEARCH = ("WITH " + HITS_CTE + " SELECT " + COLS_HEAD + COLS_TAIL + ", h.rank AS sort_key" + FROM_FTS +
              " ORDER BY h.rank ASC, m.id ASC LIMIT ?")
# Counting needs the matches, not their rank (as the node does).
HITS_UNRANKED_CTE = "hits AS MATERIALIZED (SELECT rowid AS id FROM models_fts WHERE models_fts MATCH ?)"
SQL_SEARCH_FACETS = "WITH " + HITS_UNRANKED_CTE + ", " + FACETS.format(from_=FROM_FTS)
JSON_COLS = ("tags", "datasets", "metrics", "language")
WORD = re.compile(r"[A-Za-z0-9\x80-\U0010FFFF]+")

app = Flask(__name__)
_local = threading.local()


def db():
    """One connection per thread (as the node has), opened on first use, so
    after gunicorn forks; any worker class (sync, gthread) is safe."""
    conn = getattr(_local, "db", None)
    if conn is None:
        conn = sqlite3.connect(DB_PATH, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA query_only = 1")
        _local.db = conn
    return conn


def row_json(cur, row):
    o = {}
    for (name, *_), value in zip(cur.description, row):
        o[name] = json.loads(value) if name in JSON_COLS else value
    return o


def reply(obj, status=200):
    return Response(json.dumps(obj, separators=(",", ":")), status=status, mimetype="application/json")


def error(status, code, message, field=None):
    err = {"code": code, "message": message}
    if field:
        err["field"] = field
    return reply({"error": err}, status)


def semver_key(v):
    # Releases sort above their pre-releases; pre-release text compares as text.
    return (v[1], v[2], v[3], v[4] == "", v[4])


def fts_expression(q):
    """Every word becomes a quoted prefix term, all required (as src/market/search.c)."""
    words = WORD.findall(q)
    if len(q.encode()) > QUERY_MAX or len(words) > QUERY_TOKENS:
        return None
    return " ".join(f'"{w}"*' for w in words)


@app.get("/api/v1/models/<owner>/<slug>")
def model_get(owner, slug):
    conn = db()
    cur = conn.execute(SQL_MODEL_GET, (owner, slug))
    row = cur.fetchone()
    if row is None:
        return error(404, "not_found", "no such model")
    model = row_json(cur, row)
    if model["visibility"] in ("private", "draft"):
        return error(404, "not_found", "no such model")
    versions = conn.execute(SQL_VERSIONS, (model["id"],)).fetchall()
    model["latest_version"] = max(versions, key=semver_key)[0] if versions else None
    # The node's on-chain record of the listing (issue 4): none in the generated data.
    model["chain"] = None
    return reply(model)


@app.get("/api/v1/models")
def model_search():
    q = request.args.get("q", "")
    sort = request.args.get("sort", "")
    try:
        limit = int(request.args.get("limit", "20"))
    except ValueError:
        return error(400, "invalid", "limit must be from 1 to 100", "limit")
    if not 1 <= limit <= 100:
        return error(400, "invalid", "limit must be from 1 to 100", "limit")
    fts = fts_expression(q)
    if fts is None:
        return error(400, "invalid", "query is too long", "q")
    if sort not in ("", "relevance", "newest"):
        return error(400, "invalid", "this reference app only knows relevance and newest", "sort")
    conn = db()
    conn.execute("BEGIN")  # the page and the counts see one snapshot, as in the node
    try:
        if fts and sort in ("", "relevance"):
            sort_name = "relevance"
            cur = conn.execute(SQL_SEARCH, (fts, limit + 1))
            items = [row_json(cur, r) for r in cur.fetchall()]
            counts = conn.execute(SQL_SEARCH_FACETS, (fts,)).fetchall()
        else:
            sort_name = "newest"
            cur = conn.execute(SQL_NEWEST, (limit + 1,))
            items = [row_json(cur, r) for r in cur.fetchall()]
            counts = conn.execute(SQL_NEWEST_FACETS).fetchall()
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        return error(400, "invalid", f"bad query: {exc}", "q")
    conn.execute("COMMIT")
    facets = {"task": {}, "license": {}, "library": {}}
    total = 0
    for facet, value, count in counts:
        if facet:
            if value:
                facets[facet][value] = count
        else:
            total = count
    next_cursor = None
    if len(items) > limit:
        items.pop()
        last = items[-1]
        key = repr(last["sort_key"]) if isinstance(last["sort_key"], float) else str(last["sort_key"])
        raw = f"{sort_name}\n{key}\n{last['id']}".encode()
        next_cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    for it in items:
        del it["sort_key"]
    return reply({"items": items, "facets": facets, "total": total, "next_cursor": next_cursor})
