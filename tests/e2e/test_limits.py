"""test_limits.py - abuse controls end to end: per-address and per-account
token buckets (429 + Retry-After + request id), the connection cap and the
per-address connection cap (503 + Retry-After), slow clients cut by the
timeout, and slow request bodies cut with 408 (an upload cut that way
resumes from where it stopped)."""
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, Node, register  # noqa: E402


def get(node, path, token=None, headers=None):
    return node.request("GET", path, token=token, headers=headers)


class RateLimits(unittest.TestCase):
    def assertLimited(self, resp, who):
        s, h, b = resp
        self.assertEqual(s, 429, b)
        self.assertEqual(b["error"]["code"], "rate_limited")
        self.assertIn(who, b["error"]["message"])
        self.assertEqual(b["error"]["request_id"], h["x-request-id"])
        self.assertGreaterEqual(int(h["retry-after"]), 1)
        return int(h["retry-after"])

    def test_per_address(self):
        # 1 request per 2 s, bucket of 5: the sixth in a row is refused.
        node = Node(args=["--rate-ip", "0.5:5", "--rate-account", "0"])
        try:
            for i in range(5):
                s, _, b = get(node, "/api/v1/models")
                self.assertEqual(s, 200, (i, b))
            retry = self.assertLimited(get(node, "/api/v1/models"), "address")
            self.assertEqual(retry, 2)
            # Every kind of request counts: static files, 404s, the API.
            self.assertLimited(get(node, "/api/v1/no-such-thing"), "address")
            s, h, _ = get(node, "/index.html")
            self.assertEqual(s, 429)
            # A refused upload-sized body is answered from the headers alone.
            c = http.client.HTTPConnection(node.host, node.port, timeout=10)
            c.putrequest("POST", "/api/v1/auth/register")
            c.putheader("Content-Type", "application/json")
            c.putheader("Content-Length", "900000")
            c.putheader("Expect", "100-continue")
            c.endheaders()
            r = c.getresponse()
            self.assertEqual(r.status, 429)
            c.close()
            # Refused requests cost nothing: after Retry-After one passes.
            time.sleep(retry + 0.2)
            s, _, _ = get(node, "/api/v1/models")
            self.assertEqual(s, 200)
        finally:
            node.cleanup()

    def test_per_account(self):
        node = Node(args=["--rate-ip", "0", "--rate-account", "0.2:4"])
        try:
            alice = register(node, "alice")
            bob = register(node, "bob")
            for i in range(4):
                s, _, b = get(node, "/api/v1/auth/me", token=alice)
                self.assertEqual(s, 200, (i, b))
            retry = self.assertLimited(get(node, "/api/v1/auth/me", token=alice), "account")
            self.assertEqual(retry, 5)
            # A second token of the same account shares the bucket.
            s, _, b = node.request("POST", "/api/v1/auth/login",
                                   {"login": "alice", "password": "correct horse battery",
                                    "token_name": "second"})
            self.assertEqual(s, 200, b)
            self.assertLimited(get(node, "/api/v1/models", token=b["token"]), "account")
            # Other accounts and anonymous readers are not affected.
            s, _, _ = get(node, "/api/v1/auth/me", token=bob)
            self.assertEqual(s, 200)
            for _ in range(10):
                s, _, _ = get(node, "/api/v1/models")
                self.assertEqual(s, 200)
            # Mutations are limited too, and change nothing when refused.
            s, _, b = node.request("POST", "/api/v1/models", {"slug": "m1", "title": "M"},
                                   token=alice)
            self.assertEqual(s, 429, b)
            s, _, _ = get(node, "/api/v1/models/alice/m1")
            self.assertEqual(s, 404)
        finally:
            node.cleanup()

    def test_defaults_leave_a_browser_session_alone(self):
        # The defaults (50/s, burst 500 per address; 20/s, burst 200 per
        # account): a page load's worth of requests, many times over, passes.
        node = Node()
        try:
            tok = register(node, "carol")
            for i in range(150):
                s, _, b = get(node, "/api/v1/models" if i % 2 else "/healthz",
                              token=tok if i % 3 == 0 else None)
                self.assertEqual(s, 200, (i, b))
        finally:
            node.cleanup()

    def test_environment_and_bad_specs(self):
        node = Node(env={"AGORA_RATE_IP": "0.1:1"})
        try:
            self.assertEqual(get(node, "/healthz")[0], 200)
            self.assertEqual(get(node, "/healthz")[0], 429)
        finally:
            node.cleanup()
        for bad in ["fast", "-1", "10:0", "1:2:3"]:
            r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                "/nonexistent/never", "--rate-ip", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
            self.assertIn("rate-ip", r.stderr)


