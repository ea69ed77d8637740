"""`heapsampler symbolize IN OUT [--debug-dir DIR]... [--functions] [FILE|DIR]...`: a profile
of the stripped target (no names for its frames) gets its names, lines and inlined callers back
offline, from the unstripped binary (given as a file or found in a directory, matched by build
ID), or from a separate debug file in a build-ID tree given with --debug-dir, or from a
debuginfod server (a real one: Debian's `debuginfod -F DIR` indexing a split debug file, on a
free port, started and stopped by the test, with a temporary client cache); what it does not
touch stays as it was; bad usage and unreadable input fail cleanly."""
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import servers  # noqa: E402

C_SRC = os.path.join(hstest.SOURCE, "tests", "preload", "targets", "symbols.c")


def tests_bin(name):
    path = os.path.join(hstest.BUILD, "tests", name)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def symbolize(*args):
    return subprocess.run([hstest.CLI, "symbolize", *args], capture_output=True, text=True,
                          timeout=hstest.TIMEOUT)


def stack_of(prof, size):
    stacks = prof.stacks(size)
    if len(stacks) != 1:
        raise AssertionError("one row of %d-byte blocks expected: %r" % (size, stacks))
    return stacks[0]


def names(stack):
    return [loc[-1].name if loc else "?" for loc in stack]


