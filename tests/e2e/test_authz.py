"""test_authz.py - the authorization matrix: every route against every kind of caller.

The matrix is checked against the node's own route table (`agora routes
--json`): a route without an entry here fails the test, so a new endpoint
cannot ship without its authorization being decided and tested.
Callers: anonymous, another user, the owner of the resource, an admin and a
licence holder: a signed-in user whose linked wallet bought a licence for the
owner's paid listing "paid". Every matrix entry names a status for each of
the five. On the free listings the holder is just another user; the
paid-content table (PAID) is where the holder and "other" differ: the paid
file, inference on it, a verified review, the library.

This node has no chain configured. Licence checks read the chain index in
agora.db first (market_licence_holder: store_chain_model +
store_chain_has_licence), so the Fixture writes the rows the indexer would
write for the purchase (ModelRegistry Transfer + ModelRegistered keyed by
the slug hash, Marketplace LicensePurchased, their blocks) and links the
wallets in chain_wallets, the way it promotes the admin: straight into the
database. e2e.test_chain covers the same policy against a real chain.
"""
import itertools
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, SRC, Node, register  # noqa: E402

ROLES = ["anon", "other", "owner", "admin", "holder"]
counter = itertools.count()


def uniq(prefix):
    return "%s%d" % (prefix, next(counter))


# The paid listing's purchase, as the indexer would have recorded it.
PAID_BYTES = b"QX7K9: paid weights, for licence holders only"  # a marker no message holds
TOKEN_ID = "7"
WALLETS = {"owner": "0x" + "a1" * 20, "holder": "0x" + "b2" * 20,
           "other": "0x" + "c3" * 20}  # other: a linked wallet that bought nothing
ZERO_ADDR = "0x" + "00" * 20


