"""test_storage.py - model files end to end: resumable uploads, downloads, encryption, the gateway.

Drives a real `agora serve` over HTTP (and raw sockets, to cut a connection
mid-body), checks stored CIDs against the JS reference importer and the
gateway's CARs with @ipld/car. AGORA_STORAGE_BIG_MIB sizes the memory test
(default 256 MiB; set 2048 for the 2 GiB run).
"""
import hashlib
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import SRC, Node, register  # noqa: E402

OCTET = "application/offset+octet-stream"
LOCK = __import__("threading").Lock()


def pattern(n, seed=0):
    """n deterministic, incompressible-looking bytes."""
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, block)).digest()
        block += 1
    return bytes(out[:n])


def js_cid(path):
    r = subprocess.run(["node", os.path.join(SRC, "tests/ipfs/reference.mjs"), path],
                       capture_output=True, text=True, check=True, cwd=SRC)
    return r.stdout.strip()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Storage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # ASan keeps freed memory in a quarantine (256 MiB by default) that
        # would count as the node's RSS: keep it small so RSS shows our memory.
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.node = Node(args=["--max-upload-size", str(3 << 30), "--cleanup-interval", "1"],
                        env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4", "AGORA_LOG_LEVEL": os.environ.get("AGORA_TEST_LOG", "warn")})
        cls.alice = register(cls.node, "alice")
        cls.bob = register(cls.node, "bob")
        n = cls.node
        for slug, price, vis in [("free", "0", "public"), ("paid", "1000", "public"),
                                 ("hidden", "0", "private")]:
            s, _, b = n.request("POST", "/api/v1/models",
                                {"slug": slug, "title": slug, "price": price, "visibility": vis},
                                token=cls.alice)
            assert s == 201, (s, b)
        cls.versions = 0

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("AGORA_TEST_LOG"):
            sys.stderr.write(cls.node.logs()[-20000:])
        cls.node.cleanup()

    # ---- helpers -------------------------------------------------------------

    def draft(self, slug="free"):
        with LOCK:
            Storage.versions += 1
            v = "1.%d.0" % Storage.versions
        s, _, b = self.node.request("POST", "/api/v1/models/alice/%s/versions" % slug,
                                    {"version": v}, token=self.alice)
        self.assertEqual(s, 201, b)
        return v

    def create(self, slug, v, name, size, sha=None, token=None):
        body = {"name": name, "size": size}
        if sha:
            body["sha256"] = sha
        return self.node.request("POST", "/api/v1/models/alice/%s/versions/%s/uploads" % (slug, v),
                                 body, token=token or self.alice)

    def patch(self, uid, offset, data, token=None, ctype=OCTET):
        h = {"Upload-Offset": str(offset)}
        if ctype:
            h["Content-Type"] = ctype
        return self.node.request("PATCH", "/api/v1/uploads/" + uid, raw=data, content_type=None,
                                 headers=h, token=token or self.alice)

    def upload(self, slug, data, name="model.bin", publish=True):
        v = self.draft(slug)
        s, _, up = self.create(slug, v, name, len(data), hashlib.sha256(data).hexdigest())
        self.assertEqual(s, 201, up)
        s, h, f = self.patch(up["id"], 0, data)
        self.assertEqual(s, 200, f)
        # Complete: the upload and its bytes are gone.
        self.assertFalse(os.path.exists(os.path.join(self.node.data, "uploads", up["id"] + ".part")))
        if publish:
            s, _, b = self.node.request("POST", "/api/v1/models/alice/%s/versions/%s/publish"
                                        % (slug, v), token=self.alice)
            self.assertEqual(s, 200, b)
        return v, f

    def file_url(self, slug, v, name="model.bin"):
        return "/api/v1/models/alice/%s/versions/%s/files/%s" % (slug, v, name)

    def get(self, path, token=None, headers=None):
        return self.node.request("GET", path, token=token, headers=headers)

    def get_bytes(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=60)
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def blocks_dir(self):
        return os.path.join(self.node.data, "blocks")

    def all_block_bytes(self):
        out = []
        for root, _, files in os.walk(self.blocks_dir()):
            for f in files:
                if f.endswith(".data"):
                    with open(os.path.join(root, f), "rb") as fh:
                        out.append(fh.read())
        return out

    # ---- uploads -------------------------------------------------------------

    def test_upload_whole_and_cid_matches_reference(self):
        data = pattern(3 * 262144 + 17, seed=1)
        v, f = self.upload("free", data)
        self.assertEqual(f["size"], len(data))
        self.assertEqual(f["sha256"], hashlib.sha256(data).hexdigest())
        self.assertFalse(f["encrypted"])
        path = os.path.join(self.node.dir, "ref.bin")
        with open(path, "wb") as fh:
            fh.write(data)
        self.assertEqual(f["cid"], js_cid(path))
        s, _, ver = self.get("/api/v1/models/alice/free/versions/" + v)
        self.assertEqual(ver["files"][0]["cid"], f["cid"])

    def test_upload_in_pieces_and_offset_mismatch(self):
        data = pattern(700000, seed=2)
        v = self.draft()
        s, h, up = self.create("free", v, "p.bin", len(data))
        self.assertEqual(s, 201, up)
        self.assertEqual(up["offset"], 0)
        self.assertEqual(h["location"], "/api/v1/uploads/" + up["id"])
        s, h, _ = self.patch(up["id"], 0, data[:300000])
        self.assertEqual((s, h["upload-offset"]), (204, "300000"))
        s, h, b = self.patch(up["id"], 5, data[300000:])
        self.assertEqual(s, 409, b)
        self.assertEqual(h["upload-offset"], "300000")
        s, h, b = self.get("/api/v1/uploads/" + up["id"], token=self.alice)
        self.assertEqual((s, b["offset"], h["upload-offset"]), (200, 300000, "300000"))
        s, _, f = self.patch(up["id"], 300000, data[300000:])
        self.assertEqual(s, 200, f)
        self.assertEqual(f["sha256"], hashlib.sha256(data).hexdigest())
        s, _, _ = self.get("/api/v1/uploads/" + up["id"], token=self.alice)
        self.assertEqual(s, 404)  # done: the upload is gone

    def test_resume_after_dropped_connection(self):
        data = pattern(2_000_000, seed=3)
        v = self.draft()
        s, _, up = self.create("free", v, "r.bin", len(data), hashlib.sha256(data).hexdigest())
        # Announce the whole body, send 1.2 MB of it, hang up.
        sock = socket.create_connection((self.node.host, self.node.port))
        head = ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n"
                % (up["id"], self.alice, OCTET, len(data)))
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < 1_200_000:
                sock.sendall(data[sent:sent + 100_000])
                sent += 100_000
        except OSError as e:  # the node should not hang up on us; say so if it does
            self.fail("node closed the upload connection after %d bytes: %s\n%s"
                      % (sent, e, self.node.logs()[-3000:]))
        # Wait until the node has written what it received, then hang up.
        offset = None
        for _ in range(200):
            s, _, b = self.get("/api/v1/uploads/" + up["id"], token=self.alice)
            if s == 200 and b["offset"] == sent:
                offset = b["offset"]
                break
            time.sleep(0.05)
        sock.close()
        self.assertEqual(offset, 1_200_000, "every byte that reached the node is written")
        s, _, b = self.get("/api/v1/uploads/" + up["id"], token=self.alice)
        self.assertEqual((s, b["offset"]), (200, 1_200_000), "and kept once the client is gone")
        for _ in range(100):
            # Until the node has seen the old connection close, it still holds
            # the upload: 409 "another request is writing" (a client retries;
            # an empty PATCH probes without a body to be cut off).
            s, _, f = self.patch(up["id"], offset, b"")
            if not (s == 409 and f["error"]["field"] == "id"):
                break
            time.sleep(0.1)
        self.assertEqual(s, 204, f)
        s, _, f = self.patch(up["id"], offset, data[offset:])
        self.assertEqual(s, 200, f)
        s, _, body = self.get_bytes(self.file_url("free", v, "r.bin"), token=self.alice)
        self.assertEqual(body, data)

    def test_concurrent_uploads(self):
        import threading
        datas = [pattern(3_000_000 + i, seed=30 + i) for i in range(3)]
        results = [None] * len(datas)

        def run(i):
            results[i] = self.upload("free", datas[i], name="c%d.bin" % i)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(datas))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, res in enumerate(results):
            self.assertIsNotNone(res)
            v, f = res
            s, _, body = self.get_bytes(self.file_url("free", v, "c%d.bin" % i))
            self.assertEqual((s, hashlib.sha256(body).hexdigest()),
                             (200, hashlib.sha256(datas[i]).hexdigest()))

    def test_upload_rules(self):
        v = self.draft()
        # Path tricks and bad names never become files.
        for name in ["../x", ".hidden", "a/b", "a\\b", "", "x" * 256, "bad\x01"]:
            s, _, b = self.create("free", v, name, 1)
            self.assertEqual(s, 400, (name, b))
        s, _, b = self.create("free", v, "ok.bin", -1)
        self.assertEqual(s, 400, b)
        s, _, b = self.create("free", v, "ok.bin", 1, sha="XYZ")
        self.assertEqual(s, 400, b)
        s, _, b = self.create("free", v, "big.bin", (3 << 30) + 1)
        self.assertEqual(s, 413, b)
        # Others cannot upload into alice's version, nor see or touch her uploads.
        s, _, b = self.create("free", v, "ok.bin", 1, token=self.bob)
        self.assertEqual(s, 403, b)
        s, _, up = self.create("free", v, "ok.bin", 4)
        self.assertEqual(s, 201, up)
        for method in ["GET", "DELETE"]:
            s, _, _ = self.node.request(method, "/api/v1/uploads/" + up["id"], token=self.bob)
            self.assertEqual(s, 404)
        s, _, _ = self.patch(up["id"], 0, b"abcd", token=self.bob)
        self.assertEqual(s, 404)
        # Wrong media type, missing offset, body past the declared size.
        s, _, b = self.patch(up["id"], 0, b"abcd", ctype="application/json")
        self.assertEqual(s, 415, b)
        s, _, b = self.node.request("PATCH", "/api/v1/uploads/" + up["id"], raw=b"ab",
                                    content_type=OCTET, token=self.alice)
        self.assertEqual(s, 400, b)
        s, _, b = self.patch(up["id"], 0, b"abcdef")
        self.assertEqual(s, 400, b)
        s, _, b = self.get("/api/v1/uploads/" + up["id"], token=self.alice)
        self.assertEqual(b["offset"], 0, "a refused piece leaves nothing behind")
        # Unknown and malformed ids.
        for uid in ["0" * 32, "..%2F..%2Fagora.db", "ZZ"]:
            s, _, _ = self.get("/api/v1/uploads/" + uid, token=self.alice)
            self.assertEqual(s, 404)
        # A wrong checksum discards the upload.
        s, _, up2 = self.create("free", v, "sum.bin", 4, sha="0" * 64)
        s, _, b = self.patch(up2["id"], 0, b"abcd")
        self.assertEqual(s, 400, b)
        self.assertEqual(b["error"]["field"], "sha256")
        s, _, _ = self.get("/api/v1/uploads/" + up2["id"], token=self.alice)
        self.assertEqual(s, 404)
        # Delete.
        s, _, _ = self.node.request("DELETE", "/api/v1/uploads/" + up["id"], token=self.alice)
        self.assertEqual(s, 204)
        self.assertFalse(os.path.exists(os.path.join(self.node.data, "uploads", up["id"] + ".part")))
        # Published versions are immutable.
        pv, _ = self.upload("free", b"x")
        s, _, b = self.create("free", pv, "late.bin", 1)
        self.assertEqual(s, 409, b)

    def test_expired_uploads_are_swept(self):
        v = self.draft()
        s, _, up = self.create("free", v, "old.bin", 10)
        self.patch(up["id"], 0, b"12345")
        part = os.path.join(self.node.data, "uploads", up["id"] + ".part")
        self.assertTrue(os.path.exists(part))
        db = sqlite3.connect(os.path.join(self.node.data, "agora.db"))
        db.execute("UPDATE uploads SET expires_at = 1 WHERE id = ?", (up["id"],))
        db.commit()
        db.close()
        for _ in range(100):
            if not os.path.exists(part):
                break
            time.sleep(0.1)
        self.assertFalse(os.path.exists(part))
        s, _, _ = self.get("/api/v1/uploads/" + up["id"], token=self.alice)
        self.assertEqual(s, 404)

    # ---- downloads -----------------------------------------------------------

    def test_download_range_etag(self):
        data = pattern(1_000_003, seed=4)
        v, f = self.upload("free", data)
        url = self.file_url("free", v)
        s, h, body = self.get_bytes(url)
        self.assertEqual(s, 200)
        self.assertEqual(body, data)
        self.assertEqual(h["content-length"], str(len(data)))
        self.assertEqual(h["etag"], '"%s"' % f["cid"])
        self.assertEqual(h["accept-ranges"], "bytes")
        self.assertIn("attachment", h["content-disposition"])
        self.assertEqual(h["x-content-sha256"], f["sha256"])
        for rng, lo, hi in [("bytes=0-0", 0, 1), ("bytes=262140-262150", 262140, 262151),
                            ("bytes=999990-", 999990, len(data)), ("bytes=-7", len(data) - 7, len(data)),
                            ("bytes=5-99999999", 5, len(data))]:
            s, h, body = self.get_bytes(url, headers={"Range": rng})
            self.assertEqual(s, 206, rng)
            self.assertEqual(body, data[lo:hi], rng)
            self.assertEqual(h["content-range"], "bytes %d-%d/%d" % (lo, hi - 1, len(data)))
        s, h, _ = self.get_bytes(url, headers={"Range": "bytes=%d-" % len(data)})
        self.assertEqual(s, 416)
        self.assertEqual(h["content-range"], "bytes */%d" % len(data))
        s, _, body = self.get_bytes(url, headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual((s, len(body)), (200, len(data)))  # several ranges: the whole file
        s, _, body = self.get_bytes(url, headers={"Range": "bytes=x-y"})
        self.assertEqual(s, 200)
        s, _, body = self.get_bytes(url, headers={"If-None-Match": '"%s"' % f["cid"]})
        self.assertEqual((s, body), (304, b""))
        s, _, _ = self.get_bytes(url, headers={"If-None-Match": '"other"'})
        self.assertEqual(s, 200)
        s, _, body = self.get_bytes(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
        self.assertEqual((s, len(body)), (200, len(data)))
        # Missing files and path tricks.
        for name in ["nope.bin", "..%2F..%2Fagora.db", "%2e%2e"]:
            s, _, _ = self.get_bytes(self.file_url("free", v, name))
            self.assertEqual(s, 404, name)

    def test_empty_file(self):
        v, f = self.upload("free", b"", name="empty.bin")
        s, h, body = self.get_bytes(self.file_url("free", v, "empty.bin"))
        self.assertEqual((s, body, h["content-length"]), (200, b"", "0"))
        self.assertEqual(f["cid"], "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")

    def test_download_counts_once_a_day(self):
        v, _ = self.upload("free", pattern(1000, seed=5))
        url = self.file_url("free", v)

        def downloads():
            return self.get("/api/v1/models/alice/free")[2]["downloads"]
        before = downloads()
        self.get_bytes(url, headers={"Range": "bytes=0-10"})  # a range is not a download
        self.assertEqual(downloads(), before)
        self.get_bytes(url, token=self.bob)
        self.get_bytes(url, token=self.bob)
        self.assertEqual(downloads(), before + 1)
        self.get_bytes(url)
        self.assertEqual(downloads(), before + 2)

    def test_access_policy(self):
        v, _ = self.upload("free", b"free bytes")
        draft, _ = self.upload("free", b"draft bytes", publish=False)
        paid, _ = self.upload("paid", b"paid bytes")
        hidden, _ = self.upload("hidden", b"hidden bytes")
        cases = [
            (self.file_url("free", v), {None: 200, "bob": 200, "alice": 200}),
            (self.file_url("free", draft), {None: 404, "bob": 404, "alice": 200}),
            (self.file_url("paid", paid), {None: 401, "bob": 403, "alice": 200}),
            (self.file_url("hidden", hidden), {None: 404, "bob": 404, "alice": 200}),
        ]
        tokens = {None: None, "bob": self.bob, "alice": self.alice}
        for url, expect in cases:
            for who, status in expect.items():
                s, _, _ = self.get_bytes(url, token=tokens[who])
                self.assertEqual(s, status, (url, who))

    # ---- encryption ------------------------------------------------------------

    def test_paid_files_are_encrypted(self):
        marker = b"PLAINTEXT-MARKER-" * 4000
        data = marker + pattern(600_000, seed=6) + marker
        v, f = self.upload("paid", data, name="secret.bin")
        self.assertTrue(f["encrypted"])
        self.assertEqual(f["sha256"], hashlib.sha256(data).hexdigest())
        for blk in self.all_block_bytes():
            self.assertNotIn(b"PLAINTEXT-MARKER-PLAINTEXT", blk)
        # The gateway serves only ciphertext.
        s, _, car = self.get_bytes("/ipfs/%s?format=car" % f["cid"])
        self.assertEqual(s, 200)
        self.assertNotIn(b"PLAINTEXT-MARKER-PLAINTEXT", car)
        self.assertGreater(len(car), len(data))
        # The owner gets the plaintext back, whole and by range.
        url = self.file_url("paid", v, "secret.bin")
        s, _, body = self.get_bytes(url, token=self.alice)
        self.assertEqual((s, hashlib.sha256(body).hexdigest()), (200, f["sha256"]))
        for lo, hi in [(0, 10), (65530, 65545), (500_000, 700_000), (len(data) - 3, len(data))]:
            s, _, body = self.get_bytes(url, token=self.alice,
                                        headers={"Range": "bytes=%d-%d" % (lo, hi - 1)})
            self.assertEqual((s, body), (206, data[lo:hi]))
        st = os.stat(os.path.join(self.node.data, "node.key"))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        # Exact multiples of the 64 KiB record, and empty.
        for n in [0, 65536, 131072]:
            d = pattern(n, seed=n)
            v2, f2 = self.upload("paid", d, name="m%d.bin" % n)
            s, _, body = self.get_bytes(self.file_url("paid", v2, "m%d.bin" % n), token=self.alice)
            self.assertEqual((s, body), (200, d))

    # ---- the trustless gateway -----------------------------------------------------

    def test_gateway_raw_and_car(self):
        data = pattern(5 * 262144 + 99, seed=7)
        _, f = self.upload("free", data)
        cid = f["cid"]
        s, h, raw = self.get_bytes("/ipfs/%s?format=raw" % cid)
        self.assertEqual(s, 200)
        self.assertEqual(h["content-type"], "application/vnd.ipld.raw")
        self.assertEqual(h["cache-control"], "public, max-age=29030400, immutable")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertIn('filename="%s.bin"' % cid, h["content-disposition"])
        self.assertIn(cid, h["etag"])
        s2, h2, raw2 = self.get_bytes("/ipfs/" + cid, headers={"Accept": "application/vnd.ipld.raw"})
        self.assertEqual((s2, raw2), (200, raw))
        s, _, _ = self.get_bytes("/ipfs/%s?format=raw" % cid, headers={"If-None-Match": h["etag"]})
        self.assertEqual(s, 304)
        for scope in ["all", "entity", "block"]:
            s, h, car = self.get_bytes("/ipfs/%s?format=car&dag-scope=%s" % (cid, scope))
            self.assertEqual(s, 200)
            self.assertEqual(h["content-type"],
                             "application/vnd.ipld.car; version=1; order=dfs; dups=n")
            path = os.path.join(self.node.dir, "g-%s.car" % scope)
            with open(path, "wb") as fh:
                fh.write(car)
            res = self.check_car(path)
            self.assertEqual(res["roots"], [cid])
            self.assertEqual(res["bad"], 0)
            self.assertEqual(res["first"], cid)
            if scope == "block":
                self.assertEqual(res["count"], 1)
            else:
                self.assertEqual(res["count"], 7)  # root + 6 leaves
                self.assertEqual(bytes.fromhex(res["content"]), data)
        s, _, car = self.get_bytes("/ipfs/" + cid, headers={"Accept": "application/vnd.ipld.car"})
        self.assertEqual(s, 200)

    def car_of(self, cid, query):
        s, h, car = self.get_bytes("/ipfs/%s?format=car&%s" % (cid, query))
        if s != 200:
            return s, h, None
        path = os.path.join(self.node.dir, "range.car")
        with open(path, "wb") as fh:
            fh.write(car)
        return s, h, self.check_car(path)

    def test_gateway_entity_bytes(self):
        data = pattern(5 * 262144 + 99, seed=17)
        _, f = self.upload("free", data, name="ranged.bin")
        cid, size, L = f["cid"], len(data), 262144
        # (entity-bytes, first leaf, last leaf) of the 6 leaves the range needs.
        for spec, lo, hi in [("0:*", 0, 5), ("262144:524287", 1, 1), ("262143:262144", 0, 1),
                             ("10:20", 0, 0), ("-99:*", 5, 5), ("-100:*", 4, 5), ("-%d:-%d" % (size, size - 1), 0, 0),
                             ("%d:%d" % (size - 1, size + 5000), 5, 5), ("300000:-300000", 1, 3),
                             ("0:99999999999", 0, 5)]:
            s, h, res = self.car_of(cid, "dag-scope=entity&entity-bytes=" + spec)
            self.assertEqual(s, 200, spec)
            self.assertEqual(res["bad"], 0, spec)
            self.assertEqual((res["first"], res["roots"]), (cid, [cid]), spec)
            self.assertEqual(res["count"], 1 + hi - lo + 1, spec)
            self.assertEqual(bytes.fromhex(res["content"]), data[lo * L:(hi + 1) * L], spec)
            self.assertIn("entity", h["etag"])
        # entity-bytes implies dag-scope=entity; the Etag changes with the range.
        s, h1, res = self.car_of(cid, "entity-bytes=0:10")
        self.assertEqual((s, res["count"]), (200, 2))
        _, h2, _ = self.car_of(cid, "entity-bytes=0:11")
        self.assertNotEqual(h1["etag"], h2["etag"])
        # A zero-length range is the root alone (dag-scope=block).
        s, _, res = self.car_of(cid, "entity-bytes=-10:-20")
        self.assertEqual((s, res["count"]), (200, 1))
        # Malformed, past the end, or contradicting dag-scope: 400.
        for q in ["entity-bytes=5:1", "entity-bytes=x:*", "entity-bytes=5", "entity-bytes=1:2:3",
                  "entity-bytes=%d:*" % size, "entity-bytes=--5:*", "dag-scope=all&entity-bytes=0:1"]:
            s, _, _ = self.get_bytes("/ipfs/%s?format=car&%s" % (cid, q))
            self.assertEqual(s, 400, q)
        # A deeper DAG (3 levels with 1 KiB chunks): only the path to the bytes.
        # (Its blocks are removed afterwards: they are pinned by no file, and
        # the gc test counts orphans.)
        big = pattern(200 * 1024 + 17, seed=18)
        src = os.path.join(self.node.dir, "deep.bin")
        with open(src, "wb") as fh:
            fh.write(big)
        with LOCK:
            before = set(self.block_files())
            r = self.node.cli("ipfs", "add", "--chunker", "size-1024", "--data-dir", self.node.data,
                              src)
            try:
                self.assertEqual(r.returncode, 0, r.stderr)
                deep = r.stdout.strip()
                s, _, res = self.car_of(deep, "entity-bytes=180000:182047")
                self.assertEqual(res["bad"], 0)
                lo, hi = 180000 // 1024, 182047 // 1024
                self.assertEqual(bytes.fromhex(res["content"]), big[lo * 1024:(hi + 1) * 1024])
                self.assertEqual(res["count"], 2 + (hi - lo + 1))  # root, an inner node, leaves
                s, _, res = self.car_of(deep, "entity-bytes=0:*")
                self.assertEqual(bytes.fromhex(res["content"]), big)
            finally:
                for fn in set(self.block_files()) - before:
                    os.unlink(fn)

    def block_files(self):
        for root, _, files in os.walk(self.blocks_dir()):
            for f in files:
                if f.endswith(".data"):
                    yield os.path.join(root, f)

    def check_car(self, path):
        """@ipld/car reads the CAR; every block must hash to its CID; leaves joined in order."""
        script = r"""
import fs from 'node:fs'
import crypto from 'node:crypto'
import { CarReader } from '@ipld/car'
const r = await CarReader.fromBytes(fs.readFileSync(process.argv[1]))
const roots = (await r.getRoots()).map(String)
let count = 0, bad = 0, first = null, content = []
const seen = new Set()
for await (const { cid, bytes } of r.blocks()) {
  if (first === null) first = cid.toString()
  count++
  if (seen.has(cid.toString())) bad++
  seen.add(cid.toString())
  const d = crypto.createHash('sha256').update(bytes).digest()
  if (Buffer.compare(d, Buffer.from(cid.multihash.digest)) !== 0) bad++
  if (cid.code === 0x55) content.push(Buffer.from(bytes))
}
console.log(JSON.stringify({ roots, count, bad, first, content: Buffer.concat(content).toString('hex') }))
"""
        r = subprocess.run(["node", "--input-type=module", "-e", script, path], capture_output=True,
                           text=True, cwd=SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_gateway_errors_and_identity(self):
        s, _, body = self.get_bytes("/ipfs/bafkqaaa?format=raw")
        self.assertEqual((s, body), (200, b""))
        s, _, _ = self.get_bytes("/ipfs/not-a-cid?format=raw")
        self.assertEqual(s, 400)
        s, _, _ = self.get_bytes("/ipfs/bafkqaaa")  # no format, no Accept: strict trustless
        self.assertEqual(s, 400)
        s, _, _ = self.get_bytes("/ipfs/bafkqaaa", headers={"Accept": "text/html"})
        self.assertEqual(s, 406)
        s, _, _ = self.get_bytes("/ipfs/bafkqaaa?format=json")
        self.assertEqual(s, 400)
        s, _, _ = self.get_bytes("/ipfs/bafkqaaa?format=car&dag-scope=weird")
        self.assertEqual(s, 400)
        absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
        for fmt in ["raw", "car"]:
            s, _, _ = self.get_bytes("/ipfs/%s?format=%s" % (absent, fmt))
            self.assertEqual(s, 404)
        r = self.node.request("HEAD", "/ipfs/%s?format=raw" % absent)
        self.assertEqual(r[0], 404)

    # ---- corruption ------------------------------------------------------------------

    def test_corrupt_block_never_served(self):
        data = pattern(3 * 262144, seed=8)
        v, f = self.upload("free", data, name="c.bin")
        # Find the second leaf's block file and flip a byte in it.
        leaf = data[262144:2 * 262144]
        target = None
        for root, _, files in os.walk(self.blocks_dir()):
            for fn in files:
                p = os.path.join(root, fn)
                with open(p, "rb") as fh:
                    if fh.read() == leaf:
                        target = p
        self.assertIsNotNone(target)
        with open(target, "r+b") as fh:
            fh.seek(100)
            fh.write(b"\x00" if leaf[100] != 0 else b"\x01")
        c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=30)
        c.request("GET", self.file_url("free", v, "c.bin"))
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            r.read()  # cut short: the corrupt leaf's bytes never go out
        c.close()
        # The first leaf is still fine by range; the corrupt one is refused by the gateway.
        s, _, body = self.get_bytes(self.file_url("free", v, "c.bin"), headers={"Range": "bytes=0-99"})
        self.assertEqual((s, body), (206, data[:100]))
        path = os.path.join(self.node.dir, "leaf.bin")
        with open(path, "wb") as fh:
            fh.write(leaf)
        leaf_cid = js_cid(path)
        s, _, body = self.get_bytes("/ipfs/%s?format=raw" % leaf_cid)
        self.assertEqual(s, 500)
        self.assertNotIn(leaf[:1000], body.encode() if isinstance(body, str) else body)
        # A missing root is a clean 500 before any byte, not a cut body.
        v2, f2 = self.upload("free", pattern(1000, seed=13), name="gone.bin")
        gone = None
        for root, _, files in os.walk(self.blocks_dir()):
            for fn in files:
                with open(os.path.join(root, fn), "rb") as fh:
                    if fh.read() == pattern(1000, seed=13):
                        gone = os.path.join(root, fn)
        os.rename(gone, gone + ".away")
        s, _, body = self.get_bytes(self.file_url("free", v2, "gone.bin"))
        self.assertEqual(s, 500)
        self.assertEqual(json.loads(body)["error"]["message"], "internal error")
        os.rename(gone + ".away", gone)  # (gc refuses to run while a pinned block is missing)
        # Put the corrupt leaf right again for the tests that follow.
        with open(target, "wb") as fh:
            fh.write(leaf)

    # ---- CLI: push, pull, gc -------------------------------------------------------------

    def cli_login(self, cfg):
        env = {"AGORA_CONFIG_DIR": cfg}
        r = self.node.cli("login", "alice", "--password-stdin", env=env,
                          input="correct horse battery\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        return env

    def test_cli_push_interrupted_then_resumed_and_pull(self):
        env = self.cli_login(os.path.join(self.node.dir, "cfg-push"))
        env["AGORA_NODE"] = self.node.url
        data = pattern(6_000_000, seed=10)
        src = os.path.join(self.node.dir, "weights.bin")
        with open(src, "wb") as fh:
            fh.write(data)
        small = os.path.join(self.node.dir, "config.json")
        with open(small, "wb") as fh:
            fh.write(b'{"layers": 12}')
        from node import BIN
        e = dict(os.environ)
        e.update(env)
        e["AGORA_PROGRESS"] = "1"
        # Push slowly and kill it part way, once the node holds some of it.
        p = subprocess.Popen([BIN, "push", "alice/free", "3.0.0", src, "--limit-rate", "1000000"],
                             env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        state = os.path.join(env["AGORA_CONFIG_DIR"], "uploads.json")
        for _ in range(600):
            time.sleep(0.05)
            try:
                with open(state) as fh:
                    uid = list(json.load(fh).values())[0]
            except (OSError, ValueError, IndexError):
                continue
            s, _, b = self.get("/api/v1/uploads/" + uid, token=self.alice)
            if s == 200 and b["offset"] >= 1_000_000:
                break
        p.kill()
        p.communicate()
        r = subprocess.run([BIN, "push", "alice/free", "3.0.0", src, small], env=e,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("resuming weights.bin at byte", r.stderr)
        resumed_at = int(r.stderr.split("resuming weights.bin at byte ")[1].split()[0])
        self.assertGreater(resumed_at, 0)
        self.assertIn("ETA", r.stderr)  # the progress line
        self.assertIn("pushed weights.bin", r.stdout)
        self.assertIn("pushed config.json", r.stdout)
        s, _, b = self.node.request("POST", "/api/v1/models/alice/free/versions/3.0.0/publish",
                                    token=self.alice)
        self.assertEqual(s, 200, b)
        out = os.path.join(self.node.dir, "pulled")
        r = subprocess.run([BIN, "pull", "alice/free@3.0.0", "-o", out], env=e,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CID ok", r.stdout)
        with open(os.path.join(out, "weights.bin"), "rb") as fh:
            self.assertEqual(fh.read(), data)
        with open(os.path.join(out, "config.json"), "rb") as fh:
            self.assertEqual(fh.read(), b'{"layers": 12}')
        self.assertEqual(sorted(os.listdir(out)), ["config.json", "weights.bin"])  # no temp files
        # A paid file pulls by its owner, checked by sha256.
        r = subprocess.run([BIN, "push", "alice/paid", "3.0.0", small], env=e,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stored encrypted", r.stdout)
        self.node.request("POST", "/api/v1/models/alice/paid/versions/3.0.0/publish", token=self.alice)
        r = subprocess.run([BIN, "pull", "alice/paid@3.0.0", "-o", out + "2"], env=e,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sha256 ok", r.stdout)
        # Anonymous pull of the paid model fails cleanly.
        e2 = dict(e)
        e2["AGORA_CONFIG_DIR"] = os.path.join(self.node.dir, "cfg-anon")
        r = subprocess.run([BIN, "pull", "alice/paid@3.0.0", "-o", out + "3"], env=e2,
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(os.listdir(out + "3"), [])

    def test_pull_refuses_a_tampered_file(self):
        env = self.cli_login(os.path.join(self.node.dir, "cfg-tamper"))
        data = pattern(300_000, seed=11)
        v, f = self.upload("free", data, name="t.bin")
        # Replace the second (last) leaf by other bytes under the same key: the
        # node's verify-on-read refuses it, so the download is cut and pull fails.
        leaf = data[262144:]
        for root, _, files in os.walk(self.blocks_dir()):
            for fn in files:
                p = os.path.join(root, fn)
                with open(p, "rb") as fh:
                    if fh.read() == leaf:
                        with open(p, "wb") as out:
                            out.write(b"x" * len(leaf))
        out = os.path.join(self.node.dir, "tampered")
        r = self.node.cli("pull", "alice/free@" + v, "-o", out, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(out, "t.bin")))
        self.assertEqual([n for n in os.listdir(out) if n.startswith(".")], [])

    def test_gc_keeps_pinned_removes_orphans(self):
        v, f = self.upload("free", pattern(400_000, seed=12), name="g.bin")
        # An orphan: a block nobody pins, made old.
        orphan_data = b"orphan block " * 100
        path = os.path.join(self.node.dir, "orphan.bin")
        with open(path, "wb") as fh:
            fh.write(orphan_data)
        r = subprocess.run([__import__("node").BIN, "ipfs", "add", path, "--data-dir", self.node.data],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        orphan = r.stdout.strip()
        s, _, _ = self.get_bytes("/ipfs/%s?format=raw" % orphan)
        self.assertEqual(s, 200)
        r = self.node.cli("gc", "--data-dir", self.node.data, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["removed"], 0)  # everything is younger than the grace period
        old = time.time() - 7200
        for root, _, files in os.walk(self.blocks_dir()):
            for fn in files:
                os.utime(os.path.join(root, fn), (old, old))
        # What a crash mid-write leaves: a temporary file in a shard directory.
        # One older than gc's grace period goes; a young one (a write that may
        # be in flight) stays. (20 minutes old: the node's own sweep, every
        # second here, waits for an hour.)
        shard = next(d for d in sorted(os.listdir(self.blocks_dir())) if len(d) == 2)
        stale = os.path.join(self.blocks_dir(), shard, ".tmp-crashed0001")
        young = os.path.join(self.blocks_dir(), shard, ".tmp-inflight001")
        for p, data in ((stale, b"torn" * 10), (young, b"live")):
            with open(p, "wb") as fh:
                fh.write(data)
        os.utime(stale, (time.time() - 1200, time.time() - 1200))
        r = self.node.cli("gc", "--data-dir", self.node.data, "--dry-run", "--json", "--grace", "600")
        self.assertEqual(json.loads(r.stdout)["removed"], 1)
        self.assertEqual(json.loads(r.stdout)["tmp_removed"], 1)
        self.assertTrue(os.path.exists(stale))
        s, _, _ = self.get_bytes("/ipfs/%s?format=raw" % orphan)
        self.assertEqual(s, 200)  # a dry run removes nothing
        r = self.node.cli("gc", "--data-dir", self.node.data, "--json", "--grace", "600")
        st = json.loads(r.stdout)
        self.assertEqual(st["removed"], 1, st)
        self.assertEqual((st["tmp_removed"], st["tmp_removed_bytes"]), (1, 40), st)
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.exists(young))
        os.unlink(young)
        s, _, _ = self.get_bytes("/ipfs/%s?format=raw" % orphan)
        self.assertEqual(s, 404)
        s, _, body = self.get_bytes(self.file_url("free", v, "g.bin"))
        self.assertEqual((s, body), (200, pattern(400_000, seed=12)))

    def test_node_sweeps_stale_temporary_block_files(self):
        # The node's periodic sweep (every second here) removes blockstore
        # temporary files older than an hour, and leaves younger ones.
        shard = os.path.join(self.blocks_dir(), "ZZ")
        os.makedirs(shard, exist_ok=True)
        stale = os.path.join(shard, ".tmp-crashed0002")
        young = os.path.join(shard, ".tmp-inflight002")
        for p in (stale, young):
            with open(p, "wb") as fh:
                fh.write(b"partial")
        os.utime(stale, (time.time() - 3700, time.time() - 3700))
        os.utime(young, (time.time() - 1800, time.time() - 1800))
        deadline = time.time() + 30
        while os.path.exists(stale) and time.time() < deadline:
            time.sleep(0.2)
        self.assertFalse(os.path.exists(stale))
        time.sleep(1.5)  # another sweep or two
        self.assertTrue(os.path.exists(young))
        os.unlink(young)

    # ---- healthz and Kubo --------------------------------------------------------------

    def test_healthz_says_local_storage(self):
        s, _, b = self.get("/healthz")
        self.assertEqual(s, 200)
        self.assertEqual(b["storage"]["backend"], "local")
        self.assertEqual(b["storage"]["kubo"], "not_configured")
        self.assertIs(b["storage"]["fallback"], False)
        self.assertEqual(b["storage"]["status"], "ok")

    # ---- memory ------------------------------------------------------------------------

    def test_streamed_upload_memory_is_flat(self):
        mib = int(os.environ.get("AGORA_STORAGE_BIG_MIB", "256"))
        size = mib << 20
        v = self.draft()
        s, _, up = self.create("free", v, "big.bin", size)
        self.assertEqual(s, 201, up)
        pid = self.node.proc.pid
        base = rss_kib(pid)
        peak = base
        sock = socket.create_connection((self.node.host, self.node.port))
        sock.settimeout(600)
        head = ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n"
                % (up["id"], self.alice, OCTET, size))
        sock.sendall(head.encode())
        chunk = pattern(1 << 20, seed=9)
        h = hashlib.sha256()
        for i in range(mib):
            piece = chunk[i % 7:] + chunk[:i % 7]  # vary the blocks a little
            sock.sendall(piece)
            h.update(piece)
            if i % 16 == 0:
                peak = max(peak, rss_kib(pid))
        reply = b""
        sock.settimeout(0.2)
        deadline = time.time() + 900
        while time.time() < deadline:  # the import runs after the last byte: watch it too
            try:
                r = sock.recv(65536)
            except socket.timeout:
                r = None
            peak = max(peak, rss_kib(pid))
            if r == b"":
                break
            if r:
                reply += r
                head_end = reply.find(b"\r\n\r\n")
                if head_end >= 0:
                    length = int([ln.split(b":")[1] for ln in reply[:head_end].split(b"\r\n")
                                  if ln.lower().startswith(b"content-length:")][0])
                    if len(reply) >= head_end + 4 + length:
                        break
        sock.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:300])
        body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body["sha256"], h.hexdigest())
        growth_mib = (peak - base) / 1024
        print("\nupload of %d MiB: node RSS %d -> %d KiB (growth %.1f MiB)" % (mib, base, peak, growth_mib))
        self.assertLess(growth_mib, 64)


def _uvarint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def _cid_mh(b, i):
    """Parses a binary CID at b[i:]; returns (multihash bytes, next index)."""
    if b[i] == 0x12 and b[i + 1] == 0x20:  # CIDv0: a bare sha2-256 multihash
        return bytes(b[i:i + 34]), i + 34
    _, i = _uvarint(b, i)  # version
    _, i = _uvarint(b, i)  # codec
    start = i
    _, i = _uvarint(b, i)  # hash code
    n, i = _uvarint(b, i)
    return bytes(b[start:i + n]), i + n


def car_blocks(car):
    """Yields (multihash, bytes) of every section of a CARv1."""
    n, i = _uvarint(car, 0)
    i += n
    while i < len(car):
        n, j = _uvarint(car, i)
        end = j + n
        mh, k = _cid_mh(car, j)
        yield mh, bytes(car[k:end])
        i = end


def car_roots(car):
    """The roots of a CARv1, as base32 CIDv1 strings: its header is dag-cbor
    {"roots": [CID...], "version": 1}, each CID a tag 42 byte string with a
    leading 0x00."""
    import base64
    n, i = _uvarint(car, 0)
    hdr, j, out = car[i:i + n], 0, []
    while True:
        j = hdr.find(b"\xd8\x2a", j)
        if j < 0:
            return out
        ai = hdr[j + 2] & 0x1F
        ln, j = (hdr[j + 3], j + 4) if ai == 24 else (ai, j + 3)
        raw = bytes(hdr[j + 1:j + ln])
        out.append("b" + base64.b32encode(raw).decode().lower().rstrip("="))
        j += ln


def wait_for(cond, timeout=30.0, step=0.1):
    """Polls cond() until it is true; returns its last value."""
    end = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > end:
            return v
        time.sleep(step)


def cid_str_mh(s):
    """The multihash of a CIDv1 in base32 ("b...")."""
    import base64
    raw = base64.b32decode(s[1:].upper() + "=" * (-len(s[1:]) % 8))
    return _cid_mh(raw, 0)[0]


class KuboStandIn:
    """Implements the Kubo RPC calls the node makes, as Kubo's RPC reference
    (v0.32) documents them: POST /api/v0/version; POST
    /api/v0/dag/import?pin-roots=true (multipart "file" part holding a CAR,
    chunked or not), whose blocks it keeps in its own block storage (one file
    per multihash) besides the CARs; POST /api/v0/block/get?arg=CID, which
    streams a stored block with chunked encoding (as Kubo does) or answers
    500 with Kubo's JSON error. `tamper` names multihashes whose bytes it
    corrupts on the way out. Not a Kubo: the real thing cannot be installed."""

    def __init__(self, directory, port=0):
        import http.server
        import threading
        stand = self
        self.dir = directory
        self.imports = []
        self.pins = set()  # root CIDs (base32 CIDv1) pinned by dag/import?pin-roots=true
        self.delay = 0  # seconds dag/import takes before it answers (a slow Kubo)
        self.gets = []
        self.tamper = set()
        self.broken = None  # None, or how block/get answers: "garbage", "cut", "trailer", "huge"
        os.makedirs(os.path.join(directory, "blocks"), exist_ok=True)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        n = int(self.rfile.readline().strip(), 16)
                        if n == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(n)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def reply(self, code, obj):
                data = (json.dumps(obj) + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.body()
                if self.path.startswith("/api/v0/version"):
                    return self.reply(200, {"Version": "0.32.1", "Commit": "", "Repo": "16"})
                if self.path.startswith("/api/v0/dag/import"):
                    boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
                    part = body.split(b"--" + boundary)[1]
                    car = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
                    path = os.path.join(stand.dir, "import-%d.car" % len(stand.imports))
                    with open(path, "wb") as fh:
                        fh.write(car)
                    stand.imports.append((self.path, path))
                    for mh, data in car_blocks(car):
                        stand.put(mh, data)
                    if stand.delay:
                        time.sleep(stand.delay)
                    roots = car_roots(car)
                    if "pin-roots=true" in self.path:
                        stand.pins.update(roots)
                    return self.reply(200, {"Root": {"Cid": {"/": roots[0] if roots else "?"},
                                                     "PinErrorMsg": ""}})
                if self.path.startswith("/api/v0/block/get"):
                    from urllib.parse import parse_qs, urlparse
                    arg = parse_qs(urlparse(self.path).query).get("arg", [""])[0]
                    stand.gets.append(arg)
                    try:
                        mh = cid_str_mh(arg)
                        with open(stand.block_path(mh), "rb") as fh:
                            data = fh.read()
                    except (OSError, ValueError, IndexError):
                        return self.reply(500, {"Message": "block was not found locally (offline): "
                                                "ipld: could not find " + arg, "Code": 0,
                                                "Type": "error"})
                    if mh in stand.tamper:
                        data = bytes([data[0] ^ 1]) + data[1:]
                    if stand.broken == "garbage":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                         b"Connection: close\r\n\r\nzz\r\n" + data[:10])
                        self.close_connection = True
                        return None
                    if stand.broken == "cut":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                         b"Connection: close\r\n\r\n" % len(data) + data[:-5])
                        self.close_connection = True
                        return None
                    if stand.broken == "huge":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                        for _ in range(6):
                            self.wfile.write(b"\0" * (1 << 20))
                        self.close_connection = True
                        return None
                    if stand.broken == "trailer":
                        self.send_response(200)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.send_header("Trailer", "X-Stream-Error")
                        self.end_headers()
                        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n0\r\n"
                                         b"X-Stream-Error: context canceled\r\n\r\n")
                        return None
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Trailer", "X-Stream-Error")
                    self.end_headers()
                    for k in range(0, len(data), 100000):
                        piece = data[k:k + 100000]
                        self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                self.reply(404, {"Message": "command not found", "Code": 0, "Type": "error"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def block_path(self, mh):
        return os.path.join(self.dir, "blocks", mh.hex() + ".data")

    def put(self, mh, data):
        with open(self.block_path(mh), "wb") as fh:
            fh.write(data)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Kubo(unittest.TestCase):
    def upload(self, node, token, data):
        node.request("POST", "/api/v1/models", {"slug": "k", "title": "k"}, token=token)
        node.request("POST", "/api/v1/models/kim/k/versions", {"version": "1.0.0"}, token=token)
        s, _, up = node.request("POST", "/api/v1/models/kim/k/versions/1.0.0/uploads",
                                {"name": "w.bin", "size": len(data)}, token=token)
        self.assertEqual(s, 201, up)
        s, _, f = node.request("PATCH", "/api/v1/uploads/" + up["id"], raw=data, content_type=None,
                               headers={"Upload-Offset": "0", "Content-Type": OCTET}, token=token)
        self.assertEqual(s, 200, f)
        return f

    def test_unreachable_kubo_falls_back_to_local(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        node = Node(args=["--kubo-api", "http://127.0.0.1:%d" % port])
        try:
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual(s, 200)
            self.assertEqual(b["storage"]["kubo"], "unreachable")
            self.assertEqual(b["storage"]["backend"], "local")
            # Kubo configured but down: the node says it runs on the local fallback.
            self.assertIs(b["storage"]["fallback"], True)
            self.assertEqual((b["storage"]["status"], b["status"]), ("ok", "ok"))
            token = register(node, "kim")
            data = pattern(300_000, seed=20)
            f = self.upload(node, token, data)
            # The re-pin queue's thread tries, finds Kubo down and says so.
            self.assertTrue(wait_for(lambda: "stays on local storage only" in node.logs()))
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual(b["storage"]["kubo_pending"], 1)
            node.request("POST", "/api/v1/models/kim/k/versions/1.0.0/publish", token=token)
            c = http.client.HTTPConnection(node.host, node.port, timeout=30)
            c.request("GET", "/api/v1/models/kim/k/versions/1.0.0/files/w.bin")
            self.assertEqual(c.getresponse().read(), data)
            c.close()
            self.assertTrue(f["cid"].startswith("bafy"))
            # A block lost locally cannot come from the unreachable Kubo: the
            # download fails quickly and cleanly; the rest is still served.
            leaf = b"\x12\x20" + hashlib.sha256(data[262144:]).digest()
            os.unlink(node_block_files(node)[leaf])
            c = http.client.HTTPConnection(node.host, node.port, timeout=30)
            c.request("GET", "/api/v1/models/kim/k/versions/1.0.0/files/w.bin",
                      headers={"Range": "bytes=0-99"})
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (206, data[:100]))
            c.close()
            c = http.client.HTTPConnection(node.host, node.port, timeout=30)
            c.request("GET", "/api/v1/models/kim/k/versions/1.0.0/files/w.bin")
            r = c.getresponse()
            try:
                body = r.read()
            except http.client.IncompleteRead as e:
                body = e.partial
            c.close()
            self.assertLess(len(body), len(data))
            self.assertIn("not found here, nor fetched", node.logs())
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual((b["storage"]["kubo"], b["storage"]["backend"]), ("unreachable", "local"))
            self.assertIs(b["storage"]["fallback"], True)
        finally:
            node.cleanup()

    def test_stand_in_receives_the_dag(self):
        tmp = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".")
        import tempfile
        d = tempfile.mkdtemp(prefix="agora-kubo-")
        kubo = KuboStandIn(d)
        node = Node(args=["--kubo-api", "http://127.0.0.1:%d/" % kubo.port])
        try:
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual(b["storage"]["kubo"], "ok")
            self.assertIs(b["storage"]["fallback"], False)
            token = register(node, "kim")
            data = pattern(700_000, seed=21)
            f = self.upload(node, token, data)
            self.assertTrue(wait_for(lambda: f["cid"] in kubo.pins))
            self.assertEqual(len(kubo.imports), 1)
            path, car = kubo.imports[0]
            self.assertIn("pin-roots=true", path)
            res = Storage.check_car(self, car)
            self.assertEqual(res["roots"], [f["cid"]])
            self.assertEqual(res["bad"], 0)
            self.assertEqual(bytes.fromhex(res["content"]), data)
        finally:
            node.cleanup()
            kubo.close()
        del tmp

    def test_root_stored_while_kubo_is_down_is_pinned_once_it_is_up(self):
        import tempfile
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # Kubo is down: nothing listens there yet
        node = Node(args=["--kubo-api", "http://127.0.0.1:%d" % port])
        kubo = None
        try:
            token = register(node, "kim")
            data = pattern(600_000, seed=22)
            f = self.upload(node, token, data)
            self.assertTrue(wait_for(lambda: "stays on local storage only" in node.logs()))
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual((b["storage"]["kubo"], b["storage"]["fallback"]), ("unreachable", True))
            self.assertEqual(b["storage"]["kubo_pending"], 1)
            # Kubo comes up on that port: the queued root gets pinned.
            kubo = KuboStandIn(tempfile.mkdtemp(prefix="agora-kubo-"), port=port)
            self.assertTrue(wait_for(lambda: f["cid"] in kubo.pins), node.logs()[-3000:])
            res = Storage.check_car(self, kubo.imports[-1][1])
            self.assertEqual((res["roots"], res["bad"]), ([f["cid"]], 0))
            self.assertEqual(bytes.fromhex(res["content"]), data)
            self.assertTrue(wait_for(
                lambda: node.request("GET", "/healthz")[2]["storage"]["kubo_pending"] == 0))
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual((b["storage"]["kubo"], b["storage"]["fallback"]), ("ok", False))
            self.assertEqual(len(kubo.imports), 1)  # once: pinned roots leave the queue
        finally:
            node.cleanup()
            if kubo:
                kubo.close()

    def test_upload_does_not_wait_on_a_slow_kubo(self):
        import tempfile
        kubo = KuboStandIn(tempfile.mkdtemp(prefix="agora-kubo-"))
        kubo.delay = 6
        node = Node(args=["--kubo-api", "http://127.0.0.1:%d" % kubo.port])
        try:
            token = register(node, "kim")
            data = pattern(400_000, seed=23)
            t0 = time.monotonic()
            f = self.upload(node, token, data)
            took = time.monotonic() - t0
            # The PATCH answered before Kubo did (it takes 6 s per dag/import).
            self.assertLess(took, 3.0)
            self.assertTrue(wait_for(lambda: len(kubo.imports) == 1))
            s, _, b = node.request("GET", "/healthz")
            self.assertEqual((b["storage"]["kubo"], b["storage"]["kubo_pending"]), ("ok", 1))
            self.assertNotIn(f["cid"], kubo.pins)
            self.assertTrue(wait_for(lambda: f["cid"] in kubo.pins, timeout=20))
            self.assertTrue(wait_for(
                lambda: node.request("GET", "/healthz")[2]["storage"]["kubo_pending"] == 0))
        finally:
            node.cleanup()
            kubo.close()


def node_block_files(node):
    """{multihash: path} of every block in a node's blockstore (flatfs keys
    are the base32 of the multihash)."""
    import base64
    out = {}
    for root, _, files in os.walk(os.path.join(node.data, "blocks")):
        for f in files:
            if f.endswith(".data"):
                k = f[:-5]
                mh = base64.b32decode(k + "=" * (-len(k) % 8))
                out[mh] = os.path.join(root, f)
    return out


class KuboFetch(unittest.TestCase):
    """Blocks missing from the node are fetched from Kubo, hash-checked, kept."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.kdir = tempfile.mkdtemp(prefix="agora-kubo-")
        cls.kubo = KuboStandIn(cls.kdir)
        cls.node = Node(args=["--kubo-api", "http://127.0.0.1:%d" % cls.kubo.port])
        cls.token = register(cls.node, "kim")
        n = cls.node
        n.request("POST", "/api/v1/models", {"slug": "k", "title": "k"}, token=cls.token)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.kubo.close()

    def upload(self, version, data):
        n, t = self.node, self.token
        n.request("POST", "/api/v1/models/kim/k/versions", {"version": version}, token=t)
        s, _, up = n.request("POST", "/api/v1/models/kim/k/versions/%s/uploads" % version,
                             {"name": "w.bin", "size": len(data)}, token=t)
        self.assertEqual(s, 201, up)
        s, _, f = n.request("PATCH", "/api/v1/uploads/" + up["id"], raw=data, content_type=None,
                            headers={"Upload-Offset": "0", "Content-Type": OCTET}, token=t)
        self.assertEqual(s, 200, f)
        s, _, b = n.request("POST", "/api/v1/models/kim/k/versions/%s/publish" % version, token=t)
        self.assertEqual(s, 200, b)
        # Pinned in the background: the tests below need Kubo to hold it.
        self.assertTrue(wait_for(lambda: f["cid"] in self.kubo.pins), f["cid"])
        return f

    def download(self, version):
        c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=60)
        try:
            c.request("GET", "/api/v1/models/kim/k/versions/%s/files/w.bin" % version)
            r = c.getresponse()
            try:
                return r.status, r.read()
            except http.client.IncompleteRead as e:
                return -1, e.partial
        finally:
            c.close()

    def gateway_raw(self, cid):
        c = http.client.HTTPConnection(self.node.host, self.node.port, timeout=60)
        try:
            c.request("GET", "/ipfs/%s?format=raw" % cid)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_lost_blocks_come_back_from_kubo(self):
        data = pattern(5 * 262144 + 1000, seed=30)
        f = self.upload("1.0.0", data)
        self.assertEqual(len(self.kubo.imports), 1)  # pinned there at upload
        leaves = [hashlib.sha256(data[i:i + 262144]).digest() for i in range(0, len(data), 262144)]
        files = node_block_files(self.node)
        for d in leaves[1:4]:  # three leaves lost locally
            os.unlink(files[b"\x12\x20" + d])
        before = len(self.kubo.gets)
        s, body = self.download("1.0.0")
        self.assertEqual((s, hashlib.sha256(body).hexdigest()), (200, f["sha256"]))
        self.assertEqual(len(self.kubo.gets) - before, 3)
        # Kept: the next download needs Kubo no more.
        files = node_block_files(self.node)
        for d in leaves:
            self.assertIn(b"\x12\x20" + d, files)
        s, body = self.download("1.0.0")
        self.assertEqual((s, body == data), (200, True))
        self.assertEqual(len(self.kubo.gets) - before, 3)

    def test_gateway_serves_a_block_only_kubo_has(self):
        blk = pattern(5000, seed=31)
        mh = b"\x12\x20" + hashlib.sha256(blk).digest()
        self.kubo.put(mh, blk)
        import base64
        cid = "b" + base64.b32encode(b"\x01\x55" + mh).decode().lower().rstrip("=")
        s, body = self.gateway_raw(cid)
        self.assertEqual((s, body), (200, blk))
        self.assertIn(mh, node_block_files(self.node))
        # Neither here nor there: 404.
        other = "b" + base64.b32encode(b"\x01\x55\x12\x20" + hashlib.sha256(b"x").digest()).decode().lower().rstrip("=")
        s, _ = self.gateway_raw(other)
        self.assertEqual(s, 404)

    def test_malformed_kubo_replies_are_refused(self):
        data = pattern(2 * 262144 + 10, seed=34)
        self.upload("4.0.0", data)
        leaf = b"\x12\x20" + hashlib.sha256(data[262144:524288]).digest()
        try:
            for mode in ["garbage", "cut", "huge", "trailer"]:
                path = node_block_files(self.node).get(leaf)
                if path:
                    os.unlink(path)
                self.kubo.broken = mode
                s, body = self.download("4.0.0")
                self.assertLess(len(body), len(data), mode)
                self.assertNotIn(leaf, node_block_files(self.node), mode)
        finally:
            self.kubo.broken = None
        s, _, b = self.node.request("GET", "/healthz")  # still alive
        self.assertEqual(s, 200)
        s, body = self.download("4.0.0")
        self.assertEqual((s, body == data), (200, True))

    def test_wrong_bytes_from_kubo_are_refused(self):
        data = pattern(3 * 262144, seed=32)
        self.upload("2.0.0", data)
        leaf = b"\x12\x20" + hashlib.sha256(data[262144:524288]).digest()
        os.unlink(node_block_files(self.node)[leaf])
        self.kubo.tamper.add(leaf)
        try:
            s, body = self.download("2.0.0")
            # The body is cut before the bad block: never a full, wrong file.
            self.assertNotEqual((s, body), (200, data))
            self.assertLess(len(body), len(data))
            self.assertNotIn(leaf, node_block_files(self.node))  # not kept
        finally:
            self.kubo.tamper.discard(leaf)
        s, body = self.download("2.0.0")
        self.assertEqual((s, body == data), (200, True))



class DiskFull(unittest.TestCase):
    """A node whose data directory is on a 16 MiB tmpfs (mounting one needs
    root, as CI runs; skipped otherwise): an upload that fills the disk gets
    507 insufficient_storage, leaves no half-written block, keeps its
    offset consistent with its .part file, and the node keeps serving."""

    def setUp(self):
        import tempfile
        self.mnt = tempfile.mkdtemp(prefix="agora-full-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", self.mnt],
                           capture_output=True)
        if r.returncode:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a small tmpfs here (needs root): %s"
                          % r.stderr.decode(errors="replace").strip())
        self.node = Node(args=["--data-dir", os.path.join(self.mnt, "data")])

    def tearDown(self):
        try:
            self.node.cleanup()
        finally:
            subprocess.run(["umount", self.mnt], check=True)
            os.rmdir(self.mnt)

    def tmp_files(self):
        out = []
        for root, _, files in os.walk(os.path.join(self.mnt, "data", "blocks")):
            out += [f for f in files if f.startswith(".tmp-")]
        return out

    def put(self, token, version, data):
        n = self.node
        s, _, b = n.request("POST", "/api/v1/models/kim/k/versions", {"version": version},
                            token=token)
        self.assertEqual(s, 201, b)
        s, _, up = n.request("POST", "/api/v1/models/kim/k/versions/%s/uploads" % version,
                             {"name": "w.bin", "size": len(data)}, token=token)
        self.assertEqual(s, 201, up)
        s, _, f = n.request("PATCH", "/api/v1/uploads/" + up["id"], raw=data, content_type=None,
                            headers={"Upload-Offset": "0", "Content-Type": OCTET}, token=token)
        return up["id"], s, f

    def test_full_disk_is_a_clear_error_and_the_node_keeps_serving(self):
        n = self.node
        token = register(n, "kim")
        n.request("POST", "/api/v1/models", {"slug": "k", "title": "k"}, token=token)
        # 10 MiB: its .part file fits, its blocks (10 MiB more) do not.
        uid, s, b = self.put(token, "1.0.0", pattern(10 << 20, seed=40))
        self.assertEqual(s, 507, b)
        self.assertEqual(b["error"]["code"], "insufficient_storage")
        self.assertIn("storage space", b["error"]["message"])
        self.assertIn("No space left on device", n.logs())
        self.assertEqual(self.tmp_files(), [])
        # The upload's offset is what its .part file holds: resumable later.
        s, _, u = n.request("GET", "/api/v1/uploads/" + uid, token=token)
        self.assertEqual(s, 200, u)
        part = os.path.join(self.mnt, "data", "uploads", uid + ".part")
        self.assertEqual(u["offset"], os.path.getsize(part))
        # Still serving: health, and a small file in and out.
        s, _, h = n.request("GET", "/healthz")
        self.assertEqual((s, h["status"]), (200, "ok"))
        small = pattern(100_000, seed=41)
        _, s, f = self.put(token, "1.0.1", small)
        self.assertEqual(s, 200, f)
        n.request("POST", "/api/v1/models/kim/k/versions/1.0.1/publish", token=token)
        c = http.client.HTTPConnection(n.host, n.port, timeout=30)
        c.request("GET", "/api/v1/models/kim/k/versions/1.0.1/files/w.bin")
        self.assertEqual(c.getresponse().read(), small)
        c.close()
        # Abandoning the big upload gives its space back.
        s, _, _ = n.request("DELETE", "/api/v1/uploads/" + uid, token=token)
        self.assertIn(s, (200, 204))
        self.assertFalse(os.path.exists(part))
        self.assertEqual(self.tmp_files(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
