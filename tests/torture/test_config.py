"""Hostile configuration: every HEAPSAMPLER_* variable that `heapsampler run --help` lists (so
the list grows with the option table) set to garbage, empty, overlong, out-of-range, binary and
format-string values. The CLI's own validation (exit status 2) is the oracle of what is
invalid; for each invalid value the library prints exactly one line - for a value the option
table refuses, `heapsampler: ignoring HEAPSAMPLER_X="...": <why> (using <default>)`, and it then
runs with the default (its verbose configuration says "(default)") -, and the program's output
and exit status are unchanged; a valid value gives no warning. Unknown HEAPSAMPLER_* names give
one warning each, and a garbage HEAPSAMPLER_ROOT_PID (the profiler's own variable) is treated as
absent."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import torture  # noqa: E402
from torture import hstest  # noqa: E402

HOSTILE = [
    "", " ", "abc", "-1", " 1", "0x10", "1e3", "1.5.2", "NaN", "0", "1",
    "18446744073709551616", "9" * 40, "12QB", "%s%s%s%n%p", "\x01\x1b[31m\udcff", "\u221e",
    "SIGKILL", "9" * 5000, "A" * 100000,
]
# Invalid values per variable whose effective configuration is also checked (a verbose run).
VERBOSE_CHECKS = 3
# Read only when uploads are on (HEAPSAMPLER_PYROSCOPE_URL set and valid), which they are not
# here: a bad value of these may go unmentioned (tests/preload/test_pyroscope.py checks them with
# uploads on).
UPLOAD_ONLY = ("APP_NAME", "TAGS", "PYROSCOPE_USER", "PYROSCOPE_PASSWORD", "PYROSCOPE_TENANT",
               "PYROSCOPE_HEADERS", "UPLOAD_")


def options():
    """[(long flag, variable suffix, default)] from `heapsampler run --help`."""
    out = subprocess.run([hstest.CLI, "run", "--help"], capture_output=True, text=True,
                         timeout=60)
    # A default may hold commas (70,85,95); an enumeration's list of choices follows it.
    return re.findall(r"--([a-z-]+)[^\n]*?HEAPSAMPLER_(\w+), default (\S+?)(?:, one of [^\n]*)?$",
                      out.stdout, re.M)


def cli_accepts(flag, value, cwd):
    """Whether `heapsampler run` accepts --flag=value (it runs /bin/true in cwd if so)."""
    argv = [hstest.CLI, "run", "-q", "--library", hstest.LIB, "--%s=%s" % (flag, value), "--",
            "/bin/true"]
    env = hstest.clean_env()
    r = subprocess.run(argv, capture_output=True, timeout=60, env=env, cwd=cwd)
    if r.returncode not in (0, 2):
        raise AssertionError("CLI exit %d for --%s=%r: %s" % (r.returncode, flag, value[:40],
                                                               r.stderr[-500:]))
    return r.returncode == 0


class HostileConfiguration(torture.Case):
    def run_with(self, name, value, verbose=False):
        cfg = {name.lower(): value}
        if verbose:
            cfg["verbose"] = "1"
        if name == "OUTPUT":
            cfg["output"] = value  # relative values land in the run's directory
        return self.run_profiled([torture.target("dumper"), "api", "1"], cwd=self.dir, **cfg)

    def test_every_variable_with_hostile_values(self):
        opts = options()
        # The table has grown past the 13 variables of the first release, never shrunk.
        self.assertGreaterEqual(len(opts), 13, opts)
        plain = self.run_plain([torture.target("dumper"), "api", "1"])
        checked = invalid = 0
        for flag, name, default in opts:
            verbose_checks = 0
            for value in HOSTILE:
                if name == "OUTPUT" and (value.startswith(("/", "-")) or "/" in value):
                    continue  # a valid absolute prefix would write outside the test directory
                valid = cli_accepts(flag, value, self.dir)
                run = self.run_with(name, value)
                label = "HEAPSAMPLER_%s=%r" % (name, value[:60])
                self.assertEqual(run.returncode, plain.returncode, (label, run.stderr[-2000:]))
                self.assertEqual(run.stdout, plain.stdout, label)
                ours = [line for line in run.stderr.splitlines()
                        if line.startswith("heapsampler: ")]
                checked += 1
                if valid:
                    if name != "VERBOSE":  # whose valid values ask for output
                        self.assertEqual(ours, [], label)
                    continue
                # Refused by the CLI: the library warns once, in one line, and runs on.
                invalid += 1
                if not ours and name.startswith(UPLOAD_ONLY):
                    continue
                self.assertEqual(len(ours), 1, (label, run.stderr[-2000:]))
                self.assertLess(len(ours[0]), 400, "the value is quoted, shortened")
                if not ours[0].startswith("heapsampler: ignoring "):
                    continue  # refused later, by the part that uses it (e.g. uploads)
                self.assertRegex(ours[0], r'^heapsampler: ignoring HEAPSAMPLER_%s="'
                                 r'[^\n]*": [^\n]+ \(using %s\)$' % (name, re.escape(default)),
                                 label)
                if name == "VERBOSE" or verbose_checks >= VERBOSE_CHECKS:
                    continue
                verbose_checks += 1
                lines = self.run_with(name, value, verbose=True).stderr.splitlines()
                cfg = [line for line in lines
                       if line.startswith("heapsampler: config HEAPSAMPLER_%s=" % name)]
                self.assertEqual(len(cfg), 1, (label, lines))
                if name == "OUTPUT":  # the default prefix, made absolute at start-up
                    self.assertTrue(cfg[0].endswith("=%s/%s" % (self.dir, default)), (label, cfg))
                else:
                    self.assertTrue(cfg[0].endswith(" (default)"), (label, cfg))
        self.assertGreater(invalid, len(opts) * 5)
        self.assertGreater(checked, invalid)

    def test_unknown_variables(self):
        run = self.run_profiled([torture.target("dumper"), "api", "1"],
                                extra_env={"HEAPSAMPLER_BOGUS": "1", "HEAPSAMPLER_rate": "1",
                                           "HEAPSAMPLER_": "x"})
        self.assertEqual(run.returncode, 0, run.stderr)
        unknown = [line for line in run.stderr.splitlines() if "unknown variable" in line]
        self.assertEqual(len(unknown), 3, run.stderr)
        self.valid_profiles(run)

    def test_garbage_root_pid_is_ignored(self):
        # Not a pid the profiler could have written: the process is profiled as a root.
        for i, value in enumerate(("abc", "-5", "0", "1x", "99999999999999999999", "\udcff")):
            run = self.run_profiled([torture.target("dumper"), "api", "1"],
                                    prefix=os.path.join(self.dir, "r%d" % i),
                                    extra_env={"HEAPSAMPLER_ROOT_PID": value})
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(run.stderr, "dumper: rc=0 errno=0\n", repr(value))
            self.assertEqual(len(run.profiles()), 2, repr(value))


if __name__ == "__main__":
    hstest.main()
