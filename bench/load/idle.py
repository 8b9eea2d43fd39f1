#!/usr/bin/python3
"""idle.py - bench/load's idle side: opens N keep-alive connections to the
node, one request each, holds them all open for HOLD seconds, then asks
again on every one. Counts the answers per round: 200, 503 with
Retry-After, other statuses, and connections the node closed without an
answer. With NODE_PID, also the node's RSS while it holds them. Prints one
JSON object.

usage: idle.py HOST PORT N HOLD_SECONDS PATH [NODE_PID]
"""
import json
import socket
import sys
import time

host, port, n, hold, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
pid = int(sys.argv[6]) if len(sys.argv) > 6 else None
REQ = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def rss_kib():
    if not pid:
        return None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def ask(s):
    """One request on s: 'ok', '503' (with Retry-After), '503-bare', 'other', or 'closed'."""
    try:
        s.sendall(REQ)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return "closed", None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        need = int(hdrs.get("content-length", "0"))
        while len(rest) < need:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        if status == 200:
            return "ok", s
        if status == 503:
            return ("503" if "retry-after" in hdrs else "503-bare"), s
        return "other", s
    except OSError:
        return "closed", None


def tally(results):
    out = {}
    for r in results:
        out[r] = out.get(r, 0) + 1
    return out


socks, first = [], []
t0 = time.time()
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=30)
    except OSError:
        first.append("refused")
        continue
    r, s2 = ask(s)
    first.append(r)
    if s2 is not None and r == "ok":
        socks.append(s2)
    else:
        s.close()
opened = time.time() - t0
time.sleep(hold)
rss_held = rss_kib()
second = []
for s in socks:
    r, _ = ask(s)
    second.append(r)
for s in socks:
    s.close()
print(json.dumps({"connections": n, "open_s": round(opened, 1), "held": len(socks),
                  "hold_s": hold, "first": tally(first), "after_hold": tally(second),
                  "rss_kib_held": rss_held}))
