"""Readable frames in the profiles the library writes, checked with `go tool pprof -raw`:
C++ names demangled (mangled in system_name), file:line and inlined callers at
HEAPSAMPLER_SYMBOLIZE=lines, PIE and non-PIE executables, a stripped executable (addresses,
file name and build ID, which `go tool pprof` symbolizes given the binary), a separate debug
file found through .gnu_debuglink, libraries dlclose'd before the dump (one of them replaced
at its address by another, one replaced on disk, a load/unload storm while other threads
sample), the frame-pointer unwinder, and the symbolizer's memory report. Every run is in exact mode (HEAPSAMPLER_RATE=1): the values are
the programs' own counts. Expected lines are looked up in the sources by their SITE: markers."""
import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

TARGETS = os.path.join(hstest.SOURCE, "tests", "preload")
CXX_SRC = os.path.join(TARGETS, "cxx", "templates.cpp")
C_SRC = os.path.join(TARGETS, "targets", "symbols.c")
PLUGIN_SRC = os.path.join(TARGETS, "libs", "plugin.c")


def tests_bin(name):
    path = os.path.join(hstest.BUILD, "tests", name)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


def function(frames):
    """The function a location's code is in (its last Line)."""
    return frames[-1] if frames else None


def names(stack):
    """Function names of a stack's locations, leaf first (one per location)."""
    return [function(loc).name if loc else "?" for loc in stack]


def elf_type(path):
    with open(path, "rb") as f:
        header = f.read(18)
    return struct.unpack_from("<H", header, 16)[0]  # e_type: 2 = EXEC, 3 = DYN


class Base(hstest.TempDirTest):
    def profile(self, argv, **cfg):
        run = hstest.run_profiled(argv, self.dir, rate=1, **cfg)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run, hstest.SymProfile(run.last_profile())

    def only_stack(self, prof, size):
        stacks = prof.stacks(size)
        self.assertEqual(len(stacks), 1, "one row of %d-byte blocks: %r" % (size, stacks))
        return stacks[0]

    def inuse(self, prof, vals):
        return vals[prof.index("inuse_space")]


class Cxx(Base):
    def test_names_are_demangled(self):
        _, prof = self.profile([tests_bin("hs_target_cxx")])
        vals, stack, _ = self.only_stack(prof, 3000)  # 32 x Widget[30]
        self.assertEqual(self.inuse(prof, vals), 32 * 3000)
        leaf = stack[0]
        self.assertEqual(len(leaf), 1, "functions level: one Line per location")
        self.assertEqual(leaf[0].name, "hs_test::pool::Arena<hs_test::Widget>::grow(unsigned long)")
        self.assertEqual(leaf[0].system_name, "_ZN7hs_test4pool5ArenaINS_6WidgetEE4growEm")
        self.assertEqual(names(stack)[1], "main")

        vals, stack, _ = self.only_stack(prof, 416)  # 48 x Node<int>, through operator new
        self.assertEqual(self.inuse(prof, vals), 48 * 416)
        self.assertEqual(function(stack[0]).name, "operator new(unsigned long)")
        self.assertEqual(function(stack[0]).system_name, "_Znwm")
        self.assertEqual(function(stack[1]).name,
                         "hs_test::pool::Node<int>* hs_test::pool::build_nodes<int>(int)")
        self.assertEqual(function(stack[1]).system_name,
                         "_ZN7hs_test4pool11build_nodesIiEEPNS0_4NodeIT_EEi")

    def test_lines_and_inlined_callers(self):
        run, prof = self.profile([tests_bin("hs_target_cxx")], symbolize="lines")
        _, stack, locs = self.only_stack(prof, 3000)
        leaf = stack[0]
        self.assertEqual(len(leaf), 2, "the inlined helper, then its caller: %r" % leaf)
        inlined, caller = leaf
        self.assertEqual(inlined.name,
                         "hs_test::pool::Arena<hs_test::Widget>::make_block(unsigned long)")
        self.assertEqual(inlined.system_name, "_ZN7hs_test4pool5ArenaINS_6WidgetEE10make_blockEm")
        self.assertTrue(inlined.file.endswith("/tests/preload/cxx/templates.cpp"), inlined.file)
        self.assertEqual(inlined.line, hstest.source_line(CXX_SRC, "make_block"))
        self.assertEqual(caller.name, "hs_test::pool::Arena<hs_test::Widget>::grow(unsigned long)")
        self.assertEqual(caller.line, hstest.source_line(CXX_SRC, "grow_calls_make_block"))
        flags = prof.map_files[prof.loc_mapping[locs[0]]][2]
        self.assertEqual(flags, {"FN", "FL", "LN", "IN"})

        _, stack, _ = self.only_stack(prof, 416)
        self.assertEqual(function(stack[1]).line, hstest.source_line(CXX_SRC, "build_nodes"))
        self.assertIn("symbolizer=lines", prof.raw)


