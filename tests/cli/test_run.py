"""CLI behaviour of `heapsampler` and `heapsampler run`.

The option table is read from src/common/config.c, so these tests follow it as it grows: every
HEAPSAMPLER_* variable must be a flag, appear in the help texts and reach the child.
Every run happens in a fresh temporary directory (the preloaded library writes profiles into
the working directory by default). Synchronisation with running children is by pipes, never
by sleeping.
"""
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402

CLI = hstest.CLI
DEMO = os.path.join(hstest.BUILD, "hs_demo_server")
# One line per process that wrote profiles: its pid, its program (and title), its files.
SUMMARY = re.compile(r"^heapsampler: (?:  )?pid (\d+)[^\n]*?: (\d+) profiles? written:(.*)$", re.M)


def table_options():
    """(NAME, TYPE, DEFAULT) for every entry of the option table in src/common/config.c."""
    with open(os.path.join(hstest.SOURCE, "src", "common", "config.c")) as f:
        src = f.read()
    opts = re.findall(r'\{"([A-Z_]+)",\s*HS_OPT_([A-Z0-9]+),\s*OFF\(\w+\),\s*"([^"]*)"', src)
    if len(opts) < 10:
        raise AssertionError("could not read the option table from config.c: %r" % opts)
    return opts


def flag(name):
    return "--" + name.lower().replace("_", "-")


def project_version():
    with open(os.path.join(hstest.SOURCE, "CMakeLists.txt")) as f:
        m = re.search(r"project\(heapsampler\s+VERSION\s+([\d.]+)", f.read())
    return m.group(1)


def with_function(prof, sample_type, func):
    """Sum of sample_type ("inuse_space") over the samples whose stack contains func. pprof -raw
    prints types as "inuse_space/bytes", the default one with a "[dflt]" mark."""
    names = [t.split("/")[0] for t in prof.sample_types]
    i = names.index(sample_type)
    return sum(vals[i] for vals, locs, _ in prof.samples if func in prof.stack_names(locs))


def parse_env(text):
    env = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            env[k] = v
    return env


