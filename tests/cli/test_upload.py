"""`heapsampler convert`, `heapsampler upload` and the upload flags of `heapsampler run`.

convert: every pair of gzip, zstd and plain round-trips to the same profile (as `go tool pprof`
reads it); a corrupt input is one line and exit status 2, and nothing is written.
upload: saved profiles of two processes, in any order and any compression, reach the test's
Pyroscope receiver (tests/lib/pyroscope_receiver.py, which checks every request as the server
does) with alloc_* turned into increments between consecutive files of the same process,
inuse_* as saved, and windows that follow each other; refusals and retries follow the
library's rules; usage errors exit 2.
run: --pyroscope, --app and repeatable --tag reach the library (joined with HEAPSAMPLER_TAGS);
bad upload settings are refused before anything runs."""
import os
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
from pyroscope_receiver import Receiver, decode_profile  # noqa: E402

CLI = hstest.CLI
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def cli(*args, env=None, input=None):
    e = hstest.clean_env(**NO_PROXY)
    e.update(env or {})
    return subprocess.run([CLI, *args], capture_output=True, env=e, input=input,
                          timeout=hstest.TIMEOUT)


def plain_profile(path):
    """The decoded profile of a file of any compression (through `convert`)."""
    p = cli("convert", "--compression", "none", path, "-")
    assert p.returncode == 0, p.stderr
    return decode_profile(p.stdout)


def site_value(p, sample_type, func):
    """Sum of sample_type over samples whose stack contains func, in a decoded profile."""
    i = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"].index(sample_type)
    st = p["string_table"]
    fns = {f["id"]: st[f["name"]] for f in p["function"]}
    locs = {l["id"]: [fns[ln["function_id"]] for ln in l["line"]] for l in p["location"]}
    return sum(s["value"][i] for s in p["sample"]
               if any(func in locs[lid] for lid in s["location_id"]))


class Convert(hstest.TempDirTest):
    def setUp(self):
        super().setUp()
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1)
        self.src = run.last_profile()

    def test_round_trips(self):
        ref = hstest.Profile(self.src)
        chain = [("a.pb.zst", b"\x28\xb5\x2f\xfd"), ("b.pb", None), ("c.pb.gz", b"\x1f\x8b"),
                 ("d.zst", b"\x28\xb5\x2f\xfd"), ("e.pb", None)]
        prev = self.src
        for name, magic in chain:
            out = os.path.join(self.dir, name)
            p = cli("convert", prev, out)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, b"")
            with open(out, "rb") as f:
                head = f.read(4)
            if magic:
                self.assertEqual(head[:len(magic)], magic, name)
            else:
                self.assertNotIn(head[:2], (b"\x1f\x8b", b"\x28\xb5"), name)
            self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
            if not name.endswith(".zst"):  # pprof reads gzip and plain only
                prof = hstest.Profile(out)
                self.assertEqual(prof.samples, ref.samples, name)
                self.assertEqual(prof.sample_types, ref.sample_types)
            prev = out
        # --compression overrides the name; "-" is standard input and output.
        with open(self.src, "rb") as f:
            p = cli("convert", "--compression=zstd", "-", "-", input=f.read())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout[:4], b"\x28\xb5\x2f\xfd")

    def test_corrupt_input_is_one_line_and_status_2(self):
        with open(self.src, "rb") as f:
            data = f.read()
        cases = {"truncated.pb.gz": data[:len(data) // 2], "empty.pb.gz": b"",
                 "garbage.pb": b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                 "flipped.pb.gz": data[:30] + bytes([data[30] ^ 0xFF]) + data[31:]}
        for name, content in cases.items():
            path = os.path.join(self.dir, name)
            with open(path, "wb") as f:
                f.write(content)
            out = os.path.join(self.dir, "out.pb.zst")
            p = cli("convert", path, out)
            self.assertEqual(p.returncode, 2, name)
            lines = p.stderr.decode().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("heapsampler convert: %s: " % path), lines)
            self.assertFalse(os.path.exists(out), name)
            self.assertEqual([f for f in os.listdir(self.dir) if ".tmp" in f], [])

    def test_usage_errors(self):
        for args in ([], [self.src], [self.src, "x.txt"], ["--compression", "lz4", self.src,
                                                          "x.pb"],
                     ["--bogus", self.src, "x.pb"], [self.src, "a.pb", "b.pb"],
                     ["/nonexistent.pb.gz", os.path.join(self.dir, "x.pb")]):
            p = cli("convert", *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.decode().splitlines()), 1, (args, p.stderr))
        self.assertEqual(cli("convert", "--help").returncode, 0)


