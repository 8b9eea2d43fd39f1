"""test_api.py - the JSON API end to end: every flow of the foundation, and bad input."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, SRC, Node, register  # noqa: E402


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.alice = register(cls.node, "alice")
        cls.bob = register(cls.node, "bob")

    @classmethod
    def tearDownClass(cls):
        code = cls.node.stop()
        cls.node.cleanup()
        assert code == 0, "node did not exit cleanly: %s" % code

    def req(self, *a, **k):
        return self.node.request(*a, **k)

    def model(self, token, slug, **fields):
        body = {"slug": slug, "title": fields.pop("title", "Model " + slug)}
        body.update(fields)
        s, _, b = self.req("POST", "/api/v1/models", body, token=token)
        self.assertEqual(s, 201, b)
        return b

    def assertError(self, resp, status, code=None, field=None):
        s, h, b = resp
        self.assertEqual(s, status, b)
        self.assertIn("error", b)
        self.assertTrue(b["error"]["message"])
        self.assertEqual(b["error"]["request_id"], h["x-request-id"])
        if code:
            self.assertEqual(b["error"]["code"], code)
        if field:
            self.assertEqual(b["error"].get("field"), field)

    # ---- system --------------------------------------------------------------

    def test_healthz_metrics_and_headers(self):
        s, h, b = self.req("GET", "/healthz")
        self.assertEqual(s, 200)
        self.assertEqual(b["status"], "ok")
        self.assertEqual(b["db"]["status"], "ok")
        self.assertGreaterEqual(b["db"]["schema_version"], 1)
        self.assertIn("storage", b)
        self.assertIn("chain", b)
        self.assertRegex(h["x-request-id"], r"^[0-9a-f]{16}$")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertIn("frame-ancestors 'none'", h["content-security-policy"])
        _, h2, _ = self.req("GET", "/healthz")
        self.assertNotEqual(h["x-request-id"], h2["x-request-id"])
        s, h, text = self.req("GET", "/metrics")
        self.assertEqual(s, 200)
        self.assertIn('agora_http_requests_total{method="GET",route="/healthz",status="200"}', text)
        self.assertIn("agora_http_request_duration_seconds_bucket", text)
        self.assertIn("agora_http_open_connections", text)

    def test_static_index_and_path_tricks(self):
        s, h, body = self.req("GET", "/")
        self.assertEqual(s, 200)
        self.assertIn("text/html", h["content-type"])
        self.assertIn("Agora", body)
        for p in ["/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/.hidden", "/a/../../etc/passwd"]:
            s, _, _ = self.req("GET", p)
            self.assertEqual(s, 404, p)

    def test_unknown_route_and_method(self):
        self.assertError(self.req("GET", "/api/v1/nope"), 404, "not_found")
        self.assertError(self.req("PUT", "/api/v1/models"), 405, "method_not_allowed")

    def test_openapi_describes_every_route(self):
        s, h, doc = self.req("GET", "/api/v1/openapi.yaml")
        self.assertEqual(s, 200)
        self.assertTrue(doc.startswith("openapi: 3.1"))
        described = set()
        path = None
        for line in doc.splitlines():
            m = re.match(r"^  (/\S+):\s*$", line)
            if m:
                path = m.group(1)
                continue
            m = re.match(r"^    (get|post|put|patch|delete):\s*$", line)
            if m and path:
                described.add((m.group(1).upper(), path))
            if re.match(r"^\S", line):
                path = None
        routes = json.loads(subprocess.run([BIN, "routes", "--json"], capture_output=True,
                                           check=True, text=True).stdout)
        missing = [(r["method"], r["path"]) for r in routes
                   if not r["hidden"] and (r["method"], r["path"]) not in described]
        self.assertEqual(missing, [], "routes missing from docs/openapi.yaml")
        stale = described - {(r["method"], r["path"]) for r in routes}
        self.assertEqual(stale, set(), "openapi.yaml describes routes the node lacks")

    # ---- accounts ------------------------------------------------------------

    def test_register_rules(self):
        r = self.req("POST", "/api/v1/auth/register", {"username": "x", "email": "x@y.org",
                                                       "password": "long enough pw"})
        self.assertError(r, 400, "invalid", "username")
        r = self.req("POST", "/api/v1/auth/register", {"username": "shorty", "email": "s@y.org",
                                                       "password": "short"})
        self.assertError(r, 400, "invalid", "password")
        r = self.req("POST", "/api/v1/auth/register", {"username": "alice", "email": "new@y.org",
                                                       "password": "long enough pw"})
        self.assertError(r, 409, "conflict", "username")
        r = self.req("POST", "/api/v1/auth/register", {"username": "eve", "email": "e@y.org",
                                                       "password": "long enough pw", "role": "admin"})
        self.assertError(r, 400, "invalid", "role")
        s, _, b = self.req("GET", "/api/v1/users/eve")
        self.assertEqual(s, 404)

    def test_session_cookie_and_csrf(self):
        s, h, b = self.req("POST", "/api/v1/auth/login", {"login": "alice", "password": "correct horse battery"})
        self.assertEqual(s, 200, b)
        cookie = h["set-cookie"]
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Lax", cookie)
        self.assertNotIn("token", b)
        session = re.search(r"agora_session=([0-9a-f]+)", cookie).group(1)
        csrf = b["csrf_token"]
        jar = {"Cookie": "agora_session=" + session}
        s, _, me = self.req("GET", "/api/v1/auth/me", headers=jar)
        self.assertEqual((s, me["auth"], me["user"]["username"]), (200, "session", "alice"))
        self.assertEqual(me["csrf_token"], csrf)
        body = {"slug": "csrf-test", "title": "T"}
        self.assertError(self.req("POST", "/api/v1/models", body, headers=jar), 403, "forbidden", "csrf")
        bad = dict(jar, **{"X-CSRF-Token": "0" * 64})
        self.assertError(self.req("POST", "/api/v1/models", body, headers=bad), 403, "forbidden", "csrf")
        s, _, _ = self.req("GET", "/api/v1/models/alice/csrf-test")
        self.assertEqual(s, 404, "a CSRF-less mutation must change nothing")
        good = dict(jar, **{"X-CSRF-Token": csrf})
        s, _, b = self.req("POST", "/api/v1/models", body, headers=good)
        self.assertEqual(s, 201, b)
        s, h, _ = self.req("POST", "/api/v1/auth/logout", headers=good)
        self.assertEqual(s, 204)
        self.assertIn("Max-Age=0", h["set-cookie"])
        s, _, _ = self.req("GET", "/api/v1/auth/me", headers=jar)
        self.assertEqual(s, 401)

    def test_tokens_create_list_revoke(self):
        tok = register(self.node, "tokenuser")
        s, _, t = self.req("POST", "/api/v1/tokens", {"name": "ci"}, token=tok)
        self.assertEqual(s, 201, t)
        self.assertTrue(t["token"].startswith("agora_"))
        s, _, lst = self.req("GET", "/api/v1/tokens", token=tok)
        names = [x["name"] for x in lst["tokens"]]
        self.assertEqual(sorted(names), ["ci", "e2e"])
        self.assertNotIn("token", json.dumps(lst["tokens"]).replace('"tokens"', ""))
        s, _, _ = self.req("GET", "/api/v1/auth/me", token=t["token"])
        self.assertEqual(s, 200)
        # Another user cannot revoke it.
        self.assertError(self.req("DELETE", "/api/v1/tokens/%d" % t["id"], token=self.bob), 404)
        s, _, _ = self.req("DELETE", "/api/v1/tokens/%d" % t["id"], token=tok)
        self.assertEqual(s, 204)
        self.assertError(self.req("GET", "/api/v1/auth/me", token=t["token"]), 401, "unauthenticated")
        # Logout with a bearer token revokes that token.
        s, _, _ = self.req("POST", "/api/v1/auth/logout", token=tok)
        self.assertEqual(s, 204)
        self.assertError(self.req("GET", "/api/v1/tokens", token=tok), 401)

    def test_forged_and_missing_tokens(self):
        self.assertError(self.req("GET", "/api/v1/auth/me"), 401, "unauthenticated")
        self.assertError(self.req("GET", "/api/v1/auth/me", token="agora_" + "0" * 40), 401)
        self.assertError(self.req("GET", "/api/v1/models", token="garbage"), 401)
        self.assertError(self.req("GET", "/api/v1/auth/me", headers={"Authorization": "Basic YTpi"}), 401)
        self.assertError(self.req("POST", "/api/v1/models", {"slug": "anon", "title": "x"}), 401)

    def test_login_throttle(self):
        register(self.node, "victim")
        for _ in range(5):
            s, _, _ = self.req("POST", "/api/v1/auth/login", {"login": "victim", "password": "wrong password!"})
            self.assertEqual(s, 401)
        s, h, b = self.req("POST", "/api/v1/auth/login", {"login": "victim", "password": "correct horse battery"})
        self.assertEqual(s, 429, b)
        self.assertGreater(int(h["retry-after"]), 0)
        self.assertEqual(b["error"]["code"], "rate_limited")

    def test_profiles(self):
        s, _, p = self.req("PATCH", "/api/v1/users/alice",
                           {"display_name": "Alice A.", "bio": "I train models.",
                            "links": ["https://alice.example.org"]}, token=self.alice)
        self.assertEqual(s, 200, p)
        self.assertEqual(p["display_name"], "Alice A.")
        self.assertEqual(p["email"], "alice@example.org")
        s, _, pub = self.req("GET", "/api/v1/users/alice")
        self.assertNotIn("email", pub)
        self.assertIn("score", pub["reputation"])
        self.assertError(self.req("PATCH", "/api/v1/users/alice", {"bio": "hacked"}, token=self.bob), 403)
        self.assertError(self.req("PATCH", "/api/v1/users/alice", {"links": ["javascript:alert(1)"]},
                                  token=self.alice), 400, "invalid", "links")
        self.assertError(self.req("GET", "/api/v1/users/nobody-here"), 404)

    # ---- listings ------------------------------------------------------------

    def test_model_lifecycle_and_ownership(self):
        card = ("---\ntask: image-classification\nlibrary: onnx\nlicense: apache-2.0\n"
                "tags: [vision, resnet]\ndatasets: [imagenet-1k]\n---\n# ResNet-50\n")
        m = self.model(self.alice, "resnet50", title="ResNet-50", card=card, price="5000000000000000000")
        self.assertEqual((m["owner"], m["task"], m["library"], m["license"]),
                         ("alice", "image-classification", "onnx", "apache-2.0"))
        self.assertEqual(m["tags"], ["vision", "resnet"])
        self.assertEqual(m["price"], "5000000000000000000")
        self.assertIsNone(m["latest_version"])
        self.assertError(self.req("POST", "/api/v1/models", {"slug": "resnet50", "title": "again"},
                                  token=self.alice), 409, "conflict", "slug")
        self.assertError(self.req("PATCH", "/api/v1/models/alice/resnet50", {"title": "mine"},
                                  token=self.bob), 403, "forbidden")
        self.assertError(self.req("DELETE", "/api/v1/models/alice/resnet50", token=self.bob), 403)
        s, _, m2 = self.req("PATCH", "/api/v1/models/alice/resnet50", {"summary": "ImageNet classifier"},
                            token=self.alice)
        self.assertEqual((s, m2["summary"], m2["title"]), (200, "ImageNet classifier", "ResNet-50"))
        self.assertError(self.req("PATCH", "/api/v1/models/alice/resnet50", {"slug": "renamed"},
                                  token=self.alice), 400, "invalid", "slug")
        self.model(self.alice, "to-delete")
        s, _, _ = self.req("DELETE", "/api/v1/models/alice/to-delete", token=self.alice)
        self.assertEqual(s, 204)
        self.assertError(self.req("GET", "/api/v1/models/alice/to-delete"), 404)

    def test_visibility(self):
        for vis in ["private", "draft", "unlisted"]:
            self.model(self.alice, "vis-" + vis, title="Zqhidden " + vis, visibility=vis)
        for vis in ["private", "draft"]:
            self.assertError(self.req("GET", "/api/v1/models/alice/vis-" + vis), 404)
            self.assertError(self.req("GET", "/api/v1/models/alice/vis-" + vis, token=self.bob), 404)
            self.assertError(self.req("PATCH", "/api/v1/models/alice/vis-" + vis, {"title": "x"},
                                      token=self.bob), 404)
            s, _, _ = self.req("GET", "/api/v1/models/alice/vis-" + vis, token=self.alice)
            self.assertEqual(s, 200)
        s, _, _ = self.req("GET", "/api/v1/models/alice/vis-unlisted")
        self.assertEqual(s, 200)
        s, _, res = self.req("GET", "/api/v1/models?q=zqhid&owner=alice")
        self.assertEqual([i["slug"] for i in res["items"]], [], "hidden listings must not be searchable")
        s, _, res = self.req("GET", "/api/v1/models?owner=alice&q=zqhid", token=self.alice)
        self.assertEqual(len(res["items"]), 3, "the owner sees their own hidden listings")

    def test_versions(self):
        self.model(self.bob, "tagger")
        base = "/api/v1/models/bob/tagger/versions"
        for v, pub in [("1.0.0", True), ("1.2.0", True), ("1.10.0", True), ("2.0.0-rc.1", False)]:
            s, _, b = self.req("POST", base, {"version": v, "changelog": "v" + v, "publish": pub,
                                              "files": [{"name": "model.onnx", "size": 1024}]},
                               token=self.bob)
            self.assertEqual(s, 201, b)
        s, _, b = self.req("GET", base + "/latest")
        self.assertEqual(b["version"], "1.10.0")
        self.assertEqual(b["files"][0]["name"], "model.onnx")
        self.assertIsNone(b["files"][0]["cid"])
        s, _, b = self.req("GET", "/api/v1/models/bob/tagger")
        self.assertEqual(b["latest_version"], "1.10.0")
        s, _, b = self.req("GET", base)
        self.assertEqual([v["version"] for v in b["versions"]], ["1.10.0", "1.2.0", "1.0.0"])
        s, _, b = self.req("GET", base, token=self.bob)
        self.assertEqual(b["versions"][0]["version"], "2.0.0-rc.1")
        self.assertError(self.req("GET", base + "/2.0.0-rc.1"), 404)
        self.assertError(self.req("PATCH", base + "/1.0.0", {"changelog": "rewrite"}, token=self.bob), 409)
        self.assertError(self.req("POST", base, {"version": "1.0"}, token=self.bob), 400, "invalid", "version")
        self.assertError(self.req("POST", base, {"version": "1.0.0"}, token=self.bob), 409)
        self.assertError(self.req("POST", base, {"version": "3.0.0"}, token=self.alice), 403)
        for name in ["../../etc/passwd", "a/b", ".env", "..", "x\ny", "x\u0000y"]:
            self.assertError(self.req("POST", base, {"version": "9.9.9", "files": [{"name": name, "size": 1}]},
                                      token=self.bob), 400)
        s, _, b = self.req("GET", base + "/9.9.9", token=self.bob)
        self.assertEqual(s, 404, "a rejected version must not exist")
        s, _, b = self.req("POST", base + "/2.0.0-rc.1/publish", token=self.bob)
        self.assertEqual((s, b["state"]), (200, "published"))
        s, _, b = self.req("GET", base + "/latest")
        self.assertEqual(b["version"], "2.0.0-rc.1")

    def test_search_filters_sorts_and_cursor(self):
        tok = register(self.node, "searcher")
        specs = [("resnet-a", "ResNet image classifier", "image-classification", "mit", "onnx", "0", ["vision"]),
                 ("resnet-b", "ResNet-101 for retail", "image-classification", "apache-2.0", "pytorch", "1000", ["vision", "retail"]),
                 ("bert-ner", "BERT named entities", "token-classification", "mit", "onnx", "0", ["nlp"]),
                 ("whisper-s", "Whisper small speech", "speech-recognition", "mit", "onnx", "20", ["audio"])]
        for slug, title, task, lic, lib, price, tags in specs:
            self.model(tok, slug, title=title, task=task, license=lic, library=lib, price=price, tags=tags)
        q = "/api/v1/models?owner=searcher"
        s, _, r = self.req("GET", q + "&q=resn")
        self.assertEqual(sorted(i["slug"] for i in r["items"]), ["resnet-a", "resnet-b"])
        self.assertNotIn("card", r["items"][0])
        s, _, r = self.req("GET", q + "&task=image-classification&license=mit")
        self.assertEqual([i["slug"] for i in r["items"]], ["resnet-a"])
        s, _, r = self.req("GET", q + "&tag=vision&tag=retail")
        self.assertEqual([i["slug"] for i in r["items"]], ["resnet-b"])
        s, _, r = self.req("GET", q + "&free=true")
        self.assertEqual(r["total"], 2)
        self.assertEqual(r["facets"]["license"], {"mit": 2})
        s, _, r = self.req("GET", q + "&price_min=10&price_max=1000&sort=price_asc")
        self.assertEqual([i["slug"] for i in r["items"]], ["whisper-s", "resnet-b"])
        s, _, r = self.req("GET", q + "&sort=price_desc")
        self.assertEqual(r["items"][0]["slug"], "resnet-b")
        self.assertEqual(r["facets"]["task"]["image-classification"], 2)
        seen, cursor = [], None
        while True:
            s, _, r = self.req("GET", q + "&sort=newest&limit=1" + ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(s, 200, r)
            seen += [i["slug"] for i in r["items"]]
            cursor = r["next_cursor"]
            if not cursor:
                break
        self.assertEqual(sorted(seen), sorted(x[0] for x in specs))
        self.assertError(self.req("GET", "/api/v1/models?sort=sideways"), 400, "invalid", "sort")
        self.assertError(self.req("GET", "/api/v1/models?limit=1000"), 400, "invalid", "limit")
        self.assertError(self.req("GET", "/api/v1/models?cursor=bm90LWEtY3Vyc29y"), 400, "invalid", "cursor")
        self.assertError(self.req("GET", "/api/v1/models?colour=red"), 400, "invalid", "colour")
        # FTS syntax and SQL metacharacters are just text.
        for text in ['"unbalanced', "a OR b NEAR(c)", "x'); DROP TABLE models;--", "*", "%", "NOT"]:
            s, _, r = self.req("GET", "/api/v1/models?q=" + __import__("urllib.parse").parse.quote(text))
            self.assertEqual(s, 200, (text, r))
        s, _, r = self.req("GET", q)
        self.assertEqual(r["total"], 4)

    def test_search_index_reads_its_writes(self):
        """Text searches come from the in-memory index once /healthz says it
        is ready; a write shows in the very next search."""
        import time
        deadline = time.time() + 30
        while True:
            s, _, h = self.req("GET", "/healthz")
            if h["search_index"]["state"] == "ready" or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(h["search_index"]["state"], "ready", h)
        before = h["search_index"]["listings"]
        tok = register(self.node, "indexer-writer")
        self.model(tok, "quokka", title="Quokkazoo detector", tags=["marsupial"])
        s, _, h = self.req("GET", "/healthz")
        s, _, r = self.req("GET", "/api/v1/models?q=QUOKKAZ")  # case-folded prefix
        self.assertEqual([i["slug"] for i in r["items"]], ["quokka"])
        s, _, h = self.req("GET", "/healthz")
        self.assertEqual(h["search_index"]["listings"], before + 1)
        base = "/api/v1/models/indexer-writer/quokka"
        s, _, b = self.req("PATCH", base, {"title": "Wallabyzoo detector"}, token=tok)
        self.assertEqual(s, 200, b)
        s, _, r = self.req("GET", "/api/v1/models?q=quokkaz")
        self.assertEqual(r["total"], 0)
        s, _, r = self.req("GET", "/api/v1/models?q=wallab+marsup")
        self.assertEqual([i["title"] for i in r["items"]], ["Wallabyzoo detector"])
        s, _, b = self.req("PUT", base + "/like", token=self.bob)
        s, _, r = self.req("GET", "/api/v1/models?q=wallab&sort=likes")
        self.assertEqual(r["items"][0]["likes"], 1)
        s, _, b = self.req("PATCH", base, {"visibility": "private"}, token=tok)
        s, _, r = self.req("GET", "/api/v1/models?q=wallab")
        self.assertEqual(r["total"], 0, "a private listing is not found by others")
        s, _, r = self.req("GET", "/api/v1/models?q=wallab&owner=indexer-writer", token=tok)
        self.assertEqual(r["total"], 1, "its owner finds it")
        s, _, b = self.req("DELETE", base, token=tok)
        s, _, r = self.req("GET", "/api/v1/models?q=wallab&owner=indexer-writer", token=tok)
        self.assertEqual(r["total"], 0)

    def test_likes_and_reviews(self):
        self.model(self.alice, "liked")
        base = "/api/v1/models/alice/liked"
        s, _, b = self.req("PUT", base + "/like", token=self.bob)
        self.assertEqual((s, b), (200, {"liked": True, "likes": 1}))
        s, _, b = self.req("PUT", base + "/like", token=self.bob)
        self.assertEqual(b["likes"], 1)
        s, _, m = self.req("GET", base, token=self.bob)
        self.assertTrue(m["liked"])
        s, _, b = self.req("DELETE", base + "/like", token=self.bob)
        self.assertEqual(b, {"liked": False, "likes": 0})
        self.assertError(self.req("PUT", base + "/like"), 401)
        self.assertError(self.req("POST", base + "/reviews", {"rating": 5}, token=self.alice), 403)
        self.assertError(self.req("POST", base + "/reviews", {"rating": 0}, token=self.bob), 400, "invalid", "rating")
        self.assertError(self.req("POST", base + "/reviews", {"rating": "5"}, token=self.bob), 400, "invalid", "rating")
        s, _, r = self.req("POST", base + "/reviews", {"rating": 4, "body": "Solid <b>model</b>"}, token=self.bob)
        self.assertEqual(s, 201, r)
        self.assertEqual((r["user"], r["rating"], r["verified"], r["body"]), ("bob", 4, False, "Solid <b>model</b>"))
        s, _, lst = self.req("GET", base + "/reviews")
        self.assertEqual(len(lst["reviews"]), 1)
        s, _, m = self.req("GET", base)
        self.assertEqual((m["rating"], m["rating_count"]), (4.0, 1))
        s, _, ur = self.req("GET", "/api/v1/users/bob/reviews")
        self.assertEqual(ur["reviews"][0]["model"], "alice/liked")

    def test_anonymous_reads_cached_and_fresh_after_writes(self):
        self.model(self.alice, "cached", title="Cached model")
        path = "/api/v1/models/alice/cached"
        s, h1, b1 = self.req("GET", path)
        s, h2, b2 = self.req("GET", path)
        self.assertEqual(h2.get("x-cache"), "hit")
        self.assertEqual(b1, b2)
        # A signed-in reader is never served from the cache (its answer has "liked").
        s, h, b = self.req("GET", path, token=self.bob)
        self.assertNotIn("x-cache", h)
        self.assertIn("liked", b)
        # A write on this node shows at once.
        self.req("PUT", path + "/like", token=self.bob)
        s, h3, b3 = self.req("GET", path)
        self.assertNotEqual(h3.get("x-cache"), "hit")
        self.assertEqual(b3["likes"], 1)
        s, _, r1 = self.req("GET", "/api/v1/models?q=cached&owner=alice")
        self.req("PATCH", path, {"title": "Cached model renamed"}, token=self.alice)
        s, _, r2 = self.req("GET", "/api/v1/models?q=cached&owner=alice")
        self.assertEqual(r2["items"][0]["title"], "Cached model renamed")

    # ---- hostile input -------------------------------------------------------

    def test_malformed_bodies_change_nothing(self):
        url = "/api/v1/models"
        cases = [
            (b'{"slug": "m1", "title": ', 400, "bad_json"),
            (b'{"slug": "m1", "title": "x"} trailing', 400, "bad_json"),
            (b'{"slug": "m1", "slug": "m2", "title": "x"}', 400, "bad_json"),
            (b'["slug"]', 400, "invalid"),
            (b'{"slug": "m1", "title": 5}', 400, "invalid"),
            (b'{"slug": "m1", "title": "\xff\xfe"}', 400, "bad_json"),
            (b'{"slug": "m1", "title": "a\\u0000b"}', 400, "bad_json"),
            (b'{"slug": "../../etc", "title": "x"}', 400, "invalid"),
            (b'{"slug": "m1", "title": "x", "tags": "notalist"}', 400, "invalid"),
            (b'{"slug": "m1", "title": "x", "price": "-5"}', 400, "invalid"),
            (b'{"slug": "m1", "title": "x", "price": 5}', 400, "invalid"),
            (b'{"slug": "m1", "title": "x", "visibility": "secret"}', 400, "invalid"),
            (b'[' * 100 + b']' * 100, 400, "bad_json"),
        ]
        for raw, status, code in cases:
            self.assertError(self.req("POST", url, raw=raw, token=self.alice), status, code)
        self.assertError(self.req("POST", url, raw=b'{"slug":"m1","title":"x"}', token=self.alice,
                                  content_type="text/plain"), 415, "unsupported_media")
        big = {"slug": "big", "title": "x", "card": "x" * (400 * 1024)}
        self.assertError(self.req("POST", url, big, token=self.alice), 413, "too_large")
        s, _, r = self.req("GET", "/api/v1/models?owner=alice&q=m1", token=self.alice)
        self.assertEqual(r["total"], 0)
        for slug in ["m1", "m2", "big"]:
            s, _, _ = self.req("GET", "/api/v1/models/alice/" + slug, token=self.alice)
            self.assertEqual(s, 404)

    def test_sql_metacharacters_are_data(self):
        evil = "x'); DROP TABLE models;--"
        m = self.model(self.bob, "evil-text", title=evil, summary='" OR 1=1 --', tags=["a-b"])
        self.assertEqual(m["title"], evil)
        s, _, r = self.req("GET", "/api/v1/models/bob/evil-text")
        self.assertEqual(r["summary"], '" OR 1=1 --')
        s, _, _ = self.req("GET", "/api/v1/models/alice/%27%20OR%201=1--")
        self.assertEqual(s, 404)
        s, _, _ = self.req("GET", "/api/v1/models/bob%2f..%2falice/x")
        self.assertEqual(s, 404)

    def test_chunked_body_over_cap(self):
        # A body sent without Content-Length, growing past the route's cap.
        sock = socket.create_connection((self.node.host, self.node.port))
        head = ("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n")
        sock.sendall(head.encode())
        chunk = b"x" * 8192
        try:
            for _ in range(4):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        data = sock.recv(65536).decode(errors="replace")
        sock.close()
        self.assertIn(" 413 ", data.splitlines()[0])


class Lifecycle(unittest.TestCase):
    def test_graceful_shutdown_and_restart_keeps_data(self):
        node = Node()
        try:
            tok = register(node, "persist")
            s, _, _ = node.request("POST", "/api/v1/models", {"slug": "keep", "title": "Kept"}, token=tok)
            self.assertEqual(s, 201)
            self.assertEqual(node.stop(), 0)
            again = Node.__new__(Node)
            again.__dict__.update(node.__dict__)
            proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", node.data],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env=dict(os.environ, AGORA_PWHASH="min"))
            line = proc.stdout.readline().decode()
            port = int(line.rsplit(":", 1)[1])
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/v1/models/persist/keep")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["title"], "Kept")
            c.close()
            proc.terminate()
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            node.cleanup()

    def test_config_precedence_and_help(self):
        out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        for opt in ["--listen", "AGORA_LISTEN", "--data-dir", "AGORA_DATA_DIR", "--config"]:
            self.assertIn(opt, out.stdout)
        bad = subprocess.run([BIN, "serve", "--no-such-flag"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("no-such-flag", bad.stderr)
        # A config file sets the data dir; the environment overrides the file; a flag the env.
        import tempfile
        d = tempfile.mkdtemp()
        conf = os.path.join(d, "agora.conf")
        with open(conf, "w") as f:
            f.write("# test\nlisten = 127.0.0.1:1\ndata-dir = %s/from-file\n" % d)
        proc = subprocess.Popen([BIN, "serve", "--config", conf, "--listen", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, AGORA_DATA_DIR=d + "/from-env"))
        line = proc.stdout.readline().decode()
        self.assertIn("serving on", line)
        proc.terminate()
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assertTrue(os.path.exists(d + "/from-env/agora.db"))
        self.assertFalse(os.path.exists(d + "/from-file"))
        self.assertEqual(os.stat(d + "/from-env").st_mode & 0o777, 0o700)

    def test_demo_seed(self):
        import tempfile
        d = tempfile.mkdtemp()
        out = subprocess.run([BIN, "demo", "seed", "--data-dir", d, "--pwhash", "min"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        again = subprocess.run([BIN, "demo", "seed", "--data-dir", d, "--pwhash", "min"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(again.returncode, 0)
        self.assertIn("already", again.stdout)
        node = Node.__new__(Node)
        proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", d],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/v1/models?limit=100")
            r = json.loads(c.getresponse().read())
            self.assertGreaterEqual(r["total"], 15)
            self.assertGreaterEqual(len(r["facets"]["task"]), 8)
            c.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
