"""When profiles are written: through the public API (numbered and explicit files, stats that
match exact counts, custom allocator records), on the dump signal, periodically, and at exit;
files are 0600 and never half-written; an unusable output location warns once and the
program's own behaviour is unchanged."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402


class Api(hstest.TempDirTest):
    def test_api_dump_stats_and_custom_allocator(self):
        explicit = os.path.join(self.dir, "explicit.pb.gz")
        run = hstest.run_profiled([hstest.target("api_user"), explicit], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = run.stdout
        self.assertIn("dump rc=0\n", out)
        self.assertIn("dump_to rc=0\n", out)
        self.assertIn("dump_to_bad rc=-1 errno=Input/output error\n", out)
        self.assertIn("version=0.1.0\n", out)
        m = re.search(r"stats rc=0 rate=1 samples=(\d+) inuse_bytes=(\d+)", out)
        self.assertTrue(m, out)
        # api_site's 100 x 1000 B and the pool's 24 x 512 B are live (plus libc's own few).
        self.assertGreaterEqual(int(m.group(2)), 100000 + 24 * 512)
        self.assertLess(int(m.group(2)), 100000 + 24 * 512 + 16384)
        # Numbered files: the API dump (0000) and the exit dump (0001).
        files = run.profiles()
        self.assertEqual([re.search(r"\.(\d{4})\.pb", f).group(1) for f in files],
                         ["0000", "0001"])
        for f in files + [explicit]:
            self.assertEqual(os.stat(f).st_mode & 0o777, 0o600, f)
            prof = hstest.Profile(f)
            self.assertEqual(prof.site_values("api_site"), (100, 100000, 100, 100000))
            self.assertEqual(prof.site_values("pool_site"), (32, 16384, 24, 12288))
        self.assertEqual(run.stderr, "heapsampler: cannot write profile /nonexistent-dir/x/y.pb.gz:"
                         " No such file or directory (the program continues; further write "
                         "errors are not shown)\n")
        self.assertFalse([f for f in os.listdir(self.dir) if ".tmp" in f])

    def test_api_without_profiler(self):
        run = hstest.run_profiled([hstest.target("api_user")], self.dir, preload=False)
        self.assertEqual(run.stdout, "no profiler\n")


class Triggers(hstest.TempDirTest):
    def test_dump_signal(self):
        run = hstest.run_profiled([hstest.target("waiter"), "signal", self.dir], self.dir,
                                  dump_signal="USR2")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(len(run.profiles()), 2)  # the signal's and the exit's

    def test_interval(self):
        run = hstest.run_profiled([hstest.target("waiter"), "interval", self.dir, "3"],
                                  self.dir, interval="50ms")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        files = run.profiles()
        self.assertGreaterEqual(len(files), 4)
        seqs = [int(re.search(r"\.(\d{4})\.pb", f).group(1)) for f in files]
        self.assertEqual(seqs, list(range(len(seqs))))
        # Later profiles were taken later.
        times = [hstest.Profile(f).raw.split("Time:")[1].split("\n")[0] for f in files[:2]]
        self.assertLessEqual(times[0], times[1])


class Growth(hstest.TempDirTest):
    MIB = 1 << 20

    def test_profile_at_each_new_step_of_growth(self):
        run = hstest.run_profiled([hstest.target("grower"), self.dir], self.dir, rate=1,
                                  inuse_growth="10M")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        files = run.profiles()
        # Two growth profiles (10 MiB, then the new peak past 20 MiB) and the exit profile;
        # refilling to 12 MiB below the 20 MiB step wrote none.
        self.assertEqual(len(files), 3, files)
        first, second = hstest.Profile(files[0]), hstest.Profile(files[1])
        self.assertIn("(growth)", first.raw)
        self.assertIn("(growth)", second.raw)
        self.assertIn("(exit)", hstest.Profile(files[2]).raw)
        # The first was written once 10 MiB were live at grow_site (at most 12).
        self.assertGreaterEqual(first.by_function("inuse_space").get("grow_site", 0),
                                10 * self.MIB)
        # The second at the new peak: past 20 MiB in all, the refill included - not during
        # the refill, whose level (12 MiB) stays under the step.
        self.assertGreaterEqual(second.total("inuse_space"), 20 * self.MIB)
        self.assertEqual(second.by_function("inuse_space").get("refill_site", 0), 12 * self.MIB)

    def test_off_by_default(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1)
        self.assertEqual(len(run.profiles()), 1)


class OutputFaults(hstest.TempDirTest):
    def test_missing_directory_warns_once(self):
        plain = hstest.run_profiled([hstest.target("exact")], self.dir, preload=False)
        out = os.path.join(self.dir, "no", "such", "dir", "prof")
        run = hstest.run_profiled([hstest.target("exact")], self.dir, output=out, rate=1)
        self.assertEqual(run.returncode, plain.returncode)
        self.assertEqual(run.stdout, plain.stdout)
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("cannot write profile %s." % out, lines[0])
        self.assertIn("No such file or directory", lines[0])
        # Four failing dumps (API, explicit, bad explicit, exit): still one line.
        run = hstest.run_profiled([hstest.target("api_user"), out + ".x"], self.dir, output=out)
        self.assertEqual(run.returncode, 0)
        self.assertIn("dump rc=-1", run.stdout)
        self.assertEqual(len(run.stderr.splitlines()), 1, run.stderr)
        self.assertEqual(os.listdir(self.dir), [])

    def test_parent_is_a_file(self):
        blocker = os.path.join(self.dir, "file")
        open(blocker, "w").close()
        run = hstest.run_profiled([hstest.target("exact")], self.dir,
                                  output=os.path.join(blocker, "prof"))
        self.assertEqual(run.returncode, 0)
        self.assertIn("Not a directory", run.stderr)
        self.assertEqual(os.listdir(self.dir), ["file"])

    def test_directory_prefix(self):
        sub = os.path.join(self.dir, "sub")
        os.mkdir(sub)
        run = hstest.run_profiled([hstest.target("exact")], self.dir, output=sub)
        self.assertEqual(run.returncode, 0, run.stderr)
        names = os.listdir(sub)
        self.assertEqual(len(names), 1)
        self.assertRegex(names[0], r"^heapsampler\.\d+\.0000\.pb\.gz$")


if __name__ == "__main__":
    hstest.main()
