#!/usr/bin/python3
"""report.py - bench/http's checks and report.

  report.py shape NODE_URL FLASK_URL PATHS_DIR
      Asks both stacks the benchmarked requests and compares the answers:
      same keys and JSON types, same ids in the same order, same totals.
      Exits 1 and prints the differences when they disagree.
  report.py table RESULTS_TSV DATASET_JSON OUT_MD [options]
      Turns run.sh's wrk results into a Markdown table with the ratios and
      the issue's goals, prints it and writes it to OUT_MD. Stacks in the
      results: nginx, flask, agora (the node with --cache-ms 0: the goals
      are judged on it) and agora-cached (the node's default micro-cache:
      reported for information). --nodes names run.sh's nodes.tsv: per node
      configuration its search index state, build time and RSS.
"""
import argparse
import datetime
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import urllib.request

CASES = [("detail", "model detail"), ("list", "list, newest 20"),
         ("search-selective", "search, selective term"), ("search-broad", "search, broad term")]
# The node's configurations, as run.sh names their rows. Each goal is judged
# like for like: against Flask, which computes every answer, on the uncached
# node (JUDGED); against nginx, which serves stored bytes, on the node as it
# runs by default, with its micro-cache (INFO); both figures are shown.
AGORA_STACKS = [("agora", "agora"), ("agora-cached", "agora, micro-cache")]
JUDGED, INFO = "agora", "agora-cached"
MODE_TEXT = {"uncached": "agora, uncached (`--cache-ms 0`)",
             "cached": "agora, micro-cache (the default: 2 s for anonymous reads)"}
# The goals.
DETAIL_VS_NGINX = 0.5
SEARCH_VS_FLASK = 10.0
SELECTIVE_P99_MS = 10.0


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, json.loads(r.read())


