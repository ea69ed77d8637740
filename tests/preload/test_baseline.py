"""`check --baseline`: a memory-regression gate without an absolute limit, on real runs.

tests/preload/targets/canary.c is one program in two builds: the release, which already leaks a
little (record_session), and a regression that leaks more elsewhere (remember_query). A
baseline is kept from one run of the release (`check --keep`); then

  - the regression fails the gate, naming remember_query and nothing else: the old leak grows
    in both builds alike;
  - the release itself passes it, run after run with other sampling seeds. Measured over 100
    runs compared in pairs (see README, "Canary against baseline") a false alarm is rare; here
    10 runs may fail at most once: with a false-alarm rate of 1% (above the measured one) two
    failures or more in 10 runs have a probability of 0.4%;
  - one series split by a label: two processes of a fleet, tagged HEAPSAMPLER_LABELS=version=...,
    written into one directory;
  - a baseline that cannot be read stops check before the command runs.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

STEPS = "40"
RATE = "16K"


def check(*args, env=None, timeout=300):
    e = hstest.clean_env(**(env or {}))
    return subprocess.run([hstest.CLI, "check"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=e)


def fails(r):
    return [l for l in r.stderr.splitlines() if l.startswith("heapsampler check: FAIL")]


class Baseline(hstest.TempDirTest):
    def keep_baseline(self):
        base = os.path.join(self.dir, "base")
        r = check("--keep", base, "--max-growth", "off", "--rate", RATE, "-q", "--",
                  hstest.target("canary"), STEPS, "release", env={"HEAPSAMPLER_SEED": "1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        return base

    def candidate(self, base, build, seed):
        return check("--baseline", base, "--rate", RATE, "-q", "--", hstest.target("canary"),
                     STEPS, build, env={"HEAPSAMPLER_SEED": str(seed)})

    def test_regression_fails_naming_its_site(self):
        base = self.keep_baseline()
        r = self.candidate(base, "regression", 2)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = fails(r)
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], r"FAIL: remember_query grows .* faster than in the baseline "
                                   r"\(.* against 0 B/h; --baseline %s, 3 sigma\)" % base)
        # Without -q, the comparison is shown.
        r = check("--baseline", base, "--rate", RATE, "--", hstest.target("canary"), STEPS,
                  "regression", env={"HEAPSAMPLER_SEED": "3"})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the candidate against its baseline", r.stderr)
        self.assertIn("verdict: 1 site grows faster than the baseline: remember_query (+",
                      r.stderr)

    def test_same_build_passes(self):
        base = self.keep_baseline()
        failed = []
        for seed in range(2, 12):
            r = self.candidate(base, "release", seed)
            self.assertIn(r.returncode, (0, 1), r.stderr)
            if r.returncode:
                failed.append((seed, fails(r)))
        self.assertLessEqual(len(failed), 1, failed)

    def test_fleet_split_by_version(self):
        canary = hstest.target("canary")
        script = ("HEAPSAMPLER_LABELS=version=1.4.1 %s %s release & "
                  "HEAPSAMPLER_LABELS=version=1.4.2 %s %s regression; wait" %
                  (canary, STEPS, canary, STEPS))
        keep = os.path.join(self.dir, "fleet")
        r = check("--baseline", "label:version=1.4.1", "--rate", RATE, "--keep", keep, "-q",
                  "--", "sh", "-c", script, env={"HEAPSAMPLER_FOLLOW_EXEC": "1",
                                                 "HEAPSAMPLER_SEED": "5"})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(fails(r)), 1, r.stderr)
        self.assertIn("remember_query grows", fails(r)[0])
        # leaks shows the same comparison from the kept profiles; the shell matched neither.
        out = subprocess.run([hstest.CLI, "leaks", keep, "--baseline", "label:version=1.4.1"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("candidate: 1 process", out.stdout)
        self.assertIn("baseline:  1 process", out.stdout)

    def test_unreadable_baseline_stops_before_running(self):
        marker = os.path.join(self.dir, "ran")
        r = check("--baseline", os.path.join(self.dir, "missing"), "--", "touch", marker)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--baseline: ", r.stderr)
        self.assertFalse(os.path.exists(marker))
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        r = check("--baseline", empty, "--", "touch", marker)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no profiles in this directory", r.stderr)
        self.assertFalse(os.path.exists(marker))


if __name__ == "__main__":
    hstest.main()
