"""The writer thread starts when it is first needed (writer_thread.h): a single-threaded program
that samples stays single-threaded (glibc's malloc keeps its single-threaded fast paths) and
still gets its exit profile; a program with a thread of its own, or a configured dump signal,
has the writer thread; the exit profile is complete either way."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402


class WriterStart(hstest.TempDirTest):
    def check(self, args, expect, **cfg):
        run = hstest.run_profiled([hstest.target("writer_start")] + args, self.dir, seed=1,
                                  **cfg)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "writer=%d\n" % expect)
        files = run.profiles()
        self.assertEqual(len(files), 1, files)
        # 4 MiB in 4 KiB blocks at 512 KiB: p = 1 - exp(-1/128), about 8 samples; seed 1 gives
        # a fixed count, and any sample must be attributed to the site.
        prof = hstest.Profile(files[0])
        self.assertGreater(prof.site_values("writer_start_site", ("alloc_objects",))[0], 0)

    def test_single_threaded_program_has_no_writer_thread(self):
        self.check([], 0)

    def test_program_thread_starts_writer(self):
        self.check(["thread"], 1)

    def test_dump_signal_starts_writer_at_init(self):
        self.check([], 1, dump_signal="USR2")

    def test_exact_mode_single_threaded(self):
        run = hstest.run_profiled([hstest.target("writer_start")], self.dir, rate=1)
        self.assertEqual(run.stdout, "writer=0\n")
        prof = hstest.Profile(run.last_profile())
        self.assertEqual(prof.site_values("writer_start_site"), (1024, 4194304, 0, 0))


if __name__ == "__main__":
    hstest.main()