def slug_hash(owner, slug):
    """keccak256("owner/slug") (src/chain/manifest.c chain_slug_hash), from ethers: the
    reference peer. Python's hashlib.sha3_256 is SHA-3, not Keccak."""
    r = subprocess.run(["node", "-e", "console.log(require('ethers').id(process.argv[1]))",
                        "%s/%s" % (owner, slug)], capture_output=True, text=True, timeout=120, cwd=SRC)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Fixture:
    """The world the matrix runs in: an owner with listings, versions and tokens, and a
    licence holder of the owner's paid listing."""

    def __init__(self, node):
        self.node = node
        self.tokens = {"anon": None, "owner": register(node, "owner"),
                       "other": register(node, "other"), "holder": register(node, "holder")}
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
        self.paid_listing()
        self.record_licence()

    def paid_listing(self):
        """owner/paid: priced off-chain (PATCH with a price, docs/api.md), version 1.0.0
        published with one stored (so encrypted) file."""
        s, b = self.req("owner", "POST", "/api/v1/models", {"slug": "paid", "title": "Paid"})
        assert s == 201, (s, b)
        s, b = self.req("owner", "PATCH", "/api/v1/models/owner/paid", {"price": "1000"})
        assert s == 200 and b["price"] == "1000", (s, b)
        s, b = self.req("owner", "POST", "/api/v1/models/owner/paid/versions", {"version": "1.0.0"})
        assert s == 201, (s, b)
        s, b = self.req("owner", "POST", "/api/v1/models/owner/paid/versions/1.0.0/uploads",
                        {"name": "w.bin", "size": len(PAID_BYTES)})
        assert s == 201, (s, b)
        s, _, b = self.node.request("PATCH", "/api/v1/uploads/" + b["id"], raw=PAID_BYTES,
                                    token=self.tokens["owner"], content_type=None,
                                    headers={"Upload-Offset": "0",
                                             "Content-Type": "application/offset+octet-stream"})
        assert s == 200, (s, b)
        s, b = self.req("owner", "POST", "/api/v1/models/owner/paid/versions/1.0.0/publish")
        assert s == 200, (s, b)

    def record_licence(self):
        """The holder's licence as the indexer records it (src/chain/indexer.c decode_log,
        store_chain_apply): args as compact JSON with sorted keys, uints as decimal
        strings, addresses and hashes lowercase; model_id from modelId (or the registry
        Transfer's tokenId), account from the first of buyer, to, owner, seller. The owner
        registered owner/paid as token 7 (a mint Transfer, then ModelRegistered keyed by
        the slug hash, metadata URI "agora:owner/paid" as the web UI writes it); the holder
        bought it. Wallets are linked as SIWE linking would (chain_wallets)."""
        import sqlite3
        self.slug_hash = slug_hash("owner", "paid")
        owner, holder = WALLETS["owner"], WALLETS["holder"]
        events = [  # block, log index, contract, name, model_id, account, args
            (100, 0, "ModelRegistry", "Transfer", TOKEN_ID, owner,
             {"from": ZERO_ADDR, "to": owner, "tokenId": TOKEN_ID}),
            (100, 1, "ModelRegistry", "ModelRegistered", TOKEN_ID, owner,
             {"modelId": TOKEN_ID, "owner": owner, "slugHash": self.slug_hash,
              "metadataURI": "agora:owner/paid"}),
            (110, 0, "Marketplace", "LicensePurchased", TOKEN_ID, holder,
             {"modelId": TOKEN_ID, "buyer": holder, "price": "1000", "fee": "25", "royalty": "0",
              "purchaseId": "1", "seller": owner, "versionIndex": "0", "releaseAt": "4102444800"}),
        ]
        db = sqlite3.connect(os.path.join(self.node.data, "agora.db"))
        with db:
            for bn, li, contract, name, model_id, account, args in events:
                db.execute("INSERT INTO chain_events (block_number, block_hash, tx_hash, log_index,"
                           " contract, name, model_id, account, args) VALUES (?,?,?,?,?,?,?,?,?)",
                           (bn, "0x%064x" % bn, "0x%064x" % (bn * 1000 + 1), li, contract, name,
                            model_id, account, json.dumps(args, sort_keys=True, separators=(",", ":"))))
            for bn in (100, 110):
                db.execute("INSERT INTO chain_blocks (number, hash) VALUES (?, ?)", (bn, "0x%064x" % bn))
            for role, addr in WALLETS.items():
                db.execute("INSERT INTO chain_wallets (address, user_id, linked_at)"
                           " SELECT ?, id, strftime('%s', 'now') FROM users WHERE username = ?",
                           (addr, role))
        db.close()

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
    """(method, pattern) -> (request builder, {role: expected status}).

    The listings here are free (pub, priv): the holder's licence is for owner/paid, so
    on them the holder is one more signed-in user and expects what "other" does. Where
    the licence matters, PAID below."""
    P = "/api/v1/models/{owner}/{slug}"
    all200 = {r: 200 for r in ROLES}
    signed = lambda ok: {"anon": 401, "other": ok, "owner": ok, "admin": ok, "holder": ok}  # noqa: E731

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
            {"anon": 401, "other": 404, "owner": 204, "admin": 404, "holder": 404}),
        ("GET", "/api/v1/users/{username}"): (lambda r: ("/api/v1/users/owner", None), all200),
        ("PATCH", "/api/v1/users/{username}"): (
            lambda r: ("/api/v1/users/owner", {"bio": "edited by " + r}),
            {"anon": 401, "other": 403, "owner": 200, "admin": 200, "holder": 403}),
        ("GET", "/api/v1/users/{username}/reviews"): (lambda r: ("/api/v1/users/owner/reviews", None), all200),
        ("GET", "/api/v1/models"): (lambda r: ("/api/v1/models", None), all200),
        ("POST", "/api/v1/models"): (lambda r: ("/api/v1/models", {"slug": uniq("new"), "title": "N"}), signed(201)),
        ("GET", P): (lambda r: ("/api/v1/models/owner/pub", None), all200),
        ("PATCH", P): (lambda r: ("/api/v1/models/owner/pub", {"summary": r}),
                       {"anon": 401, "other": 403, "owner": 200, "admin": 403, "holder": 403}),
        ("DELETE", P): (lambda r: ("/api/v1/models/owner/" + fx.fresh_model(), None),
                        {"anon": 401, "other": 403, "owner": 204, "admin": 204, "holder": 403}),
        ("GET", P + "/versions"): (lambda r: ("/api/v1/models/owner/pub/versions", None), all200),
        ("POST", P + "/versions"): (
            lambda r: ("/api/v1/models/owner/pub/versions", {"version": "9.%d.0" % next(counter)}),
            {"anon": 401, "other": 403, "owner": 201, "admin": 403, "holder": 403}),
        ("GET", P + "/versions/{version}"): (lambda r: ("/api/v1/models/owner/pub/versions/1.0.0", None), all200),
        ("PATCH", P + "/versions/{version}"): (
            lambda r: ("/api/v1/models/owner/pub/versions/" + fx.fresh_draft(), {"changelog": "x"}),
            {"anon": 401, "other": 403, "owner": 200, "admin": 403, "holder": 403}),
        ("POST", P + "/versions/{version}/publish"): (
            lambda r: ("/api/v1/models/owner/pub/versions/%s/publish" % fx.fresh_draft(), None),
            {"anon": 401, "other": 403, "owner": 200, "admin": 403, "holder": 403}),
        ("PUT", P + "/like"): (lambda r: ("/api/v1/models/owner/pub/like", None), signed(200)),
        ("DELETE", P + "/like"): (lambda r: ("/api/v1/models/owner/pub/like", None), signed(200)),
        ("GET", P + "/reviews"): (lambda r: ("/api/v1/models/owner/pub/reviews", None), all200),
        ("POST", P + "/reviews"): (lambda r: ("/api/v1/models/owner/pub/reviews", {"rating": 4}),
                                   {"anon": 401, "other": 201, "owner": 403, "admin": 201, "holder": 201}),
        # storage (issue 3): uploads are their creator's alone (404 to others, admins included)
        ("POST", P + "/versions/{version}/uploads"): (
            lambda r: ("/api/v1/models/owner/pub/versions/%s/uploads" % fx.fresh_draft(),
                       {"name": "f.bin", "size": 10}),
            {"anon": 401, "other": 403, "owner": 201, "admin": 403, "holder": 403}),
        ("GET", "/api/v1/uploads/{id}"): (lambda r: ("/api/v1/uploads/" + fx.fresh_upload(), None),
                                          {"anon": 401, "other": 404, "owner": 200, "admin": 404, "holder": 404}),
        ("PATCH", "/api/v1/uploads/{id}"): (
            lambda r: ("/api/v1/uploads/" + fx.fresh_upload(), None,
                       {"raw": b"ab", "content_type": None,
                        "headers": {"Upload-Offset": "0",
                                    "Content-Type": "application/offset+octet-stream"}}),
            {"anon": 401, "other": 404, "owner": 204, "admin": 404, "holder": 404}),
        ("DELETE", "/api/v1/uploads/{id}"): (lambda r: ("/api/v1/uploads/" + fx.fresh_upload(), None),
                                             {"anon": 401, "other": 404, "owner": 204, "admin": 404, "holder": 404}),
        ("GET", P + "/versions/{version}/files/{name}"): (lambda r: (fx.stored_file(), None), all200),
        ("GET", "/ipfs/{cid}"): (lambda r: ("/ipfs/bafkqaaa?format=raw", None), all200),
        # inference (issue 5): a free model's published file runs for anyone (paid ones:
        # PAID below, test_infer.py); w.bin is no ONNX model, so everyone gets the engine's 422
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


