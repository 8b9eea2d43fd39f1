"""test_authz.py - the authorization matrix: every route against every kind of caller.

The matrix is checked against the node's own route table (`agora routes
--json`): a route without an entry here fails the test, so a new endpoint
cannot ship without its authorization being decided and tested.
Callers: anonymous, another user, the owner of the resource, an admin.
(Licence holders join the matrix with the chain issue.)
"""
import itertools
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, Node, register  # noqa: E402

ROLES = ["anon", "other", "owner", "admin"]
counter = itertools.count()


def uniq(prefix):
    return "%s%d" % (prefix, next(counter))


class Fixture:
    """The world the matrix runs in: an owner with listings, versions and tokens."""

    def __init__(self, node):
        self.node = node
        self.tokens = {"anon": None, "owner": register(node, "owner"),
                       "other": register(node, "other")}
        # The admin is made by the demo seeder's path: register, then promote in the DB.
        self.tokens["admin"] = register(node, "boss")
        import sqlite3
        db = sqlite3.connect(os.path.join(node.data, "agora.db"))
        db.execute("UPDATE users SET role = 'admin' WHERE username = 'boss'")
        db.commit()
        db.close()
        self.req("owner", "POST", "/api/v1/models", {"slug": "pub", "title": "Public"})
        self.req("owner", "POST", "/api/v1/models", {"slug": "priv", "title": "Private", "visibility": "private"})
        self.req("owner", "POST", "/api/v1/models/owner/pub/versions", {"version": "1.0.0", "publish": True})

    def req(self, role, method, path, body=None):
        s, _, b = self.node.request(method, path, body, token=self.tokens[role])
        return s, b

    # Per-call fixtures for routes that consume what they touch.
    def fresh_token(self, role):
        if role == "anon":
            return None
        s, b = self.req("owner", "POST", "/api/v1/tokens", {"name": "victim"})
        return b["id"]

    def fresh_model(self):
        slug = uniq("del")
        self.req("owner", "POST", "/api/v1/models", {"slug": slug, "title": "Doomed"})
        return slug

    def fresh_draft(self):
        v = "0.0.%d" % next(counter)
        self.req("owner", "POST", "/api/v1/models/owner/pub/versions", {"version": v})
        return v

    # Storage (issue 3): an upload of the owner's, and a published file.
    def fresh_upload(self):
        v = self.fresh_draft()
        s, b = self.req("owner", "POST", "/api/v1/models/owner/pub/versions/%s/uploads" % v,
                        {"name": "w.bin", "size": 4})
        return b["id"]

    def stored_file(self):
        if not hasattr(self, "_stored"):
            v = self.fresh_draft()
            uid = self.fresh_upload_in(v)
            s, _, b = self.node.request("PATCH", "/api/v1/uploads/" + uid, raw=b"abcd",
                                        token=self.tokens["owner"], content_type=None,
                                        headers={"Upload-Offset": "0",
                                                 "Content-Type": "application/offset+octet-stream"})
            assert s == 200, (s, b)
            self.req("owner", "POST", "/api/v1/models/owner/pub/versions/%s/publish" % v)
            self._stored = "/api/v1/models/owner/pub/versions/%s/files/w.bin" % v
        return self._stored

    def fresh_upload_in(self, v):
        s, b = self.req("owner", "POST", "/api/v1/models/owner/pub/versions/%s/uploads" % v,
                        {"name": "w.bin", "size": 4})
        return b["id"]


