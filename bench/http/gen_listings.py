#!/usr/bin/python3
"""gen_listings.py - fills an Agora SQLite database with N synthetic listings for bench/http.

Usage: gen_listings.py DB N OUT_DIR [--migrations DIR]

The schema must already exist (the node applies its migrations at start);
with --migrations the script applies src/store/migrations/*.sql itself, the
way the node records them (schema_migrations(version, name, applied_at)),
for running the reference stacks without a node. Listings are drawn from
word lists so that full-text queries have both selective matches (a codename
shared by about 50 listings) and broad ones (words in a large
share of them). Writes to OUT_DIR:
  detail_paths.txt   /api/v1/models/{owner}/{slug} for 2,000 public listings
  search_selective.txt, search_broad.txt, list.txt   request paths for wrk
  dataset.json       what was generated (counts, match counts per query)
"""
import json
import os
import random
import sqlite3
import sys
import time

SEED = 20261125

ARCHS = [
    ("resnet18", "ResNet-18", "image-classification"), ("resnet50", "ResNet-50", "image-classification"),
    ("efficientnet-b0", "EfficientNet-B0", "image-classification"), ("vit-small", "ViT-Small", "image-classification"),
    ("convnext-tiny", "ConvNeXt-Tiny", "image-classification"), ("mobilenet-v3", "MobileNetV3", "image-classification"),
    ("yolo-lite", "YOLO-Lite", "object-detection"), ("detr-r50", "DETR-R50", "object-detection"),
    ("retinanet", "RetinaNet", "object-detection"), ("unet", "U-Net", "image-segmentation"),
    ("segformer-b0", "SegFormer-B0", "image-segmentation"), ("deeplab-v3", "DeepLabV3", "image-segmentation"),
    ("bert-base", "BERT-base", "text-classification"), ("distilbert", "DistilBERT", "text-classification"),
    ("roberta", "RoBERTa", "text-classification"), ("deberta-v3", "DeBERTa-v3", "token-classification"),
    ("xlm-r", "XLM-R", "token-classification"), ("minilm", "MiniLM", "question-answering"),
    ("electra", "ELECTRA", "question-answering"), ("bart", "BART", "summarization"),
    ("pegasus", "PEGASUS", "summarization"), ("t5-small", "T5-Small", "translation"),
    ("marian", "Marian", "translation"), ("gpt2-medium", "GPT-2 Medium", "text-generation"),
    ("llama-1b", "Llama-style 1B", "text-generation"), ("mistral-7b", "Mistral-style 7B", "text-generation"),
    ("whisper-tiny", "Whisper-Tiny", "speech-recognition"), ("wav2vec2", "wav2vec 2.0", "speech-recognition"),
    ("conformer", "Conformer", "speech-recognition"), ("panns-cnn14", "PANNs CNN14", "audio-classification"),
    ("ast", "Audio Spectrogram Transformer", "audio-classification"), ("xgboost", "XGBoost", "tabular-classification"),
    ("lightgbm", "LightGBM", "tabular-classification"), ("random-forest", "Random Forest", "tabular-regression"),
    ("catboost", "CatBoost", "tabular-regression"), ("n-beats", "N-BEATS", "time-series-forecasting"),
    ("tft", "Temporal Fusion Transformer", "time-series-forecasting"), ("lstm", "LSTM", "time-series-forecasting"),
    ("clip-vit", "CLIP ViT", "feature-extraction"), ("e5-small", "E5-Small", "feature-extraction"),
    ("sbert-mpnet", "SBERT MPNet", "feature-extraction"), ("ppo", "PPO", "reinforcement-learning"),
    ("dqn", "DQN", "reinforcement-learning"), ("sac", "SAC", "reinforcement-learning"),
]
TRANSFORMER_ARCHS = {"vit-small", "detr-r50", "segformer-b0", "bert-base", "distilbert", "roberta",
                     "deberta-v3", "xlm-r", "minilm", "electra", "bart", "pegasus", "t5-small", "marian",
                     "gpt2-medium", "llama-1b", "mistral-7b", "whisper-tiny", "wav2vec2", "conformer",
                     "ast", "tft", "clip-vit", "e5-small", "sbert-mpnet"}
