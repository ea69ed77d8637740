"""scripts/bench.sh --quick: the benchmark script runs to the end on this machine and prints
every row of its report, each with a figure (or n/a when a tool is missing, with the reason for
a real server), the real servers' table included. Only the format is checked, never a timing or
a bar: those belong to the full run of the script."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

BAR_ROWS = [
    "churn, 1 thread: instructions per malloc+free pair over the floor",
    "churn, 2 threads: instructions per malloc+free pair over the floor",
    "python3: instructions, heapsampler / floor",
    "sqlite3: instructions, heapsampler / floor",
    "churn, 1 thread: wall time, heapsampler / floor",
    "churn, 2 threads: wall time, heapsampler / floor",
    "python3: wall time, heapsampler / no profiler",
    "sqlite3: wall time, heapsampler / no profiler",
    "one sample (unwind 64 frames + record): median",
    "heapsampler_label_set (a new set, as a request starts): median",
    "dump of 10000 distinct stacks",
    "profiler memory (self-reported), python3",
    "profiler memory (self-reported), sqlite3",
    "profiler memory (self-reported), 10,000 stacks",
    "redis-benchmark SET: throughput, heapsampler / no profiler",
    "redis-benchmark GET: throughput, heapsampler / no profiler",
    "pgbench (TPC-B-like): throughput, heapsampler / no profiler",
    "wrk against nginx: throughput, heapsampler / no profiler",
    "longest pause of an allocating thread while dumps run",
    "memory accounting: one read of each source, on its worst heap",
    "longest pause of a thread sharing that arena while dumps run",
    "reconciliation: python3 exit profile",
    "reconciliation: sqlite3 exit profile",
    "reconciliation: demo server exit profile",
    "reachability scan at exit, a heap of pointers",
]
MEMORY_ROWS = [
    "memory watch: instructions per malloc+free pair, on minus off",
    "memory watch: CPU of its looks, idle program",
    "dump of 10000 stacks (symbolize=functions): peak RSS growth",
    "dump of 10000 stacks (symbolize=lines): peak RSS growth",
    "fastest leak leaving a profile above 70% of a 128 MiB cgroup, every run",
    "fastest leak leaving a profile above 80% of a 128 MiB cgroup, every run",
]
SERVER_ROWS = ["redis-benchmark SET", "redis-benchmark GET", "pgbench (TPC-B-like)",
               "wrk against nginx"]
WALL_ROWS = ["churn, 1 thread", "churn, 2 threads", "python3 (PYTHONMALLOC=malloc)",
             "sqlite3 in-memory"]
FIGURE = r"(\d+(\.\d+)?( ?(x|ns|us|ms|MiB))?|n/a)"


class BenchSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        script = os.path.join(hstest.SOURCE, "scripts", "bench.sh")
        cls.proc = subprocess.run(["bash", script, "--quick", "--no-build", "--build-dir",
                                   hstest.BUILD], capture_output=True, text=True, timeout=900,
                                  env=hstest.clean_env())
        cls.out = cls.proc.stdout

    def table(self, title):
        """Rows (lists of cells) of the Markdown table under '### title'."""
        m = re.search(r"^### %s\n\n((?:\|.*\|\n)+)" % re.escape(title), self.out, re.M)
        self.assertIsNotNone(m, "no table %r in:\n%s" % (title, self.out))
        rows = [[c.strip() for c in line.strip().strip("|").split("|")]
                for line in m.group(1).splitlines()]
        self.assertTrue(all(set(c) <= set("-") for c in rows[1]), rows[1])
        return rows[0], rows[2:]

    def test_runs_to_the_end(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr[-3000:])
        self.assertIn("done in", self.proc.stderr)

    def test_header_names_date_and_machine(self):
        self.assertRegex(self.out, r"\* date: \d{4}-\d\d-\d\d \d\d:\d\d UTC")
        self.assertRegex(self.out, r"\* machine: .+, \d+ cores, Linux ")
        self.assertIn("--quick", self.out.splitlines()[0])

    def test_every_bar_row_has_a_figure(self):
        head, rows = self.table("Bars")
        self.assertEqual(head, ["bar", "measured", "limit", "met"])
        names = [r[0] for r in rows]
        self.assertEqual(names, BAR_ROWS)
        for name, measured, limit, met in rows:
            self.assertRegex(measured, "^" + FIGURE, name)
            self.assertTrue(limit, name)
            self.assertIn(met, ("yes", "**no**", "n/a", "-"), name)

    def test_wall_table_has_every_workload_and_configuration(self):
        head, rows = self.table("Wall time")
        self.assertEqual(head[:4], ["workload", "none", "floor", "heapsampler"])
        self.assertEqual([r[0] for r in rows], WALL_ROWS)
        for r in rows:
            self.assertEqual(len(r), len(head))
            for cell in r[1:]:
                self.assertRegex(cell, r"^\d+\.\d+ (s|ns/pair)( \(.*x\))?$")

    def test_memory_limit_table(self):
        head, rows = self.table("Memory limit")
        self.assertEqual(head, ["measure", "measured"])
        self.assertEqual([r[0] for r in rows], MEMORY_ROWS)
        self.assertRegex(rows[0][1], r"^(-?\d+\.\d+|n/a)")
        self.assertRegex(rows[1][1], r"^close range \(usage steady\): \d+ us/s \(\d+\.\d+% of a "
                                     r"core\); far: \d+ us/s; off: \d+ us/s$")
        for r in rows[2:4]:
            self.assertRegex(r[1], r"^first dump \d+\.\d MiB .*; later dumps at most \d+\.\d\d MiB$")
        for r in rows[4:]:
            self.assertRegex(r[1], r"^(\d+ MiB/s|none of the rates tried|n/a \(.+\))")
    def test_real_server_table(self):
        head, rows = self.table("Real servers")
        self.assertEqual(head, ["server workload", "none", "heapsampler", "heapsampler / none"])
        self.assertEqual([r[0] for r in rows], SERVER_ROWS)
        for r in rows:
            if r[1] == "n/a":  # a server not installed, or no root for pg_ctl: says why
                self.assertRegex(r[3], r"^n/a \(.+\)$")
                continue
            self.assertRegex(r[1], r"^\d+ (req/s|tps)$")
            self.assertRegex(r[2], r"^\d+ (req/s|tps)$")
            self.assertRegex(r[3], r"^\d+\.\d+x$")

    def test_instruction_and_unwinder_tables(self):
        if "Instruction counts: n/a" not in self.out:
            _, rows = self.table("Instructions (callgrind)")
            self.assertEqual(len(rows), 4)
            for r in rows:
                self.assertTrue(all(c.isdigit() for c in r[1:]), r)
        head, rows = self.table("Unwinder: libunwind vs frame pointers")
        self.assertEqual(len(head), 4)
        self.assertIn("libunwind (default)", [r[0] for r in rows])


if __name__ == "__main__":
    unittest.main(verbosity=2)
