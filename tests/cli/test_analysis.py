"""The analysis commands on profiles with known contents: report, diff, leaks.

Profiles are written by tests/lib/pprofgen.py with chosen sample counts per (stack, size) row,
so every estimate and every error is known: the JSON outputs are checked against the formulas
(bytes n*s/p, variance n*(s/p)^2*(1-p)), the table formats against golden files in
tests/cli/golden/ (HS_UPDATE_GOLDEN=1 rewrites them after a deliberate change). Go's own heap
profile is made by building and running a tiny Go program. Corrupt files must give one error
line and exit status 2 from every command.
"""
import gzip
import json
import math
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import pprofgen  # noqa: E402

CLI = hstest.CLI
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
T0 = 1767225600 * 10**9  # 2026-01-01 00:00:00 UTC
RATE = 524288
STEP = 10 * 10**9        # 10 s between profiles

LEAK = ["leak_records", "handle_request", "main"]
CACHE = ["cache_store", "handle_request", "main"]
WARMUP = ["warm_up", "main"]
CONFIG = ["load_config", "main"]
PARSE = ["parse", "handle_request", "main"]
RARE = ["rare_path", "main"]


def p_of(size, rate=RATE):
    return 1.0 if rate <= 1 else -math.expm1(-size / rate)


def series_profile(i, pid_time=T0, rate=RATE, label=True):
    """Profile i of the synthetic series: a leak, a cache that fills in 4 steps, a warm-up
    bump, a stable configuration, garbage, and a rarely sampled site."""
    p = pprofgen.Profile(pid_time + i * STEP, period=rate)
    p.add(LEAK, 4096, allocs=5 * (i + 1), live=5 * (i + 1), label=label)
    p.add(CACHE, 16384, allocs=10 * (i + 1), live=min(10 * (i + 1), 40), label=label)
    bump = [0, 10, 20, 30, 20, 10, 0, 0, 0, 0, 0, 0][i]
    p.add(WARMUP, 32768, allocs=30 if i >= 3 else 10 * i, live=bump, label=label)
    p.add(CONFIG, 65536, allocs=20, live=20, label=label)
    p.add(PARSE, 8192, allocs=30 * (i + 1), live=0, label=label)
    p.add(RARE, 1024, allocs=i + 1, live=i % 2, label=label)
    return p


def write_series(d, pid=4242, n=12, **kw):
    paths = []
    for i in range(n):
        path = os.path.join(d, "app.%d.%04d.pb.gz" % (pid, i))
        series_profile(i, **kw).write(path)
        paths.append(path)
    return paths


