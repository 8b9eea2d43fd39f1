"""test_chain_quote.py - EIP-712 price quotes signed by the node and redeemed by `agora buy`, on a real chain.

A chain node on a free port (anvil, or Ganache with AGORA_TEST_CHAIN=ganache), a
fresh deployer who is also the Marketplace's pricing signer, and `agora serve
--pricing-key` with the deployer's key (a 0600 hex file). Then:

  POST /api/v1/models/{owner}/{slug}/quote: 401 anonymous, 400 bad buyer, 404 unknown
  model or a version not on chain, 409 a model not on chain; a quote's digest equals the
  contract's quoteDigest(quote) and ethers' TypedDataEncoder over the contract's own
  eip712Domain(), and ethers recovers the pricing signer from the signature;
  `agora buy --quote-file` and `agora buy` (the node offers a quote) redeem quotes with
  buyWithQuotePermit: the download unlocks and the QuoteRedeemed event is indexed;
  refused by the contract, with the error named by the CLI: a quote for another buyer
  (QuoteWrongBuyer), a tampered signature or price (InvalidQuoteSignature), a replayed
  nonce after a refund (QuoteAlreadyUsed), an expired quote (QuoteExpired); --max-price
  below the quoted price is refused before sending;
  a group-readable key file, or a keystore without its passphrase file, stops the node at
  start; a keystore with its passphrase file works; a key that is not the pricing signer
  gives 503; no key gives 503 and `agora buy` falls back to the list price.
"""
import json
import os
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from node import BIN, SRC, register  # noqa: E402
from chainlib import KEYS, PASS, Actor, CliMixin, deploy, serve, write_key  # noqa: E402

PRICE = 5 * 10**18
TTL = 300

# ethers (the reference peer) reads the contract and checks a quote document
CHECK_JS = r"""
const { JsonRpcProvider, Contract, TypedDataEncoder, verifyTypedData } = require('ethers');
const [url, market, docText] = process.argv.slice(1);
const doc = JSON.parse(docText);
const abi = [
  'function quoteDigest((uint256 modelId,address buyer,uint256 price,uint256 expiry,uint256 nonce) quote) view returns (bytes32)',
  'function eip712Domain() view returns (bytes1,string,string,uint256,address,bytes32,uint256[])',
  'function pricingSigner() view returns (address)',
];
(async () => {
  const p = new JsonRpcProvider(url, undefined, { staticNetwork: true });
  const c = new Contract(market, abi, p);
  const d = await c.eip712Domain();
  const domain = { name: d[1], version: d[2], chainId: d[3], verifyingContract: d[4] };
  const types = { Quote: [{ name: 'modelId', type: 'uint256' }, { name: 'buyer', type: 'address' },
    { name: 'price', type: 'uint256' }, { name: 'expiry', type: 'uint256' }, { name: 'nonce', type: 'uint256' }] };
  const q = doc.quote;
  console.log(JSON.stringify({
    contract: await c.quoteDigest(q),
    ethers: TypedDataEncoder.hash(domain, types, q),
    recovered: verifyTypedData(domain, types, q, doc.signature),
    signer: await c.pricingSigner(),
  }));
  p.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
"""


