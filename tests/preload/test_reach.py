"""The reachability scan (HEAPSAMPLER_REACH): the exit profile tells lost blocks from held ones,
and names what holds them, on targets whose answers are known (tests/preload/targets/reach.c,
lost.c); it never reads memory that is not resident; it agrees with LeakSanitizer on the same
program in exact mode; a pointer moving between two arrays during the scan is not a loss."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import hstest  # noqa: E402


def reach_rows(prof):
    """{(bytes, reach, held_by): inuse_objects} over the profile's rows."""
    i = prof.index("inuse_objects")
    out = {}
    for vals, _, labels in prof.samples:
        if not vals[i]:
            continue
        key = (int(labels.get("bytes", ["0"])[0]), labels.get("reach", [None])[0],
               labels.get("held_by", [None])[0])
        out[key] = out.get(key, 0) + vals[i]
    return out


class Reach(hstest.TempDirTest):
    def run_reach(self, *args, **cfg):
        cfg.setdefault("rate", 1)
        run = hstest.run_profiled([hstest.target("reach"), *args], self.dir, **cfg)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run

    def test_known_answers(self):
        run = self.run_reach()
        prof = hstest.Profile(run.last_profile())
        rows = reach_rows(prof)
        expected = {
            (1000, "unreferenced", None): 20,
            (2000, "referenced", "global:list_head"): 1,
            (2000, "referenced", "heap:push_node"): 9,
            (80, "referenced", "global:array_ptr"): 1,
            (3000, "referenced", "heap:make_array"): 10,
            (4000, "referenced", "stack"): 5,
            (5000, "referenced", "mmap"): 5,
            (6000, "referenced", "global:interior"): 5,
        }
        for key, n in expected.items():
            self.assertEqual(rows.get(key), n, (key, rows))
        # Nothing of those sizes in any other class.
        for (size, reach, held), n in rows.items():
            if size in {k[0] for k in expected}:
                self.assertIn((size, reach, held), expected)
        # The churning thread frees blocks during the scan: none of its freed blocks is
        # reported (it holds at most 4 at a time), and none is called lost.
        churn = {k: n for k, n in rows.items() if k[0] == 7000}
        self.assertLessEqual(sum(churn.values()), 4, churn)
        self.assertNotIn("unreferenced", {k[1] for k in churn}, churn)
        _, _, meta = hstest.metadata(run.last_profile())
        self.assertEqual(meta["reach"], "exit")
        self.assertEqual(meta["reach.complete"], "1")
        self.assertEqual(int(meta["reach.unreferenced"]), 20)
        self.assertGreater(int(meta["reach.bytes"]), 0)

    def test_tagfocus_shows_the_lost_memory(self):
        run = self.run_reach()
        top = hstest.pprof_top(run.last_profile(), "-tagfocus=reach=unreferenced",
                               "-sample_index=inuse_space")
        self.assertIn("lost_overwritten", top)
        self.assertNotIn("push_node", top)
        self.assertIn("accounting for 19.53kB", top)

    def test_off_and_budget(self):
        run = self.run_reach(reach="off")
        prof = hstest.Profile(run.last_profile())
        self.assertEqual({k[1] for k in reach_rows(prof)}, {None})
        _, _, meta = hstest.metadata(run.last_profile())
        self.assertNotIn("reach", meta)
        # A budget too short for the scan leaves blocks unclassified, never unreferenced: no
        # machine reads the 200 MiB that `grow 1600` leaves in 1 ms.
        run = self.run_reach("grow", "1600", rate="64K", reach_budget="1ms")
        _, _, meta = hstest.metadata(run.last_profile())
        self.assertEqual(meta["reach.complete"], "0", meta)
        self.assertEqual(meta["reach.unreferenced"], "0", meta)
        self.assertGreater(int(meta["reach.unscanned"]), 0, meta)
        rows = reach_rows(hstest.Profile(run.last_profile()))
        self.assertNotIn("unreferenced", {k[1] for k in rows})

    def test_nothing_live_reads_nothing(self):
        # A program that freed everything before exit (as python3 and sqlite3 do): nothing to
        # classify, so no pass over memory (it cost python3 8% of its instructions), and the
        # scan counts as finished for check --max-unreferenced.
        run = self.run_reach("none")
        _, _, meta = hstest.metadata(run.last_profile())
        self.assertEqual((meta["reach.blocks"], meta["reach.bytes"], meta["reach.complete"]),
                         ("0", "0", "1"), meta)

    def test_sparse_reservations_are_not_read(self):
        # 64 GiB PROT_NONE and 64 GiB MAP_NORESERVE with 64 pages touched: the scan reads the
        # touched pages only (one holds a pointer to the 9000-byte block) and faults in nothing.
        run = self.run_reach("sparse", reach="every", memory_thresholds="off")
        kb = {}
        for when, what, n in re.findall(r"^(before|after) (VmRSS|VmPTE):\s+(\d+) kB", run.stdout,
                                        re.M):
            kb[when, what] = int(n)
        self.assertEqual(len(kb), 4, run.stdout)
        # Reading 64 GiB would take 128 MiB of page tables even for zero pages.
        self.assertLess(kb["after", "VmPTE"] - kb["before", "VmPTE"], 1024, kb)
        self.assertLess(kb["after", "VmRSS"] - kb["before", "VmRSS"], 16 * 1024, kb)
        api = [f for f in run.profiles() if hstest.metadata(f)[0] == "api"]
        self.assertEqual(len(api), 1)
        _, _, meta = hstest.metadata(api[0])
        self.assertEqual(meta["reach"], "every")
        self.assertLess(int(meta["reach.bytes"]), 1 << 30, meta)
        rows = reach_rows(hstest.Profile(api[0]))
        self.assertEqual(rows.get((9000, "referenced", "mmap")), 1, rows)

    def test_moving_pointers_are_not_lost(self):
        # Threads move 64 of 1000 blocks between two arrays during the exit scan, yielding after
        # each sweep or flat out (each pointer changes arrays about every microsecond); every
        # block is always in one array or both, so any "unreferenced" is a false loss.
        runs = hstest.scale(8)
        for mode in ([], ["spin"]):
            false_losses = rescued = 0
            for _ in range(runs):
                run = self.run_reach("move", "4", *mode)
                rows = reach_rows(hstest.Profile(run.last_profile()))
                false_losses += sum(n for k, n in rows.items()
                                    if k[0] == 8000 and k[1] == "unreferenced")
                self.assertEqual(sum(n for k, n in rows.items() if k[0] == 8000), 1000, rows)
                _, _, meta = hstest.metadata(run.last_profile())
                rescued += int(meta["reach.rescued"])
                shutil.rmtree(self.dir)
                os.mkdir(self.dir)
            print("moving pointers%s: %d runs x 64 moving blocks, %d false losses, %d missed by "
                  "the first pass and found by a later one" % (
                      " (spin)" if mode else "", runs, false_losses, rescued))
            self.assertEqual(false_losses, 0, mode)


