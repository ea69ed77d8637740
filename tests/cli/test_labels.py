"""Labels in the analysis commands, on profiles with known contents (tests/lib/pprofgen.py):
--by label:KEY (alone and with a frame grouping), --focus KEY=VALUE, and --baseline (a second
series, or one series split by a label).

One stack, allocate < copy_body < handle < main, is shared by three endpoints: /orders keeps
what it allocates (a leak), /catalog fills a cache in four steps, /search frees everything (its
rows are all freed). By function the three are one site; by label they are three, and only
/orders is a leak suspect. Values are the estimator's (n / p objects, n * s / p bytes).
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import pprofgen  # noqa: E402

CLI = hstest.CLI
T0 = 1767225600 * 10**9  # 2026-01-01 00:00:00 UTC
STEP = 10 * 10**9
RATE = 524288
SHARED = ["copy_body", "handle", "main"]
NEW = ["remember_query", "handle", "main"]


def p_of(size, rate=RATE):
    return -math.expm1(-size / rate)


def endpoint_profile(i, regression=False, labels=None):
    """Profile i: /orders leaks 5 samples of 4 KiB per step, /catalog fills to 40 samples of
    16 KiB in 4 steps, /search allocates 30 samples of 8 KiB per step and frees them; with
    regression, remember_query leaks 5 samples of 8 KiB per step too."""
    extra = labels or {}
    p = pprofgen.Profile(T0 + i * STEP, period=RATE)
    p.add(SHARED, 4096, allocs=5 * (i + 1), live=5 * (i + 1),
          labels=dict(extra, endpoint="/orders", tenant="acme"))
    p.add(SHARED, 16384, allocs=10 * (i + 1), live=min(10 * (i + 1), 40),
          labels=dict(extra, endpoint="/catalog"))
    p.add(SHARED, 8192, allocs=30 * (i + 1), live=0, labels=dict(extra, endpoint="/search"))
    p.add(["load_config", "main"], 65536, allocs=20, live=20, labels=extra)
    if regression:
        p.add(NEW, 8192, allocs=5 * (i + 1), live=5 * (i + 1),
              labels=dict(extra, endpoint="/orders", tenant="acme"))
    return p


def write_series(d, pid, n=12, **kw):
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        endpoint_profile(i, **kw).write(os.path.join(d, "app.%d.%04d.pb.gz" % (pid, i)))
    return d


class Labels(hstest.TempDirTest):
    def cli(self, *args):
        return hstest.subprocess.run([CLI] + list(args), capture_output=True, text=True,
                                     timeout=120)

    def json(self, *args):
        r = self.cli(*args, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def last(self):
        path = os.path.join(self.dir, "last.pb.gz")
        endpoint_profile(11).write(path)
        return path

    # ---- report ------------------------------------------------------------------------------

    def test_report_by_label(self):
        out = self.json("report", self.last(), "--by", "label:endpoint", "--top", "0")
        self.assertEqual(out["by"], "label:endpoint")
        sites = {s["site"]: s["value"] for s in out["sites"]}
        self.assertEqual(set(sites), {"endpoint=/orders", "endpoint=/catalog", "endpoint=(none)"})
        self.assertAlmostEqual(sites["endpoint=/orders"], round(60 * 4096 / p_of(4096)), delta=1)
        self.assertAlmostEqual(sites["endpoint=/catalog"], round(40 * 16384 / p_of(16384)),
                               delta=1)
        self.assertAlmostEqual(sites["endpoint=(none)"], round(20 * 65536 / p_of(65536)),
                               delta=1)
        # By function the endpoints are one site: the label is what tells them apart.
        out = self.json("report", self.last(), "--top", "0")
        self.assertIn("copy_body", [s["site"] for s in out["sites"]])
        self.assertEqual(len(out["sites"]), 2)

    def test_report_by_labels_and_function(self):
        out = self.json("report", self.last(), "--by", "label:endpoint,label:tenant,function",
                        "--type", "alloc_objects", "--top", "0")
        sites = {s["site"]: s["value"] for s in out["sites"]}
        self.assertEqual(set(sites), {
            "endpoint=/orders tenant=acme copy_body", "endpoint=/catalog tenant=(none) copy_body",
            "endpoint=/search tenant=(none) copy_body",
            "endpoint=(none) tenant=(none) load_config"})
        self.assertEqual(sites["endpoint=/search tenant=(none) copy_body"],
                         round(360 / p_of(8192)))
        r = self.cli("report", self.last(), "--by", "label:endpoint,stack")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("endpoint=/orders copy_body < handle < main", r.stdout)
        self.assertIn("by label:endpoint,stack", r.stdout)

    def test_focus(self):
        out = self.json("report", self.last(), "--focus", "endpoint=/orders")
        self.assertEqual(out["focus"], ["endpoint=/orders"])
        self.assertEqual([s["site"] for s in out["sites"]], ["copy_body"])
        self.assertAlmostEqual(out["total"], round(60 * 4096 / p_of(4096)), delta=1)
        out = self.json("report", self.last(), "--focus", "endpoint=(none)")
        self.assertEqual([s["site"] for s in out["sites"]], ["load_config"])
        # Every condition must hold.
        out = self.json("report", self.last(), "--focus", "endpoint=/catalog", "--focus",
                        "tenant=acme")
        self.assertEqual(out["sites"], [])
        self.assertEqual(out["total"], 0)
        r = self.cli("report", self.last(), "--focus", "endpoint=/orders")
        self.assertIn("by function; only endpoint=/orders", r.stdout)

    def test_values_with_spaces_stay_one_part_of_the_name(self):
        p = pprofgen.Profile(T0)
        p.add(SHARED, 4096, allocs=3, live=3, labels={"endpoint": "GET /orders 100%"})
        path = p.write(os.path.join(self.dir, "p.pb.gz"))
        out = self.json("report", path, "--by", "label:endpoint,function")
        self.assertEqual(out["sites"][0]["site"], "endpoint=GET%20/orders%20100%25 copy_body")
        out = self.json("report", path, "--focus", "endpoint=GET /orders 100%")
        self.assertEqual(len(out["sites"]), 1)

    def test_bad_grouping_and_focus(self):
        cases = [
            (["--by", "label:end-point"], 'invalid --by "label:end-point"', "a key is a letter"),
            (["--by", "label:"], 'invalid --by "label:"', "not one of function, stack"),
            (["--by", "function,stack"], 'invalid --by "function,stack"', "at most one of"),
            (["--by", "label:a,label:b,label:c,label:d,label:e"], "invalid --by",
             "at most 4 labels"),
            (["--by", "labels:x"], "invalid --by", "not one of function, stack"),
            (["--focus", "endpoint"], 'invalid --focus "endpoint"', "not KEY=VALUE"),
            (["--focus", "=x"], "invalid --focus", "not KEY=VALUE"),
            (["--focus", "bad key=x"], "invalid --focus", "a key is a letter"),
        ]
        for args, shown, why in cases:
            with self.subTest(args=args):
                r = self.cli("report", self.last(), *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(shown, r.stderr)
                self.assertIn(why, r.stderr)

    # ---- diff and leaks ----------------------------------------------------------------------

    def test_diff_by_label(self):
        a, b = os.path.join(self.dir, "a.pb.gz"), os.path.join(self.dir, "b.pb.gz")
        endpoint_profile(0).write(a)
        endpoint_profile(11).write(b)
        r = self.cli("diff", a, b, "--by", "label:endpoint", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        out = json.loads(r.stdout)
        grew = {c["site"] for c in out["sites"] if c["grew"]}
        self.assertIn("endpoint=/orders", grew)
        self.assertNotIn("endpoint=(none)", grew)

    def test_leaks_by_label_finds_the_endpoint(self):
        d = write_series(os.path.join(self.dir, "s"), 4242)
        out = self.json("leaks", d, "--by", "label:endpoint", "--all")
        verdicts = {s["site"]: s["verdict"] for s in out["processes"][0]["sites"]}
        self.assertEqual(verdicts["endpoint=/orders"], "leak suspect")
        self.assertEqual(verdicts["endpoint=/catalog"], "plateau")
        self.assertNotIn(verdicts.get("endpoint=/search", "noise"), ("leak suspect", "plateau"))
        self.assertEqual(verdicts["endpoint=(none)"], "stable")
        # One leak suspect only; by function, the shared site mixes them all.
        self.assertEqual(sum(v == "leak suspect" for v in verdicts.values()), 1)
        out = self.json("leaks", d, "--focus", "endpoint=/catalog")
        self.assertEqual([(s["site"], s["verdict"]) for s in out["processes"][0]["sites"]],
                         [("copy_body", "plateau")])

    def test_leaks_focus_without_matches_skips_the_process(self):
        d = write_series(os.path.join(self.dir, "s"), 4242)
        r = self.cli("leaks", d, "--focus", "endpoint=/nowhere")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no sample matches the focus", r.stderr)

    # ---- baselines ---------------------------------------------------------------------------

    def test_baseline_directory(self):
        base = write_series(os.path.join(self.dir, "base"), 100)
        cand = write_series(os.path.join(self.dir, "cand"), 200, regression=True)
        out = self.json("leaks", cand, "--baseline", base)
        self.assertEqual(out["faster"], 1)
        self.assertEqual(out["rates"], "late")
        first = out["sites"][0]
        self.assertEqual((first["site"], first["verdict"]), ("remember_query", "faster"))
        self.assertEqual(first["baseline_per_hour"], 0)
        self.assertEqual((first["candidate_processes"], first["baseline_processes"]), (1, 0))
        # 5 samples of 8 KiB per 10 s step, each standing for 8192 / p bytes.
        self.assertAlmostEqual(first["candidate_per_hour"], 5 * 8192 / p_of(8192) * 360,
                               delta=1e-6 * 5 * 8192 / p_of(8192) * 360)
        others = {s["site"]: s["verdict"] for s in out["sites"][1:]}
        self.assertEqual(set(others.values()), {"same"}, others)
        # The same program against itself: nothing differs.
        out = self.json("leaks", write_series(os.path.join(self.dir, "again"), 300),
                        "--baseline", base)
        self.assertEqual(out["faster"], 0)
        self.assertEqual(out["total"]["verdict"], "same")
        r = self.cli("leaks", cand, "--baseline", base)
        self.assertEqual(r.returncode, 0, r.stderr)  # leaks reports; check is the gate
        self.assertIn("verdict: 1 site grows faster than the baseline: remember_query (+", r.stdout)
        self.assertIn("baseline:  1 process, 12 profiles (the profiles in %s)" % base, r.stdout)

    def test_baseline_split_by_label(self):
        d = os.path.join(self.dir, "fleet")
        write_series(d, 100, labels={"version": "1.4.1"})
        write_series(d, 200, labels={"version": "1.4.2"}, regression=True)
        write_series(d, 300, labels={"version": "1.4.3"})
        out = self.json("leaks", d, "--baseline", "label:version=1.4.1")
        self.assertEqual(out["candidate_processes"], 2)  # 1.4.2 and 1.4.3
        self.assertEqual(out["baseline_processes"], 1)
        first = out["sites"][0]
        self.assertEqual(first["site"], "remember_query")
        self.assertEqual(first["candidate_processes"], 1)
        out = self.json("leaks", d, "--baseline", "label:version=1.4.1", "--candidate",
                        "label:version=1.4.2")
        self.assertEqual(out["candidate_processes"], 1)
        self.assertEqual(out["faster"], 1)
        out = self.json("leaks", d, "--baseline", "label:version=1.4.1", "--candidate",
                        "label:version=1.4.3")
        self.assertEqual(out["faster"], 0)

    def test_baseline_errors(self):
        d = write_series(os.path.join(self.dir, "s"), 1)
        cases = [
            (["--baseline", os.path.join(self.dir, "nothing")], "No such file or directory"),
            (["--baseline", "label:version"], "not KEY=VALUE"),
            (["--baseline", "label:version=9"], "no sample has its label"),
            (["--candidate", "label:version=1"], "--candidate needs --baseline"),
            (["--baseline", d, "--candidate", "label:v=1"], "--candidate goes with"),
            (["--baseline", "label:a=1", "--candidate", "label:b=2"], "the same label"),
            (["--baseline", d, "--tolerance", "-5%"], "not a percentage"),
        ]
        for args, why in cases:
            with self.subTest(args=args):
                r = self.cli("leaks", d, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(why, r.stderr)


if __name__ == "__main__":
    hstest.main()
