"""The loader: dlopen/dlclose storms in two threads (a module whose constructor allocates and
whose destructor frees, a module whose constructor dlopens another, and system libraries with
allocating constructors) while worker threads allocate inside the profiler's slow path and walk
the module list, and a thread asks for profiles back to back, so the writer reads the module
list while it changes; dlopen from the program's own constructor, and from the constructor of a
library linked into it. No deadlock (the watchdog), no crash, the same output as without the
profiler, and in exact mode every load's constructor allocation is counted and named after the
constructor of the module, unloaded by the time the profile is written."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402

SYSTEM_LIBS = [name for name in ("libsqlite3.so.0", "libxml2.so.2", "libcurl.so.4")
               if os.path.exists(os.path.join("/usr/lib/x86_64-linux-gnu", name))]


class Loader(torture.Case):
    def storm(self, iterations, **cfg):
        argv = [torture.target("loader"), "storm", str(iterations), "3"] + SYSTEM_LIBS
        extra = {"TORTURE_DL_INNER": torture.lib("dl_alloc")}
        plain = self.run_plain(argv, extra_env=extra)
        run = self.run_profiled(argv, extra_env=extra, **cfg)
        self.assert_same(run, plain, stderr=False)
        self.assertEqual(plain.stdout, "storm done: %d iterations, %d system libraries\n"
                         % (iterations, len(SYSTEM_LIBS)))
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), 1, run.stderr[-3000:])
        self.assertRegex(lines[0], r"^loader: \d+ API dumps$")
        return run

    def test_storm_exact(self):
        n = hstest.scale(60)
        run = self.storm(n, rate=1)
        last = self.valid_profiles(run, at_least=2)
        # Each load ran dl_storm's constructor (4321 B), each unload its destructor.
        ctor = [0, 0, 0, 0]
        for vals, locs, labels in last.samples:
            names = last.stack_names(locs)
            if labels.get("bytes") == ["4321"] and "storm_thread" in names:
                ctor = [a + b for a, b in zip(ctor, vals)]
                # Unloaded long before the profile was written, and still named right.
                self.assertEqual(names[0], "dl_storm_init", names)
        self.assertEqual(ctor, [n, n * 4321, 0, 0])
        self.assertGreater(last.site_values("dl_alloc_site")[0], 0)
        self.assertGreater(last.site_values("worker_site")[0], 0)
        # A library linked in is initialised before the profiler (README, Limitations): its
        # constructor's blocks are either not seen at all or counted exactly.
        self.assertIn(last.site_values("dl_needed_site"), [(0, 0, 0, 0), (5, 275, 5, 275)])

    def test_storm_tiny_rate(self):
        run = self.storm(hstest.scale(60), rate=32, interval="20ms")
        self.valid_profiles(run, at_least=2)


if __name__ == "__main__":
    hstest.main()
