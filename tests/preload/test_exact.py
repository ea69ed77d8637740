"""Exact mode (HEAPSAMPLER_RATE=1): every allocation sampled with weight 1, so pprof must show
exactly the counts and bytes each call site of the target allocated, for every member of the
malloc family; the results and errno of edge inputs must equal the real allocator's; bad
configuration must warn and change nothing; the library must export only what it should."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

# site -> (alloc_objects, alloc_space, inuse_objects, inuse_space)
EXPECTED = {
    "site_malloc": (1000, 100000, 1000, 100000),
    "site_calloc": (50, 50000, 50, 50000),
    "site_realloc": (40, 20 * 64 + 20 * 256, 20, 20 * 256),
    "site_reallocarray": (10, 3000, 10, 3000),
    "site_memalign": (10, 5120, 10, 5120),
    "site_aligned_alloc": (10, 10240, 10, 10240),
    "site_posix_memalign": (10, 20480, 10, 20480),
    "site_valloc": (5, 500, 5, 500),
    "site_pvalloc": (5, 500, 5, 500),
    "site_freed": (500, 128000, 0, 0),
}


class ExactMode(hstest.TempDirTest):
    def test_every_function_exact(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("exact: ", run.stdout)
        self.assertEqual(run.stderr, "")
        files = run.profiles()
        self.assertEqual(len(files), 1, files)
        self.assertRegex(os.path.basename(files[0]), r"^prof\.\d+\.0000\.pb\.gz$")
        self.assertEqual(os.stat(files[0]).st_mode & 0o777, 0o600)
        prof = hstest.Profile(files[0])
        self.assertEqual(prof.sample_types, ["alloc_objects/count", "alloc_space/bytes",
                                             "inuse_objects/count", "inuse_space/bytes"])
        self.assertEqual(prof.default_type, "inuse_space/bytes")
        self.assertEqual(prof.period_type, "space bytes")
        self.assertEqual(prof.period, 1)
        for site, expected in EXPECTED.items():
            self.assertEqual(prof.site_values(site), expected, site)
        # Each row carries its allocation size as the numeric "bytes" label.
        sizes = {}
        for vals, locs, labels in prof.samples:
            names = prof.stack_names(locs)
            if names and names[0] in ("site_malloc", "site_calloc", "site_freed"):
                sizes.setdefault(names[0], set()).update(labels.get("bytes", []))
        self.assertEqual(sizes, {"site_malloc": {"100"}, "site_calloc": {"1000"},
                                 "site_freed": {"256"}})
        # The caller of each site is main: stacks are complete and the hook frames trimmed.
        for vals, locs, _ in prof.samples:
            names = prof.stack_names(locs)
            if names and names[0] in EXPECTED:
                self.assertEqual(names[1], "main", names)

    def test_pprof_top_names_functions(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1)
        top = hstest.pprof_top(run.last_profile(), "-sample_index=alloc_objects",
                               "-nodefraction=0")
        for site in EXPECTED:
            self.assertIn(site, top)
        self.assertIn("Type: alloc_objects", top)

    def test_edge_inputs_match_real_allocator(self):
        plain = subprocess.run([hstest.target("edge")], capture_output=True, text=True,
                               env=hstest.clean_env(), timeout=60)
        self.assertEqual(plain.returncode, 0)
        for rate in ("1", "524288", "64"):
            run = hstest.run_profiled([hstest.target("edge")], self.dir, rate=rate)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(run.stdout, plain.stdout, "rate " + rate)
            self.assertEqual(run.stderr, "")


class Configuration(hstest.TempDirTest):
    def test_bad_values_warn_and_change_nothing(self):
        plain = subprocess.run([hstest.target("exact")], capture_output=True, text=True,
                               env=hstest.clean_env(), timeout=60)
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate="abc",
                                  stack_depth="0", interval="soon", dump_signal="KILL",
                                  compression="lz4", enabled="perhaps", bogus="1")
        self.assertEqual(run.returncode, plain.returncode)
        self.assertEqual(run.stdout, plain.stdout)
        lines = run.stderr.splitlines()
        self.assertIn('heapsampler: ignoring HEAPSAMPLER_RATE="abc": not a size (examples: '
                      '524288, 512K, 1M) (using 524288)', lines)
        self.assertIn('heapsampler: ignoring HEAPSAMPLER_STACK_DEPTH="0": must be between 1 '
                      'and 512 (using 64)', lines)
        self.assertIn('heapsampler: ignoring HEAPSAMPLER_DUMP_SIGNAL="KILL": this signal cannot '
                      'be used for dumps (using none)', lines)
        self.assertTrue(any(l.startswith('heapsampler: ignoring HEAPSAMPLER_INTERVAL="soon": ')
                            and l.endswith("(using 60s)") for l in lines), lines)
        self.assertTrue(any("HEAPSAMPLER_COMPRESSION=\"lz4\"" in l for l in lines), lines)
        self.assertTrue(any("HEAPSAMPLER_ENABLED=\"perhaps\"" in l for l in lines), lines)
        self.assertTrue(any("unknown variable HEAPSAMPLER_BOGUS" in l for l in lines), lines)
        self.assertEqual(len(lines), 7, lines)
        # Still profiling with the defaults.
        self.assertEqual(len(run.profiles()), 1)

    def test_verbose_prints_effective_config(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, verbose=1, rate="4K")
        self.assertIn("heapsampler: config HEAPSAMPLER_RATE=4096\n", run.stderr)
        self.assertIn("heapsampler: config HEAPSAMPLER_STACK_DEPTH=64 (default)\n", run.stderr)
        self.assertRegex(run.stderr, r"heapsampler: pid \d+: \d+ samples \(0 dropped\)")
        self.assertIn("profiler memory", run.stderr)

    def test_preloaded_after_another_malloc_passes_through(self):
        plain = subprocess.run([hstest.target("exact")], capture_output=True, text=True,
                               env=hstest.clean_env(), timeout=60)
        run = hstest.run_profiled([hstest.target("exact")], self.dir,
                                  env={"LD_PRELOAD": "libc.so.6 " + hstest.LIB})
        self.assertEqual(run.returncode, 0)
        self.assertEqual(run.stdout, plain.stdout)
        self.assertIn("loaded before the profiler", run.stderr)
        self.assertEqual(len(run.stderr.splitlines()), 1)
        self.assertEqual(run.profiles(), [])

    def test_disabled_writes_nothing(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, enabled=0)
        self.assertEqual(run.returncode, 0)
        self.assertEqual(run.profiles(), [])

    def test_zstd_and_plain_files(self):
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1,
                                  compression="zstd")
        f = run.last_profile()
        self.assertTrue(f.endswith(".pb.zst"), f)
        with open(f, "rb") as fh:
            self.assertEqual(fh.read(4), b"\x28\xb5\x2f\xfd")
        run = hstest.run_profiled([hstest.target("exact")], self.dir, rate=1,
                                  compression="none", output=os.path.join(self.dir, "plain"))
        f = [p for p in os.listdir(self.dir) if p.startswith("plain.")][0]
        self.assertTrue(f.endswith(".pb"), f)
        prof = hstest.Profile(os.path.join(self.dir, f))
        self.assertEqual(prof.by_function("inuse_space")["site_malloc"], 100000)


class Exports(hstest.TempDirTest):
    def test_only_malloc_family_and_api_exported(self):
        out = subprocess.run(["nm", "-D", "--defined-only", hstest.LIB], capture_output=True,
                             text=True, check=True).stdout
        names = {line.split()[-1] for line in out.splitlines() if line.strip()}
        names = {n.split("@")[0] for n in names}
        family = {"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
                  "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
                  "free_sized", "free_aligned_sized", "mmap", "mmap64", "munmap", "mremap",
                  "sbrk"}
        self.assertTrue(family <= names, family - names)
        extra = {n for n in names - family if not n.startswith("heapsampler_")}
        self.assertEqual(extra, set())
        self.assertIn("heapsampler_dump", names)

    def test_code_the_runtime_never_calls_is_not_linked(self):
        # The library folders are linked as archives (CMakeLists.txt), and analysis/ and cli/
        # not at all: what only the CLI does (reading and decompressing saved profiles, the
        # increments of saved profiles for `heapsampler upload`, sites, trends, the leak
        # analysis, the argument parser) stays out of the preloaded library.
        out = subprocess.run(["nm", "--defined-only", hstest.LIB], capture_output=True,
                             text=True, check=True).stdout
        names = {line.split()[-1] for line in out.splitlines() if line.strip()}
        self.assertIn("hs_pprof_encode", names)  # the symbol table is there to look at
        cli_only = ("hs_profile_delta_", "hs_decompress", "hs_pprof_parse", "hs_pprof_read_file",
                    "hs_sites_", "hs_series_", "hs_trend_", "hs_leak_", "hs_keymap_", "hs_cli_",
                    "hs_html_")
        self.assertEqual({n for n in names if n.startswith(cli_only)}, set())
        imports = subprocess.run(["nm", "-D", "--undefined-only", hstest.LIB],
                                 capture_output=True, text=True, check=True).stdout
        self.assertNotIn("ZSTD_decompress", imports)
        self.assertNotIn("inflate", imports)

    def test_tls_is_initial_exec(self):
        out = subprocess.run(["readelf", "-d", hstest.LIB], capture_output=True, text=True,
                             check=True).stdout
        self.assertIn("STATIC_TLS", out)


if __name__ == "__main__":
    hstest.main()