def matrix(fx):
    """(method, pattern) -> (request builder, {role: expected status})."""
    P = "/api/v1/models/{owner}/{slug}"
    all200 = {r: 200 for r in ROLES}
    signed = lambda ok: {"anon": 401, "other": ok, "owner": ok, "admin": ok}  # noqa: E731

    def login_body(role):
        name = uniq("login")
        register(fx.node, name)
        return {"login": name, "password": "correct horse battery", "token_name": "x"}

    return {
        ("GET", "/healthz"): (lambda r: ("/healthz", None), all200),
        ("GET", "/metrics"): (lambda r: ("/metrics", None), all200),
        ("GET", "/api/v1/openapi.yaml"): (lambda r: ("/api/v1/openapi.yaml", None), all200),
        ("POST", "/api/v1/auth/register"): (
            lambda r: ("/api/v1/auth/register",
                       {"username": uniq("reg"), "email": uniq("e") + "@x.org", "password": "long enough pw"}),
            {r: 201 for r in ROLES}),
        ("POST", "/api/v1/auth/login"): (lambda r: ("/api/v1/auth/login", login_body(r)), all200),
        ("POST", "/api/v1/auth/logout"): (lambda r: ("/api/v1/auth/logout", None), signed(204)),
        ("GET", "/api/v1/auth/me"): (lambda r: ("/api/v1/auth/me", None), signed(200)),
        ("GET", "/api/v1/tokens"): (lambda r: ("/api/v1/tokens", None), signed(200)),
        ("POST", "/api/v1/tokens"): (lambda r: ("/api/v1/tokens", {"name": "t"}), signed(201)),
        ("DELETE", "/api/v1/tokens/{id}"): (
            lambda r: ("/api/v1/tokens/%s" % fx.fresh_token(r), None),
            {"anon": 401, "other": 404, "owner": 204, "admin": 404}),
        ("GET", "/api/v1/users/{username}"): (lambda r: ("/api/v1/users/owner", None), all200),
        ("PATCH", "/api/v1/users/{username}"): (
            lambda r: ("/api/v1/users/owner", {"bio": "edited by " + r}),
            {"anon": 401, "other": 403, "owner": 200, "admin": 200}),
        ("GET", "/api/v1/users/{username}/reviews"): (lambda r: ("/api/v1/users/owner/reviews", None), all200),
        ("GET", "/api/v1/models"): (lambda r: ("/api/v1/models", None), all200),
        ("POST", "/api/v1/models"): (lambda r: ("/api/v1/models", {"slug": uniq("new"), "title": "N"}), signed(201)),
        ("GET", P): (lambda r: ("/api/v1/models/owner/pub", None), all200),
        ("PATCH", P): (lambda r: ("/api/v1/models/owner/pub", {"summary": r}),
                       {"anon": 401, "other": 403, "owner": 200, "admin": 403}),
        ("DELETE", P): (lambda r: ("/api/v1/models/owner/" + fx.fresh_model(), None),
                        {"anon": 401, "other": 403, "owner": 204, "admin": 204}),
        ("GET", P + "/versions"): (lambda r: ("/api/v1/models/owner/pub/versions", None), all200),
        ("POST", P + "/versions"): (
            lambda r: ("/api/v1/models/owner/pub/versions", {"version": "9.%d.0" % next(counter)}),
            {"anon": 401, "other": 403, "owner": 201, "admin": 403}),
        ("GET", P + "/versions/{version}"): (lambda r: ("/api/v1/models/owner/pub/versions/1.0.0", None), all200),
        ("PATCH", P + "/versions/{version}"): (
            lambda r: ("/api/v1/models/owner/pub/versions/" + fx.fresh_draft(), {"changelog": "x"}),
            {"anon": 401, "other": 403, "owner": 200, "admin": 403}),
        ("POST", P + "/versions/{version}/publish"): (
            lambda r: ("/api/v1/models/owner/pub/versions/%s/publish" % fx.fresh_draft(), None),
            {"anon": 401, "other": 403, "owner": 200, "admin": 403}),
        ("PUT", P + "/like"): (lambda r: ("/api/v1/models/owner/pub/like", None), signed(200)),
        ("DELETE", P + "/like"): (lambda r: ("/api/v1/models/owner/pub/like", None), signed(200)),
        ("GET", P + "/reviews"): (lambda r: ("/api/v1/models/owner/pub/reviews", None), all200),
        ("POST", P + "/reviews"): (lambda r: ("/api/v1/models/owner/pub/reviews", {"rating": 4}),
                                   {"anon": 401, "other": 201, "owner": 403, "admin": 201}),
        # storage (issue 3): uploads are their creator's alone (404 to others, admins included)
        ("POST", P + "/versions/{version}/uploads"): (
            lambda r: ("/api/v1/models/owner/pub/versions/%s/uploads" % fx.fresh_draft(),
                       {"name": "f.bin", "size": 10}),
            {"anon": 401, "other": 403, "owner": 201, "admin": 403}),
        ("GET", "/api/v1/uploads/{id}"): (lambda r: ("/api/v1/uploads/" + fx.fresh_upload(), None),
                                          {"anon": 401, "other": 404, "owner": 200, "admin": 404}),
        ("PATCH", "/api/v1/uploads/{id}"): (
            lambda r: ("/api/v1/uploads/" + fx.fresh_upload(), None,
                       {"raw": b"ab", "content_type": None,
                        "headers": {"Upload-Offset": "0",
                                    "Content-Type": "application/offset+octet-stream"}}),
            {"anon": 401, "other": 404, "owner": 204, "admin": 404}),
        ("DELETE", "/api/v1/uploads/{id}"): (lambda r: ("/api/v1/uploads/" + fx.fresh_upload(), None),
                                             {"anon": 401, "other": 404, "owner": 204, "admin": 404}),
        ("GET", P + "/versions/{version}/files/{name}"): (lambda r: (fx.stored_file(), None), all200),
        ("GET", "/ipfs/{cid}"): (lambda r: ("/ipfs/bafkqaaa?format=raw", None), all200),
        # inference (issue 5): a free model's published file runs for anyone (paid ones:
        # test_infer.py); w.bin is no ONNX model, so everyone gets the engine's 422
        ("POST", P + "/versions/{version}/infer"): (
            lambda r: (fx.stored_file().replace("/files/w.bin", "/infer?file=w.bin"),
                       {"inputs": {}}),
            {r: 422 for r in ROLES}),
        # chain (issue 4): SIWE is public; an unparseable message is 400 for everyone,
        # linking needs a signed-in caller first (test_chain.py signs real messages)
        ("GET", "/api/v1/auth/siwe/nonce"): (lambda r: ("/api/v1/auth/siwe/nonce", None), all200),
        ("POST", "/api/v1/auth/siwe"): (
            lambda r: ("/api/v1/auth/siwe", {"message": "not siwe", "signature": "0x00"}),
            {r: 400 for r in ROLES}),
        ("POST", "/api/v1/auth/siwe/link"): (
            lambda r: ("/api/v1/auth/siwe/link", {"message": "not siwe", "signature": "0x00"}),
            signed(400)),
        ("GET", "/api/v1/auth/wallets"): (lambda r: ("/api/v1/auth/wallets", None), signed(200)),
        ("GET", "/api/v1/chain"): (lambda r: ("/api/v1/chain", None), all200),
        # a signed price quote needs a signed-in caller and a node with a pricing key (this
        # one has none: 503; test_chain_quote.py signs and redeems real ones)
        ("POST", P + "/quote"): (
            lambda r: ("/api/v1/models/owner/pub/quote", {"buyer": "0x" + "11" * 20}), signed(503)),
        # web (issue 6): the relay and the faucet need a chain (this node has none:
        # 503); the faucet, library and sales need a signed-in caller
        ("POST", "/api/v1/chain/rpc"): (
            lambda r: ("/api/v1/chain/rpc", {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}),
            {r: 503 for r in ROLES}),
        ("POST", "/api/v1/chain/faucet"): (
            lambda r: ("/api/v1/chain/faucet", {"address": "0x" + "11" * 20}), signed(503)),
        ("GET", "/api/v1/library"): (lambda r: ("/api/v1/library", None), signed(200)),
        ("GET", "/api/v1/sales"): (lambda r: ("/api/v1/sales", None), signed(200)),
    }