class ChainQuote(CliMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_chain("agora-chain-quote-", cls.setup_chain)

    @classmethod
    def setup_chain(cls):
        # the deployer is the pricing signer (chain deploy's default) and the arbitrator
        cls.deployer_address, cls.keyfile = cls.new_deployer()
        cls.chaindir = os.path.join(cls.dir, "deploy")
        cls.manifest = deploy(cls.chain.url, cls.keyfile, cls.chaindir)
        with open(cls.manifest) as f:
            cls.market = json.load(f)["contracts"]["Marketplace"]["address"]
        cls.node = cls.start_node("--pricing-key", cls.keyfile, "--quote-ttl", str(TTL))
        cls.data = cls.node.data

    @classmethod
    def start_node(cls, *extra, data=None):
        return serve(cls.dirs, cls.chain.url, cls.manifest, *extra, data=data)

    @classmethod
    def restart(cls, *extra):
        assert cls.node.stop() == 0
        cls.node.proc.stdout.close()
        cls.node = cls.start_node(*extra, data=cls.data)

    # ---- helpers -------------------------------------------------------------------------

    def quote(self, actor, buyer=None, slug="paid", **body):
        body.setdefault("buyer", buyer if buyer is not None else actor.address)
        return self.node.request("POST", "/api/v1/models/alice/%s/quote" % slug, body,
                                 token=actor.token if actor else None)

    def good_quote(self, actor, buyer=None):
        s, _, q = self.quote(actor, buyer)
        self.assertEqual(s, 200, q)
        return q

    def save(self, doc, name):
        path = os.path.join(self.dir, name + ".json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def check(self, doc):
        r = subprocess.run(["node", "-e", CHECK_JS, self.chain.url, self.market, json.dumps(doc)],
                           capture_output=True, text=True, timeout=120, cwd=SRC)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def download(self, actor):
        s, _, _ = self.node.request("GET", "/api/v1/models/alice/paid/versions/1.0.0/files/"
                                    "model.bin", token=actor.token)
        return s

    def redeemed(self):
        db = sqlite3.connect(os.path.join(self.data, "agora.db"))
        try:
            return [json.loads(a) for (a,) in db.execute(
                "SELECT args FROM chain_events WHERE name = 'QuoteRedeemed' ORDER BY block_number")]
        finally:
            db.close()

    # ---- the scenario, in order ----------------------------------------------------------

    def test_0_seller_publishes(self):
        cls = ChainQuote
        for name in ("alice", "bob", "carol", "dave"):
            setattr(cls, name, Actor(cls, name, register(self.node, name)))
        cls.arb = Actor(cls, "deployer", None, new_wallet=False)  # the arbitrator
        s, _, b = self.node.request("POST", "/api/v1/models", {"slug": "paid", "title": "Paid",
                                    "price": str(PRICE), "visibility": "public"},
                                    token=self.alice.token)
        self.assertEqual(s, 201, b)
        s, _, b = self.node.request("POST", "/api/v1/models", {"slug": "offchain", "title": "Off",
                                    "visibility": "public"}, token=self.alice.token)
        self.assertEqual(s, 201, b)
        path = os.path.join(self.dir, "model.bin")
        with open(path, "wb") as f:
            f.write(b"quoted weights" * 5000)
        self.ok(self.alice, "push", "alice/paid", "1.0.0", path)
        self.ok(self.alice, "version", "publish", "alice/paid", "1.0.0")
        for a in (self.alice, self.bob, self.carol, self.dave):
            self.ok(a, "faucet")
        p = self.json(self.alice, "publish", "alice/paid@1.0.0", "--price", "5AGR")
        ChainQuote.token_id = p["token_id"]
        self.synced()

    def test_1_route_refusals(self):
        s, _, b = self.quote(None, buyer=self.bob.address)
        self.assertEqual(s, 401, b)
        for bad in ("0x1234", "bob", "0x" + "00" * 20, 7):
            s, _, b = self.quote(self.bob, buyer=bad)
            self.assertEqual(s, 400, (bad, b))
        s, _, b = self.quote(self.bob, extra="x")
        self.assertEqual(s, 400, b)
        s, _, b = self.quote(self.bob, slug="nope")
        self.assertEqual(s, 404, b)
        s, _, b = self.quote(self.bob, slug="offchain")
        self.assertEqual(s, 409, b)
        self.assertIn("not registered on chain", b["error"]["message"])
        s, _, b = self.quote(self.bob, version="9.9.9")
        self.assertEqual(s, 404, b)
        self.assertIn("not on chain", b["error"]["message"])

    def test_2_quote_matches_contract_and_ethers(self):
        q = self.good_quote(self.bob)
        self.assertEqual(q["quote"]["modelId"], self.token_id)
        self.assertEqual(q["quote"]["buyer"].lower(), self.bob.address.lower())
        self.assertEqual(q["quote"]["price"], str(PRICE))
        self.assertEqual(q["chainId"], int(self.chain.rpc("eth_chainId"), 16))
        self.assertEqual(q["marketplace"].lower(), self.market.lower())
        self.assertEqual(q["signer"].lower(), self.deployer_address.lower())
        head = int(self.chain.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        self.assertGreaterEqual(q["quote"]["expiry"], head + TTL - 5)
        self.assertLessEqual(q["quote"]["expiry"], head + TTL + 120)
        c = self.check(q)
        self.assertEqual(c["contract"], q["digest"])
        self.assertEqual(c["ethers"], q["digest"])
        self.assertEqual(c["recovered"].lower(), self.deployer_address.lower())
        self.assertEqual(c["signer"].lower(), self.deployer_address.lower())
        # with a version on chain; and every nonce differs
        s, _, v = self.quote(self.bob, version="1.0.0")
        self.assertEqual(s, 200, v)
        self.assertEqual(v["version"], "1.0.0")
        self.assertEqual(self.check(v)["contract"], v["digest"])
        nonces = {self.good_quote(self.bob)["quote"]["nonce"] for _ in range(5)}
        self.assertEqual(len(nonces | {q["quote"]["nonce"], v["quote"]["nonce"]}), 7)

    def test_3_cli_redeems_a_quote_file(self):
        q = self.good_quote(self.bob)
        ChainQuote.bob_quote = self.save(q, "bob")
        self.assertEqual(self.download(self.bob), 403)
        self.fails(self.bob, "buy", "alice/paid", "--quote-file", self.bob_quote,
                   "--max-price", "4AGR", want="the quoted price is 5 AGR, above --max-price")
        b = self.json(self.bob, "buy", "alice/paid", "--quote-file", self.bob_quote)
        self.assertEqual(b["priced_by"], "quote")
        self.assertEqual(b["quote_nonce"], q["quote"]["nonce"])
        self.assertEqual(b["price"], str(PRICE))
        self.assertIsNotNone(b["unlock_seconds"])
        ChainQuote.bob_purchase = b["purchase_id"]
        self.assertEqual(self.download(self.bob), 200)
        self.synced()
        ev = self.redeemed()
        self.assertEqual([(e["nonce"], e["purchaseId"], e["modelId"]) for e in ev],
                         [(q["quote"]["nonce"], b["purchase_id"], self.token_id)])

    def test_4_cli_asks_the_node(self):
        b = self.json(self.dave, "buy", "alice/paid")
        self.assertEqual(b["priced_by"], "quote")
        self.assertIsNotNone(b["unlock_seconds"])
        self.assertEqual(self.download(self.dave), 200)
        self.synced()
        self.assertEqual(len(self.redeemed()), 2)

    def test_5_contract_refusals_named(self):
        # a quote made out to bob, redeemed by carol
        f = self.save(self.good_quote(self.carol, buyer=self.bob.address), "for-bob")
        self.fails(self.carol, "buy", "alice/paid", "--quote-file", f, want="QuoteWrongBuyer")
        # a signature changed in one byte, then a price lowered under the original signature
        q = self.good_quote(self.carol)
        sig = q["signature"]
        q["signature"] = sig[:40] + ("0" if sig[40] != "0" else "1") + sig[41:]
        self.fails(self.carol, "buy", "alice/paid", "--quote-file", self.save(q, "tampered"),
                   want="InvalidQuoteSignature")
        q["signature"] = sig
        q["quote"]["price"] = "1"
        self.fails(self.carol, "buy", "alice/paid", "--quote-file", self.save(q, "cheap"),
                   want="InvalidQuoteSignature")
        # bad documents are refused before anything is sent
        q["quote"]["price"] = "five"
        self.fails(self.carol, "buy", "alice/paid", "--quote-file", self.save(q, "bad"),
                   want="not a price quote")
        r = self.cli(self.carol, "buy", "alice/paid", "--quote", "--quote-file", f)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("exclude each other", r.stderr)
        self.assertEqual(self.download(self.carol), 403)

    def bob_review_verified(self):
        # signed in (carol): no micro-cached answer
        s, _, b = self.node.request("GET", "/api/v1/models/alice/paid/reviews",
                                    token=self.carol.token)
        self.assertEqual(s, 200, b)
        items = b["reviews"] if isinstance(b, dict) and "reviews" in b else b.get("items", b)
        return {r["user"]: r["verified"] for r in items}["bob"]

    def test_6_replayed_nonce_after_refund(self):
        s, _, b = self.node.request("POST", "/api/v1/models/alice/paid/reviews",
                                    {"rating": 4, "body": "as described"}, token=self.bob.token)
        self.assertIn(s, (200, 201), b)
        self.assertTrue(self.bob_review_verified())
        d = self.json(self.bob, "dispute", "open", "alice/paid", "--reason", "wrong model")
        self.ok(self.arb, "dispute", "rule", d["dispute_id"], "refund")
        self.synced()
        self.assertEqual(self.download(self.bob), 403)
        self.assertFalse(self.bob_review_verified(), "a refunded purchase verifies no review")
        # the licence is gone, but the quote it was bought with stays spent
        self.fails(self.bob, "buy", "alice/paid", "--quote-file", self.bob_quote,
                   want="QuoteAlreadyUsed")
        b = self.json(self.bob, "buy", "alice/paid", "--quote")
        self.assertEqual(b["priced_by"], "quote")
        self.assertEqual(self.download(self.bob), 200)
        self.synced()
        self.assertTrue(self.bob_review_verified(), "a new purchase verifies the review again")

    def test_7_expired_quote(self):
        f = self.save(self.good_quote(self.carol), "expiring")
        self.chain.rpc("evm_increaseTime", TTL + 60)
        self.chain.rpc("evm_mine")
        self.fails(self.carol, "buy", "alice/paid", "--quote-file", f, want="QuoteExpired")
        # a fresh quote counts from the chain's clock, not the wall clock
        b = self.json(self.carol, "buy", "alice/paid", "--quote")
        self.assertEqual(b["priced_by"], "quote")

    def test_8_key_handling(self):
        open_key = write_key(os.path.join(self.dir, "open.key"), KEYS[3])
        os.chmod(open_key, 0o640)
        ks_dir = os.path.join(self.dir, "ks-deployer")
        ks = os.path.join(ks_dir, sorted(os.listdir(ks_dir))[0])
        passfile = write_key(os.path.join(self.dir, "deployer.pass"), PASS)
        junk = write_key(os.path.join(self.dir, "junk.key"), "not a key")
        with open(self.keyfile) as f:
            secret = f.read().strip()[2:]
        for args, want in (
                (["--pricing-key", open_key], "accessible to group or others"),
                (["--pricing-key", ks], "give its passphrase file too"),
                (["--pricing-key", os.path.join(self.dir, "missing.key")], "cannot read"),
                (["--pricing-key", junk], "neither a keystore nor a 32-byte hex private key"),
                (["--pricing-key", ks, "--pricing-passphrase-file", junk], "wrong passphrase"),
                (["--pricing-key", self.keyfile, "--quote-ttl", "5"], "quote-ttl")):
            r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                os.path.join(self.dir, "refused"), "--chain-rpc", self.chain.url,
                                "--chain-manifest", self.manifest, *args],
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, AGORA_PWHASH="min"))
            self.assertNotEqual(r.returncode, 0, (args, r.stdout))
            self.assertIn(want, r.stderr)
            self.assertNotIn("Sanitizer", r.stderr)
            self.assertNotIn(secret, r.stderr)
            self.assertNotIn(KEYS[3][2:], r.stderr)
        # a keystore with its passphrase file signs as the deployer
        self.restart("--pricing-key", ks, "--pricing-passphrase-file", passfile)
        q = self.good_quote(self.carol, buyer=self.dave.address)
        self.assertEqual(q["signer"].lower(), self.deployer_address.lower())
        self.assertEqual(self.check(q)["contract"], q["digest"])
        # a key that is not the Marketplace's pricing signer: no quote it signs would pass
        os.chmod(open_key, 0o600)
        self.restart("--pricing-key", open_key)
        s, _, b = self.quote(self.carol)
        self.assertEqual(s, 503, b)
        self.assertIn("not the Marketplace's pricing signer", b["error"]["message"])

    def test_9_no_key_503_and_list_price_fallback(self):
        self.restart()
        s, _, b = self.quote(self.carol)
        self.assertEqual(s, 503, b)
        self.assertIn("--pricing-key", b["error"]["message"])
        # carol already holds a licence (test_7): a refund first, then buy again
        d = self.json(self.carol, "dispute", "open", "alice/paid", "--reason", "again")
        self.ok(self.arb, "dispute", "rule", d["dispute_id"], "refund")
        self.synced()
        self.fails(self.carol, "buy", "alice/paid", "--quote", want="--pricing-key")
        r = self.ok(self.carol, "buy", "alice/paid", "--json")
        self.assertEqual(json.loads(r.stdout)["priced_by"], "list")
        self.assertIn("buying at the list price", r.stderr)
        self.assertEqual(self.download(self.carol), 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