def shape(value):
    """The JSON type skeleton of a value: dict keys recursively, list of the first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def compare(label, a, b, problems):
    sa, sb = shape(a), shape(b)
    if sa != sb:
        problems.append(f"{label}: shapes differ\n  node:  {json.dumps(sa)[:600]}\n  flask: {json.dumps(sb)[:600]}")


def cmd_shape(node, flask, paths_dir):
    problems = []
    detail = open(os.path.join(paths_dir, "detail_paths.txt")).read().split()[:5]
    for p in detail:
        (s1, a), (s2, b) = fetch(node + p), fetch(flask + p)
        if s1 != 200 or s2 != 200:
            problems.append(f"{p}: status node {s1}, flask {s2}")
            continue
        a.pop("liked", None)
        compare(p, a, b, problems)
        for k in ("id", "owner", "slug", "card", "price", "latest_version"):
            if a.get(k) != b.get(k):
                problems.append(f"{p}: {k} differs: {str(a.get(k))[:80]!r} vs {str(b.get(k))[:80]!r}")
    lists = []
    for name in ("list.txt", "search_selective.txt", "search_broad.txt"):
        lists += open(os.path.join(paths_dir, name)).read().split()[:3]
    for p in lists:
        (s1, a), (s2, b) = fetch(node + p), fetch(flask + p)
        if s1 != 200 or s2 != 200:
            problems.append(f"{p}: status node {s1}, flask {s2}")
            continue
        compare(p, a, b, problems)
        ia, ib = [x.get("id") for x in a.get("items", [])], [x.get("id") for x in b.get("items", [])]
        if ia != ib:
            problems.append(f"{p}: different items: {ia[:5]}... vs {ib[:5]}...")
        if a.get("total") != b.get("total") or a.get("facets") != b.get("facets"):
            problems.append(f"{p}: totals or facets differ: {a.get('total')} vs {b.get('total')}")
    for line in problems:
        print("shape: " + line)
    if not problems:
        print(f"shape: node and Flask agree on {len(detail) + len(lists)} requests "
              "(same JSON shape, same items in the same order, same totals and facets)")
    return 1 if problems else 0


def parse_results(path):
    rows = {}
    for line in open(path):
        stack, case, conns, stats = line.rstrip("\n").split("\t")
        kv = dict(re.findall(r"(\w+)=(\d+)", stats))
        kv = {k: int(v) for k, v in kv.items()}
        kv["rps"] = kv["requests"] / (kv["duration_us"] / 1e6)
        kv["errors"] = sum(kv[k] for k in ("connect", "read", "write", "status", "timeout"))
        kv["failed"] = kv["requests"] == 0  # nothing completed: the latencies mean nothing
        rows[(stack, case, int(conns))] = kv
    return rows


def ok(r):
    """A run counts toward a goal only if requests completed and none failed."""
    return not r["failed"] and not r["errors"]


def ms(us):
    return f"{us / 1000:.2f}" if us < 10000 else f"{us / 1000:.0f}"


def rate(r):
    if r is None:
        return "-"
    text = f"{r['rps']:,.0f}" if r["rps"] >= 100 else f"{r['rps']:,.1f}"
    if r["failed"]:
        return "no request completed"
    if r["errors"]:
        text += f" ({r['errors']} errors: {r['status']} non-2xx, {r['timeout']} timeouts)"
    return text


def goals(rows, conns, stack):
    """The issue's goals for one node configuration: (goal, connections,
    measured, met) per goal and connection count. A run with errors or
    without completed requests never meets a goal."""
    out = []
    for c in conns:
        n, ng = rows.get((stack, "detail", c)), rows.get(("nginx", "static", c))
        if n and ng and ng["rps"]:
            x = n["rps"] / ng["rps"]
            out.append((f"model detail >= {DETAIL_VS_NGINX}x nginx", c, f"{x:.2f}x",
                        x >= DETAIL_VS_NGINX and ok(n)))
    for c in conns:
        for case in ("search-selective", "search-broad"):
            n, f = rows.get((stack, case, c)), rows.get(("flask", case, c))
            goal = f"{case.replace('-', ', ')} >= {SEARCH_VS_FLASK:g}x Flask"
            if n and f and f["rps"]:
                x = n["rps"] / f["rps"]
                out.append((goal, c, f"{x:.1f}x", x >= SEARCH_VS_FLASK and ok(n)))
            elif n and f:
                out.append((goal, c, "no Flask request completed", False))
    for case, label in (("search-selective", "search, selective"), ("detail", "model detail")):
        n = rows.get((stack, case, 8))
        if n:
            measured = "no request completed" if n["failed"] else f"{ms(n['p99_us'])} ms"
            out.append((f"{label} p99 <= {SELECTIVE_P99_MS:g} ms", 8, measured,
                        n["p99_us"] <= SELECTIVE_P99_MS * 1000 and ok(n)))
    return out


def goal_rows(rows, conns):
    """The goal table: each goal's figure uncached and with the micro-cache;
    met is judged on the configuration the goal compares like for like."""
    unc = {(g, c): (m, met) for g, c, m, met in goals(rows, conns, JUDGED)}
    cac = {(g, c): (m, met) for g, c, m, met in goals(rows, conns, INFO)}
    out = []
    for key in list(unc) + [k for k in cac if k not in unc]:
        g, c = key
        judged = cac if "nginx" in g else unc
        m, met = judged.get(key, ("not measured", False))
        out.append(f"| {g} | {c} | {unc.get(key, ('-',))[0]} | {cac.get(key, ('-',))[0]} | "
                   f"{'micro-cache' if judged is cac else 'uncached'} | {'yes' if met else 'NO'} |")
    return out


def mib(kb):
    return f"{int(kb) / 1024:,.0f} MiB" if kb and kb.isdigit() and int(kb) else "?"


def node_lines(path):
    """The header lines for run.sh's nodes.tsv: per configuration, the search
    index's state and build time, and the node's RSS."""
    out = []
    if not path or not os.path.exists(path):
        return out
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 7:
            continue
        mode, state, listings, note, elapsed, rss_ready, rss_end = f[:7]
        secs = f"{int(elapsed) / 1000:.{2 if int(elapsed) < 10000 else 1}f} s" if elapsed.isdigit() else "?"
        n = f"{int(listings):,} listings" if listings.isdigit() else "? listings"
        if state == "ready":
            index = f"search index ready ({n}) {secs} after start"
        elif state == "off" and note == "missing":
            index = "search index: none reported by /healthz (a build without it), taken as off"
        elif state == "off":
            index = "search index off (SQL answers every search)"
        elif state == "failed":
            index = f"search index FAILED to build ({secs} after start; SQL answers every search)"
        else:
            index = f"search index not ready: '{state}' {secs} after start (measured while it built)"
        when = "once the index was ready" if state == "ready" else "after start"
        out.append(f"{MODE_TEXT.get(mode, mode)}: {index}; anonymous RSS {mib(rss_ready)} {when}, "
                   f"{mib(rss_end)} after its runs")
    return out


def version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        out = (p.stdout + p.stderr).strip().splitlines()
        return out[0].split(" Copyright")[0] if out else "?"
    except OSError:
        return "?"


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) // 1024
    try:
        import flask
        flask_v = flask.__version__
    except Exception:  # noqa: BLE001 - only for the report
        flask_v = "?"
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; RAM {mem / 1024:.1f} GiB; Linux {platform.release()}",
        f"{version(['nginx', '-v'])}; {version(['gunicorn', '--version'])}; Flask {flask_v}; "
        f"SQLite {sqlite3.sqlite_version}; {version(['wrk', '-v'])}",
    ]


def shown_path(path):
    """PATH relative to the working directory when it is under it."""
    rel = os.path.relpath(path, os.getcwd())
    return path if rel.startswith("..") else rel


def cmd_table(a):
    rows = parse_results(a.results)
    data = json.load(open(a.dataset))
    conns = sorted({c for (_, _, c) in rows})
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sel = data["selective"]
    broad = data["broad"]
    out = [f"# bench/http: {now}", ""]
    out += ["- " + line for line in machine()]
    out += [f"- data: {data['listings']:,} listings ({data['public']:,} public) by {data['users']:,} users; "
            f"model detail cycles through {data['detail_paths']:,} listings; selective search cycles "
            f"{len(sel)} terms matching {min(sel.values())}-{max(sel.values())} listings each; broad search "
            f"cycles {', '.join(f'{k} ({v:,})' for k, v in broad.items())}",
            f"- wrk: {a.threads} threads, {a.duration} per case after a warm-up; latencies in ms; "
            f"agora: `{shown_path(a.agora) if not a.no_node else 'not built'}`; "
            f"Flask: gunicorn, {a.gunicorn_workers} sync workers; nginx: {a.nginx_workers} workers, "
            f"a {a.static_bytes}-byte JSON file (the node's model-detail response)",
            f"- load average (1, 5, 15 min) before / after the wrk runs: {a.load} "
            "(wrk and the servers share the cores; other work on the machine lowers every figure)"]
    out += ["- " + line for line in node_lines(a.nodes)]
    out += [""]
    stacks = [(st, label) for st, label in AGORA_STACKS if any(k[0] == st for k in rows)]
    stacks.append(("flask", "Flask"))
    out += ["| case | conns | server | req/s | p50 | p99 | / Flask | / nginx |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]

    def lat(r, key):
        return ms(r[key]) if r and not r["failed"] else "-"

    for c in conns:
        ng = rows.get(("nginx", "static", c))
        if ng:
            out.append(f"| nginx, static file | {c} | nginx | {rate(ng)} | {lat(ng, 'p50_us')} | "
                       f"{lat(ng, 'p99_us')} | | |")
        for case, label in CASES:
            f = rows.get(("flask", case, c))
            for st, server in stacks:
                r = rows.get((st, case, c))
                if r is None:
                    continue
                vs_flask = (f"{r['rps'] / f['rps']:.1f}x" if st != "flask" and f and f["rps"]
                            and not r["failed"] else "")
                vs_nginx = f"{r['rps'] / ng['rps']:.2f}x" if ng and ng["rps"] and not r["failed"] else ""
                out.append(f"| {label} | {c} | {server} | {rate(r)} | {lat(r, 'p50_us')} | "
                           f"{lat(r, 'p99_us')} | {vs_flask} | {vs_nginx} |")
    have = {k[0] for k in rows}
    if JUDGED in have or INFO in have:
        out += ["", "Goals, judged like for like: against Flask (which computes every answer) on the "
                "uncached node (`--cache-ms 0`), against nginx (which serves stored bytes) on the node "
                "as it runs by default, with its micro-cache:",
                "", "| goal | connections | uncached | micro-cache | judged on | met |",
                "| --- | ---: | ---: | ---: | --- | --- |"]
        out += goal_rows(rows, conns)
    elif not a.no_node:
        out += ["", "Goals: not judged: the node was not measured (BENCH_AGORA_MODES)."]
    text = "\n".join(out) + "\n"
    with open(a.out, "w") as fh:
        fh.write(text)
    sys.stdout.write(text)
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "shape" and len(sys.argv) == 5:
        return cmd_shape(*sys.argv[2:])
    p = argparse.ArgumentParser(prog="report.py table")
    p.add_argument("cmd", choices=["table"])
    p.add_argument("results")
    p.add_argument("dataset")
    p.add_argument("out")
    p.add_argument("--static-bytes", type=int, default=0)
    p.add_argument("--threads", default="2")
    p.add_argument("--duration", default="10s")
    p.add_argument("--gunicorn-workers", default="2")
    p.add_argument("--nginx-workers", default="2")
    p.add_argument("--agora", default="build/agora")
    p.add_argument("--no-node", action="store_true")
    p.add_argument("--nodes", default="", help="run.sh's nodes.tsv: index state, build time, RSS")
    p.add_argument("--load", default="?", help="load averages before / after the wrk runs")
    return cmd_table(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