# Subjects: one per listing; each appears in a few hundred of 100,000 listings.
SUBJECTS = """zebrafish sorghum mammography lichen glacier tidepool vineyard beekeeping mangrove
permafrost hydroponics bioluminescence cassava sandstorm kelp wildfire coral orchard seismograph
aquaponics ptarmigan tundra quinoa monsoon saffron peatland dune estuary geyser lava
walrus narwhal axolotl pangolin okapi lemur tapir quokka armadillo capybara
retinopathy dermatology radiograph echocardiogram histopathology spirometry audiogram colonoscopy
tachycardia melanoma pneumonia sepsis glaucoma scoliosis fracture
invoice receipt contract patent subpoena affidavit tariff mortgage escrow ledger payroll
warehouse forklift pallet conveyor turbine gearbox bearing welding lathe boiler chimney
railway tramway ferry airfield harbor lighthouse canal bridge tunnel viaduct
violin cello harpsichord bagpipe didgeridoo ukulele marimba accordion banjo kalimba
sourdough espresso kimchi ramen tortilla croissant dumpling falafel paella risotto
chess sudoku mahjong backgammon checkers crossword origami calligraphy pottery embroidery
satellite radar lidar sonar telescope spectrometer magnetometer barometer anemometer
wind-farm solar-panel battery microgrid substation transformer-station pipeline refinery
shipping container customs parcel courier drone scooter tractor combine harvester
""".split()
DOMAIN_WORDS = ["detection of", "classification of", "monitoring of", "analysis of", "forecasting for",
                "retrieval over", "quality control for", "triage of", "segmentation of", "tagging of"]
ADJECTIVES = ["fast", "tiny", "robust", "calibrated", "multilingual", "distilled", "quantized",
              "pruned", "lightweight", "accurate", "efficient", "edge-ready", "streaming", "self-supervised"]
LIBRARIES = ["onnx", "pytorch", "safetensors", "tensorflow", "scikit-learn", "gguf", "jax", "keras"]
LICENSES = ["apache-2.0", "mit", "cc-by-4.0", "cc-by-nc-4.0", "openrail", "bsd-3-clause", "other"]
DATASETS = ["imagenet-1k", "coco-2017", "ade20k", "squad_v2", "conll2003", "sst2", "imdb", "cnn_dailymail",
            "wmt14", "wmt16", "librispeech_asr", "common_voice", "audioset", "speech_commands_v2",
            "openimages", "cityscapes", "mimic-cxr", "pubmed", "wikitext-103", "c4", "the-pile",
            "m5", "ett", "uci-adult", "california_housing", "demo/internal-set"]
METRICS = ["accuracy", "f1", "map", "mean-iou", "rouge-l", "bleu", "wer", "rmse", "mae", "auc", "perplexity"]
LANGS = ["en", "de", "fr", "es", "pl", "zh", "ja", "ar", "hi", "pt", "sw"]
TAG_POOL = ["cpu-friendly", "edge", "quantized", "int8", "fp16", "distilled", "fine-tuned", "research",
            "production", "baseline", "benchmark", "low-latency", "mobile", "server", "gpu", "explainable",
            "fairness-audited", "multilingual", "streaming", "batch", "onnx-export", "lora", "pruned"]
FIRST = ["ada", "bo", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jin", "kofi", "lena", "marco",
         "nia", "omar", "pia", "quinn", "rosa", "sven", "tara", "umar", "vera", "wei", "ximena", "yuki", "zane"]
LAST = ["labs", "ml", "ai", "vision", "nlp", "data", "research", "models", "studio", "works", "bench", "dev"]

# Selective: invented project codenames, one in the summary of about 1% of the
# listings, so each matches about 50 of 100,000 (like searching for a name).
SELECTIVE = ["quillmarrow", "tesselbright", "vornhollow", "glimmerwake", "brackenfold", "zephyrquill",
             "ottersleet", "cindervale", "mossgrange", "pellucidor", "wrenhaven", "starkwillow",
             "dunmorrow", "frostquarry", "amberlyn", "kestrelmoor", "thistlecrown", "larkspindle",
             "corvantis", "halcyrum"]
CODENAME_SHARE = 0.01
# Broad: from about 7% ("fast") to over half ("transformer") of the public listings.
BROAD = ["transformer", "classification", "onnx", "fast"]