class AnalysisTest(hstest.TempDirTest):

    def cli(self, *args, check_rc=None):
        r = subprocess.run([CLI, *args], cwd=self.dir, env=hstest.clean_env(), capture_output=True,
                           text=True, timeout=hstest.TIMEOUT)
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, r.stdout + r.stderr)
        return r

    def golden(self, name, text):
        path = os.path.join(GOLDEN, name)
        if os.environ.get("HS_UPDATE_GOLDEN"):
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        with open(path) as f:
            self.assertEqual(text, f.read(), "output differs from tests/cli/golden/" + name)

    def make_series(self, sub="series", **kw):
        d = os.path.join(self.dir, sub)
        os.makedirs(d, exist_ok=True)
        return d, write_series(d, **kw)

    # ---- report -----------------------------------------------------------------------------

    def test_report_golden(self):
        _, paths = self.make_series()
        last = os.path.relpath(paths[-1], self.dir)
        self.golden("report.txt", self.cli("report", last, check_rc=0).stdout)
        self.golden("report_stack.txt",
                    self.cli("report", "--by", "stack", "--top", "3", last, check_rc=0).stdout)
        self.golden("report_alloc.txt",
                    self.cli("report", "--type", "alloc_space", last, check_rc=0).stdout)

    def test_report_estimates_and_errors_follow_the_formulas(self):
        _, paths = self.make_series()
        out = json.loads(self.cli("report", "--json", paths[-1], check_rc=0).stdout)
        sites = {s["site"]: s for s in out["sites"]}
        self.assertEqual(out["type"], "inuse_space")
        self.assertEqual(out["period"], RATE)
        self.assertIsNone(out["error_unknown"])
        # i = 11: the leak holds 60 samples of 4 KiB, the cache 40 of 16 KiB, config 20 of 64 KiB,
        # the rare path 1 of 1 KiB; the warm-up is over.
        total_var = 0
        for name, size, n in (("leak_records", 4096, 60), ("cache_store", 16384, 40),
                              ("load_config", 65536, 20), ("rare_path", 1024, 1),
                              ("warm_up", 32768, 0)):
            p = p_of(size)
            var = n * (size / p) ** 2 * (1 - p)
            total_var += var
            if n == 0:
                self.assertNotIn(name, sites)  # nothing in use: not listed
                continue
            self.assertEqual(sites[name]["value"], round(n * size / p))
            self.assertAlmostEqual(sites[name]["stderr"], math.sqrt(var),
                                   delta=1e-6 * math.sqrt(var))
        self.assertAlmostEqual(out["total_stderr"], math.sqrt(total_var),
                               delta=1e-6 * math.sqrt(total_var))
        # Largest first.
        values = [s["value"] for s in out["sites"]]
        self.assertEqual(values, sorted(values, reverse=True))

    def test_report_objects_error(self):
        _, paths = self.make_series()
        out = json.loads(self.cli("report", "--json", "--type", "inuse_objects", paths[-1],
                                  check_rc=0).stdout)
        site = next(s for s in out["sites"] if s["site"] == "leak_records")
        p = p_of(4096)
        self.assertEqual(site["value"], round(60 / p))
        self.assertAlmostEqual(site["stderr"], math.sqrt(60 * (1 - p) / p ** 2), delta=1e-3)

    def test_report_without_sizes_says_the_error_is_unknown(self):
        path = os.path.join(self.dir, "nolabel.pb.gz")
        series_profile(11, label=False).write(path)
        r = self.cli("report", "nolabel.pb.gz", check_rc=0)
        self.assertIn('sampling error unknown: some rows carry no allocation size (a numeric '
                      '"bytes" label)', r.stdout)
        self.assertRegex(r.stdout, r"(?m)^\s+\S+ \S+\s+±\s+\?\s+\S+%\s+leak_records$")
        out = json.loads(self.cli("report", "--json", "nolabel.pb.gz", check_rc=0).stdout)
        self.assertIsNotNone(out["error_unknown"])
        self.assertTrue(all(s["stderr"] is None for s in out["sites"]))

    def test_report_without_period_says_the_error_is_unknown(self):
        p = series_profile(11)
        p.period_type = None
        p.period = 0
        p.write(os.path.join(self.dir, "noperiod.pb.gz"))
        r = self.cli("report", "noperiod.pb.gz", check_rc=0)
        self.assertIn("sampling error unknown: the profile has no sampling period", r.stdout)

    def test_report_exact_mode_has_no_error(self):
        path = os.path.join(self.dir, "exact.pb")
        series_profile(11, rate=1).write(path, compress=False)
        r = self.cli("report", "exact.pb", check_rc=0)
        self.assertIn("every allocation recorded (period 1): no sampling error", r.stdout)
        out = json.loads(self.cli("report", "--json", "exact.pb", check_rc=0).stdout)
        leak = next(s for s in out["sites"] if s["site"] == "leak_records")
        self.assertEqual((leak["value"], leak["stderr"]), (60 * 4096, 0))

    def test_sites_skip_allocator_frames(self):
        p = pprofgen.Profile(T0)
        p.add(["malloc", "leak_records", "main"], 4096, 10, 10)
        p.add(["operator new(unsigned long)", "_Znwm", "cpp_site", "main"], 4096, 10, 10)
        p.add(["strdup", "copy_name", "main"], 4096, 10, 10)
        p.add(["malloc"], 4096, 10, 10)  # nothing but the allocator: named after it
        p.write(os.path.join(self.dir, "alloc.pb.gz"))
        out = json.loads(self.cli("report", "--json", "alloc.pb.gz", check_rc=0).stdout)
        self.assertEqual(sorted(s["site"] for s in out["sites"]),
                         ["copy_name", "cpp_site", "leak_records", "malloc"])
        out = json.loads(self.cli("report", "--json", "--by", "stack", "alloc.pb.gz",
                                  check_rc=0).stdout)
        self.assertIn("cpp_site < main", [s["site"] for s in out["sites"]])

    def test_report_unknown_type(self):
        _, paths = self.make_series()
        r = self.cli("report", "--type", "cpu", paths[0], check_rc=2)
        self.assertEqual(r.stderr, 'heapsampler report: %s: no sample type "cpu" (the profile '
                         'has: alloc_objects, alloc_space, inuse_objects, inuse_space)\n'
                         % paths[0])

    def test_report_reads_standard_input(self):
        _, paths = self.make_series()
        with open(paths[-1], "rb") as f:
            r = subprocess.run([CLI, "report", "-"], input=f.read(), capture_output=True,
                               timeout=hstest.TIMEOUT, env=hstest.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"leak_records", r.stdout)

    # ---- diff -------------------------------------------------------------------------------

    def test_diff_golden_and_exit_status(self):
        _, paths = self.make_series()
        base, new = (os.path.relpath(p, self.dir) for p in (paths[0], paths[-1]))
        r = self.cli("diff", base, new, check_rc=1)
        self.golden("diff.txt", r.stdout)
        # The leak grew by 55 samples of 4 KiB, far beyond 3 sigma.
        out = json.loads(self.cli("diff", "--json", base, new, check_rc=1).stdout)
        sites = {s["site"]: s for s in out["sites"]}
        p = p_of(4096)
        leak = sites["leak_records"]
        self.assertTrue(leak["grew"])
        self.assertEqual(leak["change"], round(60 * 4096 / p) - round(5 * 4096 / p))
        want = math.sqrt((60 + 5) * (4096 / p) ** 2 * (1 - p))
        self.assertAlmostEqual(leak["stderr"], want, delta=1e-6 * want)
        self.assertFalse(sites["load_config"]["grew"])
        self.assertEqual(sites["load_config"]["change"], 0)
        changes = [s["change"] for s in out["sites"]]
        self.assertEqual(changes, sorted(changes, reverse=True))
        # A threshold above every growth: nothing grew.
        self.cli("diff", "--threshold", "1G", base, new, check_rc=0)

    def test_diff_within_the_noise_is_not_growth(self):
        # 20 -> 22 samples of 64 KiB: a change of 2 samples against an error of sqrt(42).
        a, b = pprofgen.Profile(T0), pprofgen.Profile(T0 + STEP)
        a.add(CONFIG, 65536, 20, 20)
        b.add(CONFIG, 65536, 22, 22)
        a.write(os.path.join(self.dir, "a.pb.gz"))
        b.write(os.path.join(self.dir, "b.pb.gz"))
        r = self.cli("diff", "a.pb.gz", "b.pb.gz", check_rc=0)
        self.assertIn("no site grew beyond the threshold and the noise", r.stdout)
        # With --sigma 0.1 the same change counts.
        self.cli("diff", "--sigma", "0.1", "a.pb.gz", "b.pb.gz", check_rc=1)

    # ---- leaks ------------------------------------------------------------------------------

    def test_leaks_golden(self):
        self.make_series()
        r = self.cli("leaks", "series", check_rc=0)
        self.golden("leaks.txt", r.stdout)
        self.golden("leaks_all.txt", self.cli("leaks", "--all", "series", check_rc=0).stdout)

    def test_leaks_verdicts(self):
        _, paths = self.make_series()
        # Files in any order: they are put in time order.
        out = json.loads(self.cli("leaks", "--json", *reversed(paths), check_rc=0).stdout)
        self.assertEqual(len(out["processes"]), 1)
        proc = out["processes"][0]
        self.assertEqual(proc["pid"], 4242)
        self.assertEqual(proc["time_nanos"], sorted(proc["time_nanos"]))
        verdicts = {s["site"]: s["verdict"] for s in proc["sites"]}
        self.assertEqual(verdicts, {"leak_records": "leak suspect", "cache_store": "plateau",
                                    "warm_up": "transient", "load_config": "stable"})
        self.assertEqual(proc["not_shown"], 2)  # parse (never in use) and rare_path (noise)
        leak = next(s for s in proc["sites"] if s["site"] == "leak_records")
        # 5 samples of 4 KiB every 10 s: 5 * 4096 / p bytes per 10 s.
        want = 5 * 4096 / p_of(4096) * 360
        self.assertAlmostEqual(leak["growth_per_hour"], want, delta=1e-6 * want)
        self.assertEqual(leak["monotone"], 1)
        self.assertAlmostEqual(leak["r2"], 1, places=9)
        # The slope's error under the sampling model: nothing is freed, so each sample counts
        # at every point from its first on; 5 new samples per point, each contributing
        # u * (w_m + ... + w_11)^2 with w the least-squares weights (trend.c). The leak grows
        # by exactly 5 samples a step, so there is no excess scatter.
        t = [10.0 * i for i in range(12)]
        tm = sum(t) / 12
        stt = sum((x - tm) ** 2 for x in t)
        w = [(x - tm) / stt for x in t]
        p = p_of(4096)
        u = (4096 / p) ** 2 * (1 - p)
        var = sum(5 * u * sum(w[m:]) ** 2 for m in range(12))
        self.assertAlmostEqual(leak["growth_per_hour_stderr"], 3600 * math.sqrt(var),
                               delta=1e-6 * 3600 * math.sqrt(var))
        self.assertAlmostEqual(leak["last_stderr"], math.sqrt(60 * u), delta=1e-3)
        self.assertEqual([s["site"] for s in proc["sites"]][0], "leak_records")

    def test_leaks_several_processes(self):
        self.make_series(pid=100)
        self.make_series(pid=200)
        r = self.cli("leaks", "series", check_rc=0)
        self.assertEqual(r.stdout.count("heapsampler leaks: pid "), 2)
        self.assertIn("heapsampler leaks: pid 100, 12 profiles", r.stdout)
        self.assertIn("heapsampler leaks: pid 200, 12 profiles", r.stdout)
        # A process with too few profiles is skipped, the others analysed.
        series_profile(0).write(os.path.join(self.dir, "series", "app.300.0000.pb.gz"))
        r = self.cli("leaks", "series", check_rc=0)
        self.assertIn("heapsampler leaks: pid 300: a trend needs at least 3 profiles (got 1); "
                      "skipped", r.stdout)
        out = json.loads(self.cli("leaks", "--json", "series", check_rc=0).stdout)
        self.assertEqual([p["pid"] for p in out["processes"]], [100, 200, 300])
        self.assertIn("skipped", out["processes"][2])

    def test_leaks_many_processes_keep_their_skip_reasons(self):
        """Issue 12, point 8: the reason a process is skipped was kept as a pointer into the
        array of processes, which is reallocated past four of them; read after the move, it
        printed garbage (a heap-use-after-free under ASan, scripts/test.sh stage 2). Five pids'
        worth of copied profiles in one directory, next to a process that is fitted."""
        d, paths = self.make_series(pid=100)
        skipped = list(range(301, 307))
        for pid in skipped:
            shutil.copy(paths[0], os.path.join(d, "app.%d.0000.pb.gz" % pid))
        reason = "a trend needs at least 3 profiles (got 1)"
        r = self.cli("leaks", "--html", "leaks.html", "series", check_rc=0)
        for pid in skipped:
            self.assertIn("heapsampler leaks: pid %d: %s; skipped\n" % (pid, reason), r.stdout)
        self.assertIn("heapsampler leaks: pid 100, 12 profiles", r.stdout)
        with open(os.path.join(self.dir, "leaks.html")) as f:
            html = f.read()
        for pid in skipped:
            self.assertIn("pid %d: %s; skipped" % (pid, reason), html)
        out = json.loads(self.cli("leaks", "--json", "series", check_rc=0).stdout)
        self.assertEqual([p["pid"] for p in out["processes"]], [100] + skipped)
        self.assertEqual([p.get("skipped") for p in out["processes"]], [None] + [reason] * 6)

    def test_leaks_needs_three_dated_profiles(self):
        _, paths = self.make_series(n=2)
        r = self.cli("leaks", *paths, check_rc=2)
        self.assertEqual(r.stderr, "heapsampler leaks: a trend needs at least 3 profiles "
                                   "(got 2)\n")
        p = series_profile(2)
        p.time_nanos = 0
        undated = p.write(os.path.join(self.dir, "series", "app.4242.0002.pb.gz"))
        r = self.cli("leaks", "series", check_rc=2)
        self.assertEqual(r.stderr, "heapsampler leaks: %s: the profile has no time stamp "
                                   "(time_nanos)\n" % os.path.join("series", os.path.basename(
                                       undated)))

    def test_leaks_by_stack_and_file(self):
        self.make_series()
        out = json.loads(self.cli("leaks", "--json", "--by", "stack", "series", check_rc=0).stdout)
        names = [s["site"] for s in out["processes"][0]["sites"]]
        self.assertIn("leak_records < handle_request < main", names)
        out = json.loads(self.cli("leaks", "--json", "--by", "file", "--all", "series",
                                  check_rc=0).stdout)
        self.assertEqual([s["site"] for s in out["processes"][0]["sites"]], ["app.c"])

    # ---- errors -----------------------------------------------------------------------------

    def corrupt_files(self):
        good = series_profile(5).encode()
        files = {
            "empty.pb.gz": b"",
            "garbage.pb.gz": b"this is not a profile at all\n" * 10,
            "truncated.pb.gz": gzip.compress(good)[:40],
            "gzip-of-garbage.pb.gz": gzip.compress(b"\xff" * 100),
            "truncated-proto.pb": good[:len(good) // 2],
        }
        # A sample that refers to a location that does not exist.
        bad = pprofgen.Profile(T0)
        bad.add(LEAK, 4096, 1, 1)
        bad.locations = {k: v + 1000 for k, v in bad.locations.items()}
        files["dangling.pb.gz"] = gzip.compress(bad.encode())
        for name, data in files.items():
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        return sorted(files)

    def test_corrupt_input_is_one_line_and_status_2(self):
        _, paths = self.make_series()
        good = os.path.relpath(paths[0], self.dir)
        for name in self.corrupt_files():
            for args in (["report", name], ["diff", good, name], ["diff", name, good],
                         ["leaks", good, name, os.path.relpath(paths[1], self.dir)]):
                with self.subTest(args=args):
                    r = self.cli(*args)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertEqual(r.stdout, "")
                    lines = r.stderr.splitlines()
                    self.assertEqual(len(lines), 1, r.stderr)
                    self.assertRegex(lines[0], r"^heapsampler %s: %s: \S" % (args[0], name))
        r = self.cli("report", "no-such-file.pb.gz", check_rc=2)
        self.assertEqual(r.stderr, "heapsampler report: no-such-file.pb.gz: No such file or "
                                   "directory\n")
        os.mkdir(os.path.join(self.dir, "empty-dir"))
        r = self.cli("leaks", "empty-dir", check_rc=2)
        self.assertIn("empty-dir: no profiles in this directory", r.stderr)

    def test_usage_errors(self):
        cases = [
            (["report"], "no profile given"),
            (["report", "a", "b"], "one profile at a time"),
            (["report", "--by", "line", "x"], 'invalid --by "line": not one of function, '
                                              'stack, file'),
            (["report", "--top", "-1", "x"], 'invalid --top "-1"'),
            (["report", "--nope", "x"], "unknown option --nope"),
            (["diff", "a"], "needs two profiles"),
            (["diff", "--sigma", "0", "a", "b"], 'invalid --sigma "0"'),
            (["diff", "--threshold", "lots", "a", "b"], 'invalid --threshold "lots"'),
            (["leaks"], "no profiles given"),
            (["leaks", "--type", "alloc_space", "x"], "a trend needs an in-use type"),
            (["leaks", "--json=1", "x"], "option --json takes no value"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = self.cli(*args, check_rc=2)
                self.assertIn(message, r.stderr)
                self.assertTrue(r.stderr.startswith("heapsampler %s: " % args[0]), r.stderr)

    def test_help(self):
        r = self.cli("--help", check_rc=0)
        for cmd in ("report", "diff", "leaks", "check"):
            self.assertRegex(r.stdout, r"(?m)^\s+%s\s" % cmd)
            h = self.cli(cmd, "--help", check_rc=0)
            self.assertIn("Usage: heapsampler %s" % cmd, h.stdout)
            self.assertRegex(h.stdout, r"Exit\s+status")
            self.assertEqual(self.cli("help", cmd).stdout, h.stdout)

    # ---- Go -----------------------------------------------------------------------------------

    def test_go_heap_profile(self):
        """A heap profile written by Go's runtime/pprof reads, with its errors."""
        src = os.path.join(self.dir, "goheap")
        os.mkdir(src)
        with open(os.path.join(src, "go.mod"), "w") as f:
            f.write("module goheap\n\ngo 1.19\n")
        with open(os.path.join(src, "main.go"), "w") as f:
            f.write(GO_PROGRAM)
        # One P: each P's sampler drew its first point at the default rate when it was made,
        # and the program resets only the one it runs on (see GO_PROGRAM).
        env = hstest.clean_env(GOFLAGS="-mod=mod", GO111MODULE="on", CGO_ENABLED="0",
                               GOMAXPROCS="1", GOCACHE=os.path.join(self.dir, "gocache"))
        out = os.path.join(self.dir, "heap.pb.gz")
        build = subprocess.run(["go", "run", ".", out], cwd=src, env=env, capture_output=True,
                               text=True, timeout=600)
        self.assertEqual(build.returncode, 0, build.stderr)
        prof = hstest.Profile(out)  # go tool pprof's reading, for reference
        r = json.loads(self.cli("report", "--json", "heap.pb.gz", check_rc=0).stdout)
        self.assertIsNone(r["error_unknown"])  # Go's rows carry the "bytes" label
        self.assertEqual(r["period"], 64 * 1024)
        self.assertEqual(r["total"], prof.total("inuse_space"))
        leak = next(s for s in r["sites"] if s["site"] == "main.leak")
        self.assertEqual(leak["value"], prof.by_function("inuse_space")["main.leak"])
        # 4096-byte blocks: n = objects * p samples, variance n (s/p)^2 (1-p).
        objects = prof.by_function("inuse_objects")["main.leak"]
        p = p_of(4096, 64 * 1024)
        want = math.sqrt(round(objects * p) * (4096 / p) ** 2 * (1 - p))
        self.assertAlmostEqual(leak["stderr"], want, delta=0.02 * want)
        # 2000 blocks of 4 KiB were kept: the estimate is within 4 sigma of the truth, sigma
        # taken at the truth (2000 p samples expected). Sigma estimated from the samples drawn
        # would be smaller exactly when too few were drawn, and fail more often than 4 sigma
        # says. Over 400 runs of this program: 122.0 samples on average (121.2 expected),
        # standard deviation 10.5 (10.7 expected), no run outside 3 sigma.
        truth = 2000 * 4096
        sigma = math.sqrt(2000 * p * (1 - p)) * 4096 / p
        self.assertLess(abs(leak["value"] - truth), 4 * sigma)
        by_file = self.cli("report", "--by", "file", "heap.pb.gz", check_rc=0).stdout
        self.assertIn("main.go", by_file)


GO_PROGRAM = """package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var keep [][]byte
var scratch []byte

//go:noinline
func leak(n int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, 4096))
	}
}

//go:noinline
func allocate() { scratch = make([]byte, 16) }

func main() {
	keep = make([][]byte, 0, 2000) // the slice's array is not main.leak's
	// The runtime drew the distance to the first sample at the default rate (512 KiB) before
	// main ran, so setting the rate here would delay the first sample: 111.5 samples of main.leak
	// instead of 121.2 on average, 5% of runs below 86. At rate 1 the next allocation draws the
	// distance again, at the new rate.
	runtime.MemProfileRate = 1
	allocate()
	runtime.MemProfileRate = 64 * 1024
	allocate()
	leak(2000)
	runtime.GC()
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		panic(err)
	}
	f.Close()
}
"""


if __name__ == "__main__":
    hstest.main()
