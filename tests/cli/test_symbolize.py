"""`heapsampler symbolize IN OUT [--debug-dir DIR]... [--functions] [FILE|DIR]...`: a profile
of the stripped target (no names for its frames) gets its names, lines and inlined callers back
offline, from the unstripped binary (given as a file or found in a directory, matched by build
ID), or from a separate debug file in a build-ID tree given with --debug-dir; what it does not
touch stays as it was; bad usage and unreadable input fail cleanly."""
import gzip
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402

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

    def test_debug_file_in_a_build_id_tree(self):
        objcopy = shutil.which("objcopy")
        self.assertTrue(objcopy, "objcopy (binutils) is needed")
        root = os.path.join(self.dir, "debug")
        sub = os.path.join(root, ".build-id", self.build_id[:2])
        os.makedirs(sub)
        subprocess.run([objcopy, "--only-keep-debug", tests_bin("hs_target_symbols"),
                        os.path.join(sub, self.build_id[2:] + ".debug")], check=True)
        # No binary given: the mapping's own (stripped) file, with its debug file from the tree.
        r = symbolize(self.stripped, self.out, "--debug-dir", root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out)
        # The stripped file gone too: the debug file alone has the symbols and the lines.
        copy = os.path.join(self.dir, "gone")
        r = symbolize(self.stripped, self.out, "--debug-dir=" + root, copy)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out)

    def test_functions_only(self):
        r = symbolize(self.stripped, self.out, "--functions", tests_bin("hs_target_symbols"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_named(self.out, lines=False)

    def test_unmatched_mapping_is_listed_and_left_alone(self):
        # The profiled executable is gone, and the file given is another build.
        exe = os.path.join(self.dir, "vanished")
        shutil.copy(tests_bin("hs_target_symbols_stripped"), exe)
        run = hstest.run_profiled([exe], self.dir, rate=1, output=os.path.join(self.dir, "v"))
        self.assertEqual(run.returncode, 0, run.stderr)
        os.unlink(exe)
        out = os.path.join(self.dir, "o.pb")
        r = symbolize(run.last_profile(), out, "--debug-dir", self.dir,
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


if __name__ == "__main__":
    hstest.main()
