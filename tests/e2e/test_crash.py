"""test_crash.py - crash consistency: kill -9 the node mid-work, restart, check nothing is lost or torn.

Two scenarios, each against a real `agora serve` killed with SIGKILL:

* 100 concurrent resumable uploads (free files in clear, paid files
  encrypted), sent in pieces. After the kill and a restart on the same data
  directory: `PRAGMA integrity_check` is ok, `agora ipfs verify` finds no
  bad block, every upload the node reported complete is intact (its bytes
  hash to the declared sha256, and a free file's CID is the one the JS
  reference importer computes), every other upload either resumes from the
  node's offset to a correct file or had completed, and uploads left
  unfinished are expired cleanly (row, .part file) once their time is up.
* Purchases on a real anvil chain while the node indexes them, the node
  killed several times mid-indexing. After the last restart the index
  catches up: as many purchases indexed as the chain holds, no event twice.
"""
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, SRC, Node, register  # noqa: E402

OCTET = "application/offset+octet-stream"
UPLOADS = 100
PIECE = 128 * 1024


def pattern(n, seed):
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(b"crash:%d:%d" % (seed, block)).digest()
        block += 1
    return bytes(out[:n])


def js_cid(path):
    r = subprocess.run(["node", os.path.join(SRC, "tests/ipfs/reference.mjs"), path],
                       capture_output=True, text=True, check=True, cwd=SRC, timeout=120)
    return r.stdout.strip()


def integrity(db_path):
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def verify_blocks(data_dir):
    return subprocess.run([BIN, "ipfs", "verify", "--data-dir", data_dir], capture_output=True,
                          text=True, timeout=600)


def kill9(node):
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=30)
    node.proc.stdout.close()
    node.log.close()


class Upload:
    """One client's upload, sent in PIECE-sized PATCH requests."""

    def __init__(self, i, slug, version):
        self.i, self.slug, self.version = i, slug, version
        self.name = "w%03d.bin" % i
        self.data = pattern(random.Random(i).randint(16 * 1024, 2 * 1024 * 1024), i)
        self.sha = hashlib.sha256(self.data).hexdigest()
        self.id = None
        self.acked = 0        # bytes the node acknowledged (204/200 answers)
        self.file = None      # the file entry of a 200: the node said complete
        self.error = None

    def run(self, node, token, start):
        c = http.client.HTTPConnection(node.host, node.port, timeout=60)
        h = {"Authorization": "Bearer " + token}
        try:
            c.request("POST", "/api/v1/models/alice/%s/versions/%s/uploads" % (self.slug,
                      self.version), json.dumps({"name": self.name, "size": len(self.data),
                                                 "sha256": self.sha}),
                      dict(h, **{"Content-Type": "application/json"}))
            r = c.getresponse()
            b = json.loads(r.read())
            if r.status != 201:
                self.error = (r.status, b)
                return
            self.id = b["id"]
            start.wait()
            if self.i % 3 == 2:
                # One PATCH for the whole file, trickled: the node imports it
                # as it arrives (a blockstore batch staged on disk).
                def body():
                    for off in range(0, len(self.data), 32 * 1024):
                        yield self.data[off:off + 32 * 1024]
                        time.sleep(0.004)
                c.request("PATCH", "/api/v1/uploads/" + self.id, body(),
                          dict(h, **{"Content-Type": OCTET, "Upload-Offset": "0",
                                     "Content-Length": str(len(self.data))}))
                r = c.getresponse()
                b = r.read()
                if r.status != 200:
                    self.error = (r.status, b)
                    return
                self.file = json.loads(b)
                self.acked = len(self.data)
            while self.acked < len(self.data):
                piece = self.data[self.acked:self.acked + PIECE]
                c.request("PATCH", "/api/v1/uploads/" + self.id, piece,
                          dict(h, **{"Content-Type": OCTET, "Upload-Offset": str(self.acked)}))
                r = c.getresponse()
                body = r.read()
                if r.status == 200:
                    self.file = json.loads(body)
                    self.acked = len(self.data)
                elif r.status == 204:
                    self.acked = int(r.getheader("Upload-Offset"))
                else:
                    self.error = (r.status, body)
                    return
                time.sleep(0.005)
        except (OSError, http.client.HTTPException):
            pass  # the node was killed
        finally:
            c.close()