class Upload(hstest.TempDirTest):
    def make_series(self, n):
        """Profiles of one process, in a directory of their own: n periodic files and the exit
        one."""
        d = os.path.join(self.dir, "series%d" % len(os.listdir(self.dir)))
        os.mkdir(d)
        run = hstest.run_profiled([hstest.target("waiter"), "interval", d, str(n)], d, rate=1,
                                  interval="0.05s")
        self.assertEqual(run.returncode, 0, run.stdout)
        return run.profiles()

    def test_backfill_turns_cumulative_into_increments(self):
        a = self.make_series(4)
        b = self.make_series(3)
        # Every compression in the mix: one of each process as zstd, one as plain.
        for files, i, suffix in ((a, 1, ".pb.zst"), (b, 0, ".pb")):
            new = files[i].replace(".pb.gz", suffix)
            self.assertEqual(cli("convert", files[i], new).returncode, 0)
            os.unlink(files[i])
            files[i] = new
        files = a + b
        shuffled = files[:]
        random.Random(7).shuffle(shuffled)
        with Receiver(expect_tenant="t1") as r:
            p = cli("upload", "--pyroscope", r.url, "--app", "backfill", "--tag", "env=ci",
                    "--tag", "run=7", "--tenant", "t1", *shuffled)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(r.errors, [])
        self.assertEqual(len(r.uploads), len(files))
        self.assertEqual(len(p.stdout.decode().splitlines()), len(files))
        by_time = {u.profile["time_nanos"]: u for u in r.uploads}
        for u in r.uploads:
            self.assertEqual((u.app, u.labels), ("backfill", {"env": "ci", "run": "7"}))
        for series in (a, b):
            saved = sorted((plain_profile(f) for f in series), key=lambda q: q["time_nanos"])
            prev = None
            for q in saved:
                u = by_time[q["time_nanos"]]
                cum = site_value(q, "alloc_space", "waiter_site")
                want = cum - (site_value(prev, "alloc_space", "waiter_site") if prev else 0)
                self.assertEqual(u.by_function("alloc_space", "waiter_site"), want)
                self.assertEqual(u.by_function("inuse_space", "waiter_site"),
                                 site_value(q, "inuse_space", "waiter_site"))
                if prev:
                    self.assertEqual(int(u.query["from"]), prev["time_nanos"] // 10**9)
                self.assertEqual(int(u.query["until"]), q["time_nanos"] // 10**9)
                prev = q
            self.assertGreater(site_value(saved[-1], "alloc_space", "waiter_site"),
                               site_value(saved[0], "alloc_space", "waiter_site"))

    def test_labels_are_sent_as_the_server_takes_them(self):
        # A labelled profile: every (endpoint, tenant) of labels_server, 24 tags of which one
        # is named like a label (the server would ignore it) leave 2 names per series.
        # (Without the exit scan's reach= and held_by=, which would add names: test_reach.py.)
        run = hstest.run_profiled([hstest.target("labels_server"), "exact", "300", "2"],
                                  self.dir, rate=1, labels="version=7", reach="off")
        self.assertEqual(run.returncode, 0, run.stderr)
        tags = ["--tag", "tenant=fleet"] + sum((["--tag", "t%d=x" % i] for i in range(23)), [])
        with Receiver() as r:
            p = cli("upload", "--pyroscope", r.url, "--app", "labels", *tags,
                    run.last_profile())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(r.errors, [])
        u = r.uploads[0]
        names = {frozenset(k for k, _ in pairs) for pairs in u.series()}
        self.assertEqual(names, {frozenset({"endpoint", "version"}), frozenset({"version"})})
        # At most --label-sets sets keep their values; the totals stay.
        with Receiver() as r:
            p = cli("upload", "--pyroscope", r.url, "--app", "labels", "--label-sets", "2",
                    run.last_profile())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(r.errors, [])
        few = r.uploads[0]
        real = {pairs for pairs in few.series()
                if pairs and "other" not in dict(pairs).values()}
        self.assertEqual(len(real), 2, few.series().keys())
        self.assertIn(frozenset({("endpoint", "other"), ("tenant", "other"), ("version", "other")}),
                      few.series())
        saved = plain_profile(run.last_profile())
        for t in ("alloc_space", "inuse_space"):
            self.assertEqual(few.total(t), sum(s["value"][["alloc_objects", "alloc_space",
                                                            "inuse_objects",
                                                            "inuse_space"].index(t)]
                                               for s in saved["sample"]), t)
    def test_a_peak_profile_is_not_sent_twice(self):
        # A peak profile repeats a moment of its series: left out when the series goes too.
        files = self.make_series(2)
        peak = re.sub(r"\.\d{4}\.pb\.gz$", ".peak.pb.gz", files[1])
        shutil.copy(files[1], peak)
        with Receiver() as r:
            p = cli("upload", "--pyroscope", r.url, "--app", "peaks", *files, peak)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(r.uploads), len(files))
        self.assertEqual(p.stderr.decode(), "heapsampler upload: %s: not sent: a peak profile "
                         "repeats a moment of the series uploaded with it (upload it alone to "
                         "send it)\n" % peak)
        with Receiver() as r:
            p = cli("upload", "--pyroscope", r.url, "--app", "peaks", peak)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(r.uploads), 1)

    def test_refusals_retries_and_unreadable_files(self):
        files = self.make_series(2)
        bad = os.path.join(self.dir, "bad.1.0000.pb.gz")
        with open(bad, "wb") as f:
            f.write(b"\x1f\x8b not really")
        with Receiver() as r:
            r.answer(503, 200, 422, message=b"no thanks")
            p = cli("upload", "--pyroscope", r.url, "--app", "x", bad, *files)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(r.errors, [])
        self.assertEqual([u.status for u in r.uploads][:3], [503, 200, 422])
        self.assertEqual(r.uploads[0].body, r.uploads[1].body)  # the 503 was retried
        self.assertNotEqual(r.uploads[2].body, r.uploads[1].body)
        self.assertEqual(len(r.uploads), len(files) + 1)  # the 422 was not
        self.assertIn("HTTP 422: no thanks (not retried)", err)
        self.assertIn("HTTP 503: no thanks (retrying in", err)
        self.assertIn("%s: corrupt compressed data" % bad, err)

    def test_usage_errors(self):
        f = self.make_series(1)[0]
        with Receiver() as r:
            cases = [(["--app", "x", f], "no server"),
                     (["--pyroscope", r.url, f], "no application name"),
                     (["--pyroscope", r.url, "--app", "x"], "no profile files"),
                     (["--pyroscope", r.url, "--app", "bad app", f], "application name"),
                     (["--pyroscope", r.url, "--app", "x", "--tag", "a-b=1", f], "--tag"),
                     (["--pyroscope", r.url, "--app", "x", "--password", "pw", f],
                      "HEAPSAMPLER_PYROSCOPE_PASSWORD"),
                     (["--pyroscope", "ftp://x", "--app", "x", f], "http://"),
                     (["--pyroscope", r.url, "--app", "x", "--bogus", f], "unknown option")]
            for args, why in cases:
                p = cli("upload", *args)
                self.assertEqual(p.returncode, 2, args)
                self.assertIn(why, p.stderr.decode(), args)
                self.assertNotIn(b"pw", p.stderr)
        self.assertEqual(r.uploads, [])
        self.assertEqual(cli("upload", "--help").returncode, 0)