class CliTest(hstest.TempDirTest):

    def cli(self, *args, env=None, cli=CLI, cwd=None, **kw):
        e = hstest.clean_env()
        if env:
            e.update(env)
        return subprocess.run([cli, *args], cwd=cwd or self.dir, env=e, capture_output=True,
                              text=True, timeout=hstest.TIMEOUT, **kw)

    # ---- global flags and dispatch ----------------------------------------------------------

    def test_version(self):
        r = self.cli("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "heapsampler %s\n" % project_version())

    def test_help_lists_commands_and_every_option(self):
        r = self.cli("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^\s+run\s")
        for name, _, _ in table_options():
            self.assertRegex(r.stdout, r"(?m)^\s+%s\s+HEAPSAMPLER_%s$" % (flag(name), name))

    def test_no_arguments_is_a_usage_error(self):
        r = self.cli()
        self.assertEqual(r.returncode, 2)
        self.assertIn("Usage:", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_unknown_command_is_a_usage_error(self):
        r = self.cli("frobnicate", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown command "frobnicate"', r.stderr)
        self.assertIn("Usage:", r.stderr)

    def test_run_help_documents_every_option(self):
        r = self.cli("run", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.cli("help", "run").stdout, r.stdout)
        lines = r.stdout.splitlines()
        for name, _, default in table_options():
            with self.subTest(option=name):
                heads = [l for l in lines if re.match(r"^\s+(-\w, )?%s(?![\w-])" % flag(name), l)]
                self.assertEqual(len(heads), 1, "no single help line for " + flag(name))
                self.assertIn("HEAPSAMPLER_%s," % name, heads[0])
                self.assertIn("default %s" % default, heads[0])
        for short, name in (("-r", "rate"), ("-o", "output"), ("-i", "interval")):
            self.assertRegex(r.stdout, r"(?m)^\s+%s, --%s " % (short, name))

    def test_readme_documents_every_option(self):
        # README.md's configuration table: every variable of the option table, in its order,
        # with its default (an empty default is described in words).
        with open(os.path.join(hstest.SOURCE, "README.md")) as f:
            rows = re.findall(r"(?m)^\| `HEAPSAMPLER_([A-Z_]+)` \| ([^|]+) \|", f.read())
        self.assertEqual([name for name, _ in rows], [name for name, _, _ in table_options()])
        for (name, cell), (_, _, default) in zip(rows, table_options()):
            if default:
                self.assertTrue(cell.startswith("`%s`" % default), (name, cell, default))
            else:
                self.assertNotIn("`", cell, name)

    # ---- exit status ------------------------------------------------------------------------

    def test_exit_status_passes_through(self):
        for code in (0, 1, 7, 255):
            with self.subTest(code=code):
                r = self.cli("run", "-q", "--", "sh", "-c", "exit %d" % code)
                self.assertEqual(r.returncode, code, r.stderr)

    def test_command_without_separator(self):
        r = self.cli("run", "-q", "sh", "-c", "exit 3")
        self.assertEqual(r.returncode, 3, r.stderr)
        # Everything after the command is the command's, even what looks like our options.
        r = self.cli("run", "-q", "echo", "--rate", "abc", "--", "-o")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "--rate abc -- -o\n")

    def test_death_by_signal_is_128_plus_n(self):
        for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV):
            with self.subTest(signal=sig.name):
                r = self.cli("run", "--", "sh", "-c", "ulimit -c 0; kill -%d $$" % sig)
                self.assertEqual(r.returncode, 128 + sig, r.stderr)
                self.assertIn("died of signal %d" % sig, r.stderr)

    def test_missing_command_is_127(self):
        r = self.cli("run", "--", "hs-no-such-command-xyz", "arg")
        self.assertEqual(r.returncode, 127)
        self.assertIn("hs-no-such-command-xyz: command not found", r.stderr)
        r = self.cli("run", "--", "./no-such-file")
        self.assertEqual(r.returncode, 127)
        self.assertIn("./no-such-file: command not found", r.stderr)

    def test_not_executable_is_126(self):
        path = os.path.join(self.dir, "data.txt")
        with open(path, "w") as f:
            f.write("not a program\n")
        os.chmod(path, 0o644)
        r = self.cli("run", "--", path)
        self.assertEqual(r.returncode, 126)
        self.assertIn(path + ": not executable", r.stderr)

    # ---- options ----------------------------------------------------------------------------

    def test_bad_values_are_rejected_before_running(self):
        marker = os.path.join(self.dir, "ran")
        cases = [
            (["--rate", "abc"], "--rate", "abc"),
            (["-r", "12Q"], "--rate", "12Q"),
            (["--stack-depth=0"], "--stack-depth", "0"),
            (["--interval", "soon"], "--interval", "soon"),
            (["--compression", "lz4"], "--compression", "lz4"),
            (["--dump-signal", "KILL"], "--dump-signal", "KILL"),
            (["--follow-exec=maybe"], "--follow-exec", "maybe"),
            (["--output="], "--output", ""),
        ]
        for args, shown, value in cases:
            with self.subTest(args=args):
                r = self.cli("run", *args, "--", "touch", marker)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, r'^heapsampler run: invalid %s "%s": \S' %
                                 (re.escape(shown), re.escape(value)))
                self.assertFalse(os.path.exists(marker), "the command ran")

    def test_usage_errors(self):
        cases = [
            (["run", "--no-such-option", "1", "true"], "unknown option --no-such-option"),
            (["run", "-x", "true"], "unknown option -x"),
            (["run", "--rate"], "option --rate needs a value"),
            (["run", "-r", "1"], "no command given"),
            (["run"], "no command given"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = self.cli(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)

    def run_env(self, *args, env=None):
        r = self.cli("run", "-q", *args, "--", "env", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return parse_env(r.stdout)

    def test_every_option_reaches_the_child(self):
        # The default of each option is a valid value in user syntax; both flag forms.
        opts = table_options()
        args_sep, args_eq = [], []
        for name, _, default in opts:
            if name == "OUTPUT":
                default = os.path.join(self.dir, "prof")
            args_sep += [flag(name), default]
            args_eq.append("%s=%s" % (flag(name), default))
        for args in (args_sep, args_eq):
            with self.subTest(form="=" if args is args_eq else "space"):
                env = self.run_env(*args)
                for name, _, default in opts:
                    want = os.path.join(self.dir, "prof") if name == "OUTPUT" else default
                    self.assertEqual(env.get("HEAPSAMPLER_" + name), want, name)

    def test_flag_mapping(self):
        env = self.run_env("-r", "1", "-o", "out/p", "-i", "5s", "--stack-depth", "32",
                           "--follow-exec", "--dump-signal=USR2", "--compression", "zstd")
        self.assertEqual(env.get("HEAPSAMPLER_RATE"), "1")
        # The library (preloaded into env too) passes a relative prefix on made absolute.
        self.assertEqual(env.get("HEAPSAMPLER_OUTPUT"), os.path.join(self.dir, "out/p"))
        self.assertEqual(env.get("HEAPSAMPLER_INTERVAL"), "5s")
        self.assertEqual(env.get("HEAPSAMPLER_STACK_DEPTH"), "32")
        self.assertEqual(env.get("HEAPSAMPLER_FOLLOW_EXEC"), "1")
        self.assertEqual(env.get("HEAPSAMPLER_DUMP_SIGNAL"), "USR2")
        self.assertEqual(env.get("HEAPSAMPLER_COMPRESSION"), "zstd")
        self.assertNotIn("HEAPSAMPLER_SEED", env)  # options not given are not set
        # -rVALUE, a boolean with an explicit value, the last of repeated flags wins.
        env = self.run_env("-r512K", "--follow-exec", "0", "--seed", "1", "--seed", "2")
        self.assertEqual(env.get("HEAPSAMPLER_RATE"), "512K")
        self.assertEqual(env.get("HEAPSAMPLER_FOLLOW_EXEC"), "0")
        self.assertEqual(env.get("HEAPSAMPLER_SEED"), "2")

    def test_bare_boolean_does_not_eat_the_command(self):
        # `--follow-exec true` with nothing after it runs the command `true`.
        r = self.cli("run", "-q", "--follow-exec", "sh", "-c", "echo $HEAPSAMPLER_FOLLOW_EXEC")
        self.assertEqual((r.returncode, r.stdout), (0, "1\n"), r.stderr)
        r = self.cli("run", "-q", "--follow-exec", "false")
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_environment_is_kept_unless_overridden(self):
        env = self.run_env("--seed", "9", env={"HEAPSAMPLER_SEED": "5",
                                               "HEAPSAMPLER_STACK_DEPTH": "16",
                                               "HS_TEST_OTHER": "kept"})
        self.assertEqual(env.get("HEAPSAMPLER_SEED"), "9")
        self.assertEqual(env.get("HEAPSAMPLER_STACK_DEPTH"), "16")
        self.assertEqual(env.get("HS_TEST_OTHER"), "kept")

    def test_child_is_a_new_profiling_root(self):
        # A HEAPSAMPLER_ROOT_PID inherited from a profiled ancestor must not reach the child
        # (it would take the child for an exec'd descendant and leave it unprofiled): the
        # child's library records the child's own pid there.
        r = self.cli("run", "-q", "--", "sh", "-c", 'echo "$$ $HEAPSAMPLER_ROOT_PID"',
                     env={"HEAPSAMPLER_ROOT_PID": "1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        pid, root = r.stdout.split()
        self.assertEqual(root, pid)

    # ---- LD_PRELOAD -------------------------------------------------------------------------

    def test_ld_preload_is_set(self):
        env = self.run_env()
        self.assertEqual(env.get("LD_PRELOAD"), os.path.realpath(hstest.LIB))

    def test_ld_preload_is_prepended_and_not_duplicated(self):
        # The caller's LD_PRELOAD (space- or colon-separated) also applies to the CLI itself,
        # so the other entry is a harmless library, given by name as users often do.
        lib = os.path.realpath(hstest.LIB)
        other_spelling = os.path.join(hstest.BUILD, ".", "libheapsampler.so")
        env = self.run_env(env={"LD_PRELOAD": "libz.so.1 %s:%s" % (lib, other_spelling)})
        self.assertEqual(env.get("LD_PRELOAD"), "%s:libz.so.1" % lib)
        env = self.run_env(env={"LD_PRELOAD": lib})
        self.assertEqual(env.get("LD_PRELOAD"), lib)

    def test_library_discovery(self):
        # A copy of the CLI with no library beside it and no install tree: a clear error...
        bindir = os.path.join(self.dir, "lonely")
        os.mkdir(bindir)
        cli = os.path.join(bindir, "heapsampler")
        shutil.copy2(CLI, cli)
        marker = os.path.join(self.dir, "ran")
        r = self.cli("run", "--", "touch", marker, cli=cli)
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn("cannot find libheapsampler.so", r.stderr)
        self.assertIn("--library", r.stderr)
        self.assertFalse(os.path.exists(marker))
        # ... which --library resolves (relative to the working directory).
        r = self.cli("run", "-q", "--library", os.path.relpath(hstest.LIB, self.dir), "--",
                     "env", cli=cli)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_env(r.stdout).get("LD_PRELOAD"), os.path.realpath(hstest.LIB))
        r = self.cli("run", "--library", os.path.join(self.dir, "nope.so"), "--", "true", cli=cli)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--library", r.stderr)

    def test_installed_layout(self):
        prefix = os.path.join(self.dir, "prefix")
        inst = subprocess.run(["cmake", "--install", hstest.BUILD, "--prefix", prefix],
                              capture_output=True, text=True, timeout=hstest.TIMEOUT)
        self.assertEqual(inst.returncode, 0, inst.stdout + inst.stderr)
        libs = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs
                if f == "libheapsampler.so"]
        self.assertEqual(len(libs), 1, libs)
        r = self.cli("run", "-q", "--", "env", cli=os.path.join(prefix, "bin", "heapsampler"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_env(r.stdout).get("LD_PRELOAD"), os.path.realpath(libs[0]))

    # ---- signals ----------------------------------------------------------------------------

    def test_signals_are_forwarded(self):
        # The child exits with a code that says which signal it received; the CLI must pass
        # each forwarded signal on (and survive it itself). The child is a Python script:
        # its handlers are in place before it says "ready", and signal.pause() has no window
        # in which a signal is lost.
        codes = {signal.SIGINT: 61, signal.SIGTERM: 62, signal.SIGHUP: 63,
                 signal.SIGQUIT: 64, signal.SIGUSR1: 65, signal.SIGUSR2: 66}
        child = ("import os, signal\n"
                 "for s, c in %r.items():\n"
                 "    signal.signal(s, lambda n, f, c=c: os._exit(c))\n"
                 "print('ready', flush=True)\n"
                 "while True:\n"
                 "    signal.pause()\n") % {int(s): c for s, c in codes.items()}
        for sig, code in codes.items():
            with self.subTest(signal=sig.name):
                proc = subprocess.Popen([CLI, "run", "-q", "--", sys.executable, "-c", child],
                                        cwd=self.dir, env=hstest.clean_env(),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True)
                try:
                    self.assertEqual(proc.stdout.readline(), "ready\n")
                    os.kill(proc.pid, sig)
                    _, err = proc.communicate(timeout=60)  # bounds a hang, not a timing
                    self.assertEqual(proc.returncode, code, err)
                finally:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
                    except ProcessLookupError:
                        pass
                    proc.wait()
                    proc.stdout.close()
                    proc.stderr.close()

    # ---- profiles ---------------------------------------------------------------------------

    def listed(self, stderr):
        m = SUMMARY.search(stderr)
        self.assertIsNotNone(m, "no summary line in stderr:\n" + stderr)
        files = m.group(3).split()
        self.assertEqual(int(m.group(2)), len(files), m.group(0))
        return files

    def test_profile_written_and_readable(self):
        outdir = os.path.join(self.dir, "out")
        os.mkdir(outdir)
        r = self.cli("run", "-o", outdir + "/", "--seed", "42", "--", DEMO,
                     "--requests", "5120", "--rps", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("demo_server: 5120 requests", r.stdout)
        files = self.listed(r.stderr)
        self.assertGreaterEqual(len(files), 1)
        on_disk = sorted(os.path.join(outdir, f) for f in os.listdir(outdir))
        self.assertEqual(sorted(files), on_disk)
        for f in files:
            self.assertRegex(os.path.basename(f), r"^heapsampler\.\d+\.\d{4,}\.pb\.gz$")
        if not hstest.have_go():
            self.skipTest("go tool pprof not installed")
        prof = hstest.Profile(files[-1])
        self.assertEqual([t.replace("[dflt]", "") for t in prof.sample_types],
                         ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
                          "inuse_space/bytes"])
        # The demo's shape at the default rate, seeded: the leak (20 MiB) dominates in-use
        # memory, the cache (8 MiB) is second, the parser's garbage is all freed.
        leak = with_function(prof, "inuse_space", "record_session_history")
        cache = with_function(prof, "inuse_space", "cache_insert")
        parse = with_function(prof, "inuse_space", "parse_request")
        self.assertGreater(leak, cache, prof.raw[:4000])
        self.assertGreater(cache, 0)
        self.assertEqual(parse, 0)
        self.assertGreater(with_function(prof, "alloc_space", "parse_request"), 0)
        # Sampling error of the leak estimate: 5120 allocations of 4 KiB at 512 KiB,
        # sigma = 4 KiB * sqrt(5120 * 128) ~ 3.2 MiB; allow 5 sigma around 20 MiB.
        self.assertLess(abs(leak - 20 * 2**20), 16 * 2**20, leak)

    def test_relative_prefix_and_summary_paths(self):
        r = self.cli("run", "-o", "prof", "--", DEMO, "--requests", "50", "--rps", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        files = self.listed(r.stderr)
        self.assertEqual(len(files), 1, files)
        self.assertRegex(files[0], r"^\./prof\.\d+\.0000\.pb\.gz$")
        self.assertTrue(os.path.exists(os.path.join(self.dir, files[0])))

    def test_directory_prefix_and_compression(self):
        os.mkdir(os.path.join(self.dir, "d"))
        r = self.cli("run", "-o", "d", "--compression", "zstd", "--", DEMO, "--requests",
                     "50", "--rps", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        files = self.listed(r.stderr)
        self.assertEqual(len(files), 1, files)
        self.assertRegex(files[0], r"^\./d/heapsampler\.\d+\.0000\.pb\.zst$")
        with open(os.path.join(self.dir, files[0]), "rb") as f:
            self.assertEqual(f.read(4), b"\x28\xb5\x2f\xfd")  # zstd frame magic

    def test_quiet_and_nothing_written(self):
        r = self.cli("run", "-q", "--", DEMO, "--requests", "10", "--rps", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("heapsampler:", r.stderr)
        # The profiler disabled: the CLI says that nothing was written.
        r = self.cli("run", "--enabled", "0", "--", DEMO, "--requests", "10", "--rps", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^heapsampler: no profile written")


if __name__ == "__main__":
    hstest.main()