class CrashDuringUploads(unittest.TestCase):
    def setUp(self):
        self.dirs = []

    def tearDown(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def start(self, data=None, args=()):
        n = Node(args=["--rate-ip", "0", "--rate-account", "0", "--max-upload-size",
                       str(1 << 30), *args] + (["--data-dir", data] if data else []))
        if data:
            n.data = data
        self.dirs.append(n.dir)
        return n

    def staged_files(self, data):
        out = []
        for root, _, files in os.walk(os.path.join(data, "blocks")):
            out += [os.path.join(root, f) for f in files if f.startswith(".tmp-")]
        return out

    def versions_files(self, node, token, slug, version):
        s, _, b = node.request("GET", "/api/v1/models/alice/%s/versions/%s" % (slug, version),
                               token=token)
        self.assertEqual(s, 200, b)
        return {f["name"]: f for f in b.get("files", [])}

    def download(self, node, token, u):
        c = http.client.HTTPConnection(node.host, node.port, timeout=120)
        try:
            c.request("GET", "/api/v1/models/alice/%s/versions/%s/files/%s" % (u.slug, u.version,
                      u.name), headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_kill_during_100_uploads(self):
        node = self.start()
        alice = register(node, "alice")
        uploads = []
        for slug, price in [("free", "0"), ("paid", "1000")]:
            s, _, b = node.request("POST", "/api/v1/models", {"slug": slug, "title": slug,
                                   "price": price, "visibility": "public"}, token=alice)
            self.assertEqual(s, 201, b)
            for v in range(5):
                s, _, b = node.request("POST", "/api/v1/models/alice/%s/versions" % slug,
                                       {"version": "1.%d.0" % v}, token=alice)
                self.assertEqual(s, 201, b)
        for i in range(UPLOADS):
            uploads.append(Upload(i, "free" if i % 2 == 0 else "paid", "1.%d.0" % (i % 10 // 2)))
        start = threading.Event()
        threads = [threading.Thread(target=u.run, args=(node, alice, start)) for u in uploads]
        for t in threads:
            t.start()
        # Every upload exists before the clock starts: then kill mid-stream.
        deadline = time.time() + 60
        while sum(1 for u in uploads if u.id or u.error) < UPLOADS and time.time() < deadline:
            time.sleep(0.01)
        self.assertEqual([u.error for u in uploads if u.error], [])
        start.set()
        deadline = time.time() + 60
        while time.time() < deadline:
            done = sum(1 for u in uploads if u.file)
            if done >= 15:
                break
            time.sleep(0.01)
        kill9(node)
        for t in threads:
            t.join(timeout=60)
        self.assertEqual([u.error for u in uploads if u.error], [])
        done = [u for u in uploads if u.file]
        partial = [u for u in uploads if not u.file]
        sys.stderr.write("crash: %d uploads reported complete, %d in flight or partial "
                         "(%d bytes acknowledged among them)\n"
                         % (len(done), len(partial), sum(u.acked for u in partial)))
        self.assertGreater(len(done), 0)
        self.assertGreater(len(partial), 0, "the kill came too late to catch uploads in flight")

        # Cold checks, with the node down.
        db = os.path.join(node.data, "agora.db")
        self.assertEqual(integrity(db), [("ok",)])
        r = verify_blocks(node.data)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(" 0 bad", r.stdout)
        staged = self.staged_files(node.data)
        sys.stderr.write("crash: %s; %d staged block files left by imports cut short\n"
                         % (r.stdout.strip(), len(staged)))

        node = self.start(node.data)
        # Everything reported complete is there, intact.
        free_checked = 0
        for u in done:
            files = self.versions_files(node, alice, u.slug, u.version)
            self.assertIn(u.name, files)
            f = files[u.name]
            self.assertEqual((f["cid"], f["sha256"], f["size"]),
                             (u.file["cid"], u.sha, len(u.data)))
            s, body = self.download(node, alice, u)
            self.assertEqual(s, 200)
            self.assertEqual(hashlib.sha256(body).hexdigest(), u.sha, u.name)
            if u.slug == "free" and free_checked < 12:
                path = os.path.join(self.dirs[-1], u.name)
                with open(path, "wb") as fh:
                    fh.write(u.data)
                self.assertEqual(js_cid(path), u.file["cid"], u.name)
                free_checked += 1
            r = subprocess.run([BIN, "ipfs", "verify", f["cid"], "--data-dir", node.data],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)

        # The rest: resumable from the node's offset, or completed just
        # before the kill (the answer never reached the client).
        keep = partial[:3]  # left unfinished, to expire
        resumed = completed_unseen = 0
        for u in partial[3:]:
            s, _, b = node.request("GET", "/api/v1/uploads/" + u.id, token=alice)
            if s == 404:
                files = self.versions_files(node, alice, u.slug, u.version)
                self.assertIn(u.name, files, "upload %s vanished without a file" % u.id)
                self.assertEqual(files[u.name]["sha256"], u.sha)
                completed_unseen += 1
                continue
            self.assertEqual(s, 200, b)
            off = b["offset"]
            self.assertGreaterEqual(off, u.acked, "acknowledged bytes were lost")
            self.assertLessEqual(off, len(u.data))
            while True:
                s, h, f = node.request("PATCH", "/api/v1/uploads/" + u.id,
                                       raw=u.data[off:off + 4 * PIECE], content_type=None,
                                       token=alice,
                                       headers={"Content-Type": OCTET, "Upload-Offset": str(off)})
                if s == 200:
                    break
                self.assertEqual(s, 204, f)
                off = int(h["upload-offset"])
            self.assertEqual(f["sha256"], u.sha, "resumed upload %s differs" % u.name)
            s, body = self.download(node, alice, u)
            self.assertEqual((s, hashlib.sha256(body).hexdigest()), (200, u.sha))
            resumed += 1
        sys.stderr.write("crash: %d resumed to completion, %d had completed unseen\n"
                         % (resumed, completed_unseen))

        # Uploads left behind expire cleanly once their time is up (a day
        # passing is simulated by moving their expiry into the past).
        node.stop()
        parts = os.path.join(node.data, "uploads")
        db = sqlite3.connect(os.path.join(node.data, "agora.db"))
        db.execute("UPDATE uploads SET expires_at = 1 WHERE id IN (%s)"
                   % ",".join("?" * len(keep)), [u.id for u in keep])
        db.commit()
        db.close()
        # .part files without a row (a crash between commit and unlink) go
        # once older than the upload lifetime.
        for f in os.listdir(parts):
            if f[:-5] not in {u.id for u in keep}:
                os.utime(os.path.join(parts, f), (1, 1))
        node = self.start(node.data, ["--cleanup-interval", "1"])
        deadline = time.time() + 30
        while os.listdir(parts) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(os.listdir(parts), [], "upload parts left behind")
        for u in keep:
            s, _, _ = node.request("GET", "/api/v1/uploads/" + u.id, token=alice)
            self.assertEqual(s, 404)
        node.stop()
        self.assertEqual(integrity(os.path.join(node.data, "agora.db")), [("ok",)])
        r = verify_blocks(node.data)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)



class CrashDuringIndexing(unittest.TestCase):
    """Purchases land on a real anvil while the indexing node is killed again and again."""

    @classmethod
    def setUpClass(cls):
        from chainlib import ChainNode  # the dev-chain harness of the chain tests
        cls.dir = tempfile.mkdtemp(prefix="agora-crash-chain-")
        cls.anvil = ChainNode("anvil", os.path.join(cls.dir, "anvil-state.json"))
        cls.dirs = [cls.dir]

    @classmethod
    def tearDownClass(cls):
        cls.anvil.stop()
        for d in cls.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def js(self, cmd, **args):
        from chainlib import HELPER
        r = subprocess.run(["node", HELPER, self.anvil.url, self.manifest, cmd, json.dumps(args)],
                           capture_output=True, text=True, timeout=120, cwd=SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def start(self, data):
        n = Node(args=["--rate-ip", "0", "--rate-account", "0", "--chain-rpc", self.anvil.url,
                       "--chain-manifest", self.manifest, "--chain-poll-ms", "50",
                       "--chain-confirmations", "0", "--data-dir", data])
        n.data = data
        self.dirs.append(n.dir)
        return n

    def synced(self, node, timeout=120):
        head = int(self.anvil.rpc("eth_blockNumber"), 16)
        end = time.time() + timeout
        last = None
        while time.time() < end:
            s, _, b = node.request("GET", "/healthz")
            last = b.get("chain") if isinstance(b, dict) else b
            if s == 200 and last.get("status") == "ok" and last.get("indexed_block") == head:
                return head
            time.sleep(0.1)
        self.fail("the indexer did not reach block %d: %r" % (head, last))

    def index(self, data):
        db = sqlite3.connect(os.path.join(data, "agora.db"), timeout=30)
        try:
            return db.execute("SELECT tx_hash, log_index, name, block_number, model_id, account"
                              " FROM chain_events ORDER BY block_number, log_index").fetchall()
        finally:
            db.close()

    def test_kill_while_indexing_purchases(self):
        from chainlib import KEYS
        keyfile = os.path.join(self.dir, "deployer.key")
        with open(keyfile, "w") as f:
            f.write(KEYS[0] + "\n")
        os.chmod(keyfile, 0o600)
        chaindir = os.path.join(self.dir, "deploy")
        r = subprocess.run([BIN, "chain", "deploy", "--chain-rpc", self.anvil.url, "--key-file",
                            keyfile, "--data-dir", chaindir, "--contracts-dir",
                            os.path.join(SRC, "contracts")],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.manifest = os.path.join(chaindir, "chain.json")
        models = []
        for i in range(3):
            reg = self.js("register", key=KEYS[1], slug="alice/crash%d" % i)
            self.js("publish", key=KEYS[1], modelId=reg["modelId"], version="1.0.0",
                    cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                    sha256=hashlib.sha256(b"crash%d" % i).hexdigest())
            self.js("price", key=KEYS[1], modelId=reg["modelId"], price=str(10**18))
            models.append(reg["modelId"])
        buyers = [KEYS[2], KEYS[3], KEYS[4]]

        data = os.path.join(self.dir, "node-data")
        node = self.start(data)
        bought, errors = [], []

        def buy_all():
            try:
                for m in models:
                    for k in buyers:
                        bought.append(self.js("buy", key=k, modelId=m)["purchaseId"])
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t = threading.Thread(target=buy_all)
        t.start()
        kills = 0
        rnd = random.Random(7)
        while t.is_alive():
            time.sleep(rnd.uniform(0.5, 2.0))
            kill9(node)
            kills += 1
            self.assertEqual(integrity(os.path.join(data, "agora.db")), [("ok",)])
            node = self.start(data)
        t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(bought), len(models) * len(buyers))
        self.synced(node)
        # One more kill right after catching up, and a clean restart.
        kill9(node)
        node = self.start(data)
        self.synced(node)
        node.stop()
        sys.stderr.write("crash: %d purchases, node killed %d times while indexing\n"
                         % (len(bought), kills + 1))
        self.assertGreaterEqual(kills, 2)
        self.assertEqual(integrity(os.path.join(data, "agora.db")), [("ok",)])

        crashed = self.index(data)
        keys = [(tx, li) for tx, li, *_ in crashed]
        self.assertEqual(len(keys), len(set(keys)), "an event indexed twice")
        purchases = [row for row in crashed if row[2] == "LicensePurchased"]
        self.assertEqual(len(purchases), len(bought))
        self.assertEqual(len({(r[4], r[5]) for r in purchases}), len(bought))
        # The same index as a node that was never interrupted.
        fresh_data = os.path.join(self.dir, "fresh-data")
        fresh = self.start(fresh_data)
        try:
            self.synced(fresh)
        finally:
            fresh.stop()
        self.assertEqual(crashed, self.index(fresh_data))


if __name__ == "__main__":
    unittest.main()