# Hidden resources: what each caller may learn about a private listing (the holder's
# licence is for another listing: it sees what "other" sees).
PRIVATE = [
    ("GET", "/api/v1/models/owner/priv", None,
     {"anon": 404, "other": 404, "owner": 200, "admin": 200, "holder": 404}),
    ("PATCH", "/api/v1/models/owner/priv", {"title": "x"},
     {"anon": 401, "other": 404, "owner": 200, "admin": 403, "holder": 404}),
    ("GET", "/api/v1/models/owner/priv/versions", None,
     {"anon": 404, "other": 404, "owner": 200, "admin": 200, "holder": 404}),
    ("POST", "/api/v1/models/owner/priv/versions", {"version": "1.0.0"},
     {"anon": 401, "other": 404, "owner": 201, "admin": 403, "holder": 404}),
    ("PUT", "/api/v1/models/owner/priv/like", None,
     {"anon": 401, "other": 404, "owner": 200, "admin": 200, "holder": 404}),
    ("POST", "/api/v1/models/owner/priv/reviews", {"rating": 3},
     {"anon": 401, "other": 404, "owner": 403, "admin": 201, "holder": 404}),
]


# Paid content (owner/paid, price 1000, licence held by "holder"): the holder differs from
# "other". Policy: market_file_access() lets through the owner and licence holders only;
# anonymous callers are told to sign in (401), everyone else is refused (403), admins
# included: an admin moderates listings but gets no licence the chain does not hold.
# Inference follows the download policy (w.bin is no ONNX model: 422 for whoever passes).
# (method, path, body, {role: status}, check(fx, role, status, body) -> problem or None)
def refused_or_bytes(fx, role, status, body):
    """A 200 carries exactly the file; a refusal carries none of it."""
    if status == 200:
        return None if body == PAID_BYTES.decode() else "wrong bytes %r" % (body,)
    text = body if isinstance(body, str) else json.dumps(body)
    return "refusal leaks the file" if PAID_BYTES.decode() in text else None


