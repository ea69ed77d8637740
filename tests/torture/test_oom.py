"""Out of memory: a program that exhausts its address space (RLIMIT_AS) and then allocates from
4096 new call stacks while the profiler's own tables cannot grow. The profiler degrades: it
drops the samples it cannot record and counts them (in heapsampler_get_stats and the profile's
comments), warns once per kind of failure, never crashes or aborts, and the program's output
and exit status are those of a run without it; once memory is back, the exit profile is
written. The same for tables at their smallest configured capacity, under threads."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


class OutOfMemory(torture.Case):
    def oom(self, rate):
        argv = [torture.target("oom"), "128"]
        plain = self.run_plain(argv)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        run = self.run_profiled(argv, rate=rate, interval="5ms")
        self.assert_same(run, plain, stderr=False)
        lines = run.stderr.splitlines()
        m = re.match(r"^oom: samples=(\d+) dropped=(\d+)$", lines[-1])
        self.assertTrue(m, run.stderr)
        warnings = lines[:-1]
        for w in warnings:
            self.assertTrue(w.startswith("heapsampler: "), w)
        self.assertEqual(len(warnings), len(set(warnings)), "a warning repeated")
        last = self.valid_profiles(run)
        self.assertEqual(torture.reason(run.profiles()[-1]), "exit")
        comments = torture.comments(run.profiles()[-1])
        self.assertIn("samples=%s dropped=%s" % m.groups(), comments)
        self.assertGreater(last.site_values("exhaust_site")[0], 0)
        return int(m.group(1)), int(m.group(2)), warnings

    def test_exact_mode_drops_and_counts(self):
        samples, dropped, warnings = self.oom("1")
        # 4096 new stacks need far more table memory than the limit leaves.
        self.assertGreater(dropped, 0)
        self.assertTrue([w for w in warnings if "samples are dropped and counted" in w],
                        warnings)

    def test_tiny_rate(self):
        self.oom("64")

    def test_tables_full_under_threads(self):
        # The smallest tables the configuration allows, in exact mode, with threads allocating
        # and freeing across each other: samples beyond capacity are dropped and counted, each
        # full table is reported once, and the program is unaffected.
        argv = [torture.target("threads"), "cross", "4", "4", str(hstest.scale(2000))]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, rate=1, max_live=1024, max_stacks=16, max_sites=16,
                                interval="10ms")
        self.assert_same(run, plain, stderr=False)
        lines = run.stderr.splitlines()
        self.assertTrue(lines, "no warning")
        for line in lines:
            self.assertRegex(line, r"^heapsampler: the (stack|site|live allocation) table is "
                             r"full \(HEAPSAMPLER_MAX_\w+\); further samples that need room are "
                             r"dropped and counted$")
        self.assertEqual(len(lines), len(set(lines)), "a warning repeated")
        self.valid_profiles(run, at_least=2)
        dropped = [c for c in torture.comments(run.profiles()[-1]) if c.startswith("samples=")]
        self.assertRegex(dropped[0], r"^samples=\d+ dropped=[1-9]\d*$")


if __name__ == "__main__":
    hstest.main()
