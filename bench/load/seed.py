#!/usr/bin/python3
"""seed.py - fills a running node with N listings through its own API (so the
data always fits the current schema) and writes the request paths of the
mixed workload to OUT_DIR: detail_paths.txt, list.txt, search_selective.txt,
search_broad.txt.

usage: seed.py URL N OUT_DIR     (the node must run with --rate-ip 0 --rate-account 0)
"""
import http.client
import json
import os
import random
import sys
import threading
import urllib.parse

url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlparse(url)
rng = random.Random(20261125)
ARCH = ["resnet", "efficientnet", "vit", "convnext", "mobilenet", "yolo", "detr", "unet",
        "segformer", "bert", "distilbert", "roberta", "deberta", "minilm", "electra", "bart",
        "t5", "marian", "gpt2", "llama", "mistral", "whisper", "wav2vec"]
TASKS = ["image-classification", "object-detection", "image-segmentation",
         "text-classification", "question-answering", "summarization", "translation",
         "text-generation", "speech-recognition"]
DOMAINS = ["medical", "satellite", "retail", "legal", "finance", "agriculture", "wildlife",
           "manufacturing", "traffic", "news", "biology", "music"]
BROAD = ["fast", "small", "accurate", "robust", "quantized", "distilled", "multilingual"]
CODENAMES = ["%s%s" % (a, b) for a in ["zor", "vel", "kri", "pax", "quo", "dun", "mir", "tal"]
             for b in ["ix", "on", "ar", "ul", "em"]]
USERS = 20


def call(c, method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)


def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


c = conn()
tokens = []
for i in range(USERS):
    name = "seller%02d" % i
    s, b = call(c, "POST", "/api/v1/auth/register",
                {"username": name, "email": name + "@example.org", "password": "correct horse battery"})
    assert s == 201, (s, b)
    s, b = call(c, "POST", "/api/v1/auth/login",
                {"login": name, "password": "correct horse battery", "token_name": "seed"})
    assert s == 200, (s, b)
    tokens.append((name, b["token"]))

listings = []
for i in range(n):
    owner, _ = tokens[i % USERS]
    arch, task, dom = rng.choice(ARCH), rng.choice(TASKS), rng.choice(DOMAINS)
    words = rng.sample(BROAD, 2) + [CODENAMES[i % len(CODENAMES)] if i % 8 == 0 else ""]
    listings.append((i % USERS, {
        "slug": "%s-%s-%d" % (arch, dom, i), "title": "%s for %s %s" % (arch.title(), dom, task),
        "summary": "A %s %s model for %s data. %s" % (" ".join(words[:2]), arch, dom, words[2]),
        "card": "# %s\n\nTrained on %s data. %s\n" % (arch, dom, " ".join(words)),
        "tags": [arch, dom] + words[:2], "task": task, "library": "onnx",
        "license": rng.choice(["mit", "apache-2.0", "cc-by-4.0"]),
        "price": "0" if rng.random() < 0.5 else str(rng.randint(1, 200) * 10**17)}))

errors = []


def worker(k):
    c = conn()
    for j in range(k, len(listings), 4):
        ui, body = listings[j]
        s, b = call(c, "POST", "/api/v1/models", body, tokens[ui][1])
        if s != 201:
            errors.append((s, b))
            return


threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors[:3]

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "detail_paths.txt"), "w") as f:
    for ui, body in rng.sample(listings, min(2000, len(listings))):
        f.write("/api/v1/models/%s/%s\n" % (tokens[ui][0], body["slug"]))
with open(os.path.join(out, "list.txt"), "w") as f:
    for sort in ["newest", "downloads", "rating"]:
        for t in TASKS:
            f.write("/api/v1/models?task=%s&sort=%s&limit=20\n" % (t, sort))
        f.write("/api/v1/models?limit=20&sort=%s\n" % sort)
with open(os.path.join(out, "search_selective.txt"), "w") as f:
    for w in CODENAMES:
        f.write("/api/v1/models?q=%s&limit=20\n" % w)
with open(os.path.join(out, "search_broad.txt"), "w") as f:
    for w in BROAD:
        for d in DOMAINS:
            f.write("/api/v1/models?q=%s+%s&limit=20\n" % (w, d))
print("seeded %d listings by %d sellers" % (n, USERS), file=sys.stderr)
