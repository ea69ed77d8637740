"""Signals: a SIGPROF storm (an interval timer, per-thread CPU timers and a thread sending
SIGPROF back to back) whose handlers malloc, realloc, calloc and free while the threads they
interrupt are inside the profiler's hooks and slow paths, and fork now and then; the dump signal (a classic and a
real-time one) sent in bursts with kill, pthread_kill and sigqueue while threads allocate, the
last burst racing the program's exit. No deadlock (watchdog), no crash, output unchanged, every
profile complete and valid."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


class Signals(torture.Case):
    def storm(self, mode="prof", iterations=60000, **cfg):
        # Beneath the hooks, glibc's allocator runs with signals blocked (libs/sigsafe.c), so
        # the handlers can only interrupt the profiler, never glibc's non-reentrant malloc.
        sigsafe = torture.lib("sigsafe")
        argv = [torture.target("signals"), mode, "4", str(hstest.scale(iterations))]
        plain = self.run_plain(argv, preload=(sigsafe,))
        run = self.run_profiled(argv, preload=(hstest.LIB, sigsafe), **cfg)
        self.assert_same(run, plain, stderr=False)
        forks = r"signals: \d+ forks from handlers\n" if mode == "fork" else ""
        for out in (plain.stderr, run.stderr):
            self.assertRegex(out, r"^signals: \d+ handled\n%s$" % forks)
        handled = int(re.search(r"(\d+)", run.stderr).group(1))
        self.assertGreater(handled, 100)
        prof = self.valid_profiles(run)
        self.assertGreater(prof.site_values("busy_site")[0], 0)
        return prof

    def test_sigprof_storm_exact(self):
        self.storm(rate=1, interval="10ms")

    def test_sigprof_storm_tiny_rate(self):
        prof = self.storm(rate=16, interval="10ms")
        self.assertGreater(prof.site_values("handler_site")[0], 0)

    def test_fork_from_handlers(self):
        # A fork from a handler that may have interrupted the profiler: the child must not
        # trust the tables (it stops profiling), the parent goes on, nothing deadlocks.
        for rate in ("1", "16"):
            self.storm(mode="fork", iterations=20000, rate=rate, interval="10ms",
                       prefix=os.path.join(self.dir, "r" + rate))

    def bursts(self, name, number):
        n = hstest.scale(10)
        argv = [torture.target("signals"), "dump", str(number), str(n), "30"]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, rate=64, dump_signal=name)
        self.assert_same(run, plain)
        self.assertEqual(plain.stdout, "dump done: %d bursts of 30\n" % n)
        self.valid_profiles(run, at_least=2)
        files = run.profiles()
        seqs = [int(re.search(r"\.(\d{4})\.pb", f).group(1)) for f in files]
        self.assertEqual(seqs, list(range(len(files))))
        reasons = [torture.reason(f) for f in files]
        self.assertEqual(reasons[-1], "exit")
        self.assertEqual(set(reasons[:-1]), {"signal"})

    def test_dump_signal_bursts(self):
        self.bursts("USR2", signal.SIGUSR2)

    def test_realtime_dump_signal_bursts(self):
        self.bursts("RTMIN+1", signal.SIGRTMIN + 1)


if __name__ == "__main__":
    hstest.main()
