"""Processes: a child that forks without exec profiles into its own files (its pid in the
name) and keeps the parent's live allocations; a daemon that double-forks, calls setsid and
chdir("/") is still profiled, into the directory chosen at start; fork+exec children are
passive unless HEAPSAMPLER_FOLLOW_EXEC=1; an exec in the same process is profiled."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402


def pids(stdout):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stdout)}


class Fork(hstest.TempDirTest):
    def test_child_profiles_itself(self):
        run = hstest.run_profiled([hstest.target("forker"), "fork"], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        p = pids(run.stdout)
        parent = hstest.Profile(run.last_profile(p["parent"]))
        child_files = run.profiles(p["child"])
        self.assertEqual(len(child_files), 1, child_files)
        self.assertRegex(child_files[0], r"\.%d\.0000\.pb\.gz$" % p["child"])
        child = hstest.Profile(child_files[0])
        self.assertEqual(child.site_values("child_site"), (200, 100000, 200, 100000))
        # The child's heap still holds what the parent allocated before fork.
        self.assertEqual(child.site_values("parent_site"), (100, 100000, 100, 100000))
        self.assertEqual(parent.site_values("parent_site"), (100, 100000, 100, 100000))
        self.assertEqual(parent.site_values("child_site"), (0, 0, 0, 0))

    def test_daemon_is_profiled(self):
        # The relative prefix must be resolved at start: the daemon chdirs to /.
        run = hstest.run_profiled([hstest.target("forker"), "daemon"], self.dir, rate=1,
                                  output="dprof", cwd=self.dir)
        self.assertEqual(run.returncode, 0, run.stderr)
        p = pids(run.stdout)
        self.assertIn("daemon", p, run.stdout)
        files = [f for f in os.listdir(self.dir) if f.startswith("dprof.%d." % p["daemon"])]
        self.assertEqual(len(files), 1, os.listdir(self.dir))
        prof = hstest.Profile(os.path.join(self.dir, files[0]))
        self.assertEqual(prof.site_values("daemon_site"), (300, 210000, 300, 210000))


class Exec(hstest.TempDirTest):
    def sh(self, script, **cfg):
        return hstest.run_profiled(["/bin/sh", "-c", script], self.dir, rate=1, **cfg)

    def test_exec_children_not_followed_by_default(self):
        # sh forks+execs the first command, execs the last one in place (same pid).
        exact = hstest.target("exact")
        run = self.sh("%s >/dev/null; echo child done; exec %s" % (exact, exact))
        self.assertEqual(run.returncode, 0, run.stderr)
        by_pid = {}
        for f in run.profiles():
            by_pid.setdefault(int(re.search(r"\.(\d+)\.\d+\.pb", f).group(1)), []).append(f)
        # Only the exec'd-in-place image (the shell's pid) wrote a profile.
        self.assertEqual(len(by_pid), 1, by_pid)
        prof = hstest.Profile(list(by_pid.values())[0][-1])
        self.assertEqual(prof.site_values("site_malloc"), (1000, 100000, 1000, 100000))

    def test_follow_exec(self):
        exact = hstest.target("exact")
        run = self.sh("%s >/dev/null; %s >/dev/null; true" % (exact, exact), follow_exec=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        with_site = 0
        for f in run.profiles():
            if hstest.Profile(f).site_values("site_malloc")[0] == 1000:
                with_site += 1
        self.assertEqual(with_site, 2)


if __name__ == "__main__":
    hstest.main()
