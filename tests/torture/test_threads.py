"""Threads: blocks allocated in one thread and freed (or realloc'ed) in another, threads that
start and exit continuously (half of them detached, on 32 KiB stacks) while a background thread
churns, in exact mode (every count checked) and at a rate so small that the sampling slow path
runs on nearly every call. The program's output must equal a run without the profiler."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


class Threads(torture.Case):
    def cross(self, **cfg):
        argv = [torture.target("threads"), "cross", "6", "6", str(hstest.scale(1500))]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, **cfg)
        self.assert_same(run, plain)
        return run, self.valid_profiles(run)

    def test_cross_thread_frees_exact(self):
        run, prof = self.cross(rate=1)
        self.assert_sites(prof, run.stdout)
        # Every block was freed by a consumer: nothing of these sites is live.
        for site in ("cross_alloc_site", "cross_realloc_site"):
            self.assertEqual(prof.site_values(site)[2:], (0, 0), site)

    def test_cross_thread_frees_tiny_rate(self):
        run, prof = self.cross(rate=64, seed=42, interval="20ms")
        self.assertGreater(prof.site_values("cross_alloc_site")[0], 0)

    def churn(self, **cfg):
        argv = [torture.target("threads"), "churn", str(hstest.scale(60)), "16"]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, **cfg)
        self.assert_same(run, plain)
        return run, self.valid_profiles(run)

    def test_thread_churn_exact(self):
        run, prof = self.churn(rate=1)
        self.assert_sites(prof, run.stdout)

    def test_thread_churn_tiny_rate(self):
        run, prof = self.churn(rate=32, interval="20ms")
        self.assertGreater(prof.site_values("churn_site")[0], 0)


if __name__ == "__main__":
    hstest.main()
