"""test_chain.py - the chain end to end: deploy, index, buy to unlock, reorgs, restarts, SIWE, a dead RPC.

Starts a real anvil on a free port, deploys with `agora chain deploy`, runs
`agora serve --chain-rpc`, and does the on-chain half with ethers 6
(tests/e2e/chain_helper.mjs): the seller registers and prices a model, the
buyer takes faucet tokens and buys, a dispute refunds, anvil's
evm_snapshot/evm_revert replaces blocks. The node must follow all of it.
"""
import hashlib
import http.client
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, SRC, Node, register  # noqa: E402
from chainlib import HELPER, KEYS, ChainNode, deploy, serve, wait_for, write_key  # noqa: E402

CHAIN = os.environ.get("AGORA_TEST_CHAIN", "anvil")
CHAIN_ID = 31337 if CHAIN == "anvil" else 1337
KEY_ADDRESSES = [  # the addresses of chainlib.KEYS, in order
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"]

PRICE = str(5 * 10**18)


def rpc_proxy(upstream, hook):
    """A JSON-RPC proxy to `upstream` on a free port; hook(request) may return an error
    object to answer instead of forwarding. Returns the server (serving on a thread)."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            req = json.loads(body)
            err = hook(req) if isinstance(req, dict) else None
            if err:
                out = json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": err})
                return self.reply(out.encode())
            r = urllib.request.urlopen(urllib.request.Request(
                upstream, body, {"Content-Type": "application/json"}), timeout=10)
            self.reply(r.read())

        def reply(self, data):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Chain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="agora-chain-")
        # anvil by default; AGORA_TEST_CHAIN=ganache runs the same tests on Ganache
        # (tests/chain.cmake registers e2e.test_chain_ganache)
        cls.anvil = ChainNode(CHAIN, os.path.join(cls.dir, "chain-state" + (".json" if CHAIN == "anvil" else "")))
        try:
            cls.setup_chain()
        except BaseException:
            cls.anvil.stop()
            raise

    @classmethod
    def setup_chain(cls):
        cls.chaindir = os.path.join(cls.dir, "deploy")
        if CHAIN != "anvil":
            # KEYS are anvil's funded accounts; on Ganache they start empty
            for address in KEY_ADDRESSES:
                cls.anvil.set_balance(address, 1000 * 10**18)
        keyfile = write_key(os.path.join(cls.dir, "deployer.key"), KEYS[0])
        cls.manifest = deploy(cls.anvil.url, keyfile, cls.chaindir)
        cls.dirs = [cls.dir]
        cls.node = cls.start_node()
        cls.alice = register(cls.node, "alice")
        cls.bob = register(cls.node, "bob")
        cls.carol = register(cls.node, "carol")
        s, _, b = cls.node.request("POST", "/api/v1/models", {"slug": "paid", "title": "Paid",
                                   "price": "5", "visibility": "public"}, token=cls.alice)
        assert s == 201, (s, b)

    @classmethod
    def start_node(cls, data=None, rpc=None, confirmations=0):
        return serve(cls.dirs, rpc or cls.anvil.url, cls.manifest, "--chain-confirmations",
                     str(confirmations), data=data)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.anvil.stop()
        for d in cls.dirs:
            shutil.rmtree(d, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------

    def js(self, cmd, **args):
        r = subprocess.run(["node", HELPER, self.anvil.url, self.manifest, cmd, json.dumps(args)],
                           capture_output=True, text=True, timeout=120, cwd=SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def health(self):
        s, _, b = self.node.request("GET", "/healthz")
        return b["chain"]

    def synced(self):
        head = int(self.anvil.rpc("eth_blockNumber"), 16)
        return wait_for(lambda: (lambda c: c if c.get("status") == "ok" and
                                 c.get("indexed_block") == head else None)(self.health()),
                        30, "the indexer to reach block %d" % head)

    def model(self):
        s, _, b = self.node.request("GET", "/api/v1/models/alice/paid")
        self.assertEqual(s, 200, b)
        return b

    def siwe(self, key, nonce=None, domain=None, node=None, **kw):
        node = node or self.node
        if nonce is None:
            s, _, b = node.request("GET", "/api/v1/auth/siwe/nonce")
            self.assertEqual(s, 200, b)
            nonce = b["nonce"]
        return self.js("siwe", key=key, domain=domain or "%s:%d" % (node.host, node.port),
                       uri=kw.pop("uri", node.url), chainId=kw.pop("chainId", CHAIN_ID),
                       nonce=nonce, **kw)

    def download(self, token, slug="paid"):
        h = {"Authorization": "Bearer " + token} if token else {}
        c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=60)
        try:
            c.request("GET", "/api/v1/models/alice/%s/versions/1.0.0/files/model.bin" % slug,
                      headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def events(self):
        db = sqlite3.connect(os.path.join(self.node.data, "agora.db"))
        try:
            return db.execute("SELECT count(*), count(DISTINCT tx_hash || ':' || log_index)"
                              " FROM chain_events").fetchone()
        finally:
            db.close()

    # ---- the scenario, in order ------------------------------------------------

    def test_1_status_and_cli(self):
        c = self.synced()
        self.assertEqual(c["chain_id"], CHAIN_ID)
        r = subprocess.run([BIN, "chain", "status", "--chain-rpc", self.anvil.url, "--data-dir",
                            self.node.data, "--chain-manifest", self.manifest, "--json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["chain_id"], CHAIN_ID)
        self.assertEqual(st["rpc_status"], "ok")
        self.assertIn("Marketplace", st["contracts"])
        self.assertIsNotNone(st["indexed_block"])
        # deploying twice into the same data dir is refused
        r = subprocess.run([BIN, "chain", "deploy", "--chain-rpc", self.anvil.url, "--key-file",
                            "/dev/null", "--data-dir", self.chaindir], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already deployed", r.stderr)

    def publish_file(self, node, token, data, slug="paid"):
        s, _, b = node.request("POST", "/api/v1/models/alice/%s/versions" % slug,
                               {"version": "1.0.0"}, token=token)
        self.assertEqual(s, 201, b)
        s, _, up = node.request("POST", "/api/v1/models/alice/%s/versions/1.0.0/uploads" % slug,
                                {"name": "model.bin", "size": len(data)}, token=token)
        self.assertEqual(s, 201, up)
        s, _, f = node.request("PATCH", "/api/v1/uploads/" + up["id"], raw=data,
                               content_type=None, token=token,
                               headers={"Upload-Offset": "0",
                                        "Content-Type": "application/offset+octet-stream"})
        self.assertEqual(s, 200, f)
        s, _, b = node.request("POST", "/api/v1/models/alice/%s/versions/1.0.0/publish" % slug,
                               token=token)
        self.assertEqual(s, 200, b)
        return f

    def test_2_listing_shows_token_owner_price(self):
        self.assertIsNone(self.model()["chain"])
        data = hashlib.sha256(b"weights").digest() * 1000
        f = self.publish_file(self.node, self.alice, data)
        Chain.data = data
        # The seller's wallet is linked to her account first (`agora publish` and
        # the web do so): the node honours only tokens her linked wallet registered.
        self.link(KEYS[1], self.alice)
        reg = self.js("register", key=KEYS[1], slug="alice/paid")
        Chain.token_id = reg["modelId"]
        self.js("publish", key=KEYS[1], modelId=reg["modelId"], version="1.0.0", cid=f["cid"],
                sha256=f["sha256"])
        self.js("price", key=KEYS[1], modelId=reg["modelId"], price=PRICE)
        self.synced()
        ch = self.model()["chain"]
        self.assertEqual(ch["token_id"], reg["modelId"])
        self.assertEqual(ch["owner"], "0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
        self.assertEqual(ch["price"], PRICE)
        self.assertEqual(ch["versions"], 1)

    def test_3_siwe_link_and_buy_unlocks_download(self):
        # not signed in: 401; signed in without a licence: 403
        self.assertEqual(self.download(None)[0], 401)
        self.assertEqual(self.download(self.bob)[0], 403)
        m = self.siwe(KEYS[2])
        s, _, b = self.node.request("POST", "/api/v1/auth/siwe/link",
                                    {"message": m["message"], "signature": m["signature"]},
                                    token=self.bob)
        self.assertEqual(s, 201, b)
        self.assertEqual(b["address"], m["address"].lower())
        # the same address cannot be linked to another account
        m2 = self.siwe(KEYS[2])
        s, _, b = self.node.request("POST", "/api/v1/auth/siwe/link",
                                    {"message": m2["message"], "signature": m2["signature"]},
                                    token=self.carol)
        self.assertEqual(s, 409, b)
        self.assertEqual(self.download(self.bob)[0], 403)
        Chain.snapshot = self.anvil.rpc("evm_snapshot")
        buy = self.js("buy", key=KEYS[2], modelId=self.token_id)
        Chain.purchase = buy["purchaseId"]
        self.synced()
        s, body = self.download(self.bob)
        self.assertEqual(s, 200)
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.data).digest())
        self.assertEqual(self.download(self.carol)[0], 403)
        s, _, w = self.node.request("GET", "/api/v1/auth/wallets", token=self.bob)
        self.assertEqual(s, 200, w)
        self.assertEqual([l["token_id"] for l in w["licences"]], [self.token_id])
        # a licence holder's review is verified; anyone else's is not
        s, _, b = self.node.request("POST", "/api/v1/models/alice/paid/reviews",
                                    {"rating": 5, "body": "works"}, token=self.bob)
        self.assertIn(s, (200, 201), b)
        s, _, b = self.node.request("POST", "/api/v1/models/alice/paid/reviews",
                                    {"rating": 1, "body": "never tried"}, token=self.carol)
        self.assertIn(s, (200, 201), b)
        s, _, b = self.node.request("GET", "/api/v1/models/alice/paid/reviews")
        items = b["reviews"] if isinstance(b, dict) and "reviews" in b else b.get("items", b)
        verified = {r["user"]: r["verified"] for r in items}
        self.assertEqual(verified, {"bob": True, "carol": False})

    def test_4_reorg_rolls_back_and_reindexes(self):
        before = self.health()["reorgs"]
        n_before = self.events()[0]
        # replace the purchase's blocks with a longer fork of empty blocks
        self.assertTrue(self.anvil.rpc("evm_revert", self.snapshot))
        for _ in range(6):
            self.anvil.rpc("evm_mine")
        self.synced()
        self.assertGreater(self.health()["reorgs"], before)
        self.assertLess(self.events()[0], n_before)
        self.assertEqual(self.download(self.bob)[0], 403)
        # buying on the new fork is indexed like any other purchase
        buy = self.js("buy", key=KEYS[2], modelId=self.token_id)
        Chain.purchase = buy["purchaseId"]
        self.synced()
        self.assertEqual(self.download(self.bob)[0], 200)
        n, distinct = self.events()
        self.assertEqual(n, distinct)

    def test_4b_log_range_shrinks_on_rpc_errors(self):
        # A proxy in front of anvil refuses eth_getLogs over more than 2 blocks,
        # as providers do ("query returned more than 10000 results"): a fresh
        # node must still index everything, in smaller ranges.
        seen = []

        def hook(req):
            if req.get("method") == "eth_getLogs":
                f = req["params"][0]
                span = int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1
                seen.append(span)
                if span > 2:
                    return {"code": -32005, "message": "query returned more than 10000 results"}
            return None

        srv = rpc_proxy(self.anvil.url, hook)
        n = self.start_node(rpc="http://127.0.0.1:%d" % srv.server_address[1])
        try:
            head = int(self.anvil.rpc("eth_blockNumber"), 16)
            wait_for(lambda: (lambda s: s["status"] == "ok" and s["indexed_block"] == head)(
                n.request("GET", "/api/v1/chain")[2]), 60, "the proxied node to catch up")
            db = sqlite3.connect(os.path.join(n.data, "agora.db"))
            got = db.execute("SELECT count(*) FROM chain_events").fetchone()[0]
            db.close()
            self.assertEqual(got, self.events()[0])
            self.assertTrue(any(s > 2 for s in seen) and any(s <= 2 for s in seen), seen[:20])
        finally:
            n.cleanup()
            n.proc.stdout.close()
            srv.shutdown()
            srv.server_close()

    def test_5_restart_resumes_without_duplicates(self):
        n_before, _ = self.events()
        data = self.node.data
        self.assertEqual(self.node.stop(), 0)
        self.node.proc.stdout.close()
        # activity while the node is down
        self.js("price", key=KEYS[1], modelId=self.token_id, price=str(6 * 10**18))
        Chain.node = self.start_node(data=data)
        self.synced()
        n, distinct = self.events()
        self.assertEqual(n, distinct)
        self.assertEqual(n, n_before + 1)
        self.assertEqual(self.model()["chain"]["price"], str(6 * 10**18))
        self.assertEqual(self.download(self.bob)[0], 200)

    def test_5b_lagging_index_asks_the_chain(self):
        # a node whose index is far behind (huge confirmation depth) still
        # unlocks a buyer's download by asking hasLicense on-chain
        lag = self.start_node(confirmations=10000)
        old, Chain.node = Chain.node, lag
        try:
            s, _, b = lag.request("GET", "/api/v1/chain")
            self.assertEqual(s, 200, b)
            alice, dave = register(lag, "alice"), register(lag, "dave")
            s, _, b = lag.request("POST", "/api/v1/models", {"slug": "paid", "title": "Paid",
                                  "price": "5", "visibility": "public"}, token=alice)
            self.assertEqual(s, 201, b)
            self.publish_file(lag, alice, self.data)
            self.assertEqual(self.download(dave)[0], 403)
            m = self.siwe(KEYS[2])
            s, _, b = lag.request("POST", "/api/v1/auth/siwe/link",
                                  {"message": m["message"], "signature": m["signature"]},
                                  token=dave)
            self.assertEqual(s, 201, b)
            s, body = self.download(dave)
            self.assertEqual(s, 200)
            self.assertEqual(body, self.data)
        finally:
            Chain.node = old
            lag.cleanup()
            lag.proc.stdout.close()

    def test_5c_second_node_on_same_database_stands_by(self):
        # two nodes on one database: one holds the indexing lease, the other
        # stands by and serves from the same index
        second = self.start_node(data=self.node.data)
        try:
            st = wait_for(lambda: (lambda s: s if s["status"] == "standby" else None)(
                second.request("GET", "/api/v1/chain")[2]), 30, "the second node to stand by")
            self.assertEqual(st["events_indexed"], 0)
            self.js("price", key=KEYS[1], modelId=self.token_id, price=PRICE)
            self.synced()
            s, _, b = second.request("GET", "/api/v1/models/alice/paid")
            self.assertEqual(b["chain"]["price"], PRICE)
            n, distinct = self.events()
            self.assertEqual(n, distinct)
        finally:
            self.assertEqual(second.stop(), 0)
            second.proc.stdout.close()

    def test_6_dispute_refund_revokes_access(self):
        d = self.js("dispute", key=KEYS[2], purchaseId=self.purchase)
        self.js("rule", key=KEYS[0], disputeId=d["disputeId"], ruling=1)
        self.synced()
        self.assertEqual(self.download(self.bob)[0], 403)
        s, _, w = self.node.request("GET", "/api/v1/auth/wallets", token=self.bob)
        self.assertEqual(w["licences"], [])
        # bob's review (test_3) no longer counts as a verified purchase, on the
        # listing and on his profile (signed in: no micro-cached answer)
        s, _, b = self.node.request("GET", "/api/v1/models/alice/paid/reviews", token=self.carol)
        items = b["reviews"] if isinstance(b, dict) and "reviews" in b else b.get("items", b)
        self.assertEqual({r["user"]: r["verified"] for r in items}, {"bob": False, "carol": False})
        s, _, b = self.node.request("GET", "/api/v1/users/bob/reviews", token=self.carol)
        self.assertEqual(s, 200, b)
        items = b["reviews"] if isinstance(b, dict) and "reviews" in b else b.get("items", b)
        self.assertEqual([(r["model"], r["verified"]) for r in items], [("alice/paid", False)])

    def test_7_siwe_login(self):
        m = self.siwe(KEYS[3], expiresIn=300)
        s, _, b = self.node.request("POST", "/api/v1/auth/siwe",
                                    {"message": m["message"], "signature": m["signature"],
                                     "token_name": "cli"})
        self.assertEqual(s, 200, b)
        self.assertTrue(b["user"]["username"].startswith("eth-"))
        s, _, me = self.node.request("GET", "/api/v1/auth/me", token=b["token"])
        self.assertEqual(s, 200, me)
        # a used nonce is refused
        s, _, b2 = self.node.request("POST", "/api/v1/auth/siwe",
                                     {"message": m["message"], "signature": m["signature"]})
        self.assertEqual(s, 401, b2)
        # signing in again (session) finds the same account
        m = self.siwe(KEYS[3])
        s, h, b3 = self.node.request("POST", "/api/v1/auth/siwe",
                                     {"message": m["message"], "signature": m["signature"]})
        self.assertEqual(s, 200, b3)
        self.assertEqual(b3["user"]["username"], b["user"]["username"])
        self.assertIn("agora_session=", h["set-cookie"])
        # wrong domain, URI or chain, unknown nonce, expired message, tampered message
        for bad in (self.siwe(KEYS[3], domain="evil.example"),
                    self.siwe(KEYS[3], uri="https://evil.example/login"),
                    self.siwe(KEYS[3], chainId=1),
                    self.siwe(KEYS[3], nonce="neverissued1234"),
                    self.siwe(KEYS[3], expiresIn=-60)):
            s, _, e = self.node.request("POST", "/api/v1/auth/siwe",
                                        {"message": bad["message"], "signature": bad["signature"]})
            self.assertEqual(s, 401, e)
        m = self.siwe(KEYS[3])
        s, _, e = self.node.request("POST", "/api/v1/auth/siwe",
                                    {"message": m["message"].replace("Sign in", "Sign on"),
                                     "signature": m["signature"]})
        self.assertEqual(s, 401, e)
        s, _, e = self.node.request("POST", "/api/v1/auth/siwe",
                                    {"message": "garbage", "signature": "0x12"})
        self.assertEqual(s, 400, e)

    def test_7b_siwe_origin_is_a_node_setting_not_the_host_header(self):
        # A phishing site fetches a nonce, has the user sign a message for its
        # own domain and URI, and posts it with a matching Host header: refused.
        for host in ("evil.example", "evil.example:%d" % self.node.port):
            bad = self.siwe(KEYS[3], domain=host, uri="http://%s/login" % host)
            for body in ({}, {"token_name": "stolen"}):
                body.update(message=bad["message"], signature=bad["signature"])
                s, _, e = self.node.request("POST", "/api/v1/auth/siwe", body,
                                            headers={"Host": host})
                self.assertEqual(s, 401, e)
                self.assertEqual(e["error"]["field"], "domain", e)
        # the node's own origin with a spoofed Host still signs in: Host is not consulted
        m = self.siwe(KEYS[3])
        s, _, b = self.node.request("POST", "/api/v1/auth/siwe",
                                    {"message": m["message"], "signature": m["signature"]},
                                    headers={"Host": "evil.example"})
        self.assertEqual(s, 200, b)
        # --public-origin names where users reach the node (e.g. behind a proxy):
        # messages for it pass, the listen address's are refused
        n = serve(self.dirs, self.anvil.url, self.manifest, "--public-origin",
                  "https://Agora.Example:443/, http://localhost:1")
        try:
            m = self.siwe(KEYS[3], node=n, domain="agora.example",
                          uri="https://agora.example/account")
            s, _, b = n.request("POST", "/api/v1/auth/siwe",
                                {"message": m["message"], "signature": m["signature"],
                                 "token_name": "proxied"})
            self.assertEqual(s, 200, b)
            for dom, uri in (("%s:%d" % (n.host, n.port), n.url),
                             ("agora.example", "http://agora.example/"),
                             ("agora.example", "https://evil.example/")):
                bad = self.siwe(KEYS[3], node=n, domain=dom, uri=uri)
                s, _, e = n.request("POST", "/api/v1/auth/siwe",
                                    {"message": bad["message"], "signature": bad["signature"]},
                                    headers={"Host": dom})
                self.assertEqual(s, 401, (dom, uri, e))
        finally:
            self.assertEqual(n.stop(), 0)
            n.proc.stdout.close()
        # a malformed setting stops the node before it serves
        r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                            os.path.join(self.dir, "never"), "--public-origin",
                            "agora.example/app"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("public origin", r.stderr)

    def test_7c_siwe_without_a_chain_is_refused(self):
        # no chain, no chain id to check: a well-signed message is refused (409, not "any chain")
        n = Node(args=["--public-origin", "http://agora.test"])
        self.dirs.append(n.dir)
        try:
            m = self.siwe(KEYS[3], node=n, domain="agora.test", uri="http://agora.test/")
            s, _, e = n.request("POST", "/api/v1/auth/siwe",
                                {"message": m["message"], "signature": m["signature"]})
            self.assertEqual(s, 409, e)
            self.assertIn("follows no chain", e["error"]["message"])
            s, _, e = n.request("POST", "/api/v1/auth/siwe", {"message": "garbage",
                                                              "signature": "0x12"})
            self.assertEqual(s, 400, e)
        finally:
            self.assertEqual(n.stop(), 0)
            n.proc.stdout.close()

    def link(self, key, token):
        m = self.siwe(key)
        s, _, b = self.node.request("POST", "/api/v1/auth/siwe/link",
                                    {"message": m["message"], "signature": m["signature"]},
                                    token=token)
        self.assertEqual(s, 201, b)
        return b["address"]

    def listing(self, slug, price, data):
        s, _, b = self.node.request("POST", "/api/v1/models", {"slug": slug, "title": slug,
                                    "price": price, "visibility": "public"}, token=self.alice)
        self.assertEqual(s, 201, b)
        self.publish_file(self.node, self.alice, data, slug=slug)

    def test_7d_onchain_price_and_token_owner_gate_downloads(self):
        seller = KEY_ADDRESSES[1].lower()  # linked to alice in test_2
        carol = self.link(KEYS[4], self.carol)
        data = hashlib.sha256(b"cheap").digest() * 100
        # free on the node, priced on chain by the seller: paid
        self.listing("cheap", "0", data)
        self.assertEqual(self.download(self.carol, "cheap"), (200, data))
        cheap = self.js("register", key=KEYS[1], slug="alice/cheap")["modelId"]
        self.js("price", key=KEYS[1], modelId=cheap, price=PRICE)
        self.synced()
        self.assertEqual(self.model()["chain"]["registrant"], seller)
        self.assertEqual(self.download(None, "cheap")[0], 401)
        self.assertEqual(self.download(self.carol, "cheap")[0], 403)
        self.assertEqual(self.download(self.alice, "cheap"), (200, data))
        # the token moves to carol's wallet, carol prices it: carol reads it as its owner,
        # a non-buyer still cannot
        self.js("transfer", key=KEYS[1], modelId=cheap, to=carol)
        self.js("price", key=KEYS[4], modelId=cheap, price=PRICE)
        self.synced()
        self.assertEqual(self.download(self.carol, "cheap"), (200, data))
        self.assertEqual(self.download(self.bob, "cheap")[0], 403)
        # a stranger (bob's wallet) registering alice's slugs first changes nothing:
        # a free listing stays free, a paid one stays closed to him
        self.listing("free", "0", data)
        self.listing("secret", "5", data)
        squat = {}
        for slug in ("free", "secret"):
            squat[slug] = self.js("register", key=KEYS[2], slug="alice/" + slug)["modelId"]
            self.js("price", key=KEYS[2], modelId=squat[slug], price=PRICE)
        self.synced()
        self.assertEqual(self.download(self.carol, "free"), (200, data))
        self.assertEqual(self.download(self.bob, "secret")[0], 403)
        # ... nor does a licence bought on the squatted token (carol's linked wallet
        # buys it from bob): licences count only on the seller's own token
        self.js("publish", key=KEYS[2], modelId=squat["secret"], version="1.0.0",
                cid="bafkqaaa", sha256=hashlib.sha256(data).hexdigest())
        self.js("buy", key=KEYS[4], modelId=squat["secret"])
        self.synced()
        self.assertEqual(self.download(self.carol, "secret")[0], 403)

    def test_7e_refusals_ask_the_chain_only_when_the_index_lags(self):
        # A non-buyer's refused downloads must not each cost RPC calls: none
        # while the index is at the head, and while it lags one hasLicense
        # check per account and model every few seconds (LICENCE_MISS_TTL_S).
        calls, lag, sick = [], {"on": False}, {"on": False}

        def hook(req):
            if req.get("method") == "eth_call":
                calls.append(req["params"][0].get("to"))
                if sick["on"]:
                    return {"code": -32603, "message": "the RPC node is sick (test)"}
            if lag["on"] and req.get("method") == "eth_getLogs":
                return {"code": -32000, "message": "index held back by the test"}
            return None

        srv = rpc_proxy(self.anvil.url, hook)
        n = self.start_node(rpc="http://127.0.0.1:%d" % srv.server_address[1])
        old, Chain.node = Chain.node, n
        try:
            alice, dave = register(n, "alice"), register(n, "dave")
            s, _, b = n.request("POST", "/api/v1/models", {"slug": "paid", "title": "Paid",
                                "price": "5", "visibility": "public"}, token=alice)
            self.assertEqual(s, 201, b)
            self.publish_file(n, alice, self.data)
            m = self.siwe(KEYS[1], node=n)  # the seller's wallet, which registered alice/paid
            s, _, b = n.request("POST", "/api/v1/auth/siwe/link",
                                {"message": m["message"], "signature": m["signature"]},
                                token=alice)
            self.assertEqual(s, 201, b)
            m = self.siwe(KEYS[4], node=n)
            s, _, b = n.request("POST", "/api/v1/auth/siwe/link",
                                {"message": m["message"], "signature": m["signature"]},
                                token=dave)
            self.assertEqual(s, 201, b)
            self.synced()
            del calls[:]
            for _ in range(5):
                self.assertEqual(self.download(dave)[0], 403)
            self.assertEqual(calls, [])
            # hold the index back and move the head: now the chain is asked, once
            lag["on"] = True
            head = int(self.anvil.rpc("eth_blockNumber"), 16)
            self.anvil.rpc("evm_mine")
            wait_for(lambda: n.request("GET", "/api/v1/chain")[2]["head"] > head, 30,
                     "the node to see the new head")
            for _ in range(5):
                self.assertEqual(self.download(dave)[0], 403)
            self.assertEqual(len(calls), 2, calls)  # modelIdBySlug, hasLicense
            time.sleep(6)
            self.assertEqual(self.download(dave)[0], 403)
            self.assertEqual(len(calls), 4, calls)
            # the RPC node fails: one failed call, then none for anyone for a while
            # (LICENCE_RPC_BACKOFF_S), though every cached "no" has expired
            erin = register(n, "erin")
            m = self.siwe(KEYS[3], node=n)
            s, _, b = n.request("POST", "/api/v1/auth/siwe/link",
                                {"message": m["message"], "signature": m["signature"]},
                                token=erin)
            self.assertEqual(s, 201, b)
            sick["on"] = True
            del calls[:]
            time.sleep(6)
            self.assertEqual(self.download(erin)[0], 403)
            self.assertEqual(len(calls), 1, calls)
            for who in (erin, dave, erin, dave):
                self.assertEqual(self.download(who)[0], 403)
            self.assertEqual(len(calls), 1, calls)
            sick["on"] = False
            lag["on"] = False
        finally:
            Chain.node = old
            self.assertEqual(n.stop(), 0)
            n.proc.stdout.close()
            srv.shutdown()
            srv.server_close()

    def test_8_dead_rpc_is_reported_and_recovers(self):
        self.anvil.stop()
        c = wait_for(lambda: (lambda c: c if c["status"] == "error" else None)(self.health()),
                     30, "the chain status to show the error")
        self.assertTrue(c.get("error"))
        s, _, b = self.node.request("GET", "/api/v1/models/alice/paid")
        self.assertEqual(s, 200, b)
        r = subprocess.run([BIN, "chain", "status", "--chain-rpc", self.anvil.url, "--data-dir",
                            self.node.data, "--chain-manifest", self.manifest],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.anvil.start()
        self.synced()
        self.assertEqual(self.health()["status"], "ok")

    def test_9_clean_shutdown(self):
        self.assertEqual(self.node.stop(), 0)
        self.node.proc.stdout.close()
        with open(os.path.join(self.node.dir, "node.log"), errors="replace") as f:
            log = f.read()
        self.assertNotIn("AddressSanitizer", log)
        self.assertNotIn("runtime error", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