# Hidden resources: what each caller may learn about a private listing.
PRIVATE = [
    ("GET", "/api/v1/models/owner/priv", None, {"anon": 404, "other": 404, "owner": 200, "admin": 200}),
    ("PATCH", "/api/v1/models/owner/priv", {"title": "x"}, {"anon": 401, "other": 404, "owner": 200, "admin": 403}),
    ("GET", "/api/v1/models/owner/priv/versions", None, {"anon": 404, "other": 404, "owner": 200, "admin": 200}),
    ("POST", "/api/v1/models/owner/priv/versions", {"version": "1.0.0"}, {"anon": 401, "other": 404, "owner": 201, "admin": 403}),
    ("PUT", "/api/v1/models/owner/priv/like", None, {"anon": 401, "other": 404, "owner": 200, "admin": 200}),
    ("POST", "/api/v1/models/owner/priv/reviews", {"rating": 3}, {"anon": 401, "other": 404, "owner": 403, "admin": 201}),
]


class AuthzMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.fx = Fixture(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_every_route_has_an_entry(self):
        routes = json.loads(subprocess.run([BIN, "routes", "--json"], capture_output=True,
                                           text=True, check=True).stdout)
        table = matrix(self.fx)
        missing = [(r["method"], r["path"]) for r in routes if (r["method"], r["path"]) not in table]
        self.assertEqual(missing, [], "routes without an authorization entry")
        extra = set(table) - {(r["method"], r["path"]) for r in routes}
        self.assertEqual(extra, set(), "matrix entries for routes that do not exist")

    def test_matrix(self):
        failures = []
        for (method, pattern), (build, expect) in matrix(self.fx).items():
            for role in ROLES:
                token = self.fx.tokens[role]
                if (method, pattern) == ("POST", "/api/v1/auth/logout") and role != "anon":
                    token = register(self.node, uniq("bye"))  # logging out revokes the token used
                path, body, *extra = build(role)
                s, _, b = self.node.request(method, path, body, token=token, **(extra[0] if extra else {}))
                if s != expect[role]:
                    failures.append("%s %s as %s: %d, expected %d (%s)" % (method, pattern, role, s, expect[role], b))
        self.assertEqual(failures, [])

    def test_private_listing(self):
        failures = []
        for method, path, body, expect in PRIVATE:
            for role in ROLES:
                s, b = self.fx.req(role, method, path, body)
                if s != expect[role]:
                    failures.append("%s %s as %s: %d, expected %d (%s)" % (method, path, role, s, expect[role], b))
        self.assertEqual(failures, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