class Connections(unittest.TestCase):
    def test_cap_answers_503_with_retry_after(self):
        node = Node(args=["--max-connections", "8", "--max-connections-hard", "64",
                          "--rate-ip", "0"])
        held = []
        try:
            for _ in range(10):
                c = http.client.HTTPConnection(node.host, node.port, timeout=10)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                held.append(c)
            # Past the cap: an answer, not a silent drop.
            c = http.client.HTTPConnection(node.host, node.port, timeout=10)
            c.request("GET", "/api/v1/models")
            r = c.getresponse()
            b = json.loads(r.read())
            self.assertEqual(r.status, 503)
            self.assertEqual(r.getheader("Retry-After"), "1")
            self.assertEqual(b["error"]["code"], "unavailable")
            self.assertEqual(b["error"]["request_id"], r.getheader("X-Request-Id"))
            self.assertEqual(r.getheader("Connection"), "close")
            c.close()
            # Clients that leave make room again.
            for c in held:
                c.close()
            held = []
            deadline = time.time() + 10
            while True:
                s, _, _ = get(node, "/healthz")
                if s == 200 or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(s, 200)
        finally:
            for c in held:
                c.close()
            node.cleanup()

    def test_slow_clients_are_cut(self):
        node = Node(args=["--timeout", "2", "--rate-ip", "0"])
        try:
            # Stalled: half a request head, then nothing.
            s1 = socket.create_connection((node.host, node.port), timeout=15)
            s1.sendall(b"GET /healthz HTTP/1.1\r\nHost: x")
            # Trickling: the whole head, a byte every 100 ms, never leaves
            # the connection idle; without the head deadline it would be
            # answered after about 25 s. It must be cut without an answer.
            s2 = socket.create_connection((node.host, node.port), timeout=15)
            head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"
            answer = b""
            for i in range(len(head)):
                try:
                    s2.send(head[i:i + 1])
                except OSError:
                    break
                time.sleep(0.1)
            s2.settimeout(15)
            try:
                answer = s2.recv(100)
            except OSError:
                pass
            self.assertEqual(answer, b"", "a trickling client was answered, not cut")
            s1.settimeout(10)
            try:
                self.assertEqual(s1.recv(100), b"", "a stalled client got an answer")
            except ConnectionResetError:
                pass
            s1.close()
            s2.close()
            # The node still serves normal clients.
            self.assertEqual(get(node, "/healthz")[0], 200)
        finally:
            node.cleanup()


