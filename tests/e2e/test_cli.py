#!/usr/bin/python3
"""test_cli.py - the agora command-line client, end to end against a real node.

Starts `$AGORA_BIN serve` on a free port with a temporary data directory and
drives every client command through the real binary: accounts and the
credentials file, API tokens, listings, versions, search, likes, reviews,
profiles, --json output, exit codes (0 ok, 1 error, 2 usage) and an
unreachable node. Standard library only.
"""
import http.server
import json
import os
import pty
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node import BIN as AGORA, Node  # noqa: E402  (the shared e2e helper)

PASSWORD = "correct horse battery staple"
TOKEN_RE = re.compile(r"agora_[0-9a-f]{40}")


def free_port():
    """A TCP port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class BadNode(http.server.ThreadingHTTPServer):
    """A misbehaving HTTP server on a free port: what a client must survive
    when something else answers at the node's address (a proxy, a wrong
    port, an overloaded node). The path picks the misbehaviour."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, ctype="application/json", extra=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self):
            if self.path.startswith("/api/v1/models/huge/"):
                # 17 MiB of valid JSON: over the client's 16 MiB cap.
                self.reply(200, b'{"pad": "' + b"x" * (17 << 20) + b'"}')
            elif self.path.startswith("/api/v1/models/html/"):
                self.reply(200, b"<html>hello</html>", "text/html")
            elif self.path.startswith("/api/v1/models/proxy/"):
                self.reply(502, b"<html>Bad Gateway</html>", "text/html")
            elif self.path.startswith("/api/v1/models"):
                err = {"error": {"code": "rate_limited", "message": "too many requests",
                                 "request_id": "r1"}}
                self.reply(429, json.dumps(err).encode(), extra={"Retry-After": "17"})
            else:
                self.reply(404, b"{}")

    def __init__(self):
        super().__init__(("127.0.0.1", 0), BadNode.Handler)
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(AGORA, os.X_OK):
            raise RuntimeError("no agora binary at %s: set AGORA_BIN" % AGORA)
        cls.root = tempfile.mkdtemp(prefix="agora-cli-")
        cls.node = Node()
        cls.url = cls.node.url
        for user in ("alice", "bob"):
            r = cls.run_as(None, "register", user, "--email", user + "@example.com",
                           "--password-stdin", input=PASSWORD + "\n")
            assert r.returncode == 0, r.stderr
            r = cls.run_as(user, "login", user, "--password-stdin", input=PASSWORD + "\n")
            assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        shutil.rmtree(cls.root, ignore_errors=True)

    # ---- helpers -----------------------------------------------------------

    @classmethod
    def config_dir(cls, user):
        return os.path.join(cls.root, "config-" + (user or "nobody"))

    @classmethod
    def run_as(cls, user, *args, input=None, env=None, node=True):
        """Runs `agora ARGS` as `user` (its own credentials directory)."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
        e["AGORA_CONFIG_DIR"] = cls.config_dir(user)
        if node:
            e["AGORA_NODE"] = cls.url
        e.update(env or {})
        return subprocess.run([AGORA] + list(args), input=input, capture_output=True,
                              text=True, env=e, timeout=120,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, user, *args, **kw):
        r = self.run_as(user, *args, **kw)
        self.assertEqual(r.returncode, 0, "agora %s failed: %s%s" % (" ".join(args), r.stdout,
                                                                     r.stderr))
        self.assertNotIn("runtime error", r.stderr)  # UBSan
        return r

    def ok_json(self, user, *args, **kw):
        return json.loads(self.ok(user, *args, "--json", **kw).stdout)

    def fails(self, code, user, *args, **kw):
        r = self.run_as(user, *args, **kw)
        self.assertEqual(r.returncode, code, "agora %s: expected exit %d, got %d: %s%s" %
                         (" ".join(args), code, r.returncode, r.stdout, r.stderr))
        self.assertTrue(r.stderr.strip(), "an error must say what went wrong")
        self.assertNotIn("AddressSanitizer", r.stderr)
        self.assertNotIn("runtime error", r.stderr)
        return r

    def credentials(self, user):
        with open(os.path.join(self.config_dir(user), "credentials")) as f:
            return json.load(f)

    def new_account(self, name):
        self.ok(None, "register", name, "--email", name + "@example.org", "--password-stdin",
                input=PASSWORD + "\n")
        r = self.ok(name, "login", name, "--password-stdin", input=PASSWORD + "\n")
        return r

    # ---- accounts and credentials ----------------------------------------------

    def test_login_stores_token_privately(self):
        r = self.new_account("carol")
        token = self.credentials("carol")[self.url]["token"]
        self.assertRegex(token, TOKEN_RE)
        self.assertNotIn(token, r.stdout + r.stderr)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        self.assertIn("carol", r.stdout)
        path = os.path.join(self.config_dir("carol"), "credentials")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.config_dir("carol")).st_mode), 0o700)
        self.assertEqual(sorted(os.listdir(self.config_dir("carol"))), ["credentials"])

        who = self.ok("carol", "whoami")
        self.assertRegex(who.stdout, r"Username:\s+carol")
        self.assertIn("carol@example.org", who.stdout)
        self.assertNotIn(token, who.stdout)
        me = self.ok_json("carol", "whoami")
        self.assertEqual(me["user"]["username"], "carol")
        self.assertEqual(me["auth"], "token")

        # Logging in again replaces the stored token and revokes the old one.
        self.ok("carol", "login", "carol", "--password-stdin", input=PASSWORD + "\n")
        token2 = self.credentials("carol")[self.url]["token"]
        self.assertNotEqual(token, token2)
        self.fails(1, None, "whoami", env={"AGORA_TOKEN": token})

        r = self.fails(1, None, "whoami", env={"AGORA_TOKEN": "agora_x\r\nX-Evil: 1"})
        self.assertIn("AGORA_TOKEN is not an API token", r.stderr)

        # AGORA_TOKEN overrides the stored token.
        r = self.ok("alice", "whoami", "--json", env={"AGORA_TOKEN": token2})
        self.assertEqual(json.loads(r.stdout)["user"]["username"], "carol")

        # Logout revokes on the node and forgets locally.
        self.ok("carol", "logout")
        self.assertNotIn(self.url, self.credentials("carol"))
        r = self.fails(1, None, "whoami", env={"AGORA_TOKEN": token2})
        self.assertIn("login", r.stderr)
        r = self.fails(1, "carol", "whoami")
        self.assertIn("not logged in", r.stderr)
        self.fails(1, "carol", "logout")
        self.fails(1, "carol", "token", "list")

    def test_credentials_keyed_by_node(self):
        self.ok("alice", "whoami")
        creds = self.credentials("alice")
        self.assertIn(self.url, creds)
        self.assertEqual(creds[self.url]["username"], "alice")
        # The same directory holds no login for another node.
        other = "http://127.0.0.1:%d" % free_port()
        r = self.fails(1, "alice", "whoami", "--node", other)
        self.assertIn("not logged in to " + other, r.stderr)
        # A trailing slash names the same node.
        self.ok("alice", "whoami", "--node", self.url + "/")

    def test_damaged_credentials_file(self):
        self.new_account("frank")
        path = os.path.join(self.config_dir("frank"), "credentials")
        os.chmod(path, 0o644)
        r = self.ok("frank", "whoami")
        self.assertIn("readable by others", r.stderr)
        os.chmod(path, 0o600)
        with open(path, "w") as f:
            f.write('{"http://x": ')
        # Commands that need no login still work; the others say what is wrong.
        self.ok("frank", "search", "--limit", "1")
        r = self.fails(1, "frank", "whoami")
        self.assertIn("is damaged", r.stderr)
        r = self.fails(1, "frank", "login", "frank", "--password-stdin", input=PASSWORD + "\n")
        self.assertIn("is damaged", r.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), '{"http://x": ')  # left for the user to look at
        os.unlink(path)
        self.ok("frank", "login", "frank", "--password-stdin", input=PASSWORD + "\n")
        self.ok("frank", "whoami")

    def test_unwritable_credentials_revoke_the_new_token(self):
        self.new_account("gina")
        # /proc/self is a directory where no file can be created, even by root.
        r = self.fails(1, None, "login", "gina", "--password-stdin", input=PASSWORD + "\n",
                       env={"AGORA_CONFIG_DIR": "/proc/self"})
        self.assertIn("/proc/self", r.stderr)
        tokens = self.ok_json("gina", "token", "list")["tokens"]
        self.assertEqual(len(tokens), 1, tokens)  # only the login of new_account()

    def test_password_from_terminal_is_not_echoed(self):
        self.ok(None, "register", "dave", "--email", "dave@example.org", "--password-stdin",
                input=PASSWORD + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
        env.update(AGORA_CONFIG_DIR=self.config_dir("dave"), AGORA_NODE=self.url)
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(AGORA, [AGORA, "login", "dave"], env)
            finally:
                os._exit(127)
        out = b""
        sent = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not sent and b"Password:" in out:
                os.write(fd, PASSWORD.encode() + b"\n")
                sent = True
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = out.decode(errors="replace")
        self.assertTrue(sent, text)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertNotIn(PASSWORD, text)
        self.assertIn("Logged in", text)
        self.assertRegex(self.credentials("dave")[self.url]["token"], TOKEN_RE)

    def test_password_needs_terminal_or_stdin(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
        e.update(AGORA_CONFIG_DIR=self.config_dir("nobody"), AGORA_NODE=self.url)
        # A new session has no controlling terminal: /dev/tty cannot be opened.
        r = subprocess.run([AGORA, "login", "alice"], capture_output=True, text=True, env=e,
                           stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--password-stdin", r.stderr)
        self.fails(1, None, "login", "alice", "--password-stdin", input="")

    def test_register_errors(self):
        r = self.fails(1, None, "register", "alice", "--email", "other@example.com",
                       "--password-stdin", input=PASSWORD + "\n")
        self.assertIn("agora register:", r.stderr)
        r = self.fails(1, None, "register", "erin", "--email", "erin@example.com",
                       "--password-stdin", input="short\n")
        self.assertIn("password", r.stderr)
        r = self.fails(1, None, "register", "x", "--email", "x@example.com",
                       "--password-stdin", input=PASSWORD + "\n")
        self.assertIn("(field: username)", r.stderr)
        self.fails(2, None, "register", "erin", "--password-stdin", input=PASSWORD + "\n")
        self.fails(2, None, "register", "--email", "e@example.com")
        r = self.fails(1, None, "login", "alice", "--password-stdin", input="wrong password!\n")
        self.assertNotIn("wrong password!", r.stderr)

    # ---- API tokens ---------------------------------------------------------------

    def test_tokens(self):
        created = self.ok_json("alice", "token", "create", "ci-bot")
        token = created["token"]
        self.assertRegex(token, TOKEN_RE)
        human = self.ok("alice", "token", "create", "second")
        self.assertRegex(human.stdout, TOKEN_RE)
        self.assertIn("shown once", human.stdout)

        listed = self.ok_json("alice", "token", "list")["tokens"]
        names = {t["name"]: t for t in listed}
        self.assertIn("ci-bot", names)
        self.assertEqual(names["ci-bot"]["id"], created["id"])
        table = self.ok("alice", "token", "list").stdout
        self.assertRegex(table, r"ID\s+NAME\s+PREFIX\s+CREATED\s+LAST USED")
        self.assertIn("ci-bot", table)
        self.assertNotRegex(table, TOKEN_RE)  # only prefixes

        who = json.loads(self.ok(None, "whoami", "--json", env={"AGORA_TOKEN": token}).stdout)
        self.assertEqual(who["user"]["username"], "alice")

        r = self.ok("alice", "token", "revoke", str(created["id"]))
        self.assertIn("Revoked", r.stdout)
        ids = [t["id"] for t in self.ok_json("alice", "token", "list")["tokens"]]
        self.assertNotIn(created["id"], ids)
        self.fails(1, None, "whoami", env={"AGORA_TOKEN": token})
        self.fails(1, "alice", "token", "revoke", str(created["id"]))
        self.fails(1, "alice", "token", "revoke", "999999")
        self.fails(2, "alice", "token", "revoke", "abc")
        self.fails(2, "alice", "token", "revoke")
        self.fails(2, "alice", "token", "create")
        self.fails(2, "alice", "token", "frobnicate")
        # Bob cannot revoke Alice's token.
        other = self.ok_json("alice", "token", "create", "not-bobs")
        self.fails(1, "bob", "token", "revoke", str(other["id"]))
        self.ok(None, "whoami", env={"AGORA_TOKEN": other["token"]})

    # ---- listings -----------------------------------------------------------------

    def test_model_lifecycle(self):
        card = os.path.join(self.root, "card.md")
        with open(card, "w") as f:
            f.write("---\ntask: image-classification\nlibrary: onnx\nlicense: apache-2.0\n"
                    "tags: [vision, cnn]\ndatasets: [imagenet-1k]\n---\n"
                    "# Lifecycle net\n\nA residual network.\n")
        r = self.ok("alice", "model", "create", "lifecycle-net", "--title", "Lifecycle Net",
                    "--card", card, "--summary", "Image classifier")
        self.assertRegex(r.stdout, r"Model:\s+alice/lifecycle-net")
        self.assertIn("A residual network.", r.stdout)
        m = self.ok_json("alice", "model", "show", "alice/lifecycle-net")
        self.assertEqual((m["task"], m["library"], m["license"]),
                         ("image-classification", "onnx", "apache-2.0"))
        self.assertEqual(sorted(m["tags"]), ["cnn", "vision"])
        self.assertEqual(m["datasets"], ["imagenet-1k"])
        self.assertEqual(m["price"], "0")

        # Options in any order, --opt=value, repeated --tag.
        m = self.ok_json("alice", "model", "create", "--price=2500", "flagged", "--tag", "nlp",
                         "--title", "Flagged", "--tag=bert", "--task", "fill-mask",
                         "--license", "mit", "--library", "pytorch", "--visibility", "public")
        self.assertEqual((m["slug"], m["price"], m["task"], m["library"]),
                         ("flagged", "2500", "fill-mask", "pytorch"))
        self.assertEqual(m["tags"], ["nlp", "bert"])

        # Edit: only the given fields change.
        m = self.ok_json("alice", "model", "edit", "alice/flagged", "--summary", "Masked LM",
                         "--price", "0")
        self.assertEqual((m["summary"], m["title"], m["price"]), ("Masked LM", "Flagged", "0"))
        r = self.ok("alice", "model", "show", "alice/flagged")
        self.assertRegex(r.stdout, r"Summary:\s+Masked LM")
        self.assertRegex(r.stdout, r"Price:\s+free")
        self.fails(2, "alice", "model", "edit", "alice/flagged")
        # Prices are sent in the smallest unit and shown in tokens (10^18 units).
        r = self.ok("alice", "model", "edit", "alice/flagged", "--price", "1500000000000000000")
        self.assertRegex(r.stdout, r"Price:\s+1\.5 tokens \(1500000000000000000 units\)")
        r = self.ok(None, "search", "--owner", "alice", "--sort", "price_desc", "--limit", "1")
        self.assertRegex(r.stdout.splitlines()[1], r"^alice/flagged .* 1\.5 ")
        self.ok("alice", "model", "edit", "alice/flagged", "--price", "0")

        # Others get 403 on change, and the error says why.
        r = self.fails(1, "bob", "model", "edit", "alice/flagged", "--title", "Hacked")
        self.assertIn("agora model:", r.stderr)
        self.fails(1, "bob", "model", "delete", "alice/flagged")
        self.assertEqual(self.ok_json("bob", "model", "show", "alice/flagged")["title"],
                         "Flagged")
        # Not logged in at all.
        self.fails(1, None, "model", "create", "anon", "--title", "Anon")

        # A private listing is 404 to others.
        self.ok("alice", "model", "create", "secret", "--title", "Secret",
                "--visibility", "private")
        self.ok("alice", "model", "show", "alice/secret")
        self.fails(1, "bob", "model", "show", "alice/secret")

        # list: by owner, default to me, JSON.
        r = self.ok("alice", "model", "list")
        self.assertRegex(r.stdout, r"MODEL\s+TITLE\s+VISIBILITY\s+PRICE")
        self.assertIn("alice/lifecycle-net", r.stdout)
        listed = self.ok_json("bob", "model", "list", "alice")["items"]
        slugs = {i["slug"] for i in listed}
        self.assertTrue({"lifecycle-net", "flagged"} <= slugs)
        self.assertNotIn("secret", slugs)
        self.assertEqual(self.ok_json("bob", "model", "list")["items"], [])
        self.assertIn("No listings", self.ok("bob", "model", "list").stdout)

        # Server-side validation errors carry the field.
        r = self.fails(1, "alice", "model", "create", "Bad Slug!", "--title", "x")
        self.assertIn("(field: slug)", r.stderr)
        self.fails(1, "alice", "model", "create", "flagged", "--title", "Dup")
        r = self.fails(1, "alice", "model", "create", "pricey", "--title", "x", "--price", "-1")
        self.assertIn("(field: price)", r.stderr)
        self.fails(1, "alice", "model", "create", "nocard", "--title", "x",
                   "--card", os.path.join(self.root, "missing.md"))

        # Delete.
        r = self.ok("alice", "model", "delete", "alice/flagged")
        self.assertIn("Deleted", r.stdout)
        r = self.fails(1, "alice", "model", "show", "alice/flagged")
        self.fails(1, "alice", "model", "delete", "alice/flagged")

    def test_model_list_follows_pages(self):
        self.new_account("paula")
        token = self.credentials("paula")[self.url]["token"]
        for i in range(57):  # more than one page of the API (the client asks 50 at a time)
            status, _, body = self.node.request("POST", "/api/v1/models", token=token,
                                                body={"slug": "m%02d" % i, "title": "M %d" % i})
            self.assertEqual(status, 201, body)
        items = self.ok_json(None, "model", "list", "paula")["items"]
        self.assertEqual(sorted(i["slug"] for i in items), ["m%02d" % i for i in range(57)])
        lines = self.ok("paula", "model", "list").stdout.splitlines()
        self.assertEqual(len(lines), 1 + 57)
        self.assertTrue(lines[0].startswith("MODEL"))

    def test_card_from_stdin(self):
        m = self.ok_json("alice", "model", "create", "stdin-card", "--title", "Stdin card",
                         "--card", "-", input="---\nlicense: bsd-3-clause\n---\n# Hi\n")
        self.assertEqual(m["license"], "bsd-3-clause")
        self.assertIn("# Hi", m["card"])

    def test_usage_errors(self):
        for args in (["model"], ["model", "frob"], ["model", "create", "x"],
                     ["model", "show"], ["model", "show", "noslash"], ["model", "show", "a/b/c"],
                     ["model", "show", "alice/x", "--bogus"], ["model", "show", "alice/../x"],
                     ["model", "delete", "alice/x", "--json"], ["model", "show", "a/x", "extra"],
                     ["version", "create", "alice/x"], ["version", "show", "alice/x@"],
                     ["version", "list", "alice/x", "--publish"],
                     ["search", "--limit"], ["search", "--limit", "0"], ["search", "--limit", "x"],
                     ["search", "--sort", "cheapest"], ["search", "--min-rating", "9"],
                     ["search", "--json=yes"], ["like"], ["like", "alice/x", "--undo=1"],
                     ["review", "alice/x"], ["review", "alice/x", "--rating", "0"],
                     ["review", "alice/x", "--rating", "6"], ["review", "alice/x", "--rating", "x"],
                     ["review", "list"], ["profile", "a", "b"], ["profile", "edit"],
                     ["profile", "alice", "--bio", "x"], ["whoami", "extra"], ["logout", "x"],
                     ["token"], ["login"], ["whoami", "--node"],
                     ["whoami", "--node", "ftp://example.com"], ["nosuchcommand"]):
            with self.subTest(args=args):
                r = self.fails(2, "alice", *args)
                self.assertRegex(r.stderr, r"agora|usage")
        # Help is not an error.
        r = self.ok("alice", "model", "--help")
        self.assertIn("usage: agora model create", r.stdout)
        self.assertIn("usage: agora search", self.ok(None, "help", "search").stdout)
        self.assertIn("usage: agora version", self.ok(None, "version", "-h").stdout)

    # ---- versions -------------------------------------------------------------------

    def test_versions(self):
        self.ok("alice", "model", "create", "versioned", "--title", "Versioned")
        # No published version yet.
        self.fails(1, "alice", "version", "show", "alice/versioned")
        v = self.ok_json("alice", "version", "create", "alice/versioned", "1.0.0",
                         "--changelog", "First", "--file", "model.onnx:1048576",
                         "--file", "labels:v2.txt:42")
        self.assertEqual((v["version"], v["state"], v["changelog"]), ("1.0.0", "draft", "First"))
        files = {f["name"]: f["size"] for f in v["files"]}
        self.assertEqual(files, {"model.onnx": 1048576, "labels:v2.txt": 42})
        r = self.ok("alice", "version", "publish", "alice/versioned", "1.0.0")
        self.assertIn("Published alice/versioned@1.0.0", r.stdout)
        v = self.ok_json("alice", "version", "create", "alice/versioned", "1.1.0", "--publish",
                         "--file", "model.onnx:2000")
        self.assertEqual(v["state"], "published")
        self.ok("alice", "version", "create", "alice/versioned", "2.0.0-rc.1")

        # latest = highest published; drafts stay reachable by number.
        self.assertEqual(self.ok_json("bob", "version", "show", "alice/versioned")["version"],
                         "1.1.0")
        self.assertEqual(
            self.ok_json("bob", "version", "show", "alice/versioned@latest")["version"], "1.1.0")
        r = self.ok("alice", "version", "show", "alice/versioned@1.0.0")
        self.assertRegex(r.stdout, r"Version:\s+1\.0\.0")
        self.assertRegex(r.stdout, r"FILE\s+SIZE")
        self.assertRegex(r.stdout, r"model\.onnx\s+1\.0 MiB")
        self.assertEqual(
            self.ok_json("alice", "version", "show", "alice/versioned@2.0.0-rc.1")["state"],
            "draft")
        self.assertEqual(self.ok_json("alice", "model", "show", "alice/versioned")
                         ["latest_version"], "1.1.0")

        listed = [v["version"] for v in
                  self.ok_json("alice", "version", "list", "alice/versioned")["versions"]]
        self.assertEqual(listed, ["2.0.0-rc.1", "1.1.0", "1.0.0"])
        r = self.ok("alice", "version", "list", "alice/versioned")
        self.assertRegex(r.stdout, r"VERSION\s+STATE\s+FILES")
        self.assertLess(r.stdout.index("1.1.0"), r.stdout.index("1.0.0"))

        # Errors.
        self.fails(1, "alice", "version", "create", "alice/versioned", "1.0.0")
        r = self.fails(1, "alice", "version", "create", "alice/versioned", "one")
        self.assertIn("(field: version)", r.stderr)
        self.fails(1, "alice", "version", "publish", "alice/versioned", "1.0.0")
        self.fails(1, "bob", "version", "create", "alice/versioned", "3.0.0")
        self.fails(1, "bob", "version", "publish", "alice/versioned", "2.0.0-rc.1")
        self.fails(1, "alice", "version", "show", "alice/versioned@9.9.9")
        self.fails(1, "alice", "version", "list", "alice/no-such-model")
        for bad in ("model.onnx", "model.onnx:", "model.onnx:-1", "model.onnx:1k", ":5"):
            with self.subTest(file=bad):
                self.fails(2, "alice", "version", "create", "alice/versioned", "3.0.0",
                           "--file", bad)

    # ---- search -----------------------------------------------------------------------

    def test_search(self):
        specs = [("zebrafish-a", "image-classification", "mit", "0", ["fish", "vision"]),
                 ("zebrafish-b", "image-classification", "apache-2.0", "500", ["fish"]),
                 ("zebrafish-c", "object-detection", "mit", "100", ["vision"]),
                 ("zebrafish-d", "text-generation", "mit", "0", []),
                 ("zebrafish-e", "object-detection", "cc-by-4.0", "900", ["fish"])]
        for slug, task, lic, price, tags in specs:
            args = ["model", "create", slug, "--title", "Zebrafish %s detector" % slug[-1],
                    "--task", task, "--license", lic, "--price", price]
            for t in tags:
                args += ["--tag", t]
            self.ok("bob", *args)

        def slugs(*args):
            return [i["slug"] for i in self.ok_json(None, "search", *args)["items"]]

        self.assertEqual(sorted(slugs("zebrafish")), [s[0] for s in specs])
        self.assertEqual(sorted(slugs("zebraf")), [s[0] for s in specs])  # prefix
        self.assertEqual(sorted(slugs("zebrafish", "--task", "object-detection")),
                         ["zebrafish-c", "zebrafish-e"])
        self.assertEqual(sorted(slugs("zebrafish", "--license", "mit")),
                         ["zebrafish-a", "zebrafish-c", "zebrafish-d"])
        self.assertEqual(sorted(slugs("zebrafish", "--tag", "fish", "--tag", "vision")),
                         ["zebrafish-a"])
        self.assertEqual(sorted(slugs("zebrafish", "--free")), ["zebrafish-a", "zebrafish-d"])
        self.assertEqual(sorted(slugs("zebrafish", "--price-min", "100", "--price-max", "500")),
                         ["zebrafish-b", "zebrafish-c"])
        self.assertEqual(slugs("zebrafish", "--sort", "price_desc")[:3],
                         ["zebrafish-e", "zebrafish-b", "zebrafish-c"])
        asc = [i["price"] for i in self.ok_json(None, "search", "zebrafish", "--sort",
                                                "price_asc")["items"]]
        self.assertEqual([int(p) for p in asc], sorted(int(p) for p in asc))
        self.assertEqual(sorted(slugs("--owner", "bob", "--task", "text-generation")),
                         ["zebrafish-d"])
        self.assertEqual(slugs("nosuchwordanywhere"), [])

        # Facets count every match.
        res = self.ok_json(None, "search", "zebrafish")
        self.assertEqual(res["total"], 5)
        self.assertEqual(res["facets"]["task"]["object-detection"], 2)
        self.assertEqual(res["facets"]["license"]["mit"], 3)

        # Pages: --limit and --cursor walk every match exactly once.
        seen, cursor = [], None
        for _ in range(10):
            args = ["zebrafish", "--limit", "2", "--sort", "newest"]
            if cursor:
                args += ["--cursor", cursor]
            page = self.ok_json(None, "search", *args)
            self.assertLessEqual(len(page["items"]), 2)
            seen += [i["slug"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(sorted(seen), [s[0] for s in specs])

        # The table, the cursor hint and the facets for people.
        r = self.ok(None, "search", "zebrafish", "--limit", "2", "--sort", "price_desc")
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^MODEL\s+TITLE\s+TASK\s+LICENSE\s+PRICE\s+LIKES\s+"
                                   r"DOWNLOADS\s+RATING$")
        self.assertTrue(lines[1].startswith("bob/zebrafish-e "), r.stdout)
        self.assertEqual(lines[1].index("Zebrafish"), lines[0].index("TITLE"))  # aligned
        self.assertIn("2 shown of 5 matches", r.stdout)
        m = re.search(r"--cursor (\S+)", r.stdout)
        self.assertTrue(m, r.stdout)
        nxt = self.ok(None, "search", "zebrafish", "--limit", "2", "--sort", "price_desc",
                      "--cursor", m.group(1))
        self.assertIn("bob/zebrafish-c", nxt.stdout.splitlines()[1])
        self.assertRegex(r.stdout, r"Facets:\n\s+Task:\s+.*object-detection \(2\)")
        free = self.ok(None, "search", "zebrafish", "--free").stdout
        self.assertRegex(free, r"bob/zebrafish-a .*\bfree\b")
        self.assertIn("No models found", self.ok(None, "search", "nosuchwordanywhere").stdout)

        # Query text is encoded, not interpreted: no parameter injection.
        self.assertEqual(slugs("zebrafish&task=text-generation"), [])
        self.ok(None, "search", "a/b?c=d#e %zz")
        self.fails(1, None, "search", "--cursor", "not-a-cursor!")

    # ---- likes and reviews ----------------------------------------------------------------

    def test_like_and_review(self):
        self.ok("alice", "model", "create", "social-net", "--title", "Social Net")
        r = self.ok("bob", "like", "alice/social-net")
        self.assertIn("Liked alice/social-net (1 like)", r.stdout)
        self.assertEqual(self.ok_json("bob", "like", "alice/social-net"),
                         {"liked": True, "likes": 1})
        self.assertTrue(self.ok_json("bob", "model", "show", "alice/social-net")["liked"])
        r = self.ok("bob", "like", "alice/social-net", "--undo")
        self.assertIn("Unliked alice/social-net (0 likes)", r.stdout)
        self.assertEqual(self.ok_json("bob", "model", "show", "alice/social-net")["likes"], 0)
        self.ok("bob", "like", "alice/social-net")
        self.fails(1, None, "like", "alice/social-net")
        self.fails(1, "bob", "like", "alice/no-such-model")

        self.ok("bob", "review", "alice/social-net", "--rating", "3", "--text", "ok")
        r = self.ok("bob", "review", "alice/social-net", "--text", "Great model.\nSecond line",
                    "--rating", "5")
        self.assertIn("Reviewed alice/social-net: 5/5", r.stdout)
        reviews = self.ok_json(None, "review", "list", "alice/social-net")["reviews"]
        self.assertEqual(len(reviews), 1)  # the second review replaced the first
        self.assertEqual((reviews[0]["rating"], reviews[0]["body"]),
                         (5, "Great model.\nSecond line"))
        r = self.ok(None, "review", "list", "alice/social-net")
        self.assertRegex(r.stdout, r"\*\*\*\*\* 5/5\s+bob")
        self.assertIn("    Second line", r.stdout)
        self.assertIn("unverified", r.stdout)
        m = self.ok_json(None, "model", "show", "alice/social-net")
        self.assertEqual((m["rating"], m["rating_count"]), (5, 1))
        self.assertRegex(self.ok(None, "model", "show", "alice/social-net").stdout,
                         r"Rating:\s+5\.00 \(1\)")
        # The owner cannot review their own model.
        r = self.fails(1, "alice", "review", "alice/social-net", "--rating", "5")
        self.assertIn("agora review:", r.stderr)
        self.fails(1, None, "review", "alice/social-net", "--rating", "4")
        self.ok("alice", "model", "create", "quiet-net", "--title", "Quiet")
        self.assertIn("No reviews yet", self.ok(None, "review", "list", "alice/quiet-net").stdout)
        # Ratings feed --min-rating.
        found = [i["slug"] for i in
                 self.ok_json(None, "search", "--owner", "alice", "--min-rating", "4.5")["items"]]
        self.assertIn("social-net", found)
        self.assertNotIn("quiet-net", found)

    # ---- profiles ------------------------------------------------------------------------------

    def test_profile(self):
        p = self.ok_json("bob", "profile", "edit", "--display-name", "Bob Builder", "--bio",
                         "Builds models.\nAlso datasets.", "--link", "https://bob.example",
                         "--link", "https://example.org/bob")
        self.assertEqual(p["display_name"], "Bob Builder")
        self.assertEqual(p["links"], ["https://bob.example", "https://example.org/bob"])
        r = self.ok("bob", "profile")
        self.assertRegex(r.stdout, r"Display name:\s+Bob Builder")
        self.assertRegex(r.stdout, r"Links:\s+https://bob.example\n\s+https://example.org/bob")
        self.assertRegex(r.stdout, r"Reputation:\s+[0-9.]+ / 100")
        other = self.ok_json("alice", "profile", "bob")
        self.assertEqual(other["bio"], "Builds models.\nAlso datasets.")
        self.assertIn("score", other["reputation"])
        self.assertNotIn("email", other)
        self.assertEqual(self.ok_json(None, "profile", "@bob")["username"], "bob")
        self.ok("bob", "profile", "edit", "--link", "")
        self.assertEqual(self.ok_json(None, "profile", "bob")["links"], [])
        r = self.fails(1, "bob", "profile", "edit", "--link", "ftp://bob.example")
        self.assertIn("(field: links)", r.stderr)
        self.fails(1, None, "profile", "nosuchuser")
        self.fails(1, None, "profile")
        self.fails(1, None, "profile", "edit", "--bio", "x")

    # ---- the node itself ---------------------------------------------------------------------------

    def test_unreachable_node(self):
        url = "http://127.0.0.1:%d" % free_port()
        for args in (["search", "x"], ["model", "show", "a/b"], ["whoami"],
                     ["register", "zed", "--email", "z@example.com", "--password-stdin"]):
            with self.subTest(args=args):
                r = self.fails(1, "alice", *args, "--node", url, input=PASSWORD + "\n",
                               env={"AGORA_TOKEN": "agora_" + "0" * 40})
                self.assertIn("cannot reach node at " + url, r.stderr)
        r = self.fails(1, "alice", "search", "x", env={"AGORA_NODE": url})
        self.assertIn("cannot reach node at " + url, r.stderr)
        r = self.fails(1, "alice", "search", env={"AGORA_NODE": "not a url"})
        self.assertIn("AGORA_NODE", r.stderr)
        # Without --node or AGORA_NODE the default is used.
        r = self.run_as("alice", "search", "x", node=False)
        self.assertIn(r.returncode, (0, 1))
        if "cannot reach node" in r.stderr:
            self.assertIn("cannot reach node at http://127.0.0.1:8080:", r.stderr)

    def test_misbehaving_node(self):
        bad = BadNode()
        try:
            r = self.fails(1, None, "model", "show", "huge/x", "--node", bad.url)
            self.assertIn("larger than 16 MiB", r.stderr)
            r = self.fails(1, None, "model", "show", "html/x", "--node", bad.url)
            self.assertIn("not JSON", r.stderr)
            r = self.fails(1, None, "model", "show", "proxy/x", "--node", bad.url)
            self.assertIn("HTTP 502", r.stderr)
            r = self.fails(1, None, "search", "x", "--node", bad.url)
            self.assertIn("too many requests", r.stderr)
            self.assertIn("try again in 17 s", r.stderr)
        finally:
            bad.stop()

    def test_not_json_when_not_asked(self):
        """Human output is not JSON, and --json output is nothing but JSON."""
        r = self.ok(None, "search", "--limit", "1")
        with self.assertRaises(ValueError):
            json.loads(r.stdout)
        json.loads(self.ok(None, "search", "--limit", "1", "--json").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
