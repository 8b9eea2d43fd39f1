#!/usr/bin/python3
"""uploads.py - bench/load's upload side: N clients each uploading files back
to back through the resumable upload API (create, one PATCH, answer) until
the deadline, and what they saw: uploads done, answers by status class, the
time per upload (p50/p99). Prints one JSON object.

usage: uploads.py URL TOKEN OWNER SLUG CLIENTS SECONDS SIZE_KIB
The model OWNER/SLUG must exist; each client makes its own draft version.
"""
import hashlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

url, token, owner, slug = sys.argv[1:5]
clients, seconds, size = int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]) * 1024
u = urllib.parse.urlparse(url)
AUTH = {"Authorization": "Bearer " + token}
lock = threading.Lock()
stats = {"uploads": 0, "bytes": 0, "s2xx": 0, "s4xx": 0, "s5xx": 0, "errors": 0, "bad_sha": 0}
times = []


def count(status):
    key = "s%dxx" % (status // 100) if status // 100 in (2, 4, 5) else "errors"
    with lock:
        stats[key] += 1


def call(c, method, path, body=None, headers=None):
    c.request(method, path, body, dict(AUTH, **(headers or {})))
    r = c.getresponse()
    data = r.read()
    count(r.status)
    return r.status, r, data


def client(n, start):
    data = os.urandom(size)
    sha = hashlib.sha256(data).hexdigest()
    version = "1.%d.0" % n
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    s, _, b = call(c, "POST", "/api/v1/models/%s/%s/versions" % (owner, slug),
                   json.dumps({"version": version}), {"Content-Type": "application/json"})
    if s not in (201, 409):
        sys.stderr.write("uploads.py: cannot create version %s: %d %s\n" % (version, s, b[:200]))
        return
    start.wait()
    i = 0
    while time.time() < clock["deadline"]:
        t0 = time.time()
        try:
            s, _, b = call(c, "POST", "/api/v1/models/%s/%s/versions/%s/uploads"
                           % (owner, slug, version),
                           json.dumps({"name": "f%05d.bin" % i, "size": size, "sha256": sha}),
                           {"Content-Type": "application/json"})
            i += 1
            if s != 201:
                continue
            up = json.loads(b)
            s, _, b = call(c, "PATCH", "/api/v1/uploads/" + up["id"], data,
                           {"Content-Type": "application/offset+octet-stream",
                            "Upload-Offset": "0"})
            if s == 200:
                ok = json.loads(b)["sha256"] == sha
                with lock:
                    stats["uploads"] += 1
                    stats["bytes"] += size
                    stats["bad_sha"] += 0 if ok else 1
                    times.append(time.time() - t0)
        except (OSError, http.client.HTTPException):
            with lock:
                stats["errors"] += 1
            c.close()
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.close()


start = threading.Event()
clock = {"deadline": 0}
threads = [threading.Thread(target=client, args=(n, start)) for n in range(clients)]
for t in threads:
    t.start()
time.sleep(1)  # each client makes its draft version first
began = time.time()
clock["deadline"] = began + seconds
start.set()
for t in threads:
    t.join()
elapsed = time.time() - began
times.sort()


def pct(p):
    return round(times[min(len(times) - 1, int(len(times) * p))] * 1000, 1) if times else None


stats.update({"clients": clients, "size_kib": size // 1024, "seconds": round(elapsed, 1),
              "upload_p50_ms": pct(0.50), "upload_p99_ms": pct(0.99),
              "mib_per_s": round(stats["bytes"] / elapsed / 1048576, 1)})
print(json.dumps(stats))