class Symbolize(hstest.TempDirTest):
    def setUp(self):
        super().setUp()
        run = hstest.run_profiled([tests_bin("hs_target_symbols_stripped")], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.stripped = run.last_profile()
        prof = hstest.SymProfile(self.stripped)
        _, stack, self.locs = stack_of(prof, 3000)
        self.assertEqual(stack[0], [], "the stripped target's frames are addresses only")
        self.build_id = prof.map_files[prof.loc_mapping[self.locs[0]]][1]
        self.out = os.path.join(self.dir, "out.pb.gz")

    def check_named(self, path, lines=True):
        prof = hstest.SymProfile(path)
        vals, stack, locs = stack_of(prof, 3000)
        self.assertEqual(vals[prof.index("inuse_space")], 64 * 3000, "values untouched")
        self.assertEqual(names(stack)[:3], ["symbols_static_alloc", "symbols_outer", "main"])
        mapping = prof.map_files[prof.loc_mapping[locs[0]]]
        self.assertTrue(mapping[0].endswith("/hs_target_symbols_stripped"), "mapping kept")
        self.assertEqual(mapping[1], self.build_id)
        if lines:
            self.assertEqual(stack[0][0].line, hstest.source_line(C_SRC, "static_alloc"))
            self.assertTrue(stack[0][0].file.endswith("/tests/preload/targets/symbols.c"))
            self.assertIn("LN", mapping[2])
        else:
            self.assertEqual(stack[0][0].line, 0)
            self.assertEqual(mapping[2] & {"FL", "LN"}, set())
        return prof

    def test_names_and_lines_from_the_unstripped_binary(self):
        r = symbolize(self.stripped, self.out, tests_bin("hs_target_symbols"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"\d+ of \d+ mappings matched, \d+ of \d+ locations named")
        after = self.check_named(self.out)
        # The comments and every other sample came through.
        before = hstest.SymProfile(self.stripped)
        self.assertEqual(len(after.samples), len(before.samples))
        self.assertEqual(after.total("alloc_space"), before.total("alloc_space"))
        self.assertIn("heapsampler 0.1.0 (exit)", after.raw)

    def test_binaries_found_in_a_directory_by_build_id(self):
        # A directory holding a renamed copy: only the build ID can match it.
        bins = os.path.join(self.dir, "bins", "nested")
        os.makedirs(bins)
        shutil.copy(tests_bin("hs_target_symbols"), os.path.join(bins, "renamed"))
        r = symbolize(self.stripped, self.out, os.path.join(self.dir, "bins"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out)

    def debug_tree(self):
        """A build-ID tree holding the target's separate debug file; its root."""
        objcopy = shutil.which("objcopy")
        self.assertTrue(objcopy, "objcopy (binutils) is needed")
        root = os.path.join(self.dir, "debug")
        sub = os.path.join(root, ".build-id", self.build_id[:2])
        os.makedirs(sub)
        subprocess.run([objcopy, "--only-keep-debug", tests_bin("hs_target_symbols"),
                        os.path.join(sub, self.build_id[2:] + ".debug")], check=True)
        return root

    def vanished_profile(self, name):
        """A profile of a copy of the stripped target, deleted since."""
        exe = os.path.join(self.dir, name)
        shutil.copy(tests_bin("hs_target_symbols_stripped"), exe)
        run = hstest.run_profiled([exe], self.dir, rate=1, output=os.path.join(self.dir, name[0]))
        self.assertEqual(run.returncode, 0, run.stderr)
        os.unlink(exe)
        return exe, run.last_profile()

    def test_debug_file_in_a_build_id_tree(self):
        root = self.debug_tree()
        # No binary given: the mapping's own (stripped) file, with its debug file from the tree.
        r = symbolize(self.stripped, self.out, "--debug-dir", root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out)
        # The stripped file gone too: the debug file alone has the symbols and the lines.
        copy = os.path.join(self.dir, "gone")
        r = symbolize(self.stripped, self.out, "--debug-dir=" + root, copy)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out)

    def test_debug_file_alone_when_the_binary_is_gone(self):
        # A separate debug file's program headers have rewritten offsets: the segment is found
        # by the length of its memory, and the names and lines come from the debug file alone.
        _, profile = self.vanished_profile("gone_binary")
        r = symbolize(profile, self.out, "--debug-dir", self.debug_tree())
        self.assertEqual(r.returncode, 0, r.stderr)
        prof = hstest.SymProfile(self.out)
        _, stack, _ = stack_of(prof, 3000)
        self.assertEqual(names(stack)[:3], ["symbols_static_alloc", "symbols_outer", "main"])
        self.assertEqual(stack[0][0].line, hstest.source_line(C_SRC, "static_alloc"))

    def test_functions_only(self):
        r = symbolize(self.stripped, self.out, "--functions", tests_bin("hs_target_symbols"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out, lines=False)

    def test_unmatched_mapping_is_listed_and_left_alone(self):
        # The profiled executable is gone, and the file given is another build.
        exe, profile = self.vanished_profile("vanished")
        out = os.path.join(self.dir, "o.pb")
        r = symbolize(profile, out, "--debug-dir", self.dir,
                      tests_bin("hs_target_symbols_nopie"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no local file for %s build ID %s" % (exe, self.build_id), r.stderr)
        prof = hstest.SymProfile(out)
        _, stack, _ = stack_of(prof, 3000)
        self.assertEqual(stack[0], [], "left as it was")
        self.assertRegex(names(stack)[-2], r"__libc_start_(call_)?main", "other frames keep their names")

    def test_output_compression_follows_the_suffix(self):
        binary = tests_bin("hs_target_symbols")
        for name, magic in (("a.pb.gz", b"\x1f\x8b"), ("b.pb.zst", b"\x28\xb5\x2f\xfd"),
                            ("c.pb", None)):
            out = os.path.join(self.dir, name)
            r = symbolize(self.stripped, out, binary)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                head = f.read(4)
            if magic:
                self.assertTrue(head.startswith(magic), name)
            else:
                self.assertNotEqual(head[:2], b"\x1f\x8b")
            self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        self.check_named(os.path.join(self.dir, "c.pb"))
        with gzip.open(os.path.join(self.dir, "a.pb.gz")) as f:
            self.assertGreater(len(f.read()), 0)

    def test_usage_and_input_errors(self):
        for args in ([], [self.stripped], [self.stripped, self.out, "--bogus"],
                     [self.stripped, self.out, "--debug-dir"]):
            r = symbolize(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("Usage: heapsampler symbolize", r.stderr)
        r = symbolize("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--debug-dir DIR", r.stdout)
        junk = os.path.join(self.dir, "junk")
        with open(junk, "w") as f:
            f.write("not a profile")
        r = symbolize(junk, self.out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read", r.stderr)
        self.assertFalse(os.path.exists(self.out))
        r = symbolize(self.stripped, os.path.join(self.dir, "no", "such", "dir", "x.pb.gz"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot write", r.stderr)
        r = subprocess.run([hstest.CLI, "--help"], capture_output=True, text=True)
        self.assertIn("heapsampler symbolize IN OUT", r.stdout)


class Debuginfod(hstest.TempDirTest):
    """The stripped target's debug file served by debuginfod: names and lines come only
    through it, and from the client's cache once fetched."""

    def setUp(self):
        super().setUp()
        self.server = servers.need("debuginfod")[0]
        objcopy = shutil.which("objcopy")
        self.assertTrue(objcopy, "objcopy (binutils) is needed")
        run = hstest.run_profiled([tests_bin("hs_target_symbols_stripped")], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.stripped = run.last_profile()
        prof = hstest.SymProfile(self.stripped)
        _, stack, locs = stack_of(prof, 3000)
        self.assertEqual(stack[0], [], "the stripped target's frames are addresses only")
        self.build_id = prof.map_files[prof.loc_mapping[locs[0]]][1]
        # What a distribution's debug package holds: the split debug file, nothing else.
        self.served = os.path.join(self.dir, "served")
        os.mkdir(self.served)
        subprocess.run([objcopy, "--only-keep-debug", tests_bin("hs_target_symbols"),
                        os.path.join(self.served, "hs_target_symbols.debug")], check=True)
        self.cache = os.path.join(self.dir, "cache")
        self.proc = None
        self.log = open(os.path.join(self.dir, "debuginfod.log"), "wb")

    def tearDown(self):
        self.stop_server()
        self.log.close()
        super().tearDown()

    def start_server(self):
        # debuginfod 0.188 listens on every interface; the test only talks to 127.0.0.1.
        self.port = servers.free_port()
        self.proc = subprocess.Popen(
            [self.server, "-F", "-p", str(self.port), "-d", os.path.join(self.dir, "db.sqlite"),
             "-t", "0", "-g", "0", "-c", "1", self.served],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.dir)
        servers.wait_port(self.port, self.proc, what="debuginfod")
        # The first scan runs in the background: wait until the debug file is served.
        url = "http://127.0.0.1:%d/buildid/%s/debuginfo" % (self.port, self.build_id)
        deadline = time.monotonic() + servers.START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    if r.status == 200:
                        return
            except urllib.error.URLError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("debuginfod did not serve %s in time" % url)
            time.sleep(0.2)  # polling for the scan, with a deadline

    def stop_server(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=servers.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def symbolize(self, urls, *args):
        env = hstest.clean_env(DEBUGINFOD_CACHE_PATH=self.cache, DEBUGINFOD_URLS=urls)
        return subprocess.run([hstest.CLI, "symbolize", *args], capture_output=True, text=True,
                              timeout=hstest.TIMEOUT, env=env)

    def check(self, path, named):
        prof = hstest.SymProfile(path)
        _, stack, _ = stack_of(prof, 3000)
        if not named:
            self.assertEqual(stack[0], [], "no name without debuginfod")
            return
        self.assertEqual(names(stack)[:3], ["symbols_static_alloc", "symbols_outer", "main"])
        self.assertEqual(stack[0][0].line, hstest.source_line(C_SRC, "static_alloc"))
        self.assertTrue(stack[0][0].file.endswith("/tests/preload/targets/symbols.c"))

    def test_names_and_lines_through_debuginfod(self):
        out = os.path.join(self.dir, "out.pb.gz")
        # Without a server (and nothing under the default debug directory): addresses only.
        r = self.symbolize("", self.stripped, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("debuginfod", r.stderr)
        self.check(out, named=False)
        self.start_server()
        url = "http://127.0.0.1:%d" % self.port
        r = self.symbolize(url, self.stripped, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"\d+ of \d+ mappings matched \(1 through debuginfod\)")
        self.check(out, named=True)
        cached = os.path.join(self.cache, self.build_id, "debuginfo")
        self.assertTrue(os.path.isfile(cached), os.listdir(self.cache))
        # The server gone, the client's cache still has it.
        self.stop_server()
        os.unlink(out)
        r = self.symbolize(url, self.stripped, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check(out, named=True)

    def test_what_the_server_lacks_is_said(self):
        os.unlink(os.path.join(self.served, "hs_target_symbols.debug"))
        with open(os.path.join(self.served, "placeholder"), "w") as f:
            f.write("not ELF")
        # An empty index answers as soon as it listens.
        self.port = servers.free_port()
        self.proc = subprocess.Popen(
            [self.server, "-F", "-p", str(self.port), "-d", os.path.join(self.dir, "db.sqlite"),
             "-t", "0", "-g", "0", self.served], stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        servers.wait_port(self.port, self.proc, what="debuginfod")
        out = os.path.join(self.dir, "out.pb.gz")
        r = self.symbolize("http://127.0.0.1:%d" % self.port, self.stripped, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^heapsampler symbolize: no debug file on "
                                   r"http://127.0.0.1:%d for (.*, )?hs_target_symbols_stripped"
                                   r"(, |$)" % self.port)
        self.check(out, named=False)
        # No server at all on that port (and a fresh cache, which would remember the answer):
        # said once, and the profile is written all the same.
        self.stop_server()
        self.cache = os.path.join(self.dir, "cache2")
        r = self.symbolize("http://127.0.0.1:%d" % self.port, self.stripped, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"from debuginfod: cannot ask http://127.0.0.1:\d+: .* \(not "
                                   r"asking for the other files\)")
        self.assertEqual(r.stderr.count("debuginfod"), 1, r.stderr)
        self.check(out, named=False)

    def test_the_preloaded_library_never_uses_debuginfod(self):
        defined = subprocess.run(["nm", "--defined-only", hstest.LIB], capture_output=True,
                                 text=True, check=True).stdout
        self.assertNotIn("hs_debuginfod_", defined)
        needed = subprocess.run(["readelf", "-d", "-W", hstest.LIB], capture_output=True,
                                text=True, check=True).stdout
        self.assertNotIn("debuginfod", needed)
        with open(hstest.LIB, "rb") as f:
            self.assertNotIn(b"libdebuginfod", f.read())


if __name__ == "__main__":
    hstest.main()
