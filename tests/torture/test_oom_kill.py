"""Killed by the OOM killer: a program that leaks in a memory cgroup limited to 128 MiB (v2 if
the machine has it, else the v1 memory controller; tests/lib/cgroups.py), profiled with the
default settings but a one-hour interval, so that nothing but the memory watch writes a
profile before the kill. It must die of SIGKILL with the group's OOM-kill counter moved, and
leave threshold profiles and a peak profile that show the leaking site holding most of the
memory: for a slow leak (32 MiB/s) every threshold's profile, for a fast one (256 MiB/s, the
group full in half a second) at least one. A single-threaded program whose group's limit is
lowered while it is far from it (no writer thread yet) leaves the profiles of the new limit's
thresholds before the kill. Where no memory cgroup can be created the tests are
skipped with the reason; tests/preload/test_memory.py covers the same logic with
HEAPSAMPLER_MEMORY_LIMIT and RLIMIT_AS.

Estimates: leak_site's 256 KiB blocks are sampled with p = 0.39 at the default rate; at 80 MiB
(about the leak at the 70% profile) that is some 125 samples, a relative error of 7% (1
sigma): half of the memory in use (the leak plus about 10 MiB) is more than 5 sigma below."""
import glob
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import cgroups  # noqa: E402

MIB = 1 << 20
LIMIT = 128 * MIB


class OomKill(torture.Case):
    def leak_until_killed(self, rate):
        """Run the leaker at rate MiB/s in a fresh group until the OOM killer kills it; returns
        its Run and the group's cgroup version."""
        with cgroups.MemoryGroup(LIMIT) as group:
            before = group.oom_kills()
            run = self.run_profiled([hstest.target("leaker"), "-r", str(rate)],
                                    preexec_fn=group.join, interval="1h")
            kills = group.oom_kills() - before
            version = group.version
        self.assertEqual(run.returncode, -signal.SIGKILL, run.stdout + run.stderr[-2000:])
        self.assertEqual(kills, 1, "the group's OOM killer killed it")
        self.assertEqual(run.stderr, "")
        return run, version

    def assert_evidence(self, path, version, reasons=("memory",)):
        """path is a profile of the watch with the group's limit, the leak holding most."""
        reason, detail, meta = hstest.metadata(path)
        self.assertIn(reason, reasons, path)
        self.assertRegex(detail, r"^\d+% of 128 MiB$")
        self.assertEqual(int(meta["memory.limit"]), LIMIT)
        self.assertEqual(meta["memory.limit_source"], "cgroup1" if version == 1 else
                         "cgroup2.max")
        self.assertEqual(meta["memory.usage_source"], "working_set")
        usage = int(meta["memory.usage"])
        self.assertGreaterEqual(usage, LIMIT * 70 // 100, path)
        sites = hstest.Profile(path).by_function("inuse_space")
        self.assertEqual(max(sites, key=sites.get), "leak_site", sites)
        self.assertGreater(sites["leak_site"], usage / 2, sites)
        return sites["leak_site"]

    def test_slow_leak(self):
        run, version = self.leak_until_killed(32)
        files = run.profiles()
        self.assertEqual([hstest.metadata(f)[1] for f in files],
                         ["70% of 128 MiB", "85% of 128 MiB", "95% of 128 MiB"])
        for f in files:
            self.assert_evidence(f, version)
        # The last one: the leak holds most of the limit itself.
        self.assertGreater(self.assert_evidence(files[-1], version), LIMIT / 2)
        peak = run.peak_profile()
        self.assertIsNotNone(peak, "the peak profile")
        self.assertGreater(self.assert_evidence(peak, version, ("peak", "memory")), LIMIT / 2)

    def test_fast_leak(self):
        run, version = self.leak_until_killed(256)
        files = run.profiles()
        self.assertTrue(files, "no profile before the kill")
        for f in files:
            self.assert_evidence(f, version)
        self.assertIsNotNone(run.peak_profile())


    def test_resized_limit(self):
        # A single-threaded leak at 16 MiB/s in a 512 MiB group: far from the limit, no writer
        # thread. At 48 MiB the limit is lowered to 160 MiB (the usage is then about a third
        # of it): the profiles of the thresholds it crosses on the way to the kill are of the
        # new limit (it is read again within 2 s, from the sampler while no thread looks).
        prefix = os.path.join(self.dir, "prof")
        env = torture.make_env(preload=(hstest.LIB,), output=prefix, interval="1h")
        with cgroups.MemoryGroup(512 * MIB) as group:
            before = group.oom_kills()
            p = subprocess.Popen([hstest.target("leaker"), "-r", "16"], env=env,
                                 preexec_fn=group.join, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            try:
                for line in p.stdout:
                    m = re.match(r"leaker: (\d+) MiB", line)
                    if m and int(m.group(1)) >= 48:
                        break
                name = "memory.max" if group.version == 2 else "memory.limit_in_bytes"
                with open(os.path.join(group.path, name), "w") as f:
                    f.write(str(160 * MIB))
                p.stdout.read()
                err = p.stderr.read()
                p.wait(timeout=120)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()
                p.stderr.close()
            kills = group.oom_kills() - before
        self.assertEqual((p.returncode, kills), (-signal.SIGKILL, 1), err[-2000:])
        files = sorted(glob.glob(prefix + ".*.[0-9][0-9][0-9][0-9].pb.gz"))
        self.assertTrue(files, "no profile before the kill")
        for f in files:
            reason, detail, meta = hstest.metadata(f)
            self.assertEqual(reason, "memory", f)
            self.assertRegex(detail, r"^\d+% of 160 MiB$")
            self.assertEqual(int(meta["memory.limit"]), 160 * MIB)
        sites = hstest.Profile(files[-1]).by_function("inuse_space")
        self.assertEqual(max(sites, key=sites.get), "leak_site", sites)

if __name__ == "__main__":
    hstest.main()