class Executables(Base):
    def check_symbols_target(self, prof):
        vals, stack, _ = self.only_stack(prof, 3000)
        self.assertEqual(self.inuse(prof, vals), 64 * 3000)
        self.assertEqual(names(stack)[:3], ["symbols_static_alloc", "symbols_outer", "main"])
        vals, stack, _ = self.only_stack(prof, 5000)
        self.assertEqual(self.inuse(prof, vals), 64 * 5000)
        self.assertEqual(names(stack)[:3], ["symbols_global_alloc", "symbols_outer", "main"])
        vals, stack, _ = self.only_stack(prof, 700)
        self.assertEqual(self.inuse(prof, vals), 64 * 700)
        self.assertRegex(names(stack)[0], r"^_*strdup$", "libc's function (.dynsym)")
        self.assertEqual(names(stack)[1], "symbols_libc_alloc")

    def test_pie_and_non_pie(self):
        pie, nopie = tests_bin("hs_target_symbols"), tests_bin("hs_target_symbols_nopie")
        self.assertEqual(elf_type(pie), 3, "a position-independent executable")
        self.assertEqual(elf_type(nopie), 2, "a fixed-address executable")
        for exe in (pie, nopie):
            with self.subTest(exe=os.path.basename(exe)):
                _, prof = self.profile([exe])
                self.check_symbols_target(prof)

    def test_lines_of_c_frames(self):
        _, prof = self.profile([tests_bin("hs_target_symbols")], symbolize="lines")
        _, stack, _ = self.only_stack(prof, 3000)
        expect = [("symbols_static_alloc", "static_alloc"),
                  ("symbols_outer", "outer_calls_static"),
                  ("main", "main_calls_outer")]
        for loc, (name, marker) in zip(stack, expect):
            self.assertEqual(len(loc), 1, "no inlining at -O0")
            self.assertEqual(loc[0].name, name)
            self.assertTrue(loc[0].file.endswith("/tests/preload/targets/symbols.c"), loc[0].file)
            self.assertEqual(loc[0].line, hstest.source_line(C_SRC, marker), name)

    def test_none_level_keeps_mappings_only(self):
        _, prof = self.profile([tests_bin("hs_target_symbols")], symbolize="none")
        self.assertTrue(all(not frames for frames in prof.lines.values()))
        self.assertNotIn("symbolizer=", prof.raw)
        _, stack, locs = self.only_stack(prof, 3000)
        self.assertTrue(prof.mapping_file(locs[0]).endswith("/hs_target_symbols"))
        self.assertRegex(prof.map_files[prof.loc_mapping[locs[0]]][1], r"^[0-9a-f]{40}$")

    def test_stripped_executable(self):
        _, full = self.profile([tests_bin("hs_target_symbols")])
        _, prof = self.profile([tests_bin("hs_target_symbols_stripped")])
        _, stack, locs = self.only_stack(prof, 3000)
        mapping = prof.map_files[prof.loc_mapping[locs[0]]]
        self.assertTrue(mapping[0].endswith("/hs_target_symbols_stripped"))
        full_locs = self.only_stack(full, 3000)[2]
        self.assertEqual(mapping[1], full.map_files[full.loc_mapping[full_locs[0]]][1],
                         "strip keeps the build ID")
        self.assertNotIn("FN", mapping[2], "pprof may symbolize this mapping itself")
        self.assertEqual(stack[0], [], "no symbols: an address only")
        # go tool pprof, given the unstripped binary, names the frames from the mapping data.
        named = hstest.SymProfile(prof.path, extra=(tests_bin("hs_target_symbols"),))
        _, stack, _ = self.only_stack(named, 3000)
        self.assertEqual(names(stack)[:3], ["symbols_static_alloc", "symbols_outer", "main"])

    @staticmethod
    def objcopy():
        tool = shutil.which("objcopy")
        if not tool:
            raise AssertionError("objcopy (binutils) is needed")
        return tool

    def test_separate_debug_file_through_debuglink(self):
        # A stripped copy pointing at its debug file with .gnu_debuglink, both in one directory.
        exe = os.path.join(self.dir, "prog")
        debug = os.path.join(self.dir, "prog.debug")
        src = tests_bin("hs_target_symbols")
        subprocess.run([self.objcopy(), "--only-keep-debug", src, debug], check=True)
        subprocess.run([self.objcopy(), "--strip-all", "--add-gnu-debuglink=" + debug, src, exe],
                       check=True)
        _, prof = self.profile([exe], symbolize="lines")
        _, stack, _ = self.only_stack(prof, 3000)
        self.assertEqual(names(stack)[:3], ["symbols_static_alloc", "symbols_outer", "main"],
                         "names from the debug file's .symtab")
        self.assertEqual(stack[0][0].line, hstest.source_line(C_SRC, "static_alloc"))
        # Without the debug file: nothing, rather than wrong names.
        os.unlink(debug)
        _, prof = self.profile([exe], symbolize="lines")
        self.assertEqual(self.only_stack(prof, 3000)[1][0], [])

    def test_frame_pointer_unwinder(self):
        run, prof = self.profile([tests_bin("hs_target_symbols")], unwind="fp", verbose=1)
        self.assertIn("HEAPSAMPLER_UNWIND=fp\n", run.stderr)
        _, lu = self.profile([tests_bin("hs_target_symbols")])
        for size in (3000, 5000):
            fp_stack = names(self.only_stack(prof, size)[1])
            lu_stack = names(self.only_stack(lu, size)[1])
            self.assertEqual(fp_stack[:3], lu_stack[:3], "frames built with frame pointers")
        vals, _, _ = self.only_stack(prof, 3000)
        self.assertEqual(self.inuse(prof, vals), 64 * 3000)

    def test_symbolizer_memory_is_reported(self):
        run, prof = self.profile([tests_bin("hs_target_symbols")], verbose=2)
        m = re.search(r"symbolizer=functions memory=(\d+) budget=(\d+) files=(\d+)", prof.raw)
        self.assertTrue(m, prof.raw)
        self.assertGreater(int(m.group(1)), 0)
        self.assertLessEqual(int(m.group(1)), int(m.group(2)))
        self.assertIn("symbolizer=functions memory=", run.stderr)
        self.assertRegex(prof.raw, r"profiler_memory=\d+")


