"""What `heapsampler run` and `check` say when the command dies of a signal: killed by the OOM
killer (SIGKILL, and the OOM-kill counter of its memory cgroup moved while it ran: a real one,
in a group limited to 128 MiB, tests/lib/cgroups.py; skipped with the reason where none can be
made), killed by SIGKILL from someone else, or by another signal; each time its last profile,
why it was written and the site that held the most in it, its peak profile, and the temporary
file of an interrupted write removed. The leaking target is tests/preload/targets/leaker.c;
its leak_site holds about 110 MiB at the 95% profile, estimated from some 170 samples (6%, 1
sigma), so "more than half of the limit" is more than 6 sigma away from failing."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cgroups  # noqa: E402
import hstest  # noqa: E402

CLI = hstest.CLI
MIB = 1 << 20
LIMIT = 128 * MIB
LEAKER = hstest.target("leaker")


def children(pid):
    """The pids of pid's children (/proc/<pid>/task/<pid>/children)."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


class Postmortem(hstest.TempDirTest):
    def cli(self, *args, preexec_fn=None):
        return subprocess.run([CLI, *args], cwd=self.dir, env=hstest.clean_env(
            HEAPSAMPLER_INTERVAL="1h"), capture_output=True, text=True, timeout=hstest.TIMEOUT,
            preexec_fn=preexec_fn)

    def assert_last_profile(self, stderr, who, shown):
        """The line naming the last profile: the 95% threshold's, leak_site holding most."""
        m = re.search(r"^%s: its last profile: %s(\S+\.\d+\.(\d{4})\.pb\.gz)(.*), written for "
                      r"memory \(95%% of 128 MiB\): leak_site holds ([\d.]+) MiB, (\d+)%% of "
                      r"the 128 MiB limit$" % (re.escape(who), re.escape(shown)), stderr, re.M)
        self.assertIsNotNone(m, stderr)
        self.assertGreater(float(m.group(4)), 64, "most of the limit")
        self.assertRegex(stderr, r"(?m)^%s: its peak profile: %s\S+\.\d+\.peak\.pb\.gz, written "
                         r"for (peak|memory) \(\d+%% of 128 MiB\)$" % (re.escape(who),
                                                                       re.escape(shown)))
        return m

    def test_run_says_the_oom_killer_did_it(self):
        os.mkdir(os.path.join(self.dir, "out"))
        with cgroups.MemoryGroup(LIMIT) as g:
            r = self.cli("run", "-o", "out/", "--", LEAKER, "-r", "64", preexec_fn=g.join)
            group = g.path
        self.assertEqual(r.returncode, 128 + signal.SIGKILL, r.stderr)
        self.assertIn("(Killed)\n", r.stderr)
        self.assertRegex(r.stderr, r"(?m)^heapsampler: %s \(pid \d+\) was killed by the OOM "
                         r"killer: its memory cgroup %s \(limit 128 MiB\) counted 1 OOM kill "
                         r"while it ran$" % (re.escape(LEAKER), re.escape(group)))
        m = self.assert_last_profile(r.stderr, "heapsampler", "./out/")
        self.assertEqual(m.group(2), "0002", "the third: 70, 85 and 95% of the limit")
        self.assertRegex(r.stderr, r"(?m)^heapsampler: pid \d+ hs_target_leaker: 3 profiles "
                         r"written: "
                         r"\./out/\S+0000\.pb\.gz "
                         r"\S+0001\.pb\.gz \S+0002\.pb\.gz; peak profile: \./out/\S+\.peak\.pb\.gz$")
        self.assertFalse([f for f in os.listdir(os.path.join(self.dir, "out")) if ".tmp." in f])

    def test_check_says_the_oom_killer_did_it(self):
        with cgroups.MemoryGroup(LIMIT) as g:
            r = self.cli("check", "--keep", "kept", "--interval", "1h", "--", LEAKER, "-r", "64",
                         preexec_fn=g.join)
        self.assertEqual(r.returncode, 128 + signal.SIGKILL, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^heapsampler check: %s \(pid \d+\) was killed by the OOM "
                         r"killer: its memory cgroup \S+ \(limit 128 MiB\) counted 1 OOM kill "
                         r"while it ran$" % re.escape(LEAKER))
        kept = os.path.realpath(os.path.join(self.dir, "kept")) + "/"
        self.assert_last_profile(r.stderr, "heapsampler check", kept)
        # The threshold profiles are the points of the series; the peak profile is named beside.
        self.assertRegex(r.stderr, r"(?m)^heapsampler leaks: pid \d+ %s -r 64, 3 profiles over "
                         % re.escape(LEAKER))
        self.assertRegex(r.stderr, r"(?m)^  profiles written for: 3 memory \(70%, 85%, 95% of "
                         r"128 MiB\)$")
        self.assertRegex(r.stderr, r"(?m)^  peak profile: \S+\.peak\.pb\.gz, written for ")
        self.assertRegex(r.stderr, r"(?m)^heapsampler check: FAIL: pid \d+ %s -r 64: leak suspect "
                         r"leak_site" % re.escape(LEAKER))
        self.assertIn("failed (status 137): passing its status through", r.stderr)

    def killed_while_waiting(self, sig):
        """`run` a leaker that holds 20 MiB and waits; send it sig. Plants a temporary file of
        an interrupted write of its own, and one of another process."""
        out = os.path.join(self.dir, "out")
        os.mkdir(out)
        proc = subprocess.Popen([CLI, "run", "-o", "out/", "--memory-limit", "24M", "--", LEAKER,
                                 "-r", "200", "-m", "20", "-w"], cwd=self.dir,
                                env=hstest.clean_env(HEAPSAMPLER_INTERVAL="1h"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stdout:
                if line.startswith("leaker: waiting"):
                    break
            pid = children(proc.pid)[0]
            for owner in (pid, pid + 1):
                open(os.path.join(out, "heapsampler.%d.0009.pb.gz.tmp.0123456789abcdef" % owner),
                     "w").close()
            os.kill(pid, sig)
            _, err = proc.communicate(timeout=hstest.TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        left = sorted(f for f in os.listdir(out) if ".tmp." in f)
        self.assertEqual(left, ["heapsampler.%d.0009.pb.gz.tmp.0123456789abcdef" % (pid + 1)],
                         "the dead process's temporary file is removed, and only that")
        return proc.returncode, err, pid

    def test_sigkill_from_someone_else(self):
        rc, err, pid = self.killed_while_waiting(signal.SIGKILL)
        self.assertEqual(rc, 128 + signal.SIGKILL, err)
        self.assertNotIn("was killed by the OOM killer", err)
        self.assertRegex(err, r"(?m)^heapsampler: %s \(pid %d\) was killed by SIGKILL(, not by the "
                         r"OOM killer: its memory cgroup \S+ counted no OOM kill while it ran|; "
                         r"whether by the OOM killer cannot be told \(it runs in no memory "
                         r"cgroup that counts OOM kills\))$" % (re.escape(LEAKER), pid))
        # Its last profile: the 70% threshold of the 24 MiB given.
        self.assertRegex(err, r"(?m)^heapsampler: its last profile: \./out/heapsampler\.%d\.\d{4}"
                         r"\.pb\.gz, written for memory \(\d+%% of 24\.0 MiB\): leak_site holds "
                         % pid)

    def test_another_signal(self):
        rc, err, pid = self.killed_while_waiting(signal.SIGSEGV)
        self.assertEqual(rc, 128 + signal.SIGSEGV, err)
        self.assertNotIn("OOM", err)
        self.assertRegex(err, r"(?m)^heapsampler: its last profile: \./out/heapsampler\.%d\." % pid)

    def test_an_exit_says_nothing_more(self):
        r = self.cli("run", "-o", "prof", "--", LEAKER, "-r", "200", "-m", "4")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)


if __name__ == "__main__":
    hstest.main()
