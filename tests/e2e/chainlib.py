"""chainlib.py - what the chain end-to-end tests share: a dev chain on a free port, deploying, the CLI.

test_chain.py, test_chain_cli.py, test_chain_rpc.py and test_chain_quote.py import
it (it is not a test itself: the e2e glob registers test_*.py only).

  ChainNode   anvil or Ganache on a free port, state kept across restarts
  deploy()    `agora chain deploy` with a 0600 key file, returns the manifest path
  serve()     `agora serve` following that chain
  Actor       a user: an API token on the node and a fresh keystore wallet
  CliMixin    runs `agora` as an actor (ok / fails / json), waits for the indexer
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from node import BIN, SRC, Node

ANVIL = os.path.join(SRC, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
GANACHE = os.path.join(SRC, "node_modules/.bin/ganache")
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chain_helper.mjs")
KEYS = [  # anvil's (and Ganache --wallet.deterministic's) well-known development accounts
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",  # deployer, arbitrator
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",  # seller (alice)
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",  # buyer (bob)
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",  # SIWE newcomer
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",  # non-buyer (carol)
]
PASS = "chain-cli-test"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=60, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = pred()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class ChainNode:
    """anvil or Ganache on a free port, its state kept in `state` across restarts."""

    def __init__(self, kind, state, chain_id=None):
        self.kind, self.state, self.port = kind, state, free_port()
        self.chain_id = chain_id
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.start()

    def start(self):
        if self.kind == "anvil":
            cmd = [ANVIL, "--host", "127.0.0.1", "--port", str(self.port), "--silent",
                   "--state", self.state, "--chain-id", str(self.chain_id or 31337)]
        elif self.kind == "ganache":
            os.makedirs(self.state, exist_ok=True)
            cmd = [GANACHE, "--chain.chainId", str(self.chain_id or 1337), "--wallet.deterministic",
                   "--server.host", "127.0.0.1", "--server.port", str(self.port),
                   "--logging.quiet", "--database.dbPath", self.state]
        else:
            raise RuntimeError("AGORA_TEST_CHAIN must be anvil or ganache, not %r" % self.kind)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_for(self.alive, 60, self.kind)

    def alive(self):
        try:
            self.rpc("eth_chainId")
            return True
        except OSError:
            return False

    def rpc(self, method, *params):
        req = urllib.request.Request(self.url, json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode(),
            {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            out = json.loads(r.read())
        if "error" in out:
            raise RuntimeError(out["error"])
        return out["result"]

    def set_balance(self, address, wei):
        method = "anvil_setBalance" if self.kind == "anvil" else "evm_setAccountBalance"
        self.rpc(method, address, hex(wei))

    def head(self):
        return int(self.rpc("eth_blockNumber"), 16)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # ganache is a node script behind a shell wrapper: signal the group
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def write_key(path, hexkey):
    """Writes a raw hex private key file, mode 0600 (what --key-file and --pricing-key want)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(hexkey + "\n")
    os.chmod(path, 0o600)
    return path