def review_verified(fx, role, status, body):
    if status != 201:
        return None
    want = role == "holder"  # verified = the author holds a licence
    return None if body.get("verified") is want else "verified is %r, expected %r" % (
        body.get("verified"), want)


def library_lists(fx, role, status, body, key="buyer", who="holder"):
    """The holder's library (and the owner's sales) hold the purchase of owner/paid; no one
    else's do."""
    if status != 200:
        return None
    items = body["items"]
    if role != who:
        return None if items == [] else "sees someone else's purchase: %r" % (items,)
    ok = (len(items) == 1 and items[0]["model"] == {"owner": "owner", "slug": "paid"}
          and items[0]["token_id"] == TOKEN_ID and items[0][key] == WALLETS[role]
          and items[0]["status"] == "escrowed")
    return None if ok else "expected the purchase of owner/paid, got %r" % (items,)


def chain_listing(fx, role, status, body):
    c = body.get("chain") if status == 200 else None
    ok = c and c["token_id"] == TOKEN_ID and c["slug_hash"] == fx.slug_hash
    return None if ok else "the indexed registration is not shown: %r" % (c,)


PAID_V = "/api/v1/models/owner/paid/versions/1.0.0"
PAID = [
    ("GET", "/api/v1/models/owner/paid", None,
     {"anon": 200, "other": 200, "owner": 200, "admin": 200, "holder": 200}, chain_listing),
    ("GET", PAID_V + "/files/w.bin", None,
     {"anon": 401, "other": 403, "owner": 200, "admin": 403, "holder": 200}, refused_or_bytes),
    ("POST", PAID_V + "/infer?file=w.bin", {"inputs": {}},
     {"anon": 401, "other": 403, "owner": 422, "admin": 403, "holder": 422}, None),
    ("POST", "/api/v1/models/owner/paid/reviews", {"rating": 5},
     {"anon": 401, "other": 201, "owner": 403, "admin": 201, "holder": 201}, review_verified),
    ("GET", "/api/v1/library", None,
     {"anon": 401, "other": 200, "owner": 200, "admin": 200, "holder": 200}, library_lists),
    ("GET", "/api/v1/sales", None,
     {"anon": 401, "other": 200, "owner": 200, "admin": 200, "holder": 200},
     lambda fx, role, s, b: library_lists(fx, role, s, b, key="seller", who="owner")),
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
        partial = [k for k, (_, expect) in table.items() if sorted(expect) != sorted(ROLES)]
        self.assertEqual(partial, [], "entries without an expected status for every role")

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

    def test_paid_content(self):
        failures = []
        for method, path, body, expect, check in PAID:
            for role in ROLES:
                s, b = self.fx.req(role, method, path, body)
                problem = check(self.fx, role, s, b) if check else None
                if s != expect[role] or problem:
                    failures.append("%s %s as %s: %d, expected %d (%s)" % (
                        method, path, role, s, expect[role], problem or b))
        # A ranged read is a download too: refused the same way, without bytes.
        for role, want in (("anon", 401), ("other", 403), ("admin", 403), ("holder", 206)):
            s, _, b = self.node.request("GET", PAID_V + "/files/w.bin", token=self.fx.tokens[role],
                                        headers={"Range": "bytes=0-4"})
            if s != want or (s != 206 and PAID_BYTES[:5].decode() in str(b)) or (
                    s == 206 and b != PAID_BYTES[:5].decode()):
                failures.append("ranged GET as %s: %d, expected %d (%r)" % (role, s, want, b))
        self.assertEqual(failures, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