def card_text(rng, title, arch_name, task, library, license_, tags, datasets, metrics, language, subject, adj):
    metric = metrics[0]
    score = rng.uniform(0.55, 0.97)
    lat = rng.randint(2, 180)
    fm = ["---", f"task: {task}", f"library: {library}", f"license: {license_}",
          f"tags: [{', '.join(tags)}]", f"datasets: [{', '.join(datasets)}]",
          f"metrics: [{', '.join(metrics)}]", f"language: [{', '.join(language)}]", "---", ""]
    body = f"""# {title}

## Description

A {adj} {arch_name} model for {task.replace('-', ' ')}, trained for {subject} use cases. It was
fine-tuned from a public checkpoint on {datasets[0]} and exported with {library} for serving.

## Intended use

Prototyping and production pipelines that need {task.replace('-', ' ')} on {subject} data.

## Limitations and bias

Performance drops outside the training distribution; audit on your own {subject} data first.

## Evaluation results

| metric | value |
| --- | --- |
| {metric} | {score:.3f} |
| latency (ms, 2 cores) | {lat} |

## How to use

```python
model = load("{library}", "model.bin")
print(model.predict(batch))
```
"""
    return "\n".join(fm) + body


def apply_migrations(db, mig_dir):
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)")
    for name in sorted(os.listdir(mig_dir)):
        if not name.endswith(".sql") or "_" not in name:
            continue
        version = int(name.split("_", 1)[0])
        if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
            continue
        with open(os.path.join(mig_dir, name), encoding="utf-8") as f:
            db.executescript("BEGIN;" + f.read() + ";COMMIT;")
        db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                   (version, name, int(time.time())))
        db.commit()


