#!/usr/bin/python3
"""unlock.py - buy-to-unlock latency: from `agora buy` returning to the node serving the file.

usage: bench/chain/unlock.py AGORA_BIN SRC_DIR WORK_DIR [RUNS]   (run by bench/chain/run.sh)

For each chain mode (anvil automine, anvil --block-time 1) a fresh anvil, deployment and node
(default --chain-poll-ms 1000, as shipped) are started; a seller publishes a paid model with
`agora publish`. Then RUNS buyers, each a fresh keystore wallet funded by `agora faucet`, run
`agora buy --no-wait --json` (it links the wallet to the buyer's account first); from the moment
the command returns, the file endpoint is polled (Range: bytes=0-0, every 2 ms) until it answers
206, and GET /api/v1/auth/wallets until the node's index lists the licence. Beside it, in the same
run, ethers 6 (buy_ref.mjs) does the same purchase (permit + buyWithPermit) to the receipt, as the
reference for the on-chain part. Prints median and p90 of each.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

BIN, SRC, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
RUNS = int(sys.argv[4]) if len(sys.argv) > 4 else 7
ANVIL = os.path.join(SRC, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
KEYS = [  # anvil's development accounts: 0 deploys, 1 sells, 3.. buy with ethers
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
]
ADDRS = {
    3: "0x90F79bf6EB2c4f870365E785982E1f101E93b906", 4: "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    5: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", 6: "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    7: "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", 8: "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    9: "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
}
PASS = "bench"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, token=None, headers=None):
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data, h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if r.headers.get("Content-Type", "").startswith(
                "application/json") and raw else raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait(pred, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out")


def run(env, *args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=300)
    if r.returncode:
        raise RuntimeError("agora %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def mode(name, anvil_args):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    port = free_port()
    rpc = "http://127.0.0.1:%d" % port
    procs = []
    try:
        procs.append(subprocess.Popen([ANVIL, "--host", "127.0.0.1", "--port", str(port),
                                       "--silent", *anvil_args]))
        wait(lambda: subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H",
                                     "Content-Type: application/json", "-d",
                                     '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
                                     rpc]).returncode == 0)
        fd = os.open(os.path.join(d, "key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:  # key files must be 0600
            f.write(KEYS[0] + "\n")
        run(dict(os.environ), "chain", "deploy", "--chain-rpc", rpc, "--key-file",
            os.path.join(d, "key"), "--data-dir", os.path.join(d, "deploy"), "--contracts-dir",
            os.path.join(SRC, "contracts"))
        manifest = os.path.join(d, "deploy", "chain.json")
        node = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                 os.path.join(d, "node"), "--chain-rpc", rpc, "--chain-manifest",
                                 manifest], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, AGORA_PWHASH="min", AGORA_LOG_LEVEL="warn"))
        procs.append(node)
        url = node.stdout.readline().decode().split("serving on ", 1)[1].strip()

        def user(name):
            http("POST", url + "/api/v1/auth/register",
                 {"username": name, "email": name + "@bench.invalid", "password": "bench password"})
            s, b = http("POST", url + "/api/v1/auth/login",
                        {"login": name, "password": "bench password", "token_name": "bench"})
            ks = os.path.join(d, "ks-" + name)
            env = dict(os.environ, AGORA_NODE=url, AGORA_TOKEN=b["token"], AGORA_CHAIN_RPC=rpc,
                       AGORA_KEYSTORE_DIR=ks, AGORA_PASSPHRASE=PASS,
                       AGORA_CONFIG_DIR=os.path.join(d, "cfg-" + name))
            return b["token"], env

        token, seller = user("seller")
        with open(os.path.join(d, "k1"), "w") as f:
            f.write(KEYS[1] + "\n")
        run(seller, "wallet", "import", "--scrypt-n", "1024", "--key-file", os.path.join(d, "k1"))
        http("POST", url + "/api/v1/models", {"slug": "m", "title": "M", "price": "1",
                                               "visibility": "public"}, token=token)
        with open(os.path.join(d, "model.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        run(seller, "push", "seller/m", "1.0.0", os.path.join(d, "model.bin"))
        run(seller, "version", "publish", "seller/m", "1.0.0")
        model_id = json.loads(run(seller, "publish", "seller/m@1.0.0", "--price", "1AGR",
                                  "--json"))["token_id"]
        file_url = url + "/api/v1/models/seller/m/versions/1.0.0/files/model.bin"
        ours, chain_s, index, ref = [], [], [], []
        for i in range(RUNS):
            btoken, buyer = user("buyer%d" % i)
            run(buyer, "wallet", "new", "--scrypt-n", "1024")
            run(buyer, "faucet")
            out = json.loads(run(buyer, "buy", "seller/m", "--no-wait", "--json"))
            t0 = time.monotonic()
            got_file = got_index = None
            while got_file is None or got_index is None:
                now = time.monotonic()
                if now - t0 > 60:
                    raise RuntimeError("not unlocked after 60 s")
                if got_file is None and http("GET", file_url, token=btoken,
                                             headers={"Range": "bytes=0-0"})[0] == 206:
                    got_file = time.monotonic() - t0
                if got_index is None:
                    s, w = http("GET", url + "/api/v1/auth/wallets", token=btoken)
                    if s == 200 and any(str(l.get("token_id")) == str(model_id)
                                        for l in w.get("licences", [])):
                        got_index = time.monotonic() - t0
                time.sleep(0.002)
            ours.append(got_file * 1000)
            index.append(got_index * 1000)
            chain_s.append(out["chain_seconds"] * 1000)
            k = 3 + i % 7
            run(seller, "faucet", "--to", ADDRS[k])
            r = subprocess.run(["node", os.path.join(SRC, "bench/chain/buy_ref.mjs"), rpc, manifest,
                                KEYS[k], model_id], capture_output=True, text=True, cwd=SRC,
                               timeout=120)
            if r.returncode:
                raise RuntimeError(r.stderr)
            ref.append(json.loads(r.stdout)["ms"])
        return {"ours": ours, "index": index, "chain": chain_s, "ref": ref}
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()


def main():
    res = {"automine": mode("automine", []), "1-second blocks": mode("blocktime1",
                                                                    ["--block-time", "1"])}
    print("buy -> download unlocked, %d purchases per mode, node with default --chain-poll-ms 1000"
          % RUNS)
    print("  %-58s %9s %9s" % ("", "median", "p90"))
    for name, r in res.items():
        print("  %s" % name)
        for label, key in (("agora buy: permit, send, receipt (in the CLI)", "chain"),
                           ("ethers 6: permit, buyWithPermit, receipt (reference)", "ref"),
                           ("after agora buy returns: file served (206)", "ours"),
                           ("after agora buy returns: licence in the node's index", "index")):
            xs = r[key]
            print("    %-56s %7.0f ms %6.0f ms" % (label, statistics.median(xs), pct(xs, 90)))
    print(json.dumps(res), file=sys.stderr)


main()
