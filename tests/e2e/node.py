"""node.py - start a real `agora serve` on a free port with a temp data dir.

Shared by the end-to-end tests. The binary comes from $AGORA_BIN (set by
CTest), the source tree from $AGORA_SRC.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

BIN = os.environ.get("AGORA_BIN", os.path.join(os.path.dirname(__file__), "../../build/agora"))
SRC = os.environ.get("AGORA_SRC", os.path.join(os.path.dirname(__file__), "../.."))


class Node:
    def __init__(self, env=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="agora-e2e-")
        self.data = os.path.join(self.dir, "data")
        e = dict(os.environ)
        e.update({"AGORA_PWHASH": "min", "AGORA_LOG_LEVEL": "warn"})
        e.update(env or {})
        self.log = open(os.path.join(self.dir, "node.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data, *args],
            stdout=subprocess.PIPE, stderr=self.log, env=e)
        line = self.proc.stdout.readline().decode()
        if "serving on" not in line:
            self.proc.kill()
            raise RuntimeError("node did not start: %r\n%s" % (line, self.logs()))
        self.url = line.split("serving on ", 1)[1].strip()
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port

    def logs(self):
        self.log.flush()
        with open(os.path.join(self.dir, "node.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                content_type="application/json"):
        """Returns (status, headers dict (lowercase), parsed JSON or text)."""
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type and "Content-Type" not in h:
            h["Content-Type"] = content_type
        if token:
            h["Authorization"] = "Bearer " + token
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if "set-cookie" in hdrs:
                hdrs["set-cookie"] = ", ".join(v for k, v in r.getheaders() if k.lower() == "set-cookie")
        finally:
            c.close()
        if hdrs.get("content-type", "").startswith("application/json") and payload:
            return r.status, hdrs, json.loads(payload)
        return r.status, hdrs, payload.decode(errors="replace")

    def cli(self, *args, env=None, input=None):
        e = dict(os.environ)
        e.update({"AGORA_NODE": self.url, "AGORA_CONFIG_DIR": os.path.join(self.dir, "cfg")})
        e.update(env or {})
        return subprocess.run([BIN, *args], capture_output=True, text=True, env=e,
                              input=input, timeout=120)

    def stop(self):
        """SIGTERM; returns the exit code (a clean shutdown is 0).

        Raises AssertionError when the node's log holds a sanitizer report
        (the tests run the ASan + UBSan build: a leak or a runtime error in
        the daemon fails the test that ran it, even when every answer was
        right). A node killed on purpose (SIGKILL) reports nothing."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
            if self.proc.stdout:
                self.proc.stdout.close()
            report = sanitizer_report(self.logs_closed())
            if report:
                raise AssertionError("the node's sanitizers reported (exit %s):\n%s"
                                     % (self.proc.returncode, report))
        return self.proc.returncode

    def logs_closed(self):
        with open(os.path.join(self.dir, "node.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "ThreadSanitizer")


def sanitizer_report(log):
    """The first sanitizer report in `log` (about 40 lines from its start), or ""."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKS):
            return "\n".join(lines[i:i + 40])
    return ""


def register(node, name, password="correct horse battery"):
    """Registers `name` and returns an API token for it."""
    s, _, b = node.request("POST", "/api/v1/auth/register",
                           {"username": name, "email": name + "@example.org", "password": password})
    assert s == 201, (s, b)
    s, _, b = node.request("POST", "/api/v1/auth/login",
                           {"login": name, "password": password, "token_name": "e2e"})
    assert s == 200, (s, b)
    return b["token"]
