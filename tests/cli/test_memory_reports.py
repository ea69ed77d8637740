"""What `report` and `leaks` show of why each profile was written and of the memory limit
(profile metadata, README.md "Profile comments"), on profiles written by tests/lib/pprofgen.py
with the comments the library writes: the reason line of `report` and its JSON members; the
reasons of a series, the limit and working set at its last profile, and its peak profile,
which `leaks` names beside the series and never takes for one of its points (nor its
rows for a point's). Profiles without heapsampler's comments show none of it (the golden files
of test_analysis.py check that)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import pprofgen  # noqa: E402

CLI = hstest.CLI
T0 = 1767225600 * 10**9
STEP = 10 * 10**9
MIB = 1 << 20
LIMIT = 128 * MIB
LEAK = ["leak_records", "main"]


def profile(i, reason, usage, peak=False):
    """Profile i of a process leaking 4 MiB per step: heapsampler's header and memory keys."""
    comments = ["heapsampler 0.1.0 (%s)" % reason, "rate=524288",
                "memory.limit=%d memory.limit_source=cgroup2.max memory.usage=%d "
                "memory.usage_source=working_set" % (LIMIT, usage)]
    p = pprofgen.Profile(T0 + i * STEP + (STEP // 2 if peak else 0), comments=comments)
    p.add(LEAK, 1 << 20, allocs=4 * (i + 1) + (9999 if peak else 0), live=4 * (i + 1))
    return p


class MemoryReports(hstest.TempDirTest):
    def cli(self, *args, rc=0):
        r = subprocess.run([CLI, *args], cwd=self.dir, env=hstest.clean_env(),
                           capture_output=True, text=True, timeout=hstest.TIMEOUT)
        self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
        return r.stdout

    def series(self):
        """Six profiles of pid 77: interval ones, thresholds at 70 and 85%, the exit one; and
        a peak profile (between the last two, with a row no point has)."""
        reasons = ["interval", "interval", "memory, 70% of 128 MiB", "interval",
                   "memory, 85% of 128 MiB", "exit"]
        for i, reason in enumerate(reasons):
            profile(i, reason, (40 + 12 * i) * MIB).write(
                os.path.join(self.dir, "app.77.%04d.pb.gz" % i))
        profile(4, "peak, 92% of 128 MiB", 118 * MIB, peak=True).write(
            os.path.join(self.dir, "app.77.peak.pb.gz"))

    def test_report_says_why_and_the_memory(self):
        self.series()
        out = self.cli("report", "app.77.0004.pb.gz")
        self.assertIn("\n  written for: memory (85% of 128 MiB); memory limit 128 MiB (cgroup v2 "
                      "memory.max), working set 88.0 MiB (69%)\n", out)
        j = json.loads(self.cli("report", "--json", "app.77.0004.pb.gz"))
        self.assertEqual((j["reason"], j["detail"]), ("memory", "85% of 128 MiB"))
        self.assertEqual((j["memory_limit"], j["memory_limit_source"]), (LIMIT, "cgroup2.max"))
        self.assertEqual((j["memory_usage"], j["memory_usage_source"]),
                         (88 * MIB, "working_set"))
        j = json.loads(self.cli("report", "--json", "app.77.0005.pb.gz"))
        self.assertEqual((j["reason"], j["detail"]), ("exit", None))

    def test_a_foreign_profile_says_nothing(self):
        pprofgen.Profile(T0).write(os.path.join(self.dir, "go.pb.gz"))
        self.assertNotIn("written for", self.cli("report", "go.pb.gz"))
        j = json.loads(self.cli("report", "--json", "go.pb.gz"))
        self.assertEqual([j[k] for k in ("reason", "detail", "memory_limit", "memory_usage")],
                         [None] * 4)

    def test_leaks_lists_reasons_and_names_the_peak_profile(self):
        self.series()
        out = self.cli("leaks", ".")
        self.assertIn("heapsampler leaks: pid 77, 6 profiles over 50.0 s", out)
        self.assertIn("\n  profiles written for: 3 interval, 2 memory (70%, 85% of 128 MiB), "
                      "1 exit\n", out)
        self.assertIn("\n  memory limit 128 MiB (cgroup v2 memory.max), working set 100 MiB (78%)"
                      " at the last profile\n", out)
        self.assertIn("\n  peak profile: ./app.77.peak.pb.gz, written for peak (92% of 128 MiB)\n",
                      out)
        j = json.loads(self.cli("leaks", "--json", "."))
        p = j["processes"][0]
        self.assertEqual(p["profiles"], 6)
        self.assertEqual([f["reason"] for f in p["files"]],
                         ["interval", "interval", "memory", "interval", "memory", "exit"])
        self.assertEqual(p["files"][2]["detail"], "70% of 128 MiB")
        self.assertEqual([f["memory_usage"] for f in p["files"]],
                         [(40 + 12 * i) * MIB for i in range(6)])
        self.assertEqual(p["peak"]["file"], "./app.77.peak.pb.gz")
        self.assertEqual(p["peak"]["memory_usage"], 118 * MIB)
        # Not a point: the peak's 9999 extra allocations are in no profile of the series.
        self.assertEqual(len(p["time_nanos"]), 6)

    def test_points_follow_time_not_names(self):
        # A file renamed out of order: its metadata stays with its own point.
        self.series()
        os.rename(os.path.join(self.dir, "app.77.0001.pb.gz"),
                  os.path.join(self.dir, "app.77.0009.pb.gz"))
        p = json.loads(self.cli("leaks", "--json", "."))["processes"][0]
        usages = [f["memory_usage"] for f in p["files"]]
        self.assertEqual(usages, sorted(usages), "in time order, each with its own figures")
        self.assertEqual(p["files"][1]["file"], "./app.77.0009.pb.gz")


if __name__ == "__main__":
    hstest.main()