def read_answer(sock, limit=1 << 16):
    """Reads one HTTP answer (head and Content-Length body) from a raw socket;
    returns (status, headers dict lowercase, body bytes), or (0, {}, b"")
    when the connection closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            return 0, {}, b""
        data += chunk
        if len(data) > limit:
            raise AssertionError("answer head too long")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    want = int(hdrs.get("content-length", "0"))
    while len(body) < want:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        body += chunk
    return status, hdrs, body


def trickle(sock, head, fast, rest, gap=0.2, give_up=60):
    """Sends `head` and `fast` at once, then `rest` a byte every `gap` seconds
    until the node answers or closes; returns (answer, bytes of rest sent).
    Gives up (and fails the caller's checks) after `give_up` seconds."""
    import select
    sock.sendall(head + fast)
    sent = 0
    end = time.time() + give_up
    while sent < len(rest) and time.time() < end:
        r, _, _ = select.select([sock], [], [], gap)
        if r:
            break
        try:
            sock.send(rest[sent:sent + 1])
        except OSError:
            break
        sent += 1
    sock.settimeout(30)
    return read_answer(sock), sent


class SlowBodies(unittest.TestCase):
    """--min-body-rate over --body-rate-window: a body trickled a byte at a
    time (never idle long enough for --timeout) is cut with 408."""

    ARGS = ["--min-body-rate", "1024", "--body-rate-window", "2", "--rate-ip", "0",
            "--rate-account", "0"]

    def test_trickled_body_is_cut_with_408_and_others_are_served(self):
        node = Node(args=self.ARGS, env={"AGORA_LOG_LEVEL": "info"})
        try:
            sock = socket.create_connection((node.host, node.port), timeout=30)
            body = json.dumps({"username": "slowpoke", "email": "s@example.org",
                               "password": "correct horse battery"}).encode()
            head = ("POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
            # Meanwhile another client is served normally.
            import threading
            others = []
            def reader():
                for _ in range(10):
                    others.append(get(node, "/healthz")[0])
                    time.sleep(0.1)
            t = threading.Thread(target=reader)
            t.start()
            (status, hdrs, payload), sent = trickle(sock, head, body[:5], body[5:])
            t.join()
            sock.close()
            self.assertEqual(status, 408, "a trickled body was not cut with 408 (sent %d)" % sent)
            self.assertLess(sent, len(body) - 5, "the body was cut before it ended")
            b = json.loads(payload)
            self.assertEqual(b["error"]["code"], "timeout")
            self.assertEqual(b["error"]["request_id"], hdrs["x-request-id"])
            self.assertEqual(hdrs.get("connection"), "close")
            self.assertEqual(others, [200] * 10)
            # The account was not created from half a body; the node still serves.
            s, _, b = node.request("POST", "/api/v1/auth/login",
                                   {"login": "slowpoke", "password": "correct horse battery"})
            self.assertEqual(s, 401, b)
            # The log says why, with the request id.
            deadline = time.time() + 10
            while "too slow" not in node.logs() and time.time() < deadline:
                time.sleep(0.1)
            line = [l for l in node.logs().splitlines() if "too slow" in l]
            self.assertTrue(line, node.logs()[-2000:])
            self.assertIn(hdrs["x-request-id"], line[0])
            self.assertIn("status=408", line[0])
            s, _, text = node.request("GET", "/metrics")
            self.assertIn('agora_http_connections_cut_total{reason="body_rate"} 1', text)
        finally:
            node.cleanup()

    def test_cut_upload_resumes_from_its_offset(self):
        node = Node(args=self.ARGS)
        try:
            tok = register(node, "alice")
            data = bytes((i * 7 + i // 251) & 255 for i in range(300_000))
            up = {"id": new_upload(self, node, "alice", tok, data)}
            # 100,000 bytes at once, then a byte every 200 ms: cut with 408.
            sock = socket.create_connection((node.host, node.port), timeout=30)
            head = ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                    "Content-Length: %d\r\n\r\n" % (up["id"], tok, len(data))).encode()
            (status, _, payload), sent = trickle(sock, head, data[:100_000], data[100_000:])
            sock.close()
            self.assertEqual(status, 408, payload)
            # Nothing that reached the node is lost: the upload resumes from
            # its offset (409 while the node still holds the cut request).
            for _ in range(100):
                s, h, f = node.request("PATCH", "/api/v1/uploads/" + up["id"], raw=b"",
                                       content_type=None, token=tok,
                                       headers={"Upload-Offset": "0",
                                                "Content-Type": "application/offset+octet-stream"})
                if not (s == 409 and f["error"]["field"] == "id"):
                    break
                time.sleep(0.1)
            s, _, b = node.request("GET", "/api/v1/uploads/" + up["id"], token=tok)
            self.assertEqual(s, 200, b)
            offset = b["offset"]
            self.assertGreaterEqual(offset, 100_000)
            self.assertLessEqual(offset, 100_000 + sent)
            s, _, f = node.request("PATCH", "/api/v1/uploads/" + up["id"], raw=data[offset:],
                                   content_type=None, token=tok,
                                   headers={"Upload-Offset": str(offset),
                                            "Content-Type": "application/offset+octet-stream"})
            self.assertEqual(s, 200, f)
            self.assertEqual(f["sha256"], hashlib.sha256(data).hexdigest())
            c = http.client.HTTPConnection(node.host, node.port, timeout=30)
            c.request("GET", "/api/v1/models/alice/m/versions/1.0.0/files/w.bin",
                      headers={"Authorization": "Bearer " + tok})
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, data))
            c.close()
        finally:
            node.cleanup()

    def test_a_steady_slow_upload_is_not_cut(self):
        # 4 KB/s for 4 s (two windows) against a 1 KiB/s minimum: slow, but
        # the upload completes.
        node = Node(args=self.ARGS)
        try:
            tok = register(node, "bob")
            data = bytes(range(256)) * 64  # 16 KiB
            uid = new_upload(self, node, "bob", tok, data)
            sock = socket.create_connection((node.host, node.port), timeout=30)
            sock.sendall(("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          "Bearer %s\r\nContent-Type: application/offset+octet-stream\r\n"
                          "Upload-Offset: 0\r\nContent-Length: %d\r\n\r\n"
                          % (uid, tok, len(data))).encode())
            for i in range(0, len(data), 1024):
                sock.sendall(data[i:i + 1024])
                time.sleep(0.25)
            status, _, payload = read_answer(sock)
            sock.close()
            self.assertEqual(status, 200, payload)
        finally:
            node.cleanup()


def new_upload(test, node, user, tok, data, slug="m"):
    """Creates `user`'s listing `slug`, draft version 1.0.0 and an upload of
    `data`; returns the upload id."""
    s, _, b = node.request("POST", "/api/v1/models", {"slug": slug, "title": "M"}, token=tok)
    test.assertEqual(s, 201, b)
    s, _, b = node.request("POST", "/api/v1/models/%s/%s/versions" % (user, slug),
                           {"version": "1.0.0"}, token=tok)
    test.assertEqual(s, 201, b)
    s, _, up = node.request("POST", "/api/v1/models/%s/%s/versions/1.0.0/uploads" % (user, slug),
                            {"name": "w.bin", "size": len(data),
                             "sha256": hashlib.sha256(data).hexdigest()}, token=tok)
    test.assertEqual(s, 201, up)
    return up["id"]


class PerAddress(unittest.TestCase):
    def hold(self, node, n):
        held = []
        for _ in range(n):
            c = http.client.HTTPConnection(node.host, node.port, timeout=10)
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            held.append(c)
        return held

    def test_cap_answers_503_and_frees_on_close(self):
        node = Node(args=["--max-connections-per-ip", "3", "--rate-ip", "0"])
        held = []
        try:
            held = self.hold(node, 3)
            c = http.client.HTTPConnection(node.host, node.port, timeout=10)
            c.request("GET", "/api/v1/models")
            r = c.getresponse()
            b = json.loads(r.read())
            self.assertEqual(r.status, 503)
            self.assertEqual(r.getheader("Retry-After"), "1")
            self.assertEqual(b["error"]["code"], "unavailable")
            self.assertIn("from this address", b["error"]["message"])
            self.assertEqual(b["error"]["request_id"], r.getheader("X-Request-Id"))
            c.close()
            # The held connections keep working; closing one makes room.
            held[0].request("GET", "/healthz")
            r = held[0].getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            held.pop().close()
            deadline = time.time() + 10
            while True:
                s, _, _ = get(node, "/healthz")
                if s == 200 or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(s, 200)
            # Asked on a held connection: a fresh one could still find the
            # address at its cap until the node has seen the last one close.
            held[0].request("GET", "/metrics")
            r = held[0].getresponse()
            text = r.read().decode()
            self.assertEqual(r.status, 200)
            # (at least 1: the retries above may have met the cap too)
            line = [l for l in text.splitlines()
                    if l.startswith('agora_http_per_address_cap_total{action="answered_503"} ')]
            self.assertTrue(line, text)
            self.assertGreaterEqual(int(line[0].split()[-1]), 1)
        finally:
            for c in held:
                c.close()
            node.cleanup()

    def test_limits_off_when_zero(self):
        node = Node(args=["--max-connections-per-ip", "0", "--min-body-rate", "0",
                          "--body-rate-window", "1", "--rate-ip", "0"])
        held = []
        try:
            held = self.hold(node, 12)
            # A trickled body is answered (a bad login, not a 408).
            sock = socket.create_connection((node.host, node.port), timeout=30)
            body = json.dumps({"login": "x", "password": "y"}).encode()
            head = ("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
            (status, _, _), sent = trickle(sock, head, b"", body, gap=0.15)
            sock.close()
            self.assertEqual(sent, len(body))
            self.assertNotIn(status, (0, 408))
        finally:
            for c in held:
                c.close()
            node.cleanup()

    def test_bad_values_are_refused(self):
        for opt, bad in [("--max-connections-per-ip", "-1"), ("--min-body-rate", "fast"),
                         ("--body-rate-window", "0"), ("--body-timeout", "-5")]:
            r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                "/nonexistent/never", opt, bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (opt, bad, r.stderr))
            self.assertIn(opt[2:], r.stderr)


if __name__ == "__main__":
    unittest.main()