def main():
    args = sys.argv[1:]
    mig_dir = None
    if "--migrations" in args:
        i = args.index("--migrations")
        mig_dir = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    path, n, out_dir = args[0], int(args[1]), args[2]
    rng = random.Random(SEED)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    if mig_dir:
        apply_migrations(db, mig_dir)
    if not db.execute("SELECT name FROM sqlite_master WHERE name = 'models'").fetchone():
        sys.exit("gen_listings: the database has no schema (start the node once, or pass --migrations)")
    if db.execute("SELECT count(*) FROM models").fetchone()[0]:
        sys.exit("gen_listings: the database already has listings")

    now = int(time.time())
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    nusers = max(10, n // 50)
    users = []
    for i in range(nusers):
        name = f"{rng.choice(FIRST)}-{rng.choice(LAST)}-{i}"
        created = now - rng.randint(400, 800) * 86400
        db.execute("INSERT INTO users (username, email, pw_hash, display_name, bio, links, created_at, updated_at)"
                   " VALUES (?, ?, '!', ?, ?, '[]', ?, ?)",
                   (name, f"{name}@bench.example.com", name.replace("-", " ").title(),
                    "Synthetic seller for the HTTP benchmark.", created, created))
        users.append((db.execute("SELECT last_insert_rowid()").fetchone()[0], name))

    details = []
    for i in range(n):
        owner_id, owner = users[int(rng.paretovariate(1.2)) % nusers]
        slug_part, arch_name, task = rng.choice(ARCHS)
        subject = rng.choice(SUBJECTS)
        adj = rng.choice(ADJECTIVES)
        library = rng.choice(LIBRARIES)
        license_ = rng.choice(LICENSES)
        slug = f"{slug_part}-{subject}-{i:x}"
        title = f"{arch_name} {subject.replace('-', ' ').title()} {task.replace('-', ' ').title()}"
        if slug_part in TRANSFORMER_ARCHS:
            title += " (Transformer)"
        summary = (f"{adj.capitalize()} {arch_name} for {rng.choice(DOMAIN_WORDS)} {subject} data, "
                   f"{library} weights, {rng.randint(1, 900)} M parameters.")
        if rng.random() < CODENAME_SHARE:
            summary += f" Part of project {rng.choice(SELECTIVE).capitalize()}."
        tags = sorted(set(rng.sample(TAG_POOL, rng.randint(2, 5)) + [slug_part.split("-")[0], subject]))
        if library == "onnx":
            tags.append("onnx")
        datasets = rng.sample(DATASETS, rng.randint(1, 3))
        metrics = rng.sample(METRICS, rng.randint(1, 3))
        language = rng.sample(LANGS, rng.randint(1, 3)) if task not in (
            "image-classification", "object-detection", "image-segmentation", "tabular-classification",
            "tabular-regression", "time-series-forecasting", "reinforcement-learning") else []
        card = card_text(rng, title, arch_name, task, library, license_, tags, datasets, metrics, language,
                         subject, adj)
        price = "0" if rng.random() < 0.4 else str(rng.randint(1, 200) * 10**17)
        visibility = "public" if rng.random() < 0.95 else rng.choice(["unlisted", "private", "draft"])
        created = now - int(rng.uniform(0, 730 * 86400))
        updated = created + int(rng.uniform(0, now - created))
        downloads = int(rng.paretovariate(1.1)) - 1
        likes = int(rng.paretovariate(1.5)) - 1
        rcount = rng.choice([0, 0, 0, 1, 2, 3, 5, 8])
        rsum = sum(rng.randint(2, 5) for _ in range(rcount))
        cur = db.execute(
            "INSERT INTO models (owner_id, slug, title, summary, task, library, license, tags, datasets,"
            " metrics, language, base_model, price, price_key, visibility, downloads, likes, rating_sum,"
            " rating_count, rating, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (owner_id, slug, title, summary, task, library, license_, json.dumps(tags),
             json.dumps(datasets), json.dumps(metrics), json.dumps(language), "", price, price.zfill(78),
             visibility, downloads, likes, rsum, rcount, rsum / rcount if rcount else 0.0, created, updated))
        mid = cur.lastrowid
        db.execute("INSERT INTO model_cards (model_id, card) VALUES (?, ?)", (mid, card))
        db.executemany("INSERT INTO model_tags (model_id, tag) VALUES (?, ?)", [(mid, t) for t in set(tags)])
        vcur = db.execute("INSERT INTO versions (model_id, version, major, minor, patch, prerelease, changelog,"
                          " state, created_at, published_at) VALUES (?, '1.0.0', 1, 0, 0, '', 'First release.',"
                          " 'published', ?, ?)", (mid, created, created))
        db.execute("INSERT INTO version_files (version_id, name, size, created_at) VALUES (?, ?, ?, ?)",
                   (vcur.lastrowid, "model.bin", rng.randint(10**5, 10**9), created))
        if visibility == "public" and len(details) < 2000 and rng.random() < 0.05:
            details.append(f"/api/v1/models/{owner}/{slug}")
    # Since migration 0002 the full-text index has external content (the view
    # model_docs) and no triggers: the store keeps it in step, so a bulk load
    # rebuilds it once here.
    db.execute("INSERT INTO models_fts(models_fts) VALUES ('rebuild')")
    db.execute("COMMIT")
    db.execute("PRAGMA optimize")
    db.execute("INSERT INTO models_fts(models_fts) VALUES ('optimize')")

    def matches(term):
        return db.execute("SELECT count(*) FROM models_fts JOIN models m ON m.id = models_fts.rowid"
                          " WHERE models_fts MATCH ? AND m.visibility = 'public'",
                          (f'"{term}"*',)).fetchone()[0]

    os.makedirs(out_dir, exist_ok=True)
    rng.shuffle(details)
    with open(os.path.join(out_dir, "detail_paths.txt"), "w") as f:
        f.write("\n".join(details) + "\n")
    with open(os.path.join(out_dir, "search_selective.txt"), "w") as f:
        f.write("".join(f"/api/v1/models?q={t}&limit=20\n" for t in SELECTIVE))
    with open(os.path.join(out_dir, "search_broad.txt"), "w") as f:
        f.write("".join(f"/api/v1/models?q={t}&limit=20\n" for t in BROAD))
    with open(os.path.join(out_dir, "list.txt"), "w") as f:
        f.write("/api/v1/models?sort=newest&limit=20\n")
    public = db.execute("SELECT count(*) FROM models WHERE visibility = 'public'").fetchone()[0]
    info = {"listings": n, "public": public, "users": nusers, "detail_paths": len(details),
            "selective": {t: matches(t) for t in SELECTIVE}, "broad": {t: matches(t) for t in BROAD}}
    with open(os.path.join(out_dir, "dataset.json"), "w") as f:
        json.dump(info, f, indent=1)
    db.close()
    print(f"gen_listings: {n} listings ({public} public) by {nusers} users")


if __name__ == "__main__":
    main()
