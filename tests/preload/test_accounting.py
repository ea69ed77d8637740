"""Where the RSS goes: every profile carries the process's memory accounting (README.md,
"Where the memory goes"), checked on targets whose breakdown is known (tests/preload/targets/
memparts.c): direct mappings by call site, count by count in exact mode, with partial unmaps
and a remap; fragmentation (the allocator's free memory far above the heap); allocations that
bypass the hooks (the audit says so); a private allocator on raw system calls (unattributed);
C23's sized frees (a block freed through them is not a false leak)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402

MIB = 1024 * 1024
# site -> (alloc_objects, alloc_space, inuse_objects, inuse_space). A partial unmap counts as
# a free of the mapping and an allocation of what is left (README.md).
MAPS = {
    "map_arena": (2, 14 * MIB, 1, 6 * MIB),    # 8 MiB, then 6 MiB of it
    "map_grow": (2, 16 * MIB, 1, 12 * MIB),    # 4 MiB, remapped to 12 MiB
    "map_split": (3, 10 * MIB, 2, 4 * MIB),    # 6 MiB, then two pieces of 2 MiB
    "map_gone": (1, 1 * MIB, 0, 0),            # unmapped whole
}


def report_json(path):
    out = subprocess.run([hstest.CLI, "report", "--json", path], capture_output=True, text=True,
                         timeout=hstest.TIMEOUT)
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return json.loads(out.stdout)


class Accounting(hstest.TempDirTest):
    def run_parts(self, *args, **cfg):
        run = hstest.run_profiled([hstest.target("memparts"), *args], self.dir, **cfg)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("memparts: %s done" % args[0], run.stdout)
        files = run.profiles()
        self.assertEqual(len(files), 1, files)
        return run, files[0]

    def test_direct_mappings_by_call_site_exact(self):
        run, path = self.run_parts("mmap", rate=1)
        self.assertEqual(run.stderr, "")
        prof = hstest.Profile(path)
        for site, expected in MAPS.items():
            self.assertEqual(prof.site_values(site), expected, site)
        # PROT_NONE reservations, shared anonymous memory and file mappings are not sampled.
        for site in ("map_reserve", "map_shared", "map_file"):
            self.assertEqual(prof.site_values(site), (0, 0, 0, 0), site)
        # Every mapping row carries allocator=mmap; the heap's rows do not.
        for vals, locs, labels in prof.samples:
            names = prof.stack_names(locs)
            is_map = names[0] in MAPS
            self.assertEqual(labels.get("allocator"), ["mmap"] if is_map else None, names)
            if is_map:
                self.assertEqual(names[1], "main", names)
        _, _, meta = hstest.metadata(path)
        self.assertEqual(int(meta["mmap.inuse"]), 22 * MIB)
        self.assertEqual(int(meta["mmap.stderr"]), 0)
        self.assertEqual(int(meta["rss.shmem"]) >= MIB, True, meta)  # map_shared, touched
        # pprof -tagignore allocator=mmap hides the mappings: what is left is the heap.
        hidden = hstest.pprof_top(path, "-tagignore", "allocator=mmap")
        for site in MAPS:
            self.assertNotIn(site, hidden)
        mem = report_json(path)["memory"]
        self.assertEqual(mem["mmap_inuse_bytes"], 22 * MIB)
        self.assertEqual(mem["allocator"], "glibc")
        # The mappings are resident: RSS covers them and what the profile sees of the rest.
        self.assertGreaterEqual(mem["rss_bytes"], 22 * MIB)

    def test_mappings_sampled_with_unbiased_weights(self):
        # At the default rate the mappings (>= 1 MiB, rate 512 KiB) are nearly always sampled;
        # the estimate of what stays mapped is 22 MiB within 3 sigma of its own error.
        run, path = self.run_parts("mmap", seed=7)
        _, _, meta = hstest.metadata(path)
        est, se = float(meta["mmap.inuse"]), float(meta["mmap.stderr"])
        self.assertLessEqual(abs(est - 22 * MIB), 3 * se + 1, meta)

    def test_fragmentation_is_allocator_free_memory(self):
        # 400000 blocks of 256 bytes, 1 in 64 kept: ~1.6 MiB of heap in ~100 MiB of arena.
        run, path = self.run_parts("frag", "400000", "64", seed=11)
        _, _, meta = hstest.metadata(path)
        heap, se = float(meta["heap.inuse"]), float(meta["heap.stderr"])
        free = int(meta["allocator.free"])
        self.assertEqual(meta["allocator"], "glibc")
        self.assertGreater(free, 80 * MIB, meta)
        self.assertLess(heap + 5 * se, free / 10, meta)
        mem = report_json(path)["memory"]
        self.assertEqual(mem["allocator_free_bytes"], free)
        # Nearly all of RSS is explained: the unattributed rest is under 5% of it.
        self.assertLess(abs(mem["unattributed_bytes"]), 0.05 * mem["rss_bytes"], mem)
        text = subprocess.run([hstest.CLI, "report", path], capture_output=True, text=True,
                              timeout=hstest.TIMEOUT).stdout
        self.assertRegex(text, r"allocator free +\d+ MiB")

    def test_audit_passes_when_the_hooks_see_everything(self):
        # 100000 blocks of 256 bytes kept (25 MiB): the profile sees what glibc counts in use.
        run, path = self.run_parts("frag", "400000", "4", rate=1)
        _, _, meta = hstest.metadata(path)
        self.assertEqual(meta["audit"], "ok", meta)
        self.assertLess(abs(float(meta["audit.ratio"]) - 1), 0.05, meta)

    def test_audit_flags_allocations_that_bypass_the_hooks(self):
        run, path = self.run_parts("bypass", rate=1, verbose=1)
        _, _, meta = hstest.metadata(path)
        self.assertEqual(meta["audit"], "low", meta)
        self.assertLess(float(meta["audit.ratio"]), 0.1, meta)
        # The verbose exit summary and report say it in one line.
        self.assertIn("allocations bypass the profiler's hooks", run.stderr)
        text = subprocess.run([hstest.CLI, "report", path], capture_output=True, text=True,
                              timeout=hstest.TIMEOUT).stdout
        self.assertIn("allocations bypass the profiler's hooks", text)
        mem = report_json(path)["memory"]
        self.assertEqual(mem["audit"], "low")
        self.assertGreater(mem["heap_unsampled_bytes"], 60 * MIB)

    def test_private_allocator_on_raw_syscalls_is_unattributed(self):
        run, path = self.run_parts("raw", rate=1)
        mem = report_json(path)["memory"]
        self.assertGreater(mem["unattributed_bytes"], 30 * MIB, mem)
        self.assertEqual(mem["mmap_inuse_bytes"], 0)

    def test_thread_stacks_told_apart(self):
        # 8 threads with 512 KiB of their stacks touched, alive at the profile (and the main
        # thread's stack, and the writer thread's).
        run = hstest.run_profiled([hstest.target("memparts"), "stacks", "8"], self.dir)
        self.assertEqual(run.returncode, 0, run.stderr)
        first = [f for f in run.profiles() if f.endswith(".0000.pb.gz")][0]
        _, _, meta = hstest.metadata(first)
        self.assertGreaterEqual(int(meta["stacks.count"]), 9, meta)
        self.assertGreaterEqual(int(meta["stacks"]), 8 * 512 * 1024, meta)
        self.assertLess(int(meta["stacks"]), 8 * 512 * 1024 + 4 * MIB, meta)
        mem = report_json(first)["memory"]
        self.assertEqual(mem["thread_stacks_bytes"], int(meta["stacks"]))

    def test_mappings_from_signal_handlers_never_deadlock(self):
        # Every mapping sampled (rate 1), cut in two, while a handler maps and unmaps on the same
        # thread every 200 us: a handler that finds the table's lock held passes through.
        run, path = self.run_parts("signals", "20000", rate=1)
        _, _, meta = hstest.metadata(path)
        self.assertEqual(int(meta["mmap.inuse"]), 0, meta)

    def test_sized_frees_free_sampled_blocks(self):
        run, path = self.run_parts("sized", rate=1)
        prof = hstest.Profile(path)
        self.assertEqual(prof.site_values("sized_block"), (100, 100000, 0, 0))
        self.assertEqual(prof.site_values("aligned_block"), (100, 409600, 0, 0))
        self.assertEqual(prof.site_values("kept_block"), (10, 1000, 10, 1000))

    def test_rss_frames_add_up_to_rss(self):
        run, path = self.run_parts("frag", "400000", "8", seed=11, rss_frames=1)
        prof = hstest.Profile(path)
        inuse = prof.by_function("inuse_space")
        _, _, meta = hstest.metadata(path)
        mem = report_json(path)["memory"]
        self.assertEqual(inuse["[allocator free]"], int(meta["allocator.free"]))
        self.assertIn("[file-backed and shared]", inuse)
        self.assertIn("[profiler]", inuse)
        # Every part has a row but those below zero (within the errors): the flame graph adds
        # up to the RSS but for them.
        below = sum(-mem[k] for k in ("heap_unsampled_bytes", "unattributed_bytes")
                    if mem[k] < 0)
        self.assertLessEqual(abs(prof.total("inuse_space") - int(meta["rss"])), below + 8, mem)
        # Off by default: default profiles stay heap profiles.
        os.remove(path)
        run, path = self.run_parts("frag", "1000", "8", seed=11)
        self.assertFalse([f for f in hstest.Profile(path).by_function("inuse_space")
                          if f.startswith("[")])

    def leaks(self, run, *extra):
        files = run.profiles()
        out = subprocess.run([hstest.CLI, "leaks", *extra, *files], capture_output=True,
                             text=True, timeout=hstest.TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def test_leaks_names_fragmentation_not_a_leak(self):
        # 12 rounds: the allocator keeps ~4 MiB more free each, the heap grows 32 KiB.
        run = hstest.run_profiled([hstest.target("memparts"), "fraggrow", "12"], self.dir,
                                  seed=3)
        self.assertEqual(run.returncode, 0, run.stderr)
        data = json.loads(self.leaks(run, "--json"))
        rss = data["processes"][0]["rss"]
        self.assertTrue(rss["growing"], rss)
        self.assertEqual(rss["explained_by"], "allocator_free", rss)
        self.assertGreater(rss["share"], 0.8, rss)
        self.assertEqual(set(rss["parts"]), {"rss", "heap", "allocator_free", "mmap", "file",
                                             "thread_stacks", "profiler", "unattributed"})
        free = rss["parts"]["allocator_free"]
        self.assertGreater(free["slope"], 3 * free["slope_stderr"])
        text = self.leaks(run)
        self.assertIn("fragmentation, not a leak", text)
        self.assertIn("MALLOC_ARENA_MAX", text)
        self.assertIn("malloc_trim", text)
        # The HTML report stacks RSS by part over time.
        html = os.path.join(self.dir, "leaks.html")
        self.leaks(run, "--html", html)
        with open(html) as f:
            page = f.read()
        self.assertIn("Resident set by part over time", page)
        self.assertIn("allocator_free", page)

    def test_leaks_names_the_heap_when_it_leaks(self):
        run = hstest.run_profiled([hstest.target("trend"), "leak", "24"], self.dir, seed=5,
                                  rate=4096)
        self.assertEqual(run.returncode, 0, run.stderr)
        rss = json.loads(self.leaks(run, "--json"))["processes"][0]["rss"]
        self.assertEqual(rss["explained_by"], "heap", rss)

    def test_leaks_names_direct_mmap_and_memory_outside(self):
        for how, part in (("mmap", "mmap"), ("raw", "unattributed")):
            run = hstest.run_profiled([hstest.target("memparts"), "grow", how, "10"], self.dir,
                                      output=os.path.join(self.dir, how))
            self.assertEqual(run.returncode, 0, run.stderr)
            out = subprocess.run([hstest.CLI, "leaks", "--json", *run.profiles()],
                                 capture_output=True, text=True, timeout=hstest.TIMEOUT)
            rss = json.loads(out.stdout)["processes"][0]["rss"]
            self.assertEqual(rss["explained_by"], part, rss)
            self.assertGreater(rss["share"], 0.8, rss)

    def test_report_json_memory_keys(self):
        run, path = self.run_parts("frag", "1000", "2", rate=1)
        mem = report_json(path)["memory"]
        for key in ("rss_bytes", "heap_inuse_bytes", "heap_inuse_stderr", "mmap_inuse_bytes",
                    "mmap_inuse_stderr", "allocator_free_bytes", "profiler_bytes",
                    "unattributed_bytes", "allocator"):
            self.assertIn(key, mem)
        # The parts add up to RSS.
        parts = ("file_bytes", "heap_inuse_bytes", "allocator_overhead_bytes",
                 "heap_unsampled_bytes", "allocator_free_bytes", "mmap_inuse_bytes",
                 "thread_stacks_bytes", "profiler_bytes", "unattributed_bytes")
        self.assertAlmostEqual(sum(mem[k] for k in parts), mem["rss_bytes"], delta=1)


if __name__ == "__main__":
    hstest.main()
