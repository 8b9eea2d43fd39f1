"""test_chain_rpc.py - the browser's chain relay, the dev faucet, and the library and sales lists, against a real anvil.

POST /api/v1/chain/rpc passes only its allowlist (eth_sendTransaction, eth_accounts,
anvil_* and the rest are refused), bounds eth_getLogs, caps bodies and batches, and
passes the node's errors and revert data through. POST /api/v1/chain/faucet funds a
fresh address with gas ETH and 1,000 AGR, refuses a repeat (429 with Retry-After)
and caps requests per client address. GET /api/v1/library and /api/v1/sales show a
purchase made with ethers (the reference peer) to the buyer and to the seller, with
the listing named by the registration's metadata URI.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import SRC, Node, register  # noqa: E402
from chainlib import HELPER, KEYS, ChainNode, deploy, wait_for, write_key  # noqa: E402

PRICE = str(3 * 10**18)


class ChainRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="agora-relay-")
        cls.anvil = ChainNode("anvil", os.path.join(cls.dir, "anvil-state.json"))
        try:
            keyfile = write_key(os.path.join(cls.dir, "deployer.key"), KEYS[0])
            cls.manifest = deploy(cls.anvil.url, keyfile, os.path.join(cls.dir, "deploy"))
            with open(cls.manifest) as f:
                cls.contracts = json.load(f)["contracts"]
            cls.node = Node(args=["--chain-rpc", cls.anvil.url, "--chain-manifest", cls.manifest,
                                  "--chain-poll-ms", "100"])
            cls.alice = register(cls.node, "alice")
            cls.bob = register(cls.node, "bob")
        except BaseException:
            cls.anvil.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()  # stop() twice is fine
        cls.anvil.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def rpc(self, body, raw=None, content_type="application/json"):
        return self.node.request("POST", "/api/v1/chain/rpc", body, raw=raw,
                                 content_type=content_type)

    def call(self, method, *params):
        s, _, b = self.rpc({"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)})
        self.assertEqual(s, 200, b)
        self.assertEqual(b["id"], 7)
        return b

    def js(self, cmd, **args):
        r = subprocess.run(["node", HELPER, self.anvil.url, self.manifest, cmd, json.dumps(args)],
                           capture_output=True, text=True, timeout=120, cwd=SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def register_lying(self, slug, uri):
        script = (
            "import { readFileSync } from 'node:fs';"
            "import { Contract, JsonRpcProvider, Wallet, id } from 'ethers';"
            "const [rpc, manifest, key, slug, uri] = process.argv.slice(1);"
            "const m = JSON.parse(readFileSync(manifest, 'utf8')).contracts.ModelRegistry;"
            "const abi = JSON.parse(readFileSync(manifest.replace(/chain.json$/, m.abi), 'utf8'));"
            "const w = new Wallet(key, new JsonRpcProvider(rpc, undefined, {staticNetwork: true}));"
            "const r = new Contract(m.address, abi, w);"
            "const rc = await (await r.registerModel(id(slug), uri)).wait();"
            "console.log(r.interface.parseLog(rc.logs.find(l => r.interface.parseLog(l)?.name"
            " === 'ModelRegistered')).args.modelId.toString());")
        r = subprocess.run(["node", "--input-type=module", "-e", script, self.anvil.url,
                            self.manifest, KEYS[1], slug, uri],
                           capture_output=True, text=True, timeout=120, cwd=SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_zz_clean_shutdown(self):
        self.assertEqual(self.node.stop(), 0)
        with open(os.path.join(self.node.dir, "node.log"), errors="replace") as f:
            log = f.read()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
            self.assertNotIn(bad, log)

    def test_allowed_methods_pass(self):
        self.assertEqual(self.call("eth_chainId")["result"], "0x7a69")
        head = self.call("eth_blockNumber")["result"]
        self.assertEqual(int(head, 16), int(self.anvil.rpc("eth_blockNumber"), 16))
        blk = self.call("eth_getBlockByNumber", "latest", False)["result"]
        self.assertEqual(blk["number"], head)
        code = self.call("eth_getCode", self.contracts["AgoraToken"]["address"], "latest")
        self.assertGreater(len(code["result"]), 100)
        # a batch keeps the order and the ids
        s, _, b = self.rpc([{"jsonrpc": "2.0", "id": "a", "method": "eth_chainId"},
                            {"jsonrpc": "2.0", "id": 2, "method": "eth_accounts"}])
        self.assertEqual(s, 200, b)
        self.assertEqual([r["id"] for r in b], ["a", 2])
        self.assertEqual(b[0]["result"], "0x7a69")
        self.assertEqual(b[1]["error"]["code"], -32601)

    def test_refused_methods(self):
        for m in ("eth_accounts", "eth_sendTransaction", "eth_sign", "personal_sign",
                  "anvil_setBalance", "evm_mine", "evm_revert", "hardhat_impersonateAccount",
                  "debug_traceTransaction", "admin_peers", "eth_coinbase", "", "ETH_CHAINID"):
            b = self.call(m)
            self.assertEqual(b["error"]["code"], -32601, (m, b))
            self.assertNotIn("result", b)
        # the refused state change did not happen
        s = self.anvil.rpc("eth_getBalance", "0x" + "22" * 20, "latest")
        self.assertEqual(int(s, 16), 0)

    def test_get_logs_is_bounded(self):
        token = self.contracts["AgoraToken"]["address"]
        ok = self.call("eth_getLogs", {"address": token, "fromBlock": "earliest", "toBlock": "latest"})
        self.assertIsInstance(ok["result"], list)
        self.assertGreater(len(ok["result"]), 0)  # the initial mint
        for f in ({"fromBlock": "0x0", "toBlock": "0x2710"},       # 10,001 blocks
                  {"fromBlock": "0x0", "toBlock": "0xffffffffff"},
                  {"fromBlock": "nonsense"},
                  {"blockHash": "0x" + "00" * 32, "fromBlock": "0x0"}):
            b = self.call("eth_getLogs", f)
            self.assertEqual(b["error"]["code"], -32602, (f, b))
        self.assertEqual(self.call("eth_getLogs", {"fromBlock": "0x0", "toBlock": "0x270f"})
                         .get("error"), None)
        self.assertEqual(self.call("eth_getLogs")["error"]["code"], -32602)
        self.assertEqual(self.call("eth_getLogs", {}, {})["error"]["code"], -32602)

    def test_caps_and_malformed_requests(self):
        s, _, b = self.rpc(None, raw=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["'
                           + b"a" * (70 * 1024) + b'"]}')
        self.assertEqual(s, 413, b)
        s, _, b = self.rpc([{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(21)])
        self.assertEqual(s, 400, b)
        self.assertEqual(self.rpc([])[0], 400)
        self.assertEqual(self.rpc(None, raw=b"not json")[0], 400)
        self.assertEqual(self.rpc(None, raw=b'{"a":1,"a":2}')[0], 400)
        self.assertEqual(self.rpc(42)[0], 400)  # neither a request nor a batch
        self.assertEqual(self.rpc({"method": "eth_chainId"}, content_type="text/plain")[0], 415)
        for bad in ({"id": 1}, {"method": 5}, {"method": "eth_chainId", "extra": 1},
                    {"method": "eth_chainId", "id": {"x": 1}}, [42]):
            s, _, b = self.rpc(bad)
            self.assertEqual(s, 200, (bad, b))
            b = b[0] if isinstance(b, list) else b
            self.assertEqual(b["error"]["code"], -32600, (bad, b))
        s, _, b = self.rpc({"method": "eth_chainId", "params": {"x": 1}})
        self.assertEqual(b["error"]["code"], -32602)

    def test_node_errors_and_reverts_pass_through(self):
        # AgoraToken.transfer(0x0, 1) from an empty account reverts with a custom error
        data = "0xa9059cbb" + "00" * 32 + "%064x" % 1
        b = self.call("eth_call", {"from": "0x" + "33" * 20, "to": self.contracts["AgoraToken"]["address"],
                                   "data": data}, "latest")
        self.assertIn("error", b)
        self.assertTrue(b["error"].get("data", "").startswith("0x"), b)
        b = self.call("eth_sendRawTransaction", "0x1234")
        self.assertIn("error", b)

    def test_faucet(self):
        addr = "0x" + "5a" * 20
        s, _, b = self.node.request("POST", "/api/v1/chain/faucet", {"address": addr})
        self.assertEqual(s, 401, b)
        s, _, b = self.node.request("POST", "/api/v1/chain/faucet", {"address": "0x12"}, token=self.bob)
        self.assertEqual((s, b["error"]["field"]), (400, "address"), b)
        s, _, b = self.node.request("POST", "/api/v1/chain/faucet", {"address": addr, "x": 1},
                                    token=self.bob)
        self.assertEqual(s, 400, b)
        s, _, b = self.node.request("POST", "/api/v1/chain/faucet", {"address": addr}, token=self.bob)
        self.assertEqual(s, 200, b)
        self.assertEqual((b["eth"], b["tokens"]), ("1000000000000000000", "1000000000000000000000"))
        self.assertEqual(int(self.anvil.rpc("eth_getBalance", addr, "latest"), 16), 10**18)
        bal = self.anvil.rpc("eth_call", {"to": self.contracts["AgoraToken"]["address"],
                                          "data": "0x70a08231" + "00" * 12 + "5a" * 20}, "latest")
        self.assertEqual(int(bal, 16), 1000 * 10**18)
        # again: it has gas and the token's cooldown runs
        s, h, b = self.node.request("POST", "/api/v1/chain/faucet", {"address": addr}, token=self.bob)
        self.assertEqual(s, 429, b)
        self.assertGreater(int(h["retry-after"]), 3600)
        # per client address: 10 an hour
        statuses = []
        for i in range(12):
            s, _, b = self.node.request("POST", "/api/v1/chain/faucet",
                                        {"address": "0x%040x" % (0x1000 + i)}, token=self.bob)
            statuses.append(s)
        self.assertEqual(statuses.count(429), 4, statuses)  # 2 made above + 8 = 10 allowed
        self.assertEqual(statuses[:8], [200] * 8)

    def test_library_and_sales(self):
        for tok in (self.alice, self.bob):
            for path in ("/api/v1/library", "/api/v1/sales"):
                s, _, b = self.node.request("GET", path, token=tok)
                self.assertEqual((s, b["items"], b["chain"]), (200, [], True), b)
        s, _, b = self.node.request("POST", "/api/v1/models", {"slug": "paid", "title": "Paid"},
                                    token=self.alice)
        self.assertEqual(s, 201, b)
        reg = self.js("register", key=KEYS[1], slug="alice/paid")
        self.js("publish", key=KEYS[1], modelId=reg["modelId"], version="1.0.0",
                cid="bafkqaaa", sha256="11" * 32)
        self.js("price", key=KEYS[1], modelId=reg["modelId"], price=PRICE)
        # a registration whose URI lies about its name ("agora:alice/paid" for the hash
        # of "alice/other") is not named
        liar = {"modelId": self.register_lying("alice/other", "agora:alice/paid")}
        self.js("publish", key=KEYS[1], modelId=liar["modelId"], version="1", cid="bafkqaaa",
                sha256="22" * 32)
        self.js("price", key=KEYS[1], modelId=liar["modelId"], price=PRICE)
        buy = self.js("buy", key=KEYS[2], modelId=reg["modelId"])
        self.js("buy", key=KEYS[2], modelId=liar["modelId"])
        for tok, key in ((self.bob, KEYS[2]), (self.alice, KEYS[1])):
            s, _, b = self.node.request("GET", "/api/v1/auth/siwe/nonce")
            m = self.js("siwe", key=key, domain="%s:%d" % (self.node.host, self.node.port),
                        uri=self.node.url, chainId=31337, nonce=b["nonce"])
            s, _, b = self.node.request("POST", "/api/v1/auth/siwe/link",
                                        {"message": m["message"], "signature": m["signature"]},
                                        token=tok)
            self.assertEqual(s, 201, b)

        def two(path, tok):
            s, _, b = self.node.request("GET", path, token=tok)
            return b["items"] if s == 200 and len(b["items"]) == 2 else None

        lib = wait_for(lambda: two("/api/v1/library", self.bob), 30, "the purchases indexed")
        first = lib[1]  # newest first
        self.assertEqual(first["model"], {"owner": "alice", "slug": "paid"})
        self.assertEqual((first["token_id"], first["price"], first["purchase_id"], first["status"]),
                         (reg["modelId"], PRICE, buy["purchaseId"], "escrowed"))
        self.assertEqual(first["tx_hash"], buy["txHash"].lower())
        self.assertEqual(first["seller"], "0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
        self.assertIsNone(lib[0]["model"])
        self.assertEqual(lib[0]["token_id"], liar["modelId"])
        sales = wait_for(lambda: two("/api/v1/sales", self.alice), 30, "the sales")
        self.assertEqual(sorted(x["purchase_id"] for x in sales), sorted(x["purchase_id"] for x in lib))
        self.assertEqual(int(sales[1]["fee"]), int(PRICE) * 250 // 10000)
        # nobody else sees them
        self.assertEqual(self.node.request("GET", "/api/v1/sales", token=self.bob)[2]["items"], [])
        self.assertEqual(self.node.request("GET", "/api/v1/library", token=self.alice)[2]["items"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