class Dlopen(Base):
    def run_dlopener(self, *args, **cfg):
        run, prof = self.profile([hstest.target("dlopener"), *args], **cfg)
        bases = re.findall(r"loaded (\S+) at (0x[0-9a-f]+)", run.stdout)
        return bases, prof

    def test_unloaded_libraries_are_named(self):
        a, b = tests_bin("libhs_plugin_a.so"), tests_bin("libhs_plugin_b.so")
        bases, prof = self.run_dlopener(a, b, symbolize="lines")
        self.assertEqual(len(bases), 2, bases)
        # Often b is loaded where a was (the generation-mark case); whether it is depends on
        # what else was mapped in between, so the storm test below makes sure that case occurs.
        for size, name, lib in ((1000, "plugin_a_make", a), (2000, "plugin_b_make", b)):
            vals, stack, locs = self.only_stack(prof, size)
            self.assertEqual(self.inuse(prof, vals), 32 * size)
            self.assertEqual(names(stack)[:3], [name, "plugin_entry", "main"])
            self.assertEqual(prof.mapping_file(locs[0]), lib)
            self.assertEqual(stack[0][0].line, hstest.source_line(PLUGIN_SRC, "plugin_make"))

    def test_library_replaced_on_disk_is_not_misnamed(self):
        lib = os.path.join(self.dir, "libx.so")
        shutil.copy(tests_bin("libhs_plugin_a.so"), lib)
        replace = "@cp:%s:%s" % (tests_bin("libhs_plugin_b.so"), lib)
        bases, prof = self.run_dlopener(lib, replace)
        self.assertEqual(len(bases), 1, bases)
        _, stack, locs = self.only_stack(prof, 1000)
        self.assertEqual(prof.mapping_file(locs[0]), lib)
        self.assertEqual(stack[0], [], "the file now holds another build: no names")
        self.assertEqual(stack[1], [])
        # The mapping keeps the build ID of the code that ran, for offline symbolization.
        _, orig = self.run_dlopener(tests_bin("libhs_plugin_a.so"))
        orig_locs = self.only_stack(orig, 1000)[2]
        self.assertEqual(prof.map_files[prof.loc_mapping[locs[0]]][1],
                         orig.map_files[orig.loc_mapping[orig_locs[0]]][1])

    def test_dlopen_storm_while_sampling(self):
        """Libraries loaded and unloaded 2 x 100 times at one address while three threads
        allocate and the writer dumps every 10 ms: every sample keeps its library's names."""
        a, b = tests_bin("libhs_plugin_a.so"), tests_bin("libhs_plugin_b.so")
        run, prof = self.profile([hstest.target("dlstorm"), "100", "3", a, b], interval="10ms")
        self.assertIn("loads=200 ", run.stdout)
        # Some loads put a library where the other had just been unloaded: the case that the
        # generation marks resolve (address reuse depends on the layout, hence many loads).
        reused = int(re.search(r"reused=(\d+)", run.stdout).group(1))
        self.assertGreater(reused, 0, run.stdout)
        self.assertGreaterEqual(len(run.profiles()), 2)
        for size, name in ((1000, "plugin_a_make"), (2000, "plugin_b_make")):
            rows = prof.stacks(size)
            self.assertTrue(rows, size)
            total = 0
            for vals, stack, _ in rows:
                self.assertEqual(names(stack)[:3], [name, "plugin_entry", "main"])
                total += vals[prof.index("alloc_objects")]
            self.assertEqual(total, 100 * 32)


if __name__ == "__main__":
    hstest.main()
