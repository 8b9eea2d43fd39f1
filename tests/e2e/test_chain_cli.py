"""test_chain_cli.py - issue 4's purchase scenario end to end, through the `agora` CLI alone.

A real chain node on a free port: anvil (default) or Ganache, chosen by one
setting, AGORA_TEST_CHAIN=anvil|ganache. Every actor gets a fresh keystore
wallet (`agora wallet new`) funded by `agora faucet`, so nothing depends on a
chain's predefined accounts; the deployer's key is fresh too, funded with the
node's balance setter (anvil_setBalance / evm_setAccountBalance). Then:

  the seller pushes files and `agora publish`es a paid version (the token is
  minted); the buyer takes faucet tokens, `agora buy`s (the download unlocks),
  `agora pull`s and verifies the bytes, checks `agora provenance --check`;
  a non-buyer is refused; the node is stopped, a purchase happens meanwhile,
  the restarted node's index catches up; a dispute is ruled "refund" and access
  is revoked; another sale is released after the window (evm_increaseTime +
  evm_mine, which anvil and Ganache both implement) and `agora withdraw`n;
  the chain node is stopped: clear CLI errors and /healthz, recovery after.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import SRC, register  # noqa: E402
from chainlib import Actor, ChainNode, CliMixin, deploy, serve, wait_for  # noqa: E402

CHAIN = os.environ.get("AGORA_TEST_CHAIN", "anvil")
PRICE = 5 * 10**18
WINDOW = 259200  # the deployment's default dispute window (3 days)


class ChainCli(CliMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_chain("agora-chain-cli-", cls.setup_chain)

    @classmethod
    def setup_chain(cls):
        cls.chain_id = int(cls.chain.rpc("eth_chainId"), 16)
        # a fresh deployer (also the arbitrator): no predefined account is used
        cls.deployer_address, keyfile = cls.new_deployer()
        cls.chaindir = os.path.join(cls.dir, "deploy")
        cls.manifest = deploy(cls.chain.url, keyfile, cls.chaindir)
        cls.node = cls.start_node()
        cls.data = cls.node.data

    @classmethod
    def start_node(cls, data=None):
        return serve(cls.dirs, cls.chain.url, cls.manifest, data=data)

    # ---- helpers -------------------------------------------------------------------------

    def download(self, actor):
        s, _, body = self.node.request("GET", "/api/v1/models/alice/paid/versions/1.0.0/files/"
                                       "model.bin", token=actor.token if actor else None)
        return s

    def pull(self, actor, version="1.0.0"):
        out = tempfile.mkdtemp(prefix="pull-", dir=self.dir)
        r = self.cli(actor, "pull", "alice/paid@" + version, "-o", out)
        return r, out

    # ---- the scenario, in order ----------------------------------------------------------------

    def test_0_actors_and_errors_table(self):
        cls = ChainCli
        cls.alice = Actor(cls, "alice", register(self.node, "alice"))
        cls.bob = Actor(cls, "bob", register(self.node, "bob"))
        cls.carol = Actor(cls, "carol", register(self.node, "carol"))
        cls.dave = Actor(cls, "dave", register(self.node, "dave"))
        cls.arb = Actor(cls, "deployer", None, new_wallet=False)  # the arbitrator
        # every custom error of the deployed contracts is known to the CLI's decoder
        with open(os.path.join(SRC, "src/cli/chainctx.c")) as f:
            src = f.read()
        for c in ("AgoraToken", "ModelRegistry", "Marketplace"):
            with open(os.path.join(self.chaindir, "abi", c + ".json")) as f:
                for ent in json.load(f):
                    if ent["type"] == "error":
                        self.assertIn('"error %s(' % ent["name"], src, ent["name"])

    def test_1_seller_publishes(self):
        s, _, b = self.node.request("POST", "/api/v1/models", {"slug": "paid", "title": "Paid",
                                    "price": str(PRICE), "visibility": "public"},
                                    token=self.alice.token)
        self.assertEqual(s, 201, b)
        ChainCli.payload = hashlib.sha256(b"agora weights").digest() * 20000  # 640 KB, 3 chunks
        path = os.path.join(self.dir, "model.bin")
        with open(path, "wb") as f:
            f.write(self.payload)
        ChainCli.model_path = path
        self.ok(self.alice, "push", "alice/paid", "1.0.0", path)
        # a draft version is refused: only published versions are immutable
        self.fails(self.alice, "publish", "alice/paid@1.0.0", "--price", "5AGR", want="draft")
        self.ok(self.alice, "version", "publish", "alice/paid", "1.0.0")
        # a fresh wallet has no gas: a clear error, then the faucet funds it
        self.fails(self.alice, "publish", "alice/paid@1.0.0", "--price", "5AGR",
                   want="not enough ETH")
        f = self.json(self.alice, "faucet")
        self.assertTrue(f["gas_funded"])
        self.assertEqual(f["balance"], str(1000 * 10**18))
        # a second drip within the day is refused with the time it opens again
        self.fails(self.alice, "faucet", want="next one is at")
        p = self.json(self.alice, "publish", "alice/paid@1.0.0", "--price", "5AGR")
        self.assertTrue(p["minted"])
        self.assertEqual(p["price"], str(PRICE))
        s, _, v = self.node.request("GET", "/api/v1/models/alice/paid/versions/1.0.0")
        self.assertEqual(p["content_cid"], v["files"][0]["cid"])
        self.assertEqual(p["sha256"], "0x" + hashlib.sha256(self.payload).hexdigest())
        ChainCli.token_id = p["token_id"]
        # publishing the same version again changes nothing
        again = self.json(self.alice, "publish", "alice/paid@1.0.0")
        self.assertFalse(again["minted"])
        self.assertEqual(again["version_index"], p["version_index"])
        self.synced()
        s, _, m = self.node.request("GET", "/api/v1/models/alice/paid")
        self.assertEqual(m["chain"]["token_id"], self.token_id)
        self.assertEqual(m["chain"]["owner"], self.alice.address.lower())
        self.assertEqual(m["chain"]["price"], str(PRICE))
        # someone else's wallet cannot publish into the seller's token
        self.ok(self.carol, "faucet")
        self.fails(self.carol, "publish", "alice/paid@1.0.0", want="not by this wallet")

    def test_2_derived_model_lineage(self):
        # a second model derived from the first: lineage on chain, two files
        s, _, b = self.node.request("POST", "/api/v1/models", {"slug": "tuned", "title": "Tuned",
                                    "visibility": "public"}, token=self.alice.token)
        self.assertEqual(s, 201, b)
        a = os.path.join(self.dir, "tuned.bin")
        c = os.path.join(self.dir, "config.json")
        with open(a, "wb") as f:
            f.write(b"tuned weights" * 1000)
        with open(c, "w") as f:
            f.write('{"layers": 2}')
        self.ok(self.alice, "push", "alice/tuned", "0.1.0", a, c)
        self.ok(self.alice, "version", "publish", "alice/tuned", "0.1.0")
        p = self.json(self.alice, "publish", "alice/tuned@0.1.0", "--parent", "alice/paid",
                      "--dataset", c)
        self.assertEqual(p["parents"], [self.token_id])
        self.assertTrue(p["content_cid"].startswith("bafkrei"))  # raw CID of the file list
        pv = self.json(None, "provenance", "alice/tuned")
        self.assertEqual([x["name"] for x in pv["lineage"]], ["alice/paid"])
        self.assertEqual(pv["owner"].lower(), self.alice.address.lower())
        d = tempfile.mkdtemp(dir=self.dir)
        shutil.copy(a, d)
        shutil.copy(c, d)
        chk = self.json(None, "provenance", "alice/tuned", "--check", d)
        self.assertTrue(chk["check"]["ok"])
        self.assertTrue(chk["check"]["node_list_matches_chain"])
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write('{"layers": 3}')
        r = self.fails(None, "provenance", "alice/tuned", "--check", d)
        self.assertIn("mismatch", r.stdout)
        self.fails(None, "provenance", "alice/nope", want="not registered on chain")

    def test_3_buyer_buys_pulls_and_verifies(self):
        self.assertEqual(self.download(self.bob), 403)
        r, _ = self.pull(self.bob)
        self.assertEqual(r.returncode, 1, r.stderr)
        # no tokens yet: a clear error before anything is sent
        self.fails(self.bob, "buy", "alice/paid", want="insufficient balance")
        self.ok(self.bob, "faucet")
        # the seller cannot buy its own model: the revert is decoded
        self.fails(self.alice, "buy", "alice/paid", "--no-wait", want="SellerCannotBuy")
        self.fails(self.bob, "buy", "alice/paid", "--max-price", "4AGR", want="above --max-price")
        b = self.json(self.bob, "buy", "alice/paid")
        self.assertIsNotNone(b["unlock_seconds"])
        self.assertEqual(b["price"], str(PRICE))
        ChainCli.bob_purchase = b["purchase_id"]
        self.assertEqual(self.download(self.bob), 200)
        r, out = self.pull(self.bob)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "model.bin"), "rb") as f:
            self.assertEqual(f.read(), self.payload)
        chk = self.json(self.bob, "provenance", "alice/paid", "--check", out)
        self.assertTrue(chk["check"]["ok"], chk)
        self.ok(self.bob, "provenance", "alice/paid", "--check", os.path.join(out, "model.bin"))
        with open(os.path.join(out, "model.bin"), "r+b") as f:
            f.write(b"X")
        self.fails(self.bob, "provenance", "alice/paid", "--check", out)
        # buying again: already licensed, nothing is sent
        again = self.json(self.bob, "buy", "alice/paid")
        self.assertTrue(again["already_licensed"])
        self.synced()
        lic = self.json(self.bob, "licenses")
        self.assertEqual([(l["model"], l["status"], l["active"], l["on_node"])
                          for l in lic["licences"]], [("alice/paid", "escrowed", True, True)])
        # a non-buyer is refused
        self.assertEqual(self.download(self.carol), 403)
        r, _ = self.pull(self.carol)
        self.assertEqual(r.returncode, 1)
        self.fails(self.carol, "dispute", "open", "alice/paid", "--reason", "x",
                   want="holds no licence")

    def node_log(self):
        with open(os.path.join(self.node.dir, "node.log"), errors="replace") as f:
            return f.read()

    def test_4_node_restart_index_catches_up(self):
        self.assertEqual(self.node.stop(), 0, self.node_log()[-6000:])
        self.node.proc.stdout.close()
        # a purchase while the node is down, with the contracts from the manifest
        b = self.json(self.carol, "buy", "alice/paid", "--no-wait", "--no-link",
                      "--chain-manifest", self.manifest, node=False)
        ChainCli.carol_purchase = b["purchase_id"]
        ChainCli.node = self.start_node(data=self.data)
        self.synced()
        # the restarted node indexed it: linking the wallet unlocks the download
        again = self.json(self.carol, "buy", "alice/paid")
        self.assertTrue(again["already_licensed"])
        self.assertIsNotNone(again["unlock_seconds"])
        self.assertEqual(self.download(self.carol), 200)
        s, _, w = self.node.request("GET", "/api/v1/auth/wallets", token=self.carol.token)
        self.assertEqual([l["token_id"] for l in w["licences"]], [self.token_id])

    def test_5_dispute_refund_revokes_access(self):
        d = self.json(self.bob, "dispute", "open", "alice/paid", "--reason", "does not load")
        show = self.json(self.bob, "dispute", "show", d["dispute_id"])
        self.assertEqual(show["ruling"], "pending")
        self.assertEqual(show["purchase_id"], self.bob_purchase)
        self.fails(self.bob, "dispute", "rule", d["dispute_id"], "refund",
                   want="not the arbitrator")
        bal = self.token_balance(self.bob.address)
        self.ok(self.arb, "dispute", "rule", d["dispute_id"], "refund")
        self.fails(self.arb, "dispute", "rule", d["dispute_id"], "refund", want="AlreadyRuled")
        self.assertEqual(self.token_balance(self.bob.address), bal + PRICE)
        self.synced()
        self.assertEqual(self.download(self.bob), 403)
        lic = self.json(self.bob, "licenses")
        self.assertEqual([(l["status"], l["active"]) for l in lic["licences"]],
                         [("refunded", False)])
        self.assertEqual(self.json(self.bob, "dispute", "show", d["dispute_id"])["ruling"],
                         "refund")

    def token_balance(self, address):
        with open(self.manifest) as f:
            token = json.load(f)["contracts"]["AgoraToken"]["address"]
        data = "0x70a08231" + "0" * 24 + address[2:].lower()
        return int(self.chain.rpc("eth_call", {"to": token, "data": data}, "latest"), 16)

    def test_6_release_after_window_and_withdraw(self):
        self.fails(self.alice, "withdraw", want="still in escrow")
        self.chain.rpc("evm_increaseTime", WINDOW + 60)
        self.chain.rpc("evm_mine")
        # the carol's purchase's window has passed: disputes are closed
        self.fails(self.carol, "dispute", "open", "alice/paid", "--reason", "late",
                   want="DisputeWindowClosed")
        before = self.token_balance(self.alice.address)
        w = self.json(self.alice, "withdraw")
        self.assertEqual(w["released"], [self.carol_purchase])
        self.assertEqual(int(w["amount"]), PRICE * (10000 - 250) // 10000)  # 2.5% platform fee
        self.assertEqual(self.token_balance(self.alice.address), before + int(w["amount"]))
        self.fails(self.alice, "withdraw", want="nothing to withdraw")
        # the released sale keeps its licence
        self.synced()
        self.assertEqual(self.download(self.carol), 200)

    def test_7_chain_node_stopped_and_back(self):
        self.chain.stop()
        c = wait_for(lambda: (lambda c: c if c["status"] == "error" else None)(self.health()),
                     60, "/healthz to show the chain error")
        self.assertTrue(c.get("error"))
        r = self.fails(self.bob, "licenses", want="does not answer")
        self.assertIn(self.chain.url, r.stderr)
        self.fails(self.dave, "faucet", want="does not answer")
        s, _, b = self.node.request("GET", "/api/v1/models/alice/paid")
        self.assertEqual(s, 200, b)
        self.chain.start()
        self.synced()
        self.assertEqual(self.health()["status"], "ok")
        self.ok(self.dave, "faucet")
        # a manifest for another chain id is refused before anything is signed
        with open(self.manifest) as f:
            m = json.load(f)
        m["chainId"] = 5
        other = os.path.join(self.chaindir, "other.json")
        with open(other, "w") as f:
            json.dump(m, f)
        self.fails(self.dave, "buy", "alice/paid", "--chain-manifest", other,
                   want="but the contracts are on chain 5")
        # on a chain that is not a development chain the faucet is refused up front
        public = ChainNode(CHAIN, os.path.join(self.dir, "chain5-state"), chain_id=5)
        try:
            self.fails(self.dave, "faucet", "--chain-manifest", other, "--rpc", public.url,
                       want="not a development chain")
        finally:
            public.stop()
        # a wrong passphrase is named as such, and nothing is sent
        r = self.cli(self.dave, "buy", "alice/paid", "--passphrase-file", other)
        self.assertEqual(r.returncode, 1)
        self.assertIn("wrong passphrase", r.stderr)

    def test_9_clean_shutdown(self):
        self.assertEqual(self.node.stop(), 0, self.node_log()[-6000:])
        self.node.proc.stdout.close()
        log = self.node_log()
        self.assertNotIn("AddressSanitizer", log)
        self.assertNotIn("runtime error", log)


if __name__ == "__main__":
    unittest.main(verbosity=2, failfast=True)
