"""Sampling at the default rate: a leaking site dominates inuse_space and its estimate is
within the sampling error of the truth; a site that frees everything shows 0 in use while its
alloc_space estimates what it churned; a fixed seed reproduces a run; threads are counted
exactly in exact mode, including frees on another thread and short-lived threads."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

RATE = 524288


def row_sigma(prof, func, bytes_type):
    """Standard error of a site's byte estimate, from its rows: each row of n samples of size
    s has variance n (s/p)^2 (1-p), with n = objects * p."""
    var = 0.0
    i_obj = prof.index(bytes_type.replace("space", "objects"))
    i_b = prof.index(bytes_type)
    for vals, size in prof.rows(func):
        p = 1 - math.exp(-size / RATE)
        n = round(vals[i_obj] * p)
        var += n * (size / p) ** 2 * (1 - p)
        assert vals[i_b] >= 0
    return math.sqrt(var)


class DefaultRate(hstest.TempDirTest):
    def run_leaky(self, seed):
        run = hstest.run_profiled([hstest.target("leaky")], self.dir, seed=seed,
                                  output=os.path.join(self.dir, "s%d" % seed))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        return run, hstest.Profile(run.last_profile())

    def test_leak_dominates_and_estimates_are_honest(self):
        run, prof = self.run_leaky(seed=11)
        self.assertEqual(prof.period, RATE)
        churned = int(run.stdout.split("churned ")[1].split()[0]) << 20
        leak = prof.by_function("inuse_space").get("leak_site", 0)
        total = prof.total("inuse_space")
        truth = 8192 * 4096
        sigma = row_sigma(prof, "leak_site", "inuse_space")
        # 32 MiB in 4 KiB blocks: about 64 samples, sigma about 12% of the truth.
        self.assertGreater(sigma, 0)
        self.assertLess(abs(leak - truth), 5 * sigma, (leak, truth, sigma))
        self.assertGreaterEqual(leak, 0.9 * total, (leak, total))
        # The churn is all freed: exactly zero in use; its allocations are estimated.
        self.assertEqual(prof.by_function("inuse_space").get("churn_site", 0), 0)
        churn_alloc = prof.by_function("alloc_space").get("churn_site", 0)
        churn_sigma = row_sigma(prof, "churn_site", "alloc_space")
        self.assertLess(abs(churn_alloc - churned), 5 * churn_sigma,
                        (churn_alloc, churned, churn_sigma))

    def test_seed_reproduces_samples(self):
        _, a = self.run_leaky(seed=5)
        _, b = self.run_leaky(seed=5)
        _, c = self.run_leaky(seed=6)
        values = lambda p: sorted(tuple(v) for v, _, _ in p.samples)  # noqa: E731
        self.assertEqual(values(a), values(b))
        self.assertNotEqual(values(a), values(c))


class Threads(hstest.TempDirTest):
    def test_exact_counts_across_threads(self):
        run = hstest.run_profiled([hstest.target("threads")], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        prof = hstest.Profile(run.last_profile())
        self.assertEqual(prof.site_values("thread_leak_site"), (2000, 256000, 2000, 256000))
        self.assertEqual(prof.site_values("handoff_site"), (2000, 128000, 0, 0))
        self.assertEqual(prof.site_values("short_thread_site"), (200, 6400, 200, 6400))


if __name__ == "__main__":
    hstest.main()
