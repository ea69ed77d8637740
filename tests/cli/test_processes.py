"""Many processes: how `leaks`, `run` and `check` speak of every process of a command.

`leaks` names each process as its profiles' metadata name it (README "Profile comments": the
title a server gives itself, else its command line, else its program), keeps two program
images of one pid apart (an exec in place continues the pid's numbering with another `started`),
and judges a process with too few profiles for a trend: idle when it sampled nothing after the
first half of a life of at least 3 profile intervals (stable), too short-lived otherwise. These
series are written by tests/lib/pprofgen.py with chosen metadata.

`run` lists every process that wrote profiles during the run, and only those; `check` judges
every process a command starts (a server started by a script like one started directly),
passes an idle one, narrows to programs with --programs or to the first process with
--follow-exec 0, and does not give up because a short-lived helper could not be judged. These
run the trend target (tests/preload/targets/trend.c) under the real library.
"""
import functools
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import pprofgen  # noqa: E402

CLI = hstest.CLI
T0 = 1767225600 * 10**9  # 2026-01-01 00:00:00 UTC
S = 10**9
LEAK = ["leak_records", "main"]
IDLE = "postgres: postgres postgres [local] idle"


def quoted(value):
    """A metadata value as the library writes it (percent-encoded)."""
    return "".join(c if 0x20 < ord(c) < 0x7f and c not in "%=" else
                   "".join("%%%02X" % b for b in c.encode()) for c in value)


def profile(time_nanos, live, **meta):
    comments = ["heapsampler 0.1.0 (interval)"]
    if meta:
        comments.append(" ".join("%s=%s" % (k, quoted(str(v))) for k, v in meta.items()))
    p = pprofgen.Profile(time_nanos, comments=comments)
    p.add(LEAK, 4096, allocs=live, live=live)
    return p