class RunFlags(hstest.TempDirTest):
    def test_run_maps_pyroscope_app_and_tags(self):
        env = {"HEAPSAMPLER_TAGS": "env=ci", "HEAPSAMPLER_RATE": "1"}
        with Receiver() as r:
            p = subprocess.run([CLI, "run", "-q", "--pyroscope", r.url, "--app", "svc", "--tag",
                                "a=1", "--tag=b=2", "--", hstest.target("exact")],
                               capture_output=True, text=True, cwd=self.dir, timeout=60,
                               env=hstest.clean_env(**NO_PROXY, **env))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(r.errors, [])
        self.assertEqual(len(r.uploads), 1)
        self.assertEqual((r.uploads[0].app, r.uploads[0].labels),
                         ("svc", {"env": "ci", "a": "1", "b": "2"}))
        self.assertEqual(r.uploads[0].by_function("alloc_space", "site_malloc"), 100000)

    def test_run_refuses_bad_upload_settings(self):
        cases = [(["--tag", "a-b=1"], "invalid --tag"), (["--tag", "env=x"], "given twice"),
                 (["--app", "my app"], "application name"), (["--tag", "a=1,b=2"], "one K=V"),
                 (["--pyroscope", "http://h?x=1"], "query")]
        for args, why in cases:
            p = subprocess.run([CLI, "run", "--pyroscope", "http://127.0.0.1:9", *args, "--",
                                "true"], capture_output=True, text=True, cwd=self.dir,
                               timeout=60, env=hstest.clean_env(HEAPSAMPLER_TAGS="env=ci"))
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(why, p.stderr, args)
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
            self.assertEqual(os.listdir(self.dir), [])  # nothing ran


if __name__ == "__main__":
    shutil.which("go") or sys.exit("go tool pprof is needed")
    hstest.main()
