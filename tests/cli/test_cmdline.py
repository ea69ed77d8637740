"""The one command-line parser (src/cli/cli.c), as every command sees it.

For each of run, report, diff, leaks, check, symbolize, convert and upload: options after the
operands (or between them) do what they do before them, `--name=value` is `--name value`,
`--` ends the options (an operand may then start with '-'), -h/--help works anywhere, and an
unknown option, a missing value or a bad value is one line on stderr naming the option and
the command's --help, with exit status 2 and nothing done. `run` and `check` stop at their
command: what follows it is the command's, even when it looks like an option of ours. Every
option that a command's --help lists is one its parser knows (help and parsing come from one
table).
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hstest  # noqa: E402
import test_analysis  # noqa: E402  (its synthetic series; its tests are not collected here)
from pyroscope_receiver import Receiver  # noqa: E402

CLI = hstest.CLI
COMMANDS = ["run", "report", "diff", "leaks", "check", "symbolize", "convert", "upload"]
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ECHO_ARGS = ["sh", "-c", 'echo "$*"', "sh"]  # prints the arguments that follow it


class CmdlineTest(hstest.TempDirTest):

    def setUp(self):
        super().setUp()
        self.series = os.path.join(self.dir, "series")
        os.mkdir(self.series)
        self.paths = [os.path.relpath(p, self.dir)
                      for p in test_analysis.write_series(self.series)]

    def cli(self, *args, check_rc=None, env=None, text=True):
        e = hstest.clean_env(TMPDIR=self.dir, **NO_PROXY)
        e.update(env or {})
        r = subprocess.run([CLI, *args], cwd=self.dir, env=e, capture_output=True, text=text,
                           timeout=hstest.TIMEOUT)
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, (args, r.stdout, r.stderr))
        return r

    def assert_same(self, *forms, check_rc=0):
        """Every form of a command line prints the same and exits with check_rc."""
        outs = [self.cli(*args, check_rc=check_rc) for args in forms]
        for args, r in zip(forms[1:], outs[1:]):
            self.assertEqual((r.stdout, r.stderr), (outs[0].stdout, outs[0].stderr), args)
        return outs[0]

    def assert_usage_error(self, cmd, args, message):
        """One line naming the problem and the command's --help, exit 2, nothing on stdout."""
        r = self.cli(cmd, *args, check_rc=2)
        self.assertEqual(r.stdout, "")
        first = r.stderr.splitlines()[0]
        self.assertEqual(first, "heapsampler %s: %s; see `heapsampler %s --help`"
                         % (cmd, message, cmd))
        if cmd != "symbolize":  # which prints its usage after the error
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    # ---- options after operands, --name=value, for every command ----------------------------

    def test_report(self):
        last = self.paths[-1]
        r = self.assert_same(["report", "--by", "stack", "--top", "3", last],
                             ["report", last, "--by", "stack", "--top", "3"],
                             ["report", last, "--by=stack", "--top=3"],
                             ["report", "--top=3", last, "--by", "stack"])
        rows = [l for l in r.stdout.splitlines() if " < " in l]
        self.assertEqual(len(rows), 3, r.stdout)  # really by stack, really the top 3

    def test_diff(self):
        base, new = self.paths[0], self.paths[-1]
        self.cli("diff", base, new, check_rc=1)  # the leak grew
        self.assert_same(["diff", "--threshold", "1G", base, new],
                         ["diff", base, new, "--threshold", "1G"],
                         ["diff", base, "--threshold=1G", new], check_rc=0)

    def test_leaks(self):
        r = self.assert_same(["leaks", "--all", "--json", "series"],
                             ["leaks", "series", "--all", "--json"],
                             ["leaks", "series", "--json", "--all"])
        self.assertIn('"sites"', r.stdout)
        self.cli("leaks", "series", "--all", "--html", "a.html", check_rc=0)
        self.cli("leaks", "series", "--all", "--html=b.html", check_rc=0)
        for name in ("a.html", "b.html"):
            with open(os.path.join(self.dir, name)) as f:
                self.assertIn("rare_path", f.read())  # --all: the noise is listed too

    def test_run_stops_at_its_command(self):
        # Options before the command are run's; after it, the command's own.
        r = self.cli("run", "--stack-depth=32", "-q", *ECHO_ARGS, "--rate", "abc", "-q", "--",
                     "--help", check_rc=0)
        self.assertEqual(r.stdout, "--rate abc -q -- --help\n")
        r = self.cli("run", "-q", "--seed", "7", "--", "sh", "-c",
                     "echo $HEAPSAMPLER_SEED $HEAPSAMPLER_STACK_DEPTH", check_rc=0)
        self.assertEqual(r.stdout, "7\n")

    def test_check_stops_at_its_command(self):
        # The shell prints its arguments, then becomes a program that writes a profile.
        echo_then_trend = ["sh", "-c", 'echo "$*"; exec "$0" exit 0', hstest.target("trend")]
        r = self.cli("check", "--max-growth=off", "--rate", "64K", "-q", *echo_then_trend,
                     "--max-inuse", "1", "-q", "--bogus", check_rc=0)
        self.assertEqual(r.stdout, "--max-inuse 1 -q --bogus\n")
        r = self.cli("check", "--max-growth", "off", "--rate=64K", "--max-inuse=1M", "--",
                     hstest.target("trend"), "cache", "8", check_rc=1)
        self.assertIn("> --max-inuse 1.00 MiB", r.stderr)  # check's, not the command's

    def test_symbolize(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1, symbolize="none")
        self.assertEqual(run.returncode, 0, run.stderr)
        src = run.last_profile()
        target = hstest.target("exact")
        forms = [["--functions", "--debug-dir", self.dir, src, "a.pb", target],
                 [src, "b.pb", target, "--functions", "--debug-dir", self.dir],
                 [src, "--debug-dir=" + self.dir, "c.pb", "--functions", target]]
        for form in forms:
            r = self.cli("symbolize", *form, check_rc=0)
            self.assertRegex(r.stderr, r"[1-9]\d* of \d+ locations named")
        outs = []
        for name in ("a.pb", "b.pb", "c.pb"):
            with open(os.path.join(self.dir, name), "rb") as f:
                outs.append(f.read())
        self.assertEqual(outs[1], outs[0])
        self.assertEqual(outs[2], outs[0])
        self.assertNotIn(b"exact.c", outs[0])  # --functions: names without lines

    def test_convert(self):
        src = self.paths[0]
        for form in (["--compression", "zstd", src, "a.pb"], [src, "b.pb", "--compression=zstd"],
                     [src, "--compression", "zstd", "c.pb"]):
            self.cli("convert", *form, check_rc=0)
        for name in ("a.pb", "b.pb", "c.pb"):
            with open(os.path.join(self.dir, name), "rb") as f:
                self.assertEqual(f.read(4), ZSTD_MAGIC, name)

    def test_upload(self):
        files = self.paths[:3]
        with Receiver() as r:
            p = self.cli("upload", *files, "--pyroscope", r.url, "--app=backfill", "-q",
                         "--tag", "env=ci", check_rc=0)
            p2 = self.cli("upload", files[0], "--tag=run=2", *files[1:], "--app", "backfill",
                          "--pyroscope=" + r.url, check_rc=0)
        self.assertEqual(p.stdout, "")  # -q after the files
        self.assertEqual(len(p2.stdout.splitlines()), 3)
        self.assertEqual(r.errors, [])
        self.assertEqual([(u.app, u.labels) for u in r.uploads],
                         [("backfill", {"env": "ci"})] * 3 + [("backfill", {"run": "2"})] * 3)

    # ---- --, -h, bundled switches ------------------------------------------------------------

    def test_double_dash_ends_options(self):
        odd = "-odd.pb.gz"
        shutil.copy(os.path.join(self.dir, self.paths[-1]), os.path.join(self.dir, odd))
        self.assert_usage_error("report", [odd], "unknown option -o")
        r = self.cli("report", "--top", "2", "--", odd, check_rc=0)
        self.assertIn("heapsampler report: " + odd, r.stdout)
        self.cli("diff", "--", self.paths[0], odd, check_rc=1)
        self.cli("convert", "--", odd, "-out.pb", check_rc=0)
        with open(os.path.join(self.dir, "-out.pb"), "rb") as f:
            self.assertNotIn(f.read(4), (ZSTD_MAGIC, b"\x1f\x8b\x08\x00"))  # plain
        os.mkdir(os.path.join(self.dir, "-dir"))
        for p in self.paths:
            shutil.copy(os.path.join(self.dir, p), os.path.join(self.dir, "-dir"))
        r = self.cli("leaks", "--json", "--", "-dir", check_rc=0)
        self.assertIn('"pid": 4242', r.stdout)
        # "-" alone is an operand: standard input.
        with open(os.path.join(self.dir, self.paths[-1]), "rb") as f:
            r = subprocess.run([CLI, "report", "-", "--top", "1"], input=f.read(),
                               capture_output=True, env=hstest.clean_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_help_anywhere(self):
        for cmd in COMMANDS:
            with self.subTest(cmd=cmd):
                want = self.cli(cmd, "--help", check_rc=0).stdout
                self.assertTrue(want.startswith("Usage: heapsampler %s " % cmd), want)
                self.assertEqual(self.cli(cmd, "-h", check_rc=0).stdout, want)
                self.assertEqual(self.cli("help", cmd, check_rc=0).stdout, want)
                if cmd not in ("run", "check"):  # after their command, it is the command's
                    self.assertEqual(self.cli(cmd, "x.pb", "-h", check_rc=0).stdout, want)
        self.assertEqual(self.cli("leaks", "series", "--all", "--help", check_rc=0).stdout,
                         self.cli("leaks", "--help").stdout)
        self.assertEqual(self.cli("run", "-qh").stdout, self.cli("run", "--help").stdout)
        # After run's command, --help is the command's.
        r = self.cli("run", "-q", *ECHO_ARGS, "--help", check_rc=0)
        self.assertEqual(r.stdout, "--help\n")

    # ---- errors ------------------------------------------------------------------------------

    def test_unknown_option_for_every_command(self):
        operands = {"run": ["true"], "report": [self.paths[0]], "diff": self.paths[:2],
                    "leaks": ["series"], "check": ["true"], "symbolize": ["a.pb", "b.pb"],
                    "convert": [self.paths[0], "x.pb"], "upload": [self.paths[0]]}
        for cmd in COMMANDS:
            with self.subTest(cmd=cmd):
                self.assert_usage_error(cmd, ["--bogus", *operands[cmd]],
                                        "unknown option --bogus")
                self.assert_usage_error(cmd, ["--bogus=1", *operands[cmd]],
                                        "unknown option --bogus")
                self.assert_usage_error(cmd, ["-Z", *operands[cmd]], "unknown option -Z")
                if cmd not in ("run", "check"):  # for them, the command's
                    self.assert_usage_error(cmd, [*operands[cmd], "--bogus"],
                                            "unknown option --bogus")
        self.assertEqual(os.listdir(self.dir), ["series"])  # nothing was written

    def test_missing_and_bad_values(self):
        last = self.paths[-1]
        self.assert_usage_error("report", [last, "--top"], "option --top needs a value")
        self.assert_usage_error("report", [last, "--top=x"],
                                'invalid --top "x": not a non-negative integer')
        self.assert_usage_error("report", [last, "--json=yes"], "option --json takes no value")
        self.assert_usage_error("diff", [last, last, "--sigma", "-1"],
                                'invalid --sigma "-1": not a number between 0 and 100 (e.g. 3)')
        self.assert_usage_error("leaks", ["series", "--by=line"],
                                'invalid --by "line": not one of function, stack, file, '
                                'label:KEY, or a list of them (label:endpoint,function)')
        self.assert_usage_error("run", ["-r"], "option -r needs a value")
        self.assert_usage_error("run", ["-rabc", "true"],
                                'invalid --rate "abc": not a size (examples: 524288, 512K, 1M)')
        self.assert_usage_error("check", ["--keep=", "true"], 'invalid --keep "": empty')
        self.assert_usage_error("convert", [last, "x.pb", "--compression=lz4"],
                                'invalid --compression "lz4": not one of gzip, zstd, none')
        self.assert_usage_error("symbolize", ["a.pb", "b.pb", "--debug-dir"],
                                "option --debug-dir needs a value")
        self.assert_usage_error("upload", [last, "--timeout", "soon"],
                                'invalid --timeout "soon": not a duration (examples: 30, 30s, '
                                '500ms, 5m, 1.5h)')
        # A secret is never repeated.
        r = self.cli("run", "--pyroscope-password=" + "s3cr3t" * 1000, "true", check_rc=2)
        self.assertIn('invalid --pyroscope-password "<hidden>"', r.stderr)
        self.assertNotIn("s3cr3t", r.stderr)

    def test_help_lists_exactly_what_the_parser_knows(self):
        for cmd in COMMANDS:
            with self.subTest(cmd=cmd):
                text = self.cli(cmd, "--help", check_rc=0).stdout
                heads = re.findall(r"(?m)^  (?:-(\w), |    )--([a-z][a-z-]*)( \S+)?", text)
                self.assertGreater(len(heads), 1, text)
                for short, name, value in heads:
                    # Known options: given before --help, they never stop it.
                    args = ["--" + name] + (["1"] if value else [])
                    r = self.cli(cmd, *args, "--help")
                    self.assertNotIn("unknown option", r.stderr, (cmd, name))
                    if short:
                        r = self.cli(cmd, "-" + short, *(["1"] if value else []), "--help")
                        self.assertNotIn("unknown option", r.stderr, (cmd, short))


if __name__ == "__main__":
    hstest.main()
