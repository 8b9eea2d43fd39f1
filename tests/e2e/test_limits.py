"""test_limits.py - abuse controls end to end: per-address and per-account
token buckets (429 + Retry-After + request id), the connection cap (503 +
Retry-After), and slow clients cut by the timeout."""
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


if __name__ == "__main__":
    unittest.main()
