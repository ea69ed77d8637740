"""Allocators underneath: jemalloc, tcmalloc and mimalloc (Debian packages) preloaded after the
profiler (LD_PRELOAD="libheapsampler.so <allocator>"): the profiler chains to them, the edge
matrix (the part each allocator handles on its own) gives exactly the allocator's own results
and errno, exact-mode counts hold across threads and forks, and functions an allocator lacks
(pvalloc, reallocarray) come from its own heap (regression: the profiler took glibc's pvalloc
beneath jemalloc, whose free then crashed). Preloaded before the profiler, the allocator takes
the program's calls: the program runs unchanged and the profiler says once that it is off."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402

LIBDIR = "/usr/lib/x86_64-linux-gnu"
ALLOCATORS = {
    "jemalloc": "libjemalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
    "mimalloc": "libmimalloc.so.2",
}


def installed():
    found = [(name, os.path.join(LIBDIR, soname)) for name, soname in ALLOCATORS.items()
             if os.path.exists(os.path.join(LIBDIR, soname))]
    if not found:
        raise unittest.SkipTest("no allocator package installed (scripts/bootstrap.sh)")
    return found


class Allocators(torture.Case):
    def beneath(self, name, path):
        edge = [torture.target("edge_matrix"), "portable", "after"]
        plain = self.run_plain(edge, preload=(path,))
        self.assertEqual(plain.returncode, 0, plain.stderr)
        for rate in ("1", "64"):
            run = self.run_profiled(edge, preload=(hstest.LIB, path), rate=rate,
                                    prefix=os.path.join(self.dir, "%s-edge-%s" % (name, rate)))
            self.assert_same(run, plain)
            prof = self.valid_profiles(run)
            if rate == "1":
                self.assert_sites(prof, run.stdout)

        # pvalloc and reallocarray behave as glibc's, on the allocator's own heap.
        missing = [torture.target("edge_matrix"), "missing"]
        run = self.run_profiled(missing, preload=(hstest.LIB, path), rate=1,
                                prefix=os.path.join(self.dir, name + "-missing"))
        self.assert_same(run, self.run_plain(missing))

        cross = [torture.target("threads"), "cross", "4", "4", str(hstest.scale(1000))]
        run = self.run_profiled(cross, preload=(hstest.LIB, path), rate=1,
                                prefix=os.path.join(self.dir, name + "-cross"))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        self.assert_sites(self.valid_profiles(run), run.stdout)

        forks = [torture.target("processes"), "forks", "6", "3"]
        run = self.run_profiled(forks, preload=(hstest.LIB, path), rate=64,
                                prefix=os.path.join(self.dir, name + "-forks"))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "".join("child %d status 0\n" % i for i in range(6)))
        self.valid_profiles(run, at_least=8)

    def accounting(self, name, path):
        """The allocator's own figures under the profiler, and its own mmap and sbrk calls
        kept apart from the program's (tests/preload/targets/memparts.c)."""
        parts = hstest.target("memparts")
        # 400000 blocks of 256 bytes, 1 in 4 kept (25 MiB): 75 MiB the allocator keeps free.
        run = self.run_profiled([parts, "frag", "400000", "4"], preload=(hstest.LIB, path),
                                rate=1, prefix=os.path.join(self.dir, name + "-frag"))
        self.assertEqual(run.returncode, 0, run.stderr)
        _, _, meta = hstest.metadata(self.valid_profiles(run).path)
        self.assertEqual(meta["allocator"], name)
        self.assertEqual(int(meta["mmap.inuse"]), 0, meta)  # its arenas are not the program's
        self.assertNotIn("brk", meta)                       # nor is tcmalloc's sbrk
        if name == "mimalloc":
            # Its release build counts no bytes in use: no audit, its committed memory only.
            self.assertEqual(meta["audit"], "none")
            self.assertNotIn("allocator.inuse", meta)
            self.assertGreater(int(meta["allocator.mapped"]), 0)
        else:
            self.assertEqual(meta["audit"], "ok", meta)
            self.assertLess(abs(float(meta["audit.ratio"]) - 1), 0.05, meta)
            self.assertGreater(int(meta["allocator.free"]), 40 * 1024 * 1024, meta)
        run = self.run_profiled([parts, "mmap"], preload=(hstest.LIB, path), rate=1,
                                prefix=os.path.join(self.dir, name + "-mmap"))
        self.assertEqual(run.returncode, 0, run.stderr)
        _, _, meta = hstest.metadata(self.valid_profiles(run).path)
        self.assertEqual(int(meta["mmap.inuse"]), 22 * 1024 * 1024, meta)

    def test_jemalloc_accounting(self):
        self.accounting(*self.pick("jemalloc"))

    def test_tcmalloc_accounting(self):
        self.accounting(*self.pick("tcmalloc"))

    def test_mimalloc_accounting(self):
        self.accounting(*self.pick("mimalloc"))

    def test_jemalloc_beneath(self):
        self.beneath(*self.pick("jemalloc"))

    def test_tcmalloc_beneath(self):
        self.beneath(*self.pick("tcmalloc"))

    def test_mimalloc_beneath(self):
        self.beneath(*self.pick("mimalloc"))

    def pick(self, name):
        for n, path in installed():
            if n == name:
                return n, path
        self.skipTest("%s not installed (scripts/bootstrap.sh)" % name)

    def test_above_the_profiler_turns_it_off(self):
        for name, path in installed():
            argv = [torture.target("edge_matrix"), "portable"]
            plain = self.run_plain(argv, preload=(path,))
            run = self.run_profiled(argv, preload=(path, hstest.LIB), rate=1,
                                    prefix=os.path.join(self.dir, name))
            self.assert_same(run, plain, stderr=False)
            lines = run.stderr.splitlines()
            self.assertEqual(len(lines), 1, (name, run.stderr))
            self.assertIn("another library that defines malloc is loaded before the profiler",
                          lines[0])
            self.assertEqual(run.profiles(), [], name)


if __name__ == "__main__":
    hstest.main()