class LeakSanitizer(hstest.TempDirTest):
    def test_exact_mode_agrees_with_lsan(self):
        clang = shutil.which("clang")
        if not clang:
            self.skipTest("clang is not installed (scripts/bootstrap.sh installs it)")
        src = os.path.join(os.path.dirname(__file__), "targets", "lost.c")
        exe = os.path.join(self.dir, "lost_lsan")
        subprocess.run([clang, "-O0", "-g", "-fsanitize=leak", src, "-o", exe], check=True)
        lsan = subprocess.run([exe], capture_output=True, text=True,
                              env=dict(os.environ, LSAN_OPTIONS="exitcode=0"))
        direct = sum(int(n) for n in re.findall(r"Direct leak of \d+ byte\(s\) in (\d+) object",
                                                lsan.stderr))
        indirect = sum(int(n) for n in
                       re.findall(r"Indirect leak of \d+ byte\(s\) in (\d+) object", lsan.stderr))
        self.assertEqual((direct, indirect), (320, 80), lsan.stderr)

        run = hstest.run_profiled([hstest.target("lost")], self.dir, rate=1)
        self.assertEqual(run.returncode, 0, run.stderr)
        prof = hstest.Profile(run.last_profile())
        i = prof.index("inuse_objects")
        unref = {}
        for vals, locs, labels in prof.samples:
            names = prof.stack_names(locs)
            if labels.get("reach") == ["unreferenced"] and vals[i]:
                unref[names[0]] = unref.get(names[0], 0) + vals[i]
        print("LeakSanitizer: %d direct, %d indirect; heapsampler: %d unreferenced %r"
              % (direct, indirect, sum(unref.values()), unref))
        # LeakSanitizer's leaks, direct and indirect (blocks that only lost blocks point to),
        # are exactly the unreferenced blocks.
        self.assertEqual(unref, {"direct_leak": 300, "leak_list": 100})
        self.assertEqual(sum(unref.values()), direct + indirect)


if __name__ == "__main__":
    hstest.main()