def deploy(rpc_url, keyfile, chaindir):
    """`agora chain deploy` signed with `keyfile`; returns the manifest's path."""
    r = subprocess.run([BIN, "chain", "deploy", "--chain-rpc", rpc_url, "--key-file", keyfile,
                        "--data-dir", chaindir, "--contracts-dir", os.path.join(SRC, "contracts")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    return os.path.join(chaindir, "chain.json")


def serve(dirs, rpc_url, manifest, *extra, data=None):
    """`agora serve` following the chain (indexer rounds every 100 ms) with `extra` options, on
    its own data directory or `data`; its directory is added to `dirs` for clean-up."""
    args = ["--chain-rpc", rpc_url, "--chain-manifest", manifest, "--chain-poll-ms", "100",
            *extra]
    if data:
        args += ["--data-dir", data]
    n = Node(args=args)
    dirs.append(n.dir)
    if data:
        n.data = data
    return n


def keystore_key(path, passphrase):
    """The private key of a keystore file, decrypted by ethers (the reference peer)."""
    r = subprocess.run(["node", "-e", "const {Wallet}=require('ethers');"
                        "Wallet.fromEncryptedJson(require('fs').readFileSync(process.argv[1],"
                        "'utf8'),process.argv[2]).then(w=>console.log(w.privateKey))",
                        path, passphrase], capture_output=True, text=True, timeout=120, cwd=SRC)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Actor:
    """A user: an account on the node (API token) and a keystore wallet."""

    def __init__(self, test, name, token, new_wallet=True):
        self.name, self.token = name, token
        self.keystore = os.path.join(test.dir, "ks-" + name)
        self.config = os.path.join(test.dir, "cfg-" + name)
        if new_wallet:
            r = test.cli(self, "wallet", "new", "--scrypt-n", "1024")
            assert r.returncode == 0, r.stderr
            self.address = r.stdout.strip()


class CliMixin:
    """For a unittest.TestCase class with `dir`, `chain` (a ChainNode) and `node` (a Node)."""

    @classmethod
    def start_chain(cls, prefix, setup):
        """A temporary directory and a chain node (AGORA_TEST_CHAIN: anvil or ganache), then
        `setup()`; the chain is stopped if that fails."""
        cls.dir = tempfile.mkdtemp(prefix=prefix)
        cls.dirs = [cls.dir]
        cls.chain = ChainNode(os.environ.get("AGORA_TEST_CHAIN", "anvil"),
                              os.path.join(cls.dir, "chain-state"))
        try:
            setup()
        except BaseException:
            cls.chain.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.chain.stop()
        for d in cls.dirs:
            if not os.environ.get("AGORA_TEST_KEEP"):
                shutil.rmtree(d, ignore_errors=True)

    @classmethod
    def cli(cls, actor, *args, node=True, timeout=180):
        env = dict(os.environ)
        env.update({"AGORA_PASSPHRASE": PASS, "AGORA_CHAIN_RPC": cls.chain.url,
                    "AGORA_KEYSTORE_DIR": actor.keystore if actor else os.path.join(cls.dir, "none"),
                    "AGORA_CONFIG_DIR": actor.config if actor else os.path.join(cls.dir, "none"),
                    "AGORA_NODE": cls.node.url if node else "http://127.0.0.1:9"})
        env.pop("AGORA_ETH_RPC", None)
        env.pop("AGORA_TOKEN", None)
        if actor and actor.token:
            env["AGORA_TOKEN"] = actor.token
        return subprocess.run([BIN, *args], capture_output=True, text=True, env=env,
                              timeout=timeout)

    def ok(self, actor, *args, **kw):
        r = self.cli(actor, *args, **kw)
        self.assertEqual(r.returncode, 0, "agora %s: %s%s" % (" ".join(args), r.stderr, r.stdout))
        self.assertNotIn("Sanitizer", r.stderr)
        return r

    def fails(self, actor, *args, want=None, **kw):
        r = self.cli(actor, *args, **kw)
        self.assertEqual(r.returncode, 1, "agora %s should fail: %s%s" % (" ".join(args),
                                                                            r.stderr, r.stdout))
        self.assertNotIn("Sanitizer", r.stderr)
        if want:
            self.assertIn(want, r.stderr)
        return r

    def json(self, actor, *args, **kw):
        return json.loads(self.ok(actor, *args, "--json", **kw).stdout)

    def health(self):
        s, _, b = self.node.request("GET", "/healthz")
        return b["chain"]

    def synced(self):
        head = self.chain.head()
        return wait_for(lambda: (lambda c: c if c.get("status") == "ok" and
                                 c.get("indexed_block", -1) >= head else None)(self.health()),
                        60, "the indexer to reach block %d" % head)

    @classmethod
    def new_deployer(cls):
        """A fresh deployer wallet (no predefined account is used), funded with ETH; returns
        (address, 0600 key file)."""
        r = subprocess.run([BIN, "wallet", "new", "--keystore-dir",
                            os.path.join(cls.dir, "ks-deployer"), "--scrypt-n", "1024"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, AGORA_PASSPHRASE=PASS))
        assert r.returncode == 0, r.stderr
        ks = [f for f in os.listdir(os.path.join(cls.dir, "ks-deployer")) if f.startswith("UTC--")]
        key = keystore_key(os.path.join(cls.dir, "ks-deployer", ks[0]), PASS)
        address = r.stdout.strip()
        cls.chain.set_balance(address, 1000 * 10**18)
        return address, write_key(os.path.join(cls.dir, "deployer.key"), key)
