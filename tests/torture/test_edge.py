"""Edge inputs: every member of the malloc family with sizes from 0 to SIZE_MAX, alignments
from 0 to SIZE_MAX, calloc and reallocarray overflows, realloc to 0, from NULL and of a live
block that must survive a failure: results, errno (kept on success) and alignment equal the real
allocator's at every rate; and huge requests do not disturb the sampling of what follows
(regression: a request of 2^63 bytes or more used to stop its thread's sampling for good)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


class Edge(torture.Case):
    def test_matrix_matches_real_allocator(self):
        argv = [torture.target("edge_matrix")]
        plain = self.run_plain(argv)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertGreater(plain.stdout.count("\n"), 1000)
        for rate in ("1", "64", "524288"):
            run = self.run_profiled(argv, rate=rate, prefix=os.path.join(self.dir, "r" + rate))
            self.assert_same(run, plain)
            self.valid_profiles(run)

    def test_huge_requests_do_not_stop_sampling(self):
        argv = [torture.target("edge_matrix"), "after"]
        run = self.run_profiled(argv, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_sites(self.valid_profiles(run), run.stdout)


if __name__ == "__main__":
    hstest.main()