class LeaksTest(hstest.TempDirTest):

    cli = functools.partialmethod(hstest.TempDirTest.cli, check_rc=0)

    def write(self, pid, seq, prof):
        prof.write(os.path.join(self.dir, "heapsampler.%d.%04d.pb.gz" % (pid, seq)))

    def series(self, pid, n, first=0, start=T0, **meta):
        for i in range(n):
            self.write(pid, first + i, profile(start + (i + 1) * S, 100 * (i + 1), **meta))

    def test_header_names_the_process(self):
        self.series(4242, 4, program="postgres", cmdline="/usr/bin/postgres -D /data",
                    title=IDLE)
        self.series(4243, 4, program="postgres", cmdline="/usr/bin/postgres -D /data")
        self.series(4244, 4, program="server")
        self.series(4245, 4, cmdline="x" * 150)
        self.series(4246, 4)
        out = self.cli("leaks", ".").stdout
        heads = re.findall(r"(?m)^heapsampler leaks: (.*), 4 profiles over", out)
        self.assertEqual(heads, ["pid 4242 " + IDLE, "pid 4243 /usr/bin/postgres -D /data",
                                 "pid 4244 server", "pid 4245 " + "x" * 97 + "...", "pid 4246"])
        procs = json.loads(self.cli("leaks", "--json", ".").stdout)["processes"]
        self.assertEqual([(p["program"], p["title"]) for p in procs[:3]],
                         [("postgres", IDLE), ("postgres", "/usr/bin/postgres -D /data"),
                          ("server", None)])

    def test_exec_images_are_separate_processes(self):
        # A script ran 3 profiles' worth, then exec'd the server in its place: one pid, two
        # starts, one numbering.
        self.series(4242, 3, program="start.sh", started=T0)
        self.series(4242, 5, first=3, start=T0 + 3 * S, program="server", started=T0 + 3 * S)
        procs = json.loads(self.cli("leaks", "--json", ".").stdout)["processes"]
        self.assertEqual([(p["pid"], p["program"], p["profiles"]) for p in procs],
                         [(4242, "start.sh", 3), (4242, "server", 5)])
        # Each is its own series: the server's rows are not compared with the script's.
        self.assertEqual([len(p["time_nanos"]) for p in procs], [3, 5])

    def test_idle_process_is_stable(self):
        # Allocated in its first 100 ms, then lived 10 s: one profile (at exit).
        self.write(4242, 0, profile(T0 + 10 * S, 500, program="nginx", started=T0,
                                    last_sample=T0 + S // 10, interval=S // 10))
        r = self.cli("leaks", ".")
        self.assertIn("heapsampler leaks: pid 4242 nginx: 1 profile, 251 MiB at the end; no "
                      "allocation sampled after its first 100 ms (of 10.0 s): stable", r.stdout)
        (p,) = json.loads(self.cli("leaks", "--json", ".").stdout)["processes"]
        self.assertEqual(p["verdict"], "stable")
        self.assertEqual(p["idle"], {"last_sample_after": 0.1, "life": 10,
                                     "last": pprofgen.estimate(500, 4096, 524288)[1]})
        # No sample of its own at all (a forked worker that only waits).
        self.write(4243, 0, profile(T0 + 10 * S, 500, started=T0, interval=S // 10))
        r = self.cli("leaks", ".")
        self.assertIn("pid 4243: 1 profile, 251 MiB at the end; no allocation of its own "
                      "sampled in its 10.0 s: stable", r.stdout)
        procs = json.loads(self.cli("leaks", "--json", ".").stdout)["processes"]
        self.assertIsNone(procs[1]["idle"]["last_sample_after"])
        # Sampled at once: last_sample comes from a coarse clock and may precede the start.
        self.write(4244, 0, profile(T0 + 10 * S, 500, started=T0, last_sample=T0 - 3 * 10**6,
                                    interval=S // 10))
        self.assertIn("pid 4244: 1 profile, 251 MiB at the end; no allocation sampled after "
                      "its first 0 ms (of 10.0 s): stable", self.cli("leaks", ".").stdout)

    def test_few_profiles_that_are_not_idle(self):
        # Lived 200 ms with profiles every 100 ms: too short for 3 of them.
        self.write(4242, 0, profile(T0 + S // 5, 5, started=T0, last_sample=T0 + S // 100,
                                    interval=S // 10))
        r = self.cli("leaks", ".", check_rc=2)
        self.assertIn("a trend needs at least 3 profiles (got 1): it lived 200 ms, less than "
                      "3 profile intervals of 100 ms", r.stderr)
        os.unlink(os.path.join(self.dir, "heapsampler.4242.0000.pb.gz"))
        # Lived long, but sampled until late in its life: no verdict without a trend.
        self.write(4243, 0, profile(T0 + 10 * S, 5, started=T0, last_sample=T0 + 9 * S,
                                    interval=S // 10))
        r = self.cli("leaks", ".", check_rc=2)
        self.assertIn("a trend needs at least 3 profiles (got 1)", r.stderr)
        self.assertNotIn("it lived", r.stderr)
        # Without the metadata (another writer, an older version): skipped as before.
        self.write(4244, 0, profile(T0 + 10 * S, 5))
        self.write(4244, 1, profile(T0 + 11 * S, 5))
        self.write(4245, 0, profile(T0 + 10 * S, 5, program="x"))
        r = self.cli("leaks", ".", check_rc=2)
        self.assertIn("no process has 3 profiles", r.stderr)


class CommandsTest(hstest.TempDirTest):
    """run and check on commands that start several processes."""

    def setUp(self):
        super().setUp()
        self.tmp = os.path.join(self.dir, "tmp")
        os.mkdir(self.tmp)
        self.trend = hstest.target("trend")

    def cli(self, *args, check_rc=None):
        r = subprocess.run([CLI, *args], cwd=self.dir, env=hstest.clean_env(TMPDIR=self.tmp),
                           capture_output=True, text=True, timeout=hstest.TIMEOUT)
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, r.stdout + r.stderr)
        return r

    def check(self, *args, check_rc=None):
        return self.cli("check", "--rate", "64K", *args, check_rc=check_rc)

    def listed(self, stderr):
        """{pid: (label, count)} of run's listing."""
        return {int(pid): (label, int(n)) for pid, label, n in re.findall(
            r"(?m)^heapsampler: (?:  )?pid (\d+)([^\n]*?): (\d+) profiles? written:", stderr)}

    def test_run_lists_every_process(self):
        exact = hstest.target("exact")
        r = self.cli("run", "-o", "out/", "--rate", "1", "--", "sh", "-c",
                     "%s >/dev/null; exec %s >/dev/null" % (exact, exact), check_rc=0)
        self.assertRegex(r.stderr, r"(?m)^heapsampler: 2 processes wrote 2 profiles:$")
        listed = self.listed(r.stderr)
        self.assertEqual(sorted(listed.values()), [(" hs_target_exact", 1)] * 2, r.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "out"))),
                         sorted("heapsampler.%d.0000.pb.gz" % pid for pid in listed))
        # A second run lists its own files only.
        r = self.cli("run", "-o", "out/", "--rate", "1", "--", exact, check_rc=0)
        (pid,) = self.listed(r.stderr)
        self.assertNotIn(pid, listed)
        self.assertNotIn("processes wrote", r.stderr)

    def test_run_creates_the_output_directory(self):
        r = self.cli("run", "-o", "new/", "--", hstest.target("exact"), check_rc=0)
        mode = os.stat(os.path.join(self.dir, "new")).st_mode & 0o7777
        # Run as root, the command may switch users: sticky and world-writable, as /tmp.
        self.assertEqual(mode, 0o1777 if os.geteuid() == 0 else 0o700)
        self.assertEqual(len(self.listed(r.stderr)), 1, r.stderr)
        # An existing directory keeps its mode.
        os.mkdir(os.path.join(self.dir, "mine"), 0o750)
        self.cli("run", "-o", "mine/", "--", hstest.target("exact"), check_rc=0)
        self.assertEqual(os.stat(os.path.join(self.dir, "mine")).st_mode & 0o7777, 0o750)

    def test_check_judges_every_process_of_a_script(self):
        # The leak is a child of the shell, not the process check started.
        r = self.check("--", "sh", "-c", "%s leak 30; %s noise 30" % (self.trend, self.trend),
                       check_rc=1)
        self.assertRegex(r.stderr, r"(?m)^heapsampler check: 2 processes wrote profiles: "
                                   r"pid \d+ hs_target_trend \(\d+ profiles\), pid \d+ "
                                   r"hs_target_trend \(\d+ profiles\)$")
        fails = re.findall(r"(?m)^heapsampler check: FAIL: (.*)$", r.stderr)
        self.assertEqual(len(fails), 1, r.stderr)
        self.assertRegex(fails[0], r"^pid \d+ \S+hs_target_trend leak 30: leak suspect "
                                   r"leak_records grows ")
        # Narrowed to the first process, the leaking child is not profiled.
        r = self.check("--follow-exec", "0", "--", "sh", "-c",
                       "%s leak 30; exec %s noise 30" % (self.trend, self.trend), check_rc=0)
        self.assertIn("heapsampler check: 1 process wrote profiles", r.stderr)
        self.assertIn("hs_target_trend noise 30", r.stderr)
        # --programs selects by name.
        r = self.check("--programs", "hs_target_*", "--", "sh", "-c",
                       "%s leak 30; true" % self.trend, check_rc=1)
        r = self.check("--programs", "redis-server", "--", self.trend, "exit", "0",
                       check_rc=125)
        self.assertIn("no profile was written", r.stderr)
        self.cli("check", "--programs", "a/b", "true", check_rc=2)

    def test_check_passes_an_idle_process(self):
        r = self.check("--max-growth", "1M/h", "--", self.trend, "idle", "500", check_rc=0)
        self.assertRegex(r.stderr, r"(?m)^heapsampler leaks: pid \d+ \S+ idle 500: 1 profile, "
                                   r"\S+ MiB at the end; no allocation sampled after its "
                                   r"first \d+ ms \(of \d+ ms\): stable$")
        self.assertIn("heapsampler check: passed", r.stderr)

    def test_check_is_not_stopped_by_a_short_lived_helper(self):
        # --max-growth given: a helper over at once has no trend, the idle one is judged.
        r = self.check("--max-growth", "1M/h", "--", "sh", "-c",
                       "%s exit 0; %s idle 500" % (self.trend, self.trend), check_rc=0)
        self.assertRegex(r.stderr, r"(?m)^heapsampler check: pid \d+ \S+ exit 0: no leak "
                                   r"check: a trend needs at least 3 profiles \(got 1\): it "
                                   r"lived [\d.]+ ms, less than 3 profile intervals of 100 ms")
        # --max-leaked: a process that ended with _exit is not checked when another wrote
        # its exit profile; with none, check cannot do its job.
        r = self.check("--max-leaked", "64M", "--", "sh", "-c",
                       "%s quit 0; exec %s exit 0" % (self.trend, self.trend), check_rc=0)
        self.assertRegex(r.stderr, r"(?m)^heapsampler check: pid \d+ \S+ quit 0: no "
                                   r"--max-leaked check: no profile was written at exit$")
        self.check("--max-leaked", "64M", "--", self.trend, "quit", "0", check_rc=125)


if __name__ == "__main__":
    hstest.main()
