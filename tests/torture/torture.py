"""torture - what the torture drivers share.

Every run goes through hstest.run_watched (the deadlock watchdog: a run that does not finish in
time is a failure, with every thread's stack printed by gdb). Targets come from
tests/torture/targets (hs_torture_<name>), libraries from tests/torture/libs
(libhs_torture_<name>.so). Counts scale with HS_TORTURE_SCALE (hstest.scale).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402,F401  (re-exported for the drivers)

TIMEOUT = 120


def target(name):
    path = os.path.join(hstest.BUILD, "tests", "hs_torture_" + name)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def lib(name):
    path = os.path.join(hstest.BUILD, "tests", "libhs_torture_" + name + ".so")
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def make_env(preload=(), extra=None, **cfg):
    """A clean environment with LD_PRELOAD=preload (in order) and HEAPSAMPLER_<KEY>=value."""
    env = hstest.clean_env(**{"HEAPSAMPLER_" + k.upper(): v for k, v in cfg.items()})
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def expectations(stdout):
    """{site: (alloc_objects, alloc_space, inuse_objects or None)} from the lines a target
    prints: '<site> objects=N bytes=B [inuse=I]'."""
    out = {}
    for m in re.finditer(r"^(\w+_site) objects=(\d+) bytes=(\d+)(?: inuse=(\d+))?$", stdout,
                         re.M):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)),
                           int(m.group(4)) if m.group(4) is not None else None)
    return out


def comments(path):
    """The profile's comments (`go tool pprof -comments`)."""
    out = subprocess.run(["go", "tool", "pprof", "-comments", path], capture_output=True,
                         text=True, timeout=hstest.TIMEOUT)
    if out.returncode != 0:
        raise AssertionError("pprof could not read %s: %s" % (path, out.stderr))
    return out.stdout.splitlines()


def reason(path):
    """Why the profile was written: interval, signal, api or exit (its first comment)."""
    m = re.match(r"^heapsampler \S+ \((\w+)\)$", comments(path)[0])
    if not m:
        raise AssertionError("%s: first comment %r" % (path, comments(path)[0]))
    return m.group(1)


class Case(hstest.TempDirTest):
    """A torture test: profiled and plain runs of a target under the watchdog."""

    def run_profiled(self, argv, preload=None, extra_env=None, timeout=TIMEOUT, cwd=None,
                     stdin=None, preexec_fn=None, prefix=None, **cfg):
        """argv with the library preloaded (or the preload list given), profiles to
        <dir>/prof unless prefix says otherwise. Returns an hstest.Run."""
        prefix = prefix or os.path.join(self.dir, "prof")
        cfg.setdefault("output", prefix)
        env = make_env(preload=(hstest.LIB,) if preload is None else preload, extra=extra_env,
                       **cfg)
        proc = hstest.run_watched(argv, timeout=timeout, env=env, cwd=cwd, stdin=stdin,
                                  preexec_fn=preexec_fn)
        return hstest.Run(proc, self.dir, prefix)

    def run_plain(self, argv, preload=(), extra_env=None, timeout=TIMEOUT, cwd=None, stdin=None,
                  preexec_fn=None):
        return hstest.run_watched(argv, timeout=timeout, cwd=cwd, stdin=stdin,
                                  preexec_fn=preexec_fn, env=make_env(preload, extra_env))

    def assert_same(self, run, plain, stderr=True):
        """Same exit status and stdout (and stderr, unless told) as the run without us."""
        self.assertEqual(run.returncode, plain.returncode, run.stderr[-3000:])
        self.assertEqual(run.stdout, plain.stdout)
        if stderr:
            self.assertEqual(run.stderr, plain.stderr)

    def valid_profiles(self, run, pid=None, at_least=1):
        """Checks that every profile of the run (of pid) is complete and that go tool pprof
        reads it (all in one merge: one process, however many files); returns the last one,
        parsed."""
        files = run.profiles(pid)
        self.assertGreaterEqual(len(files), at_least, (files, run.stderr[-3000:]))
        self.assertFalse([f for f in os.listdir(os.path.dirname(run.prefix)) if ".tmp." in f],
                         "temporary file left behind")
        out = subprocess.run(["go", "tool", "pprof", "-raw", "-symbolize=none"] + files,
                             capture_output=True, text=True, timeout=hstest.TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        return hstest.Profile(files[-1])

    def assert_sites(self, prof, stdout, exact_inuse=True):
        """The exact-mode profile prof shows what the target said each site did."""
        exp = expectations(stdout)
        self.assertTrue(exp, stdout)
        for site, (objects, space, inuse) in exp.items():
            got = prof.site_values(site)
            self.assertEqual(got[:2], (objects, space), site)
            if inuse is not None and exact_inuse:
                self.assertEqual(got[2], inuse, site)
