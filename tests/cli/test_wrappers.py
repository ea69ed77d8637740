"""Allocator wrappers seen through: what report, diff, leaks and check call a sample's site.

A site is the first frame of a stack that is not an allocation function: the malloc family and
operator new, the wrappers of well-known programs and libraries (the built-in list of
src/analysis/sites.c, which README.md must list in full), what --skip REGEX adds, and what the
program recorded with HEAPSAMPLER_SKIP (the profile's "skip" comment). Synthetic profiles
(tests/lib/pprofgen.py) carry the stacks real programs have (redis, nginx, CPython,
PostgreSQL, GLib, xmalloc, C++, Rust, OpenSSL, SQLite); real runs of the trend target check
that the library records HEAPSAMPLER_SKIP and `run --skip`. `--by stack` lines stay readable:
a deep stack keeps its leaf, its first callers and its outermost frame.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hstest  # noqa: E402
import pprofgen  # noqa: E402

CLI = hstest.CLI
T0 = 1767225600 * 10**9
STEP = 10 * 10**9

# (stack innermost first, the site it must be grouped under)
WRAPPED = [
    (["zmalloc_usable", "_sdsnewlen", "dbAdd", "setKey", "main"], "_sdsnewlen"),
    (["ztrymalloc_usable_internal", "zmalloc", "dictAddRaw", "dbAdd", "main"], "dictAddRaw"),
    (["zrealloc_usable", "lpInsert", "quicklistPushHead", "main"], "lpInsert"),
    (["ngx_alloc", "ngx_palloc_large", "ngx_palloc", "ngx_http_alloc_request", "main"],
     "ngx_http_alloc_request"),
    (["ngx_memalign", "ngx_create_pool", "ngx_event_accept", "main"], "ngx_event_accept"),
    (["_PyMem_RawMalloc", "_PyObject_Malloc", "PyObject_Malloc", "gc_alloc",
      "_PyObject_GC_NewVar", "PyTuple_New", "_PyEval_EvalFrameDefault", "main"], "PyTuple_New"),
    (["PyMem_Malloc", "new_keys_object", "dictresize", "main"], "new_keys_object"),
    (["_PyObject_Calloc.lto_priv.0", "list_resize.lto_priv.0", "main"],
     "list_resize.lto_priv.0"),
    (["AllocSetAlloc", "palloc", "makeStringInfo", "exec_simple_query", "PostgresMain"],
     "makeStringInfo"),
    (["AllocSetContextCreateInternal", "CreatePortal", "exec_simple_query", "PostgresMain"],
     "CreatePortal"),
    (["AllocSetRealloc", "repalloc", "enlargeStringInfo", "appendStringInfo", "main"],
     "enlargeStringInfo"),
    (["g_malloc0", "g_hash_table_new_full", "main"], "g_hash_table_new_full"),
    # A stripped server: AllocSetAlloc (static) has no name, but palloc called it.
    ([0x5d2dbf, "palloc", "pstrdup", "CreateCommandTag", "PostgresMain"], "CreateCommandTag"),
    # Without a symbol and not under an allocation function: the frame is the site.
    ([0x277b1, "ngx_http_process_request", "main"], "app+0x277b1"),
    (["xmalloc", "xstrdup", "read_config_line", "main"], "read_config_line"),
    (["operator new(unsigned long)",
      "std::__new_allocator<Widget>::allocate(unsigned long, void const*)",
      "std::vector<Widget, std::allocator<Widget> >::_M_realloc_insert(Widget&&)", "main"],
     "std::vector<Widget, std::allocator<Widget> >::_M_realloc_insert(Widget&&)"),
    (["__rdl_alloc", "__rust_alloc", "alloc::alloc::exchange_malloc", "my_crate::build_index",
      "main"], "my_crate::build_index"),
    (["CRYPTO_zalloc", "SSL_new", "ngx_ssl_create_connection", "main"], "SSL_new"),
    (["sqlite3MemMalloc", "mallocWithAlarm", "sqlite3Malloc", "sqlite3DbMallocRawNN",
      "sqlite3VdbeCreate", "main"], "sqlite3VdbeCreate"),
    (["malloc", "strdup", "copy_name", "main"], "copy_name"),
]


class WrapperTest(hstest.TempDirTest):

    def profile(self, name, stacks, comments=(), time=T0, live=10):
        p = pprofgen.Profile(time, comments=comments)
        for k, stack in enumerate(stacks):
            p.add(stack, 4096 * (k + 1), live, live)
        path = os.path.join(self.dir, name)
        p.write(path)
        return path

    def sites(self, *args):
        out = json.loads(self.cli("report", "--json", "--top", "0", *args, check_rc=0).stdout)
        return [s["site"] for s in out["sites"]]

    def test_builtin_wrappers_are_seen_through(self):
        path = self.profile("wrapped.pb.gz", [stack for stack, _ in WRAPPED])
        self.assertEqual(sorted(self.sites(path)), sorted(site for _, site in WRAPPED))
        # The whole path from there, without the wrappers.
        paths = self.sites("--by", "stack", path)
        self.assertIn("_sdsnewlen < dbAdd < setKey < main", paths)
        self.assertIn("makeStringInfo < exec_simple_query < PostgresMain", paths)
        self.assertFalse([p for p in paths if re.search(r"zmalloc|palloc\b|AllocSet", p)], paths)

    def test_skip_adds_allocation_functions(self):
        stacks = [["my_pool_get", "parse_header", "serve", "main"],
                  ["arena_push", "my_pool_get", "parse_body", "serve", "main"],
                  ["leak_records", "main"]]
        path = self.profile("own.pb.gz", stacks)
        self.assertEqual(sorted(self.sites(path)), ["arena_push", "leak_records", "my_pool_get"])
        self.assertEqual(sorted(self.sites("--skip", "arena_", path)),
                         ["leak_records", "my_pool_get"])
        self.assertEqual(sorted(self.sites("--skip", "^my_pool_get$", "--skip", "arena_",
                                           path)),
                         ["leak_records", "parse_body", "parse_header"])
        self.assertEqual(sorted(self.sites("--skip", "^(my_pool_get|arena_push)$", path)),
                         ["leak_records", "parse_body", "parse_header"])
        # diff and leaks take it too: the same site names on both sides.
        later = self.profile("later.pb.gz", stacks, time=T0 + STEP, live=30)
        out = json.loads(self.cli("diff", "--json", "--skip", "my_pool_get|arena_push", path,
                                  later, check_rc=1).stdout)
        self.assertEqual(sorted(s["site"] for s in out["sites"]),
                         ["leak_records", "parse_body", "parse_header"])
        series = os.path.join(self.dir, "series")
        os.mkdir(series)
        for i in range(6):
            self.profile("series/app.7.%04d.pb.gz" % i, stacks, time=T0 + i * STEP,
                         live=10 * (i + 1))
        out = json.loads(self.cli("leaks", "--json", "--skip", "my_pool_get|arena_push",
                                  series, check_rc=0).stdout)
        self.assertEqual(sorted(s["site"] for s in out["processes"][0]["sites"]),
                         ["leak_records", "parse_body", "parse_header"])

    def test_bad_skip_is_a_usage_error(self):
        path = self.profile("p.pb.gz", [["leak_records", "main"]])
        for cmd in (["report", path], ["diff", path, path], ["leaks", path],
                    ["check", "true"]):
            with self.subTest(cmd=cmd[0]):
                r = self.cli(cmd[0], "--skip", "(unclosed", *cmd[1:], check_rc=2)
                self.assertRegex(r.stderr, r'^heapsampler %s: invalid --skip "\(unclosed": not a '
                                 r'regular expression: ' % cmd[0])
        r = self.cli("run", "--skip", "(unclosed", "true", check_rc=2)
        self.assertIn('invalid --skip "(unclosed": an unmatched (', r.stderr)

    def test_recorded_skip_is_honoured(self):
        stacks = [["my_pool_get", "parse_header", "main"], ["leak_records", "main"]]
        path = self.profile("rec.pb.gz", stacks, comments=["heapsampler 0.1.0 (exit)",
                                                           "rate=524288",
                                                           "skip=^my_pool_get$|with%20space"])
        self.assertEqual(sorted(self.sites(path)), ["leak_records", "parse_header"])
        r = self.cli("report", path, check_rc=0)
        self.assertIn("allocation functions of the program (HEAPSAMPLER_SKIP): ^my_pool_get$|"
                      "with space\n", r.stdout)
        # One that glibc refuses is said once and ignored.
        bad = self.profile("bad.pb.gz", stacks, comments=["heapsampler 0.1.0 (exit)",
                                                          "skip=my_pool_get\\1"])
        r = self.cli("report", "--json", bad, check_rc=0)
        self.assertEqual(sorted(s["site"] for s in json.loads(r.stdout)["sites"]),
                         ["leak_records", "my_pool_get"])
        self.assertRegex(r.stderr, r"^heapsampler report: .*bad.pb.gz: ignoring the allocation "
                                   r"functions it records \(skip=my_pool_get\\1\): ")

    def test_library_records_heapsampler_skip(self):
        target = hstest.target("trend")
        out = os.path.join(self.dir, "env")
        os.mkdir(out)
        run = hstest.run_profiled([target, "leak", "4"], out, rate="64K", seed=1, interval=0,
                                  skip="^leak_records$")
        self.assertEqual(run.returncode, 0, run.stderr)
        last = sorted(run.profiles())[-1]
        if hstest.have_go():
            comments = subprocess.run(["go", "tool", "pprof", "-comments", last],
                                      capture_output=True, text=True, timeout=hstest.TIMEOUT)
            self.assertIn("skip=^leak_records$", comments.stdout.split("\n"))
        sites = self.sites(last)
        self.assertIn("main", sites)
        self.assertNotIn("leak_records", sites)
        # --skip of `run` is the same variable.
        flag = os.path.join(self.dir, "flag") + "/"
        os.mkdir(flag)
        self.cli("run", "-q", "--rate", "64K", "--interval", "0", "--skip", "leak_records",
                 "--output", flag, "--", target, "leak", "4", check_rc=0)
        last = sorted(os.path.join(flag, f) for f in os.listdir(flag))[-1]
        sites = self.sites(last)
        self.assertIn("main", sites)
        self.assertNotIn("leak_records", sites)

    def test_long_stacks_are_shortened_in_tables(self):
        deep = ["leaf_function_%02d_with_a_long_name" % k for k in range(40)] + ["main"]
        path = self.profile("deep.pb.gz", [["zmalloc"] + deep, ["zmalloc", "short", "main"]])
        r = self.cli("report", "--by", "stack", path, check_rc=0)
        rows = [l for l in r.stdout.splitlines() if "leaf_function_00" in l]
        self.assertEqual(len(rows), 1, r.stdout)
        self.assertLessEqual(len(rows[0]), 160, rows[0])
        self.assertRegex(rows[0], r"  leaf_function_00_with_a_long_name < "
                                  r"leaf_function_01_with_a_long_name < (.* < )?\.\.\. < main$")
        self.assertIn("  short < main", r.stdout)
        # JSON keeps the whole path.
        self.assertIn(" < ".join(deep), self.sites("--by", "stack", path))

    def test_readme_lists_every_builtin_allocator(self):
        with open(os.path.join(hstest.SOURCE, "src", "analysis", "sites.c")) as f:
            source = f.read()
        table = source[source.index("builtin_allocators[] = {"):]
        table = table[:table.index("};")]
        patterns = re.findall(r'"((?:[^"\\]|\\.)*)"', table)
        self.assertGreater(len(patterns), 100)
        with open(os.path.join(hstest.SOURCE, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("### Allocator wrappers"):]
        section = section[:section.index("\n### ", 1)]
        missing = [p for p in patterns if "`%s`" % p not in section]
        self.assertEqual(missing, [], "README.md's Allocator wrappers section lacks these")


if __name__ == "__main__":
    hstest.main()
