"""Processes: forks without exec from a parent whose other threads allocate all along (each
child allocates, runs a thread, dumps through the API and exits cleanly, one forks a grandchild;
half the forks come from a non-main thread), fork+exec, vfork, posix_spawn, system() and popen()
with and without HEAPSAMPLER_FOLLOW_EXEC, and a daemon that double-forks while the parent exits
with threads still allocating. Exact mode: every child's profile shows exactly what it did."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402


def by_pid(files):
    out = {}
    for f in files:
        out.setdefault(int(re.search(r"\.(\d+)\.\d{4}\.pb", f).group(1)), []).append(f)
    return out


class Processes(torture.Case):
    def forks(self, n, **cfg):
        argv = [torture.target("processes"), "forks", str(n), "4"]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, **cfg)
        self.assert_same(run, plain)
        self.assertEqual(plain.stdout, "".join("child %d status 0\n" % i for i in range(n)))
        return run, by_pid(run.profiles())

    def test_fork_from_threaded_parent_exact(self):
        n = hstest.scale(10)
        run, pids = self.forks(n, rate=1)
        # The parent, n children and one grandchild each wrote their own files.
        self.assertEqual(len(pids), n + 2, sorted(pids))
        seen = set()
        for pid, files in pids.items():
            last = hstest.Profile(files[-1])
            rows = [(size, vals[0]) for vals, size in last.rows("child_site")]
            if last.site_values("grandchild_site")[0]:
                self.assertEqual(last.site_values("grandchild_site"), (7, 539, 7, 539))
                seen.add("grandchild")
                continue
            if not rows:
                continue  # the parent
            self.assertEqual(len(rows), 1, rows)
            size, count = rows[0]
            i = size - 100
            self.assertEqual(count, 50, (pid, rows))
            self.assertEqual(last.site_values("child_thread_site")[:1], (100,))
            # Even children also dumped through the API: two numbered files.
            self.assertEqual(len(files), 2 if i % 2 == 0 else 1, files)
            self.assertRegex(files[0], r"\.%d\.0000\.pb\.gz$" % pid)
            seen.add(i)
        self.assertEqual(seen, set(range(n)) | {"grandchild"})

    def test_fork_from_threaded_parent_tiny_rate(self):
        n = hstest.scale(16)
        run, pids = self.forks(n, rate=48, interval="10ms")
        self.assertEqual(len(pids), n + 2, sorted(pids))
        for files in pids.values():
            hstest.Profile(files[-1])

    def spawn(self, **cfg):
        argv = [torture.target("processes"), "spawn", "4"]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, **cfg)
        self.assert_same(run, plain)
        self.assertIn("popen read: leaf 5\n", plain.stdout)
        for how in ("fork+exec", "vfork", "posix_spawn", "system", "popen"):
            self.assertIn("%s status 0\n" % how, plain.stdout)
        return run

    def test_exec_children_passive(self):
        run = self.spawn(rate=64, follow_exec=0)
        pids = by_pid(run.profiles())
        self.assertEqual(len(pids), 1, pids)  # the parent only
        for f in list(pids.values())[0]:
            self.assertEqual(hstest.Profile(f).site_values("leaf_site"), (0, 0, 0, 0))

    def test_exec_children_followed(self):
        run = self.spawn(rate=1)  # the default
        leaves = []
        for files in by_pid(run.profiles()).values():
            prof = hstest.Profile(files[-1])
            for vals, size in prof.rows("leaf_site"):
                leaves.append((size - 1000, vals[0]))
        self.assertEqual(sorted(leaves), [(k, k + 1) for k in range(1, 6)])

    def test_daemon(self):
        argv = [torture.target("processes"), "daemon", "4"]
        plain = self.run_plain(argv)
        run = self.run_profiled(argv, rate=1)  # waits for the daemon too
        self.assert_same(run, plain)
        found = []
        for files in by_pid(run.profiles()).values():
            prof = hstest.Profile(files[-1])
            if prof.site_values("daemon_site")[0]:
                found.append(prof.site_values("daemon_site"))
        self.assertEqual(found, [(430, 129000, 30, 9000)])
        # The parent exited with its threads allocating and still wrote its exit profile.
        self.assertEqual(len(by_pid(run.profiles())), 2)


if __name__ == "__main__":
    hstest.main()
