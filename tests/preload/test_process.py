"""Processes: a child that forks without exec profiles into its own files (its pid in the
name) and keeps the parent's live allocations; a daemon that double-forks, calls setsid and
chdir("/") is still profiled, into the directory chosen at start. Every process that inherits
the library profiles itself, fork+exec children included, unless HEAPSAMPLER_FOLLOW_EXEC=0 (the
first process only) or HEAPSAMPLER_PROGRAMS names other programs (matched against the name it
was executed as, argv[0] or its binary); helpers that sample nothing leave no file; an exec in
the same process continues its series; every profile names its process in its comments."""
import os
import pwd
import re
import sys
import time

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
        cfg.setdefault("rate", 1)
        return hstest.run_profiled(["/bin/sh", "-c", script], self.dir, **cfg)

    def sites(self, run):
        """{pid: site_values("site_malloc") of its last profile}"""
        return {pid: hstest.Profile(files[-1]).site_values("site_malloc")
                for pid, files in hstest.by_pid(run.profiles()).items()}

    def test_exec_children_followed_by_default(self):
        # sh forks+execs the first command, execs the last one in place (same pid).
        exact = hstest.target("exact")
        run = self.sh("%s >/dev/null; echo child done; exec %s" % (exact, exact))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(list(self.sites(run).values()), [(1000, 100000, 1000, 100000)] * 2)

    def test_follow_exec_off_keeps_to_the_first_process(self):
        exact = hstest.target("exact")
        run = self.sh("%s >/dev/null; echo child done; exec %s" % (exact, exact),
                      follow_exec=0)
        self.assertEqual(run.returncode, 0, run.stderr)
        # Only the exec'd-in-place image (the shell's pid) wrote a profile.
        self.assertEqual(list(self.sites(run).values()), [(1000, 100000, 1000, 100000)])

    def test_programs_filter(self):
        exact = hstest.target("exact")
        script = "%s >/dev/null; %s >/dev/null; true" % (exact, exact)
        for programs, expected in (("hs_target_exact", 2), ("hs_target_ex*,nothing", 2),
                                   ("nothing*,hs_target_exac", 0)):
            with self.subTest(programs=programs):
                out = os.path.join(self.dir, programs.replace("*", "_"))
                os.mkdir(out)
                run = hstest.run_profiled(["/bin/sh", "-c", script], out, rate=1,
                                          programs=programs)
                self.assertEqual(run.returncode, 0, run.stderr)
                self.assertEqual(run.stderr, "")
                sites = self.sites(run)
                self.assertEqual(len(sites), expected, sites)
                self.assertEqual(list(sites.values()), [(1000, 100000, 1000, 100000)] * expected)

    def test_names_executed_by_a_symlink(self):
        # A program is known by the name it was executed as and by its binary's name.
        link = os.path.join(self.dir, "renamed")
        os.symlink(hstest.target("exact"), link)
        for programs in ("renamed", "hs_target_exact"):
            with self.subTest(programs=programs):
                out = os.path.join(self.dir, "out-" + programs)
                os.mkdir(out)
                run = hstest.run_profiled([link, "quiet"], out, rate=1, programs=programs)
                self.assertEqual(run.returncode, 0, run.stderr)
                (path,) = run.profiles()
                header, m = hstest.meta(path)
                self.assertEqual(header, "heapsampler 0.1.0 (exit)")
                self.assertEqual(m["program"], "renamed")
                self.assertEqual(m["exe"], link)  # the path as executed, not the link's target
                self.assertEqual(m["cmdline"], link + " quiet")
                self.assertNotIn("title", m)  # the command line was not rewritten
                self.assertEqual(int(m["pid"]), int(re.search(r"\.(\d+)\.0000", path).group(1)))
                prof = hstest.SymProfile(path)
                self.assertEqual(prof.map_files[1][0], link)  # the main mapping's file
        out = os.path.join(self.dir, "none")
        os.mkdir(out)
        run = hstest.run_profiled([link], out, rate=1, programs="hs_target_exac")
        self.assertEqual(run.profiles(), [])

    def test_children_write_where_the_first_process_resolved(self):
        # A relative prefix is resolved by the first process and passed on absolute: a child
        # that starts in another directory writes next to the first one's files.
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.mkdir(elsewhere)
        run = hstest.run_profiled(["/bin/sh", "-c", "%s >/dev/null; cd %s && exec %s"
                                   % ((hstest.target("exact"), elsewhere,
                                       hstest.target("exact")))],
                                  self.dir, rate=1, output="rel", cwd=self.dir)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(hstest.by_pid(run.profiles())), 2, os.listdir(self.dir))
        self.assertEqual(os.listdir(elsewhere), [])

    def test_metadata_times(self):
        before = time.time_ns()
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1)
        after = time.time_ns()
        (path,) = run.profiles()
        _, m = hstest.meta(path)
        started, last = int(m["started"]), int(m["last_sample"])
        self.assertLessEqual(before, started)
        self.assertLessEqual(started, after)
        # last_sample comes from the coarse clock: up to a tick (10 ms at HZ=100) behind.
        self.assertLessEqual(before - 10**7, last)
        self.assertLessEqual(last, after)

    def test_helpers_leave_no_files(self):
        # At a rate so large that nothing is sampled, the shell's helpers (env, sleep, a
        # subshell, sh -c) write nothing; the first process (the exec'd target, in the shell's
        # pid) writes its exit profile all the same.
        run = self.sh("env true; sleep 0; (true); sh -c 'true; true'; exec %s"
                      % hstest.target("exact"), rate="1G", seed=7, verbose=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        files = hstest.by_pid(run.profiles())
        self.assertEqual(len(files), 1, files)
        (pid, paths), = files.items()
        self.assertEqual(len(paths), 1)
        _, m = hstest.meta(paths[0])
        self.assertEqual(m["program"], "hs_target_exact")
        self.assertNotIn("last_sample", m)
        # (sleep closes stderr before it exits: only true, exec'd by env, can say so.)
        skipped = re.findall(r"pid \d+ \((\S+)\): no profile at exit", run.stderr)
        self.assertIn("true", skipped, run.stderr)

    def test_exec_continues_the_series(self):
        execer = hstest.target("execer")
        run = hstest.run_profiled([execer, "2", hstest.target("exact"), "quiet"], self.dir,
                                  rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        pid = pids(run.stdout)["execer"]
        files = run.profiles(pid)
        self.assertEqual([f[-10:] for f in files], ["0000.pb.gz", "0001.pb.gz", "0002.pb.gz"])
        metas = [hstest.meta(f) for f in files]
        self.assertEqual([h for h, _ in metas], ["heapsampler 0.1.0 (api)"] * 2 +
                         ["heapsampler 0.1.0 (exit)"])
        self.assertEqual([m["program"] for _, m in metas],
                         ["hs_target_execer", "hs_target_execer", "hs_target_exact"])
        # Two images: each has its own start.
        self.assertEqual(metas[0][1]["started"], metas[1][1]["started"])
        self.assertLess(int(metas[1][1]["started"]), int(metas[2][1]["started"]))
        self.assertEqual(hstest.Profile(files[1]).site_values("execer_site"),
                         (100, 100000, 100, 100000))
        self.assertEqual(hstest.Profile(files[2]).site_values("site_malloc"),
                         (1000, 100000, 1000, 100000))


class SwitchedUser(hstest.TempDirTest):
    """A process that runs as another user than the one who made the output directory, as a
    server's workers do once they drop privileges."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root, to run a program as nobody")
        self.nobody = pwd.getpwnam("nobody")
        os.chmod(self.dir, 0o755)

    def as_nobody(self):
        os.setgid(self.nobody.pw_gid)
        os.setuid(self.nobody.pw_uid)

    def test_refused_directory_names_the_user(self):
        out = os.path.join(self.dir, "locked")
        os.mkdir(out, 0o755)
        run = hstest.run_profiled([hstest.target("exact")], out, rate=1,
                                  preexec_fn=self.as_nobody)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(os.listdir(out), [])
        ours = [line for line in run.stderr.splitlines() if line.startswith("heapsampler:")]
        self.assertEqual(len(ours), 1, run.stderr)
        self.assertRegex(ours[0], r"^heapsampler: cannot write profile %s/prof\.\d+\.0000\.pb\.gz: "
                         r"Permission denied: this process runs as uid %d \(nobody\), which "
                         r"may not create files in %s \(owner uid 0, mode 0755\)"
                         % (re.escape(out), self.nobody.pw_uid, re.escape(out)))

    def test_sticky_world_writable_directory(self):
        out = os.path.join(self.dir, "open")
        os.mkdir(out)
        os.chmod(out, 0o1777)
        run = hstest.run_profiled([hstest.target("exact")], out, rate=1,
                                  preexec_fn=self.as_nobody)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")
        (path,) = run.profiles()
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (self.nobody.pw_uid, 0o600))
        self.assertEqual(hstest.Profile(path).site_values("site_malloc"),
                         (1000, 100000, 1000, 100000))


if __name__ == "__main__":
    hstest.main()
