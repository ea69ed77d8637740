"""The memory limit: profiles at thresholds of it (HEAPSAMPLER_MEMORY_THRESHOLDS), once per
crossing, the peak profile (HEAPSAMPLER_PEAK_STEP), RLIMIT_AS as the limit, and a profile when
SIGTERM arrives (HEAPSAMPLER_DUMP_ON_TERM), with a target that leaks at a steady rate
(targets/leaker.c) and a one-hour interval, so that every profile but the exit one is the
watch's. The limit here is given (HEAPSAMPLER_MEMORY_LIMIT, against the resident set) or
RLIMIT_AS, so these tests run on any machine; tests/torture/test_oom_kill.py has real OOM kills
in a memory cgroup.

Estimates: leak_site allocates 256 KiB blocks, each sampled at the default rate with p = 1 -
exp(-0.5) = 0.39; at 60 MiB that is about 94 samples, a relative error of sqrt((1 - p) / n) =
8% (1 sigma). "Most of the memory in use" is asserted as at least half of it, which the
leak (the memory in use less a baseline of about 10 MiB) clears by more than 4 sigma; the seed
is fixed, so the runs are reproducible anyway."""
import os
import resource
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

MIB = 1 << 20


def fmt_mib(n):
    return "%d MiB" % (n // MIB)


class MemoryTest(hstest.TempDirTest):
    def leaker(self, *args, preexec_fn=None, **cfg):
        cfg.setdefault("interval", "1h")
        cfg.setdefault("seed", 1)
        prefix = cfg.pop("output", os.path.join(self.dir, "prof"))
        env = hstest.clean_env(LD_PRELOAD=hstest.LIB, HEAPSAMPLER_OUTPUT=prefix,
                               **{"HEAPSAMPLER_" + k.upper(): v for k, v in cfg.items()})
        proc = subprocess.run([hstest.target("leaker"), *args], env=env, capture_output=True,
                              text=True, timeout=hstest.TIMEOUT, preexec_fn=preexec_fn)
        return hstest.Run(proc, self.dir, prefix)

    def assert_leak_holds_most(self, path, usage):
        """leak_site is the top site of path and holds at least half of usage."""
        sites = hstest.Profile(path).by_function("inuse_space")
        top = max(sites, key=sites.get)
        self.assertEqual(top, "leak_site", (path, sites))
        self.assertGreaterEqual(sites["leak_site"], usage / 2, (path, sites, usage))

    def assert_threshold(self, path, pct, limit, limit_source, usage_source):
        """path is the profile of threshold pct; returns the memory in use it records."""
        reason, detail, meta = hstest.metadata(path)
        self.assertEqual((reason, detail), ("memory", "%d%% of %s" % (pct, fmt_mib(limit))), path)
        self.assertEqual(meta["memory.threshold"], str(pct))
        self.assertEqual(int(meta["memory.limit"]), limit)
        self.assertEqual(meta["memory.limit_source"], limit_source)
        self.assertEqual(meta["memory.usage_source"], usage_source)
        usage = int(meta["memory.usage"])
        self.assertGreaterEqual(usage, limit * pct // 100, path)
        self.assert_leak_holds_most(path, usage)
        return usage


class Thresholds(MemoryTest):
    LIMIT = 100 * MIB

    def test_a_profile_at_each_threshold_and_the_peak(self):
        run = self.leaker("-r", "200", "-m", "110", memory_limit="100M")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        files = run.profiles()
        self.assertEqual(len(files), 4, files)
        usages = [self.assert_threshold(f, pct, self.LIMIT, "config", "rss")
                  for f, pct in zip(files, (70, 85, 95))]
        self.assertEqual(usages, sorted(usages))
        reason, _, meta = hstest.metadata(files[3])
        self.assertEqual(reason, "exit")
        self.assertNotIn("memory.threshold", meta)
        self.assertEqual(int(meta["memory.limit"]), self.LIMIT)
        # The peak profile: the highest memory in use recorded, at least the 95% profile's.
        peak = run.peak_profile()
        self.assertIsNotNone(peak)
        self.assertEqual(oct(os.stat(peak).st_mode & 0o777), "0o600")
        reason, detail, meta = hstest.metadata(peak)
        self.assertIn(reason, ("peak", "memory"))
        self.assertRegex(detail, r"^\d+% of 100 MiB$")
        self.assertGreaterEqual(int(meta["memory.usage"]), usages[-1])
        self.assert_leak_holds_most(peak, int(meta["memory.usage"]))

    def test_a_reserve_near_the_limit_only(self):
        # In the close range the watch keeps a reserve the size of a dump (mapped and touched,
        # at most a tenth of the limit) and gives it back to each dump, whose profile says how
        # much: the 70% and 85% profiles. (Past 85% it is taken only when the next threshold
        # leaves room for it, so the 95% profile may have none.) A program far from its limit
        # keeps none.
        run = self.leaker("-r", "200", "-m", "110", memory_limit="100M")
        self.assertEqual(run.returncode, 0, run.stderr)
        files = run.profiles()
        self.assertEqual(len(files), 4, files)
        for f in files[:3]:
            reserve = int(hstest.metadata(f)[2].get("memory.reserve", 0))
            if f in files[:2]:
                self.assertGreater(reserve, 0, f)
            self.assertLessEqual(reserve, self.LIMIT // 10, f)
        far = self.leaker("-r", "200", "-m", "20", memory_limit="1G",
                          output=os.path.join(self.dir, "far"))
        self.assertEqual(far.returncode, 0, far.stderr)
        for f in far.profiles():
            self.assertNotIn("memory.reserve", hstest.metadata(f)[2], f)

    def test_once_per_crossing_armed_again_below(self):
        # A sawtooth between 0 and 72 MiB held (about 10% and 80% of the limit): the 70%
        # threshold is crossed upward on every tooth, and the memory falls below 60% in between.
        run = self.leaker("-r", "200", "-m", "72", "-c", "3", "-k", "0", memory_limit="100M")
        self.assertEqual(run.returncode, 0, run.stderr)
        reasons = [hstest.metadata(f)[:2] for f in run.profiles()]
        self.assertEqual(reasons, [("memory", "70% of 100 MiB")] * 4 + [("exit", "")])
        # Between 57 and 72 MiB held (about 66% to 80%): crossed upward each time, but never
        # 10 points below: one profile.
        run = self.leaker("-r", "200", "-m", "72", "-c", "3", "-k", "57", memory_limit="100M",
                          output=os.path.join(self.dir, "again"))
        self.assertEqual(run.returncode, 0, run.stderr)
        reasons = [hstest.metadata(f)[:2] for f in run.profiles()]
        self.assertEqual(reasons, [("memory", "70% of 100 MiB"), ("exit", "")])

    def test_thresholds_of_our_choice_and_off(self):
        run = self.leaker("-r", "200", "-m", "60", memory_limit="100M", memory_thresholds="50",
                          peak_step="0")
        self.assertEqual(run.returncode, 0, run.stderr)
        files = run.profiles()
        self.assertEqual(len(files), 2, files)
        self.assert_threshold(files[0], 50, self.LIMIT, "config", "rss")
        self.assertIsNone(run.peak_profile())
        run = self.leaker("-r", "200", "-m", "110", memory_limit="100M", memory_thresholds="off",
                          peak_step="0", output=os.path.join(self.dir, "off"))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual([hstest.metadata(f)[0] for f in run.profiles()], ["exit"])
        self.assertIsNone(run.peak_profile())

    def test_rlimit_as_is_the_limit_of_a_process_without_one(self):
        # malloc fails at the address-space limit; the watch counts the address space.
        limit = 400 * MIB

        def cap():
            resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))

        run = self.leaker("-r", "400", preexec_fn=cap)
        self.assertEqual(run.returncode, 3, run.stdout + run.stderr)
        self.assertRegex(run.stdout, r"leaker: out of memory after \d+ MiB")
        files = run.profiles()
        self.assertGreaterEqual(len(files), 3, files)
        for f, pct in zip(files, (70, 85, 95)):
            self.assert_threshold(f, pct, limit, "rlimit_as", "address_space")
        self.assertIsNotNone(run.peak_profile())


class DumpOnTerm(MemoryTest):
    def term(self, *args, **cfg):
        """Start the leaker with -w, wait for it to hold 20 MiB, send SIGTERM."""
        cfg.setdefault("interval", "1h")
        prefix = os.path.join(self.dir, "prof")
        env = hstest.clean_env(LD_PRELOAD=hstest.LIB, HEAPSAMPLER_OUTPUT=prefix,
                               **{"HEAPSAMPLER_" + k.upper(): v for k, v in cfg.items()})
        proc = subprocess.Popen([hstest.target("leaker"), "-r", "200", "-m", "20", "-w", *args],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            for line in proc.stdout:
                if line.startswith("leaker: waiting"):
                    break
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=hstest.TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return proc.returncode, out, err, prefix

    def test_profile_then_the_default_action(self):
        rc, _, err, prefix = self.term(dump_on_term="1")
        self.assertEqual(rc, -signal.SIGTERM, err)
        files = [f for f in os.listdir(self.dir) if ".tmp" not in f]
        self.assertEqual(len(files), 1, files)
        path = os.path.join(self.dir, files[0])
        self.assertRegex(files[0], r"^prof\.\d+\.0000\.pb\.gz$")
        self.assertEqual(hstest.metadata(path)[0], "term")
        # 20 MiB of 256 KiB blocks, about 31 samples: 18% relative error; half is 2.8 sigma off.
        self.assertGreater(hstest.Profile(path).by_function("inuse_space")["leak_site"], 10 * MIB)

    def test_a_handler_of_the_program_is_left_alone(self):
        rc, out, err, _ = self.term("-s", "handle", dump_on_term="1")
        self.assertEqual(rc, 0, err)
        self.assertIn("leaker: SIGTERM\n", out)
        self.assertEqual(os.listdir(self.dir), [], "the program's handler exits: no profile")

    def test_off_by_default(self):
        rc, _, err, _ = self.term()
        self.assertEqual(rc, -signal.SIGTERM, err)
        self.assertEqual(os.listdir(self.dir), [])


if __name__ == "__main__":
    hstest.main()
